//! arceos 0.6 leftovers: conversions into `axerrno` errors (feature
//! `axerrno`; axerrno 0.1.2's `AxError` is 0.2's `AxErrorKind`, so one
//! impl serves both) and `PageTable64::walk`.

use crate::table::{ENTRIES, get, shift};
use crate::{GenericPTE, PageTable64, PagingHandler, PagingMetaData};

#[cfg(feature = "axerrno")]
impl From<crate::PagingError> for axerrno::AxErrorKind {
    /// `NoMemory` → `NoMemory`, `AlreadyMapped` → `AlreadyExists`, anything
    /// else → `InvalidInput` (axerrno 0.2's blanket impl then gives
    /// `From<PagingError> for AxError`).
    fn from(e: crate::PagingError) -> Self {
        match e {
            crate::PagingError::NoMemory => Self::NoMemory,
            crate::PagingError::AlreadyMapped => Self::AlreadyExists,
            _ => Self::InvalidInput,
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Visits the used entries, tables included (arceos 0.6): `pre(level,
    /// index, vaddr, &entry)` before descending into a table and `post`
    /// after, with level 0 = the root and `vaddr` the canonical start of the
    /// entry's span. At most `limit` used entries are visited per table.
    /// Prefer [`iter`](Self::iter) for leaves.
    pub fn walk<F>(&self, limit: usize, pre: Option<&F>, post: Option<&F>)
    where
        F: Fn(usize, usize, M::VirtAddr, &PTE),
    {
        self.walk_table(self.root_table(), Self::ROOT, 0, limit, pre, post);
    }

    fn walk_table<F>(
        &self,
        table: *mut PTE,
        level: usize,
        base: usize,
        limit: usize,
        pre: Option<&F>,
        post: Option<&F>,
    ) where
        F: Fn(usize, usize, M::VirtAddr, &PTE),
    {
        let mut seen = 0;
        for i in 0..ENTRIES {
            if seen >= limit {
                break;
            }
            // SAFETY: `table` is a live table of ours; i < ENTRIES.
            let e = unsafe { get(table, i) };
            if e.is_unused() {
                continue;
            }
            seen += 1;
            let t = base + (i << shift(level));
            let va = Self::sext(t).into();
            let depth = Self::ROOT - level;
            if let Some(f) = pre {
                f(depth, i, va, &e);
            }
            if Self::is_table(&e, level) {
                self.walk_table(Self::table_of(e.paddr()), level - 1, t, limit, pre, post);
            }
            if let Some(f) = post {
                f(depth, i, va, &e);
            }
        }
    }
}
