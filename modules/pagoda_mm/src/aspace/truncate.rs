//! Applying file truncations to an address space (the receiving end of the reverse map in
//! [`CachedFile::set_len`](crate::CachedFile::set_len)).

use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::GenericPTE;
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::AddrSpace;

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// Unmaps the pages that files mapped here lost to a truncation (`ftruncate` posts a
    /// notice to every address space mapping the file), private copies included: later
    /// accesses there are bus errors, as on Linux. Faults, uaccess, `msync` and `fork` run
    /// this first; a kernel must also run it before it returns to user mode in this space
    /// (another CPU or process may have truncated a file since). Cheap when nothing is
    /// pending (one atomic load).
    pub fn apply_truncations(&mut self) {
        let notices = &self.mmu.reclaim.notices;
        if !notices.is_pending() {
            return;
        }
        let list = notices.take();
        let whole = self.va_range;
        for area in self.areas.iter_range_mut(whole) {
            let Some(paged) = area.backend_mut().paged_mut() else {
                continue;
            };
            for &(id, size) in &list {
                let first = size.div_ceil(PAGE_SIZE_4K as u64);
                if paged.zap_truncated(id, first, &mut self.mmu).is_err() {
                    log::warn!("truncation: unmapping pages past the end failed");
                }
            }
        }
        self.mmu.commit();
    }
}
