//! Iteration over the leaf mappings, and the `Debug` dump of a table.

use core::fmt;
use core::marker::PhantomData;

use memory_addr::PhysAddr;

use crate::table::{ENTRIES, MAX_LEVELS, block, get, index, leaf_size};
use crate::{
    GenericPTE, MappingFlags, PageSize, PageTable64, PagingHandler, PagingMetaData, PagingResult,
};

/// One leaf mapping, as yielded by [`PageTable64::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mapping<VA> {
    /// Start of the page (a huge page may start before the iterated range).
    pub vaddr: VA,
    /// The frame (start of the page's physical range).
    pub paddr: PhysAddr,
    /// Page size.
    pub size: PageSize,
    /// Flags; empty for a reserved (`PROT_NONE`) entry.
    pub flags: MappingFlags,
}

/// Iterator over the leaf mappings of a [`PageTable64`] in address order
/// (lower half first), created by [`PageTable64::iter`] and
/// [`PageTable64::iter_range`]. It keeps the path of tables, so a step costs
/// O(1) amortized.
pub struct Mappings<'a, M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> {
    /// `stack[l]` is the table of level `l` covering `t` (valid for `l >= level`).
    stack: [*mut PTE; MAX_LEVELS],
    level: usize,
    t: usize,
    end: usize,
    _table: PhantomData<&'a PageTable64<M, PTE, H>>,
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Iterates over every leaf mapping (including reserved entries and
    /// entries of shared top-level slots).
    pub fn iter(&self) -> Mappings<'_, M, PTE, H> {
        self.mappings(0, Self::SPACE)
    }

    /// Iterates over the leaf mappings that intersect `[start, start + size)`.
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` for a bad range.
    pub fn iter_range(
        &self,
        start: M::VirtAddr,
        size: usize,
    ) -> PagingResult<Mappings<'_, M, PTE, H>> {
        let (lo, hi) = Self::check_range(start.into(), size)?;
        Ok(self.mappings(lo, hi))
    }

    fn mappings(&self, lo: usize, hi: usize) -> Mappings<'_, M, PTE, H> {
        let mut stack = [core::ptr::null_mut(); MAX_LEVELS];
        stack[Self::ROOT] = self.root_table();
        Mappings {
            stack,
            level: Self::ROOT,
            t: lo,
            end: hi,
            _table: PhantomData,
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Mappings<'_, M, PTE, H> {
    /// Moves past the entry of size `bs` containing `t`, popping finished tables.
    fn advance(&mut self, bs: usize) {
        self.t = (self.t & !(bs - 1)) + bs;
        while self.level < PageTable64::<M, PTE, H>::ROOT
            && self.t & (block(self.level + 1) - 1) == 0
        {
            self.level += 1;
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> Iterator for Mappings<'_, M, PTE, H> {
    type Item = Mapping<M::VirtAddr>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.t < self.end {
            let level = self.level;
            let bs = block(level);
            // SAFETY: stack[level] is a live table (the borrow of the page
            // table keeps it alive and unchanged); index < ENTRIES.
            let e = unsafe { get(self.stack[level], index(self.t, level)) };
            if e.is_unused() {
                self.advance(bs);
            } else if PageTable64::<M, PTE, H>::is_table(&e, level) {
                self.stack[level - 1] = PageTable64::<M, PTE, H>::table_of(e.paddr());
                self.level -= 1;
            } else {
                let start = self.t & !(bs - 1);
                self.advance(bs);
                return Some(Mapping {
                    vaddr: PageTable64::<M, PTE, H>::sext(start).into(),
                    paddr: e.paddr(),
                    size: leaf_size(level),
                    flags: e.flags(),
                });
            }
        }
        None
    }
}

/// Short flag string for dumps: `rwxugcdn`, `-` for an absent flag.
pub(crate) fn flag_str(flags: MappingFlags) -> [u8; 8] {
    const LETTERS: [(MappingFlags, u8); 8] = [
        (MappingFlags::READ, b'r'),
        (MappingFlags::WRITE, b'w'),
        (MappingFlags::EXECUTE, b'x'),
        (MappingFlags::USER, b'u'),
        (MappingFlags::GLOBAL, b'g'),
        (MappingFlags::COW, b'c'),
        (MappingFlags::DEVICE, b'd'),
        (MappingFlags::UNCACHED, b'n'),
    ];
    LETTERS.map(|(f, c)| if flags.contains(f) { c } else { b'-' })
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    fn dump(
        &self,
        f: &mut fmt::Formatter<'_>,
        table: *mut PTE,
        level: usize,
        base: usize,
    ) -> fmt::Result {
        let indent = Self::ROOT - level;
        for idx in 0..ENTRIES {
            // SAFETY: `table` is a live table of ours; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if e.is_unused() {
                continue;
            }
            let t = base + idx * block(level);
            write!(f, "{:1$}L{level}[{idx:03}] ", "", indent * 2)?;
            if Self::is_table(&e, level) {
                let shared = level == Self::ROOT && self.is_shared(idx);
                writeln!(f, "table{}", if shared { " (shared)" } else { "" })?;
                self.dump(f, Self::table_of(e.paddr()), level - 1, t)?;
            } else {
                let size = match leaf_size(level) {
                    PageSize::Size4K => "4K",
                    PageSize::Size2M => "2M",
                    PageSize::Size1G => "1G",
                    PageSize::Size1M => "1M",
                };
                let flags = e.flags();
                let flags = flag_str(flags);
                let flags = core::str::from_utf8(&flags).unwrap_or("?");
                let kind = if e.is_present() { flags } else { "reserved" };
                writeln!(
                    f,
                    "{size} va={:#x} pa={:#x} {kind}",
                    Self::sext(t),
                    e.paddr().as_usize()
                )?;
            }
        }
        Ok(())
    }
}

/// A dump of every used entry, one per line, indented by level: table
/// entries (`(shared)` when borrowed through `copy_from`) and leaves with
/// size, virtual and physical address and flags (`rwxugcdn`; `reserved` for
/// `PROT_NONE` entries). Table frame addresses are not shown, so dumps are
/// deterministic.
impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> fmt::Debug for PageTable64<M, PTE, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "PageTable64 ({} levels)", M::LEVELS)?;
        self.dump(f, self.root_table(), Self::ROOT, 0)
    }
}
