//! Model test of the file layer: `pwrite`, `pread`, `ftruncate`, `fsync` interleaved with
//! loads and stores through shared and private file mappings of several address spaces
//! and their forks, checked byte for byte against a simple model of the file (a `Vec<u8>`)
//! and of each mapping's private copies. Accesses run through a pluggable path: the
//! kernel's uaccess (`read_bytes`/`write_bytes`) or the [`Cpu`] model (real page-table
//! walks, a software TLB, faults handed to the space).
//!
//! After every step `read_at` of the whole file equals the model (coherence); after every
//! `fsync`, and at the end once every space is gone, the backing store does too
//! (write-back loses nothing) and no frame leaks.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use proptest::prelude::*;

use super::*;
use crate::testing::{Cpu, CpuFault, proptest_cases};
use crate::{File, LinuxError, MemFile, MmapFlags, MsyncFlags};

const P: usize = PAGE_SIZE_4K;
const SPACES: usize = 3;
const SLOTS: usize = 2;
/// Areas have at most this many pages; a slot is twice as large (the rest is a hole).
const AREA_PAGES: usize = 5;
const FILE_MAX: usize = 5 * P;
const BASE: usize = 0x1000_0000;

fn slot_addr(slot: usize) -> usize {
    BASE + slot * 2 * AREA_PAGES * P
}

/// What an access ended with: the model cannot tell `SIGSEGV` from `SIGBUS` for uaccess
/// (both are `EFAULT`), so that path reports `Fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sig {
    Segv,
    Bus,
    Fault,
}

fn same(want: &Result<Vec<u8>, Sig>, got: &Result<Vec<u8>, Sig>) -> bool {
    match (want, got) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(Sig::Fault)) => true,
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// How loads and stores reach an address space.
trait Path {
    fn load(&mut self, s: &mut Space, si: usize, at: usize, buf: &mut [u8]) -> Result<(), Sig>;
    fn store(&mut self, s: &mut Space, si: usize, at: usize, data: &[u8]) -> Result<(), Sig>;
    /// Space `si` is new (forked) or gone.
    fn reset(&mut self, si: usize);
}

/// The kernel's copy in / copy out.
struct Uaccess;

impl Path for Uaccess {
    fn load(&mut self, s: &mut Space, _: usize, at: usize, buf: &mut [u8]) -> Result<(), Sig> {
        s.read_bytes(va(at), buf).map_err(|_| Sig::Fault)
    }
    fn store(&mut self, s: &mut Space, _: usize, at: usize, data: &[u8]) -> Result<(), Sig> {
        s.write_bytes(va(at), data).map_err(|_| Sig::Fault)
    }
    fn reset(&mut self, _: usize) {}
}

/// User code on one CPU model per space. Before each access the kernel's return-to-user
/// hook runs (`apply_truncations`), as it must before entering user mode.
struct Cpus(Vec<Cpu>);

fn sig(f: CpuFault) -> Sig {
    match f {
        CpuFault::Segv { .. } => Sig::Segv,
        CpuFault::Bus { .. } => Sig::Bus,
        other => panic!("CPU model: {other}"),
    }
}

impl Path for Cpus {
    fn load(&mut self, s: &mut Space, si: usize, at: usize, buf: &mut [u8]) -> Result<(), Sig> {
        s.apply_truncations();
        self.0[si].read(s, va(at), buf).map_err(sig)
    }
    fn store(&mut self, s: &mut Space, si: usize, at: usize, data: &[u8]) -> Result<(), Sig> {
        s.apply_truncations();
        self.0[si].write(s, va(at), data).map_err(sig)
    }
    fn reset(&mut self, si: usize) {
        self.0[si] = Cpu::new();
    }
}

#[derive(Debug, Clone)]
struct MArea {
    shared: bool,
    first: usize,
    pages: usize,
    writable: bool,
    /// Private copies by page of the area.
    copies: BTreeMap<usize, Vec<u8>>,
}

#[derive(Debug, Clone)]
enum Op {
    Pwrite {
        off: usize,
        len: usize,
        byte: u8,
    },
    Pread {
        off: usize,
        len: usize,
    },
    Truncate {
        len: usize,
    },
    Sync,
    Mmap {
        s: usize,
        slot: usize,
        shared: bool,
        first: usize,
        pages: usize,
    },
    Munmap {
        s: usize,
        slot: usize,
    },
    Load {
        s: usize,
        slot: usize,
        page: usize,
        off: usize,
    },
    Store {
        s: usize,
        slot: usize,
        page: usize,
        off: usize,
        byte: u8,
    },
    Msync {
        s: usize,
        slot: usize,
    },
    Mprotect {
        s: usize,
        slot: usize,
        writable: bool,
    },
    DontNeed {
        s: usize,
        slot: usize,
    },
    Fork {
        s: usize,
    },
    Exit {
        s: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SPACES;
    let slot = 0..SLOTS;
    let page = 0..AREA_PAGES + 1;
    prop_oneof![
        3 => (0..FILE_MAX, 1..2 * P, any::<u8>()).prop_map(|(off, len, byte)| Op::Pwrite { off, len, byte }),
        2 => (0..FILE_MAX, 1..2 * P).prop_map(|(off, len)| Op::Pread { off, len }),
        2 => (0..FILE_MAX).prop_map(|len| Op::Truncate { len }),
        1 => Just(Op::Sync),
        3 => (s.clone(), slot.clone(), any::<bool>(), 0..4usize, 1..AREA_PAGES + 1)
            .prop_map(|(s, slot, shared, first, pages)| Op::Mmap { s, slot, shared, first, pages }),
        1 => (s.clone(), slot.clone()).prop_map(|(s, slot)| Op::Munmap { s, slot }),
        5 => (s.clone(), slot.clone(), page.clone(), 0..P - 8)
            .prop_map(|(s, slot, page, off)| Op::Load { s, slot, page, off }),
        5 => (s.clone(), slot.clone(), page, 0..P - 8, any::<u8>())
            .prop_map(|(s, slot, page, off, byte)| Op::Store { s, slot, page, off, byte }),
        1 => (s.clone(), slot.clone()).prop_map(|(s, slot)| Op::Msync { s, slot }),
        1 => (s.clone(), slot.clone(), any::<bool>())
            .prop_map(|(s, slot, writable)| Op::Mprotect { s, slot, writable }),
        1 => (s.clone(), slot).prop_map(|(s, slot)| Op::DontNeed { s, slot }),
        1 => s.clone().prop_map(|s| Op::Fork { s }),
        1 => s.prop_map(|s| Op::Exit { s }),
    ]
}

struct World {
    file: Arc<MemFile>,
    data: Vec<u8>,
    spaces: Vec<Option<(Space, [Option<MArea>; SLOTS])>>,
}

impl World {
    /// The bytes page `page` of `area` shows (8 from `off`), or the signal.
    fn expect(&self, area: Option<&MArea>, page: usize, off: usize) -> Result<Vec<u8>, Sig> {
        let area = area.filter(|a| page < a.pages).ok_or(Sig::Segv)?;
        if let Some(copy) = area.copies.get(&page) {
            return Ok(copy[off..off + 8].to_vec());
        }
        let start = (area.first + page) * P;
        if start >= self.data.len() {
            return Err(Sig::Bus);
        }
        Ok((start + off..start + off + 8)
            .map(|i| self.data.get(i).copied().unwrap_or(0))
            .collect())
    }

    fn page_view(&self, idx: usize) -> Vec<u8> {
        (idx * P..(idx + 1) * P)
            .map(|i| self.data.get(i).copied().unwrap_or(0))
            .collect()
    }

    fn step(&mut self, op: &Op, path: &mut dyn Path) {
        match *op {
            Op::Pwrite { off, len, byte } => {
                let data = vec![byte; len];
                assert_eq!(self.file.write_at(off as u64, &data), Ok(len));
                if self.data.len() < off + len {
                    self.data.resize(off + len, 0);
                }
                self.data[off..off + len].fill(byte);
            }
            Op::Pread { off, len } => {
                let mut buf = vec![0u8; len];
                let n = self.file.read_at(off as u64, &mut buf).unwrap();
                let want = self
                    .data
                    .get(off..)
                    .map_or(&[][..], |d| &d[..d.len().min(len)]);
                assert_eq!(&buf[..n], want, "pread({off}, {len})");
            }
            Op::Truncate { len } => {
                self.file.set_len(len);
                self.data.resize(len, 0);
                let keep = len.div_ceil(P);
                for (_, areas) in self.spaces.iter_mut().flatten() {
                    for a in areas.iter_mut().flatten() {
                        a.copies.retain(|&p, _| a.first + p < keep);
                    }
                }
            }
            Op::Sync => {
                self.file.sync().unwrap();
                same_bytes(&self.file.stored(), &self.data, &"fsync lost data");
            }
            Op::Mmap {
                s,
                slot,
                shared,
                first,
                pages,
            } => {
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                if areas[slot].is_some() {
                    return;
                }
                let how = if shared {
                    MmapFlags::SHARED
                } else {
                    MmapFlags::PRIVATE
                };
                let file: Arc<dyn File> = self.file.clone();
                let at = space
                    .mmap(
                        va(slot_addr(slot)),
                        pages * P,
                        RW,
                        how | MmapFlags::FIXED,
                        Some(file),
                        (first * P) as u64,
                    )
                    .unwrap();
                assert_eq!(at.as_usize(), slot_addr(slot));
                areas[slot] = Some(MArea {
                    shared,
                    first,
                    pages,
                    writable: true,
                    copies: BTreeMap::new(),
                });
            }
            Op::Munmap { s, slot } => {
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                space.munmap(va(slot_addr(slot)), AREA_PAGES * P).unwrap();
                areas[slot] = None;
            }
            Op::Load { s, slot, page, off } => {
                let Some((_, areas)) = &self.spaces[s] else {
                    return;
                };
                let want = self.expect(areas[slot].as_ref(), page, off);
                let (space, _) = self.spaces[s].as_mut().unwrap();
                let mut buf = [0u8; 8];
                let at = slot_addr(slot) + page * P + off;
                let got = path.load(space, s, at, &mut buf).map(|()| buf.to_vec());
                assert!(same(&want, &got), "load {op:?}: want {want:?}, got {got:?}");
            }
            Op::Store {
                s,
                slot,
                page,
                off,
                byte,
            } => self.store(path, s, slot, page, off, byte),
            Op::Msync { s, slot } => {
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                let r = space.msync(va(slot_addr(slot)), AREA_PAGES * P, MsyncFlags::SYNC);
                let full = areas[slot].as_ref().is_some_and(|a| a.pages == AREA_PAGES);
                assert_eq!(
                    r,
                    if full {
                        Ok(())
                    } else {
                        Err(LinuxError::ENOMEM)
                    }
                );
            }
            Op::Mprotect { s, slot, writable } => {
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                let Some(area) = &mut areas[slot] else { return };
                let prot = if writable { RW } else { R };
                space
                    .mprotect(va(slot_addr(slot)), area.pages * P, prot)
                    .unwrap();
                area.writable = writable;
            }
            Op::DontNeed { s, slot } => {
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                let Some(area) = &mut areas[slot] else { return };
                space
                    .madvise(va(slot_addr(slot)), area.pages * P, crate::Advice::DontNeed)
                    .unwrap();
                area.copies.clear();
            }
            Op::Fork { s } => {
                let Some(free) = self.spaces.iter().position(Option::is_none) else {
                    return;
                };
                let Some((space, areas)) = &mut self.spaces[s] else {
                    return;
                };
                let child = space.fork().unwrap();
                let areas = areas.clone();
                self.spaces[free] = Some((child, areas));
                path.reset(free);
            }
            Op::Exit { s } => {
                self.spaces[s] = None;
                path.reset(s);
            }
        }
    }

    fn store(
        &mut self,
        path: &mut dyn Path,
        s: usize,
        slot: usize,
        page: usize,
        off: usize,
        byte: u8,
    ) {
        let Some((_, areas)) = &self.spaces[s] else {
            return;
        };
        let area = areas[slot].clone();
        let mut want = self.expect(area.as_ref(), page, off).map(|_| ());
        // The permission check comes before the page lookup (SIGSEGV, not SIGBUS).
        if area.as_ref().is_some_and(|a| !a.writable && page < a.pages) {
            want = Err(Sig::Segv);
        }
        let (start, shared) = match &area {
            Some(a) => ((a.first + page) * P, a.shared),
            None => (0, false),
        };
        // A shared store past EOF (in the last page) is not file data: Linux leaves it
        // unspecified after the page leaves the cache, so the model does not make one.
        if want.is_ok() && shared && start + off + 8 > self.data.len() {
            return;
        }
        let (space, _) = self.spaces[s].as_mut().unwrap();
        let at = slot_addr(slot) + page * P + off;
        let got = path.store(space, s, at, &[byte; 8]);
        assert!(
            same(&want.map(|()| vec![]), &got.map(|()| vec![])),
            "store at {at:#x}: want {want:?}, got {got:?}"
        );
        if want.is_err() {
            return;
        }
        if shared {
            self.data[start + off..start + off + 8].fill(byte);
        } else {
            let idx = start / P;
            let view = self.page_view(idx);
            let (_, areas) = self.spaces[s].as_mut().unwrap();
            let a = areas[slot].as_mut().unwrap();
            let copy = a.copies.entry(page).or_insert(view);
            copy[off..off + 8].fill(byte);
        }
    }
}

/// Compares file bytes, reporting the first difference instead of both buffers.
fn same_bytes(got: &[u8], want: &[u8], what: &dyn core::fmt::Debug) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what:?}: {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

fn run(init: usize, ops: &[Op], path: &mut dyn Path) {
    let first = setup();
    let data: Vec<u8> = (0..init).map(|i| (i % 253) as u8).collect();
    let file = Arc::new(MemFile::new(data.clone()));
    let mut world = World {
        file,
        data,
        spaces: (0..SPACES).map(|_| None).collect(),
    };
    world.spaces[0] = Some((first, [None, None]));
    world.spaces[1] = Some((
        Space::new(world.spaces[0].as_ref().unwrap().0.va_range()).unwrap(),
        [None, None],
    ));
    for op in ops {
        world.step(op, path);
        same_bytes(&world.file.contents(), &world.data, op);
    }
    world.spaces.clear();
    same_bytes(&world.file.stored(), &world.data, &"write-back lost data");
    assert_eq!(
        world.file.cache_stats(),
        (0, 0),
        "cache kept unmapped pages"
    );
    drop(world);
    assert_no_leak();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(48)))]

    #[test]
    fn file_layer_matches_model_through_uaccess(init in 0..FILE_MAX, ops in prop::collection::vec(op(), 1..60)) {
        run(init, &ops, &mut Uaccess);
    }

    #[test]
    fn file_layer_matches_model_through_the_cpu(init in 0..FILE_MAX, ops in prop::collection::vec(op(), 1..60)) {
        let mut cpus = Cpus((0..SPACES).map(|_| Cpu::new()).collect());
        run(init, &ops, &mut cpus);
    }
}
