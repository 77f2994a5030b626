//! The linear free-area search the gap index replaced, kept as the reference the tests and
//! the fuzz targets compare `find_free_area` / `find_free_area_top_down` with (feature
//! `testing`).

use crate::{MappingBackend, MemorySet};

impl<B: MappingBackend> MemorySet<B> {
    /// The free-area search done by walking every area: bottom-up from `hint` or, with
    /// `top_down`, downwards from it, within `limit = (start, end)`, aligned to `align`. O(n);
    /// for tests only.
    pub fn scan_free_area(
        &self,
        hint: usize,
        size: usize,
        limit: (usize, usize),
        align: usize,
        top_down: bool,
    ) -> Option<usize> {
        if top_down {
            scan_down(self, hint, size, limit, align)
        } else {
            scan_up(self, hint, size, limit, align)
        }
    }
}

/// Bottom-up reference: walk every area in order, moving the candidate past each one it hits.
fn scan_up<B: MappingBackend>(
    set: &MemorySet<B>,
    hint: usize,
    size: usize,
    l: (usize, usize),
    align: usize,
) -> Option<usize> {
    if size == 0 || !align.is_power_of_two() || l.0 >= l.1 {
        return None;
    }
    let up = |a: usize| a.checked_add(align - 1).map(|a| a & !(align - 1));
    let mut cur = up(hint.max(l.0))?;
    for a in set.iter() {
        let (s, e) = (a.start().into(), a.end().into());
        let end = cur.checked_add(size).filter(|&end| end <= l.1)?;
        if e <= cur {
            continue;
        }
        if s >= end {
            return Some(cur);
        }
        cur = up(e)?;
    }
    cur.checked_add(size).filter(|&end| end <= l.1).map(|_| cur)
}

/// Top-down reference, walking every area from the top.
fn scan_down<B: MappingBackend>(
    set: &MemorySet<B>,
    hint: usize,
    size: usize,
    l: (usize, usize),
    align: usize,
) -> Option<usize> {
    if size == 0 || !align.is_power_of_two() || l.0 >= l.1 {
        return None;
    }
    let mut cur = hint.min(l.1.checked_sub(size)?) & !(align - 1);
    for a in set.iter().rev() {
        if cur < l.0 {
            return None;
        }
        let (s, e) = (a.start().into(), a.end().into());
        if s >= cur + size {
            continue;
        }
        if e <= cur {
            return Some(cur);
        }
        cur = s.checked_sub(size)? & !(align - 1);
    }
    (cur >= l.0).then_some(cur)
}
