//! `clone_range_into`'s raw-bits leaf loop against a reference built from
//! the `GenericPTE` methods, over random leaf tables: `f` is called once
//! per leaf in address order, both tables' entries are exactly what
//! `set_flags`/`new_page` give, and the flushes are the changed source
//! pages.

use std::cell::RefCell;

use memory_addr::VirtAddr;

use super::*;
use crate::testing::take_flushes;
use crate::{FLUSH_BATCH_PAGES, PageSize};

/// xorshift64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FLAGS: [MappingFlags; 7] = [
    R,
    RW,
    RX,
    R.union(MappingFlags::USER),
    RW.union(MappingFlags::USER),
    MappingFlags::empty(),
    RW.union(MappingFlags::COW),
];

/// `f`'s answer: copy-on-write mostly, and now and then a different answer
/// for the same flags (so the loop must notice answers change).
fn answer(v: VirtAddr, flags: MappingFlags) -> (MappingFlags, MappingFlags) {
    if (v.as_usize() >> 12).wrapping_mul(0x9e37_79b9) >> 7 & 7 == 0 {
        (flags, flags | MappingFlags::USER)
    } else {
        super::share::cow(v, pa(0), PageSize::Size4K, flags)
    }
}

/// Raw bits and level of the leaf at `v`.
fn raw<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
    v: usize,
) -> (usize, usize) {
    let t = Pt::<M, PTE>::check_va(v).unwrap();
    // SAFETY: `t` is checked.
    let leaf = unsafe { pt.find(t) }.unwrap_or_else(|_| panic!("no leaf at {v:#x}"));
    // SAFETY: just found.
    (unsafe { get(leaf.table, leaf.idx) }.bits(), leaf.level)
}

/// Source pages of a case: four leaf tables (a fraction of one under Miri,
/// which is ~1000x slower).
const PAGES: usize = if cfg!(miri) { 128 } else { 4 * 512 };

fn one_case<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(rng: &mut Rng) {
    CountingHandler::reset();
    take_flushes();
    let mut src = Pt::<M, PTE>::try_new().unwrap();
    let mut dst = Pt::<M, PTE>::try_new().unwrap();
    let base = G1;
    // `PAGES` 4K pages (four leaf tables): runs of one pattern, two alternating
    // patterns, or random flags; then maybe a 2M page.
    let fill = 1 + rng.below(4);
    let mode = rng.below(3);
    let (mut a, b) = (FLAGS[rng.below(7)], FLAGS[rng.below(7)]);
    for i in 0..PAGES {
        let flags = match mode {
            0 => {
                if rng.below(32) == 0 {
                    a = FLAGS[rng.below(7)];
                }
                a
            }
            1 => [a, b][i % 2],
            _ => FLAGS[rng.below(7)],
        };
        if rng.below(4) < fill {
            let v = base + i * K4;
            src.map(va(v), pa(0x10_0000 + i * 3 * K4), PageSize::Size4K, flags)
                .unwrap()
                .ignore();
        }
    }
    let huge = rng.below(2) == 0;
    if huge {
        src.map(va(base + 4 * M2), pa(0x4000_0000), PageSize::Size2M, RW)
            .unwrap()
            .ignore();
    }
    let lo = base + rng.below(PAGES / 4) * K4;
    let hi = if huge {
        base + 5 * M2
    } else {
        base + PAGES * K4 - rng.below(PAGES / 4) * K4
    };
    // The reference.
    let before: Vec<(Mapping<VirtAddr>, (usize, usize))> = src
        .iter()
        .map(|m| (m, raw(&src, m.vaddr.as_usize())))
        .collect();
    let inside = |m: &Mapping<VirtAddr>| (lo..hi).contains(&m.vaddr.as_usize());
    let mut want_calls = Vec::new();
    let mut want_flushes = Vec::new();
    let mut want_src = Vec::new();
    let mut want_dst = Vec::new();
    for &(m, (bits, level)) in &before {
        if !inside(&m) {
            want_src.push((m.vaddr, bits, level));
            continue;
        }
        let (sf, df) = answer(m.vaddr, m.flags);
        let is_huge = level > 0;
        let mut e = PTE::new_page(m.paddr, m.flags, is_huge);
        assert_eq!(e.bits(), bits);
        e.set_flags(sf, is_huge);
        want_calls.push(m);
        if e.bits() != bits {
            want_flushes.push(m.vaddr);
        }
        want_src.push((m.vaddr, e.bits(), level));
        let d = PTE::new_page(m.paddr, df, is_huge).bits();
        want_dst.push((m.vaddr, d, level));
    }
    // The real thing.
    let calls = RefCell::new(Vec::new());
    let batch = src
        .clone_range_into(&mut dst, va(lo), hi - lo, |v, p, size, flags| {
            calls.borrow_mut().push(Mapping {
                vaddr: v,
                paddr: p,
                size,
                flags,
            });
            answer(v, flags)
        })
        .unwrap();
    assert_eq!(calls.take(), want_calls, "calls of f");
    if want_flushes.len() > FLUSH_BATCH_PAGES {
        assert!(batch.is_full_flush());
    } else {
        assert_eq!(batch.pages().collect::<Vec<_>>(), want_flushes);
    }
    batch.ignore();
    let got_src: Vec<_> = src
        .iter()
        .map(|m| {
            let (bits, level) = raw(&src, m.vaddr.as_usize());
            (m.vaddr, bits, level)
        })
        .collect();
    assert_eq!(got_src, want_src, "src entries");
    let got_dst: Vec<_> = dst
        .iter()
        .map(|m| {
            let (bits, level) = raw(&dst, m.vaddr.as_usize());
            (m.vaddr, bits, level)
        })
        .collect();
    assert_eq!(got_dst, want_dst, "dst entries");
    assert_eq!(
        table_frames(&src) + table_frames(&dst),
        CountingHandler::live_frames()
    );
}

fn fast_loop_matches_reference<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..if cfg!(miri) { 2 } else { 12 } {
        one_case::<M, PTE>(&mut rng);
    }
}

all_modes!(fast_loop_matches_reference);
