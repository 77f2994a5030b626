//! Loading a program with its interpreter: placement, file mappings, auxv, rejection of
//! bad interpreters with the space unchanged, rollback on out-of-memory, real ld.so files.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::testing::CountingHandler;

use super::builder::{ElfBuilder, PF_R, PF_W, PF_X, put16};
use super::stack::*;
use super::tests_load::{request, snapshot, word};
use super::*;
use crate::tests::{Space, USER_END, assert_no_leak, read, setup, va};
use crate::{BackendKind, File, LinuxError, MemFile};

const P: usize = PAGE_SIZE_4K;
const RV: ElfMachine = ElfMachine::RiscV64;
const LDSO: &str = "/lib/ld-test.so.1";

fn program(machine: ElfMachine) -> Vec<u8> {
    ElfBuilder::new(machine, true)
        .entry(0x100)
        .load_with_headers(0, PF_R | PF_X, &[0x13; 0x200])
        .load(0x2000, PF_R | PF_W, &[0x11; 0x40], 0x100)
        .interp(LDSO.as_bytes())
        .build()
}

/// An `ET_DYN` interpreter: 1.5 pages of text, data with bss, spanning 5 pages.
fn interpreter(machine: ElfMachine) -> Vec<u8> {
    let code: Vec<u8> = (0..0x1800u32).map(|i| (i * 5) as u8).collect();
    ElfBuilder::new(machine, true)
        .entry(0x40)
        .load_with_headers(0, PF_R | PF_X, &code)
        .load(0x3000, PF_R | PF_W, &[0x77; 0x30], 0x2000)
        .build()
}

fn info<'a>(interp: &'a [u8], file: Option<&'a Arc<dyn File>>) -> ExecInfo<'a> {
    ExecInfo {
        interp: Some(InterpImage {
            image: interp,
            file,
        }),
        ids: [1000, 1000, 100, 100],
        hwcap: 0x112d,
        hwcap2: 0,
        minsigstksz: Some(2048),
        platform: Some(b"x86_64"),
        execfn: Some(b"/bin/prog"),
    }
}

/// The stack's auxv, read back from user memory.
fn auxv_of(s: &mut Space, sp: usize) -> BTreeMap<usize, usize> {
    let argc = word(s, sp);
    let mut at = sp + 8 * (argc + 2);
    while word(s, at) != 0 {
        at += 8;
    }
    at += 8;
    let mut map = BTreeMap::new();
    loop {
        let (t, v) = (word(s, at), word(s, at + 8));
        assert!(map.insert(t, v).is_none(), "auxv type {t} twice");
        if t == AT_NULL {
            return map;
        }
        at += 16;
    }
}

#[test]
fn interpreter_goes_below_the_stack_and_starts_first() {
    let mut s = setup();
    let (prog, ld) = (program(RV), interpreter(RV));
    let file: Arc<dyn File> = Arc::new(MemFile::with_name(LDSO, ld.clone()));
    let mut req = request(RV, &["prog", "x"]);
    req.stack_top = va(USER_END);
    let got = load_elf_ex(&mut s, &prog, None, &req, &info(&ld, Some(&file))).unwrap();
    // Top-down below the stack, as mmap without an address would place 5 pages.
    let base = USER_END - 8 * P - 5 * P;
    assert_eq!(got.interp_base, va(base));
    assert_eq!(got.entry, va(base + 0x40), "the interpreter's entry");
    assert_eq!(got.plan.entry, va(0x5555_0100));
    assert_eq!(got.brk_start, va(0x5555_3000), "brk follows the program");
    let ip = got.interp.as_ref().unwrap();
    assert_eq!(ip.segments.len(), 2);
    // Text and data are read back exactly; bss (and the page tail after the data) is zero.
    assert_eq!(read(&mut s, base, ld.len().min(0x1800)), ld[..0x1800]);
    assert_eq!(read(&mut s, base + 0x3000, 0x30), [0x77; 0x30]);
    assert_eq!(
        read(&mut s, base + 0x3030, 0x2000 - 0x30),
        [0u8; 0x2000 - 0x30]
    );
    // Whole file pages come from the page cache and carry the interpreter's name.
    let text = s.find_area(va(base)).unwrap();
    assert_eq!(text.backend().kind(), BackendKind::FilePrivate);
    let maps = alloc::format!("{s}");
    assert!(
        maps.lines()
            .any(|l| l.ends_with(LDSO) && l.contains("r-xp")),
        "{maps}"
    );

    let aux = auxv_of(&mut s, got.sp.as_usize());
    assert_eq!(aux[&AT_BASE], base);
    assert_eq!(aux[&AT_ENTRY], 0x5555_0100, "AT_ENTRY is the program's");
    assert_eq!(aux[&AT_PHDR], 0x5555_0040);
    assert_eq!((aux[&AT_PHENT], aux[&AT_PHNUM]), (56, 3));
    assert_eq!((aux[&AT_PAGESZ], aux[&AT_FLAGS]), (P, 0));
    assert_eq!(
        [AT_UID, AT_EUID, AT_GID, AT_EGID].map(|t| aux[&t]),
        [1000, 1000, 100, 100]
    );
    assert_eq!(aux[&AT_SECURE], 0);
    assert_eq!((aux[&AT_HWCAP], aux[&AT_HWCAP2]), (0x112d, 0));
    assert_eq!((aux[&AT_CLKTCK], aux[&AT_MINSIGSTKSZ]), (100, 2048));
    assert!(
        !aux.contains_key(&33),
        "no AT_SYSINFO_EHDR: there is no vDSO"
    );
    assert_eq!(s.read_cstr(va(aux[&AT_EXECFN]), 64).unwrap(), b"/bin/prog");
    assert_eq!(s.read_cstr(va(aux[&AT_PLATFORM]), 64).unwrap(), b"x86_64");
    assert_eq!(read(&mut s, aux[&AT_RANDOM], 16), [0x42; 16]);
    // The path ends 8 bytes below the top, as on Linux.
    assert_eq!(aux[&AT_EXECFN] + 10, USER_END - 8);
    assert_eq!(read(&mut s, USER_END - 8, 8), [0; 8]);
    drop(s);
    drop(file);
    assert_no_leak();
}

#[test]
fn fixed_base_copies_and_secure() {
    let mut s = setup();
    let (prog, ld) = (program(RV), interpreter(RV));
    let mut req = request(RV, &["prog"]);
    req.interp_base = va(0x7000_0000);
    let mut inf = info(&ld, None);
    inf.ids = [1000, 0, 100, 100];
    inf.platform = None;
    let got = load_elf_ex(&mut s, &prog, None, &req, &inf).unwrap();
    assert_eq!(
        (got.interp_base, got.entry),
        (va(0x7000_0000), va(0x7000_0040))
    );
    assert_eq!(read(&mut s, 0x7000_0000, 0x1800), ld[..0x1800]);
    let text = s.find_area(va(0x7000_0000)).unwrap();
    assert_eq!(text.backend().kind(), BackendKind::Alloc);
    let aux = auxv_of(&mut s, got.sp.as_usize());
    assert_eq!((aux[&AT_SECURE], aux[&AT_EUID]), (1, 0));
    assert!(!aux.contains_key(&AT_PLATFORM));
}

#[test]
fn plain_load_keeps_its_auxv() {
    let mut s = setup();
    let prog = program(RV);
    let got = load_elf_ex(
        &mut s,
        &prog,
        None,
        &request(RV, &["p"]),
        &ExecInfo::default(),
    );
    let got = got.unwrap();
    assert_eq!((got.entry, got.interp_base), (va(0x5555_0100), va(0)));
    assert!(got.interp.is_none());
    let aux = auxv_of(&mut s, got.sp.as_usize());
    assert_eq!(aux[&AT_BASE], 0);
    assert_eq!(aux[&AT_CLKTCK], 100);
    assert!(!aux.contains_key(&AT_EXECFN) && !aux.contains_key(&AT_MINSIGSTKSZ));
}

#[test]
fn bad_interpreters_are_rejected_with_the_space_unchanged() {
    let prog = program(RV);
    let good = interpreter(RV);
    let mut not_elf = good.clone();
    not_elf[..4].copy_from_slice(b"#!/b");
    let mut exec_rel = good.clone();
    put16(&mut exec_rel, 16, 1); // ET_REL
    let mut short_phdrs = good.clone();
    short_phdrs.truncate(64 + 56);
    let mut bad_seg = good.clone();
    bad_seg[64 + 56 + 8..64 + 56 + 16].copy_from_slice(&u64::MAX.to_le_bytes()); // p_offset
    let cases: [(&[u8], LinuxError); 6] = [
        (&not_elf, LinuxError::ELIBBAD),
        (&interpreter(ElfMachine::X86_64), LinuxError::ELIBBAD),
        (&exec_rel, LinuxError::EINVAL),
        (&short_phdrs, LinuxError::ELIBBAD),
        (&bad_seg, LinuxError::ELIBBAD),
        (&good[..10], LinuxError::ELIBBAD),
    ];
    let mut s = setup();
    let before = snapshot(&s);
    for (i, (ld, want)) in cases.iter().enumerate() {
        let r = load_elf_ex(&mut s, &prog, None, &request(RV, &["p"]), &info(ld, None));
        assert_eq!(r.map(|_| ()), Err(*want), "case {i}");
        assert_eq!(snapshot(&s), before, "case {i}");
    }
    // Its fixed base is taken (by the program itself): EEXIST, nothing left behind.
    let mut req = request(RV, &["p"]);
    req.interp_base = va(0x5555_0000);
    let r = load_elf_ex(&mut s, &prog, None, &req, &info(&good, None));
    assert_eq!(r.map(|_| ()), Err(LinuxError::EEXIST));
    assert_eq!(snapshot(&s), before);
    drop(s);
    assert_no_leak();
}

#[test]
fn oom_while_loading_the_interpreter_is_rolled_back() {
    let (prog, ld) = (program(RV), interpreter(RV));
    let file: Arc<dyn File> = Arc::new(MemFile::with_name(LDSO, ld.clone()));
    for with_file in [false, true] {
        let mut s = setup();
        let req = request(RV, &["p"]);
        let inf = info(&ld, with_file.then_some(&file));
        let mut failures = 0;
        for k in 0.. {
            let before = snapshot(&s);
            CountingHandler::fail_after(k);
            let r = load_elf_ex(&mut s, &prog, None, &req, &inf);
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
        assert!(failures >= 5, "program, stack and interpreter all allocate");
    }
    drop(file);
    assert_no_leak();
}

/// The host's own dynamic linker and a dynamic program, if present (Debian's x86_64 and
/// riscv64 cross packages): the interpreter lands at its base with its real entry.
#[test]
fn real_ld_so_files() {
    let pairs = [
        (
            ElfMachine::X86_64,
            "/bin/true",
            "/lib64/ld-linux-x86-64.so.2",
        ),
        (
            ElfMachine::RiscV64,
            "/usr/riscv64-linux-gnu/lib/libc.so.6",
            "/usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1",
        ),
    ];
    for (machine, prog, ld) in pairs {
        let (Ok(ld), Ok(prog)) = (std::fs::read(ld), std::fs::read(prog)) else {
            std::eprintln!("skipping {machine:?}: no {ld}");
            continue;
        };
        let mut s = setup();
        let mut req = request(machine, &["true"]);
        req.stack_top = va(USER_END);
        let r = load_elf_ex(&mut s, &prog, None, &req, &info(&ld, None));
        let got = r.unwrap();
        let e_entry = u64::from_le_bytes(ld[24..32].try_into().unwrap()) as usize;
        let base = got.interp_base.as_usize();
        assert_eq!(got.entry.as_usize(), base + e_entry, "{machine:?}");
        assert!(base < USER_END - 8 * P && base.is_multiple_of(P));
        // The interpreter's first page is its ELF header.
        assert_eq!(read(&mut s, base, 64), ld[..64]);
        let aux = auxv_of(&mut s, got.sp.as_usize());
        assert_eq!(aux[&AT_ENTRY], got.plan.entry.as_usize());
        drop(s);
        assert_no_leak();
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: crate::testing::proptest_cases(128),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// A mutated interpreter never panics the loader; rejected, it leaves the space as it
    /// was; accepted, its areas lie in the user range and all frames go on drop.
    #[test]
    fn mutated_interpreters(
        pie in proptest::prelude::any::<bool>(),
        file_backed in proptest::prelude::any::<bool>(),
        muts in proptest::collection::vec(super::fuzz::mutation(), 1..3),
    ) {
        let prog = program(RV);
        let (mut ld, _) = super::fuzz::seed(pie, false);
        for m in &muts {
            super::fuzz::apply(&mut ld, m);
        }
        let file: Arc<dyn File> = Arc::new(MemFile::with_name(LDSO, ld.clone()));
        let mut s = setup();
        let before = snapshot(&s);
        let mut req = request(RV, &["p"]);
        req.stack_top = va(USER_END);
        let inf = info(&ld, file_backed.then_some(&file));
        match load_elf_ex(&mut s, &prog, None, &req, &inf) {
            Ok(got) => {
                let ip = got.interp.unwrap();
                super::fuzz::check_plan(&ip, ld.len());
                for area in s.areas() {
                    proptest::prop_assert!(area.start().as_usize() >= 0x1000);
                    proptest::prop_assert!(area.end().as_usize() <= USER_END);
                }
            }
            Err(e) => {
                let known = [LinuxError::ELIBBAD, LinuxError::EINVAL, LinuxError::EEXIST, LinuxError::ENOMEM];
                proptest::prop_assert!(known.contains(&e), "{:?}", e);
                proptest::prop_assert_eq!(snapshot(&s), before);
            }
        }
        drop((s, file));
        assert_no_leak();
    }
}
