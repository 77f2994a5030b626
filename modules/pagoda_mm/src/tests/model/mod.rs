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

use self::reference::{Before, MPage, Model, Src, check, fault_of, readable};
use self::shm::{Reg, ShmOp};
use super::*;
use crate::{Advice, File, LinuxError, MemFile, MmapFlags, MsyncFlags};

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
    Mprotect {
        s: usize,
        p: usize,
        n: usize,
        prot: MappingFlags,
    },
    Write {
        s: usize,
        p: usize,
        off: usize,
        len: usize,
        byte: u8,
    },
    Read {
        s: usize,
        p: usize,
        off: usize,
        len: usize,
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
        2 => (s.clone(), range.clone(), prot()).prop_map(|(s, (p, n), prot)| Op::Mprotect { s, p, n, prot }),
        6 => (s.clone(), any_page.clone(), 0..P, 1..64usize, any::<u8>())
            .prop_map(|(s, p, off, len, byte)| Op::Write { s, p, off: off.min(P - len), len, byte }),
        5 => (s.clone(), any_page.clone(), 0..P, 1..64usize)
            .prop_map(|(s, p, off, len)| Op::Read { s, p, off: off.min(P - len), len }),
        3 => (s.clone(), any_page, access).prop_map(|(s, p, access)| Op::Fault { s, p, access }),
        1 => (s.clone(), range.clone()).prop_map(|(s, (p, n))| Op::Msync { s, p, n }),
        1 => (s.clone(), range).prop_map(|(s, (p, n))| Op::DontNeed { s, p, n }),
        1 => (s.clone(), 0..=HEAP).prop_map(|(s, pages)| Op::Brk { s, pages }),
        1 => s.clone().prop_map(|s| Op::Fork { s }),
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
    first.set_heap_start(va(HEAP_BASE));
    first.set_mmap_top(va(MMAP_TOP));
    let mut spaces = vec![first];
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
            Op::Mprotect { s, p, n, prot } => {
                let s = pick(s);
                let r = spaces[s].mprotect(va(page_addr(p)), n * P, prot);
                let pages = &model.spaces[s][p..p + n];
                if pages.iter().all(Option::is_some) && shm::write_denied(pages, prot) {
                    assert_eq!(r, Err(LinuxError::EACCES));
                } else if pages.iter().all(Option::is_some) {
                    assert_eq!(r, Ok(()));
                    model.spaces[s][p..p + n]
                        .iter_mut()
                        .flatten()
                        .for_each(|m| m.perms = prot);
                } else {
                    assert_eq!(r, Err(LinuxError::ENOMEM));
                }
            }
            Op::Write {
                s,
                p,
                off,
                len,
                byte,
            } => {
                let s = pick(s);
                let r = spaces[s].write_bytes(va(page_addr(p) + off), &vec![byte; len]);
                let page = &model.spaces[s][p];
                let ok = page
                    .as_ref()
                    .is_some_and(|m| m.perms.contains(MappingFlags::WRITE));
                match page.as_ref().filter(|_| ok).and_then(|m| model.bytes(m)) {
                    Some(mut bytes) => {
                        assert_eq!(r, Ok(()));
                        bytes[off..off + len].fill(byte);
                        model.store(s, p, bytes);
                    }
                    None => assert_eq!(r, Err(LinuxError::EFAULT)),
                }
            }
            Op::Read { s, p, off, len } => {
                let s = pick(s);
                let mut buf = vec![0u8; len];
                let r = spaces[s].read_bytes(va(page_addr(p) + off), &mut buf);
                let page = model.spaces[s][p].as_ref().filter(|m| readable(m.perms));
                match page.and_then(|m| model.bytes(m)) {
                    Some(bytes) => {
                        assert_eq!(r, Ok(()));
                        assert_eq!(buf, bytes[off..off + len]);
                    }
                    None => assert_eq!(r, Err(LinuxError::EFAULT)),
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
                    model.spaces.push(model.spaces[s].clone());
                    model.brk.push(model.brk[s]);
                }
            }
            Op::Exit { s } => {
                let s = pick(s);
                if n_spaces > 1 {
                    drop(spaces.remove(s));
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
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn matches_reference_model(ops in prop::collection::vec(op(), 1..64)) {
        run(ops);
    }
}
