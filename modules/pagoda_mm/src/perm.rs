//! Permissions: the page-table flags of a page, computed in one place from its area's
//! flags and its copy-on-write state, and the access check that agrees with them.
//!
//! The rule (Linux's): an entry grants everything its area allows, except `WRITE` on a
//! private page whose frame is shared (copy-on-write). A writable area is readable, so a
//! write-only area's entries are read+write (read-only while copy-on-write), on every
//! architecture; otherwise a load from such a page would fault forever.

use memory_addr::PhysAddr;
use page_table_entry::{GenericPTE, MappingFlags};

/// Whether a page's frame may be written through this mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cow {
    /// The frame is this mapping's to write (or shared memory, which is never COW).
    Exclusive,
    /// A private page whose frame someone else also maps: write-protected and marked
    /// [`MappingFlags::COW`] until a write fault copies or reuses it.
    Shared,
}

/// The page-table flags of a page in an area with flags `area`.
pub(crate) fn entry_flags(area: MappingFlags, cow: Cow) -> MappingFlags {
    let mut flags = area;
    if flags.contains(MappingFlags::WRITE) {
        flags |= MappingFlags::READ;
        if cow == Cow::Shared {
            flags = (flags - MappingFlags::WRITE) | MappingFlags::COW;
        }
    }
    flags
}

/// The access bits (and `USER`) that hardware with PTE format `P` grants for an entry
/// with `flags` (x86-64, for one, cannot express execute-only: present means readable).
pub(crate) fn granted<P: GenericPTE>(flags: MappingFlags) -> MappingFlags {
    let mask = MappingFlags::ACCESS | MappingFlags::USER;
    P::new_page(PhysAddr::from_usize(0), flags & mask, false).flags() & mask
}

/// Whether an area with `flags` allows `access` (`READ`/`WRITE`/`EXECUTE`, with `USER` for
/// a user-mode access): exactly when the entries its pages get grant it, so a lazy page
/// and a present one behave alike.
pub(crate) fn permits<P: GenericPTE>(flags: MappingFlags, access: MappingFlags) -> bool {
    let wanted = access & (MappingFlags::ACCESS | MappingFlags::USER);
    granted::<P>(entry_flags(flags, Cow::Exclusive)).contains(wanted)
}

/// Whether a present entry with `flags` allows `access` on hardware with format `P`.
pub(crate) fn entry_permits<P: GenericPTE>(flags: MappingFlags, access: MappingFlags) -> bool {
    let wanted = access & (MappingFlags::ACCESS | MappingFlags::USER);
    granted::<P>(flags).contains(wanted)
}

#[cfg(test)]
mod tests {
    use page_table_entry::riscv::Rv64PTE;
    use page_table_entry::x86_64::X64PTE;

    use super::*;

    const R: MappingFlags = MappingFlags::READ;
    const W: MappingFlags = MappingFlags::WRITE;
    const X: MappingFlags = MappingFlags::EXECUTE;
    const U: MappingFlags = MappingFlags::USER;
    const C: MappingFlags = MappingFlags::COW;

    #[test]
    fn writable_areas_are_readable_and_cow_keeps_everything_but_write() {
        assert_eq!(entry_flags(W | U, Cow::Exclusive), R | W | U);
        assert_eq!(entry_flags(W | U, Cow::Shared), R | U | C);
        assert_eq!(entry_flags(W | X | U, Cow::Shared), R | X | U | C);
        assert_eq!(entry_flags(R | W, Cow::Shared), R | C);
        assert_eq!(entry_flags(X | U, Cow::Shared), X | U);
        assert_eq!(
            entry_flags(MappingFlags::empty(), Cow::Shared),
            MappingFlags::empty()
        );
        // Idempotent on flags it produced (fork applies it to entries).
        for f in [W | U, R | W | X, X, R] {
            let e = entry_flags(f, Cow::Shared);
            assert_eq!(entry_flags(e, Cow::Shared), e);
        }
    }

    #[test]
    fn permissions_follow_what_the_hardware_grants() {
        for access in [R, W, X] {
            for area in [
                R,
                W,
                X,
                R | W,
                R | X,
                W | X,
                R | W | X,
                MappingFlags::empty(),
            ] {
                // Never a permitted access that the entry then refuses (a fault loop).
                if permits::<Rv64PTE>(area | U, access | U) {
                    let e = entry_flags(area | U, Cow::Exclusive);
                    assert!(
                        entry_permits::<Rv64PTE>(e, access | U),
                        "{area:?} {access:?}"
                    );
                }
            }
        }
        assert!(permits::<Rv64PTE>(W | U, R | U));
        assert!(
            !permits::<Rv64PTE>(X | U, R | U),
            "Sv39 has execute-only pages"
        );
        assert!(permits::<X64PTE>(X | U, R | U), "x86-64 has none");
        assert!(
            !permits::<X64PTE>(R, R | U),
            "a kernel page is not a user page"
        );
        assert!(
            permits::<X64PTE>(R | U, R),
            "the kernel may read user pages"
        );
        assert!(!permits::<X64PTE>(MappingFlags::empty() | U, R | U));
        assert!(!entry_permits::<Rv64PTE>(R | U | C, W | U));
    }
}
