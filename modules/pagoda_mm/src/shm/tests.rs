//! System V shm semantics: the registry alone, then with address spaces.

use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, PhysAddr};
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::tests::{Space, assert_no_leak, pte, setup, va};
use crate::{LinuxError, MmapFlags, Populate};

mod attach;
mod detach;
mod model;

const P: usize = PAGE_SIZE_4K;
type Reg = ShmRegistry<CountingHandler>;

fn ctx(pid: u32, now: u64) -> ShmContext {
    ShmContext { pid, now }
}

const C: ShmContext = ShmContext { pid: 1, now: 1 };

/// Loads one byte of each of `pages` pages at `at` through the software MMU: attachments
/// are mapped lazily, so this faults their entries in as a CPU would.
fn touch(s: &mut Space, at: usize, pages: usize) {
    let mut cpu = crate::testing::Cpu::new();
    for i in 0..pages {
        cpu.read(s, va(at + i * P), &mut [0u8])
            .expect("attached page is readable");
    }
}

/// The physical frames an attachment at `at` of `pages` pages maps (touched first).
fn frames_at(s: &mut Space, at: usize, pages: usize) -> Vec<PhysAddr> {
    touch(s, at, pages);
    (0..pages)
        .map(|i| PhysAddr::from(pte(s, at + i * P).expect("attached page is mapped").0))
        .collect()
}

/// A new private segment of `pages` pages.
fn seg(reg: &Reg, pages: usize) -> ShmId {
    reg.shmget(IPC_PRIVATE, pages * P, 0o600, C).unwrap()
}

/// A fresh space and registry with a new segment of `pages` pages attached where the
/// space chooses: `(space, registry, segment, address)`.
fn attached(pages: usize) -> (Space, Reg, ShmId, memory_addr::VirtAddr) {
    let mut s = setup();
    let reg = Reg::default();
    let id = seg(&reg, pages);
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    (s, reg, id, a)
}

/// Checks that the attachment at `a` (the only one in `s`) is `pieces` areas, and that
/// `shmdt(a)` removes every one of them.
fn detach_pieces(reg: &Reg, s: &mut Space, id: ShmId, a: memory_addr::VirtAddr, pieces: usize) {
    assert_eq!(reg.stat(id).unwrap().nattch, pieces);
    reg.shmdt(s, a, C).unwrap();
    assert_eq!(reg.stat(id).unwrap().nattch, 0);
    assert_eq!(s.areas().count(), 0);
}

fn all_live(frames: &[PhysAddr]) -> bool {
    frames.iter().all(|&pa| CountingHandler::is_allocated(pa))
}

fn none_live(frames: &[PhysAddr]) -> bool {
    frames.iter().all(|&pa| !CountingHandler::is_allocated(pa))
}

#[test]
fn keys_private_creat_excl() {
    let _s = setup();
    let base = CountingHandler::live_frames();
    let reg = Reg::default();
    let a = reg
        .shmget(IPC_PRIVATE, 100, IPC_CREAT | IPC_EXCL, C)
        .unwrap();
    let b = reg.shmget(IPC_PRIVATE, 100, 0, C).unwrap();
    assert_ne!(a, b, "IPC_PRIVATE always creates");
    let k = ShmKey(42);
    assert_eq!(reg.shmget(k, 100, 0, C), Err(LinuxError::ENOENT));
    let id = reg.shmget(k, 3 * P, IPC_CREAT | 0o600, C).unwrap();
    assert_eq!(reg.shmget(k, 3 * P, IPC_CREAT, C), Ok(id));
    assert_eq!(
        reg.shmget(k, 0, 0, C),
        Ok(id),
        "size 0 finds an existing key"
    );
    assert_eq!(reg.shmget(k, P, 0, C), Ok(id), "a smaller size is fine");
    assert_eq!(reg.shmget(k, 3 * P + 1, 0, C), Err(LinuxError::EINVAL));
    assert_eq!(
        reg.shmget(k, P, IPC_CREAT | IPC_EXCL, C),
        Err(LinuxError::EEXIST)
    );
    assert_eq!(reg.len(), 3);
    assert_eq!(reg.total_pages(), 5);
    assert_eq!(
        CountingHandler::live_frames(),
        base,
        "frames come on first touch, not at shmget"
    );
}

#[test]
fn size_rules_and_limits() {
    let _s = setup();
    let base = CountingHandler::live_frames();
    let limits = ShmLimits {
        max_size: 4 * P,
        max_total_pages: 6,
        max_segments: 3,
    };
    let reg = Reg::new(limits);
    assert_eq!(
        reg.shmget(IPC_PRIVATE, 0, IPC_CREAT, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmget(ShmKey(1), 0, IPC_CREAT, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmget(IPC_PRIVATE, 4 * P + 1, IPC_CREAT, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmget(IPC_PRIVATE, usize::MAX, IPC_CREAT, C),
        Err(LinuxError::EINVAL)
    );
    reg.shmget(IPC_PRIVATE, 4 * P, 0, C).unwrap();
    assert_eq!(
        reg.shmget(IPC_PRIVATE, 3 * P, 0, C),
        Err(LinuxError::ENOSPC)
    );
    reg.shmget(IPC_PRIVATE, 1, 0, C).unwrap();
    reg.shmget(IPC_PRIVATE, 1, 0, C).unwrap();
    assert_eq!(reg.shmget(IPC_PRIVATE, 1, 0, C), Err(LinuxError::ENOSPC));
    assert_eq!(reg.total_pages(), 6, "failed calls count nothing");
    assert_eq!(CountingHandler::live_frames(), base, "and keep nothing");
}

#[test]
fn stat_reports_every_field() {
    let mut s = setup();
    let reg = Reg::default();
    let id = reg
        .shmget(ShmKey(7), 5000, IPC_CREAT | 0o640, ctx(10, 100))
        .unwrap();
    let fresh = ShmIdDs {
        key: ShmKey(7),
        mode: 0o640,
        size: 5000,
        atime: 0,
        dtime: 0,
        ctime: 100,
        cpid: 10,
        lpid: 0,
        nattch: 0,
    };
    assert_eq!(reg.stat(id), Ok(fresh));
    let at = reg.shmat(&mut s, id, None, 0, ctx(11, 200)).unwrap();
    let attached = ShmIdDs {
        atime: 200,
        lpid: 11,
        nattch: 1,
        ..fresh
    };
    assert_eq!(reg.stat(id), Ok(attached));
    reg.shmdt(&mut s, at, ctx(12, 300)).unwrap();
    let detached = ShmIdDs {
        dtime: 300,
        lpid: 12,
        nattch: 0,
        ..attached
    };
    assert_eq!(reg.stat(id), Ok(detached));
    reg.set_mode(id, 0o7600, ctx(13, 400)).unwrap();
    assert_eq!(
        reg.stat(id),
        Ok(ShmIdDs {
            mode: 0o600,
            ctime: 400,
            ..detached
        })
    );
}

#[test]
fn unknown_ids_are_einval() {
    let mut s = setup();
    let reg = Reg::default();
    let bad = ShmId(12345);
    assert_eq!(reg.stat(bad), Err(LinuxError::EINVAL));
    assert_eq!(reg.remove(bad), Err(LinuxError::EINVAL));
    assert_eq!(reg.set_mode(bad, 0, C), Err(LinuxError::EINVAL));
    assert_eq!(reg.shmat(&mut s, bad, None, 0, C), Err(LinuxError::EINVAL));
    let id = reg.shmget(IPC_PRIVATE, P, 0, C).unwrap();
    reg.remove(id).unwrap();
    assert_eq!(
        reg.stat(id),
        Err(LinuxError::EINVAL),
        "removed and unattached: gone"
    );
    assert_eq!(reg.remove(id), Err(LinuxError::EINVAL));
    assert_eq!(reg.shmat(&mut s, id, None, 0, C), Err(LinuxError::EINVAL));
}

#[test]
fn rmid_without_attachments_frees_at_once() {
    let mut s = setup();
    let reg = Reg::default();
    let id = reg.shmget(ShmKey(5), 3 * P, IPC_CREAT, C).unwrap();
    let at = reg.shmat(&mut s, id, None, 0, C).unwrap();
    touch(&mut s, at.as_usize(), 3);
    reg.shmdt(&mut s, at, C).unwrap();
    let held = CountingHandler::live_frames();
    reg.remove(id).unwrap();
    assert_eq!(
        CountingHandler::live_frames(),
        held - 3,
        "the touched pages are freed by IPC_RMID itself"
    );
    assert!(reg.is_empty());
    assert_eq!(reg.total_pages(), 0);
    assert_eq!(
        reg.shmget(ShmKey(5), P, 0, C),
        Err(LinuxError::ENOENT),
        "the key is free"
    );
}

#[test]
fn rmid_while_attached_frees_at_last_detach() {
    let mut s = setup();
    let reg = Reg::default();
    let id = reg.shmget(ShmKey(9), 2 * P, IPC_CREAT | 0o600, C).unwrap();
    let a1 = reg.shmat(&mut s, id, None, 0, C).unwrap();
    let a2 = reg.shmat(&mut s, id, None, 0, C).unwrap();
    let frames = frames_at(&mut s, a1.as_usize(), 2);
    reg.remove(id).unwrap();
    let ds = reg.stat(id).unwrap();
    assert_eq!(
        (ds.key, ds.mode, ds.nattch),
        (IPC_PRIVATE, 0o600 | SHM_DEST, 2)
    );
    assert_eq!(reg.remove(id), Ok(()), "IPC_RMID again is accepted");
    // The key is free for a new segment while the old one lives on.
    assert_eq!(reg.shmget(ShmKey(9), P, 0, C), Err(LinuxError::ENOENT));
    let other = reg.shmget(ShmKey(9), P, IPC_CREAT, C).unwrap();
    assert_ne!(other, id);
    reg.shmdt(&mut s, a1, C).unwrap();
    assert!(all_live(&frames), "still attached once");
    assert_eq!(reg.stat(id).unwrap().nattch, 1);
    reg.shmdt(&mut s, a2, C).unwrap();
    assert!(none_live(&frames), "freed exactly at the last detach");
    assert_eq!(reg.stat(id), Err(LinuxError::EINVAL));
    assert_eq!(reg.len(), 1);
    assert_eq!(reg.total_pages(), 1);
}

#[test]
fn frames_are_freed_when_registry_and_spaces_are_gone() {
    let mut s = setup();
    {
        let reg = Reg::default();
        let id = reg.shmget(IPC_PRIVATE, 3 * P, 0, C).unwrap();
        let at = reg.shmat(&mut s, id, None, 0, C).unwrap();
        s.write_bytes(at, b"x").unwrap();
        let frames = frames_at(&mut s, at.as_usize(), 3);
        drop(reg);
        assert!(all_live(&frames), "the mapping keeps them");
        s.munmap(at, 3 * P).unwrap();
        assert!(none_live(&frames));
    }
    drop(s);
    assert_no_leak();
}

#[test]
fn shmget_takes_no_frame_until_a_page_is_touched() {
    let mut s = setup();
    let reg = Reg::default();
    let base = CountingHandler::live_frames();
    CountingHandler::fail_after(0);
    let id = reg.shmget(ShmKey(3), 4 * P, IPC_CREAT, C);
    CountingHandler::clear_failure();
    let id = id.expect("a segment needs no frame at creation");
    assert_eq!(CountingHandler::live_frames(), base);
    assert_eq!((reg.total_pages(), reg.resident_pages()), (4, 0));
    let at = reg.shmat(&mut s, id, None, 0, C).unwrap();
    touch(&mut s, at.as_usize() + P, 1);
    assert_eq!((reg.total_pages(), reg.resident_pages()), (4, 1));
    reg.shmdt(&mut s, at, C).unwrap();
    assert_eq!(reg.resident_pages(), 1, "the segment keeps its contents");
    reg.remove(id).unwrap();
    assert_eq!((reg.total_pages(), reg.resident_pages()), (0, 0));
}

#[test]
fn shmat_allocates_nothing_and_oom_on_first_touch_changes_nothing() {
    let mut s = setup();
    s.map_alloc(
        va(0x10_0000),
        P,
        MappingFlags::READ | MappingFlags::USER,
        Populate::Eager,
    )
    .unwrap();
    let reg = Reg::default();
    let id = reg.shmget(IPC_PRIVATE, 2 * P, 0, C).unwrap();
    // Far from the existing mapping, so the first touch needs new page tables too.
    let at = va(0x20_0000_0000);
    let before = CountingHandler::live_frames();
    CountingHandler::fail_after(0);
    let r = reg.shmat(&mut s, id, Some(at), 0, ctx(2, 5));
    CountingHandler::clear_failure();
    assert_eq!(r, Ok(at), "an attach is lazy: it needs no frame");
    assert_eq!(CountingHandler::live_frames(), before);
    assert_eq!(reg.stat(id).unwrap().nattch, 1);
    let user_read = MappingFlags::READ | MappingFlags::USER;
    let mut failures = 0;
    for k in 0.. {
        let before = CountingHandler::live_frames();
        CountingHandler::fail_after(k);
        let r = s.handle_page_fault(at, user_read);
        CountingHandler::clear_failure();
        match r {
            Ok(_) => break,
            Err(e) => {
                failures += 1;
                assert_eq!(e, crate::FaultError::NoMemory);
                // The segment may keep the zeroed page it got before the page table
                // failed (as a shmem page stays in Linux's cache); nothing else stays.
                assert!(CountingHandler::live_frames() <= before + 1, "k={k}");
                assert!(pte(&s, at.as_usize()).is_none());
            }
        }
    }
    assert!(
        failures > 0,
        "the frame and page tables had to be allocated"
    );
    assert!(pte(&s, at.as_usize()).is_some());
    reg.shmdt(&mut s, at, C).unwrap();
    reg.remove(id).unwrap();
    drop(s);
    assert_no_leak();
}

#[test]
fn anonymous_shared_mmap_has_no_attachment() {
    let mut s = setup();
    let flags = MmapFlags::SHARED | MmapFlags::ANONYMOUS;
    let at = s
        .mmap(
            va(0),
            P,
            MappingFlags::READ | MappingFlags::WRITE,
            flags,
            None,
            0,
        )
        .unwrap();
    let reg = Reg::default();
    assert_eq!(reg.shmdt(&mut s, at, C), Err(LinuxError::EINVAL));
    assert_eq!(
        s.find_area(at)
            .unwrap()
            .backend()
            .shm_attachment()
            .map(|a| a.id()),
        None
    );
}

#[test]
fn keyed_shmget_creat_never_deadlocks_and_racers_agree() {
    use std::sync::{Arc, Barrier};
    const THREADS: usize = 4;
    const ROUNDS: i32 = 40;
    let reg = Arc::new(Reg::default());
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (reg, barrier) = (reg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for round in 0..ROUNDS {
                    let key = ShmKey(100 + round);
                    let c = ctx(t as u32 + 1, round as u64);
                    barrier.wait();
                    let id = reg.shmget(key, 2 * P, IPC_CREAT | 0o600, c).unwrap();
                    // IPC_CREAT on an existing key (Starry took its lock twice here).
                    assert_eq!(reg.shmget(key, P, IPC_CREAT, c), Ok(id));
                    barrier.wait();
                    let creator = reg.stat(id).unwrap().cpid == c.pid;
                    barrier.wait();
                    // Frames are freed by the thread that allocated them.
                    if creator {
                        reg.remove(id).unwrap();
                    }
                    ids.push(id);
                }
                assert_eq!(CountingHandler::live_frames(), 0, "a racer kept frames");
                ids
            })
        })
        .collect();
    let ids: Vec<Vec<ShmId>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        ids.iter().all(|v| *v == ids[0]),
        "racers got different segments"
    );
    assert!(reg.is_empty());
}

#[test]
fn segment_frames_need_not_be_contiguous() {
    use page_table_multiarch::frame::PhysFrame;
    let mut s = setup();
    // Fragment the pool: of a run of frames every other one is free, so no two free
    // frames are adjacent and the segment must take scattered ones.
    let mut held: Vec<Option<PhysFrame<CountingHandler>>> =
        (0..16).map(|_| Some(PhysFrame::alloc().unwrap())).collect();
    let run: Vec<PhysAddr> = held.iter().flatten().map(PhysFrame::start_paddr).collect();
    held.iter_mut().step_by(2).for_each(|f| drop(f.take()));
    let reg = Reg::default();
    let id = seg(&reg, 4);
    let a = reg.shmat(&mut s, id, Some(va(0x10_0000)), 0, C).unwrap();
    let frames = frames_at(&mut s, a.as_usize(), 4);
    assert!(
        frames.iter().all(|f| run.contains(f)),
        "not from the fragmented run"
    );
    for (i, x) in frames.iter().enumerate() {
        for y in &frames[i + 1..] {
            assert!(x.as_usize().abs_diff(y.as_usize()) > P, "adjacent frames");
        }
    }
    // Contents cross the page boundaries, and a fork shares them.
    let data: Vec<u8> = (0..3 * P).map(|i| i as u8).collect();
    s.write_bytes(a + 100, &data).unwrap();
    let mut child = s.fork().unwrap();
    let mut back = alloc::vec![0u8; data.len()];
    child.read_bytes(a + 100, &mut back).unwrap();
    assert_eq!(back, data);
    drop((child, s, reg));
    drop(held);
    assert_no_leak();
}

#[test]
fn an_untouched_attachment_has_no_resident_page() {
    let (mut s, reg, id, at) = attached(2);
    let mut out = Vec::new();
    s.mincore(at, 2 * P, &mut out).unwrap();
    assert_eq!(out, [0, 0]);
    touch(&mut s, at.as_usize(), 1);
    out.clear();
    s.mincore(at, 2 * P, &mut out).unwrap();
    assert_eq!(out, [1, 0]);
    reg.shmdt(&mut s, at, C).unwrap();
    let _ = id;
}
