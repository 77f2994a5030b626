//! uaccess probes: single loads/stores at user addresses whose page faults either get resolved
//! by the registered handler (and retried) or become `Err(Fault)` through a fixup address.

use core::arch::global_asm;

// Every instruction between start and end that can fault is a user access; the trap handler
// sends faults there to `__pagoda_uaccess_fault`, which returns err = 1.
global_asm!(
    r#"
    .section .text.uaccess, "ax"
    .balign 4
    .global __pagoda_uaccess_start
__pagoda_uaccess_start:
    .global __pagoda_probe_read_u8
__pagoda_probe_read_u8:
    lbu a1, 0(a0)
    li a0, 0
    ret
    .global __pagoda_probe_read_u64
__pagoda_probe_read_u64:
    ld a1, 0(a0)
    li a0, 0
    ret
    .global __pagoda_probe_write_u8
__pagoda_probe_write_u8:
    sb a1, 0(a0)
    li a0, 0
    ret
    .global __pagoda_probe_write_u64
__pagoda_probe_write_u64:
    sd a1, 0(a0)
    li a0, 0
    ret
    .global __pagoda_uaccess_end
__pagoda_uaccess_end:
    .global __pagoda_uaccess_fault
__pagoda_uaccess_fault:
    li a0, 1
    ret
    "#
);

pub(super) use super::super::probe_calls::fixup;
pub use super::super::probe_calls::{
    probe_read_u8, probe_read_u64, probe_write_u8, probe_write_u64,
};
