//! A fixed-capacity set of disjoint, sorted, non-adjacent half-open frame-number ranges.
//!
//! Fixed capacity because the allocator must work before any heap exists.

use crate::FrameError;

/// The most disjoint usable ranges the allocator tracks (RAM regions split by reservations).
pub const MAX_RANGES: usize = 64;

/// A sorted list of disjoint `[start, end)` ranges (in frame numbers), merged when adjacent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RangeList {
    items: [(usize, usize); MAX_RANGES],
    len: usize,
}

impl RangeList {
    pub(crate) const fn new() -> Self {
        Self {
            items: [(0, 0); MAX_RANGES],
            len: 0,
        }
    }

    pub(crate) fn as_slice(&self) -> &[(usize, usize)] {
        &self.items[..self.len]
    }

    /// Appends to a list under construction; callers keep the order.
    fn push(&mut self, range: (usize, usize)) -> Result<(), FrameError> {
        let slot = self
            .items
            .get_mut(self.len)
            .ok_or(FrameError::TooManyRegions)?;
        *slot = range;
        self.len += 1;
        Ok(())
    }

    /// Adds `[start, end)`, merging with overlapping or adjacent ranges.
    /// On error (capacity) `self` is unchanged.
    pub(crate) fn insert(&mut self, start: usize, end: usize) -> Result<(), FrameError> {
        if start >= end {
            return Ok(());
        }
        let mut out = Self::new();
        let (mut ms, mut me) = (start, end);
        let mut placed = false;
        for &(s, e) in self.as_slice() {
            if e < ms {
                out.push((s, e))?;
            } else if s > me {
                if !placed {
                    out.push((ms, me))?;
                    placed = true;
                }
                out.push((s, e))?;
            } else {
                ms = ms.min(s);
                me = me.max(e);
            }
        }
        if !placed {
            out.push((ms, me))?;
        }
        *self = out;
        Ok(())
    }

    /// Removes `[start, end)`, splitting a range if needed.
    /// On error (capacity) `self` is unchanged.
    pub(crate) fn remove(&mut self, start: usize, end: usize) -> Result<(), FrameError> {
        if start >= end {
            return Ok(());
        }
        let mut out = Self::new();
        for &(s, e) in self.as_slice() {
            if e <= start || s >= end {
                out.push((s, e))?;
                continue;
            }
            if s < start {
                out.push((s, start))?;
            }
            if e > end {
                out.push((end, e))?;
            }
        }
        *self = out;
        Ok(())
    }

    /// Index of the range containing frame `f`.
    fn find(&self, f: usize) -> Option<usize> {
        let slice = self.as_slice();
        let idx = slice.partition_point(|&(_, e)| e <= f);
        slice.get(idx).filter(|&&(s, _)| s <= f).map(|_| idx)
    }

    /// Whether `[start, end)` (non-empty) lies inside one range.
    pub(crate) fn contains_range(&self, start: usize, end: usize) -> bool {
        start < end && self.find(start).is_some_and(|i| self.items[i].1 >= end)
    }

    /// Total number of frames covered.
    pub(crate) fn frames(&self) -> usize {
        self.as_slice().iter().map(|&(s, e)| e - s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model_of(list: &RangeList, limit: usize) -> Vec<bool> {
        (0..limit).map(|f| list.find(f).is_some()).collect()
    }

    proptest! {
        #![proptest_config(crate::tests::config(256))]
        #[test]
        fn matches_bool_model(ops in prop::collection::vec((any::<bool>(), 0usize..200, 0usize..40), 0..40)) {
            let mut list = RangeList::new();
            let mut model = vec![false; 256];
            for (add, start, len) in ops {
                let end = start + len;
                let before = list;
                let res = if add { list.insert(start, end) } else { list.remove(start, end) };
                match res {
                    Ok(()) => model[start..end].iter_mut().for_each(|b| *b = add),
                    Err(e) => {
                        prop_assert_eq!(e, FrameError::TooManyRegions);
                        prop_assert_eq!(list, before);
                    }
                }
                prop_assert_eq!(model_of(&list, 256), model.clone());
                // Sorted, disjoint, non-adjacent, non-empty.
                for w in list.as_slice().windows(2) {
                    prop_assert!(w[0].1 < w[1].0);
                }
                prop_assert!(list.as_slice().iter().all(|&(s, e)| s < e));
                prop_assert_eq!(list.frames(), model.iter().filter(|b| **b).count());
            }
        }
    }

    #[test]
    fn capacity_error_leaves_list_unchanged() {
        let mut list = RangeList::new();
        for i in 0..MAX_RANGES {
            list.insert(i * 4, i * 4 + 2).unwrap();
        }
        let before = list;
        assert_eq!(list.insert(1000, 1001), Err(FrameError::TooManyRegions));
        assert_eq!(list.remove(0, 1), Ok(()));
        assert_eq!(list.as_slice()[0], (1, 2));
        let full = list;
        // Splitting a range needs one more slot.
        list.insert(1000, 1010).unwrap_err();
        assert_eq!(list, full);
        assert_ne!(before, full);
        assert!(list.contains_range(4, 6));
        assert!(!list.contains_range(4, 7));
        assert!(!list.contains_range(5, 5));
    }
}
