//! mprotect: a page made read-only refuses writes, `PROT_NONE` refuses everything. The
//! illegal access is a segmentation fault of whoever made it: a failed probe for the
//! kernel, `SIGSEGV` for a user program, which is killed while the kernel carries on.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use pagoda::mm::{self, ExitStatus, MappingFlags, MmapFlags, PAGE_SIZE_4K, Signal, VirtAddr};
use pagoda::{print, println};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("protect");
const PAGES: usize = 4;
const SEED: u64 = 0x9a7e;
/// Where the little user program goes.
const CODE_VA: usize = 0x10_0000;
/// Where the data goes: below 2 GiB, so the program's code can hold its address.
const DATA_VA: usize = 0x20_0000;

/// Machine code for this arch: load 8 bytes from `addr` (page aligned, below 2 GiB), then
/// `exit(0)`.
fn load_then_exit(addr: VirtAddr) -> [u8; 20] {
    let a = addr.as_usize() as u32;
    let mut code = [0; 20];
    if pagoda::ARCH == "riscv64" {
        let insns = [
            a | 0x2b7,   // lui t0, addr
            0x0002_b303, // ld t1, 0(t0)
            0x05d0_0893, // li a7, 93 (exit)
            0x0000_0513, // li a0, 0
            0x0000_0073, // ecall
        ];
        for (slot, insn) in code.chunks_exact_mut(4).zip(insns) {
            slot.copy_from_slice(&insn.to_le_bytes());
        }
    } else if pagoda::ARCH == "aarch64" {
        let insns = [
            0xd2a0_0009 | ((a >> 16) << 5),    // movz x9, #(addr >> 16), lsl #16
            0xf280_0009 | ((a & 0xffff) << 5), // movk x9, #(addr & 0xffff)
            0xf940_012a,                       // ldr x10, [x9]
            0xd280_0ba8,                       // mov x8, #93 (exit; x0 is still 0)
            0xd400_0001,                       // svc #0
        ];
        for (slot, insn) in code.chunks_exact_mut(4).zip(insns) {
            slot.copy_from_slice(&insn.to_le_bytes());
        }
    } else {
        code[0] = 0xb9; // mov ecx, addr
        code[1..5].copy_from_slice(&a.to_le_bytes());
        code[5..17].copy_from_slice(&[
            0x48, 0x8b, 0x11, // mov rdx, [rcx]
            0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
            0x31, 0xff, // xor edi, edi
            0x0f, 0x05, // syscall
        ]);
    }
    code
}

fn expect_segv(r: Result<u64, mm::ProbeError>, va: VirtAddr, access: MappingFlags, what: &str) {
    let err = mm::ProbeError {
        addr: va,
        access,
        signal: Signal::Segv,
    };
    T.eq(r.map(drop), Err(err), what);
}

fn main() {
    T.ok(mm::switch_to_new(), "switch to a new address space");
    let len = PAGES * PAGE_SIZE_4K;
    let anon = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED_NOREPLACE;
    let at = VirtAddr::from_usize(DATA_VA);
    let va = T.ok(
        mm::current(|s| s.mmap(at, len, mm::RW, anon, None, 0)),
        "mmap",
    );
    T.ok(mm::write_pattern(va, PAGES, SEED), "fill the area");

    // Read-only: reads work, a write is refused and changes nothing.
    T.ok(
        mm::current(|s| s.mprotect(va, len, mm::RO)),
        "mprotect read-only",
    );
    T.ok(mm::check_pattern(va, PAGES, SEED), "read-only pages read");
    let w = mm::probe_write(va, 1).map(|()| 0);
    expect_segv(w, va, MappingFlags::WRITE, "write to a read-only page");
    let kept = Ok(mm::pattern(SEED, 0));
    T.eq(mm::probe_read(va), kept, "write refused, data kept");
    println!("read-only: reads work, a write is a segmentation fault");

    // PROT_NONE on the second page only: it splits the area.
    let none = va + PAGE_SIZE_4K;
    T.ok(
        mm::current(|s| s.mprotect(none, PAGE_SIZE_4K, mm::NONE)),
        "mprotect PROT_NONE",
    );
    expect_segv(
        mm::probe_read(none),
        none,
        MappingFlags::READ,
        "read of a PROT_NONE page",
    );
    T.ok(
        mm::check_pattern(va, 1, SEED),
        "the page before still reads",
    );
    println!("PROT_NONE on one page: a read there is a segmentation fault too");
    mm::with_current(|s| print!("{s}"));

    // A user program reading the PROT_NONE page is killed; the kernel carries on.
    let code = load_then_exit(none);
    let ok = mm::current(|s| mm::map_code(s, VirtAddr::from_usize(CODE_VA), &code));
    T.ok(ok, "map the user program");
    let report = mm::run(&mut mm::UserContext::new(CODE_VA, 0));
    println!("user program reading the PROT_NONE page: {}", report.status);
    let killed = ExitStatus::Killed {
        signal: Signal::Segv,
        addr: Some(none),
    };
    T.eq(report.status, killed, "the program gets SIGSEGV");

    // Access comes back with the protection; the data was kept all along.
    T.ok(
        mm::current(|s| s.mprotect(va, len, mm::RW)),
        "mprotect read-write",
    );
    T.ok(mm::check_pattern(va, PAGES, SEED), "data intact");
    T.ok(mm::probe_write(none, 7), "writable again");
    println!("read-write again: the data survived, writes work");
    T.pass();
}
