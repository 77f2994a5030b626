//! The TLB flushes an address space issues, delivered to every live [`Cpu`](super::Cpu)
//! model of the thread.

use alloc::collections::BTreeSet;
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::marker::PhantomData;

use memory_addr::VirtAddr;
use page_table_multiarch::PagingMetaData;

/// Flushes issued since a CPU model last looked: the set of pages, or everything.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) all: bool,
    pub(super) pages: BTreeSet<usize>,
}

impl Pending {
    fn add(&mut self, vaddr: Option<VirtAddr>) {
        match vaddr {
            None => {
                self.all = true;
                self.pages.clear();
            }
            Some(va) if !self.all => {
                self.pages.insert(va.as_usize());
            }
            Some(_) => {}
        }
    }
}

std::thread_local! {
    /// The pending-flush sets of the live CPU models of this thread.
    static CPUS: RefCell<Vec<Weak<RefCell<Pending>>>> = const { RefCell::new(Vec::new()) };
}

/// A pending-flush set that [`record_flush`] fills from now on.
pub(super) fn subscribe() -> Rc<RefCell<Pending>> {
    let pending = Rc::new(RefCell::new(Pending::default()));
    CPUS.with_borrow_mut(|cpus| cpus.push(Rc::downgrade(&pending)));
    pending
}

/// Delivers a TLB flush (`Some(page)` or `None` for everything) to every live
/// [`Cpu`](super::Cpu) model on this thread, as a broadcast shootdown would.
///
/// [`Recorded`] calls it from `flush_tlb`; call it from your own test metadata's
/// `flush_tlb` to use that metadata with the CPU model.
pub fn record_flush(vaddr: Option<VirtAddr>) {
    CPUS.with_borrow_mut(|cpus| {
        cpus.retain(|weak| match weak.upgrade() {
            Some(pending) => {
                pending.borrow_mut().add(vaddr);
                true
            }
            None => false,
        });
    });
}

/// Paging metadata identical to `M` except that `flush_tlb` runs no instruction and
/// delivers the flush to the [`Cpu`](super::Cpu) models instead ([`record_flush`]).
#[derive(Debug, Clone, Copy)]
pub struct Recorded<M>(PhantomData<fn() -> M>);

impl<M: PagingMetaData<VirtAddr = VirtAddr>> PagingMetaData for Recorded<M> {
    const LEVELS: usize = M::LEVELS;
    const PA_MAX_BITS: usize = M::PA_MAX_BITS;
    const VA_MAX_BITS: usize = M::VA_MAX_BITS;
    const CACHES_INVALID: bool = M::CACHES_INVALID;
    type VirtAddr = VirtAddr;

    fn vaddr_is_valid(vaddr: usize) -> bool {
        M::vaddr_is_valid(vaddr)
    }

    fn flush_tlb(vaddr: Option<VirtAddr>) {
        record_flush(vaddr);
    }
}
