//! The AVL tree of gaps: nodes with subtree maxima, rotations, `join`/`split` (O(height)
//! each; "just join" trees, so multi-gap updates compose from them), and the single-descent
//! edits used on the common paths.

use alloc::boxed::Box;
use core::cmp::Ordering;

pub(super) type Link = Option<Box<Node>>;

/// One gap `[start, end)` (non-empty), with the aggregates of its subtree.
pub(super) struct Node {
    pub(super) start: usize,
    pub(super) end: usize,
    /// The largest `end - start` in this subtree.
    pub(super) max: usize,
    /// AVL height (a leaf is 1). An AVL tree of n nodes is at most 1.45 log2(n + 2) high,
    /// so a `u8` cannot overflow for any n that fits in memory.
    pub(super) height: u8,
    pub(super) left: Link,
    pub(super) right: Link,
}

pub(super) fn height(t: &Link) -> u8 {
    t.as_ref().map_or(0, |n| n.height)
}

pub(super) fn max_len(t: &Link) -> usize {
    t.as_ref().map_or(0, |n| n.max)
}

impl Node {
    pub(super) fn leaf(start: usize, end: usize) -> Self {
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

pub(super) fn rotate_left(mut n: Box<Node>) -> Box<Node> {
    let Some(mut r) = n.right.take() else {
        return n;
    };
    n.right = r.left.take();
    n.update();
    r.left = Some(n);
    r.update();
    r
}

pub(super) fn rotate_right(mut n: Box<Node>) -> Box<Node> {
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
pub(super) fn rebalance(mut n: Box<Node>) -> Box<Node> {
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
pub(super) fn join(l: Link, mut k: Box<Node>, r: Link) -> Box<Node> {
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
pub(super) fn pop_last(mut n: Box<Node>) -> (Link, Box<Node>) {
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
pub(super) fn join2(l: Link, r: Link) -> Link {
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
pub(super) fn split_by(t: Link, below: &impl Fn(&Node) -> bool) -> (Link, Link) {
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

pub(super) fn first(mut n: &Node) -> &Node {
    while let Some(l) = n.left.as_deref() {
        n = l;
    }
    n
}

pub(super) fn last(mut n: &Node) -> &Node {
    while let Some(r) = n.right.as_deref() {
        n = r;
    }
    n
}

/// Where the target of a descent lies relative to a node.
pub(super) type Pick<'a> = &'a dyn Fn(&Node) -> Ordering;

/// The bounds of the node `pick` leads to. O(height).
pub(super) fn find(mut t: Option<&Node>, pick: Pick<'_>) -> Option<(usize, usize)> {
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
pub(super) fn edit(t: &mut Link, pick: Pick<'_>, start: usize, end: usize) {
    let Some(n) = t.as_deref_mut() else { return };
    match pick(n) {
        Ordering::Less => edit(&mut n.left, pick, start, end),
        Ordering::Greater => edit(&mut n.right, pick, start, end),
        Ordering::Equal => (n.start, n.end) = (start, end),
    }
    n.update();
}

/// Inserts a gap that lies between the existing ones without touching them. O(height).
pub(super) fn insert(t: Link, node: Box<Node>) -> Box<Node> {
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
pub(super) fn delete(t: Link, key: usize, spare: &mut Link) -> Link {
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
pub(super) fn starting_at(key: usize) -> impl Fn(&Node) -> Ordering {
    move |n| key.cmp(&n.start)
}

/// The first gap starting at or after `x`. O(height).
pub(super) fn first_from(mut t: Option<&Node>, x: usize) -> Option<(usize, usize)> {
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
pub(super) fn reaching(t: Option<&Node>, x: usize) -> Option<(usize, usize)> {
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
pub(super) enum Occupied {
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
pub(super) fn occupy_in(t: &mut Link, start: usize, end: usize, spare: &mut Link) -> Occupied {
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
pub(super) fn insert_first(t: Link, node: Box<Node>) -> Box<Node> {
    match t {
        None => node,
        Some(mut n) => {
            n.left = Some(insert_first(n.left.take(), node));
            rebalance(n)
        }
    }
}

/// A node for `[start, end)`, reusing the root allocation of a subtree that is being dropped.
pub(super) fn reuse(spare: &mut Link, start: usize, end: usize) -> Box<Node> {
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
