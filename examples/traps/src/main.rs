//! Exercises the trap layer: uaccess probes that fault (the kernel hook sees them and they
//! return errors), probes on user memory, and a user program that makes two system calls,
//! takes a page fault that the kernel resolves, and ends on an illegal instruction.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use pagoda::mem::{self, Frame, MappingFlags, PageSize, PageTable, VirtAddr};
use pagoda::println;
use pagoda::trap::{self, Fault, UserContext, UserTrap};

pagoda::main!(main);

const NAME: &str = "traps";
const CODE_VA: usize = 0x40_0000;
const DATA_VA: usize = 0x50_0000;
const STACK_VA: usize = 0x7f_f000;
const LAZY_VA: usize = 0x1234_5000;
const DATA: u64 = 0x1122_3344_5566_7788;

/// Machine code per arch (data, chosen at run time): write(1) → ret; exit(ret + 1);
/// load from `LAZY_VA`; illegal instruction.
struct UserProgram {
    code: &'static [u8],
    write_nr: usize,
    exit_nr: usize,
    illegal_cause: usize,
}

const RISCV64: UserProgram = UserProgram {
    code: &[
        0x93, 0x08, 0x00, 0x04, // li a7, 64
        0x13, 0x05, 0x10, 0x00, // li a0, 1
        0x73, 0x00, 0x00, 0x00, // ecall
        0x13, 0x05, 0x15, 0x00, // addi a0, a0, 1
        0x93, 0x08, 0xd0, 0x05, // li a7, 93
        0x73, 0x00, 0x00, 0x00, // ecall
        0xb7, 0x52, 0x34, 0x12, // lui t0, 0x12345
        0x03, 0xb3, 0x02, 0x00, // ld t1, 0(t0)
        0x00, 0x00, 0x00, 0x00, // illegal
    ],
    write_nr: 64,
    exit_nr: 93,
    illegal_cause: 2,
};

const X86_64: UserProgram = UserProgram {
    code: &[
        0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
        0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
        0x0f, 0x05, // syscall
        0x48, 0x89, 0xc7, // mov rdi, rax
        0x48, 0x83, 0xc7, 0x01, // add rdi, 1
        0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
        0x0f, 0x05, // syscall
        0xb9, 0x00, 0x50, 0x34, 0x12, // mov ecx, 0x12345000
        0x48, 0x8b, 0x11, // mov rdx, [rcx]
        0x0f, 0x0b, // ud2
    ],
    write_nr: 1,
    exit_nr: 60,
    illegal_cause: 6,
};

static FAULTS: AtomicUsize = AtomicUsize::new(0);
static LAST_ADDR: AtomicUsize = AtomicUsize::new(0);
static LAST_ACCESS: AtomicUsize = AtomicUsize::new(0);

/// Records kernel-mode page faults; resolves none.
fn on_fault(addr: VirtAddr, access: MappingFlags) -> bool {
    FAULTS.fetch_add(1, Ordering::SeqCst);
    LAST_ADDR.store(addr.as_usize(), Ordering::SeqCst);
    LAST_ACCESS.store(access.bits(), Ordering::SeqCst);
    false
}

fn check(ok: bool, what: &str) {
    if !ok {
        pagoda::fail(NAME, format_args!("{what}"));
    }
}

fn va(a: usize) -> VirtAddr {
    VirtAddr::from_usize(a)
}

fn probes_without_user_memory() {
    trap::set_kernel_page_fault_handler(on_fault);
    let a = va(0x1000_0000);
    let read = trap::probe_read_u64(a);
    check(
        read == Err(Fault {
            addr: a,
            access: MappingFlags::READ,
        }),
        "unmapped read probe",
    );
    check(
        FAULTS.load(Ordering::SeqCst) == 1,
        "fault hook not called on read",
    );
    check(
        LAST_ADDR.load(Ordering::SeqCst) == a.as_usize(),
        "fault hook address",
    );
    check(
        LAST_ACCESS.load(Ordering::SeqCst) == MappingFlags::READ.bits(),
        "fault hook access",
    );
    let w = va(0x1000_0001);
    let write = trap::probe_write_u8(w, 7);
    check(
        write
            == Err(Fault {
                addr: w,
                access: MappingFlags::WRITE,
            }),
        "unmapped write probe",
    );
    check(
        LAST_ACCESS.load(Ordering::SeqCst) == MappingFlags::WRITE.bits(),
        "write access kind",
    );
    // Kernel addresses and misaligned u64 are refused before any access.
    let kernel = va(main as fn() as usize);
    check(
        trap::probe_read_u8(kernel).is_err(),
        "probe of a kernel address",
    );
    check(
        trap::probe_write_u64(va(0x1000_0004), 1).is_err(),
        "misaligned u64 probe",
    );
    check(
        FAULTS.load(Ordering::SeqCst) == 2,
        "refused probes must not fault",
    );
    println!(
        "probes: faults reported as errors, kernel hook called {} times",
        2
    );
}

fn map(pt: &mut PageTable, at: usize, frame: &Frame, flags: MappingFlags) {
    let r = pt.map(
        va(at),
        frame.start_paddr(),
        PageSize::Size4K,
        flags | MappingFlags::USER,
    );
    // The table is not active: no TLB entry to flush.
    check(r.map(|flush| flush.ignore()).is_ok(), "map user page");
}

fn user_mode(prog: &UserProgram) {
    let (rx, rw) = (
        MappingFlags::READ | MappingFlags::EXECUTE,
        MappingFlags::READ | MappingFlags::WRITE,
    );
    let frame =
        || Frame::alloc_zeroed().unwrap_or_else(|e| pagoda::fail(NAME, format_args!("{e}")));
    // Frames outlive the table (declared first, dropped last).
    let (code, data, stack, lazy) = (frame(), frame(), frame(), frame());
    check(code.write_at(0, prog.code).is_ok(), "write code");
    check(data.write_at(0, &DATA.to_le_bytes()).is_ok(), "write data");
    let mut pt = mem::new_user_table().unwrap_or_else(|e| pagoda::fail(NAME, format_args!("{e}")));
    map(&mut pt, CODE_VA, &code, rx);
    map(&mut pt, DATA_VA, &data, rw);
    map(&mut pt, STACK_VA, &stack, rw);

    let mut ctx = UserContext::new(CODE_VA, STACK_VA + 0x1000);
    let first = mem::with_user_table(&pt, || {
        check(
            trap::probe_read_u64(va(DATA_VA)) == Ok(DATA),
            "probe reads user data",
        );
        check(
            trap::probe_write_u64(va(DATA_VA + 8), 5).is_ok(),
            "probe writes user data",
        );
        check(
            trap::probe_read_u8(va(DATA_VA + 8)) == Ok(5),
            "probe reads back",
        );
        let t = ctx.run();
        check(t == UserTrap::Syscall, "first trap is a syscall");
        check(
            ctx.syscall_number() == prog.write_nr,
            "write syscall number",
        );
        check(ctx.syscall_args()[0] == 1, "write syscall argument");
        ctx.set_syscall_return(41);
        let t = ctx.run();
        check(
            t == UserTrap::Syscall && ctx.syscall_number() == prog.exit_nr,
            "exit syscall",
        );
        check(
            ctx.syscall_args()[0] == 42,
            "return value reached user mode",
        );
        ctx.run()
    });
    let fault = UserTrap::PageFault {
        addr: va(LAZY_VA),
        access: MappingFlags::READ,
    };
    check(first == Ok(fault), "user page fault on the lazy page");
    let mut buf = [0u8; 8];
    check(
        data.read_at(8, &mut buf).is_ok() && u64::from_le_bytes(buf) == 5,
        "probe write landed",
    );

    // Resolve the fault and retry the instruction.
    map(&mut pt, LAZY_VA, &lazy, MappingFlags::READ);
    let last = mem::with_user_table(&pt, || ctx.run());
    let illegal =
        matches!(last, Ok(UserTrap::Exception { cause, .. }) if cause == prog.illegal_cause);
    check(illegal, "retried load, then the illegal instruction");
    println!("user mode: 2 syscalls, page fault resolved and retried, {last:?}");
}

fn main() {
    probes_without_user_memory();
    let prog = match pagoda::ARCH {
        "riscv64" => &RISCV64,
        "x86_64" => &X86_64,
        other => pagoda::fail(NAME, format_args!("no user program for {other}")),
    };
    user_mode(prog);
    pagoda::pass(NAME);
}
