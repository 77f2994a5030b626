//! Model-based test: random operations over several address spaces (forked from each
//! other) against a reference model: page → (bytes, permissions, sharing group). After
//! every step the page tables never grant more than the model and every resident frame
//! holds the model's bytes; at the end files hold what the model says and no frame leaks.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;
use proptest::prelude::*;

use super::*;
use crate::{Advice, FaultError, File, LinuxError, MemFile, MmapFlags, MsyncFlags};

const P: usize = PAGE_SIZE_4K;
/// Pages `0..WINDOW` live at `MMAP_BASE`, pages `WINDOW..WINDOW + HEAP` are the heap.
const WINDOW: usize = 12;
const HEAP: usize = 6;
const MMAP_BASE: usize = 0x1000_0000;
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
    ]
}

/// Where a page's bytes live in the model.
#[derive(Debug, Clone)]
enum Src {
    /// A private page: its own bytes once written, else zeros (anonymous) or the file's
    /// current contents (file page `idx`).
    Private {
        file: Option<(usize, usize)>,
        data: Option<Vec<u8>>,
    },
    /// Shared file page.
    File(usize, usize),
    /// Page of a shared anonymous object.
    Shm(usize, usize),
}

#[derive(Debug, Clone)]
struct MPage {
    perms: MappingFlags,
    src: Src,
}

struct Model {
    spaces: Vec<Vec<Option<MPage>>>,
    brk: Vec<usize>,
    files: Vec<Vec<u8>>,
    shm: Vec<Vec<u8>>,
}

impl Model {
    fn file_page(&self, f: usize, idx: usize) -> Option<&[u8]> {
        self.files[f].get(idx * P..(idx + 1) * P)
    }

    /// The bytes of a page, or `None` past EOF (bus error).
    fn bytes(&self, page: &MPage) -> Option<Vec<u8>> {
        Some(match &page.src {
            Src::Private { data: Some(d), .. } => d.clone(),
            Src::Private { file: None, .. } => vec![0; P],
            Src::Private {
                file: Some((f, i)), ..
            }
            | Src::File(f, i) => self.file_page(*f, *i)?.to_vec(),
            Src::Shm(o, i) => self.shm[*o][i * P..(i + 1) * P].to_vec(),
        })
    }

    /// Applies a write of the whole page contents `new`.
    fn store(&mut self, s: usize, p: usize, new: Vec<u8>) {
        let page = self.spaces[s][p].as_mut().unwrap();
        match &mut page.src {
            Src::Private { data, .. } => *data = Some(new),
            Src::File(f, i) => self.files[*f][*i * P..(*i + 1) * P].copy_from_slice(&new),
            Src::Shm(o, i) => self.shm[*o][*i * P..(*i + 1) * P].copy_from_slice(&new),
        }
    }
}

fn readable(perms: MappingFlags) -> bool {
    perms.intersects(MappingFlags::READ | MappingFlags::WRITE)
}

/// Checks that `s` agrees with the model: areas and permissions of every page, page-table
/// entries never more permissive than the model, resident frames hold the model's bytes.
fn check(real: &Space, model: &Model, s: usize) {
    for p in 0..WINDOW + HEAP {
        let addr = page_addr(p);
        let want = &model.spaces[s][p];
        let area = real.find_area(va(addr));
        assert_eq!(
            area.is_some(),
            want.is_some(),
            "space {s} page {p}: mapped?"
        );
        let Some(want) = want else {
            assert!(pte(real, addr).is_none(), "space {s} page {p}: stale entry");
            continue;
        };
        let area = area.unwrap();
        assert_eq!(
            area.flags() & MappingFlags::ACCESS,
            want.perms,
            "space {s} page {p}: perms"
        );
        if let Some((_, flags, _)) = pte(real, addr) {
            let granted = flags & MappingFlags::ACCESS;
            assert!(
                want.perms.union(MappingFlags::READ).contains(granted),
                "space {s} page {p}: pte {flags:?} > {:?}",
                want.perms
            );
            if flags.contains(MappingFlags::WRITE) && matches!(want.src, Src::Private { .. }) {
                assert_eq!(
                    real.frame_is_exclusive(va(addr)),
                    Some(true),
                    "space {s} page {p}: writable shared private frame"
                );
            }
        }
        if let Some(frame) = real.frame_at(va(addr)) {
            let mut got = vec![0u8; P];
            frame.read_at(0, &mut got).unwrap();
            assert_eq!(Some(got), model.bytes(want), "space {s} page {p}: contents");
        }
    }
}

fn fault_of(model: &Model, page: &Option<MPage>, access: MappingFlags) -> Result<(), FaultError> {
    let page = page.as_ref().ok_or(FaultError::Segv)?;
    let ok = match access {
        MappingFlags::READ => readable(page.perms),
        a => page.perms.contains(a),
    };
    if !ok {
        return Err(FaultError::Segv);
    }
    model.bytes(page).map(|_| ()).ok_or(FaultError::Bus)
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
    };
    let mut first = setup();
    first.set_heap_start(va(HEAP_BASE));
    let mut spaces = vec![first];
    for op in ops {
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
                            data: None,
                        },
                    };
                    model.spaces[s][p + i] = Some(MPage { perms: prot, src });
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
                if model.spaces[s][p..p + n].iter().all(Option::is_some) {
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
                let r = spaces[s].handle_page_fault(va(page_addr(p) + 8), access);
                assert_eq!(r, fault_of(&model, &model.spaces[s][p], access));
            }
            Op::Msync { s, p, n } => {
                let s = pick(s);
                let r = spaces[s].msync(va(page_addr(p)), n * P, MsyncFlags::SYNC);
                let full = model.spaces[s][p..p + n].iter().all(Option::is_some);
                assert_eq!(
                    r,
                    if full {
                        Ok(())
                    } else {
                        Err(LinuxError::ENOMEM)
                    }
                );
            }
            Op::DontNeed { s, p, n } => {
                let s = pick(s);
                let r = spaces[s].madvise(va(page_addr(p)), n * P, Advice::DontNeed);
                let full = model.spaces[s][p..p + n].iter().all(Option::is_some);
                assert_eq!(
                    r,
                    if full {
                        Ok(())
                    } else {
                        Err(LinuxError::ENOMEM)
                    }
                );
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
                    let src = Src::Private {
                        file: None,
                        data: None,
                    };
                    model.spaces[s][WINDOW + h] = Some(MPage { perms: RW, src });
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
        }
        for (i, space) in spaces.iter().enumerate() {
            check(space, &model, i);
        }
    }
    drop(spaces);
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
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn matches_reference_model(ops in prop::collection::vec(op(), 1..48)) {
        run(ops);
    }
}
