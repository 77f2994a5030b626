//! Area attributes (DONTFORK, WIPEONFORK, mlock) against a per-page model: random
//! advice, locks, unmaps and remaps over a window of pages; after every step each page's
//! lock state, and what a forked child sees, must match the model.

use alloc::vec::Vec;

use memory_addr::PAGE_SIZE_4K;
use proptest::prelude::*;

use super::*;
use crate::testing::proptest_cases;
use crate::{Advice, MmapFlags};

const P: usize = PAGE_SIZE_4K;
const PAGES: usize = 12;
const ANON: MmapFlags = MmapFlags::PRIVATE
    .union(MmapFlags::ANONYMOUS)
    .union(MmapFlags::FIXED);

#[derive(Debug, Clone, Copy)]
enum Op {
    Advise(Advice),
    Lock,
    Unlock,
    Unmap,
    /// A fresh mapping over the pages (attributes cleared, contents rewritten).
    Remap,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Page {
    mapped: bool,
    dontfork: bool,
    wipe: bool,
    locked: bool,
}

fn op() -> impl Strategy<Value = (Op, usize, usize)> {
    let kind = prop_oneof![
        Just(Op::Advise(Advice::DontFork)),
        Just(Op::Advise(Advice::DoFork)),
        Just(Op::Advise(Advice::WipeOnFork)),
        Just(Op::Advise(Advice::KeepOnFork)),
        Just(Op::Lock),
        Just(Op::Unlock),
        Just(Op::Unmap),
        Just(Op::Remap),
    ];
    (kind, 0..PAGES, 1..=PAGES).prop_map(|(k, lo, n)| (k, lo, n.min(PAGES - lo)))
}

/// Applies `op` to the model, as Linux does: advice reaches every mapped page of the
/// range, locks only the pages before the first hole.
fn model(pages: &mut [Page], op: Op, lo: usize, n: usize) {
    let range = lo..lo + n;
    let prefix = range
        .clone()
        .take_while(|&i| pages[i].mapped)
        .collect::<Vec<_>>();
    match op {
        Op::Lock | Op::Unlock => {
            for i in prefix {
                pages[i].locked = matches!(op, Op::Lock);
            }
        }
        Op::Unmap => range.for_each(|i| pages[i] = Page::default()),
        Op::Remap => range.for_each(|i| {
            pages[i] = Page {
                mapped: true,
                ..Page::default()
            }
        }),
        Op::Advise(adv) => {
            for p in pages[range].iter_mut().filter(|p| p.mapped) {
                match adv {
                    Advice::DontFork => p.dontfork = true,
                    Advice::DoFork => p.dontfork = false,
                    Advice::WipeOnFork => p.wipe = true,
                    _ => p.wipe = false,
                }
            }
        }
    }
}

fn run(ops: &[(Op, usize, usize)]) {
    let mut s = setup();
    let base = s.mmap(
        va(0),
        PAGES * P,
        RW,
        MmapFlags::PRIVATE | MmapFlags::ANONYMOUS,
        None,
        0,
    );
    let base = base.unwrap().as_usize();
    let page = |i: usize| base + i * P;
    let mut pages = [Page {
        mapped: true,
        ..Page::default()
    }; PAGES];
    let fill = |s: &mut Space, i: usize| s.write_bytes(va(page(i)), &[i as u8 + 1]).unwrap();
    (0..PAGES).for_each(|i| fill(&mut s, i));
    for &(op, lo, n) in ops {
        let (at, len) = (va(page(lo)), n * P);
        match op {
            Op::Advise(adv) => drop(s.madvise(at, len, adv)),
            Op::Lock => drop(s.mlock(at, len, false)),
            Op::Unlock => drop(s.munlock(at, len)),
            Op::Unmap => s.munmap(at, len).unwrap(),
            Op::Remap => {
                s.mmap(at, len, RW, ANON, None, 0).unwrap();
                (lo..lo + n).for_each(|i| fill(&mut s, i));
            }
        }
        model(&mut pages, op, lo, n);
        let mut child = s.fork().unwrap();
        for (i, want) in pages.iter().enumerate() {
            let one = VirtAddrRange::from_start_size(va(page(i)), P);
            assert_eq!(
                s.find_area(va(page(i))).is_some(),
                want.mapped,
                "page {i} mapped"
            );
            assert_eq!(
                s.range_locked(one),
                want.locked,
                "page {i} locked after {op:?}"
            );
            let in_child = child.find_area(va(page(i))).is_some();
            assert_eq!(
                in_child,
                want.mapped && !want.dontfork,
                "page {i} in the child"
            );
            if in_child {
                let seen = read(&mut child, page(i), 1)[0];
                let expect = if want.wipe { 0 } else { i as u8 + 1 };
                assert_eq!(seen, expect, "page {i} in the child after {op:?}");
                assert!(!child.range_locked(one), "a child inherits no lock");
            }
            if want.mapped {
                assert_eq!(read(&mut s, page(i), 1)[0], i as u8 + 1, "parent page {i}");
            }
        }
        drop(child);
    }
    drop(s);
    assert_no_leak();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

    #[test]
    fn area_attributes_match_a_per_page_model(ops in prop::collection::vec(op(), 1..24)) {
        run(&ops);
    }
}
