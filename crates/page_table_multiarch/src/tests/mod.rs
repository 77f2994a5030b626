//! Host tests: every paging mode, with the counting handler (leaks, double
//! frees, OOM injection) and recording metadata (flushes).

mod borrowed;
mod bulk;
mod clone;
mod dump;
mod fast;
mod freeing;
mod misc;
mod model;
mod psc;
mod query;
mod region;
mod share;
mod single;

use std::collections::BTreeMap;
use std::vec::Vec;

use memory_addr::{PhysAddr, VirtAddr};

use crate::aarch64::{A64PTE, A64PagingMetaData};
use crate::loongarch64::{LA64MetaData, LA64PTE};
use crate::riscv::{Rv64PTE, Sv39MetaData, Sv48MetaData};
use crate::table::{ENTRIES, get, table_is_empty};
use crate::testing::CountingHandler;
use crate::x86_64::{X64PTE, X64PagingMetaData};
use crate::{GenericPTE, Mapping, MappingFlags, PageTable64, PagingMetaData};

/// A test table of mode `M` with format `PTE`: flushes are recorded
/// (`RecordingMeta`), frames counted (`CountingHandler`), and the
/// paging-structure-cache model checks frees of the tables it watches.
pub(crate) type Pt<M, PTE> = PageTable64<psc::PscMeta<M>, PTE, psc::PscFrames>;

pub(crate) type Sv39 = Pt<Sv39MetaData, Rv64PTE>;
pub(crate) type X64 = Pt<X64PagingMetaData, X64PTE>;

pub(crate) const K4: usize = 0x1000;
pub(crate) const M2: usize = 0x20_0000;
pub(crate) const G1: usize = 0x4000_0000;

pub(crate) const R: MappingFlags = MappingFlags::READ;
pub(crate) const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
pub(crate) const RX: MappingFlags = MappingFlags::READ.union(MappingFlags::EXECUTE);

pub(crate) fn va(x: usize) -> VirtAddr {
    VirtAddr::from_usize(x)
}

pub(crate) fn pa(x: usize) -> PhysAddr {
    PhysAddr::from_usize(x)
}

/// Property-test settings: `default` cases unless the `PROPTEST_CASES`
/// environment variable says otherwise (`make miri` runs few).
pub(crate) fn proptest_config(default: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    }
}

/// Instantiates `$test::<Meta, PTE>()` as one `#[test]` per paging mode.
///
/// Under Miri (~1000x slower) only Sv39 and x86-64 run: the code under test
/// is generic, and those two cover 3 and 4 levels and both PTE families
/// (the model tests still run every mode, and `page_table_entry` tests
/// every format).
#[cfg(miri)]
macro_rules! all_modes {
    ($($test:ident),* $(,)?) => {
        mod sv39 { $( #[test] fn $test() { super::$test::<$crate::riscv::Sv39MetaData, $crate::riscv::Rv64PTE>() } )* }
        mod x64 { $( #[test] fn $test() { super::$test::<$crate::x86_64::X64PagingMetaData, $crate::x86_64::X64PTE>() } )* }
    };
}

/// Instantiates `$test::<Meta, PTE>()` as one `#[test]` per paging mode.
#[cfg(not(miri))]
macro_rules! all_modes {
    ($($test:ident),* $(,)?) => {
        mod sv39 { $( #[test] fn $test() { super::$test::<$crate::riscv::Sv39MetaData, $crate::riscv::Rv64PTE>() } )* }
        mod sv48 { $( #[test] fn $test() { super::$test::<$crate::riscv::Sv48MetaData, $crate::riscv::Rv64PTE>() } )* }
        mod x64 { $( #[test] fn $test() { super::$test::<$crate::x86_64::X64PagingMetaData, $crate::x86_64::X64PTE>() } )* }
        mod a64 { $( #[test] fn $test() { super::$test::<$crate::aarch64::A64PagingMetaData, $crate::aarch64::A64PTE>() } )* }
        mod la64 { $( #[test] fn $test() { super::$test::<$crate::loongarch64::LA64MetaData, $crate::loongarch64::LA64PTE>() } )* }
    };
}
pub(crate) use all_modes;

/// Keeps the unused mode types referenced (they are used through `all_modes!`).
#[allow(dead_code)]
type AllModes = (
    Pt<Sv48MetaData, Rv64PTE>,
    Pt<A64PagingMetaData, A64PTE>,
    Pt<LA64MetaData, LA64PTE>,
);

/// Everything observable about a table: its mappings and the frames it holds.
pub(crate) fn snapshot<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
) -> (Vec<Mapping<VirtAddr>>, usize) {
    (pt.iter().collect(), CountingHandler::live_frames())
}

/// Counts the table frames of `pt` (root included, shared slots too),
/// asserting the structural invariant: tables that are neither the root nor
/// directly below it are never empty.
pub(crate) fn table_frames<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
) -> usize {
    fn walk<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
        table: *mut PTE,
        level: usize,
    ) -> usize {
        let mut n = 1;
        for i in 0..ENTRIES {
            // SAFETY: a live table of the page table under test.
            let e = unsafe { get(table, i) };
            if Pt::<M, PTE>::is_table(&e, level) {
                let child = Pt::<M, PTE>::table_of(e.paddr());
                if level < Pt::<M, PTE>::ROOT {
                    // SAFETY: as above.
                    let empty = unsafe { table_is_empty(child) };
                    assert!(!empty, "empty table below level {level}");
                }
                n += walk::<M, PTE>(child, level - 1);
            }
        }
        n
    }
    walk::<M, PTE>(pt.root_table(), Pt::<M, PTE>::ROOT)
}

/// Checks the invariants and that the handler's live frames are exactly
/// this table's (root + owned tables).
pub(crate) fn check_tables<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    pt: &Pt<M, PTE>,
) {
    assert_eq!(
        table_frames(pt),
        CountingHandler::live_frames(),
        "live frames != table frames"
    );
}

/// A page-granular reference model: page va -> (frame pa, normalized flags).
///
/// `unit` is the page granularity (4K by default; 2M for tests that only
/// use 2M and 1G pages, to keep the model small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Model {
    pub(crate) unit: usize,
    pub(crate) pages: BTreeMap<usize, (usize, MappingFlags)>,
}

impl Default for Model {
    fn default() -> Self {
        Self::with_unit(K4)
    }
}

impl Model {
    pub(crate) fn with_unit(unit: usize) -> Self {
        Self {
            unit,
            pages: BTreeMap::new(),
        }
    }

    pub(crate) fn any_mapped(&self, lo: usize, size: usize) -> bool {
        self.pages.range(lo..=lo + (size - 1)).next().is_some()
    }

    pub(crate) fn map(
        &mut self,
        lo: usize,
        size: usize,
        pa: impl Fn(usize) -> usize,
        flags: MappingFlags,
    ) {
        for off in (0..size).step_by(self.unit) {
            self.pages.insert(lo + off, (pa(lo + off), flags));
        }
    }

    /// Removes the pages in the range; returns how many bytes were mapped.
    pub(crate) fn unmap(&mut self, lo: usize, size: usize) -> usize {
        let keys: Vec<usize> = self
            .pages
            .range(lo..=lo + (size - 1))
            .map(|(&k, _)| k)
            .collect();
        keys.iter().for_each(|k| {
            self.pages.remove(k);
        });
        keys.len() * self.unit
    }

    pub(crate) fn protect(&mut self, lo: usize, size: usize, flags: MappingFlags) {
        for (_, v) in self.pages.range_mut(lo..=lo + (size - 1)) {
            v.1 = flags;
        }
    }

    /// Asserts the table maps exactly the model's pages (every leaf expanded).
    ///
    /// Streams both in address order (`iter` yields the lower half first,
    /// like the model's sorted keys) without building a second map: cheap
    /// enough for Miri.
    pub(crate) fn assert_matches<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
        &self,
        pt: &Pt<M, PTE>,
    ) {
        let mut want = self.pages.iter().map(|(&k, &v)| (k, v));
        let mut diff = Vec::new();
        let mut report = |va: usize, got: Option<(usize, MappingFlags)>, model| {
            if diff.len() < 8 {
                diff.push((va, got, model));
            }
        };
        let mut next = want.next();
        for m in pt.iter() {
            assert!(
                m.size as usize >= self.unit,
                "leaf smaller than the model unit: {m:x?}"
            );
            for off in (0..m.size as usize).step_by(self.unit) {
                let (va, got) = (
                    m.vaddr.as_usize() + off,
                    (m.paddr.as_usize() + off, m.flags),
                );
                // Model pages before this one are missing from the table.
                while let Some((k, v)) = next.filter(|&(k, _)| k < va) {
                    report(k, None, Some(v));
                    next = want.next();
                }
                match next {
                    Some((k, v)) if k == va => {
                        if v != got {
                            report(va, Some(got), Some(v));
                        }
                        next = want.next();
                    }
                    _ => report(va, Some(got), None),
                }
            }
        }
        while let Some((k, v)) = next {
            report(k, None, Some(v));
            next = want.next();
        }
        assert!(
            diff.is_empty(),
            "table != model; first differences (va, table, model): {diff:x?}"
        );
    }

    /// Asserts `query` agrees with the model at `va` (with a byte offset).
    pub(crate) fn assert_query<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
        &self,
        pt: &Pt<M, PTE>,
        va: usize,
    ) {
        let page = va & !(self.unit - 1);
        let got = pt
            .query(VirtAddr::from_usize(va + 0x123))
            .map(|(p, f, _)| (p.as_usize(), f));
        match self.pages.get(&page) {
            Some(&(p, f)) => assert_eq!(got, Ok((p + 0x123, f)), "query {va:#x}"),
            None => assert_eq!(got, Err(crate::PagingError::NotMapped), "query {va:#x}"),
        }
    }
}
