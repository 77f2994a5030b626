//! Property tests: random operation sequences against a page-granular model.
//!
//! After every operation: the table's mappings equal the model (every leaf
//! expanded to model pages), queries at the operation's edges agree, the
//! table invariants hold (no empty tables, frames = tables), a failed
//! operation left the table (mappings and frames) unchanged, and a software
//! TLB filled before the operation holds no stale entry once the returned
//! flushes were applied, and no table frame was freed while the
//! paging-structure-cache model (`psc`) says a CPU may still cache it.
//! Allocation failures are injected at random.
//!
//! Two scales: 4K units with 2M huge pages in 6 MiB windows, and 2M units
//! with 1G huge pages in 3 GiB windows; each has a lower-half window
//! crossing a top-level boundary and an upper-half window ending at the top
//! of the address space.

use proptest::prelude::*;

use super::*;
use crate::testing::{SoftTlb, take_flushes};
use crate::{PageSize, PagingError, PagingResult};

/// Window length in units.
const WIN: usize = 3 * 512;

#[derive(Debug, Clone)]
enum Op {
    Map {
        hi: bool,
        page: usize,
        huge: bool,
        frame: usize,
        flags: u8,
    },
    Unmap {
        hi: bool,
        page: usize,
    },
    Protect {
        hi: bool,
        page: usize,
        flags: u8,
    },
    Query {
        hi: bool,
        page: usize,
    },
    MapRegion {
        hi: bool,
        page: usize,
        len: usize,
        frame: usize,
        huge: bool,
        flags: u8,
    },
    UnmapRegion {
        hi: bool,
        page: usize,
        len: usize,
    },
    ProtectRegion {
        hi: bool,
        page: usize,
        len: usize,
        flags: u8,
    },
    /// `clone_range_into` a fresh table with copy-on-write flags.
    Clone {
        hi: bool,
        page: usize,
        len: usize,
    },
    Bad {
        kind: u8,
    },
}

fn page() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..WIN, 1 => (0..3usize).prop_map(|b| b * 512), 1 => (1..4usize).prop_map(|b| b * 512 - 1)]
}

fn len() -> impl Strategy<Value = usize> {
    prop_oneof![2 => 1..8usize, 1 => 1..WIN, 1 => Just(512), 1 => Just(513)]
}

fn op() -> impl Strategy<Value = Op> {
    let hi = prop::bool::weighted(0.3);
    prop_oneof![
        4 => (hi, page(), any::<bool>(), 0..1usize << 16, any::<u8>())
            .prop_map(|(hi, page, huge, frame, flags)| Op::Map { hi, page, huge, frame, flags }),
        2 => (hi, page()).prop_map(|(hi, page)| Op::Unmap { hi, page }),
        2 => (hi, page(), any::<u8>()).prop_map(|(hi, page, flags)| Op::Protect { hi, page, flags }),
        1 => (hi, page()).prop_map(|(hi, page)| Op::Query { hi, page }),
        4 => (hi, page(), len(), 0..1usize << 16, any::<bool>(), any::<u8>())
            .prop_map(|(hi, page, len, frame, huge, flags)| Op::MapRegion { hi, page, len, frame, huge, flags }),
        3 => (hi, page(), len()).prop_map(|(hi, page, len)| Op::UnmapRegion { hi, page, len }),
        3 => (hi, page(), len(), any::<u8>()).prop_map(|(hi, page, len, flags)| Op::ProtectRegion { hi, page, len, flags }),
        2 => (hi, page(), len()).prop_map(|(hi, page, len)| Op::Clone { hi, page, len }),
        1 => (0..8u8).prop_map(|kind| Op::Bad { kind }),
    ]
}

/// One run: `unit` is 4K (huge = 2M) or 2M (huge = 1G).
struct Run<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE> {
    pt: Pt<M, PTE>,
    model: Model,
    tlb: SoftTlb,
    unit: usize,
    /// The destination of the next `Clone` (created before failures are armed).
    dst: Option<Pt<M, PTE>>,
}

impl<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE> Run<M, PTE> {
    fn base(&self, hi: bool) -> usize {
        let span = WIN * self.unit;
        if hi {
            0usize.wrapping_sub(span)
        } else {
            (1usize << (M::VA_MAX_BITS - 2)) - span / 3
        }
    }

    fn sizes(&self) -> (PageSize, PageSize) {
        if self.unit == K4 {
            (PageSize::Size4K, PageSize::Size2M)
        } else {
            (PageSize::Size2M, PageSize::Size1G)
        }
    }

    fn flags(bits: u8) -> (MappingFlags, MappingFlags) {
        let f = MappingFlags::from_bits_truncate(bits as usize);
        (f, PTE::normalize_flags(f))
    }

    /// Runs `op` against table and model; returns (result, expected) as
    /// comparable values and the addresses worth querying afterwards.
    fn step(&mut self, op: &Op) -> (PagingResult<usize>, PagingResult<usize>, Vec<usize>) {
        let u = self.unit;
        let (small, huge) = self.sizes();
        let at = |s: &Self, hi: bool, page: usize| s.base(hi) + page * u;
        let clip = |page: usize, len: usize| len.min(WIN - page).max(1);
        match *op {
            Op::Map {
                hi,
                page,
                huge: h,
                frame,
                flags,
            } => {
                let v = at(self, hi, page);
                let (ps, size) = if h { (huge, huge as usize) } else { (small, u) };
                let (f, nf) = Self::flags(flags);
                let p = frame * size;
                let got = self.pt.map(va(v), pa(p), ps, f).map(|fl| fl.flush());
                let want = if v % size != 0 {
                    Err(PagingError::NotAligned)
                } else if self.model.any_mapped(v, size) {
                    Err(PagingError::AlreadyMapped)
                } else {
                    self.model.map(v, size, |x| x - v + p, nf);
                    Ok(())
                };
                (
                    got.map(|()| 0),
                    want.map(|()| 0),
                    vec![v, v.wrapping_add(size - u)],
                )
            }
            Op::Unmap { hi, page } | Op::Protect { hi, page, .. } => {
                let v = at(self, hi, page);
                let want = match (self.model.pages.get(&v).copied(), self.pt.query(va(v))) {
                    (None, _) => Err(PagingError::NotMapped),
                    (Some(_), Err(e)) => panic!("model has {v:#x}, table says {e:?}"),
                    (Some(_), Ok((_, _, s))) if v % s as usize != 0 => {
                        Err(PagingError::MappedToHugePage)
                    }
                    (Some((p, f)), Ok((_, _, s))) => Ok((p, f, s)),
                };
                let got = if let Op::Protect { flags, .. } = *op {
                    let (f, nf) = Self::flags(flags);
                    let got = self.pt.protect(va(v), f).map(|(s, fl)| {
                        fl.flush();
                        s as usize
                    });
                    if let Ok((_, _, s)) = want {
                        self.model.protect(v, s as usize, nf);
                    }
                    return (got, want.map(|(_, _, s)| s as usize), vec![v]);
                } else {
                    self.pt.unmap(va(v)).map(|(p, f, s, fl)| {
                        fl.flush();
                        (p.as_usize(), f, s)
                    })
                };
                assert_eq!(got, want, "unmap {v:#x}");
                if let Ok((_, _, s)) = want {
                    self.model.unmap(v, s as usize);
                }
                (got.map(|_| 0), want.map(|_| 0), vec![v])
            }
            Op::Query { hi, page } => {
                let v = at(self, hi, page);
                (Ok(0), Ok(0), vec![v])
            }
            Op::MapRegion {
                hi,
                page,
                len,
                frame,
                huge: h,
                flags,
            } => {
                let (v, size) = (at(self, hi, page), clip(page, len) * u);
                let p = frame * if h { huge as usize } else { u };
                let (f, nf) = Self::flags(flags);
                let max = if h { huge } else { small };
                let got = self
                    .pt
                    .map_region(va(v), |x| pa(x.as_usize() - v + p), size, f, max);
                let got = got.map(|fl| fl.flush());
                let want = if self.model.any_mapped(v, size) {
                    Err(PagingError::AlreadyMapped)
                } else {
                    self.model.map(v, size, |x| x - v + p, nf);
                    Ok(())
                };
                (
                    got.map(|()| 0),
                    want.map(|()| 0),
                    vec![v, v.wrapping_add(size - u)],
                )
            }
            Op::UnmapRegion { hi, page, len } => {
                let (v, size) = (at(self, hi, page), clip(page, len) * u);
                let got = self.pt.unmap_region(va(v), size).map(|(n, fl)| {
                    fl.flush();
                    n
                });
                let mut after = self.model.clone();
                let want = Ok(after.unmap(v, size));
                if got.is_ok() {
                    self.model = after;
                }
                (got, want, vec![v, v.wrapping_add(size - u)])
            }
            Op::ProtectRegion {
                hi,
                page,
                len,
                flags,
            } => {
                let (v, size) = (at(self, hi, page), clip(page, len) * u);
                let (f, nf) = Self::flags(flags);
                let got = self.pt.protect_region(va(v), size, f).map(|fl| fl.flush());
                if got.is_ok() {
                    self.model.protect(v, size, nf);
                }
                (got.map(|()| 0), Ok(0), vec![v, v.wrapping_add(size - u)])
            }
            Op::Clone { hi, page, len } => {
                let (v, size) = (at(self, hi, page), clip(page, len) * u);
                let mut dst = self.dst.take().expect("dst prepared");
                super::psc::watch(&dst);
                let got = self
                    .pt
                    .clone_range_into(&mut dst, va(v), size, super::share::cow);
                let got = got.map(|fl| fl.flush());
                let mut after = self.model.clone();
                let mut copied = Model::with_unit(u);
                for (&k, val) in after.pages.range_mut(v..=v + (size - 1)) {
                    let (f, _) = super::share::cow(va(k), pa(val.0), PageSize::Size4K, val.1);
                    val.1 = PTE::normalize_flags(f);
                    copied.pages.insert(k, *val);
                }
                match got {
                    Ok(()) => {
                        copied.assert_matches(&dst);
                        self.model = after;
                    }
                    Err(_) => assert!(
                        dst.iter().next().is_none(),
                        "failed clone left mappings in dst"
                    ),
                }
                let frames = table_frames(&self.pt) + table_frames(&dst);
                assert_eq!(frames, CountingHandler::live_frames(), "clone: frames");
                super::psc::unwatch(&dst);
                (got.map(|()| 0), Ok(0), vec![v, v.wrapping_add(size - u)])
            }
            Op::Bad { kind } => (self.bad(kind), Err(Self::bad_error(kind)), vec![]),
        }
    }

    fn bad_error(kind: u8) -> PagingError {
        match kind {
            1 | 6 => PagingError::NotAligned,
            _ => PagingError::InvalidAddress,
        }
    }

    fn bad(&mut self, kind: u8) -> PagingResult<usize> {
        let half = 1usize << (M::VA_MAX_BITS - 1);
        let v = self.base(false);
        let pa_max = 1usize << M::PA_MAX_BITS;
        let lin = |x: VirtAddr| pa(x.as_usize());
        let res = match kind {
            0 => self
                .pt
                .map_region(va(v), lin, 0, RW, PageSize::Size1G)
                .map(|f| f.flush()),
            1 => self
                .pt
                .unmap_region(va(v + 0x800), K4)
                .map(|(_, f)| f.flush()),
            2 => self
                .pt
                .protect_region(va(v), usize::MAX & !0xfff, R)
                .map(|f| f.flush()),
            3 => self
                .pt
                .map(va(half), pa(0), PageSize::Size4K, R)
                .map(|f| f.flush()),
            4 => self
                .pt
                .map_region(va(v), |_| pa(pa_max), K4, R, PageSize::Size4K)
                .map(|f| f.flush()),
            5 => self
                .pt
                .unmap_region(va(half - K4), 2 * K4)
                .map(|(_, f)| f.flush()),
            6 => self
                .pt
                .map(va(v), pa(K4), PageSize::Size2M, R)
                .map(|f| f.flush()),
            _ => self.pt.query(va(half | K4)).map(|_| ()),
        };
        res.map(|()| 0)
    }
}

fn run<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    unit: usize,
    ops: &[(Op, Option<u8>)],
) {
    CountingHandler::reset();
    take_flushes();
    super::psc::reset();
    let mut r = Run::<M, PTE> {
        pt: Pt::<M, PTE>::try_new().unwrap(),
        model: Model::with_unit(unit),
        tlb: SoftTlb::new(),
        unit,
        dst: None,
    };
    super::psc::watch(&r.pt);
    for (i, (op, fail)) in ops.iter().enumerate() {
        // Warm the TLB with the addresses the operation touches.
        let touch = |r: &mut Run<M, PTE>, hi: bool, page: usize| {
            let v = r.base(hi) + page * unit;
            r.tlb.translate(&r.pt, v);
        };
        match *op {
            Op::Map { hi, page, .. }
            | Op::Unmap { hi, page }
            | Op::Protect { hi, page, .. }
            | Op::Query { hi, page } => touch(&mut r, hi, page),
            Op::MapRegion { hi, page, len, .. }
            | Op::UnmapRegion { hi, page, len }
            | Op::ProtectRegion { hi, page, len, .. }
            | Op::Clone { hi, page, len } => {
                for p in [page, page + len / 2, page + len - 1] {
                    touch(&mut r, hi, p.min(WIN - 1));
                }
            }
            Op::Bad { .. } => {}
        }
        super::psc::observe();
        if let Op::Clone { .. } = op {
            r.dst = Some(Pt::<M, PTE>::try_new().unwrap());
        }
        let before = snapshot(&r.pt);
        let model_before = r.model.clone();
        if let Some(k) = fail {
            CountingHandler::fail_after(*k as usize);
        }
        let (got, want, probes) = r.step(op);
        CountingHandler::clear_failure();
        let ctx = || format!("op #{i} {op:x?} (fail {fail:?})");
        match got {
            Err(PagingError::NoMemory) if fail.is_some() => r.model = model_before,
            _ => assert_eq!(got, want, "{}", ctx()),
        }
        if got.is_err() {
            // (For a clone, `before` counted dst's root frame.)
            let dst_root = usize::from(matches!(op, Op::Clone { .. }));
            let now = (
                r.pt.iter().collect::<Vec<_>>(),
                table_frames(&r.pt) + dst_root,
            );
            assert_eq!(now, before, "failed op changed the table: {}", ctx());
        }
        r.model.assert_matches(&r.pt);
        let span = WIN * unit;
        for v in probes.into_iter().filter(|&v| {
            [false, true]
                .iter()
                .any(|&h| v.wrapping_sub(r.base(h)) < span)
        }) {
            r.model.assert_query(&r.pt, v);
        }
        check_tables(&r.pt);
        r.tlb.apply(&take_flushes());
        if let Some(stale) = r.tlb.find_stale(&r.pt) {
            panic!("stale TLB entry {stale:x?} after {}", ctx());
        }
        let early = super::psc::take_violations();
        assert!(early.is_empty(), "freed too early {early:?}: {}", ctx());
        super::psc::take_events();
    }
    super::psc::unwatch(&r.pt);
    drop(r);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

/// Longest operation sequence (shorter under Miri, which is ~1000x slower).
const MAX_OPS: usize = if cfg!(miri) { 8 } else { 40 };

fn ops() -> impl Strategy<Value = Vec<(Op, Option<u8>)>> {
    prop::collection::vec((op(), prop::option::weighted(0.15, 0..4u8)), 1..MAX_OPS)
}

macro_rules! model_tests {
    ($($name:ident: $meta:ty, $pte:ty, $unit:expr, $cases:expr;)*) => {$(
        proptest! {
            #![proptest_config(proptest_config($cases))]
            #[test]
            fn $name(ops in ops()) {
                run::<$meta, $pte>($unit, &ops);
            }
        }
    )*};
}

model_tests! {
    model_sv39_4k: Sv39MetaData, Rv64PTE, K4, 96;
    model_x64_4k: X64PagingMetaData, X64PTE, K4, 96;
    model_sv48_4k: Sv48MetaData, Rv64PTE, K4, 32;
    model_a64_4k: A64PagingMetaData, A64PTE, K4, 32;
    model_la64_4k: LA64MetaData, LA64PTE, K4, 32;
    model_sv39_1g: Sv39MetaData, Rv64PTE, M2, 48;
    model_x64_1g: X64PagingMetaData, X64PTE, M2, 48;
}
