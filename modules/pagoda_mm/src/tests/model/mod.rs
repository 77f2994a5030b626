//! Model-based test: random map / munmap / mprotect / write / read / fault / msync /
//! madvise / brk / fork / exit and System V shm (shmget, shmat, shmdt, IPC_RMID) over
//! several address spaces against a reference model: page → (bytes, permissions, sharing
//! group). After every step the page tables never grant more than the model, shared pages
//! are never COW, every resident frame holds the model's bytes and the shm registry agrees;
//! at the end files hold what the model says and no frame leaks.

mod reference;
mod shm;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;
use proptest::prelude::*;

use self::reference::{Before, MPage, Model, Src, check, fault_of};
use self::shm::{Reg, ShmOp};
use super::*;
use crate::testing::{Cpu, CpuFault, SegvCode};
use crate::{Advice, FaultError, File, LinuxError, MemFile, MmapFlags, MsyncFlags};
use memory_addr::VirtAddr;

const P: usize = PAGE_SIZE_4K;
/// Pages `0..WINDOW` live at `MMAP_BASE`, pages `WINDOW..WINDOW + HEAP` are the heap.
const WINDOW: usize = 12;
const HEAP: usize = 6;
const MMAP_BASE: usize = 0x1000_0000;
/// The end of the window: `mmap`/`shmat` without an address place areas below it.
const MMAP_TOP: usize = MMAP_BASE + WINDOW * P;
const HEAP_BASE: usize = 0x2000_0000;
/// File sizes in pages (page multiples: the partial last page is covered by unit tests).
const FILE_PAGES: [usize; 2] = [3, 5];

fn page_addr(p: usize) -> usize {
    if p < WINDOW {
        MMAP_BASE + p * P
    } else {
        HEAP_BASE + (p - WINDOW) * P
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    AnonPrivate,
    AnonShared,
    File {
        file: usize,
        off: usize,
        shared: bool,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Mmap {
        s: usize,
        p: usize,
        n: usize,
        prot: MappingFlags,
        kind: Kind,
        populate: bool,
    },
    Munmap {
        s: usize,
        p: usize,
        n: usize,
    },
    /// `linux`: `mprotect_linux` (changes the pages up to the first failing one).
    Mprotect {
        s: usize,
        p: usize,
        n: usize,
        prot: MappingFlags,
        linux: bool,
    },
    /// `cpu`: through the CPU model instead of `write_bytes`.
    Write {
        s: usize,
        p: usize,
        off: usize,
        len: usize,
        byte: u8,
        cpu: bool,
    },
    /// `cpu`: through the CPU model instead of `read_bytes`.
    Read {
        s: usize,
        p: usize,
        off: usize,
        len: usize,
        cpu: bool,
    },
    /// An instruction fetch through the CPU model.
    Exec {
        s: usize,
        p: usize,
        off: usize,
    },
    Fault {
        s: usize,
        p: usize,
        access: MappingFlags,
    },
    Msync {
        s: usize,
        p: usize,
        n: usize,
    },
    DontNeed {
        s: usize,
        p: usize,
        n: usize,
    },
    Brk {
        s: usize,
        pages: usize,
    },
    Fork {
        s: usize,
    },
    /// `clear_refs` 4 (soft-dirty).
    ClearRefs {
        s: usize,
    },
    Exit {
        s: usize,
    },
    Shm(ShmOp),
}

fn prot() -> impl Strategy<Value = MappingFlags> {
    let r = MappingFlags::READ;
    let w = MappingFlags::WRITE;
    let x = MappingFlags::EXECUTE;
    prop::sample::select(vec![
        MappingFlags::empty(),
        r,
        r | w,
        w,
        r | x,
        r | w | x,
        r | w,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..3usize;
    let range = (0..WINDOW).prop_flat_map(|p| (Just(p), 1..=(WINDOW - p).min(4)));
    let any_page = 0..WINDOW + HEAP;
    let kind = prop_oneof![
        3 => Just(Kind::AnonPrivate),
        1 => Just(Kind::AnonShared),
        2 => (0..2usize, 0..3usize, any::<bool>()).prop_map(|(file, off, shared)| Kind::File { file, off, shared }),
    ];
    let access = prop::sample::select(vec![
        MappingFlags::READ,
        MappingFlags::WRITE,
        MappingFlags::EXECUTE,
    ]);
    prop_oneof![
        4 => (s.clone(), range.clone(), prot(), kind, prop::bool::weighted(0.2))
            .prop_map(|(s, (p, n), prot, kind, populate)| Op::Mmap { s, p, n, prot, kind, populate }),
        2 => (s.clone(), range.clone()).prop_map(|(s, (p, n))| Op::Munmap { s, p, n }),
        2 => (s.clone(), range.clone(), prot(), any::<bool>())
            .prop_map(|(s, (p, n), prot, linux)| Op::Mprotect { s, p, n, prot, linux }),
        6 => (s.clone(), any_page.clone(), 0..P, 1..64usize, any::<u8>(), any::<bool>())
            .prop_map(|(s, p, off, len, byte, cpu)| Op::Write { s, p, off: off.min(P - len), len, byte, cpu }),
        5 => (s.clone(), any_page.clone(), 0..P, 1..64usize, any::<bool>())
            .prop_map(|(s, p, off, len, cpu)| Op::Read { s, p, off: off.min(P - len), len, cpu }),
        1 => (s.clone(), any_page.clone(), 0..P).prop_map(|(s, p, off)| Op::Exec { s, p, off }),
        3 => (s.clone(), any_page, access).prop_map(|(s, p, access)| Op::Fault { s, p, access }),
        1 => (s.clone(), range.clone()).prop_map(|(s, (p, n))| Op::Msync { s, p, n }),
        1 => (s.clone(), range).prop_map(|(s, (p, n))| Op::DontNeed { s, p, n }),
        1 => (s.clone(), 0..=HEAP).prop_map(|(s, pages)| Op::Brk { s, pages }),
        1 => s.clone().prop_map(|s| Op::Fork { s }),
        1 => s.clone().prop_map(|s| Op::ClearRefs { s }),
        1 => s.prop_map(|s| Op::Exit { s }),
        8 => shm::op().prop_map(Op::Shm),
    ]
}

/// What msync and madvise return over `pages`: `ENOMEM` if one is unmapped.
fn enomem_unless_mapped(pages: &[Option<MPage>]) -> Result<(), LinuxError> {
    if pages.iter().all(Option::is_some) {
        Ok(())
    } else {
        Err(LinuxError::ENOMEM)
    }
}

/// What the CPU model must report for an access the model answers with `want`.
fn cpu_fault(
    want: Result<(), FaultError>,
    page: &Option<MPage>,
    addr: VirtAddr,
) -> Result<(), CpuFault> {
    want.map_err(|err| match err {
        FaultError::Segv if page.is_none() => CpuFault::Segv {
            addr,
            code: SegvCode::Maperr,
        },
        FaultError::Segv => CpuFault::Segv {
            addr,
            code: SegvCode::Accerr,
        },
        FaultError::Bus => CpuFault::Bus { addr },
        FaultError::NoMemory => CpuFault::NoMemory,
    })
}

fn run(ops: Vec<Op>) {
    CountingHandler::reset();
    let files: Vec<Arc<MemFile>> = FILE_PAGES
        .iter()
        .enumerate()
        .map(|(f, &n)| {
            Arc::new(MemFile::new(
                (0..n * P).map(|i| (i * 7 + f) as u8).collect::<Vec<u8>>(),
            ))
        })
        .collect();
    let mut model = Model {
        spaces: vec![vec![None; WINDOW + HEAP]],
        brk: vec![0],
        files: files.iter().map(|f| f.contents()).collect(),
        shm: vec![],
        segs: vec![],
    };
    let mut first = setup();
    first.set_heap_start(va(HEAP_BASE)).unwrap();
    first.set_mmap_top(va(MMAP_TOP));
    let mut spaces = vec![first];
    // One CPU per space, so that each keeps its TLB from one operation to the next.
    let mut cpus = vec![Cpu::new()];
    let reg = Reg::default();
    // Every run starts with a segment attached in the first space, so that later shm
    // ops have something to work on.
    let attach = ShmOp::At {
        s: 0,
        seg: 0,
        at: None,
        rdonly: false,
        remap: false,
    };
    let get = ShmOp::Get {
        key: 1,
        pages: 3,
        creat: true,
        excl: false,
    };
    for op in [Op::Shm(get), Op::Shm(attach)].into_iter().chain(ops) {
        let n_spaces = spaces.len();
        let pick = |s: usize| s % n_spaces;
        match op {
            Op::Mmap {
                s,
                p,
                n,
                prot,
                kind,
                populate,
            } => {
                let s = pick(s);
                let mut flags = MmapFlags::FIXED;
                if populate {
                    flags |= MmapFlags::POPULATE;
                }
                let (file, off) = match kind {
                    Kind::AnonPrivate => (None, 0),
                    Kind::AnonShared => (None, 0),
                    Kind::File { file, off, .. } => {
                        (Some(files[file].clone() as Arc<dyn File>), off)
                    }
                };
                flags |= match kind {
                    Kind::AnonPrivate => MmapFlags::PRIVATE | MmapFlags::ANONYMOUS,
                    Kind::AnonShared => MmapFlags::SHARED | MmapFlags::ANONYMOUS,
                    Kind::File { shared: true, .. } => MmapFlags::SHARED,
                    Kind::File { shared: false, .. } => MmapFlags::PRIVATE,
                };
                let r =
                    spaces[s].mmap(va(page_addr(p)), n * P, prot, flags, file, (off * P) as u64);
                assert_eq!(r, Ok(va(page_addr(p))));
                let obj = model.shm.len();
                if matches!(kind, Kind::AnonShared) {
                    model.shm.push(vec![0; n * P]);
                }
                for i in 0..n {
                    let src = match kind {
                        Kind::AnonPrivate => Src::Private {
                            file: None,
                            data: None,
                        },
                        Kind::AnonShared => Src::Shm(obj, i),
                        Kind::File {
                            file,
                            off,
                            shared: true,
                        } => Src::File(file, off + i),
                        Kind::File {
                            file,
                            off,
                            shared: false,
                        } => Src::Private {
                            file: Some((file, off + i)),
                            // A writable private populate copies at once (as on Linux).
                            data: (populate && prot.contains(MappingFlags::WRITE))
                                .then(|| model.files[file].get((off + i) * P..(off + i + 1) * P))
                                .flatten()
                                .map(<[u8]>::to_vec),
                        },
                    };
                    model.spaces[s][p + i] = Some(MPage::new(prot, src));
                }
            }
            Op::Munmap { s, p, n } => {
                let s = pick(s);
                spaces[s].munmap(va(page_addr(p)), n * P).unwrap();
                model.spaces[s][p..p + n].iter_mut().for_each(|m| *m = None);
            }
            Op::Mprotect {
                s,
                p,
                n,
                prot,
                linux,
            } => {
                let s = pick(s);
                let at = va(page_addr(p));
                let r = if linux {
                    spaces[s].mprotect_linux(at, n * P, prot)
                } else {
                    spaces[s].mprotect(at, n * P, prot)
                };
                // The first page that cannot take `prot`, in address order.
                let pages = &model.spaces[s][p..p + n];
                let stop = pages.iter().enumerate().find_map(|(i, m)| match m {
                    None => Some((i, LinuxError::ENOMEM)),
                    Some(m) if shm::write_denied(core::slice::from_ref(&Some(m.clone())), prot) => {
                        Some((i, LinuxError::EACCES))
                    }
                    Some(_) => None,
                });
                let changed = match stop {
                    Some((i, err)) => {
                        assert_eq!(r, Err(err));
                        if linux { i } else { 0 }
                    }
                    None => {
                        assert_eq!(r, Ok(()));
                        n
                    }
                };
                model.spaces[s][p..p + changed]
                    .iter_mut()
                    .flatten()
                    .for_each(|m| m.perms = prot);
            }
            Op::Write {
                s,
                p,
                off,
                len,
                byte,
                cpu,
            } => {
                let s = pick(s);
                let at = va(page_addr(p) + off);
                let data = vec![byte; len];
                let want = fault_of(&model, &model.spaces[s][p], MappingFlags::WRITE);
                if cpu {
                    let r = cpus[s].write(&mut spaces[s], at, &data);
                    assert_eq!(r, cpu_fault(want, &model.spaces[s][p], at));
                } else {
                    let r = spaces[s].write_bytes(at, &data);
                    assert_eq!(r, want.map_err(|_| LinuxError::EFAULT));
                }
                if want.is_ok() {
                    let page = model.spaces[s][p].as_ref().unwrap();
                    let mut bytes = model.bytes(page).unwrap();
                    bytes[off..off + len].fill(byte);
                    model.store(s, p, bytes);
                    model.spaces[s][p].as_mut().unwrap().written = true;
                }
            }
            Op::Read {
                s,
                p,
                off,
                len,
                cpu,
            } => {
                let s = pick(s);
                let at = va(page_addr(p) + off);
                let mut buf = vec![0u8; len];
                let want = fault_of(&model, &model.spaces[s][p], MappingFlags::READ);
                if cpu {
                    let r = cpus[s].read(&mut spaces[s], at, &mut buf);
                    assert_eq!(r, cpu_fault(want, &model.spaces[s][p], at));
                } else {
                    let r = spaces[s].read_bytes(at, &mut buf);
                    assert_eq!(r, want.map_err(|_| LinuxError::EFAULT));
                }
                if want.is_ok() {
                    let bytes = model.bytes(model.spaces[s][p].as_ref().unwrap()).unwrap();
                    assert_eq!(buf, bytes[off..off + len]);
                }
            }
            Op::Exec { s, p, off } => {
                let s = pick(s);
                let at = va(page_addr(p) + off);
                let mut buf = [0u8; 1];
                let want = fault_of(&model, &model.spaces[s][p], MappingFlags::EXECUTE);
                let r = cpus[s].fetch(&mut spaces[s], at, &mut buf);
                assert_eq!(r, cpu_fault(want, &model.spaces[s][p], at));
                if want.is_ok() {
                    let bytes = model.bytes(model.spaces[s][p].as_ref().unwrap()).unwrap();
                    assert_eq!(buf[0], bytes[off]);
                }
            }
            Op::Fault { s, p, access } => {
                let s = pick(s);
                let at = va(page_addr(p) + 8);
                let before = Before::observe(&spaces[s], at);
                let r = spaces[s].handle_page_fault(at, access);
                let page = &model.spaces[s][p];
                assert_eq!(r.map(|_| ()), fault_of(&model, page, access));
                if let (Ok(outcome), Some(page)) = (r, page) {
                    before.check(&spaces[s], at, access, page, outcome);
                }
                if r.is_ok() && access == MappingFlags::WRITE {
                    // A write fault breaks copy-on-write: a private file page gets its
                    // copy now, and later writes to the file no longer show in it.
                    let page = model.spaces[s][p].as_ref().unwrap();
                    let copy = match page.src {
                        Src::Private {
                            data: None,
                            file: Some(_),
                        } => model.bytes(page),
                        _ => None,
                    };
                    let page = model.spaces[s][p].as_mut().unwrap();
                    page.written = true;
                    if let (Some(copy), Src::Private { data, .. }) = (copy, &mut page.src) {
                        *data = Some(copy);
                    }
                }
            }
            Op::Msync { s, p, n } => {
                let s = pick(s);
                let r = spaces[s].msync(va(page_addr(p)), n * P, MsyncFlags::SYNC);
                assert_eq!(r, enomem_unless_mapped(&model.spaces[s][p..p + n]));
            }
            Op::DontNeed { s, p, n } => {
                let s = pick(s);
                let r = spaces[s].madvise(va(page_addr(p)), n * P, Advice::DontNeed);
                assert_eq!(r, enomem_unless_mapped(&model.spaces[s][p..p + n]));
                for m in model.spaces[s][p..p + n].iter_mut().flatten() {
                    m.written = false;
                    if let Src::Private { data, .. } = &mut m.src {
                        *data = None;
                    }
                }
            }
            Op::Brk { s, pages } => {
                let s = pick(s);
                let want = HEAP_BASE + pages * P;
                assert_eq!(spaces[s].brk(va(want)).as_usize(), want);
                let old = model.brk[s];
                for h in pages..old {
                    model.spaces[s][WINDOW + h] = None;
                }
                for h in old..pages {
                    model.spaces[s][WINDOW + h] = Some(MPage::zero(RW));
                }
                model.brk[s] = pages;
            }
            Op::Fork { s } => {
                let s = pick(s);
                if n_spaces < 3 {
                    let child = spaces[s].fork().unwrap();
                    spaces.push(child);
                    cpus.push(Cpu::new());
                    model.spaces.push(model.spaces[s].clone());
                    model.brk.push(model.brk[s]);
                }
            }
            Op::ClearRefs { s } => {
                let s = pick(s);
                spaces[s].clear_refs(crate::ClearRefs::SoftDirty).unwrap();
                for (p, m) in model.spaces[s].iter_mut().enumerate() {
                    if let Some(m) = m {
                        m.written = false;
                    }
                    assert!(
                        !spaces[s].soft_dirty(va(page_addr(p))),
                        "page {p} after clear"
                    );
                }
            }
            Op::Exit { s } => {
                let s = pick(s);
                if n_spaces > 1 {
                    drop(spaces.remove(s));
                    cpus.remove(s);
                    model.spaces.remove(s);
                    model.brk.remove(s);
                }
            }
            Op::Shm(op) => shm::apply(op, &reg, &mut spaces, &mut model),
        }
        for (i, space) in spaces.iter().enumerate() {
            check(space, &model, i);
        }
        shm::check_registry(&reg, &mut model);
    }
    drop(spaces);
    drop(reg);
    for (f, file) in files.iter().enumerate() {
        assert_eq!(
            file.contents(),
            model.files[f],
            "file {f} differs after teardown"
        );
    }
    drop(files);
    assert_no_leak();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::testing::proptest_cases(256),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn matches_reference_model(ops in prop::collection::vec(op(), 1..64)) {
        run(ops);
    }
}
