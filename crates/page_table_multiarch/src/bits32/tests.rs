//! `PageTable32` against a page-by-page model, with frame counting, for
//! ARMv7 short descriptors (1M sections) and Sv32 (4K only).

use std::collections::{BTreeMap, BTreeSet};

use memory_addr::{PAGE_SIZE_4K, PhysAddr, VirtAddr};
use proptest::prelude::*;

use crate::arm::{A32PTE, A32PagingMetaData};
use crate::riscv::{Rv32PTE, Sv32MetaData};
use crate::testing::{CountingHandler, FlushRecord, RecordingMeta, take_flushes};
use crate::{GenericPTE, MappingFlags as MF, PageSize, PageTable32, PagingError, PagingMetaData32};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
enum Op {
    Map {
        vpn: usize,
        pa: usize,
        block: bool,
        flags: u8,
    },
    Unmap {
        vpn: usize,
    },
    Protect {
        vpn: usize,
        flags: u8,
    },
    MapRegion {
        vpn: usize,
        n: usize,
        pa: usize,
        huge: bool,
        flags: u8,
    },
    UnmapRegion {
        vpn: usize,
        n: usize,
    },
    ProtectRegion {
        vpn: usize,
        n: usize,
        flags: u8,
    },
}

/// Page numbers in root slots 0, 1, 2 and the last one (ranges reach 2^32).
fn vpn(per: usize, last: usize) -> impl Strategy<Value = usize> {
    (
        prop::sample::select(vec![0, 1, 2, last]),
        0..per,
        any::<bool>(),
    )
        .prop_map(move |(i, off, aligned)| i * per + if aligned { 0 } else { off })
}

fn op(per: usize, last: usize) -> impl Strategy<Value = Op> {
    let pa = (0usize..0x200).prop_map(move |p| 0x8000_0000 + p * per * PAGE_SIZE_4K / 4);
    prop_oneof![
        (vpn(per, last), pa.clone(), any::<bool>(), any::<u8>()).prop_map(
            |(vpn, pa, block, flags)| Op::Map {
                vpn,
                pa,
                block,
                flags
            }
        ),
        vpn(per, last).prop_map(|vpn| Op::Unmap { vpn }),
        (vpn(per, last), any::<u8>()).prop_map(|(vpn, flags)| Op::Protect { vpn, flags }),
        (vpn(per, last), 1..3 * per, pa, any::<bool>(), any::<u8>()).prop_map(
            |(vpn, n, pa, huge, flags)| Op::MapRegion {
                vpn,
                n,
                pa,
                huge,
                flags
            }
        ),
        (vpn(per, last), 1..3 * per).prop_map(|(vpn, n)| Op::UnmapRegion { vpn, n }),
        (vpn(per, last), 1..3 * per, any::<u8>()).prop_map(|(vpn, n, flags)| Op::ProtectRegion {
            vpn,
            n,
            flags
        }),
    ]
}

/// Model: page → (frame, flags); `blocks` holds the first page of blocks.
#[derive(Default, Clone, PartialEq, Debug)]
struct Model {
    pages: BTreeMap<usize, (usize, MF)>,
    blocks: BTreeSet<usize>,
}

impl Model {
    fn block_of(&self, vpn: usize, per: usize) -> Option<usize> {
        let b = vpn - vpn % per;
        self.blocks.contains(&b).then_some(b)
    }
    /// Un-blocks the blocks that straddle `[first, end)`.
    fn split(&mut self, first: usize, end: usize, per: usize) {
        for v in [first, end] {
            if v % per != 0 {
                self.blocks.remove(&(v - v % per));
            }
        }
    }
}

fn flags_of(raw: u8) -> MF {
    MF::from_bits_truncate(raw as usize & 0x7f) | MF::READ
}

fn run<M: PagingMetaData32<VirtAddr = VirtAddr>, PTE: GenericPTE>(ops: &[(Op, Option<u8>)]) {
    type H = CountingHandler;
    CountingHandler::reset();
    let per = PageTable32::<M, PTE, H>::PAGES_PER_L1;
    let pages = PageTable32::<M, PTE, H>::PAGES;
    let blocks_ok = PageTable32::<M, PTE, H>::block_size().is_some();
    let bsize = PageTable32::<M, PTE, H>::block_size().unwrap_or(PageSize::Size4K);
    let mut pt = PageTable32::<RecordingMeta<M>, PTE, H>::try_new().unwrap();
    let mut m = Model::default();
    let va = |v: usize| VirtAddr::from_usize(v * PAGE_SIZE_4K);
    let pa = PhysAddr::from_usize;
    for (op, fail) in ops {
        if let Some(k) = fail {
            CountingHandler::fail_after(*k as usize);
        }
        let before = m.clone();
        let live_before = CountingHandler::live_frames();
        take_flushes();
        let ok = match *op {
            Op::Map {
                vpn,
                pa: p,
                block,
                flags,
            } => {
                let f = PTE::normalize_flags(flags_of(flags));
                let (size, span) = if block && blocks_ok {
                    (bsize, per)
                } else {
                    (PageSize::Size4K, 1)
                };
                let r = pt.map(va(vpn), pa(p), size, f).map(|fl| fl.flush());
                let want = if vpn % span != 0 || p % (span * PAGE_SIZE_4K) != 0 {
                    Err(PagingError::NotAligned)
                } else if (vpn..vpn + span).any(|v| m.pages.contains_key(&v))
                    || (span == 1 && m.block_of(vpn, per).is_some())
                {
                    Err(PagingError::AlreadyMapped)
                } else {
                    for k in 0..span {
                        m.pages.insert(vpn + k, (p + k * PAGE_SIZE_4K, f));
                    }
                    if span > 1 {
                        m.blocks.insert(vpn);
                    }
                    Ok(())
                };
                check(r, want, &mut m, &before)
            }
            Op::Unmap { vpn } => {
                let r = pt.unmap(va(vpn)).map(|(p, f, s, fl)| {
                    fl.flush();
                    (p.as_usize(), f, s)
                });
                let want = match (m.pages.get(&vpn).copied(), m.block_of(vpn, per)) {
                    (None, _) => Err(PagingError::NotMapped),
                    (Some(_), Some(b)) if b != vpn => Err(PagingError::MappedToHugePage),
                    (Some((p, f)), Some(_)) => {
                        (vpn..vpn + per).for_each(|v| {
                            m.pages.remove(&v);
                        });
                        m.blocks.remove(&vpn);
                        Ok((p, f, bsize))
                    }
                    (Some((p, f)), None) => {
                        m.pages.remove(&vpn);
                        Ok((p, f, PageSize::Size4K))
                    }
                };
                check(r, want, &mut m, &before)
            }
            Op::Protect { vpn, flags } => {
                let f = PTE::normalize_flags(flags_of(flags));
                let r = pt.protect(va(vpn), f).map(|(s, fl)| {
                    fl.flush();
                    s
                });
                let want = match (m.pages.contains_key(&vpn), m.block_of(vpn, per)) {
                    (false, _) => Err(PagingError::NotMapped),
                    (true, Some(b)) if b != vpn => Err(PagingError::MappedToHugePage),
                    (true, b) => {
                        let span = if b.is_some() { per } else { 1 };
                        (vpn..vpn + span).for_each(|v| m.pages.get_mut(&v).unwrap().1 = f);
                        Ok(if b.is_some() { bsize } else { PageSize::Size4K })
                    }
                };
                check(r, want, &mut m, &before)
            }
            Op::MapRegion {
                vpn,
                n,
                pa: p,
                huge,
                flags,
            } => {
                let n = n.min(pages - vpn);
                let f = PTE::normalize_flags(flags_of(flags));
                let off = p.wrapping_sub(vpn * PAGE_SIZE_4K);
                let max = if huge {
                    PageSize::Size1G
                } else {
                    PageSize::Size4K
                };
                let r = pt
                    .map_region(
                        va(vpn),
                        |v| pa(v.as_usize().wrapping_add(off)),
                        n * PAGE_SIZE_4K,
                        f,
                        max,
                    )
                    .map(|b| b.flush());
                let want = if (vpn..vpn + n).any(|v| m.pages.contains_key(&v)) {
                    Err(PagingError::AlreadyMapped)
                } else {
                    let mut v = vpn;
                    while v < vpn + n {
                        let frame = (v * PAGE_SIZE_4K).wrapping_add(off);
                        if huge
                            && blocks_ok
                            && v % per == 0
                            && vpn + n - v >= per
                            && frame % (per * PAGE_SIZE_4K) == 0
                        {
                            m.blocks.insert(v);
                            for k in 0..per {
                                m.pages.insert(v + k, (frame + k * PAGE_SIZE_4K, f));
                            }
                            v += per;
                        } else {
                            m.pages.insert(v, (frame, f));
                            v += 1;
                        }
                    }
                    Ok(())
                };
                check(r, want, &mut m, &before)
            }
            Op::UnmapRegion { vpn, n } => {
                let n = n.min(pages - vpn);
                let r = pt
                    .unmap_region(va(vpn), n * PAGE_SIZE_4K)
                    .map(|(bytes, b)| {
                        b.flush();
                        bytes
                    });
                m.split(vpn, vpn + n, per);
                let gone = (vpn..vpn + n)
                    .filter(|v| m.pages.remove(v).is_some())
                    .count();
                m.blocks.retain(|b| !(vpn..vpn + n).contains(b));
                check(r, Ok(gone * PAGE_SIZE_4K), &mut m, &before)
            }
            Op::ProtectRegion { vpn, n, flags } => {
                let n = n.min(pages - vpn);
                let f = PTE::normalize_flags(flags_of(flags));
                let r = pt
                    .protect_region(va(vpn), n * PAGE_SIZE_4K, f)
                    .map(|b| b.flush());
                m.split(vpn, vpn + n, per);
                for v in vpn..vpn + n {
                    if let Some(e) = m.pages.get_mut(&v) {
                        e.1 = f;
                    }
                }
                check(r, Ok(()), &mut m, &before)
            }
        };
        CountingHandler::clear_failure();
        // Whatever the outcome, the table matches the model.
        for (&v, &(p, f)) in &m.pages {
            let size = if m.block_of(v, per).is_some() {
                bsize
            } else {
                PageSize::Size4K
            };
            assert_eq!(
                pt.query(va(v)).unwrap(),
                (pa(p), f, size),
                "page {v:#x} after {op:?} ({ok})"
            );
        }
        for v in [0, per - 1, per, 2 * per + 7, pages - 1] {
            if !m.pages.contains_key(&v) {
                assert_eq!(
                    pt.query(va(v)).err(),
                    Some(PagingError::NotMapped),
                    "{v:#x} after {op:?}"
                );
            }
        }
        // Frames: the root plus one table per root slot holding 4K pages.
        let tables: BTreeSet<usize> = m
            .pages
            .keys()
            .filter(|&&v| m.block_of(v, per).is_none())
            .map(|v| v / per)
            .collect();
        assert_eq!(
            CountingHandler::live_frames(),
            M::ROOT_FRAMES + tables.len(),
            "after {op:?}"
        );
        // Freed tables were preceded by a full flush.
        if CountingHandler::live_frames() < live_before {
            assert!(
                take_flushes().contains(&FlushRecord::All),
                "free without flush after {op:?}"
            );
        }
    }
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0, "leak");
}

/// Compares an outcome; on `NoMemory` (injected) the model is rolled back.
fn check<T: PartialEq + core::fmt::Debug>(
    got: Result<T, PagingError>,
    want: Result<T, PagingError>,
    m: &mut Model,
    before: &Model,
) -> bool {
    if got == Err(PagingError::NoMemory) {
        *m = before.clone();
        return false;
    }
    if want.is_err() {
        *m = before.clone();
    }
    assert_eq!(got, want);
    true
}

fn ops(per: usize, last: usize) -> impl Strategy<Value = Vec<(Op, Option<u8>)>> {
    // Under Miri (~1000x slower) sequences are short; natively up to 30 operations.
    let most = if cfg!(miri) { 6 } else { 30 };
    prop::collection::vec(
        (op(per, last), prop::option::weighted(0.15, 0..3u8)),
        1..most,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_arm_short_descriptors(ops in ops(256, 4095)) {
        run::<A32PagingMetaData, A32PTE>(&ops);
    }

    #[test]
    fn model_sv32(ops in ops(1024, 1023)) {
        run::<Sv32MetaData, Rv32PTE>(&ops);
    }
}

#[test]
fn arm_root_is_16k_aligned_and_sections_work() {
    CountingHandler::reset();
    let mut pt = PageTable32::<A32PagingMetaData, A32PTE, CountingHandler>::try_new().unwrap();
    assert_eq!(pt.root_paddr().as_usize() % 0x4000, 0);
    assert_eq!(CountingHandler::live_frames(), 4);
    let rw = MF::READ | MF::WRITE;
    let mut c = pt.cursor();
    c.map(
        VirtAddr::from_usize(0xc010_0000),
        PhysAddr::from_usize(0x8010_0000),
        PageSize::Size1M,
        rw,
    )
    .unwrap();
    c.map_region(
        VirtAddr::from_usize(0xfff0_0000),
        |v| PhysAddr::from_usize(v.as_usize() - 0x8000_0000),
        0x10_0000,
        rw,
        true,
    )
    .unwrap();
    assert_eq!(
        c.query(VirtAddr::from_usize(0xffff_f123)).unwrap(),
        (PhysAddr::from_usize(0x7fff_f123), rw, PageSize::Size1M)
    );
    c.protect_region(VirtAddr::from_usize(0xc010_0000), 0x1000, MF::READ)
        .unwrap();
    drop(c);
    assert_eq!(
        pt.query(VirtAddr::from_usize(0xc010_0000)).unwrap().2,
        PageSize::Size4K
    );
    assert_eq!(
        pt.query(VirtAddr::from_usize(0xc010_1000)).unwrap(),
        (PhysAddr::from_usize(0x8010_1000), rw, PageSize::Size4K)
    );
    assert_eq!(
        pt.map(
            VirtAddr::from_usize(0x1_0000_0000),
            PhysAddr::from_usize(0),
            PageSize::Size4K,
            rw
        )
        .err(),
        Some(PagingError::InvalidAddress)
    );
    assert_eq!(
        pt.map(
            VirtAddr::from_usize(0),
            PhysAddr::from_usize(0x1_0000_0000),
            PageSize::Size4K,
            rw
        )
        .err(),
        Some(PagingError::InvalidAddress)
    );
    CountingHandler::fail_after(0);
    assert!(PageTable32::<A32PagingMetaData, A32PTE, CountingHandler>::try_new().is_err());
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
}

#[test]
fn sv32_has_no_megapages_here() {
    CountingHandler::reset();
    let mut pt = PageTable32::<Sv32MetaData, Rv32PTE, CountingHandler>::try_new().unwrap();
    let rw = MF::READ | MF::WRITE;
    for size in [PageSize::Size1M, PageSize::Size2M, PageSize::Size1G] {
        assert_eq!(
            pt.map(VirtAddr::from_usize(0), PhysAddr::from_usize(0), size, rw)
                .err(),
            Some(PagingError::InvalidAddress)
        );
    }
    // 34-bit frames are fine on a 64-bit host.
    pt.map(
        VirtAddr::from_usize(0x1000),
        PhysAddr::from_usize(0x3_0000_0000),
        PageSize::Size4K,
        rw,
    )
    .unwrap()
    .flush();
    assert_eq!(
        pt.query(VirtAddr::from_usize(0x1000)).unwrap().0,
        PhysAddr::from_usize(0x3_0000_0000)
    );
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
}
