//! A consumer written for arceos memory_set 0.4.1 + page_table_multiarch
//! 0.6.2 (the linear backend of a guest address space), after the one-line
//! edits of the README's migration section, compiles and works here.

use memory_addr::{PhysAddr, VirtAddr, va, va_range};
use memory_set::{MappingBackend, MappingError, MappingResult, MemoryArea, MemorySet, OnOverlap};
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::x86_64::X64PageTable;
use page_table_multiarch::{MappingFlags, PageSize, PagingError};

type PageTable = X64PageTable<CountingHandler>;

/// Maps `[start, start + size)` to `start - offset` (0.4.1: `Clone`, `&self`).
#[derive(Clone)]
struct Linear {
    pa_va_offset: usize,
}

impl MappingBackend for Linear {
    type Addr = VirtAddr;
    type Flags = MappingFlags;
    type PageTable = PageTable;

    // Edit 1: `&self` → `&mut self`, `bool` → `MappingResult`.
    fn map(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        pt: &mut PageTable,
    ) -> MappingResult {
        let off = self.pa_va_offset;
        pt.cursor()
            .map_region(
                start,
                |va| PhysAddr::from(va.as_usize() - off),
                size,
                flags,
                false,
            )
            .map_err(|_| MappingError::BadState)
    }

    fn unmap(&mut self, start: VirtAddr, size: usize, pt: &mut PageTable) -> MappingResult {
        pt.cursor()
            .unmap_region(start, size)
            .map_err(|_| MappingError::BadState)
    }

    fn protect(
        &mut self,
        start: VirtAddr,
        size: usize,
        flags: MappingFlags,
        pt: &mut PageTable,
    ) -> MappingResult {
        pt.cursor()
            .protect_region(start, size, flags)
            .map_err(|_| MappingError::BadState)
    }

    // Edit 2: the split hooks (a stateless backend clones itself).
    fn split(&mut self, _start: VirtAddr, _at: VirtAddr) -> Self {
        self.clone()
    }
    fn shrink_front(&mut self, _old: VirtAddr, _new: VirtAddr) {}
    fn shrink_back(&mut self, _start: VirtAddr, _new_end: VirtAddr) {}
}

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const OFF: usize = 0x1000_0000;

fn area(start: usize, size: usize, flags: MappingFlags) -> MemoryArea<Linear> {
    MemoryArea::new(va!(start), size, flags, Linear { pa_va_offset: OFF })
}

#[derive(Debug)]
#[allow(dead_code)] // the fields are read by `Debug` when a test fails
enum Error {
    Paging(PagingError),
    Mapping(MappingError),
}

impl From<PagingError> for Error {
    fn from(e: PagingError) -> Self {
        Self::Paging(e)
    }
}

impl From<MappingError> for Error {
    fn from(e: MappingError) -> Self {
        Self::Mapping(e)
    }
}

#[test]
fn guest_address_space_lifecycle() -> Result<(), Error> {
    CountingHandler::reset();
    let mut pt = PageTable::try_new()?;
    let mut set = MemorySet::<Linear>::new();
    let limit = va_range!(0x1000_0000..0x2000_0000);

    // Edit 3: `map(area, pt, false)` → `OnOverlap::Fail`, `true` → `Replace`.
    set.map(area(0x1000_0000, 0x4000, RW), &mut pt, OnOverlap::Fail)?;
    set.map(
        area(0x1000_8000, 0x2000, MappingFlags::READ),
        &mut pt,
        OnOverlap::Fail,
    )?;
    assert_eq!(
        set.map(area(0x1000_3000, 0x1000, RW), &mut pt, OnOverlap::Fail),
        Err(MappingError::AlreadyExists)
    );
    assert_eq!(set.len(), 2);

    let (pa, flags, size) = pt.query(va!(0x1000_1234))?;
    assert_eq!(
        (pa, flags, size),
        (PhysAddr::from(0x1234), RW, PageSize::Size4K)
    );

    // find_free_area: the first gap of 0x3000 above the hint.
    let free = set.find_free_area(va!(0x1000_0000), 0x3000, limit, 0x1000);
    assert_eq!(free, Some(va!(0x1000_4000)));
    set.map(area(0x1000_4000, 0x3000, RW), &mut pt, OnOverlap::Fail)?;
    assert_eq!(
        set.find_free_area(va!(0x1000_0000), 0x2000, limit, 0x1000),
        Some(va!(0x1000_a000))
    );

    // protect the middle of an area: it is split, flags follow.
    set.protect(
        va!(0x1000_1000),
        0x1000,
        |_| Some(MappingFlags::READ),
        &mut pt,
    )?;
    assert_eq!(pt.query(va!(0x1000_1000))?.1, MappingFlags::READ);
    assert_eq!(pt.query(va!(0x1000_2000))?.1, RW);
    assert_eq!(
        set.find(va!(0x1000_1800)).unwrap().flags(),
        MappingFlags::READ
    );

    // unmap across two areas.
    set.unmap(va!(0x1000_3000), 0x2000, &mut pt)?;
    assert_eq!(pt.query(va!(0x1000_3000)), Err(PagingError::NotMapped));
    assert!(pt.query(va!(0x1000_5000)).is_ok());

    // Replace an overlapping range.
    set.map(area(0x1000_8000, 0x1000, RW), &mut pt, OnOverlap::Replace)?;
    assert_eq!(pt.query(va!(0x1000_8000))?.1, RW);

    // MemoryArea accessors (const fn as in 0.4.1).
    let a = set.find(va!(0x1000_0000)).unwrap();
    assert_eq!(
        (a.start(), a.end(), a.size()),
        (va!(0x1000_0000), va!(0x1000_1000), 0x1000)
    );
    assert_eq!(a.va_range(), va_range!(0x1000_0000..0x1000_1000));
    assert_eq!(a.backend().pa_va_offset, OFF);

    // Edit 4: size 0 is `InvalidParam` (0.4.1 accepted it).
    assert_eq!(
        set.unmap(va!(0x1000_0000), 0, &mut pt),
        Err(MappingError::InvalidParam)
    );
    // Edit 5: `NoMemory` exists (exhaustive matches need an arm).
    assert!(matches!(
        MappingError::NoMemory,
        MappingError::InvalidParam
            | MappingError::AlreadyExists
            | MappingError::BadState
            | MappingError::NoMemory
    ));

    set.clear(&mut pt)?;
    assert!(set.is_empty());
    drop(pt);
    assert_eq!(CountingHandler::live_frames(), 0);
    Ok(())
}

/// Feature `axerrno`: `?` into axerrno's error, as with 0.4.1 / 0.6.2.
#[cfg(feature = "axerrno")]
#[test]
fn errors_convert_to_axerrno() {
    use axerrno::{AxError, AxErrorKind, AxResult};
    fn consumer(set: &mut MemorySet<Linear>, pt: &mut PageTable) -> AxResult {
        set.map(area(0x1000_0000, 0, RW), pt, OnOverlap::Fail)?;
        Ok(())
    }
    CountingHandler::reset();
    let mut pt = PageTable::try_new().unwrap();
    let r = consumer(&mut MemorySet::new(), &mut pt);
    assert_eq!(r, Err(AxError::from(AxErrorKind::InvalidInput)));
    assert_eq!(
        AxErrorKind::from(MappingError::NoMemory),
        AxErrorKind::NoMemory
    );
    assert_eq!(
        AxErrorKind::from(MappingError::BadState),
        AxErrorKind::BadState
    );
    assert_eq!(
        AxErrorKind::from(MappingError::AlreadyExists),
        AxErrorKind::AlreadyExists
    );
    assert_eq!(
        AxErrorKind::from(PagingError::NoMemory),
        AxErrorKind::NoMemory
    );
}
