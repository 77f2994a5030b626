//! `MemorySet` operation sequences against a page-granular model, with injected backend
//! failures: after every operation the set's invariants hold (including the gap index equal
//! to a brute-force recomputation), the page table equals the model, a failed operation
//! changed nothing, and both free-area searches equal a linear scan of the areas.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use memory_addr::{AddrRange, VirtAddr};
use memory_set::{MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet, OnOverlap};

const P: usize = 0x1000;
/// Pages of the fuzzed space (small, so areas collide); a few addresses sit at the top.
const PAGES: usize = 256;

/// Page number → (flags, area tag).
type Pages = BTreeMap<usize, (u8, u32)>;

/// The page table the backend writes, plus failure injection.
#[derive(Default)]
struct Pt {
    pages: Pages,
    calls: usize,
    fail_at: Option<usize>,
}

impl Pt {
    fn tick(&mut self) -> MappingResult {
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            return Err(MappingError::NoMemory);
        }
        Ok(())
    }
}

/// A backend that maps page-granular ranges (else `InvalidParam`) and remembers its tag.
struct Backend(u32);

fn pages(start: VirtAddr, size: usize) -> MappingResult<std::ops::Range<usize>> {
    let s = start.as_usize();
    if s % P != 0 || size % P != 0 || size == 0 {
        return Err(MappingError::InvalidParam);
    }
    Ok(s / P..s / P + size / P)
}

impl MappingBackend for Backend {
    type Addr = VirtAddr;
    type Flags = u8;
    type PageTable = Pt;

    fn map(&mut self, start: VirtAddr, size: usize, flags: u8, pt: &mut Pt) -> MappingResult {
        let r = pages(start, size)?;
        assert!(
            pt.pages.range(r.clone()).next().is_none(),
            "map over mapped pages"
        );
        pt.tick()?;
        pt.pages.extend(r.map(|p| (p, (flags, self.0))));
        Ok(())
    }

    fn unmap(&mut self, start: VirtAddr, size: usize, pt: &mut Pt) -> MappingResult {
        let r = pages(start, size)?;
        for p in r.clone() {
            assert_eq!(
                pt.pages.get(&p).map(|e| e.1),
                Some(self.0),
                "unmap of a foreign page"
            );
        }
        pt.tick()?;
        r.for_each(|p| {
            pt.pages.remove(&p);
        });
        Ok(())
    }

    fn protect(&mut self, start: VirtAddr, size: usize, flags: u8, pt: &mut Pt) -> MappingResult {
        let r = pages(start, size)?;
        pt.tick()?;
        for p in r {
            let e = pt.pages.get_mut(&p).expect("protect of an unmapped page");
            assert_eq!(e.1, self.0, "protect of a foreign page");
            e.0 = flags;
        }
        Ok(())
    }

    fn split(&mut self, _start: VirtAddr, _at: VirtAddr) -> Self {
        Backend(self.0)
    }
    fn shrink_front(&mut self, _old_start: VirtAddr, _new_start: VirtAddr) {}
    fn shrink_back(&mut self, _start: VirtAddr, _new_end: VirtAddr) {}
}

type Set = MemorySet<Backend>;

#[derive(Arbitrary, Debug)]
enum Op {
    Map {
        page: u16,
        pages: u8,
        flags: u8,
        replace: bool,
        fail: u8,
    },
    Unmap {
        page: u16,
        pages: u16,
        fail: u8,
    },
    Protect {
        page: u16,
        pages: u16,
        flags: u8,
        fail: u8,
    },
    Clear {
        fail: u8,
    },
    Find {
        hint: Addr,
        size: Addr,
        lo: Addr,
        hi: Addr,
        align: u8,
        top_down: bool,
    },
}

/// An address: a page of the space, an arbitrary byte in it, or one near the top.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Page(u16),
    Byte(u32),
    Top(u16),
}

impl Addr {
    fn get(self) -> usize {
        match self {
            Addr::Page(p) => (p as usize % (PAGES + 8)) * P,
            Addr::Byte(b) => b as usize % ((PAGES + 8) * P),
            Addr::Top(t) => usize::MAX - t as usize,
        }
    }
}

/// The model: the error a mutating op must return (without injected failures), and on
/// success what the page table becomes, following the set's documented semantics.
fn expect(model: &Pages, op: &Op) -> Result<(), MappingError> {
    match *op {
        Op::Map {
            page,
            pages,
            replace,
            ..
        } => {
            let (s, n) = (page as usize % PAGES, pages as usize % 16 + 1);
            if !replace && model.range(s..s + n).next().is_some() {
                return Err(MappingError::AlreadyExists);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn model_apply(model: &mut Pages, op: &Op, tag: u32) {
    match *op {
        Op::Map {
            page, pages, flags, ..
        } => {
            let (s, n) = (page as usize % PAGES, pages as usize % 16 + 1);
            model.extend((s..s + n).map(|p| (p, (flags % 4, tag))));
        }
        Op::Unmap { page, pages, .. } => {
            let (s, n) = (page as usize % PAGES, pages as usize % (PAGES + 1) + 1);
            model.retain(|&p, _| p < s || p >= s + n);
        }
        Op::Protect {
            page, pages, flags, ..
        } => {
            let (s, n) = (page as usize % PAGES, pages as usize % 64 + 1);
            model.range_mut(s..s + n).for_each(|(_, e)| e.0 = flags % 4);
        }
        Op::Clear { .. } => model.clear(),
        Op::Find { .. } => {}
    }
}


fn layout(set: &Set) -> Vec<(usize, usize, u8, u32)> {
    set.iter()
        .map(|a| (a.start().as_usize(), a.size(), a.flags(), a.backend().0))
        .collect()
}

fn run(set: &mut Set, pt: &mut Pt, op: &Op, tag: u32) -> MappingResult {
    // One op in eight with an injected failure of one of its first four backend calls.
    let fail = |calls: usize, f: u8| (f < 32).then(|| calls + 1 + f as usize % 4);
    match *op {
        Op::Map {
            page,
            pages,
            flags,
            replace,
            fail: f,
        } => {
            pt.fail_at = fail(pt.calls, f);
            let (s, n) = (page as usize % PAGES, pages as usize % 16 + 1);
            let how = if replace {
                OnOverlap::Replace
            } else {
                OnOverlap::Fail
            };
            let area = MemoryArea::new(VirtAddr::from(s * P), n * P, flags % 4, Backend(tag));
            set.map(area, pt, how)
        }
        Op::Unmap {
            page,
            pages,
            fail: f,
        } => {
            pt.fail_at = fail(pt.calls, f);
            let n = pages as usize % (PAGES + 1) + 1;
            set.unmap(VirtAddr::from(page as usize % PAGES * P), n * P, pt)
        }
        Op::Protect {
            page,
            pages,
            flags,
            fail: f,
        } => {
            pt.fail_at = fail(pt.calls, f);
            let n = pages as usize % 64 + 1;
            let start = VirtAddr::from(page as usize % PAGES * P);
            set.protect(
                start,
                n * P,
                |old| (old != flags % 4).then_some(flags % 4),
                pt,
            )
        }
        Op::Clear { fail: f } => {
            pt.fail_at = fail(pt.calls, f);
            set.clear(pt)
        }
        Op::Find { .. } => Ok(()),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut set = Set::new();
    let mut pt = Pt::default();
    // The model: what the page table must hold (page → flags, tag).
    let mut model = Pages::new();
    for (i, op) in ops.iter().take(64).enumerate() {
        if let Op::Find {
            hint,
            size,
            lo,
            hi,
            align,
            top_down,
        } = *op
        {
            let (hint, size, l) = (hint.get(), size.get(), (lo.get(), hi.get()));
            let align = 1usize.checked_shl(u32::from(align % 66)).unwrap_or(0);
            let limit = AddrRange {
                start: VirtAddr::from(l.0),
                end: VirtAddr::from(l.1),
            };
            let got = if top_down {
                set.find_free_area_top_down(VirtAddr::from(hint), size, limit, align)
            } else {
                set.find_free_area(VirtAddr::from(hint), size, limit, align)
            };
            let want = if top_down {
                set.scan_free_area(hint, size, l, align, true)
            } else {
                set.scan_free_area(hint, size, l, align, false)
            };
            assert_eq!(got.map(VirtAddr::as_usize), want, "{op:?}");
            if let Some(x) = got.map(VirtAddr::as_usize) {
                let r = AddrRange {
                    start: VirtAddr::from(x),
                    end: VirtAddr::from(x + size),
                };
                assert!(!set.overlaps(r) && x % align == 0 && x + size <= l.1);
            }
            continue;
        }
        let before = (layout(&set), pt.pages.clone());
        let expected = expect(&model, op);
        let got = run(&mut set, &mut pt, op, i as u32);
        let injected = pt.fail_at.take().is_some_and(|k| k <= pt.calls);
        match got {
            Ok(()) => {
                assert_eq!(expected, Ok(()), "{op:?}");
                model_apply(&mut model, op, i as u32);
            }
            Err(MappingError::NoMemory) => assert!(injected, "{op:?}"),
            Err(e) => assert_eq!(Err(e), expected, "{op:?}"),
        }
        if got.is_err() {
            assert!(
                (layout(&set), pt.pages.clone()) == before,
                "failed op changed state: {op:?}"
            );
        }
        assert!(
            model == pt.pages,
            "page table differs from the model after {op:?}"
        );
        set.check_invariants();
        // Areas and page table agree page by page.
        let mut from_areas = Pages::new();
        for a in set.iter() {
            let s = a.start().as_usize() / P;
            from_areas.extend((s..s + a.size() / P).map(|p| (p, (a.flags(), a.backend().0))));
        }
        assert!(
            from_areas == pt.pages,
            "areas and page table differ after {op:?}"
        );
    }
});
