//! The GDT and the TSS.
//!
//! Descriptor order is fixed by `syscall`/`sysretq`: STAR\[47:32\] = kernel CS (SS = +8),
//! STAR\[63:48\] = 0x10, so `sysretq` loads SS = 0x10 + 8 (user data) and CS = 0x10 + 16
//! (user code), both with RPL 3.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

/// Kernel code selector (64-bit).
pub(super) const KERNEL_CS: u16 = 0x08;
/// Kernel data selector.
pub(super) const KERNEL_DS: u16 = 0x10;
/// User data selector (RPL 3).
pub(super) const USER_DS: u16 = 0x18 | 3;
/// User code selector (64-bit, RPL 3).
pub(super) const USER_CS: u16 = 0x20 | 3;
/// TSS selector (a 16-byte system descriptor: entries 5 and 6).
const TSS_SEL: u16 = 0x28;
/// STAR\[63:48\]: base from which `sysretq` derives the user selectors.
pub(super) const SYSRET_BASE: u16 = 0x10;

/// The 64-bit task-state segment (Intel SDM vol. 3, figure 8-11).
#[repr(C, packed(4))]
pub(super) struct Tss {
    _reserved0: u32,
    /// Stack pointers loaded on a privilege change to ring 0..2.
    rsp: [u64; 3],
    _reserved1: u64,
    /// Interrupt stack table: IST1..IST7.
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    /// Offset of the I/O permission bitmap; past the limit = no bitmap (all ports denied
    /// to ring 3).
    iomap_base: u16,
}

/// Byte offset of `rsp[0]` inside [`Tss`], used by the syscall entry.
pub(super) const TSS_RSP0_OFFSET: usize = 4;

/// Interior-mutable storage for a CPU structure that the hardware also reads.
#[repr(C, align(16))]
pub(super) struct CpuCell<T>(UnsafeCell<T>);

// SAFETY: one CPU, interrupts disabled: no two contexts ever access the cell at once.
unsafe impl<T> Sync for CpuCell<T> {}

impl<T> CpuCell<T> {
    pub(super) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    pub(super) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// The TSS. `rsp[0]` points at the end of the running user context's trap frame.
pub(super) static TSS: CpuCell<Tss> = CpuCell::new(Tss {
    _reserved0: 0,
    rsp: [0; 3],
    _reserved1: 0,
    ist: [0; 7],
    _reserved2: 0,
    _reserved3: 0,
    iomap_base: size_of::<Tss>() as u16,
});

/// IST slot (1-based, as written in the IDT gate) used for #DF, so a kernel stack overflow
/// still reaches the handler.
pub(super) const DOUBLE_FAULT_IST: u8 = 1;
const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;
static DOUBLE_FAULT_STACK: CpuCell<[u8; DOUBLE_FAULT_STACK_SIZE]> =
    CpuCell::new([0; DOUBLE_FAULT_STACK_SIZE]);

/// null, kernel code, kernel data, user data, user code, TSS (low, high).
static GDT: CpuCell<[u64; 7]> = CpuCell::new([
    0,
    0x00af_9a00_0000_ffff, // P, DPL 0, code exec/read, L (64-bit)
    0x00cf_9200_0000_ffff, // P, DPL 0, data read/write
    0x00cf_f200_0000_ffff, // P, DPL 3, data read/write
    0x00af_fa00_0000_ffff, // P, DPL 3, code exec/read, L (64-bit)
    0,
    0,
]);

/// Pseudo-descriptor operand of `lgdt`/`lidt`.
#[repr(C, packed)]
pub(super) struct DescriptorPointer {
    pub(super) limit: u16,
    pub(super) base: u64,
}

/// Builds the TSS descriptor and loads GDT, segment registers and task register.
/// Idempotent: the descriptor is rewritten as "available" before each `ltr`.
pub(super) fn init() {
    let tss_base = TSS.get() as u64;
    let limit = (size_of::<Tss>() - 1) as u64;
    let low = (limit & 0xffff)
        | ((tss_base & 0xff_ffff) << 16)
        | (0x89 << 40) // P, DPL 0, type 9 = available 64-bit TSS
        | (((limit >> 16) & 0xf) << 48)
        | (((tss_base >> 24) & 0xff) << 56);
    let high = tss_base >> 32;
    let df_stack_top = DOUBLE_FAULT_STACK.get() as u64 + DOUBLE_FAULT_STACK_SIZE as u64;
    // SAFETY: single CPU with interrupts off; nothing else accesses TSS/GDT right now (the
    // CPU reads the TSS only on a privilege change or an IST switch, neither of which can
    // happen inside this function). `ist` is only 4-byte aligned in the packed TSS, hence
    // `write_unaligned`.
    unsafe {
        (&raw mut (*TSS.get()).ist[usize::from(DOUBLE_FAULT_IST) - 1])
            .write_unaligned(df_stack_top);
        let gdt = &mut *GDT.get();
        gdt[5] = low;
        gdt[6] = high;
    }
    let pointer = DescriptorPointer {
        limit: (size_of::<[u64; 7]>() - 1) as u16,
        base: GDT.get() as u64,
    };
    // SAFETY: the GDT is a valid static table whose code/data descriptors match what the
    // running code uses (64-bit kernel code at 0x08, data at 0x10); the far return reloads CS
    // with the same kind of segment, so execution continues at label 2.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, {ds}",
            "mov ss, {tmp:e}",
            "xor {tmp:e}, {tmp:e}",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov fs, {tmp:e}",
            "mov gs, {tmp:e}",
            "mov {tmp:e}, {tss}",
            "ltr {tmp:x}",
            ptr = in(reg) &pointer,
            cs = const KERNEL_CS,
            ds = const KERNEL_DS,
            tss = const TSS_SEL,
            tmp = out(reg) _,
            options(preserves_flags),
        );
    }
}

/// Sets the stack the CPU switches to on a trap from ring 3 (TSS.rsp0).
pub(super) fn set_user_trap_stack(top: u64) {
    // SAFETY: single CPU with interrupts off; the CPU reads rsp0 only on a ring-3 trap,
    // which cannot happen while the kernel runs this store. `rsp` is 4-byte aligned inside
    // the packed struct, so the store goes through `write_unaligned`.
    unsafe { (&raw mut (*TSS.get()).rsp[0]).write_unaligned(top) };
}
