//! Page-table operation sequences in every paging mode (Sv39, Sv48, x86-64, AArch64,
//! LoongArch64) on two tables with `CountingHandler`: map, unmap, protect, remap, the region
//! operations, query and clone_range_into, with injected allocation failures.
//!
//! Oracles: the leaves (merged into runs) always equal a model of runs `va → (pa, flags)`;
//! every successful call agrees with the model (nothing was mapped under a new mapping,
//! unmap reports what was there, unmap_region counts the mapped bytes, query translates); a
//! failed call changes neither the leaves nor the number of live frames; dropping the
//! tables frees every frame exactly once (the handler panics on a double free).

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use memory_addr::{PhysAddr, VirtAddr};
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::{
    GenericPTE, MappingFlags, OnPresent, PageSize, PageTable64, PagingMetaData, VaLayout, aarch64,
    loongarch64, riscv, x86_64,
};

const K4: usize = 0x1000;
const M2: usize = 0x20_0000;
const G1: usize = 0x4000_0000;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    /// `idx` granules of 4K, 2M or 1G plus `pages` 4K pages, in the low 16 GiB.
    Low {
        gran: u8,
        idx: u8,
        pages: u16,
    },
    /// Just below the top of the lower half.
    TopLow(u8),
    /// The start of the upper (kernel) half, sign-extended.
    KernelHalf(u8),
    Any(u64),
}

impl Addr {
    fn get(self, va_bits: usize) -> usize {
        match self {
            Addr::Low { gran, idx, pages } => {
                let g = [K4, M2, G1][gran as usize % 3];
                ((idx as usize % 16) * g + pages as usize * K4) % (16 * G1)
            }
            Addr::TopLow(k) => (1usize << (va_bits - 1)) - (k as usize + 1) * K4,
            Addr::KernelHalf(k) => (usize::MAX << (va_bits - 1)) + k as usize * K4,
            // Kept below the top so that model ends never overflow.
            Addr::Any(v) => (v as usize).min(usize::MAX - 8 * G1),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Pages(u8),
    Huge2M(u8),
    Odd(u32),
}

impl Size {
    fn get(self) -> usize {
        match self {
            Size::Pages(n) => (n as usize % 64 + 1) * K4,
            Size::Huge2M(n) => (n as usize % 4 + 1) * M2,
            Size::Odd(v) => v as usize,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Map {
        t: bool,
        va: Addr,
        pa: u16,
        size: u8,
        flags: u8,
    },
    Unmap {
        t: bool,
        va: Addr,
    },
    Protect {
        t: bool,
        va: Addr,
        flags: u8,
    },
    Remap {
        t: bool,
        va: Addr,
        pa: u16,
        flags: u8,
        replace: bool,
    },
    MapRegion {
        t: bool,
        va: Addr,
        size: Size,
        flags: u8,
        delta: u16,
        max: u8,
    },
    UnmapRegion {
        t: bool,
        va: Addr,
        size: Size,
    },
    ProtectRegion {
        t: bool,
        va: Addr,
        size: Size,
        flags: u8,
    },
    Query {
        t: bool,
        va: Addr,
    },
    Clone {
        t: bool,
        va: Addr,
        size: Size,
    },
    FailAfter(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    ops: Vec<Op>,
}

/// Flags every format represents exactly (no memory types).
fn flags(bits: u8) -> MappingFlags {
    let all = [
        MappingFlags::READ,
        MappingFlags::WRITE,
        MappingFlags::EXECUTE,
        MappingFlags::USER,
        MappingFlags::COW,
    ];
    all.iter()
        .enumerate()
        .filter(|&(i, _)| bits & (1 << i) != 0)
        .fold(MappingFlags::empty(), |f, (_, &b)| f | b)
}

/// Runs `va → (end, pa, flags)`.
type Runs = BTreeMap<usize, (usize, usize, MappingFlags)>;

/// Splits the run containing `x` (strictly inside) in two.
fn cut(m: &mut Runs, x: usize) {
    let Some((&s, &(e, pa, f))) = m.range(..x).next_back() else {
        return;
    };
    if e > x {
        m.insert(s, (x, pa, f));
        m.insert(x, (e, pa + (x - s), f));
    }
}

/// Removes `[lo, hi)`; returns the bytes that were mapped.
fn remove(m: &mut Runs, lo: usize, hi: usize) -> usize {
    cut(m, lo);
    cut(m, hi);
    let keys: Vec<usize> = m.range(lo..hi).map(|(&k, _)| k).collect();
    keys.iter()
        .map(|k| m.remove(k).map_or(0, |(e, _, _)| e - k))
        .sum()
}

fn overlaps(m: &Runs, lo: usize, hi: usize) -> bool {
    m.range(..hi)
        .next_back()
        .is_some_and(|(_, &(e, _, _))| e > lo)
}

fn lookup(m: &Runs, va: usize) -> Option<(usize, MappingFlags)> {
    let (&s, &(e, pa, f)) = m.range(..=va).next_back()?;
    (va < e).then_some((pa + (va - s), f))
}

/// Sets the flags of the mapped parts of `[lo, hi)`.
fn set_flags(m: &mut Runs, lo: usize, hi: usize, f: impl Fn(MappingFlags) -> MappingFlags) {
    cut(m, lo);
    cut(m, hi);
    m.range_mut(lo..hi).for_each(|(_, r)| r.2 = f(r.2));
}

/// Runs merged where va, pa and flags continue.
fn merged(
    runs: impl Iterator<Item = (usize, usize, usize, MappingFlags)>,
) -> Vec<(usize, usize, usize, MappingFlags)> {
    let mut out: Vec<(usize, usize, usize, MappingFlags)> = Vec::new();
    for (s, e, pa, f) in runs {
        match out.last_mut() {
            Some(l) if l.1 == s && l.2 + (l.1 - l.0) == pa && l.3 == f => l.1 = e,
            _ => out.push((s, e, pa, f)),
        }
    }
    out
}

struct Tester<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE> {
    pts: [PageTable64<M, PTE, CountingHandler>; 2],
    models: [Runs; 2],
}

impl<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE> Tester<M, PTE> {
    /// The address the model keys a mapping by: under `SplitHalves` (AArch64) both halves
    /// share one table, so an address and its alias in the other half are one mapping.
    fn fold(va: usize) -> usize {
        match M::VA_LAYOUT {
            VaLayout::SplitHalves => va & ((1 << M::VA_MAX_BITS) - 1),
            _ => va,
        }
    }

    /// The format's own representation of `f` (what `flags()` reports back).
    fn canon(f: MappingFlags) -> MappingFlags {
        PTE::new_page(PhysAddr::from(0x1000), f, false).flags()
    }

    fn leaves(&self, t: usize) -> Vec<(usize, usize, usize, MappingFlags)> {
        merged(self.pts[t].iter().map(|m| {
            let s = Self::fold(m.vaddr.as_usize());
            (
                s,
                s + m.size as usize,
                m.paddr.as_usize(),
                Self::canon(m.flags),
            )
        }))
    }

    fn model(&self, t: usize) -> Vec<(usize, usize, usize, MappingFlags)> {
        merged(
            self.models[t]
                .iter()
                .map(|(&s, &(e, pa, f))| (s, e, pa, Self::canon(f))),
        )
    }

    fn step(&mut self, op: &Op) {
        let vb = M::VA_MAX_BITS;
        let before = CountingHandler::live_frames();
        let (t, ok) = match *op {
            Op::Map {
                t,
                va,
                pa,
                size,
                flags: fl,
            } => {
                let t = t as usize;
                let (ps, sz) = [
                    (PageSize::Size4K, K4),
                    (PageSize::Size2M, M2),
                    (PageSize::Size1G, G1),
                ][size as usize % 3];
                let (va, pa) = (va.get(vb), pa as usize * sz);
                let r = self.pts[t].map(va.into(), pa.into(), ps, flags(fl));
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok(flush) = r {
                    flush.ignore();
                    assert!(
                        !overlaps(&self.models[t], va, va + sz),
                        "map over a mapping"
                    );
                    self.models[t].insert(va, (va + sz, pa, Self::canon(flags(fl))));
                }
                (t, ok)
            }
            Op::Unmap { t, va } => {
                let t = t as usize;
                let va = va.get(vb);
                let r = self.pts[t].unmap(va.into());
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok((pa, f, size, flush)) = r {
                    flush.ignore();
                    let (m_pa, m_f) = lookup(&self.models[t], va).expect("unmap of nothing");
                    assert_eq!((pa.as_usize(), Self::canon(f)), (m_pa, Self::canon(m_f)));
                    assert_eq!(
                        remove(&mut self.models[t], va, va + size as usize),
                        size as usize
                    );
                }
                (t, ok)
            }
            Op::Protect { t, va, flags: fl } => {
                let t = t as usize;
                let va = va.get(vb);
                let r = self.pts[t].protect(va.into(), flags(fl));
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok((size, flush)) = r {
                    flush.ignore();
                    assert!(lookup(&self.models[t], va).is_some(), "protect of nothing");
                    set_flags(&mut self.models[t], va, va + size as usize, |_| {
                        Self::canon(flags(fl))
                    });
                }
                (t, ok)
            }
            Op::Remap {
                t,
                va,
                pa,
                flags: fl,
                replace,
            } => {
                let t = t as usize;
                let va = va.get(vb);
                let on = if replace {
                    OnPresent::Replace
                } else {
                    OnPresent::Fail
                };
                let r = self.pts[t].remap(va.into(), (pa as usize * K4).into(), flags(fl), on);
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok((old, size, flush)) = r {
                    flush.ignore();
                    let size = size as usize;
                    let (m_pa, _) = lookup(&self.models[t], va).expect("remap of nothing");
                    assert_eq!(old.as_usize(), m_pa);
                    remove(&mut self.models[t], va, va + size);
                    self.models[t]
                        .insert(va, (va + size, pa as usize * K4, Self::canon(flags(fl))));
                }
                (t, ok)
            }
            Op::MapRegion {
                t,
                va,
                size,
                flags: fl,
                delta,
                max,
            } => {
                let t = t as usize;
                let (va, size) = (va.get(vb), size.get());
                let delta = delta as usize * K4 * [1, 512, 512 * 512][delta as usize % 3];
                let max = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G][max as usize % 3];
                let get = |v: VirtAddr| PhysAddr::from(v.as_usize().wrapping_add(delta));
                let r = self.pts[t].map_region(va.into(), get, size, flags(fl), max);
                let ok = r.is_ok();
                // `get` sees the canonical (sign-extended) address, the model the folded one.
                let pa = va.wrapping_add(delta);
                let va = Self::fold(va);
                if let Ok(batch) = r {
                    batch.ignore();
                    assert!(
                        !overlaps(&self.models[t], va, va + size),
                        "map_region over a mapping"
                    );
                    self.models[t].insert(va, (va + size, pa, Self::canon(flags(fl))));
                }
                (t, ok)
            }
            Op::UnmapRegion { t, va, size } => {
                let t = t as usize;
                let (va, size) = (va.get(vb), size.get());
                let r = self.pts[t].unmap_region(va.into(), size);
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok((bytes, batch)) = r {
                    batch.ignore();
                    assert_eq!(
                        bytes,
                        remove(&mut self.models[t], va, va + size),
                        "unmapped bytes"
                    );
                }
                (t, ok)
            }
            Op::ProtectRegion {
                t,
                va,
                size,
                flags: fl,
            } => {
                let t = t as usize;
                let (va, size) = (va.get(vb), size.get());
                let r = self.pts[t].protect_region(va.into(), size, flags(fl));
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok(batch) = r {
                    batch.ignore();
                    set_flags(&mut self.models[t], va, va + size, |_| {
                        Self::canon(flags(fl))
                    });
                }
                (t, ok)
            }
            Op::Query { t, va } => {
                let t = t as usize;
                let va = va.get(vb);
                let got = self.pts[t].query(va.into());
                let want = M::vaddr_is_valid(va)
                    .then(|| lookup(&self.models[t], Self::fold(va)))
                    .flatten();
                match (got, want) {
                    (Ok((pa, f, _)), Some((m_pa, m_f))) => {
                        assert_eq!((pa.as_usize(), Self::canon(f)), (m_pa, Self::canon(m_f)))
                    }
                    (Err(_), None) => {}
                    (got, want) => panic!("query {va:#x}: {got:?} vs model {want:?}"),
                }
                (t, true)
            }
            Op::Clone { t, va, size } => {
                let t = t as usize;
                let (va, size) = (va.get(vb), size.get());
                let [a, b] = &mut self.pts;
                let (src, dst) = if t == 0 { (a, b) } else { (b, a) };
                let cow = |_: VirtAddr, _: PhysAddr, _: PageSize, f: MappingFlags| {
                    let f = f - MappingFlags::WRITE;
                    (f, f | MappingFlags::COW)
                };
                let r = src.clone_range_into(dst, va.into(), size, cow);
                let ok = r.is_ok();
                let va = Self::fold(va);
                if let Ok(batch) = r {
                    batch.ignore();
                    let d = 1 - t;
                    assert!(
                        !overlaps(&self.models[d], va, va + size),
                        "clone over a mapping"
                    );
                    let mut part = self.models[t].clone();
                    remove(&mut part, 0, va);
                    remove(&mut part, va + size, usize::MAX);
                    for (s, (e, pa, f)) in part {
                        self.models[d].insert(
                            s,
                            (
                                e,
                                pa,
                                Self::canon((f - MappingFlags::WRITE) | MappingFlags::COW),
                            ),
                        );
                    }
                    set_flags(&mut self.models[t], va, va + size, |f| {
                        Self::canon(f - MappingFlags::WRITE)
                    });
                }
                (t, ok)
            }
            Op::FailAfter(k) => {
                CountingHandler::fail_after(k as usize % 6);
                return;
            }
        };
        CountingHandler::clear_failure();
        if !ok {
            assert_eq!(
                CountingHandler::live_frames(),
                before,
                "a failed {op:?} kept frames"
            );
        }
        for i in [t, 1 - t] {
            assert!(
                self.leaves(i) == self.model(i),
                "table {i} differs from the model after {op:?}"
            );
        }
    }
}

fn run<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(ops: &[Op]) {
    CountingHandler::reset();
    let mut tester = Tester::<M, PTE> {
        pts: [
            PageTable64::try_new().expect("root"),
            PageTable64::try_new().expect("root"),
        ],
        models: [Runs::new(), Runs::new()],
    };
    for op in ops.iter().take(48) {
        tester.step(op);
    }
    drop(tester);
    assert_eq!(CountingHandler::live_frames(), 0, "table frames leaked");
}

fuzz_target!(|input: Input| {
    match input.mode % 5 {
        0 => run::<riscv::Sv39MetaData, page_table_entry::riscv::Rv64PTE>(&input.ops),
        1 => run::<riscv::Sv48MetaData, page_table_entry::riscv::Rv64PTE>(&input.ops),
        2 => run::<x86_64::X64PagingMetaData, page_table_entry::x86_64::X64PTE>(&input.ops),
        3 => run::<aarch64::A64PagingMetaData, page_table_entry::aarch64::A64PTE>(&input.ops),
        _ => run::<loongarch64::LA64MetaData, page_table_entry::loongarch64::LA64PTE>(&input.ops),
    }
});
