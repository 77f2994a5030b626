//! Loading into a real address space: permissions, contents, bss, brk, stack, rollback.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::builder::{ElfBuilder, PF_R, PF_W, PF_X};
use super::stack::{AT_ENTRY, AT_PHDR, AT_RANDOM};
use super::tests_plan::static_image;
use super::*;
use crate::tests::{Space, assert_no_leak, pte, read, setup, va};
use crate::{BackendKind, File, LinuxError, MemFile, Populate};

const P: usize = PAGE_SIZE_4K;
const TOP: usize = 0x3f_0000_0000;
const USER: MappingFlags = MappingFlags::USER;
const RX: MappingFlags = MappingFlags::READ.union(MappingFlags::EXECUTE);
const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

pub(super) fn request<'a>(
    machine: ElfMachine,
    argv: &'a [&'a str],
) -> ElfLoadRequest<'a, &'a str, &'a str> {
    ElfLoadRequest {
        machine,
        pie_base: va(0x5555_0000),
        stack_top: va(TOP),
        stack_size: 8 * P,
        argv,
        envp: &["HOME=/", "X=1"],
        random: [0x42; 16],
        interp_base: va(0),
    }
}

/// What a failed load must leave as it was: areas, page-table mappings, heap. (Empty
/// intermediate page tables may stay until the space drops; `assert_no_leak` checks that.)
pub(super) fn snapshot(s: &Space) -> (Vec<(usize, usize)>, alloc::string::String, bool) {
    let areas = s
        .areas()
        .map(|a| (a.start().as_usize(), a.size()))
        .collect();
    let dump = alloc::format!("{:?}", s.page_table());
    let leaves = dump
        .lines()
        .filter(|l| l.contains("va="))
        .collect::<Vec<_>>()
        .join("\n");
    (areas, leaves, s.heap().is_some())
}

pub(super) fn word(s: &mut Space, at: usize) -> usize {
    let b = read(s, at, 8);
    u64::from_le_bytes(b.try_into().unwrap()) as usize
}

#[test]
fn static_image_segments_contents_bss_brk() {
    let mut s = setup();
    let image = static_image(ElfMachine::RiscV64);
    let got = load_elf(
        &mut s,
        &image,
        None,
        &request(ElfMachine::RiscV64, &["prog"]),
    )
    .unwrap();
    assert_eq!(got.entry, va(0x100b0));
    assert_eq!(got.brk_start, va(0x16000));
    assert_eq!(
        s.heap(),
        Some(memory_addr::VirtAddrRange::new(va(0x16000), va(0x16000)))
    );
    let areas: Vec<_> = s
        .areas()
        .map(|a| (a.start().as_usize(), a.size(), a.flags()))
        .collect();
    let stack = (TOP - 8 * P, 8 * P, RW | USER);
    assert_eq!(
        areas,
        vec![(0x10000, P, RX | USER), (0x12000, 4 * P, RW | USER), stack]
    );
    // Text: the headers and the code, as in the file; the rest of the page is zero.
    assert_eq!(read(&mut s, 0x10000, 0xd8), &image[..0xd8]);
    assert_eq!(read(&mut s, 0x100d8, P - 0xd8), vec![0; P - 0xd8]);
    // Data at its offset in the page, zeros around it; the file's trailing 0xab junk is not
    // copied into the bss part of the page.
    assert_eq!(read(&mut s, 0x12000, 0x100), vec![0; 0x100]);
    assert_eq!(read(&mut s, 0x12100, 0x20), vec![0x5a; 0x20]);
    assert_eq!(read(&mut s, 0x12120, 4 * P - 0x120), vec![0; 4 * P - 0x120]);
    // Permissions reach the page table.
    let (_, text, _) = pte(&s, 0x10000).unwrap();
    assert!(text.contains(RX) && !text.contains(MappingFlags::WRITE));
    s.write_bytes(va(0x15fff), b"w").unwrap();
    assert_eq!(s.write_bytes(va(0x10000), b"w"), Err(LinuxError::EFAULT));
    assert!(s.find_area(va(0x16000)).is_none(), "nothing past brk");
    drop(s);
    assert_no_leak();
}

#[test]
fn stack_is_the_abi_layout() {
    let mut s = setup();
    let image = static_image(ElfMachine::X86_64);
    let req = request(ElfMachine::X86_64, &["prog", "arg1"]);
    let got = load_elf(&mut s, &image, None, &req).unwrap();
    let auxv = auxv_for(&got.plan, va(0));
    let want = build_stack(va(TOP), req.argv, req.envp, &auxv, &req.random, 8 * P).unwrap();
    assert_eq!(got.sp, want.sp);
    let sp = got.sp.as_usize();
    assert_eq!(sp % 16, 0);
    assert_eq!(read(&mut s, sp, TOP - sp), want.bytes, "byte for byte");
    assert_eq!(word(&mut s, sp), 2, "argc");
    let argv1 = word(&mut s, sp + 16);
    assert_eq!(s.read_cstr(va(argv1), 64).unwrap(), b"arg1");
    assert_eq!(word(&mut s, sp + 24), 0, "argv NULL");
    let env0 = word(&mut s, sp + 32);
    assert_eq!(s.read_cstr(va(env0), 64).unwrap(), b"HOME=/");
    // auxv starts after envp's NULL (sp + 8 * (1 + 2 + 1 + 2 + 1)).
    let aux = sp + 56;
    let pairs: Vec<(usize, usize)> = (0..8)
        .map(|i| (word(&mut s, aux + 16 * i), word(&mut s, aux + 16 * i + 8)))
        .collect();
    assert_eq!(pairs[0], (AT_PHDR, 0x10040));
    assert_eq!(pairs[5], (AT_ENTRY, 0x100b0));
    assert_eq!(pairs[6].0, AT_RANDOM);
    assert_eq!(read(&mut s, pairs[6].1, 16), vec![0x42; 16]);
    assert_eq!(pairs[7], (0, 0), "AT_NULL");
}

/// Text of 1.5 pages, data ending mid-page: the file part of each is mapped from the file.
fn big_image(machine: ElfMachine, pie: bool) -> Vec<u8> {
    let code: Vec<u8> = (0..0x1800u32).map(|i| (i * 7) as u8).collect();
    let data: Vec<u8> = (0..0x1100u32).map(|i| (i * 3 + 1) as u8).collect();
    let base = if pie { 0 } else { 0x40_0000 };
    ElfBuilder::new(machine, pie)
        .entry(base + 0x1000)
        .load(base + 0x1000, PF_R | PF_X, &code, code.len() as u64)
        .load(base + 0x3000, PF_R | PF_W, &data, 0x3000)
        .build()
}

#[test]
fn file_backed_and_copied_loads_agree() {
    let image = big_image(ElfMachine::RiscV64, true);
    let file: Arc<dyn File> = Arc::new(MemFile::new(image.clone()));
    let req = request(ElfMachine::RiscV64, &["p"]);
    let mut s = setup();
    let mut t = Space::new(s.va_range()).unwrap();
    let mut u = Space::new(s.va_range()).unwrap();
    load_elf(&mut s, &image, Some(&file), &req).unwrap();
    load_elf(&mut t, &image, Some(&file), &req).unwrap();
    load_elf(&mut u, &image, None, &req).unwrap();
    let base = 0x5555_0000;
    let kinds: Vec<_> = s
        .areas()
        .map(|a| (a.start().as_usize() - base, a.backend().kind()))
        .collect();
    assert_eq!(
        kinds[..4],
        [
            (0, BackendKind::FilePrivate),
            (P, BackendKind::Alloc),
            (2 * P, BackendKind::FilePrivate),
            (3 * P, BackendKind::Alloc),
        ]
    );
    let len = 5 * P;
    let copied = read(&mut u, base, len);
    assert_eq!(read(&mut s, base, len), copied);
    assert_eq!(copied[P + 0x800..2 * P], vec![0; 0x800], "text tail zero");
    assert_eq!(
        copied[2 * P + 0x1100..],
        vec![0; 3 * P - 0x1100],
        "bss zero"
    );
    // Both processes read the text through the same page-cache frame.
    assert_eq!(read(&mut t, base, len), copied);
    assert_eq!(pte(&s, base).unwrap().0, pte(&t, base).unwrap().0);
    // Writing private file pages copies them: the other process and the file keep theirs.
    s.force_write_bytes(va(base), b"patched").unwrap();
    assert_eq!(read(&mut t, base, 7), &image[0x1000..0x1007]);
    drop((s, t, u, file));
    assert_no_leak();
}

#[test]
fn pie_goes_to_the_base() {
    let mut s = setup();
    let image = big_image(ElfMachine::X86_64, true);
    let got = load_elf(&mut s, &image, None, &request(ElfMachine::X86_64, &["p"])).unwrap();
    assert_eq!(got.plan.kind, ElfKind::Pie);
    assert_eq!(got.entry, va(0x5555_0000));
    assert_eq!(s.areas().next().unwrap().start(), va(0x5555_0000));
    assert_eq!(got.brk_start, va(0x5555_0000 + 5 * P));
    let wrong = load_elf(&mut s, &image, None, &request(ElfMachine::RiscV64, &["p"]));
    assert_eq!(wrong.unwrap_err(), LinuxError::ENOEXEC);
}

#[test]
fn interp_is_reported_not_loaded() {
    let mut s = setup();
    let image = ElfBuilder::new(ElfMachine::RiscV64, true)
        .entry(0)
        .load(0, PF_R | PF_X, &[1; 16], 16)
        .interp(b"/lib/ld-linux-riscv64-lp64d.so.1")
        .build();
    let mut req = request(ElfMachine::RiscV64, &["p"]);
    req.interp_base = va(0x7000_0000);
    let got = load_elf(&mut s, &image, None, &req).unwrap();
    assert_eq!(
        got.plan.interp.as_deref(),
        Some(&b"/lib/ld-linux-riscv64-lp64d.so.1"[..])
    );
    assert_eq!(
        s.areas().count(),
        2,
        "one segment and the stack, no interpreter"
    );
    let sp = got.sp.as_usize();
    assert_eq!(
        word(&mut s, sp + 8 * 6 + 16 * 4 + 8),
        0x7000_0000,
        "AT_BASE"
    );
}

#[test]
fn errors_leave_the_space_unchanged() {
    let mut s = setup();
    let image = big_image(ElfMachine::RiscV64, false);
    let file: Arc<dyn File> = Arc::new(MemFile::new(image.clone()));
    // Something already sits in the stack range: the segments mapped before are undone.
    s.map_alloc(va(TOP - P), P, RW | USER, Populate::Eager)
        .unwrap();
    let before = snapshot(&s);
    let req = request(ElfMachine::RiscV64, &["p"]);
    assert_eq!(
        load_elf(&mut s, &image, Some(&file), &req),
        Err(LinuxError::EEXIST)
    );
    assert_eq!(snapshot(&s), before);
    let huge = vec![b'a'; 9 * P];
    let big: &str = core::str::from_utf8(&huge).unwrap();
    let argv = [big];
    assert_eq!(
        load_elf(&mut s, &image, None, &request(ElfMachine::RiscV64, &argv)),
        Err(LinuxError::E2BIG)
    );
    let mut bad = request(ElfMachine::RiscV64, &["p"]);
    bad.stack_top = va(0x40_3000); // inside the text segment
    assert_eq!(
        load_elf(&mut s, &image, None, &bad),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(snapshot(&s), before);
}

#[test]
fn oom_at_every_allocation_is_rolled_back() {
    let image = big_image(ElfMachine::RiscV64, false);
    let file: Arc<dyn File> = Arc::new(MemFile::new(image.clone()));
    for with_file in [false, true] {
        let mut s = setup();
        let req = request(ElfMachine::RiscV64, &["p", "q"]);
        let mut failures = 0;
        for k in 0.. {
            let before = snapshot(&s);
            CountingHandler::fail_after(k);
            let r = load_elf(&mut s, &image, with_file.then_some(&file), &req);
            CountingHandler::clear_failure();
            match r {
                Ok(_) => break,
                Err(e) => {
                    assert_eq!(e, LinuxError::ENOMEM, "k={k}");
                    assert_eq!(snapshot(&s), before, "k={k}");
                    failures += 1;
                }
            }
        }
        assert!(failures >= 4, "tables, pages and the stack all allocate");
        drop(s);
    }
    drop(file);
    assert_no_leak();
}
