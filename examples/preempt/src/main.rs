#![no_std]
#![no_main]
pagoda::main!(main); fn main() {}
