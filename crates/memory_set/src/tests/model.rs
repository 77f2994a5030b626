//! Property test against a page-granular model: page → (flags, area identity).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use memory_addr::AddrRange;
use proptest::prelude::*;

use super::*;
use crate::OnOverlap;

/// The `update` closure of a protect call.
#[derive(Debug, Clone, Copy)]
pub(super) enum Prot {
    Set(Flags),
    Toggle(Flags),
    /// Change to `.1` only areas with a flag of `.0` set.
    OnlyIf(Flags, Flags),
}

impl Prot {
    fn apply(self, old: Flags) -> Option<Flags> {
        match self {
            Self::Set(new) => Some(new),
            Self::Toggle(bit) => Some(old ^ bit),
            Self::OnlyIf(mask, new) => (old & mask != 0).then_some(new),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Map {
        start: usize,
        size: usize,
        flags: Flags,
        replace: bool,
    },
    Unmap {
        start: usize,
        size: usize,
    },
    Protect {
        start: usize,
        size: usize,
        prot: Prot,
    },
    Find {
        addr: usize,
    },
    FindFree {
        hint: usize,
        size: usize,
        lim: (usize, usize),
        align: usize,
        top_down: bool,
    },
    Clear,
}

/// Mostly page-aligned addresses in a small space (so areas collide), sometimes unaligned
/// or at the very top.
fn addr() -> impl Strategy<Value = usize> {
    let off = prop_oneof![14 => Just(0usize), 1 => Just(0x800), 1 => Just(1)];
    prop_oneof![
        20 => (0..40usize, off).prop_map(|(p, off)| p * PAGE + off),
        1 => Just(usize::MAX - PAGE + 1),
        1 => Just(usize::MAX),
    ]
}

fn size() -> impl Strategy<Value = usize> {
    let off = prop_oneof![14 => Just(0usize), 1 => Just(0x800)];
    prop_oneof![
        20 => (1..7usize, off).prop_map(|(n, off)| n * PAGE + off),
        1 => Just(0),
        1 => Just(usize::MAX),
    ]
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![
        (0..4u8).prop_map(Prot::Set),
        prop_oneof![Just(1u8), Just(2)].prop_map(Prot::Toggle),
        (1..4u8, 0..4u8).prop_map(|(m, f)| Prot::OnlyIf(m, f)),
    ]
}

/// Operations that change the set (used as prefixes by the failure-injection test).
pub(super) fn mutating_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (addr(), size(), 0..4u8, any::<bool>())
            .prop_map(|(start, size, flags, replace)| Op::Map { start, size, flags, replace }),
        2 => (addr(), size()).prop_map(|(start, size)| Op::Unmap { start, size }),
        2 => (addr(), size(), prot()).prop_map(|(start, size, prot)| Op::Protect { start, size, prot }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let align = prop_oneof![
        Just(0usize),
        Just(1),
        Just(3),
        Just(16),
        Just(PAGE),
        Just(2 * PAGE),
        Just(4 * PAGE),
        Just(16 * PAGE),
        Just(1 << 63),
    ];
    let lim_end = prop_oneof![4 => (0..48usize).prop_map(|p| p * PAGE), 1 => Just(usize::MAX)];
    let find_free = (
        addr(),
        size(),
        (0..48usize).prop_map(|p| p * PAGE),
        lim_end,
        align,
        any::<bool>(),
    )
        .prop_map(|(hint, size, ls, le, align, top_down)| Op::FindFree {
            hint,
            size: if size == usize::MAX {
                size
            } else {
                size % (5 * PAGE)
            },
            lim: (ls, le),
            align,
            top_down,
        });
    prop_oneof![
        30 => mutating_op(),
        5 => addr().prop_map(|addr| Op::Find { addr }),
        8 => find_free,
        1 => Just(Op::Clear),
    ]
}

/// Runs a mutating op (or `Clear`) on the set; `tag` numbers the areas.
pub(super) fn apply(set: &mut Set, pt: &mut MockPt, op: &Op, tag: &mut u32) -> MappingResult {
    match *op {
        Op::Map {
            start,
            size,
            flags,
            replace,
        } => {
            *tag += 1;
            let how = if replace {
                OnOverlap::Replace
            } else {
                OnOverlap::Fail
            };
            set.map(area(start, size, flags, *tag), pt, how)
        }
        Op::Unmap { start, size } => set.unmap(va(start), size, pt),
        Op::Protect { start, size, prot } => set.protect(va(start), size, |f| prot.apply(f), pt),
        Op::Clear => set.clear(pt),
        Op::Find { .. } | Op::FindFree { .. } => Ok(()),
    }
}

#[derive(Default)]
struct Model {
    pages: BTreeMap<usize, (Flags, u32)>,
}

fn page_ceil(addr: usize) -> usize {
    addr / PAGE + usize::from(!addr.is_multiple_of(PAGE))
}

impl Model {
    /// The expected result of a mutating op, updating the model on success.
    fn apply(&mut self, op: &Op, tag: u32) -> MappingResult {
        let end_of = |start: usize, size: usize| {
            start
                .checked_add(size)
                .filter(|_| size > 0)
                .ok_or(MappingError::InvalidParam)
        };
        let aligned = |a: usize| a.is_multiple_of(PAGE);
        match *op {
            Op::Map {
                start,
                size,
                flags,
                replace,
            } => {
                let end = end_of(start, size)?;
                let overlap = self
                    .pages
                    .range(start / PAGE..=(end - 1) / PAGE)
                    .next()
                    .is_some();
                if overlap && !replace {
                    return Err(MappingError::AlreadyExists);
                }
                if !aligned(start) || !aligned(size) {
                    return Err(MappingError::InvalidParam);
                }
                for p in start / PAGE..end / PAGE {
                    self.pages.insert(p, (flags, tag));
                }
            }
            Op::Unmap { start, size } => {
                let end = end_of(start, size)?;
                // A boundary strictly inside a mapped page reaches a backend unaligned.
                let cuts_page = |a: usize| !aligned(a) && self.pages.contains_key(&(a / PAGE));
                if cuts_page(start) || cuts_page(end) {
                    return Err(MappingError::InvalidParam);
                }
                let gone: Vec<usize> = self
                    .pages
                    .range(page_ceil(start)..end / PAGE)
                    .map(|(&p, _)| p)
                    .collect();
                for p in gone {
                    self.pages.remove(&p);
                }
            }
            Op::Protect { start, size, prot } => {
                let end = end_of(start, size)?;
                let changes = |a: usize| {
                    self.pages
                        .get(&(a / PAGE))
                        .is_some_and(|&(f, _)| prot.apply(f).is_some_and(|n| n != f))
                };
                if (!aligned(start) && changes(start)) || (!aligned(end) && changes(end)) {
                    return Err(MappingError::InvalidParam);
                }
                for (_, (f, _)) in self.pages.range_mut(page_ceil(start)..end / PAGE) {
                    if let Some(new) = prot.apply(*f) {
                        *f = new;
                    }
                }
            }
            Op::Clear => self.pages.clear(),
            Op::Find { .. } | Op::FindFree { .. } => {}
        }
        Ok(())
    }

    /// Free gaps inside `[lo, hi)`, ascending.
    fn gaps(&self, lo: usize, hi: usize) -> Vec<(usize, usize)> {
        let mut gaps = Vec::new();
        let mut cur = lo;
        for &p in self.pages.keys() {
            let (s, e) = (p * PAGE, p * PAGE + PAGE);
            if s > cur {
                gaps.push((cur, s.min(hi)));
            }
            cur = cur.max(e);
            if cur >= hi {
                break;
            }
        }
        if cur < hi {
            gaps.push((cur, hi));
        }
        gaps.retain(|&(s, e)| s < e);
        gaps
    }

    fn find_free(
        &self,
        hint: usize,
        size: usize,
        lim: (usize, usize),
        align: usize,
        top_down: bool,
    ) -> Option<usize> {
        if size == 0 || !align.is_power_of_two() || lim.0 >= lim.1 {
            return None;
        }
        let gaps = self.gaps(lim.0, lim.1);
        if top_down {
            gaps.iter().rev().find_map(|&(gs, ge)| {
                let c = hint.min(ge.checked_sub(size)?) & !(align - 1);
                (c >= gs).then_some(c)
            })
        } else {
            let lo = hint.max(lim.0);
            for &(gs, ge) in &gaps {
                if ge <= lo {
                    continue;
                }
                let c = gs.max(lo).checked_add(align - 1)? & !(align - 1);
                if c.checked_add(size).is_some_and(|e| e <= ge) {
                    return Some(c);
                }
            }
            None
        }
    }
}

/// The page table seen as page → (flags, area identity).
fn pt_view(pt: &MockPt) -> BTreeMap<usize, (Flags, u32)> {
    pt.pages
        .iter()
        .map(|(&p, e)| (p, (e.flags, e.tag)))
        .collect()
}

proptest! {
    // `PROPTEST_CASES` overrides the default.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)))]

    #[test]
    fn matches_page_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut set = Set::new();
        let mut pt = MockPt::default();
        let mut model = Model::default();
        let mut tag = 0;
        for op in &ops {
            let before = snapshot(&set, &pt);
            let got = apply(&mut set, &mut pt, op, &mut tag);
            let expect = model.apply(op, tag);
            prop_assert_eq!(got, expect, "{:?}", op);
            if got.is_err() {
                prop_assert!(snapshot(&set, &pt) == before, "failed op changed state: {:?}", op);
            }
            check_consistent(&set, &pt);
            prop_assert_eq!(pt_view(&pt), model.pages.clone());
            match *op {
                Op::Find { addr } => {
                    let got = set.find(va(addr)).map(|a| {
                        prop_assert!(a.start() <= va(addr) && va(addr) < a.end());
                        Ok((a.flags(), a.backend().tag))
                    }).transpose()?;
                    let page = addr / PAGE;
                    prop_assert_eq!(got, model.pages.get(&page).copied());
                    let end = addr.saturating_add(PAGE);
                    let r = AddrRange { start: va(addr), end: va(end) };
                    let overlapping =
                        end > addr && model.pages.range(page..=(end - 1) / PAGE).next().is_some();
                    prop_assert_eq!(set.overlaps(r), overlapping);
                    prop_assert_eq!(set.iter_range(r).next().is_some(), set.overlaps(r));
                }
                Op::FindFree { hint, size, lim, align, top_down } => {
                    let limit = AddrRange { start: va(lim.0), end: va(lim.1) };
                    let got = if top_down {
                        set.find_free_area_top_down(va(hint), size, limit, align)
                    } else {
                        set.find_free_area(va(hint), size, limit, align)
                    };
                    let expect = model.find_free(hint, size, lim, align, top_down);
                    prop_assert_eq!(got.map(|a| a.as_usize()), expect, "{:?}", op);
                }
                _ => {}
            }
        }
    }
}
