mod abi;
mod sigframe;
mod sysno;
