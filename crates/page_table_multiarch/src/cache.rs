//! Memoized conversions between `MappingFlags` and entry bits, for the
//! per-entry loops of the range operations.

use memory_addr::PhysAddr;

use crate::{GenericPTE, MappingFlags};

/// Memoizes the flag encoding and decoding of entries. Converting between
/// [`MappingFlags`] and hardware bits is the costly part of writing an entry,
/// and the entries of one range almost always share their attribute bits, so
/// the conversion runs once per pattern and every other entry costs a couple
/// of `set_paddr`. Relies on the `GenericPTE` contract: `set_flags` keeps the
/// physical address and `set_paddr` keeps everything else, so results depend
/// only on the non-address bits.
#[derive(Clone, Copy)]
pub(crate) struct PteCache<PTE: GenericPTE> {
    /// (attribute bits, flags, huge) -> attribute bits after `set_flags`.
    set: Option<(usize, MappingFlags, bool, PTE)>,
    /// (flags, huge) -> `new_page(0, flags, huge)`.
    new: Option<(MappingFlags, bool, PTE)>,
    /// attribute bits -> `flags()`.
    get: Option<(usize, MappingFlags)>,
}

impl<PTE: GenericPTE> PteCache<PTE> {
    pub(crate) fn new() -> Self {
        Self {
            set: None,
            new: None,
            get: None,
        }
    }

    #[inline(always)]
    pub(crate) fn attr(e: &PTE) -> PTE {
        let mut a = *e;
        a.set_paddr(PhysAddr::from_usize(0));
        a
    }

    /// `e.set_flags(flags, huge)`.
    #[inline(always)]
    pub(crate) fn set_flags(&mut self, e: &mut PTE, flags: MappingFlags, huge: bool) {
        let mut attr = Self::attr(e);
        let key = attr.bits();
        let mut new = match self.set {
            Some((k, f, h, r)) if (k, f, h) == (key, flags, huge) => r,
            _ => {
                attr.set_flags(flags, huge);
                self.set = Some((key, flags, huge, attr));
                attr
            }
        };
        new.set_paddr(e.paddr());
        *e = new;
    }

    /// `PTE::new_page(paddr, flags, huge)`.
    #[inline(always)]
    pub(crate) fn new_page(&mut self, paddr: PhysAddr, flags: MappingFlags, huge: bool) -> PTE {
        let mut new = match self.new {
            Some((f, h, r)) if (f, h) == (flags, huge) => r,
            _ => {
                let r = PTE::new_page(PhysAddr::from_usize(0), flags, huge);
                self.new = Some((flags, huge, r));
                r
            }
        };
        new.set_paddr(paddr);
        new
    }

    /// `e.flags()`.
    #[inline(always)]
    pub(crate) fn flags(&mut self, e: &PTE) -> MappingFlags {
        let key = Self::attr(e).bits();
        match self.get {
            Some((k, f)) if k == key => f,
            _ => {
                let f = e.flags();
                self.get = Some((key, f));
                f
            }
        }
    }
}

/// The leaf loop of `protect_region` on raw entry bits: for entries with
/// the attribute bits `key` (physical-address bits masked by `mask`), the
/// new entry is `(bits & mask) | result`. Learned from the `GenericPTE`
/// methods on the first entry of each pattern, so it is exact for any
/// format whose `set_flags` keeps the address and depends on the other bits
/// only (the `GenericPTE` contract). Entries are stored verbatim in tables,
/// so a PTE's representation is its raw bits (`bits()`; debug-checked).
///
/// The empty cache (`mask == key == 0`) matches no used (non-zero) entry,
/// so callers need no "learned" flag: they skip unused entries and learn on
/// a mismatch.
#[derive(Clone, Copy)]
pub(crate) struct BitsCache {
    pub(crate) key: usize,
    pub(crate) mask: usize,
    pub(crate) result: usize,
    /// Whether [`run`](Self::run) may be used: `key` is non-zero (so unused
    /// entries never match) and neither `key` nor `result` has address
    /// bits, so a matching entry becomes `bits ^ key ^ result`.
    pub(crate) fast: bool,
}

impl BitsCache {
    pub(crate) const fn new() -> Self {
        Self {
            key: 0,
            mask: 0,
            result: 0,
            fast: false,
        }
    }

    /// Rewrites the entries `idx..end` of the leaf table `raw` while they
    /// match the pattern; returns the index of the first one that does not
    /// (or `end`). Only for a `fast` cache.
    ///
    /// # Safety
    /// `raw` is a live table and `idx <= end <= 512`.
    #[inline(always)]
    pub(crate) unsafe fn run(&self, raw: *mut u64, mut idx: usize, end: usize) -> usize {
        debug_assert!(self.fast);
        let (not_mask, key, delta) = (!self.mask, self.key, self.key ^ self.result);
        while idx < end {
            // SAFETY: guaranteed by the caller.
            let bits = unsafe { raw.add(idx).read() } as usize;
            if bits & not_mask != key {
                break;
            }
            if delta != 0 {
                // SAFETY: as above.
                unsafe { raw.add(idx).write_volatile((bits ^ delta) as u64) };
            }
            idx += 1;
        }
        idx
    }

    /// The cache for the pattern of the used entry `e` and `set_flags(flags,
    /// huge)`. Out of line: it runs once per pattern, and keeping it out of
    /// the leaf loop keeps that loop's state in registers.
    #[cold]
    #[inline(never)]
    pub(crate) fn learn<PTE: GenericPTE>(
        e: &PTE,
        pa_all: usize,
        flags: MappingFlags,
        huge: bool,
    ) -> Self {
        debug_assert!(!e.is_unused());
        let mut attr = *e;
        attr.set_paddr(PhysAddr::from_usize(0));
        let mut probe = attr;
        probe.set_paddr(PhysAddr::from_usize(pa_all));
        let mut result = attr;
        result.set_flags(flags, huge);
        let mask = probe.bits() ^ attr.bits();
        let (key, result) = (attr.bits(), result.bits());
        let c = Self {
            key,
            mask,
            result,
            fast: key != 0 && (key | result) & mask == 0,
        };
        // The fast path must reproduce `set_flags` exactly on `e`.
        debug_assert_eq!(c.result & c.mask, 0);
        debug_assert_eq!(e.bits() & !c.mask, c.key, "address bits outside the mask");
        debug_assert_eq!(
            (e.bits() & c.mask) | c.result,
            {
                let mut n = *e;
                n.set_flags(flags, huge);
                n.bits()
            },
            "set_flags is not (address bits | attribute bits)"
        );
        c
    }
}
