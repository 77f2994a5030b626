//! Host test helpers (feature `testing`, which needs `std`; always on for this crate's own
//! tests): a model of a CPU that accesses user memory through the real page table.
//!
//! [`Cpu`] performs loads, stores and instruction fetches the way hardware does: it
//! translates through a software TLB, walks the page table of the [`AddrSpace`] on a miss,
//! checks the permissions the entry grants to user mode (as the PTE format encodes them,
//! so x86-64's "present means readable" and RISC-V's execute-only pages are modelled), and
//! on a fault calls [`AddrSpace::handle_page_fault`] and retries, at most
//! [`Cpu::DEFAULT_FAULT_LIMIT`] times per page before it reports a fault loop. Bytes are
//! copied through the frame the entry points at.
//!
//! The TLB drops entries only when the address space flushes them, so a missing flush is
//! seen: the space's metadata must deliver its flushes, either by being
//! [`Recorded<M>`](Recorded) or by calling [`record_flush`] from its own `flush_tlb`.
//!
//! ```
//! use memory_addr::{VirtAddr, VirtAddrRange};
//! use page_table_multiarch::MappingFlags;
//! use pagoda_mm::testing::{Cpu, CpuFault, SegvCode, Sv39Space};
//! use pagoda_mm::MmapFlags;
//!
//! let range = VirtAddrRange::new(VirtAddr::from_usize(0x1000), VirtAddr::from_usize(0x40_0000_0000));
//! let mut space = Sv39Space::new(range).unwrap();
//! let flags = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
//! let at = space.mmap(VirtAddr::from_usize(0), 0x2000, MappingFlags::WRITE, flags, None, 0).unwrap();
//! let mut cpu = Cpu::new();
//! cpu.write(&mut space, at, b"hi").unwrap();
//! let mut buf = [0u8; 2];
//! cpu.read(&mut space, at, &mut buf).unwrap(); // a writable page is readable
//! assert_eq!(&buf, b"hi");
//! assert_eq!(
//!     cpu.fetch(&mut space, at, &mut buf),
//!     Err(CpuFault::Segv { addr: at, code: SegvCode::Accerr })
//! );
//! ```

mod flush;

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::ops::Range;

use memory_addr::{MemoryAddr, PAGE_SIZE_4K, PhysAddr, VirtAddr};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::{PagingHandler, PagingMetaData, PagingResult};

pub use self::flush::{Recorded, record_flush};
use crate::{AddrSpace, FaultError, FrameRef};

/// An Sv39 user address space whose flushes reach the [`Cpu`] models.
pub type Sv39Space = AddrSpace<
    Recorded<page_table_multiarch::riscv::Sv39MetaData>,
    page_table_entry::riscv::Rv64PTE,
    page_table_multiarch::testing::CountingHandler,
>;

/// An x86-64 (4-level) user address space whose flushes reach the [`Cpu`] models.
pub type X64Space = AddrSpace<
    Recorded<page_table_multiarch::x86_64::X64PagingMetaData>,
    page_table_entry::x86_64::X64PTE,
    page_table_multiarch::testing::CountingHandler,
>;

/// The `si_code` of a `SIGSEGV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegvCode {
    /// `SEGV_MAPERR`: no area at the address.
    Maperr,
    /// `SEGV_ACCERR`: the area forbids the access.
    Accerr,
}

/// Why an access of the [`Cpu`] model failed. `addr` is the first byte of the access in
/// the page that failed (the bytes before it were accessed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuFault {
    /// The fault handler answered `SIGSEGV`.
    Segv {
        /// The faulting address.
        addr: VirtAddr,
        /// Why.
        code: SegvCode,
    },
    /// The fault handler answered `SIGBUS`.
    Bus {
        /// The faulting address.
        addr: VirtAddr,
    },
    /// The fault handler ran out of memory.
    NoMemory,
    /// The fault handler reported success the allowed number of times, yet the access
    /// still faults: a user program would hang here.
    Loop {
        /// The faulting address.
        addr: VirtAddr,
    },
    /// The TLB held a translation the page table no longer has that grants more (another
    /// frame, more permissions, or nothing mapped any more): a flush is missing.
    StaleTlb {
        /// The address whose cached translation is stale.
        addr: VirtAddr,
    },
    /// The entry points at no frame the address space holds for that page (a linear area,
    /// whose memory this model cannot reach, or an entry left behind).
    NoFrame {
        /// The address.
        addr: VirtAddr,
    },
}

impl fmt::Display for CpuFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Segv { addr, code } => write!(f, "SIGSEGV ({code:?}) at {addr:?}"),
            Self::Bus { addr } => write!(f, "SIGBUS at {addr:?}"),
            Self::NoMemory => f.write_str("out of memory in the fault handler"),
            Self::Loop { addr } => write!(f, "fault loop at {addr:?}"),
            Self::StaleTlb { addr } => write!(f, "stale TLB entry at {addr:?}"),
            Self::NoFrame { addr } => write!(f, "no frame behind the entry at {addr:?}"),
        }
    }
}

impl core::error::Error for CpuFault {}

/// A cached translation: one leaf, of any size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    paddr: PhysAddr,
    flags: MappingFlags,
}

/// What one access needs from each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Load,
    Store,
    Fetch,
}

impl Access {
    fn flag(self) -> MappingFlags {
        match self {
            Self::Load => MappingFlags::READ,
            Self::Store => MappingFlags::WRITE,
            Self::Fetch => MappingFlags::EXECUTE,
        }
    }
}

/// A model of one CPU running user code: a software TLB in front of the page table of
/// the address space it accesses (see the [module docs](self)).
///
/// Switching to another address space (another root) flushes the whole TLB, as a CPU
/// without address-space identifiers does. Several models on one thread all receive
/// every flush (a broadcast shootdown).
#[derive(Debug)]
pub struct Cpu {
    /// Keyed by `(leaf start, leaf size)`.
    tlb: BTreeMap<(usize, usize), Entry>,
    pending: Rc<RefCell<flush::Pending>>,
    root: Option<PhysAddr>,
    fault_limit: usize,
    faults: usize,
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    /// How many times an access may fault on one page before it is a [`CpuFault::Loop`].
    pub const DEFAULT_FAULT_LIMIT: usize = 4;

    const SIZES: [usize; 3] = [0x1000, 0x20_0000, 0x4000_0000];

    /// A CPU with an empty TLB.
    pub fn new() -> Self {
        Self {
            tlb: BTreeMap::new(),
            pending: flush::subscribe(),
            root: None,
            fault_limit: Self::DEFAULT_FAULT_LIMIT,
            faults: 0,
        }
    }

    /// Sets how many faults per page an access may take before it is a fault loop.
    pub fn set_fault_limit(&mut self, limit: usize) {
        self.fault_limit = limit;
    }

    /// The page faults this CPU has taken (and handed to the address space) so far.
    pub fn faults_taken(&self) -> usize {
        self.faults
    }

    /// The number of cached translations.
    pub fn tlb_len(&self) -> usize {
        self.tlb.len()
    }

    /// Empties the TLB (as a full flush on this CPU).
    pub fn flush_all(&mut self) {
        self.tlb.clear();
    }

    /// Loads `buf.len()` bytes from `va`, in user mode.
    ///
    /// # Errors
    ///
    /// The first [`CpuFault`] of the access; the bytes of the pages before it were read.
    pub fn read<M, P, H>(
        &mut self,
        space: &mut AddrSpace<M, P, H>,
        va: VirtAddr,
        buf: &mut [u8],
    ) -> Result<(), CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        self.access(space, va, buf.len(), Access::Load, |frame, off, r| {
            frame.read_at(off, &mut buf[r])
        })
    }

    /// Stores `data` at `va`, in user mode.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); the bytes of the pages before the fault were written.
    pub fn write<M, P, H>(
        &mut self,
        space: &mut AddrSpace<M, P, H>,
        va: VirtAddr,
        data: &[u8],
    ) -> Result<(), CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        self.access(space, va, data.len(), Access::Store, |frame, off, r| {
            frame.write_at(off, &data[r])
        })
    }

    /// Fetches `buf.len()` bytes of instructions from `va`, in user mode.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), for execute permission.
    pub fn fetch<M, P, H>(
        &mut self,
        space: &mut AddrSpace<M, P, H>,
        va: VirtAddr,
        buf: &mut [u8],
    ) -> Result<(), CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        self.access(space, va, buf.len(), Access::Fetch, |frame, off, r| {
            frame.read_at(off, &mut buf[r])
        })
    }

    /// Runs `f(frame, offset in page, byte range of the access)` for each page of
    /// `[va, va + len)` once the page translates with the permission `access` needs.
    fn access<M, P, H>(
        &mut self,
        space: &mut AddrSpace<M, P, H>,
        va: VirtAddr,
        len: usize,
        access: Access,
        mut f: impl FnMut(&FrameRef<H>, usize, Range<usize>) -> PagingResult,
    ) -> Result<(), CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        let start = va.as_usize();
        let mut done = 0;
        while done < len {
            // An access that runs off the top of the address space faults there.
            let cur = start
                .checked_add(done)
                .ok_or(CpuFault::Segv {
                    addr: VirtAddr::from_usize(usize::MAX),
                    code: SegvCode::Maperr,
                })
                .map(VirtAddr::from_usize)?;
            let off = cur.align_offset_4k();
            let n = (PAGE_SIZE_4K - off).min(len - done);
            let pa = self.translate(space, cur, access)?;
            // The bytes live in the frame the entry points at, which must be the one the
            // space holds for the page.
            let frame = space
                .frame_at(cur.align_down_4k())
                .filter(|fr| fr.start_paddr() == pa.align_down_4k())
                .ok_or(CpuFault::NoFrame { addr: cur })?;
            f(frame, off, done..done + n).map_err(|_| CpuFault::NoFrame { addr: cur })?;
            done += n;
        }
        Ok(())
    }

    /// The physical address of `va` once it is accessible for `access`, faulting as needed.
    fn translate<M, P, H>(
        &mut self,
        space: &mut AddrSpace<M, P, H>,
        va: VirtAddr,
        access: Access,
    ) -> Result<PhysAddr, CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        let mut faults = 0;
        loop {
            self.sync(space);
            if let Some(pa) = self.lookup(space, va, access)? {
                return Ok(pa);
            }
            if faults == self.fault_limit {
                return Err(CpuFault::Loop { addr: va });
            }
            faults += 1;
            self.faults += 1;
            let wanted = access.flag() | MappingFlags::USER;
            match space.handle_page_fault(va, wanted) {
                Ok(_) => {}
                Err(FaultError::Segv) => {
                    let code = match space.find_area(va) {
                        Some(_) => SegvCode::Accerr,
                        None => SegvCode::Maperr,
                    };
                    return Err(CpuFault::Segv { addr: va, code });
                }
                Err(FaultError::Bus) => return Err(CpuFault::Bus { addr: va }),
                Err(FaultError::NoMemory) => return Err(CpuFault::NoMemory),
            }
        }
    }

    /// Applies the flushes issued since the last look, and a full flush on a switch of
    /// address space.
    fn sync<M, P, H>(&mut self, space: &AddrSpace<M, P, H>)
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        let root = space.root_paddr();
        if self.root != Some(root) {
            self.root = Some(root);
            self.tlb.clear();
        }
        let mut pending = self.pending.borrow_mut();
        if core::mem::take(&mut pending.all) {
            self.tlb.clear();
        }
        for va in core::mem::take(&mut pending.pages) {
            for size in Self::SIZES {
                self.tlb.remove(&(va & !(size - 1), size));
            }
        }
    }

    /// Translates `va` through the TLB or, on a miss, the page table (caching a present
    /// leaf). `Ok(None)` is a page fault; a cached entry that grants what the table no
    /// longer grants is [`CpuFault::StaleTlb`].
    fn lookup<M, P, H>(
        &mut self,
        space: &AddrSpace<M, P, H>,
        va: VirtAddr,
        access: Access,
    ) -> Result<Option<PhysAddr>, CpuFault>
    where
        M: PagingMetaData<VirtAddr = VirtAddr>,
        P: GenericPTE,
        H: PagingHandler,
    {
        let addr = va.as_usize();
        let walked = space
            .page_table()
            .query(va)
            .ok()
            .filter(|(_, flags, _)| flags.intersects(MappingFlags::ACCESS));
        let cached = Self::SIZES.iter().find_map(|&size| {
            let base = addr & !(size - 1);
            self.tlb.get(&(base, size)).map(|e| (*e, addr - base))
        });
        let (entry, off) = match cached {
            Some((entry, off)) => {
                // A stale entry is harmless while it grants no more than the table does
                // for the same frame (it faults, and the handler flushes it).
                let current = walked.map(|(pa, flags, _)| (pa.as_usize(), flags));
                let same_frame = current.is_some_and(|(pa, _)| pa == entry.paddr.as_usize() + off);
                let granted = entry.flags & (MappingFlags::ACCESS | MappingFlags::USER);
                let allowed = current.map_or(MappingFlags::empty(), |(_, f)| f);
                if !same_frame || !allowed.contains(granted) {
                    return Err(CpuFault::StaleTlb { addr: va });
                }
                (entry, off)
            }
            None => {
                let Some((pa, flags, size)) = walked else {
                    return Ok(None); // not present: not cached
                };
                let size = size as usize;
                let base = addr & !(size - 1);
                let entry = Entry {
                    paddr: PhysAddr::from_usize(pa.as_usize() - (addr - base)),
                    flags,
                };
                self.tlb.insert((base, size), entry);
                (entry, addr - base)
            }
        };
        let wanted = access.flag() | MappingFlags::USER;
        Ok(entry
            .flags
            .contains(wanted)
            .then(|| PhysAddr::from_usize(entry.paddr.as_usize() + off)))
    }
}

/// The proptest case count: `PROPTEST_CASES` from the environment if set and valid,
/// else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
