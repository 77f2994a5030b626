//! uaccess probes: single loads/stores at user addresses whose page faults either get resolved
//! by the registered handler (and retried) or become `Err(Fault)` through a fixup address.
//!
//! Plain `ldr`/`str` (not `ldtr`/`sttr`): they check the EL1 permissions, which for user
//! pages allow what EL0 may do, and a write to a read-only (e.g. copy-on-write) page faults.

use core::arch::global_asm;

// Every instruction between start and end that can fault is a user access; the trap handler
// sends faults there to `__pagoda_uaccess_fault`, which returns err = 1 (the probes are
// leaves, so x30 still holds the caller's return address).
global_asm!(
    r#"
    .pushsection .text.pagoda_uaccess, "ax"
    .balign 4
    .global __pagoda_uaccess_start
__pagoda_uaccess_start:
    .global __pagoda_probe_read_u8
__pagoda_probe_read_u8:
    ldrb w1, [x0]
    mov x0, #0
    ret
    .global __pagoda_probe_read_u64
__pagoda_probe_read_u64:
    ldr x1, [x0]
    mov x0, #0
    ret
    .global __pagoda_probe_write_u8
__pagoda_probe_write_u8:
    strb w1, [x0]
    mov x0, #0
    ret
    .global __pagoda_probe_write_u64
__pagoda_probe_write_u64:
    str x1, [x0]
    mov x0, #0
    ret
    .global __pagoda_uaccess_end
__pagoda_uaccess_end:
    .global __pagoda_uaccess_fault
__pagoda_uaccess_fault:
    mov x0, #1
    ret
    .popsection
    "#
);

pub(super) use super::super::probe_calls::fixup;
pub use super::super::probe_calls::{
    probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64,
};
