//! `/proc/<pid>/maps`-style listing.

use core::fmt;

use memory_addr::{MemoryAddr, VirtAddr};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::{AddrSpace, Area};
use crate::backend::BackendKind;

/// The column where Linux starts the path name.
const NAME_COLUMN: usize = 73;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// The name maps shows for `area`: the file's or object's, or `[heap]`.
    pub(super) fn area_name<'a>(&self, area: &'a Area<M, P, H>) -> Option<&'a str> {
        let backend = area.backend();
        match backend.kind() {
            BackendKind::FilePrivate | BackendKind::FileShared => backend.file()?.name(),
            BackendKind::Shared => Some(
                backend
                    .shared_object()?
                    .name()
                    .unwrap_or("/dev/zero (deleted)"),
            ),
            BackendKind::Alloc => {
                let heap = self.heap()?;
                (area.start() >= heap.start && area.end() <= heap.end.align_up_4k())
                    .then_some("[heap]")
            }
            BackendKind::Linear => None,
        }
    }
}

/// One line per area, as in `/proc/<pid>/maps`:
/// `start-end perms offset dev inode name`, where perms are `r`, `w`, `x` and `p`
/// (private) or `s` (shared).
impl<M, P, H> fmt::Display for AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for area in self.areas() {
            let flags = area.flags();
            let bit = |flag, c| if flags.contains(flag) { c } else { '-' };
            let backend = area.backend();
            let shared = matches!(
                backend.kind(),
                BackendKind::FileShared | BackendKind::Shared | BackendKind::Linear
            );
            let offset = backend
                .file_offset(area.start())
                .or_else(|| backend.shared_offset(area.start()).map(|o| o as u64))
                .unwrap_or(0);
            let line = alloc::format!(
                "{:08x}-{:08x} {}{}{}{} {:08x} 00:00 0",
                area.start().as_usize(),
                area.end().as_usize(),
                bit(MappingFlags::READ, 'r'),
                bit(MappingFlags::WRITE, 'w'),
                bit(MappingFlags::EXECUTE, 'x'),
                if shared { 's' } else { 'p' },
                offset,
            );
            match self.area_name(area) {
                Some(name) => writeln!(f, "{line:<width$}{name}", width = NAME_COLUMN)?,
                None => writeln!(f, "{line}")?,
            }
        }
        Ok(())
    }
}
