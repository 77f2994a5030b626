//! `clone_range_into`: copying leaf mappings into another table (fork).
//!
//! All tables dst needs are created first (`prealloc_rec`), so the copy
//! itself cannot fail. Leaf tables are then copied in one pass on raw bits
//! (`clone_leaves`): `f` is still called once per leaf, but the conversions
//! around it are learned once per pattern of entry bits and answer of `f`
//! ([`Pattern`]), and dst's entries (known unused) are written without
//! being read.

use memory_addr::{PAGE_SIZE_4K, PhysAddr};

use crate::cache::PteCache;
use crate::deferred::DeferredFree;
use crate::table::{ENTRIES, block, get, index, leaf_size, set};
use crate::{
    FlushBatch, GenericPTE, MappingFlags, PageSize, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult,
};

/// The per-leaf choice of `clone_range_into`: `(src flags, dst flags)`.
trait CloneFn<M: PagingMetaData>:
    FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags)
{
}

impl<M: PagingMetaData, F> CloneFn<M> for F where
    F: FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags)
{
}

/// State threaded through `clone_rec`.
struct CloneCtx<F, PTE: GenericPTE, M: PagingMetaData> {
    f: F,
    /// For leaves above the last level (rare).
    cache: PteCache<PTE>,
    /// The two most recent patterns of last-level leaves, newest first (two,
    /// so that entries alternating between two patterns, e.g. dirty and
    /// clean pages, stay on the fast path).
    pats: [Pattern; 2],
    batch: FlushBatch<M>,
}

/// The conversions of a last-level leaf in the clone loop, on raw bits.
///
/// Source entries whose non-address bits are `key` (address bits: `mask`)
/// decode to `flags`; when `f` answers `out = (src flags, dst flags)` for
/// such an entry with address bits `a`, the source becomes `a | src` and the
/// destination `a | dst`. Learned from the `GenericPTE` methods on the first
/// entry of the pattern (and again whenever `f` answers differently), so it
/// is exact for any format whose address bits are what `set_paddr` writes
/// and whose other methods depend on the other bits only (the `GenericPTE`
/// contract); `exact` records that the entry it was learned from fits that
/// shape, and every use is debug-checked against the methods. An entry's
/// in-memory form is its `bits()` (8 bytes, checked at compile time).
#[derive(Clone, Copy)]
struct Pattern {
    key: usize,
    mask: usize,
    flags: MappingFlags,
    out: (MappingFlags, MappingFlags),
    src: usize,
    dst: usize,
    /// Whether the raw-bits form may be used. The empty pattern (`mask ==
    /// key == 0`) matches no used (non-zero) entry.
    exact: bool,
}

impl Pattern {
    const EMPTY: Self = Self {
        key: 0,
        mask: 0,
        flags: MappingFlags::empty(),
        out: (MappingFlags::empty(), MappingFlags::empty()),
        src: 0,
        dst: 0,
        exact: false,
    };

    /// The pattern of the used last-level entry `e`, with `out` guessed as
    /// `(flags, flags)` (the usual answer).
    fn learn<PTE: GenericPTE>(e: &PTE, pa_all: usize) -> Self {
        debug_assert!(!e.is_unused());
        let mut attr = *e;
        attr.set_paddr(PhysAddr::from_usize(0));
        let mut probe = attr;
        probe.set_paddr(PhysAddr::from_usize(pa_all));
        let flags = e.flags();
        Self {
            key: attr.bits(),
            mask: probe.bits() ^ attr.bits(),
            flags,
            ..Self::EMPTY
        }
        .answered(e, (flags, flags))
    }

    /// The pattern for the used entry `e`, which does not match `self`:
    /// `other` (the older pattern) if `e` matches it, else a new one;
    /// `self` becomes the older pattern. Out of line and by value: it runs
    /// once per change of pattern, and the loop keeps `self` in registers.
    #[cold]
    #[inline(never)]
    fn switch<PTE: GenericPTE>(self, other: &mut Self, e: &PTE, pa_all: usize) -> Self {
        let next = if e.bits() & !other.mask == other.key {
            *other
        } else {
            Self::learn(e, pa_all)
        };
        *other = self;
        next
    }

    /// This pattern with the encoding of `f`'s answer `out` for its entry
    /// `e`. Out of line and by value, as [`switch`](Self::switch).
    #[cold]
    #[inline(never)]
    fn answered<PTE: GenericPTE>(self, e: &PTE, out: (MappingFlags, MappingFlags)) -> Self {
        let mut src = *e;
        src.set_paddr(PhysAddr::from_usize(0));
        src.set_flags(out.0, false);
        let dst = PTE::new_page(PhysAddr::from_usize(0), out.1, false);
        let (src, dst) = (src.bits(), dst.bits());
        // `e` splits into the key and address bits, and neither result
        // touches the address bits: then `a | src` and `a | dst` are what
        // `set_flags` and `new_page` produce for every entry of the pattern.
        let exact = self.key != 0
            && e.bits() & !self.mask == self.key
            && (self.key | src | dst) & self.mask == 0;
        Self {
            out,
            src,
            dst,
            exact,
            ..self
        }
    }
}

impl<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler> PageTable64<M, PTE, H> {
    /// Copies the leaf mappings of `[start, start + size)` into `dst` (which
    /// must have nothing mapped there), keeping huge pages, e.g. for fork.
    ///
    /// For each leaf, `f(vaddr, paddr, size, flags)` returns `(new flags of
    /// this table's entry, flags of dst's entry)` — for copy-on-write, both
    /// read-only with [`MappingFlags::COW`]. Huge pages straddling the range
    /// ends are split in this table first. The returned batch flushes this
    /// table's changed entries (dst is normally not active).
    ///
    /// # Errors
    /// `InvalidAddress`/`NotAligned` (bad range), `Shared` (it touches
    /// top-level entries shared with [`copy_from`](Self::copy_from) in either
    /// table),
    /// `AlreadyMapped` (dst has a mapping in the range), `NoMemory` (both
    /// tables are left unchanged; `f` has not been called).
    pub fn clone_range_into(
        &mut self,
        dst: &mut Self,
        start: M::VirtAddr,
        size: usize,
        mut f: impl FnMut(M::VirtAddr, PhysAddr, PageSize, MappingFlags) -> (MappingFlags, MappingFlags),
    ) -> PagingResult<FlushBatch<M>> {
        let (lo, hi) = Self::check_range(start.into(), size)?;
        self.check_owned(lo, hi)?;
        dst.check_owned(lo, hi)?;
        // SAFETY: the range is checked; both tables are distinct and live.
        unsafe {
            if Self::has_leaf(dst.root_table(), Self::ROOT, lo, hi) {
                return Err(PagingError::AlreadyMapped);
            }
            let fresh = dst.unused_slots(lo, hi);
            // Tables unlinked on failure are freed, after one full flush,
            // when `free` drops (either table may be active).
            let mut free = DeferredFree::<M, PTE, H>::new();
            let log = self.split_range(lo, hi, &mut free)?;
            if let Err(e) =
                Self::prealloc_rec(self.root_table(), dst.root_table(), Self::ROOT, lo, hi)
            {
                // dst has no leaves in the range: this only unlinks new tables.
                let mut unused = FlushBatch::new();
                Self::unmap_rec(
                    dst.root_table(),
                    Self::ROOT,
                    lo,
                    hi,
                    &mut |_, _, _| {},
                    &mut unused,
                    &mut free,
                );
                dst.free_fresh_slots(&fresh, &mut free);
                unused.ignore();
                self.undo_splits(log, &mut free);
                return Err(e);
            }
            let mut ctx = CloneCtx {
                f: &mut f,
                cache: PteCache::new(),
                pats: [Pattern::EMPTY; 2],
                batch: FlushBatch::new(),
            };
            Self::clone_rec(
                self.root_table(),
                dst.root_table(),
                Self::ROOT,
                lo,
                hi,
                &mut ctx,
            );
            Ok(ctx.batch)
        }
    }

    /// Whether a leaf (present or reserved) lies in `[lo, hi)` below `table`.
    ///
    /// # Safety
    /// `table` is live and `[lo, hi)` lies in its span.
    pub(crate) unsafe fn has_leaf(table: *mut PTE, level: usize, lo: usize, hi: usize) -> bool {
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: `table` is live; idx < ENTRIES.
            let e = unsafe { get(table, idx) };
            if !e.is_unused() {
                if !Self::is_table(&e, level) {
                    return true;
                }
                let child = Self::table_of(e.paddr());
                // SAFETY: the child covers [t, t + bs).
                if unsafe { Self::has_leaf(child, level - 1, lo.max(t), hi.min(t + bs)) } {
                    return true;
                }
            }
            t += bs;
        }
        false
    }

    /// Creates in `dst` every table that `clone_rec` will need for the leaves
    /// of `src` in `[lo, hi)`.
    ///
    /// # Safety
    /// `src`/`dst` are live tables of `level` covering the same span; dst
    /// has no leaves in `[lo, hi)`.
    unsafe fn prealloc_rec(
        src: *mut PTE,
        dst: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
    ) -> PagingResult {
        if level == 0 {
            return Ok(());
        }
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: both tables are live; idx < ENTRIES.
            let (e, d) = unsafe { (get(src, idx), get(dst, idx)) };
            if Self::is_table(&e, level) {
                let (clo, chi) = (lo.max(t), hi.min(t + bs));
                let schild = Self::table_of(e.paddr());
                let full = clo == t && chi == t + bs;
                // SAFETY: the child covers [t, t + bs).
                if full || unsafe { Self::has_leaf(schild, level - 1, clo, chi) } {
                    let dchild = if d.is_unused() {
                        let pa = Self::alloc_table()?;
                        // SAFETY: as above.
                        unsafe { set(dst, idx, PTE::new_table(pa)) };
                        Self::table_of(pa)
                    } else if Self::is_table(&d, level) {
                        Self::table_of(d.paddr())
                    } else {
                        return Err(PagingError::AlreadyMapped);
                    };
                    // SAFETY: both children cover [t, t + bs).
                    unsafe { Self::prealloc_rec(schild, dchild, level - 1, clo, chi)? };
                }
            }
            t += bs;
        }
        Ok(())
    }

    /// Copies the leaves of `src` in `[lo, hi)` into `dst` and updates the
    /// source flags, as chosen by `f`.
    ///
    /// # Safety
    /// As for [`prealloc_rec`](Self::prealloc_rec), after it succeeded; no
    /// leaf of src straddles `lo`/`hi`.
    unsafe fn clone_rec(
        src: *mut PTE,
        dst: *mut PTE,
        level: usize,
        lo: usize,
        hi: usize,
        ctx: &mut CloneCtx<impl CloneFn<M>, PTE, M>,
    ) {
        if level == 0 {
            // SAFETY: guaranteed by the caller.
            unsafe { Self::clone_leaves(src, dst, lo, hi, ctx) };
            return;
        }
        let bs = block(level);
        let mut t = lo & !(bs - 1);
        for idx in index(lo, level)..=index(hi - 1, level) {
            // SAFETY: both tables are live; idx < ENTRIES.
            let (e, d) = unsafe { (get(src, idx), get(dst, idx)) };
            if e.is_unused() {
                // nothing to copy
            } else if Self::is_table(&e, level) {
                // No dst table means prealloc found no leaf below.
                if Self::is_table(&d, level) {
                    let (schild, dchild) = (Self::table_of(e.paddr()), Self::table_of(d.paddr()));
                    // SAFETY: both children cover [t, t + bs).
                    unsafe {
                        Self::clone_rec(schild, dchild, level - 1, lo.max(t), hi.min(t + bs), ctx)
                    };
                }
            } else {
                // `level > 0` here: a huge leaf.
                let flags = ctx.cache.flags(&e);
                let (src_flags, dst_flags) =
                    (ctx.f)(Self::sext(t).into(), e.paddr(), leaf_size(level), flags);
                if d.is_unused() {
                    let new = ctx.cache.new_page(e.paddr(), dst_flags, true);
                    // SAFETY: as above.
                    unsafe { set(dst, idx, new) };
                } else {
                    // Only an empty table directly below dst's root can be
                    // here (level == ROOT): fill it with next-smaller leaves.
                    let child = Self::table_of(d.paddr());
                    let base = e.paddr().as_usize();
                    for k in 0..ENTRIES {
                        let pa = PhysAddr::from_usize(base + k * block(level - 1));
                        // SAFETY: the child is a live, empty table of dst.
                        unsafe { set(child, k, ctx.cache.new_page(pa, dst_flags, level > 1)) };
                    }
                }
                let mut n = e;
                ctx.cache.set_flags(&mut n, src_flags, true);
                if n.bits() != e.bits() {
                    // SAFETY: as above.
                    unsafe { set(src, idx, n) };
                    ctx.batch.push(Self::sext(t));
                }
            }
            t += bs;
        }
    }

    /// The hot loop of [`clone_rec`](Self::clone_rec): one pass over a pair
    /// of last-level tables, on raw bits with the [`Pattern`]s in locals.
    /// dst's entries in the range are unused (prealloc checked that dst has
    /// no leaf there), so they are written without being read.
    ///
    /// # Safety
    /// `src`/`dst` are live last-level tables covering the span of
    /// `[lo, hi)`; dst has no used entry in it.
    #[inline(always)]
    unsafe fn clone_leaves(
        src: *mut PTE,
        dst: *mut PTE,
        lo: usize,
        hi: usize,
        ctx: &mut CloneCtx<impl CloneFn<M>, PTE, M>,
    ) {
        let (first, end) = (index(lo, 0), index(hi - 1, 0) + 1);
        // The leaf table lies in one half of the space: no sign change inside.
        let va0 = Self::sext(lo).wrapping_sub(first * PAGE_SIZE_4K);
        let va_of = |idx: usize| va0.wrapping_add(idx * PAGE_SIZE_4K);
        let mut p = ctx.pats[0];
        let mut full = ctx.batch.is_full_flush();
        let mut idx = first;
        while idx < end {
            // f's answer for entry `idx` if the run below already asked.
            let mut asked = None;
            if p.exact {
                // The run of entries of pattern `p` for which `f` answers
                // `p.out`: the pattern is in registers, nothing is learned.
                let Pattern {
                    key, mask, flags, ..
                } = p;
                let (out, changes) = (p.out, p.src != key);
                while idx < end {
                    // SAFETY: `src` is live; idx < ENTRIES.
                    let e = unsafe { get(src, idx) };
                    let bits = e.bits();
                    if bits != 0 {
                        if bits & !mask != key {
                            break;
                        }
                        let va = va_of(idx);
                        let answer = (ctx.f)(va.into(), e.paddr(), PageSize::Size4K, flags);
                        if answer != out {
                            asked = Some(answer);
                            break;
                        }
                        // SAFETY: guaranteed by the caller; idx < ENTRIES.
                        unsafe { Self::put(src, dst, idx, &e, &p) };
                        if changes && !full {
                            ctx.batch.push(va);
                            full = ctx.batch.is_full_flush();
                        }
                    }
                    idx += 1;
                }
                if idx == end {
                    break;
                }
            }
            // Entry `idx` needs a new pattern or answer, or `p` is not exact.
            // SAFETY: `src` is live; idx < ENTRIES.
            let e = unsafe { get(src, idx) };
            if !e.is_unused() {
                let va = va_of(idx);
                let out = match asked {
                    Some(out) => out,
                    None => {
                        if e.bits() & !p.mask != p.key {
                            p = p.switch(&mut ctx.pats[1], &e, Self::PA_ALL);
                        }
                        (ctx.f)(va.into(), e.paddr(), PageSize::Size4K, p.flags)
                    }
                };
                if out != p.out {
                    p = p.answered(&e, out);
                }
                let changed = if p.exact {
                    // SAFETY: guaranteed by the caller; idx < ENTRIES.
                    unsafe { Self::put(src, dst, idx, &e, &p) };
                    p.src != p.key
                } else {
                    // A format the raw-bits form does not fit: the methods,
                    // and the empty pattern, so the next entry learns afresh.
                    p = Pattern::EMPTY;
                    // SAFETY: as above.
                    unsafe { Self::clone_one_slow(src, dst, idx, out) }
                };
                if changed && !full {
                    ctx.batch.push(va);
                    full = ctx.batch.is_full_flush();
                }
            }
            idx += 1;
        }
        ctx.pats[0] = p;
    }

    /// Writes dst's entry `idx` and (if it changes) src's for the leaf `e`
    /// of the exact pattern `p`, whose answer from `f` was `p.out`.
    ///
    /// # Safety
    /// As for [`clone_leaves`](Self::clone_leaves); `idx < ENTRIES`, `e` is
    /// src's entry `idx`.
    #[inline(always)]
    unsafe fn put(src: *mut PTE, dst: *mut PTE, idx: usize, e: &PTE, p: &Pattern) {
        debug_assert!(p.exact && e.bits() & !p.mask == p.key);
        debug_assert_eq!(
            // SAFETY: guaranteed by the caller.
            unsafe { src.cast::<u64>().add(idx).read() } as usize,
            e.bits(),
            "PTE representation is not its bits"
        );
        // SAFETY: as above.
        debug_assert!(unsafe { get(dst, idx) }.is_unused());
        let addr = e.bits() & p.mask;
        let (new_src, new_dst) = (addr | p.src, addr | p.dst);
        debug_assert_eq!(
            new_dst,
            PTE::new_page(e.paddr(), p.out.1, false).bits(),
            "dst entry differs from new_page"
        );
        debug_assert_eq!(
            new_src,
            {
                let mut n = *e;
                n.set_flags(p.out.0, false);
                n.bits()
            },
            "src entry differs from set_flags"
        );
        // SAFETY: guaranteed by the caller; a PTE is its raw bits.
        unsafe { dst.cast::<u64>().add(idx).write_volatile(new_dst as u64) };
        if p.src != p.key {
            // SAFETY: as above.
            unsafe { src.cast::<u64>().add(idx).write_volatile(new_src as u64) };
        }
    }

    /// One last-level leaf by the `GenericPTE` methods: writes dst's entry
    /// and updates src's; returns whether src's entry changed.
    ///
    /// # Safety
    /// As for [`clone_leaves`](Self::clone_leaves); `idx` is in the range.
    #[cold]
    #[inline(never)]
    unsafe fn clone_one_slow(
        src: *mut PTE,
        dst: *mut PTE,
        idx: usize,
        (src_flags, dst_flags): (MappingFlags, MappingFlags),
    ) -> bool {
        // SAFETY: guaranteed by the caller.
        let e = unsafe { get(src, idx) };
        // SAFETY: as above.
        unsafe { set(dst, idx, PTE::new_page(e.paddr(), dst_flags, false)) };
        let mut n = e;
        n.set_flags(src_flags, false);
        let changed = n.bits() != e.bits();
        if changed {
            // SAFETY: as above.
            unsafe { set(src, idx, n) };
        }
        changed
    }
}
