//! Traps: the kernel page-fault hook, uaccess probes and user mode.

pub use pagoda_hal::trap::{MAX_FAULT_RETRIES, PageFaultHandler, set_kernel_page_fault_handler};
pub use pagoda_hal::{
    Fault, UserContext, UserTrap, probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64,
};
