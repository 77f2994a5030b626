//! TLB maintenance values: every operation that changes a translation returns
//! one, and `#[must_use]` makes forgetting it a compile-time warning (an error
//! with the workspace lints).

use core::fmt;
use core::marker::PhantomData;

use crate::PagingMetaData;

/// How many single-page flushes a [`FlushBatch`] keeps before it turns into a
/// full flush (flushing more pages one by one costs more than refilling the TLB).
pub const FLUSH_BATCH_PAGES: usize = 32;

/// The flush owed after changing one translation.
///
/// Call [`flush`](Self::flush) after the change (before freeing the old
/// frame), or [`ignore`](Self::ignore) when the table is not active on any
/// CPU. Add it to a [`FlushBatch`] to combine several changes.
#[must_use = "the TLB may keep the old translation: call `flush()` (or `ignore()` if the table is not active)"]
pub struct TlbFlush<M: PagingMetaData> {
    /// `Some(va)`: one page; `None`: everything.
    vaddr: Option<usize>,
    _meta: PhantomData<fn() -> M>,
}

impl<M: PagingMetaData> TlbFlush<M> {
    pub(crate) const fn page(vaddr: usize) -> Self {
        Self {
            vaddr: Some(vaddr),
            _meta: PhantomData,
        }
    }

    /// No operation returns it any more (freed tables get their full flush
    /// inside the operation); kept for the tests of the `None` form.
    #[cfg(test)]
    pub(crate) const fn all() -> Self {
        Self {
            vaddr: None,
            _meta: PhantomData,
        }
    }

    /// The page to flush, or `None` for a full flush.
    pub fn vaddr(&self) -> Option<M::VirtAddr> {
        self.vaddr.map(M::VirtAddr::from)
    }

    /// Issues the flush on this CPU ([`PagingMetaData::flush_tlb`]).
    pub fn flush(self) {
        M::flush_tlb(self.vaddr());
    }

    /// Drops the flush on purpose (e.g. the table is not active anywhere).
    pub fn ignore(self) {}
}

impl<M: PagingMetaData> fmt::Debug for TlbFlush<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.vaddr {
            Some(va) => write!(f, "TlbFlush({va:#x})"),
            None => f.write_str("TlbFlush(all)"),
        }
    }
}

/// The flushes owed after a range operation: up to [`FLUSH_BATCH_PAGES`]
/// pages, then one full flush.
///
/// Pages are recorded at the start of each changed leaf; flushing any address
/// of a huge page evicts its TLB entry. Intermediate tables an operation
/// frees are not its business: the operation flushes everything itself
/// before freeing them (see [Freeing table
/// frames](crate#freeing-table-frames)).
#[must_use = "the TLB may keep old translations: call `flush()` (or `ignore()` if the table is not active)"]
pub struct FlushBatch<M: PagingMetaData> {
    pages: [usize; FLUSH_BATCH_PAGES],
    len: usize,
    all: bool,
    _meta: PhantomData<fn() -> M>,
}

impl<M: PagingMetaData> FlushBatch<M> {
    /// An empty batch (flushing it does nothing).
    pub const fn new() -> Self {
        Self {
            pages: [0; FLUSH_BATCH_PAGES],
            len: 0,
            all: false,
            _meta: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, vaddr: usize) {
        if self.all {
            return;
        }
        if self.len == FLUSH_BATCH_PAGES {
            self.all = true;
            return;
        }
        if self.len > 0 && self.pages[self.len - 1] == vaddr {
            return;
        }
        self.pages[self.len] = vaddr;
        self.len += 1;
    }

    /// Records the `n` pages `first, first + stride, ...` (one run of changed
    /// leaves), exactly as `n` calls of `push` would. A batch records at most
    /// `FLUSH_BATCH_PAGES` pages before it becomes a full flush, so this costs
    /// O(1) amortized over the operation, whatever `n` is.
    #[inline]
    pub(crate) fn push_run(&mut self, first: usize, n: usize, stride: usize) {
        let mut va = first;
        for _ in 0..n {
            if self.all {
                return;
            }
            self.push(va);
            va = va.wrapping_add(stride);
        }
    }

    /// Records one changed page.
    pub fn add_page(&mut self, vaddr: M::VirtAddr) {
        self.push(vaddr.into());
    }

    /// Makes this a full flush.
    pub fn add_all(&mut self) {
        self.all = true;
    }

    /// Adds a single-operation flush.
    pub fn add(&mut self, flush: TlbFlush<M>) {
        match flush.vaddr {
            Some(va) => self.push(va),
            None => self.all = true,
        }
    }

    /// Adds everything `other` owes.
    pub fn merge(&mut self, other: Self) {
        if other.all {
            self.all = true;
        } else {
            for &va in &other.pages[..other.len] {
                self.push(va);
            }
        }
    }

    /// Whether nothing needs flushing.
    pub fn is_empty(&self) -> bool {
        !self.all && self.len == 0
    }

    /// Whether this batch became a full flush.
    pub fn is_full_flush(&self) -> bool {
        self.all
    }

    /// The recorded pages (empty when this is a full flush).
    pub fn pages(&self) -> impl Iterator<Item = M::VirtAddr> + '_ {
        let n = if self.all { 0 } else { self.len };
        self.pages[..n].iter().map(|&va| M::VirtAddr::from(va))
    }

    /// Issues the flushes on this CPU: one per recorded page, or one full flush.
    pub fn flush(self) {
        if self.all {
            M::flush_tlb(None);
        } else {
            for &va in &self.pages[..self.len] {
                M::flush_tlb(Some(M::VirtAddr::from(va)));
            }
        }
    }

    /// Drops the flushes on purpose (e.g. the table is not active anywhere).
    pub fn ignore(self) {}
}

impl<M: PagingMetaData> Default for FlushBatch<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: PagingMetaData> fmt::Debug for FlushBatch<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("FlushBatch(all)");
        }
        f.write_str("FlushBatch[")?;
        for (i, va) in self.pages[..self.len].iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{va:#x}")?;
        }
        f.write_str("]")
    }
}
