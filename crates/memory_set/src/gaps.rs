//! The gap index: the free intervals of a set (the maximal ranges no area covers) in an AVL
//! tree ordered by address and augmented with the largest gap length of each subtree.
//!
//! The areas stay in the set's `BTreeMap`; this tree only knows their union. Splitting an
//! area (`protect`, partial `unmap`) does not change the union, so only `map`, `unmap` and
//! `clear` touch the index, each with one split–join pass: O(log n + k) for k gaps removed.
//! The searches descend only into subtrees whose largest gap can hold the request, so they
//! are O(log n) (see [`GapIndex::first_fit`] for the one exception, alignments coarser than
//! the areas' boundaries).
//!
//! The tree is built from `split`/`join` ("just join" AVL trees): `join` of two trees and a
//! middle node costs O(1 + height difference), `split` O(height), and every update is a
//! composition of the two, so no special-cased insert or delete rebalancing is needed.

use alloc::boxed::Box;
use core::cmp::Ordering;

type Link = Option<Box<Node>>;

/// One gap `[start, end)` (non-empty), with the aggregates of its subtree.
struct Node {
    start: usize,
    end: usize,
    /// The largest `end - start` in this subtree.
    max: usize,
    /// AVL height (a leaf is 1). An AVL tree of n nodes is at most 1.45 log2(n + 2) high,
    /// so a `u8` cannot overflow for any n that fits in memory.
    height: u8,
    left: Link,
    right: Link,
}

fn height(t: &Link) -> u8 {
    t.as_ref().map_or(0, |n| n.height)
}

fn max_len(t: &Link) -> usize {
    t.as_ref().map_or(0, |n| n.max)
}

impl Node {
    fn leaf(start: usize, end: usize) -> Self {
        Self {
            start,
            end,
            max: end - start,
            height: 1,
            left: None,
            right: None,
        }
    }

    /// Recomputes height and largest gap from the children.
    fn update(&mut self) {
        self.height = 1 + height(&self.left).max(height(&self.right));
        self.max = (self.end - self.start)
            .max(max_len(&self.left))
            .max(max_len(&self.right));
    }

    /// Right height minus left height.
    fn balance(&self) -> i16 {
        i16::from(height(&self.right)) - i16::from(height(&self.left))
    }
}

fn rotate_left(mut n: Box<Node>) -> Box<Node> {
    let Some(mut r) = n.right.take() else {
        return n;
    };
    n.right = r.left.take();
    n.update();
    r.left = Some(n);
    r.update();
    r
}

fn rotate_right(mut n: Box<Node>) -> Box<Node> {
    let Some(mut l) = n.left.take() else {
        return n;
    };
    n.left = l.right.take();
    n.update();
    l.right = Some(n);
    l.update();
    l
}

/// Restores the AVL property at `n`, whose children are AVL trees differing in height by at
/// most 2 (one single or double rotation).
fn rebalance(mut n: Box<Node>) -> Box<Node> {
    n.update();
    let bf = n.balance();
    if bf > 1 {
        if let Some(r) = n.right.take() {
            n.right = Some(if r.balance() < 0 { rotate_right(r) } else { r });
        }
        rotate_left(n)
    } else if bf < -1 {
        if let Some(l) = n.left.take() {
            n.left = Some(if l.balance() > 0 { rotate_left(l) } else { l });
        }
        rotate_right(n)
    } else {
        n
    }
}

/// The tree holding `l`, then `k`, then `r` (all of `l` below `k`, all of `r` above; `k`'s
/// own children are replaced). O(1 + |height(l) - height(r)|).
fn join(l: Link, mut k: Box<Node>, r: Link) -> Box<Node> {
    match (l, r) {
        (Some(mut l), r) if l.height > height(&r) + 1 => {
            l.right = Some(join(l.right.take(), k, r));
            rebalance(l)
        }
        (l, Some(mut r)) if r.height > height(&l) + 1 => {
            r.left = Some(join(l, k, r.left.take()));
            rebalance(r)
        }
        (l, r) => {
            k.left = l;
            k.right = r;
            k.update();
            k
        }
    }
}

/// Removes the last node of `n`: (the rest, the last node with no children). O(height).
fn pop_last(mut n: Box<Node>) -> (Link, Box<Node>) {
    match n.right.take() {
        None => (n.left.take(), n),
        Some(r) => {
            let (rest, last) = pop_last(r);
            let l = n.left.take();
            (Some(join(l, n, rest)), last)
        }
    }
}

/// The concatenation of `l` and `r` (all of `l` below all of `r`). O(height).
fn join2(l: Link, r: Link) -> Link {
    match l {
        None => r,
        Some(l) => {
            let (rest, last) = pop_last(l);
            Some(join(rest, last, r))
        }
    }
}

/// Splits `t` into the nodes for which `below` holds and the rest; `below` must hold for a
/// prefix of the nodes in address order. O(height).
fn split_by(t: Link, below: &impl Fn(&Node) -> bool) -> (Link, Link) {
    let Some(mut n) = t else {
        return (None, None);
    };
    let (l, r) = (n.left.take(), n.right.take());
    if below(&n) {
        let (rl, rr) = split_by(r, below);
        (Some(join(l, n, rl)), rr)
    } else {
        let (ll, lr) = split_by(l, below);
        (ll, Some(join(lr, n, r)))
    }
}

fn first(mut n: &Node) -> &Node {
    while let Some(l) = n.left.as_deref() {
        n = l;
    }
    n
}

fn last(mut n: &Node) -> &Node {
    while let Some(r) = n.right.as_deref() {
        n = r;
    }
    n
}

/// Where the target of a descent lies relative to a node.
type Pick<'a> = &'a dyn Fn(&Node) -> Ordering;

/// The bounds of the node `pick` leads to. O(height).
fn find(mut t: Option<&Node>, pick: Pick<'_>) -> Option<(usize, usize)> {
    while let Some(n) = t {
        t = match pick(n) {
            Ordering::Less => n.left.as_deref(),
            Ordering::Greater => n.right.as_deref(),
            Ordering::Equal => return Some((n.start, n.end)),
        };
    }
    None
}

/// Changes the bounds of the node `pick` leads to, in place; the caller keeps the order
/// (the node stays between its neighbours, non-empty). O(height), no rebalancing.
fn edit(t: &mut Link, pick: Pick<'_>, start: usize, end: usize) {
    let Some(n) = t.as_deref_mut() else { return };
    match pick(n) {
        Ordering::Less => edit(&mut n.left, pick, start, end),
        Ordering::Greater => edit(&mut n.right, pick, start, end),
        Ordering::Equal => (n.start, n.end) = (start, end),
    }
    n.update();
}

/// Inserts a gap that lies between the existing ones without touching them. O(height).
fn insert(t: Link, node: Box<Node>) -> Box<Node> {
    match t {
        None => node,
        Some(mut n) => {
            if node.start < n.start {
                n.left = Some(insert(n.left.take(), node));
            } else {
                n.right = Some(insert(n.right.take(), node));
            }
            rebalance(n)
        }
    }
}

/// Removes the gap starting at `key`, keeping its node in `spare`. O(height).
fn delete(t: Link, key: usize, spare: &mut Link) -> Link {
    let mut n = t?;
    match key.cmp(&n.start) {
        Ordering::Less => n.left = delete(n.left.take(), key, spare),
        Ordering::Greater => n.right = delete(n.right.take(), key, spare),
        Ordering::Equal => {
            let rest = join2(n.left.take(), n.right.take());
            *spare = Some(n);
            return rest;
        }
    }
    Some(rebalance(n))
}

/// Leads to the gap starting at `key`.
fn starting_at(key: usize) -> impl Fn(&Node) -> Ordering {
    move |n| key.cmp(&n.start)
}

/// The first gap starting at or after `x`. O(height).
fn first_from(mut t: Option<&Node>, x: usize) -> Option<(usize, usize)> {
    let mut best = None;
    while let Some(n) = t {
        if n.start >= x {
            best = Some((n.start, n.end));
            t = n.left.as_deref();
        } else {
            t = n.right.as_deref();
        }
    }
    best
}

/// The gap that starts before `x` and reaches `x` (contains it or ends exactly there).
fn reaching(t: Option<&Node>, x: usize) -> Option<(usize, usize)> {
    find(t, &|n: &Node| {
        if n.start >= x {
            Ordering::Less
        } else if n.end < x {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

/// What [`occupy_in`] did below a node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occupied {
    /// No single gap contains the range; nothing changed.
    No,
    /// Bounds changed, heights did not: only subtree maxima need updating.
    InPlace,
    /// A node was removed or inserted: rebalance on the way up.
    Reshaped,
}

/// Occupies `[start, end)` inside the one gap of `t` that contains it, in one descent:
/// the gap shrinks, disappears or splits (the new right part comes from `spare` if there is
/// one).
fn occupy_in(t: &mut Link, start: usize, end: usize, spare: &mut Link) -> Occupied {
    let Some(n) = t.as_deref_mut() else {
        return Occupied::No;
    };
    let h0 = n.height;
    let done = if start < n.start {
        occupy_in(&mut n.left, start, end, spare)
    } else if start >= n.end {
        occupy_in(&mut n.right, start, end, spare)
    } else if end > n.end {
        return Occupied::No;
    } else {
        match (start == n.start, end == n.end) {
            (true, true) => {
                if let Some(mut gone) = t.take() {
                    *t = join2(gone.left.take(), gone.right.take());
                    *spare = Some(gone);
                }
                return Occupied::Reshaped;
            }
            (true, false) => {
                n.start = end;
                Occupied::InPlace
            }
            (false, true) => {
                n.end = start;
                Occupied::InPlace
            }
            (false, false) => {
                let node = reuse(spare, end, n.end);
                n.end = start;
                n.right = Some(insert_first(n.right.take(), node));
                Occupied::Reshaped
            }
        }
    };
    match done {
        Occupied::No => done,
        Occupied::InPlace => {
            n.update();
            done
        }
        Occupied::Reshaped => {
            if let Some(n) = t.take() {
                *t = Some(rebalance(n));
            }
            // Above a subtree whose height is unchanged, only maxima change.
            if height(t) == h0 {
                Occupied::InPlace
            } else {
                Occupied::Reshaped
            }
        }
    }
}

/// Inserts `node` before every node of `t`. O(height).
fn insert_first(t: Link, node: Box<Node>) -> Box<Node> {
    match t {
        None => node,
        Some(mut n) => {
            n.left = Some(insert_first(n.left.take(), node));
            rebalance(n)
        }
    }
}

/// A node for `[start, end)`, reusing the root allocation of a subtree that is being dropped.
fn reuse(spare: &mut Link, start: usize, end: usize) -> Box<Node> {
    match spare.take() {
        Some(mut n) => {
            // The children are dropped with `spare`'s other nodes by the caller.
            *spare = join2(n.left.take(), n.right.take());
            *n = Node::leaf(start, end);
            n
        }
        None => Box::new(Node::leaf(start, end)),
    }
}

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
