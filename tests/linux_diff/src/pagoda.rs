//! The Pagoda executor: the same ops on `pagoda_mm::AddrSpace`s on the host, with frames
//! from `CountingHandler` and a software TLB standing in for the CPU.

use std::sync::Arc;

use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_multiarch::MappingFlags;
use page_table_multiarch::testing::{CountingHandler, RecordingMeta, SoftTlb, take_flushes};
use page_table_multiarch::x86_64::{X64PTE, X64PagingMetaData};
use pagoda_mm::{
    AddrSpace, Advice, FaultError, File, LinuxError, MemFile, MmapFlags, MremapFlags, MsyncFlags,
};

use crate::ops::{Addr, MAX_PROCS, NFILES, Op, PAGE, Region, WIN_PAGES, file_byte, fnv, pattern};
use crate::reply::{Kind, MapEntry, PageState, Reply, normalize};
use crate::{HEAP_SPAN, WIN_BASE};

/// The address space type under test (x86-64 tables, as the Linux host).
pub type Space = AddrSpace<RecordingMeta<X64PagingMetaData>, X64PTE, CountingHandler>;

/// Where Pagoda's heap starts (Linux's is random; heap addresses are compared relative).
pub const HEAP_BASE: u64 = WIN_BASE + (1 << 30);
/// The end of the Pagoda space: `mmap` without a usable hint places areas just below it,
/// far from the window, as Linux places them far away near its mmap base.
pub const SPACE_END: u64 = WIN_BASE + (4 << 30);
const WIN_END: u64 = WIN_BASE + WIN_PAGES * PAGE;
const SIGSEGV: i32 = 11;
const SIGBUS: i32 = 7;

/// The processes of one sequence on Pagoda.
pub struct Pagoda {
    /// Address spaces in creation order (fork appends).
    pub procs: Vec<Space>,
    /// The one running the ops.
    pub active: usize,
    /// The files, shared by every process.
    pub files: Vec<Arc<MemFile>>,
    tlb: SoftTlb,
}

fn va(x: u64) -> VirtAddr {
    VirtAddr::from_usize(x as usize)
}

/// The Pagoda address of a region-relative address.
pub fn addr_of(a: Addr) -> u64 {
    let base = match a.region {
        Region::Win => WIN_BASE,
        Region::Heap => HEAP_BASE,
    };
    base.wrapping_add_signed(a.off)
}

fn errno(e: LinuxError) -> Reply {
    Reply::Err(e.code())
}

impl Pagoda {
    /// A process with the window reserved `PROT_NONE`, the heap start set and the files.
    pub fn start(file_sizes: &[u64]) -> Result<Self, String> {
        let range = VirtAddrRange::new(va(WIN_BASE), va(SPACE_END));
        let mut space = Space::new(range).map_err(|e| format!("AddrSpace::new: {e:?}"))?;
        space
            .mmap(
                va(WIN_BASE),
                (WIN_PAGES * PAGE) as usize,
                MappingFlags::empty(),
                MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED_NOREPLACE,
                None,
                0,
            )
            .map_err(|e| format!("reserving the window: {e:?}"))?;
        // `()` today; a `Result` on the mmsem branch (nothing is mapped there, so it cannot
        // fail): written to compile against both.
        #[allow(clippy::let_unit_value)]
        let _ = space.set_heap_start(va(HEAP_BASE));
        let files = (0..NFILES)
            .map(|f| {
                let size = file_sizes.get(f).copied().unwrap_or(0);
                let data: Vec<u8> = (0..size).map(|j| file_byte(f, j)).collect();
                Arc::new(MemFile::with_name(&format!("f{f}"), data))
            })
            .collect();
        take_flushes();
        Ok(Self {
            procs: vec![space],
            active: 0,
            files,
            tlb: SoftTlb::new(),
        })
    }

    /// The active address space.
    pub fn space(&mut self) -> &mut Space {
        &mut self.procs[self.active]
    }

    /// An address result relative to the window, or "outside" after unmapping it again.
    fn placed(&mut self, r: Result<VirtAddr, LinuxError>, len: u64) -> Reply {
        match r {
            Ok(v) if (WIN_BASE..WIN_END).contains(&(v.as_usize() as u64)) => {
                Reply::Val(v.as_usize() as i64 - WIN_BASE as i64)
            }
            Ok(v) if (HEAP_BASE..HEAP_BASE + HEAP_SPAN).contains(&(v.as_usize() as u64)) => {
                Reply::HeapAddr(v.as_usize() as i64 - HEAP_BASE as i64)
            }
            Ok(v) => {
                let len = (len as usize).next_multiple_of(PAGE_SIZE_4K);
                match self.space().munmap(v, len) {
                    Ok(()) => Reply::Outside,
                    Err(e) => Reply::Broken(format!("cannot unmap the placed area: {e:?}")),
                }
            }
            Err(e) => errno(e),
        }
    }

    /// Runs one op, then what a kernel does before it returns to user mode in the active
    /// space: apply the truncations other ops posted (a shrunk file's pages past its end
    /// are unmapped, their loads are `SIGBUS` from now on; Linux unmaps them in `ftruncate`
    /// itself, Pagoda's kernel in its run loop).
    pub fn run(&mut self, op: &Op) -> Reply {
        let reply = self.run_inner(op);
        self.space().apply_truncations();
        // Flushes the op issued reach the TLB; an entry that still disagrees with the
        // table is a missing flush.
        self.tlb.apply(&take_flushes());
        if let Some(e) = self.tlb.find_stale(self.procs[self.active].page_table()) {
            return Reply::Broken(format!(
                "stale TLB entry after the op (missing flush): {e:?}"
            ));
        }
        reply
    }

    fn run_inner(&mut self, op: &Op) -> Reply {
        let a = addr_of;
        let unit = |r: Result<(), LinuxError>| r.map_or_else(errno, |()| Reply::Val(0));
        match *op {
            Op::Mmap {
                addr,
                len,
                prot,
                flags,
                file,
                off,
            } => {
                let file = usize::try_from(file)
                    .ok()
                    .and_then(|f| self.files.get(f))
                    .map(|f| f.clone() as Arc<dyn File>);
                let r = self.space().mmap(
                    va(addr.map_or(0, a)),
                    len as usize,
                    MappingFlags::from_bits_retain(prot as usize),
                    MmapFlags::from_bits_retain(flags),
                    file,
                    off as u64,
                );
                self.placed(r, len)
            }
            Op::Munmap { addr, len } => unit(self.space().munmap(va(a(addr)), len as usize)),
            Op::Mprotect { addr, len, prot } => unit(self.space().mprotect(
                va(a(addr)),
                len as usize,
                MappingFlags::from_bits_retain(prot as usize),
            )),
            Op::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                new_addr,
            } => {
                let r = self.space().mremap(
                    va(a(addr)),
                    old_len as usize,
                    new_len as usize,
                    MremapFlags::from_bits_retain(flags),
                    va(a(new_addr)),
                );
                self.placed(r, new_len)
            }
            Op::Madvise { addr, len, advice } => match Advice::try_from(advice) {
                Ok(adv) => unit(self.space().madvise(va(a(addr)), len as usize, adv)),
                Err(e) => errno(e),
            },
            Op::Msync { addr, len, flags } => unit(self.space().msync(
                va(a(addr)),
                len as usize,
                MsyncFlags::from_bits_retain(flags),
            )),
            Op::Brk { addr } => {
                let r = self.space().brk(va(a(addr)));
                Reply::Val((r.as_usize() as u64).wrapping_sub(HEAP_BASE) as i64)
            }
            Op::Read { addr, len } => {
                let mut buf = vec![0u8; len as usize];
                match self.load(a(addr), &mut buf) {
                    Ok(()) => Reply::Hash(fnv(&buf)),
                    Err(r) => r,
                }
            }
            Op::Write { addr, len, seed } => {
                let data: Vec<u8> = (0..len).map(|i| pattern(seed.into(), i)).collect();
                match self.store(a(addr), &data) {
                    Ok(()) => Reply::Stored,
                    Err(r) => r,
                }
            }
            Op::Pread { file, off, len } => {
                let Ok(off) = u64::try_from(off) else {
                    return Reply::Err(22);
                };
                let mut buf = vec![0u8; len.min(65536) as usize];
                match self.files[file].read_at(off, &mut buf) {
                    Ok(n) => Reply::Io(n as u64, fnv(&buf[..n.min(buf.len())])),
                    Err(e) => errno(e),
                }
            }
            Op::Pwrite {
                file,
                off,
                len,
                seed,
            } => {
                let Ok(off) = u64::try_from(off) else {
                    return Reply::Err(22);
                };
                let data: Vec<u8> = (0..len.min(65536))
                    .map(|i| pattern(seed.into(), i))
                    .collect();
                match self.files[file].write_at(off, &data) {
                    Ok(n) => Reply::Io(n as u64, 0),
                    Err(e) => errno(e),
                }
            }
            Op::Ftruncate { file, len } => match usize::try_from(len) {
                Ok(len) => {
                    self.files[file].set_len(len);
                    Reply::Val(0)
                }
                Err(_) => Reply::Err(22),
            },
            Op::Fork { child_active } => {
                if self.procs.len() >= MAX_PROCS {
                    return Reply::Err(11);
                }
                match self.space().fork() {
                    Ok(child) => {
                        self.procs.push(child);
                        if child_active {
                            self.switch_to(self.procs.len() - 1);
                        }
                        Reply::Val(self.procs.len() as i64 - 1)
                    }
                    Err(e) => errno(e),
                }
            }
            Op::Switch { proc } => {
                if proc >= self.procs.len() {
                    return Reply::Err(3);
                }
                self.switch_to(proc);
                Reply::Val(proc as i64)
            }
        }
    }

    /// A context switch: another root table, so (without ASIDs) the TLB starts empty.
    fn switch_to(&mut self, proc: usize) {
        if proc != self.active {
            self.active = proc;
            self.tlb.flush_all();
        }
    }

    /// What the CPU does for one access to `addr`: translate through the TLB, and on a
    /// miss or a permission fault ask the kernel's fault handler and retry. A handler that
    /// keeps "resolving" without the access ever succeeding is a fault loop.
    fn touch(&mut self, addr: u64, write: bool) -> Result<(), Reply> {
        let access = if write {
            MappingFlags::WRITE
        } else {
            MappingFlags::READ
        };
        let page = addr & !(PAGE - 1);
        for _ in 0..4 {
            let pt = self.procs[self.active].page_table();
            if let Some((pa, flags)) = self.tlb.translate(pt, page as usize)
                && flags.contains(MappingFlags::USER | access)
            {
                return self.check_frame(page, pa.as_usize() as u64);
            }
            // A page fault drops the faulting translation before the handler runs.
            self.tlb.flush_page(page as usize);
            let r =
                self.procs[self.active].handle_page_fault(va(addr), access | MappingFlags::USER);
            self.tlb.apply(&take_flushes());
            match r {
                Ok(_) => {}
                Err(FaultError::Segv) => {
                    let mapped = self.procs[self.active].find_area(va(addr)).is_some();
                    return Err(Reply::Fault {
                        signo: SIGSEGV,
                        code: if mapped { 2 } else { 1 },
                        addr_delta: 0,
                    });
                }
                Err(FaultError::Bus) => {
                    return Err(Reply::Fault {
                        signo: SIGBUS,
                        code: 2,
                        addr_delta: 0,
                    });
                }
                Err(FaultError::NoMemory) => {
                    return Err(Reply::Broken("fault: out of memory".into()));
                }
            }
        }
        Err(Reply::Broken(format!(
            "fault loop: {} at {addr:#x} still refused after the handler resolved it 4 times",
            if write { "store" } else { "load" }
        )))
    }

    /// The frame the table maps must be the one the area owns (if it owns frames).
    fn check_frame(&self, page: u64, pa: u64) -> Result<(), Reply> {
        match self.procs[self.active].frame_at(va(page)) {
            Some(f) if f.start_paddr().as_usize() as u64 != pa => Err(Reply::Broken(format!(
                "page {page:#x}: the table maps {pa:#x}, the area holds frame {:#x}",
                f.start_paddr().as_usize()
            ))),
            _ => Ok(()),
        }
    }

    fn load(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Reply> {
        self.touch(addr, false)?;
        self.space()
            .read_bytes(va(addr), buf)
            .map_err(|e| Reply::Broken(format!("read_bytes after a successful load: {e:?}")))
    }

    fn store(&mut self, addr: u64, data: &[u8]) -> Result<(), Reply> {
        self.touch(addr, true)?;
        self.space()
            .write_bytes(va(addr), data)
            .map_err(|e| Reply::Broken(format!("write_bytes after a successful store: {e:?}")))
    }

    /// Loads every page of `[addr, addr + pages * 4096)` of the active process.
    pub fn dump(&mut self, addr: Addr, pages: u64) -> Vec<PageState> {
        let base = addr_of(addr);
        let mut buf = vec![0u8; PAGE as usize];
        let out = (0..pages)
            .map(|i| match self.load(base + i * PAGE, &mut buf) {
                Ok(()) => PageState::Data(fnv(&buf)),
                Err(Reply::Fault { signo, code, .. }) => PageState::Fault(signo, code),
                Err(Reply::Broken(why)) => PageState::Broken(why),
                Err(other) => PageState::Broken(format!("unexpected reply {other:?}")),
            })
            .collect();
        self.tlb.apply(&take_flushes());
        out
    }

    /// The window's and the heap's areas of the active process, parsed from its
    /// `Display` (maps) output and normalized.
    pub fn maps(&mut self) -> Result<(Vec<MapEntry>, Vec<MapEntry>), String> {
        let text = self.space().to_string();
        let (mut win, mut heap) = (Vec::new(), Vec::new());
        for line in text.lines() {
            let bad = || format!("bad Pagoda maps line `{line}`");
            let mut t = line.split_whitespace();
            let range = t.next().ok_or_else(bad)?;
            let perms = t.next().ok_or_else(bad)?.to_string();
            let off = u64::from_str_radix(t.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
            let (_dev, _ino) = (t.next(), t.next());
            let name: Vec<&str> = t.collect();
            let name = name.join(" ");
            let (s, e) = range.split_once('-').ok_or_else(bad)?;
            let start = u64::from_str_radix(s, 16).map_err(|_| bad())?;
            let end = u64::from_str_radix(e, 16).map_err(|_| bad())?;
            let kind = match name.as_str() {
                "" | "[heap]" => Kind::Anon,
                "/dev/zero (deleted)" => Kind::Shm(off),
                n if n.starts_with('f') => Kind::File(n[1..].parse().map_err(|_| bad())?, off),
                _ => Kind::Other,
            };
            if start < WIN_END && end > WIN_BASE {
                let kind = if start < WIN_BASE {
                    kind.advanced(WIN_BASE - start)
                } else {
                    kind
                };
                win.push(MapEntry {
                    start: start.max(WIN_BASE),
                    end: end.min(WIN_END),
                    perms,
                    kind,
                });
            } else if (HEAP_BASE..HEAP_BASE + HEAP_SPAN).contains(&start) {
                heap.push(MapEntry {
                    start: start - HEAP_BASE,
                    end: end - HEAP_BASE,
                    perms,
                    kind,
                });
            }
        }
        Ok((normalize(win), normalize(heap)))
    }
}
