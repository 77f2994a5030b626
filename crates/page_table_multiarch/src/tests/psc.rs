//! A paging-structure-cache model: no table frame may be freed while a CPU
//! may still hold it in a TLB or paging-structure cache.
//!
//! Every test table uses [`PscMeta`] (flushes still go to `RecordingMeta`)
//! and [`PscFrames`] (frames still come from `CountingHandler`), which call
//! back here. For the page tables a test [`watch`]es, the model samples the
//! table frames reachable from their roots at every full flush, allocation
//! and deallocation, and whenever a test calls [`observe`] (a CPU may cache
//! any reachable table at any time and keeps it after it is unlinked). A
//! full flush forgets everything but what is reachable at that moment.
//! Freeing a frame that is still linked, or that may still be cached, is a
//! violation; violations are collected (a panic inside the page table would
//! unwind through its destructors) and make [`take_events`] and [`unwatch`]
//! panic. The events are logged in order for [`take_events`].

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::vec::Vec;

use memory_addr::{PhysAddr, VirtAddr};

use crate::table::{ENTRIES, get};
use crate::testing::{CountingHandler, RecordingMeta};
use crate::{GenericPTE, PageTable64, PagingHandler, PagingMetaData};

/// What the model saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// `flush_tlb(None)`.
    FlushAll,
    /// `flush_tlb(Some(va))`.
    FlushPage(usize),
    /// An allocation attempt and its frame.
    Alloc(Option<usize>),
    /// A frame was freed.
    Dealloc(usize),
}

type Walker = fn(PhysAddr) -> BTreeSet<usize>;

#[derive(Default)]
struct Psc {
    roots: Vec<(PhysAddr, Walker)>,
    cached: BTreeSet<usize>,
    events: Vec<Event>,
    violations: Vec<std::string::String>,
}

impl Psc {
    fn reachable(&self) -> BTreeSet<usize> {
        self.roots
            .iter()
            .flat_map(|&(root, walk)| walk(root))
            .collect()
    }
}

std::thread_local! {
    static PSC: RefCell<Psc> = RefCell::new(Psc::default());
}

/// Paging metadata `M` whose flushes are recorded by `RecordingMeta<M>` and
/// seen by the model.
pub(crate) struct PscMeta<M>(core::marker::PhantomData<fn() -> M>);

impl<M: PagingMetaData> PagingMetaData for PscMeta<M> {
    const LEVELS: usize = M::LEVELS;
    const PA_MAX_BITS: usize = M::PA_MAX_BITS;
    const VA_MAX_BITS: usize = M::VA_MAX_BITS;
    type VirtAddr = M::VirtAddr;

    fn vaddr_is_valid(vaddr: usize) -> bool {
        M::vaddr_is_valid(vaddr)
    }

    fn flush_tlb(vaddr: Option<Self::VirtAddr>) {
        RecordingMeta::<M>::flush_tlb(vaddr);
        event(match vaddr {
            Some(va) => Event::FlushPage(va.into()),
            None => Event::FlushAll,
        });
    }
}

/// `CountingHandler` frames, seen by the model.
pub(crate) struct PscFrames;

// SAFETY: forwards to `CountingHandler`, which upholds the contract.
unsafe impl PagingHandler for PscFrames {
    fn alloc_frame() -> Option<PhysAddr> {
        let pa = CountingHandler::alloc_frame();
        event(Event::Alloc(pa.map(PhysAddr::as_usize)));
        pa
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        event(Event::Dealloc(paddr.as_usize()));
        // SAFETY: the caller's contract, passed on.
        unsafe { CountingHandler::dealloc_frame(paddr) };
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        CountingHandler::phys_to_virt(paddr)
    }
}

type Table<M, PTE> = PageTable64<PscMeta<M>, PTE, PscFrames>;

/// The table frames reachable from `root` (itself included).
fn walk<M: PagingMetaData, PTE: GenericPTE>(root: PhysAddr) -> BTreeSet<usize> {
    fn rec<M: PagingMetaData, PTE: GenericPTE>(
        pa: PhysAddr,
        level: usize,
        out: &mut BTreeSet<usize>,
    ) {
        out.insert(pa.as_usize());
        let table = Table::<M, PTE>::table_of(pa);
        for i in 0..ENTRIES {
            // SAFETY: a live table of a watched page table.
            let e = unsafe { get(table, i) };
            if Table::<M, PTE>::is_table(&e, level) {
                rec::<M, PTE>(e.paddr(), level - 1, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    rec::<M, PTE>(root, Table::<M, PTE>::ROOT, &mut out);
    out
}

fn event(ev: Event) {
    PSC.with_borrow_mut(|p| {
        // While a failed test unwinds, watched tables are dropped half-way.
        if p.roots.is_empty() || std::thread::panicking() {
            return;
        }
        p.events.push(ev);
        // Page flushes are not sampled (cost); every other event is.
        if let Event::FlushPage(_) = ev {
            return;
        }
        let now = p.reachable();
        let bad = match ev {
            Event::Dealloc(pa) if now.contains(&pa) => Some("freed while still linked"),
            Event::Dealloc(pa) if p.cached.contains(&pa) => Some("freed before a full flush"),
            _ => None,
        };
        if ev == Event::FlushAll {
            p.cached = now;
        } else {
            p.cached.extend(now);
        }
        if let Some(why) = bad {
            p.violations.push(std::format!("{ev:x?}: {why}"));
        }
    });
}

/// Returns (and clears) the violations seen so far.
pub(crate) fn take_violations() -> Vec<std::string::String> {
    PSC.with_borrow_mut(|p| core::mem::take(&mut p.violations))
}

fn assert_no_violations() {
    let v = take_violations();
    assert!(v.is_empty(), "table frames freed too early: {v:?}");
}

/// Forgets every watched table and event of this thread.
pub(crate) fn reset() {
    PSC.with_borrow_mut(|p| *p = Psc::default());
}

/// Models `pt` as active on a CPU from now on.
pub(crate) fn watch<M: PagingMetaData, PTE: GenericPTE>(pt: &Table<M, PTE>) {
    PSC.with_borrow_mut(|p| {
        p.roots.push((pt.root_paddr(), walk::<M, PTE>));
        let now = p.reachable();
        p.cached.extend(now);
    });
}

/// Models switching away from `pt` and flushing (as required before it is
/// dropped): its tables are neither watched nor cached any more.
pub(crate) fn unwatch<M: PagingMetaData, PTE: GenericPTE>(pt: &Table<M, PTE>) {
    PSC.with_borrow_mut(|p| {
        let root = pt.root_paddr();
        p.roots.retain(|&(r, _)| r != root);
        for pa in walk::<M, PTE>(root) {
            p.cached.remove(&pa);
        }
    });
    assert_no_violations();
}

/// A CPU used the watched tables: whatever is reachable may now be cached.
pub(crate) fn observe() {
    PSC.with_borrow_mut(|p| {
        let now = p.reachable();
        p.cached.extend(now);
    });
}

/// Returns (and clears) the events logged while tables were watched.
pub(crate) fn take_events() -> Vec<Event> {
    assert_no_violations();
    PSC.with_borrow_mut(|p| core::mem::take(&mut p.events))
}

/// The table frames of `pt` (root included).
pub(crate) fn tables<M: PagingMetaData, PTE: GenericPTE>(pt: &Table<M, PTE>) -> BTreeSet<usize> {
    walk::<M, PTE>(pt.root_paddr())
}
