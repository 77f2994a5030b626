//! The runtime proper (kernel targets only).

use core::fmt::Display;
use core::panic::PanicInfo;

use log::LevelFilter;
use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;
use pagoda_alloc::{HeapStats, KernelHeap};
use pagoda_hal::{BootInfo, console, exit, kernel_space, logging, mem, trap, user_space};

/// Exit code after a panic.
pub const PANIC_EXIT_CODE: u8 = 1;
/// Exit code when a boot step fails.
pub const BOOT_FAILURE_EXIT_CODE: u8 = 4;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::new();

/// Statistics of the kernel heap.
pub fn heap_stats() -> HeapStats {
    HEAP.stats()
}

fn log_level() -> LevelFilter {
    match option_env!("PAGODA_LOG") {
        Some("off") => LevelFilter::Off,
        Some("error") => LevelFilter::Error,
        Some("warn") => LevelFilter::Warn,
        Some("debug") => LevelFilter::Debug,
        Some("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    }
}

fn boot_step<E: Display>(what: &str, result: Result<(), E>) {
    if let Err(e) = result {
        console::print_unlocked(format_args!("pagoda: boot failed: {what}: {e}\n"));
        exit(false, BOOT_FAILURE_EXIT_CODE);
    }
}

/// Brings the kernel up and runs `main`; returning from `main` exits successfully.
/// Called from the `__pagoda_main` symbol that `pagoda::main!` defines.
pub fn start(info: &'static BootInfo, main: fn()) -> ! {
    boot_step("logging", logging::init(log_level()));
    log::info!(
        target: "pagoda",
        "pagoda: {} MiB RAM in {} region(s), kernel image {:#x}..{:#x}",
        info.total_ram() >> 20,
        info.ram_regions().count(),
        info.kernel_image().start.as_usize(),
        info.kernel_image().end.as_usize(),
    );
    boot_step("frame allocator", mem::init_frame_allocator(info));
    let frames = pagoda_alloc::frame_stats();
    log::info!(
        target: "pagoda",
        "pagoda: {} free frames ({} KiB)",
        frames.free,
        frames.free * 4
    );
    pagoda_hal::init_traps();
    log::info!(
        target: "pagoda",
        "pagoda: clock at {} Hz, {} ns since boot; kernel stack guard page at {:#x}",
        pagoda_hal::timer_frequency_hz(),
        pagoda_hal::monotonic_ns(),
        pagoda_hal::stack_guard_page().start.as_usize()
    );
    boot_step("kernel page table", kernel_space::install(info));
    log::info!(
        target: "pagoda",
        "pagoda: kernel page table active, root {:?}",
        pagoda_hal::current_page_table()
    );
    trap::set_kernel_page_fault_handler(kernel_page_fault);
    main();
    exit(true, 0)
}

/// The kernel-mode page-fault hook: faults of uaccess probes on user addresses go to the
/// current user address space (lazy pages, copy-on-write, file pages). It never blocks: if
/// the space is busy or refuses, the fault stays unresolved and the probe returns `Err`.
fn kernel_page_fault(va: VirtAddr, access: MappingFlags) -> bool {
    let r = user_space::resolve_fault(va, access);
    log::trace!(target: "pagoda", "kernel page fault at {va:?} ({access:?}): {r:?}");
    r.is_ok()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    console::print_unlocked(format_args!("\n{info}\n"));
    exit(false, PANIC_EXIT_CODE)
}
