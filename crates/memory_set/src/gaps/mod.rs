//! The gap index: the free intervals of a set (the maximal ranges no area covers) in an AVL
//! tree ordered by address and augmented with the largest gap length of each subtree.
//!
//! The areas stay in the set's `BTreeMap`; this tree only knows their union. Splitting an
//! area (`protect`, partial `unmap`) does not change the union, so only `map`, `unmap` and
//! `clear` touch the index: the usual cases (a range inside one gap, or touching at most
//! two) are edited in place in one or a few descents, any other range by one split and one
//! join, O(log n + k) for k gaps removed. The searches descend only into subtrees whose
//! largest gap can hold the request, so they are O(log n) (see [`GapIndex::first_fit`] for
//! the one exception, alignments coarser than the areas' boundaries).

mod tree;

use alloc::boxed::Box;

use self::tree::{
    Link, Node, Occupied, delete, edit, first, first_from, insert, join, join2, last, occupy_in,
    reaching, reuse, split_by, starting_at,
};

/// One search: room for `size` bytes at an `align`-aligned address inside `[lo, hi)`.
struct Query {
    lo: usize,
    hi: usize,
    size: usize,
    align: usize,
}

impl Query {
    /// The gap `[start, end)` clipped to `[lo, hi)`, if anything is left.
    fn clip(&self, n: &Node) -> Option<(usize, usize)> {
        let (s, e) = (n.start.max(self.lo), n.end.min(self.hi));
        (s < e).then_some((s, e))
    }

    /// The lowest fitting address in gap `n`.
    fn lowest_in(&self, n: &Node) -> Option<usize> {
        let (s, e) = self.clip(n)?;
        let x = s.checked_add(self.align - 1)? & !(self.align - 1);
        (x.checked_add(self.size)? <= e).then_some(x)
    }

    /// The highest fitting address in gap `n`.
    fn highest_in(&self, n: &Node) -> Option<usize> {
        let (s, e) = self.clip(n)?;
        let x = e.checked_sub(self.size)? & !(self.align - 1);
        (x >= s).then_some(x)
    }

    fn first(&self, t: Option<&Node>) -> Option<usize> {
        let n = t.filter(|n| n.max >= self.size)?;
        if n.end <= self.lo {
            return self.first(n.right.as_deref());
        }
        if n.start >= self.hi {
            return self.first(n.left.as_deref());
        }
        self.first(n.left.as_deref())
            .or_else(|| self.lowest_in(n))
            .or_else(|| self.first(n.right.as_deref()))
    }

    fn last(&self, t: Option<&Node>) -> Option<usize> {
        let n = t.filter(|n| n.max >= self.size)?;
        if n.end <= self.lo {
            return self.last(n.right.as_deref());
        }
        if n.start >= self.hi {
            return self.last(n.left.as_deref());
        }
        self.last(n.right.as_deref())
            .or_else(|| self.highest_in(n))
            .or_else(|| self.last(n.left.as_deref()))
    }
}

/// The free intervals of the address space `[0, usize::MAX)` (an area never contains the
/// last byte, because its end must be representable).
pub(crate) struct GapIndex {
    /// The gaps, when `tracked`.
    root: Link,
    /// `false` until the first update: the whole space is one gap (so `new` is `const` and
    /// allocates nothing).
    tracked: bool,
    /// One node kept from a removed gap for the next split (mmap/munmap cycles then
    /// allocate nothing).
    spare: Link,
}

impl GapIndex {
    pub(crate) const fn new() -> Self {
        Self {
            root: None,
            tracked: false,
            spare: None,
        }
    }

    /// Back to one gap covering everything. O(n).
    pub(crate) fn reset(&mut self) {
        self.root = None;
        self.tracked = false;
        self.spare = None;
    }

    fn take_root(&mut self) -> Link {
        if !self.tracked {
            self.tracked = true;
            return Some(Box::new(Node::leaf(0, usize::MAX)));
        }
        self.root.take()
    }

    fn view<R>(&self, f: impl FnOnce(Option<&Node>) -> R) -> R {
        if self.tracked {
            f(self.root.as_deref())
        } else {
            f(Some(&Node::leaf(0, usize::MAX)))
        }
    }

    /// `[start, end)` (non-empty, may already be partly covered) is now covered by areas.
    /// O(log n + k) for k gaps it overlaps.
    pub(crate) fn occupy(&mut self, start: usize, end: usize) {
        if !self.tracked {
            self.root = self.take_root();
        }
        // Usually the range lies in one gap (every map without replacement): shrink or
        // split that gap in place.
        if occupy_in(&mut self.root, start, end, &mut self.spare) == Occupied::No {
            self.occupy_range(start, end);
        }
    }

    /// [`occupy`](Self::occupy) over any number of gaps: one split into the gaps before,
    /// overlapping and after the range, and one join.
    fn occupy_range(&mut self, start: usize, end: usize) {
        let root = self.take_root();
        let (left, rest) = split_by(root, &|n| n.end <= start);
        let (mut mid, right) = split_by(rest, &|n| n.start < end);
        let ends = mid.as_deref().map(|m| (first(m).start, last(m).end));
        let (before, after) = match ends {
            Some((s, e)) => (
                (s < start).then(|| reuse(&mut mid, s, start)),
                (e > end).then(|| reuse(&mut mid, end, e)),
            ),
            None => (None, None),
        };
        let left = match before {
            Some(n) => Some(join(left, n, None)),
            None => left,
        };
        self.root = match after {
            Some(n) => Some(join(left, n, right)),
            None => join2(left, right),
        };
    }

    /// `[start, end)` (non-empty) is now free: it merges with the gaps it overlaps or
    /// touches. O(log n + k) for k such gaps.
    pub(crate) fn release(&mut self, start: usize, end: usize) {
        if !self.tracked {
            // Everything is free already.
            return;
        }
        // Usually at most one gap reaches the range from below and one starts inside it or
        // right after it (unmapping areas without holes between them): extend in place.
        let root = self.root.as_deref();
        let below = reaching(root, start);
        let inside = first_from(root, start).filter(|g| g.0 <= end);
        // `g.0 < g.1 <= usize::MAX`: no overflow.
        let beyond = inside.and_then(|g| first_from(root, g.0 + 1));
        if beyond.is_some_and(|g| g.0 <= end) {
            return self.release_range(start, end);
        }
        match (below, inside) {
            (None, None) => {
                let node = reuse(&mut self.spare, start, end);
                self.root = Some(insert(self.root.take(), node));
            }
            (Some((s, e)), None) => edit(&mut self.root, &starting_at(s), s, e.max(end)),
            (None, Some((s, e))) => edit(&mut self.root, &starting_at(s), start, e.max(end)),
            (Some((s, _)), Some((is, ie))) => {
                self.root = delete(self.root.take(), is, &mut self.spare);
                edit(&mut self.root, &starting_at(s), s, ie.max(end));
            }
        }
    }

    /// [`release`](Self::release) over any number of gaps: one split and one join.
    fn release_range(&mut self, start: usize, end: usize) {
        let root = self.take_root();
        let (left, rest) = split_by(root, &|n| n.end < start);
        let (mut mid, right) = split_by(rest, &|n| n.start <= end);
        let (s, e) = mid.as_deref().map_or((start, end), |m| {
            (first(m).start.min(start), last(m).end.max(end))
        });
        let merged = reuse(&mut mid, s, e);
        self.root = Some(join(left, merged, right));
    }

    /// The lowest `align`-aligned `x >= lo` with `[x, x + size)` free and `x + size <= hi`
    /// (`size > 0`, `align` a power of two).
    ///
    /// O(log n): the descent enters a subtree only if its largest gap holds `size` bytes, and
    /// every such gap fits, except the two clipped by `lo` and `hi` and, when `align` exceeds
    /// the alignment of the gaps' starts, gaps that are long enough but whose aligned start
    /// leaves too little room: each of those adds one O(log n) detour.
    pub(crate) fn first_fit(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        let q = Query {
            lo,
            hi,
            size,
            align,
        };
        self.view(|root| q.first(root))
    }

    /// The highest `align`-aligned `x >= lo` with `[x, x + size)` free and `x + size <= hi`;
    /// same cost as [`first_fit`](Self::first_fit).
    pub(crate) fn last_fit(
        &self,
        lo: usize,
        hi: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        let q = Query {
            lo,
            hi,
            size,
            align,
        };
        self.view(|root| q.last(root))
    }
}

#[cfg(any(test, feature = "testing"))]
impl GapIndex {
    /// The gaps in address order, after checking the tree's own invariants: AVL balance,
    /// heights, subtree maxima, sorted and non-touching non-empty gaps.
    pub(crate) fn checked_gaps(&self) -> alloc::vec::Vec<(usize, usize)> {
        fn walk(t: &Link, out: &mut alloc::vec::Vec<(usize, usize)>) -> (u8, usize) {
            let Some(n) = t else { return (0, 0) };
            let (hl, ml) = walk(&n.left, out);
            assert!(n.start < n.end, "empty gap");
            if let Some(&(_, prev_end)) = out.last() {
                assert!(prev_end < n.start, "gaps unsorted, overlapping or touching");
            }
            out.push((n.start, n.end));
            let (hr, mr) = walk(&n.right, out);
            assert!(hl.abs_diff(hr) <= 1, "AVL balance");
            assert_eq!(n.height, 1 + hl.max(hr), "height");
            let max = (n.end - n.start).max(ml).max(mr);
            assert_eq!(n.max, max, "subtree maximum");
            (n.height, max)
        }
        let mut out = alloc::vec::Vec::new();
        if self.tracked {
            walk(&self.root, &mut out);
        } else {
            out.push((0, usize::MAX));
        }
        out
    }
}
