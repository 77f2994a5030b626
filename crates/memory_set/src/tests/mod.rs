//! Host tests: a mock backend with per-page state over a mock page table.

mod fail;
mod find_free;
mod gaps;
mod model;
mod unit;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use memory_addr::VirtAddr;

use crate::{MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet};

pub(crate) const PAGE: usize = 0x1000;

/// Area flags in the tests.
pub(crate) type Flags = u8;

/// One mapped page of the mock page table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub flags: Flags,
    /// Identity of the area (the mapping call) that mapped the page.
    pub tag: u32,
    /// The "frame": what the backend's per-page state must hold for this page.
    pub cookie: u64,
}

/// A page table: page number → entry, plus failure injection.
#[derive(Debug, Default)]
pub(crate) struct MockPt {
    pub pages: BTreeMap<usize, Entry>,
    /// Fallible backend calls made so far.
    pub calls: usize,
    /// Call numbers (1-based, counted in `calls`) that fail with `NoMemory`.
    pub fail_at: BTreeSet<usize>,
}

impl MockPt {
    /// Counts a call and tells whether it is injected to fail.
    fn tick(&mut self) -> MappingResult {
        self.calls += 1;
        if self.fail_at.contains(&self.calls) {
            Err(MappingError::NoMemory)
        } else {
            Ok(())
        }
    }
}

pub(crate) fn cookie(tag: u32, page: usize) -> u64 {
    (u64::from(tag) << 40) ^ page as u64
}

/// A backend that keeps one "frame" per page, like `Vec<Option<Frame>>` of a real one.
#[derive(Debug)]
pub(crate) struct MockBackend {
    pub tag: u32,
    /// The start of the area this backend covers.
    pub base: usize,
    /// One slot per page of the area: the cookie while mapped.
    pub frames: Vec<Option<u64>>,
}

impl MockBackend {
    /// Checks the call is page-granular (else `InvalidParam`, as a real page table would) and
    /// inside this backend's area (else the set is buggy). Returns the slot and page ranges.
    fn slots(&self, start: VirtAddr, size: usize) -> MappingResult<(usize, usize)> {
        let start = start.as_usize();
        if !start.is_multiple_of(PAGE) || !size.is_multiple_of(PAGE) || size == 0 {
            return Err(MappingError::InvalidParam);
        }
        assert!(start >= self.base, "call below the backend's area");
        let first = (start - self.base) / PAGE;
        assert!(
            first + size / PAGE <= self.frames.len(),
            "call past the backend's area"
        );
        Ok((first, start / PAGE))
    }
}

impl MappingBackend for MockBackend {
    type Addr = VirtAddr;
    type Flags = Flags;
    type PageTable = MockPt;

    fn map(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPt,
    ) -> MappingResult {
        let (slot, page) = self.slots(start, size)?;
        let n = size / PAGE;
        if (page..page + n).any(|p| pt.pages.contains_key(&p)) {
            return Err(MappingError::AlreadyExists);
        }
        pt.tick()?;
        for i in 0..n {
            assert!(self.frames[slot + i].is_none(), "backend slot mapped twice");
            let cookie = cookie(self.tag, page + i);
            self.frames[slot + i] = Some(cookie);
            let entry = Entry {
                flags,
                tag: self.tag,
                cookie,
            };
            pt.pages.insert(page + i, entry);
        }
        Ok(())
    }

    fn unmap(&mut self, start: VirtAddr, size: usize, pt: &mut MockPt) -> MappingResult {
        let (slot, page) = self.slots(start, size)?;
        let n = size / PAGE;
        for i in 0..n {
            let entry = pt
                .pages
                .get(&(page + i))
                .expect("unmap of an unmapped page");
            assert_eq!(entry.tag, self.tag, "unmap of another area's page");
            assert_eq!(
                self.frames[slot + i],
                Some(entry.cookie),
                "backend state out of sync"
            );
        }
        pt.tick()?;
        for i in 0..n {
            pt.pages.remove(&(page + i));
            self.frames[slot + i] = None;
        }
        Ok(())
    }

    fn protect(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: Flags,
        pt: &mut MockPt,
    ) -> MappingResult {
        let (_, page) = self.slots(start, size)?;
        for p in page..page + size / PAGE {
            let entry = pt.pages.get(&p).expect("protect of an unmapped page");
            assert_eq!(entry.tag, self.tag, "protect of another area's page");
        }
        pt.tick()?;
        for p in page..page + size / PAGE {
            if let Some(entry) = pt.pages.get_mut(&p) {
                entry.flags = flags;
            }
        }
        Ok(())
    }

    fn split(&mut self, start: VirtAddr, at: VirtAddr) -> Self {
        assert_eq!(start.as_usize(), self.base, "split: wrong start");
        let at = at.as_usize();
        assert!(
            at > self.base && (at - self.base).is_multiple_of(PAGE),
            "split: bad point"
        );
        let frames = self.frames.split_off((at - self.base) / PAGE);
        assert!(!frames.is_empty(), "split past the end");
        Self {
            tag: self.tag,
            base: at,
            frames,
        }
    }

    fn shrink_front(&mut self, old_start: VirtAddr, new_start: VirtAddr) {
        assert_eq!(old_start.as_usize(), self.base, "shrink_front: wrong start");
        let cut = (new_start.as_usize() - self.base) / PAGE;
        assert!(
            cut > 0 && cut < self.frames.len(),
            "shrink_front: bad point"
        );
        assert!(
            self.frames[..cut].iter().all(Option::is_none),
            "dropped mapped pages"
        );
        self.frames.drain(..cut);
        self.base = new_start.as_usize();
    }

    fn shrink_back(&mut self, start: VirtAddr, new_end: VirtAddr) {
        assert_eq!(start.as_usize(), self.base, "shrink_back: wrong start");
        let keep = (new_end.as_usize() - self.base) / PAGE;
        assert!(
            keep > 0 && keep < self.frames.len(),
            "shrink_back: bad point"
        );
        assert!(
            self.frames[keep..].iter().all(Option::is_none),
            "dropped mapped pages"
        );
        self.frames.truncate(keep);
    }
}

/// Creates an (unmapped) area with a fresh backend.
pub(crate) fn area(start: usize, size: usize, flags: Flags, tag: u32) -> MemoryArea<MockBackend> {
    // Capped so that absurd sizes (rejected by the set before any backend call) stay cheap.
    let frames = alloc::vec![None; (size / PAGE).min(1 << 16)];
    let backend = MockBackend {
        tag,
        base: start,
        frames,
    };
    MemoryArea::new(VirtAddr::from(start), size, flags, backend)
}

pub(crate) type Set = MemorySet<MockBackend>;

/// What one area looks like, for comparing whole states.
pub(crate) type AreaSnap = (usize, usize, Flags, u32, usize, Vec<Option<u64>>);

/// The set's areas and the page table's pages.
pub(crate) fn snapshot(set: &Set, pt: &MockPt) -> (Vec<AreaSnap>, BTreeMap<usize, Entry>) {
    let areas = set
        .iter()
        .map(|a| {
            let b = a.backend();
            (
                a.start().as_usize(),
                a.size(),
                a.flags(),
                b.tag,
                b.base,
                b.frames.clone(),
            )
        })
        .collect();
    (areas, pt.pages.clone())
}

/// Checks the set, the backends' per-page state and the page table agree.
pub(crate) fn check_consistent(set: &Set, pt: &MockPt) {
    set.check_invariants();
    let mut pages = 0;
    for a in set.iter() {
        let b = a.backend();
        let start = a.start().as_usize();
        assert_eq!(b.base, start, "backend base does not follow the area");
        assert_eq!(start % PAGE, 0);
        assert_eq!(
            b.frames.len() * PAGE,
            a.size(),
            "backend state does not follow the area"
        );
        for (i, frame) in b.frames.iter().enumerate() {
            let page = start / PAGE + i;
            let expect = Entry {
                flags: a.flags(),
                tag: b.tag,
                cookie: cookie(b.tag, page),
            };
            assert_eq!(pt.pages.get(&page), Some(&expect), "page {page:#x}");
            assert_eq!(
                *frame,
                Some(expect.cookie),
                "backend frame of page {page:#x}"
            );
        }
        pages += b.frames.len();
    }
    assert_eq!(
        pages,
        pt.pages.len(),
        "page table maps pages outside the areas"
    );
}

/// The `(start, end, flags, tag)` of every area.
pub(crate) fn layout(set: &Set) -> Vec<(usize, usize, Flags, u32)> {
    set.iter()
        .map(|a| {
            (
                a.start().as_usize(),
                a.end().as_usize(),
                a.flags(),
                a.backend().tag,
            )
        })
        .collect()
}

pub(crate) fn va(addr: usize) -> VirtAddr {
    VirtAddr::from(addr)
}
