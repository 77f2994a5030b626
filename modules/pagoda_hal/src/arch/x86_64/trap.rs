//! The IDT, the exception entry stubs and kernel-mode trap handling.
//!
//! Every exception vector (0..32) has a stub that pushes a zero error code when the CPU
//! does not, then the vector number, and jumps to the common entry, which pushes all
//! general-purpose registers, completing a [`TrapFrame`]. Traps from ring 3 continue in
//! `user.rs` (the frame then lies inside the running `UserContext`, because TSS.rsp0 points
//! at its end); traps from ring 0 go to [`kernel_trap`].

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::mem::size_of;

use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::gdt::{self, CpuCell, DOUBLE_FAULT_IST, DescriptorPointer, KERNEL_CS};
use super::{exit, timer, uaccess, user};
use crate::console::Console;

/// Registers saved on every trap, in stack order (lowest address first).
///
/// Layout is shared with the assembly in this file and `user.rs`: 15 GPRs pushed by the
/// common entry, `vector` and `error_code` pushed by the stub (error code by the CPU for
/// some vectors), then the hardware interrupt frame. 176 bytes, a multiple of 16, so the
/// CPU's 16-byte alignment of the interrupt stack lands exactly on it.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Exception vector, or [`user::SYSCALL_VECTOR`] for a `syscall`.
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Offset of `vector` in [`TrapFrame`].
pub(super) const FRAME_VECTOR_OFFSET: usize = 15 * 8;
/// Offset of `cs` in [`TrapFrame`].
const FRAME_CS_OFFSET: usize = 18 * 8;
const _: () = assert!(size_of::<TrapFrame>() == 176);

/// Number of exception vectors.
const NUM_VECTORS: usize = 32;
/// IDT size: the exceptions, then one stub per interrupt vector 32..=255 (each 16 bytes,
/// at `__pagoda_irq_stubs + 16 * (vector - 32)`). Interrupts go to `timer::acknowledge`.
const IDT_ENTRIES: usize = 256;
const IRQ_STUB_STRIDE: u64 = 16;
/// Page fault.
pub(super) const PAGE_FAULT: u64 = 14;
/// Double fault: always fatal, runs on its own IST stack.
const DOUBLE_FAULT: u64 = 8;
/// Breakpoint: its gate has DPL 3 so user `int3` reports #BP instead of #GP.
const BREAKPOINT: usize = 3;

/// Page-fault error code bits (Intel SDM vol. 3, 4.7).
const PF_WRITE: u64 = 1 << 1;
const PF_RESERVED: u64 = 1 << 3;
const PF_INSTRUCTION: u64 = 1 << 4;

/// Assembly pushing the 15 general-purpose registers so that they form the start of a
/// [`TrapFrame`] (rax first, r15 at the lowest address). Shared with `user.rs`.
macro_rules! push_gprs {
    () => {
        "push rax; push rbx; push rcx; push rdx; push rsi; push rdi; push rbp; push r8
        push r9; push r10; push r11; push r12; push r13; push r14; push r15"
    };
}
pub(super) use push_gprs;

/// Assembly popping the 15 general-purpose registers pushed by [`push_gprs`].
macro_rules! pop_gprs {
    () => {
        "pop r15; pop r14; pop r13; pop r12; pop r11; pop r10; pop r9; pop r8; pop rbp
        pop rdi; pop rsi; pop rdx; pop rcx; pop rbx; pop rax"
    };
}
pub(super) use pop_gprs;

global_asm!(
    r#"
    .macro PAGODA_TRAP_STUB vec, has_code
    .balign 16
__pagoda_vec_\vec:
    .if \has_code == 0
    push 0
    .endif
    push \vec
    jmp __pagoda_trap_common
    .endm

    .pushsection .text.pagoda_trap, "ax"
    .irp vec, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
    PAGODA_TRAP_STUB \vec, 0
    .endr
    .irp vec, 8,10,11,12,13,14,17,21,29,30
    PAGODA_TRAP_STUB \vec, 1
    .endr
    .purgem PAGODA_TRAP_STUB

    // Interrupt stubs: push 0 (no error code), push imm32 vector, jmp; 16-byte stride.
    .balign 16
    .global __pagoda_irq_stubs
__pagoda_irq_stubs:
    .set pagoda_irq_vector, {num_vectors}
    .rept {idt_entries} - {num_vectors}
    .balign 16
    push 0
    .byte 0x68
    .long pagoda_irq_vector
    jmp __pagoda_trap_common
    .set pagoda_irq_vector, pagoda_irq_vector + 1
    .endr

    .balign 16
    .global __pagoda_trap_common
__pagoda_trap_common:
"#,
    push_gprs!(),
    r#"
    cld
    cmp qword ptr [rsp + {vector_off}], {double_fault}
    je 1f
    test byte ptr [rsp + {cs_off}], 3
    jnz __pagoda_user_trap_exit
1:
    mov rdi, rsp
    call {kernel_trap}
"#,
    pop_gprs!(),
    r#"
    add rsp, 16
    iretq
    .popsection

    .pushsection .rodata.pagoda_trap_vectors, "a"
    .balign 8
    .global __pagoda_trap_vectors
__pagoda_trap_vectors:
    .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad __pagoda_vec_\vec
    .endr
    .popsection
"#,
    vector_off = const FRAME_VECTOR_OFFSET,
    cs_off = const FRAME_CS_OFFSET,
    double_fault = const DOUBLE_FAULT,
    kernel_trap = sym kernel_trap,
    num_vectors = const NUM_VECTORS,
    idt_entries = const IDT_ENTRIES,
);

unsafe extern "C" {
    /// Entry addresses of the 32 stubs above.
    static __pagoda_trap_vectors: [u64; NUM_VECTORS];
    /// The first interrupt stub (vector 32); see [`IDT_ENTRIES`].
    fn __pagoda_irq_stubs();
}

/// One 16-byte IDT gate.
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    low: u64,
    high: u64,
}

static IDT: CpuCell<[Gate; IDT_ENTRIES]> = CpuCell::new([Gate { low: 0, high: 0 }; IDT_ENTRIES]);

/// An interrupt gate (IF cleared on entry) to `handler` in the kernel code segment.
fn gate(handler: u64, dpl: u64, ist: u8) -> Gate {
    let attrs = 0x8e | (dpl << 5); // P, 64-bit interrupt gate
    Gate {
        low: (handler & 0xffff)
            | (u64::from(KERNEL_CS) << 16)
            | (u64::from(ist) << 32)
            | (attrs << 40)
            | (((handler >> 16) & 0xffff) << 48),
        high: handler >> 32,
    }
}

/// Loads GDT/TSS, the IDT and the `syscall` MSRs. Idempotent.
pub fn init_traps() {
    gdt::init();
    // SAFETY: the symbol is the stub table defined in the assembly above (32 quads in
    // .rodata, never written).
    let stubs = unsafe { &__pagoda_trap_vectors };
    // SAFETY: single CPU with interrupts off; the CPU reads the IDT only when delivering an
    // exception, and no exception can occur during these plain stores to our own static.
    let idt = unsafe { &mut *IDT.get() };
    for (vector, (slot, &stub)) in idt.iter_mut().zip(stubs).enumerate() {
        let dpl = if vector == BREAKPOINT { 3 } else { 0 };
        let ist = if vector as u64 == DOUBLE_FAULT {
            DOUBLE_FAULT_IST
        } else {
            0
        };
        *slot = gate(stub, dpl, ist);
    }
    let irq_base = __pagoda_irq_stubs as *const () as u64;
    for (i, slot) in idt[NUM_VECTORS..].iter_mut().enumerate() {
        *slot = gate(irq_base + IRQ_STUB_STRIDE * i as u64, 0, 0);
    }
    let pointer = DescriptorPointer {
        limit: (size_of::<[Gate; IDT_ENTRIES]>() - 1) as u16,
        base: IDT.get() as u64,
    };
    // SAFETY: `pointer` describes the fully initialised static IDT above.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
    user::init_syscall();
    timer::init();
}

/// CR2: the linear address of the last page fault.
pub(super) fn read_cr2() -> usize {
    let cr2: usize;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags)) };
    cr2
}

/// The access kind of a page fault from its error code: instruction fetch, write, or read.
pub(super) fn page_fault_access(error_code: u64) -> MappingFlags {
    if error_code & PF_INSTRUCTION != 0 {
        MappingFlags::EXECUTE
    } else if error_code & PF_WRITE != 0 {
        MappingFlags::WRITE
    } else {
        MappingFlags::READ
    }
}

/// Handles a trap taken in ring 0 (and every #DF).
///
/// A page fault first goes to the registered handler (`true` = resolved, retry); if it
/// stays unresolved inside a uaccess probe, execution resumes at the probe's fixup with
/// `rdx = 1` and `rcx = CR2`. Anything else is fatal: registers are printed and QEMU exits
/// with `FATAL_TRAP_EXIT_CODE`. Faults with the reserved-bit flag mean a corrupt page table
/// and are always fatal. Interrupts (vectors 32..=255) arrive only inside
/// `wait_for_interrupt` and are just acknowledged. A #DF whose CR2 lies in the boot stack's
/// guard page is reported as `FATAL: kernel stack overflow`.
extern "C" fn kernel_trap(tf: &mut TrapFrame) {
    if tf.vector >= NUM_VECTORS as u64 {
        // An interrupt: only inside `wait_for_interrupt`; acknowledging is all there is.
        timer::acknowledge(tf.vector);
        return;
    }
    if tf.vector == DOUBLE_FAULT
        && super::boot::stack_guard_page().contains(VirtAddr::from_usize(read_cr2()))
    {
        report_stack_overflow(tf);
        exit(false, crate::trap::FATAL_TRAP_EXIT_CODE)
    }
    if tf.vector == PAGE_FAULT && tf.error_code & PF_RESERVED == 0 {
        let addr = read_cr2();
        let access = page_fault_access(tf.error_code);
        if crate::trap::handle_kernel_page_fault(VirtAddr::from_usize(addr), access) {
            return;
        }
        if let Some(fixup) = uaccess::fixup_for(tf.rip) {
            tf.rip = fixup;
            tf.rdx = 1;
            tf.rcx = addr as u64;
            return;
        }
    }
    report_fatal(tf);
    exit(false, crate::trap::FATAL_TRAP_EXIT_CODE)
}

/// Short name of an exception vector.
fn vector_name(vector: u64) -> &'static str {
    const NAMES: [&str; NUM_VECTORS] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor segment overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved",
        "#MF x87 error",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD error",
        "#VE virtualization",
        "#CP control protection",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "#HV hypervisor injection",
        "#VC VMM communication",
        "#SX security",
        "reserved",
    ];
    usize::try_from(vector)
        .ok()
        .and_then(|v| NAMES.get(v).copied())
        .unwrap_or("unknown")
}

/// A double fault after a page fault in the guard page: the kernel stack overflowed (the
/// CPU could not push the page fault's frame; the #DF runs on its own IST stack).
fn report_stack_overflow(tf: &TrapFrame) {
    let guard = super::boot::stack_guard_page();
    crate::console::print_unlocked(format_args!(
        "\nFATAL: kernel stack overflow\n  rsp {:#x}, cr2 {:#x} in the guard page {:#x}..{:#x}, rip {:#x}\n",
        tf.rsp,
        read_cr2(),
        guard.start.as_usize(),
        guard.end.as_usize(),
        tf.rip,
    ));
}

/// Prints the trap and every saved register, without the console lock (the code that
/// trapped may hold it).
fn report_fatal(tf: &TrapFrame) {
    // `Console` never fails; there would be nothing to do if it did.
    let _ = write_frame(&mut Console, tf);
}

fn write_frame(out: &mut Console, tf: &TrapFrame) -> fmt::Result {
    let mode = if tf.cs & 3 == 3 { "user" } else { "kernel" };
    let cr3 = super::current_page_table().as_usize();
    writeln!(out)?;
    writeln!(
        out,
        "unhandled {mode} trap: vector {} ({}), error code {:#x}",
        tf.vector,
        vector_name(tf.vector),
        tf.error_code
    )?;
    writeln!(
        out,
        "  rip {:#018x}  cs {:#06x}  rflags {:#010x}",
        tf.rip, tf.cs, tf.rflags
    )?;
    writeln!(out, "  rsp {:#018x}  ss {:#06x}", tf.rsp, tf.ss)?;
    writeln!(out, "  cr2 {:#018x}  cr3 {cr3:#018x}", read_cr2())?;
    let regs = [
        ("rax", tf.rax),
        ("rbx", tf.rbx),
        ("rcx", tf.rcx),
        ("rdx", tf.rdx),
        ("rsi", tf.rsi),
        ("rdi", tf.rdi),
        ("rbp", tf.rbp),
        ("r8 ", tf.r8),
        ("r9 ", tf.r9),
        ("r10", tf.r10),
        ("r11", tf.r11),
        ("r12", tf.r12),
        ("r13", tf.r13),
        ("r14", tf.r14),
        ("r15", tf.r15),
    ];
    for row in regs.chunks(3) {
        for (name, value) in row {
            write!(out, "  {name} {value:#018x}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
