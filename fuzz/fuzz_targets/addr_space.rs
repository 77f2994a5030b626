//! `AddrSpace` operation sequences over up to four spaces (fork adds one): mmap, munmap,
//! mprotect, mremap, brk, fork, page faults and uaccess, with injected allocation failures.
//!
//! Oracles: nothing panics; private anonymous memory holds what was written (a byte model
//! per space, copied on fork, moved by mremap, dropped where no area is left); and after
//! every space is dropped all frames are back, freed exactly once (the counting handler
//! panics on a double or foreign free). "Wild" ops with raw flags (shared or file
//! mappings, madvise, msync) stop the byte model for that space but keep the accounting.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use memory_addr::{VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::riscv::Sv39MetaData;
use page_table_multiarch::testing::CountingHandler;
use pagoda_mm::{AddrSpace, Advice, File, MemFile, MmapFlags, MremapFlags, MsyncFlags};

type Space = AddrSpace<Sv39MetaData, Rv64PTE, CountingHandler>;

const P: usize = 0x1000;
const USER_START: usize = 0x1000;
const USER_END: usize = 0x40_0000_0000;
/// Fixed mappings land in 16 pages from here (so they collide).
const SLOTS: usize = 0x1000_0000;
const HEAP: usize = 0x2000_0000;

/// An address: a slot page (+ offset), the heap, near the top, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Slot(u8, u16),
    Heap(u8),
    Top(u8),
    Null,
    Any(u64),
}

impl Addr {
    fn get(self) -> usize {
        match self {
            Addr::Slot(p, off) => SLOTS + (p as usize % 16) * P + off as usize % P,
            Addr::Heap(p) => HEAP + p as usize * P,
            Addr::Top(p) => USER_END - (p as usize + 1) * P,
            Addr::Null => 0,
            Addr::Any(v) => v as usize,
        }
    }
    fn page(self) -> usize {
        self.get() & !(P - 1)
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Plain,
    Fixed,
    NoReplace,
    Populate,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Mmap {
        s: u8,
        addr: Addr,
        pages: u8,
        prot: u8,
        kind: Kind,
    },
    Munmap {
        s: u8,
        addr: Addr,
        pages: u8,
    },
    Mprotect {
        s: u8,
        addr: Addr,
        pages: u8,
        prot: u8,
    },
    Mremap {
        s: u8,
        addr: Addr,
        old: u8,
        new: u8,
        flags: u8,
        to: Addr,
    },
    Brk {
        s: u8,
        addr: Addr,
    },
    Fork {
        s: u8,
    },
    Drop {
        s: u8,
    },
    Fault {
        s: u8,
        addr: Addr,
        access: u8,
    },
    Write {
        s: u8,
        addr: Addr,
        len: u8,
        byte: u8,
    },
    Read {
        s: u8,
        addr: Addr,
        len: u8,
    },
    /// Raw arguments (any flags, files, shared memory): accounting only.
    Wild {
        s: u8,
        op: u8,
        a: Addr,
        b: u64,
        bits: u32,
        c: Addr,
    },
    /// The allocation after the next `k` fails (one-shot, cleared after the next op).
    FailAfter {
        k: u8,
    },
}

/// Mostly read-write (so writes and reads meet), sometimes anything else.
fn prot(bits: u8) -> MappingFlags {
    let rw = MappingFlags::READ | MappingFlags::WRITE;
    match bits % 8 {
        0..4 => rw,
        _ => MappingFlags::from_bits_retain(bits as usize >> 3 & 0x7),
    }
}

/// One space and its byte model (`None` once a wild op made it unpredictable).
struct Proc {
    space: Space,
    bytes: Option<BTreeMap<usize, u8>>,
}

impl Proc {
    fn forget(&mut self, lo: usize, hi: usize) {
        if let Some(b) = &mut self.bytes {
            b.retain(|&a, _| a < lo || a >= hi);
        }
    }

    /// Drops the model's bytes that no area covers any more.
    fn forget_unmapped(&mut self) {
        let ranges: Vec<(usize, usize)> = self
            .space
            .areas()
            .map(|a| (a.start().as_usize(), a.end().as_usize()))
            .collect();
        if let Some(b) = &mut self.bytes {
            b.retain(|&a, _| {
                let i = ranges.partition_point(|r| r.1 <= a);
                i < ranges.len() && ranges[i].0 <= a
            });
        }
    }
}

fn new_space() -> Proc {
    let range = VirtAddrRange::new(VirtAddr::from(USER_START), VirtAddr::from(USER_END));
    let mut space = Space::new(range).expect("new space");
    space.set_heap_start(VirtAddr::from(HEAP)).expect("the heap start lies in the user range");
    Proc {
        space,
        bytes: Some(BTreeMap::new()),
    }
}

fn va(a: usize) -> VirtAddr {
    VirtAddr::from(a)
}

fn step(procs: &mut Vec<Proc>, op: &Op, file: &Arc<dyn File>) {
    let n = procs.len();
    let pick = |s: u8| s as usize % n;
    match *op {
        Op::Mmap {
            s,
            addr,
            pages,
            prot: p,
            kind,
        } => {
            let pr = &mut procs[pick(s)];
            let len = (pages as usize % 16 + 1) * P;
            let mut flags = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
            let at = match kind {
                Kind::Plain => addr.get(),
                Kind::Fixed => {
                    flags |= MmapFlags::FIXED;
                    addr.page()
                }
                Kind::NoReplace => {
                    flags |= MmapFlags::FIXED_NOREPLACE;
                    addr.page()
                }
                Kind::Populate => {
                    flags |= MmapFlags::POPULATE;
                    addr.get()
                }
            };
            if let Ok(got) = pr.space.mmap(va(at), len, prot(p), flags, None, 0) {
                let got = got.as_usize();
                assert!(got % P == 0 && got >= USER_START && got + len <= USER_END);
                if matches!(kind, Kind::Fixed | Kind::NoReplace) {
                    assert_eq!(got, at, "fixed mmap moved");
                }
                pr.forget(got, got + len);
            }
        }
        Op::Munmap { s, addr, pages } => {
            let pr = &mut procs[pick(s)];
            let _ = pr
                .space
                .munmap(va(addr.page()), (pages as usize % 32 + 1) * P);
            pr.forget_unmapped();
        }
        Op::Mprotect {
            s,
            addr,
            pages,
            prot: p,
        } => {
            let pr = &mut procs[pick(s)];
            let _ = pr
                .space
                .mprotect(va(addr.page()), (pages as usize % 32 + 1) * P, prot(p));
        }
        Op::Mremap {
            s,
            addr,
            old,
            new,
            flags,
            to,
        } => {
            let pr = &mut procs[pick(s)];
            let (from, old_len, new_len) = (
                addr.page(),
                (old as usize % 8 + 1) * P,
                (new as usize % 16 + 1) * P,
            );
            let flags = MremapFlags::from_bits_retain(u32::from(flags % 4));
            let snapshot = pr.bytes.clone();
            if let Ok(got) = pr
                .space
                .mremap(va(from), old_len, new_len, flags, va(to.page()))
            {
                let got = got.as_usize();
                if let (Some(b), Some(old_bytes)) = (&mut pr.bytes, snapshot) {
                    if got != from {
                        // Moved: the kept part of the old range now lives at `got`, and
                        // whatever `got` replaced is gone.
                        b.retain(|&a, _| {
                            (a < got || a >= got + new_len) && (a < from || a >= from + old_len)
                        });
                        let keep = old_len.min(new_len);
                        for (&a, &v) in old_bytes.range(from..from + keep) {
                            b.insert(got + (a - from), v);
                        }
                    }
                }
            }
            pr.forget_unmapped();
        }
        Op::Brk { s, addr } => {
            let pr = &mut procs[pick(s)];
            let before = pr.space.heap().map(|h| h.end.as_usize());
            let got = pr.space.brk(va(addr.get())).as_usize();
            if let Some(old) = before
                && got > old
            {
                // New heap pages are fresh: forget model bytes past the old top page.
                pr.forget(old.next_multiple_of(P), got.next_multiple_of(P));
            }
            pr.forget_unmapped();
        }
        Op::Fork { s } => {
            if n >= 4 {
                return;
            }
            let parent = &mut procs[pick(s)];
            if let Ok(space) = parent.space.fork() {
                let bytes = parent.bytes.clone();
                procs.push(Proc { space, bytes });
            }
        }
        Op::Drop { s } => {
            if n > 1 {
                procs.swap_remove(pick(s));
            }
        }
        Op::Fault { s, addr, access } => {
            let access = [
                MappingFlags::READ,
                MappingFlags::WRITE,
                MappingFlags::EXECUTE,
            ][access as usize % 3];
            let _ = procs[pick(s)]
                .space
                .handle_page_fault(va(addr.get()), access);
        }
        Op::Write { s, addr, len, byte } => {
            let pr = &mut procs[pick(s)];
            let at = addr.get();
            // Inside one page, so a failed write wrote nothing.
            let len = (len as usize % 64 + 1).min(P - at % P);
            let data: Vec<u8> = (0..len).map(|i| byte.wrapping_add(i as u8)).collect();
            if pr.space.write_bytes(va(at), &data).is_ok()
                && let Some(b) = &mut pr.bytes
            {
                for (i, &v) in data.iter().enumerate() {
                    b.insert(at + i, v);
                }
            }
        }
        Op::Read { s, addr, len } => {
            let pr = &mut procs[pick(s)];
            let at = addr.get();
            let mut buf = vec![0xeeu8; len as usize % 128 + 1];
            if pr.space.read_bytes(va(at), &mut buf).is_ok()
                && let Some(b) = &pr.bytes
            {
                for (i, &got) in buf.iter().enumerate() {
                    let want = b.get(&(at + i)).copied().unwrap_or(0);
                    assert_eq!(got, want, "byte at {:#x}", at + i);
                }
            }
        }
        Op::Wild {
            s,
            op,
            a,
            b,
            bits,
            c,
        } => {
            let pr = &mut procs[pick(s)];
            pr.bytes = None;
            let (a, b, c) = (va(a.get()), b as usize, c.get());
            let sp = &mut pr.space;
            let p = MappingFlags::from_bits_retain((bits & 0xf) as usize);
            match op % 6 {
                0 => {
                    let f = (bits & 0x100 == 0).then(|| file.clone());
                    let _ = sp.mmap(
                        a,
                        b % (64 * P),
                        p,
                        MmapFlags::from_bits_retain(bits >> 4),
                        f,
                        c as u64,
                    );
                }
                1 => {
                    let _ = sp.mremap(a, b, c, MremapFlags::from_bits_retain(bits % 8), va(c));
                }
                2 => {
                    let _ = sp.msync(a, b, MsyncFlags::from_bits_retain(bits % 8));
                }
                3 => {
                    let advice = Advice::try_from(bits % 6).unwrap_or(Advice::DontNeed);
                    let _ = sp.madvise(a, b, advice);
                }
                4 => {
                    let _ = sp.force_write_bytes(a, &[1, 2, 3]);
                    let _ = sp.read_cstr(a, 16);
                }
                _ => {
                    let _ = sp.mprotect(a, b, p);
                }
            }
        }
        Op::FailAfter { k } => CountingHandler::fail_after(k as usize % 8),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    CountingHandler::reset();
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![0x5au8; 3 * P + 100]));
    let mut procs = vec![new_space()];
    for op in ops.iter().take(48) {
        let failing = matches!(op, Op::FailAfter { .. });
        step(&mut procs, op, &file);
        procs.iter_mut().for_each(Proc::forget_unmapped);
        if !failing {
            CountingHandler::clear_failure();
        }
    }
    drop(procs);
    drop(file);
    assert_eq!(CountingHandler::live_frames(), 0, "frames leaked");
});
