//! The set of areas: a `BTreeMap` keyed by start address, so every lookup is a range query,
//! plus the [`GapIndex`] of the free space between them for the free-area searches.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use memory_addr::{AddrRange, align_down, checked_align_up};

use crate::area::{addr_usize, range_end};
use crate::gaps::GapIndex;
use crate::{MappingBackend, MappingError, MappingResult, MemoryArea};

/// What [`MemorySet::map`] does when the new area overlaps existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnOverlap {
    /// Fail with [`MappingError::AlreadyExists`]; nothing changes.
    Fail,
    /// Unmap the overlapped parts of existing areas (shrinking or splitting them), then map.
    Replace,
}

/// A set of non-overlapping [`MemoryArea`]s, sorted by start address.
///
/// Stored in a `BTreeMap<start, MemoryArea>`: with `n` areas and `k` areas touched by a call,
/// `find`, `overlaps` and `map` are O(log n); `unmap`, `protect`, `map` with
/// [`OnOverlap::Replace`] and `iter_range` are O(log n + k) (amortized: fully covered areas
/// are removed with `BTreeMap::extract_if`), plus the backend work.
/// [`find_free_area`](Self::find_free_area) and
/// [`find_free_area_top_down`](Self::find_free_area_top_down) are O(log n) through a second
/// index of the gaps between areas (see their docs for the alignment caveat).
///
/// Areas are never merged automatically (see [`MemoryArea`]); an OS that merges compatible
/// neighbours, as Linux does, joins them with [`join_next`](Self::join_next).
///
/// Every operation is transactional: on `Err`, the set is unchanged, and the backend calls
/// already made by the failing operation are undone in reverse order under the contract
/// documented on [`MappingBackend`].
pub struct MemorySet<B: MappingBackend> {
    areas: BTreeMap<B::Addr, MemoryArea<B>>,
    /// The complement of the areas' union; updated only after the backends succeeded.
    gaps: GapIndex,
}

impl<B: MappingBackend> MemorySet<B> {
    /// Creates an empty set.
    pub const fn new() -> Self {
        Self {
            areas: BTreeMap::new(),
            gaps: GapIndex::new(),
        }
    }

    /// The number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// Whether the set has no areas.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// All areas in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &MemoryArea<B>> {
        self.areas.values()
    }

    /// All areas in address order, mutable (their backends can be reached; their ranges and
    /// flags cannot be changed this way).
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut MemoryArea<B>> {
        self.areas.values_mut()
    }

    /// The key of the area that contains `addr` while starting below it, else `addr`: the
    /// lower key bound of every area overlapping a range starting at `addr`.
    fn first_key(&self, addr: B::Addr) -> B::Addr {
        match self.areas.range(..addr).next_back() {
            Some((&key, area)) if area.end() > addr => key,
            _ => addr,
        }
    }

    /// Key bounds `lo..hi` of the areas overlapping `range` (empty for an empty or inverted
    /// range, so `BTreeMap::range` never panics).
    fn key_bounds(&self, range: AddrRange<B::Addr>) -> (B::Addr, B::Addr) {
        if range.start >= range.end {
            (range.start, range.start)
        } else {
            (self.first_key(range.start), range.end)
        }
    }

    /// The areas overlapping `range`, in address order. Empty if `range` is empty or inverted.
    /// O(log n) to start, O(1) per area.
    pub fn iter_range(
        &self,
        range: AddrRange<B::Addr>,
    ) -> impl DoubleEndedIterator<Item = &MemoryArea<B>> {
        let (lo, hi) = self.key_bounds(range);
        self.areas.range(lo..hi).map(|(_, area)| area)
    }

    /// The areas overlapping `range`, mutable, in address order.
    pub fn iter_range_mut(
        &mut self,
        range: AddrRange<B::Addr>,
    ) -> impl DoubleEndedIterator<Item = &mut MemoryArea<B>> {
        let (lo, hi) = self.key_bounds(range);
        self.areas.range_mut(lo..hi).map(|(_, area)| area)
    }

    /// Whether any area overlaps `range` (false for an empty or inverted range). O(log n).
    pub fn overlaps(&self, range: AddrRange<B::Addr>) -> bool {
        range.start < range.end
            && self
                .areas
                .range(..range.end)
                .next_back()
                .is_some_and(|(_, area)| area.end() > range.start)
    }

    /// The area containing `addr`. O(log n).
    pub fn find(&self, addr: B::Addr) -> Option<&MemoryArea<B>> {
        let (_, area) = self.areas.range(..=addr).next_back()?;
        (area.end() > addr).then_some(area)
    }

    /// The area containing `addr`, mutable. O(log n).
    pub fn find_mut(&mut self, addr: B::Addr) -> Option<&mut MemoryArea<B>> {
        let (_, area) = self.areas.range_mut(..=addr).next_back()?;
        (area.end() > addr).then_some(area)
    }

    /// The lowest `align`-aligned address `a >= hint` such that `[a, a + size)` lies inside
    /// `limit` and overlaps no area (arceos-compatible: the search never wraps below `hint`;
    /// pass `limit.start` as `hint` to search the whole limit).
    ///
    /// Returns `None` if there is no such address, or if `size` is 0, `align` is not a power
    /// of two (including 0) or `limit` is empty.
    ///
    /// Cost: O(log n) in every layout when `align` divides the areas' boundaries (the usual
    /// case: page-aligned areas, page alignment). A coarser `align` adds O(log n) per gap
    /// that is at least `size` long but too short once its start is aligned (such a gap can
    /// only be ruled out by looking at it).
    pub fn find_free_area(
        &self,
        hint: B::Addr,
        size: usize,
        limit: AddrRange<B::Addr>,
        align: usize,
    ) -> Option<B::Addr> {
        let (lim_start, lim_end) = (addr_usize(limit.start), addr_usize(limit.end));
        if size == 0 || !align.is_power_of_two() || lim_start >= lim_end {
            return None;
        }
        let lo = checked_align_up(addr_usize(hint).max(lim_start), align)?;
        if lo.checked_add(size)? > lim_end {
            return None;
        }
        self.gaps
            .first_fit(lo, lim_end, size, align)
            .map(B::Addr::from)
    }

    /// The highest `align`-aligned address `a <= hint` such that `[a, a + size)` lies inside
    /// `limit` and overlaps no area: a top-down search (pass `limit.end` as `hint` to search
    /// the whole limit from its top).
    ///
    /// Returns `None` under the same conditions as [`find_free_area`](Self::find_free_area);
    /// same cost.
    pub fn find_free_area_top_down(
        &self,
        hint: B::Addr,
        size: usize,
        limit: AddrRange<B::Addr>,
        align: usize,
    ) -> Option<B::Addr> {
        let (lim_start, lim_end) = (addr_usize(limit.start), addr_usize(limit.end));
        if size == 0 || !align.is_power_of_two() || lim_start >= lim_end {
            return None;
        }
        let top = align_down(addr_usize(hint).min(lim_end.checked_sub(size)?), align);
        if top < lim_start {
            return None;
        }
        // `top + size <= lim_end`: no overflow.
        self.gaps
            .last_fit(lim_start, top + size, size, align)
            .map(B::Addr::from)
    }

    /// Maps `area` through its backend and adds it to the set.
    ///
    /// With [`OnOverlap::Replace`], the overlapped parts of existing areas are unmapped first
    /// (shrinking or splitting those areas); if mapping the new area then fails, they are
    /// mapped again. On error `area` is dropped.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: the area's size is 0 or its end overflows.
    /// - [`MappingError::AlreadyExists`]: it overlaps an area and `on_overlap` is `Fail`.
    /// - Any error of the backends; then nothing changed.
    pub fn map(
        &mut self,
        mut area: MemoryArea<B>,
        pt: &mut B::PageTable,
        on_overlap: OnOverlap,
    ) -> MappingResult {
        let start = area.start();
        let end = area.checked_end()?;
        if self.overlaps(AddrRange { start, end }) {
            if on_overlap == OnOverlap::Fail {
                return Err(MappingError::AlreadyExists);
            }
            self.unmap_backends(start, end, pt)?;
            if let Err(err) = area.map_whole(pt) {
                let lo = self.first_key(start);
                self.remap_backends(lo, end, start, end, pt);
                return Err(err);
            }
            self.remove_unmapped(start, end);
        } else {
            area.map_whole(pt)?;
        }
        self.areas.insert(start, area);
        self.gaps.occupy(addr_usize(start), addr_usize(end));
        Ok(())
    }

    /// Joins the area starting at `start` with the one that starts exactly where it ends, if
    /// both have the same flags and `join(first, second)` agrees: one area
    /// `[start, end of the second)` remains, with the backend `join` leaves in `first` (it
    /// takes what it needs from `second`, which is then dropped). Pure bookkeeping in
    /// O(log n): no backend hook runs and the free space is unchanged, so `join` must make
    /// a backend that describes both ranges as they are mapped now (as when an OS merges
    /// compatible neighbours); returning `false`, it must leave both unchanged. Returns
    /// whether the areas were joined; nothing changes otherwise.
    pub fn join_next(&mut self, start: B::Addr, join: impl FnOnce(&mut B, &mut B) -> bool) -> bool {
        let Some(end) = self.areas.get(&start).map(MemoryArea::end) else {
            return false;
        };
        let Some(mut second) = self.areas.remove(&end) else {
            return false;
        };
        let joined = match self.areas.get_mut(&start) {
            Some(first) if first.flags() == second.flags() => {
                join(first.backend_mut(), second.backend_mut()) && {
                    first.extend_back(second.end());
                    true
                }
            }
            _ => false,
        };
        if !joined {
            self.areas.insert(end, second);
        }
        joined
    }

    /// Unmaps `[start, start + size)`: areas inside it are removed, areas overlapping its
    /// edges are shrunk, an area containing it is split in two. Holes are allowed; a range
    /// that overlaps nothing is a successful no-op.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: `size` is 0 or `start + size` overflows.
    /// - Any error of the backends; then nothing changed.
    pub fn unmap(&mut self, start: B::Addr, size: usize, pt: &mut B::PageTable) -> MappingResult {
        let end = range_end(start, size)?;
        if self.overlaps(AddrRange { start, end }) {
            self.unmap_backends(start, end, pt)?;
            self.remove_unmapped(start, end);
            self.gaps.release(addr_usize(start), addr_usize(end));
        }
        Ok(())
    }

    /// Changes the flags of `[start, start + size)`: for each overlapping area, `update` is
    /// called once with its flags; `None` or the same flags leave that area alone, other
    /// flags are applied to the overlapped part, splitting the area in up to three pieces.
    /// Holes are allowed.
    ///
    /// # Errors
    ///
    /// - [`MappingError::InvalidParam`]: `size` is 0 or `start + size` overflows.
    /// - Any error of the backends; then nothing changed.
    pub fn protect(
        &mut self,
        start: B::Addr,
        size: usize,
        update: impl Fn(B::Flags) -> Option<B::Flags>,
        pt: &mut B::PageTable,
    ) -> MappingResult {
        let end = range_end(start, size)?;
        let lo = self.first_key(start);
        // (key, new flags) of the areas changed, in address order.
        let mut changed: Vec<(B::Addr, B::Flags)> = Vec::new();
        let mut failure = None;
        for (&key, area) in self.areas.range_mut(lo..end) {
            let old = area.flags();
            let Some(new) = update(old).filter(|&new| new != old) else {
                continue;
            };
            let (s, sz) = piece(area, start, end);
            if let Err(err) = area.backend_mut().protect(s, sz, new, pt) {
                failure = Some((key, err));
                break;
            }
            changed.push((key, new));
        }
        if let Some((failed_key, err)) = failure {
            // Undo in reverse order; every changed area lies below the failed one.
            let mut undo = changed.iter().rev().peekable();
            for (&key, area) in self.areas.range_mut(lo..failed_key).rev() {
                if undo.next_if(|&&(k, _)| k == key).is_some() {
                    let (s, sz) = piece(area, start, end);
                    let old = area.flags();
                    // Contract: undoing a successful protect succeeds; on failure we still
                    // report the original error.
                    let _ = area.backend_mut().protect(s, sz, old, pt);
                }
            }
            return Err(err);
        }
        self.split_protected(&changed, lo, start, end);
        Ok(())
    }

    /// Applies the new flags of `changed` to the areas' bookkeeping, splitting the first
    /// and last area at the range edges. Infallible: runs after the backends succeeded.
    fn split_protected(
        &mut self,
        changed: &[(B::Addr, B::Flags)],
        lo: B::Addr,
        start: B::Addr,
        end: B::Addr,
    ) {
        // Only the first and the last area can be partly covered: at most two new pieces.
        let mut pieces: Vec<MemoryArea<B>> = Vec::new();
        let mut todo = changed.iter().peekable();
        for (&key, area) in self.areas.range_mut(lo..end) {
            let Some(&(_, new)) = todo.next_if(|&&(k, _)| k == key) else {
                if todo.peek().is_none() {
                    break;
                }
                continue;
            };
            let area_end = area.end();
            if area.start() < start {
                // [area.start, start) keeps the old flags.
                let mut mid = area.split(start);
                if area_end > end {
                    pieces.push(mid.split(end));
                }
                mid.set_flags(new);
                pieces.push(mid);
            } else {
                if area_end > end {
                    pieces.push(area.split(end));
                }
                area.set_flags(new);
            }
        }
        for piece in pieces {
            self.areas.insert(piece.start(), piece);
        }
    }

    /// Unmaps every area through its backend and empties the set. O(n).
    ///
    /// # Errors
    ///
    /// Any error of the backends; then the areas already unmapped are mapped again and the
    /// set is unchanged.
    pub fn clear(&mut self, pt: &mut B::PageTable) -> MappingResult {
        let mut failure = None;
        for (&key, area) in self.areas.iter_mut() {
            let (start, size) = (area.start(), area.size());
            if let Err(err) = area.backend_mut().unmap(start, size, pt) {
                failure = Some((key, err));
                break;
            }
        }
        if let Some((failed_key, err)) = failure {
            for (_, area) in self.areas.range_mut(..failed_key).rev() {
                let _ = area.map_whole(pt);
            }
            return Err(err);
        }
        self.areas.clear();
        self.gaps.reset();
        Ok(())
    }

    /// Unmaps the parts of all areas overlapping `[start, end)` through their backends,
    /// undoing the calls already made if one fails.
    fn unmap_backends(
        &mut self,
        start: B::Addr,
        end: B::Addr,
        pt: &mut B::PageTable,
    ) -> MappingResult {
        let lo = self.first_key(start);
        let mut failure = None;
        for (&key, area) in self.areas.range_mut(lo..end) {
            let (s, sz) = piece(area, start, end);
            if let Err(err) = area.backend_mut().unmap(s, sz, pt) {
                failure = Some((key, err));
                break;
            }
        }
        match failure {
            Some((failed_key, err)) => {
                self.remap_backends(lo, failed_key, start, end, pt);
                Err(err)
            }
            None => Ok(()),
        }
    }

    /// Maps again, in reverse order, the parts inside `[start, end)` of the areas with keys
    /// in `lo..hi` (the undo of [`unmap_backends`](Self::unmap_backends)).
    fn remap_backends(
        &mut self,
        lo: B::Addr,
        hi: B::Addr,
        start: B::Addr,
        end: B::Addr,
        pt: &mut B::PageTable,
    ) {
        for (_, area) in self.areas.range_mut(lo..hi).rev() {
            let (s, sz) = piece(area, start, end);
            let flags = area.flags();
            // Contract: re-mapping what was just unmapped succeeds; on failure we still
            // report the original error.
            let _ = area.backend_mut().map(s, sz, flags, pt);
        }
    }

    /// Removes `[start, end)` from the bookkeeping after the backends unmapped it: covered
    /// areas are dropped, edge areas shrunk, an area containing the range split. O(log n + k).
    fn remove_unmapped(&mut self, start: B::Addr, end: B::Addr) {
        // The area starting below `start` that reaches into the range.
        let mut tail = None;
        if let Some((_, area)) = self.areas.range_mut(..start).next_back()
            && area.end() > start
        {
            if area.end() > end {
                tail = Some(area.split(end));
            }
            area.shrink_back(start);
        }
        if let Some(tail) = tail {
            // The range was strictly inside one area: nothing else overlaps it.
            self.areas.insert(end, tail);
            return;
        }
        // The last area starting inside the range may stick out past `end`: its key changes.
        let sticks_out = match self.areas.range(start..end).next_back() {
            Some((&key, area)) if area.end() > end => Some(key),
            _ => None,
        };
        if let Some(mut area) = sticks_out.and_then(|key| self.areas.remove(&key)) {
            area.shrink_front(end);
            self.areas.insert(end, area);
        }
        // Everything still starting inside the range is covered by it.
        self.areas
            .extract_if(start..end, |_, _| true)
            .for_each(drop);
    }
}

/// The part of `area` inside `[start, end)` as `(start, size)`; the caller guarantees they
/// overlap.
fn piece<B: MappingBackend>(
    area: &MemoryArea<B>,
    start: B::Addr,
    end: B::Addr,
) -> (B::Addr, usize) {
    let s = area.start().max(start);
    let e = area.end().min(end);
    (s, addr_usize(e) - addr_usize(s))
}

impl<B: MappingBackend> Default for MemorySet<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: MappingBackend> fmt::Debug for MemorySet<B>
where
    B::Addr: fmt::Debug,
    B::Flags: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.areas.values()).finish()
    }
}

#[cfg(any(test, feature = "testing"))]
impl<B: MappingBackend> MemorySet<B> {
    /// Checks the structural invariants (test and fuzzing helper, feature `testing`): keys
    /// equal starts, areas are valid, sorted and disjoint, the gap index is a valid AVL tree
    /// with correct subtree maxima and equals the gaps recomputed from the areas. O(n).
    ///
    /// # Panics
    ///
    /// If an invariant does not hold (a bug in this crate).
    pub fn check_invariants(&self) {
        let mut prev_end: Option<usize> = None;
        // The complement of the areas' union in [0, usize::MAX), recomputed by brute force.
        let mut gaps = Vec::new();
        let mut free_from = 0;
        for (&key, area) in &self.areas {
            assert!(key == area.start(), "key differs from area start");
            assert!(area.checked_end().is_ok(), "empty or overflowing area");
            let start = addr_usize(area.start());
            if let Some(prev_end) = prev_end {
                assert!(prev_end <= start, "areas overlap or are unsorted");
            }
            if start > free_from {
                gaps.push((free_from, start));
            }
            free_from = addr_usize(area.end());
            prev_end = Some(free_from);
        }
        if free_from < usize::MAX {
            gaps.push((free_from, usize::MAX));
        }
        assert_eq!(
            self.gaps.checked_gaps(),
            gaps,
            "gap index differs from the areas"
        );
    }
}
