//! Exercises the trap layer: uaccess probes that fault (the kernel hook sees them and they
//! return errors), probes on user memory, and a user program that makes two system calls,
//! takes a page fault that the kernel resolves by hand, and ends on an illegal instruction.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use pagoda::mm::{self, MappingFlags, Populate, VirtAddr};
use pagoda::println;
use pagoda::trap::{self, Fault, UserContext, UserTrap};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("traps");
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

const AARCH64: UserProgram = UserProgram {
    code: &[
        0x08, 0x08, 0x80, 0xd2, // mov x8, #64
        0x20, 0x00, 0x80, 0xd2, // mov x0, #1
        0x01, 0x00, 0x00, 0xd4, // svc #0
        0x00, 0x04, 0x00, 0x91, // add x0, x0, #1
        0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93
        0x01, 0x00, 0x00, 0xd4, // svc #0
        0x89, 0x46, 0xa2, 0xd2, // movz x9, #0x1234, lsl #16
        0x09, 0x00, 0x8a, 0xf2, // movk x9, #0x5000
        0x2a, 0x01, 0x40, 0xf9, // ldr x10, [x9]
        0x00, 0x00, 0x00, 0x00, // udf #0
    ],
    write_nr: 64,
    exit_nr: 93,
    // ESR_EL1 of an undefined instruction: EC 0 ("unknown reason"), IL = 1.
    illegal_cause: 0x0200_0000,
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

static LIES: AtomicUsize = AtomicUsize::new(0);

/// Claims to resolve every fault, resolving none.
fn always_resolved(_: VirtAddr, _: MappingFlags) -> bool {
    LIES.fetch_add(1, Ordering::SeqCst);
    true
}

fn va(a: usize) -> VirtAddr {
    VirtAddr::from_usize(a)
}

fn probes_without_user_memory() {
    trap::set_kernel_page_fault_handler(on_fault);
    let a = va(0x1000_0000);
    let read_fault = Fault {
        addr: a,
        access: MappingFlags::READ,
    };
    T.eq(
        trap::probe_read_u64(a),
        Err(read_fault),
        "unmapped read probe",
    );
    T.eq(
        FAULTS.load(Ordering::SeqCst),
        1,
        "fault hook calls after a read",
    );
    T.eq(
        LAST_ADDR.load(Ordering::SeqCst),
        a.as_usize(),
        "fault hook address",
    );
    T.eq(
        LAST_ACCESS.load(Ordering::SeqCst),
        MappingFlags::READ.bits(),
        "fault hook access",
    );
    let w = va(0x1000_0001);
    let write_fault = Fault {
        addr: w,
        access: MappingFlags::WRITE,
    };
    T.eq(
        trap::probe_write_u8(w, 7),
        Err(write_fault),
        "unmapped write probe",
    );
    T.eq(
        LAST_ACCESS.load(Ordering::SeqCst),
        MappingFlags::WRITE.bits(),
        "write access kind",
    );
    // Kernel addresses and misaligned u64 are refused before any access.
    let kernel = va(main as fn() as usize);
    T.check(
        trap::probe_read_u8(kernel).is_err(),
        "probe of a kernel address",
    );
    T.check(
        trap::probe_write_u64(va(0x1000_0004), 1).is_err(),
        "misaligned u64 probe",
    );
    T.eq(
        FAULTS.load(Ordering::SeqCst),
        2,
        "refused probes must not fault",
    );
    println!("probes: faults reported as errors, kernel hook called 2 times");

    // A hook that claims to resolve every fault cannot make a probe retry forever.
    trap::set_kernel_page_fault_handler(always_resolved);
    T.eq(
        trap::probe_read_u64(a),
        Err(read_fault),
        "probe with a lying hook",
    );
    T.eq(
        LIES.load(Ordering::SeqCst),
        trap::MAX_FAULT_RETRIES,
        "lying hook asked a bounded number of times",
    );
    T.check(
        trap::probe_write_u8(w, 1).is_err(),
        "next probe with the lying hook",
    );
    T.eq(
        LIES.load(Ordering::SeqCst),
        2 * trap::MAX_FAULT_RETRIES,
        "each probe gets its own attempts",
    );
    trap::set_kernel_page_fault_handler(on_fault);
    println!(
        "probes: a lying hook is asked {} times per probe",
        trap::MAX_FAULT_RETRIES
    );
}

fn user_mode(prog: &UserProgram) {
    let rw = MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
    let mut space = T.ok(mm::new_space(), "new address space");
    T.ok(mm::map_code(&mut space, va(CODE_VA), prog.code), "map code");
    for at in [DATA_VA, STACK_VA] {
        T.ok(
            space.map_alloc(va(at), 0x1000, rw, Populate::Lazy),
            "map data",
        );
    }
    T.ok(
        space.write_bytes(va(DATA_VA), &DATA.to_le_bytes()),
        "write data",
    );
    T.check(
        T.ok(mm::switch_to(space), "install").is_none(),
        "no previous space",
    );

    T.eq(
        trap::probe_read_u64(va(DATA_VA)),
        Ok(DATA),
        "probe reads user data",
    );
    T.ok(
        trap::probe_write_u64(va(DATA_VA + 8), 5),
        "probe writes user data",
    );
    T.eq(
        trap::probe_read_u8(va(DATA_VA + 8)),
        Ok(5),
        "probe reads back",
    );
    let mut ctx = UserContext::new(CODE_VA, STACK_VA + 0x1000);
    T.eq(ctx.run(), UserTrap::Syscall, "first trap is a syscall");
    T.eq(ctx.syscall_number(), prog.write_nr, "write syscall number");
    T.eq(ctx.syscall_args()[0], 1, "write syscall argument");
    ctx.set_syscall_return(41);
    T.eq(ctx.run(), UserTrap::Syscall, "second trap is a syscall");
    T.eq(ctx.syscall_number(), prog.exit_nr, "exit syscall");
    T.eq(ctx.syscall_args()[0], 42, "return value reached user mode");
    let fault = UserTrap::PageFault {
        addr: va(LAZY_VA),
        access: MappingFlags::READ,
    };
    T.eq(ctx.run(), fault, "user page fault on an unmapped page");

    // Map the page, resolve the fault, retry the instruction.
    let mapped = mm::with_current(|s| {
        s.map_alloc(va(LAZY_VA), 0x1000, rw, Populate::Lazy)?;
        s.handle_page_fault(va(LAZY_VA), MappingFlags::READ | MappingFlags::USER)
            .map_err(|_| mm::LinuxError::EFAULT)
    });
    T.eq(
        mapped,
        Some(Ok(mm::FaultOutcome::Filled)),
        "map and fault in the page",
    );
    let last = ctx.run();
    let illegal = matches!(last, UserTrap::Exception { cause, .. } if cause == prog.illegal_cause);
    T.check(illegal, "retried load, then the illegal instruction");
    let mut buf = [0u8; 8];
    let mut space = T.some(mm::take_current(), "take the space back");
    T.ok(space.read_bytes(va(DATA_VA + 8), &mut buf), "read back");
    T.eq(u64::from_le_bytes(buf), 5, "probe write landed");
    println!("user mode: 2 syscalls, page fault resolved and retried, {last:?}");
}

fn main() {
    probes_without_user_memory();
    let prog = match pagoda::ARCH {
        "riscv64" => &RISCV64,
        "x86_64" => &X86_64,
        "aarch64" => &AARCH64,
        other => T.fail(format_args!("no user program for {other}")),
    };
    user_mode(prog);
    T.pass();
}
