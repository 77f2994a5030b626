//! Truncating a file under a private mapping, seen by user code through the CPU model
//! (TLB included): the case the differential test against Linux minimized
//! (`linux_diff` seeds 2, 3 and 14). Linux (checked on the host): after `ftruncate`
//! shrinks the file, every page of a `MAP_PRIVATE` mapping past the new end, privately
//! written (copied) pages included, is unmapped; loads and stores there are `SIGBUS`, and
//! once the file grows again they read zeros. A kernel applies the truncation
//! (`apply_truncations`) before it returns to user mode, which is what `user` models.

use alloc::sync::Arc;
use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::GenericPTE;
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::*;
use crate::testing::{Cpu, CpuFault, X64Space};
use crate::{AddrSpace, File, MemFile, MmapFlags};

const P: usize = PAGE_SIZE_4K;

fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// A return to user mode (the kernel's hook), then one load of `n` bytes at `at`.
fn user_load<M, PT, H>(
    cpu: &mut Cpu,
    s: &mut AddrSpace<M, PT, H>,
    at: VirtAddr,
    n: usize,
) -> Result<Vec<u8>, CpuFault>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PT: GenericPTE,
    H: PagingHandler,
{
    s.apply_truncations();
    let mut buf = vec![0u8; n];
    cpu.read(s, at, &mut buf).map(|()| buf)
}

/// The minimized case on both page-table formats: a two-page private mapping at file
/// offset 0x3000 of a 0x4001-byte file, both pages read (so the TLB holds them), then the
/// file truncated to 0: both pages are bus errors, not served from the stale TLB.
fn read_pages_then_truncate_to_zero<M, PT, H>(mut s: AddrSpace<M, PT, H>)
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PT: GenericPTE,
    H: PagingHandler,
{
    let f = Arc::new(MemFile::new((0..0x4001).map(byte).collect::<Vec<u8>>()));
    let file: Arc<dyn File> = f.clone();
    let flags = MmapFlags::PRIVATE | MmapFlags::FIXED;
    let at = s.mmap(va(0x10_0000), 2 * P, RW, flags, Some(file), 0x3000);
    let at = at.unwrap();
    let mut cpu = Cpu::new();
    assert_eq!(
        user_load(&mut cpu, &mut s, at + P, 2),
        Ok(vec![byte(0x4000), 0])
    );
    assert_eq!(user_load(&mut cpu, &mut s, at, 1), Ok(vec![byte(0x3000)]));
    assert_eq!(cpu.tlb_len(), 2);
    f.set_len(0);
    for page in [at, at + P] {
        assert_eq!(
            user_load(&mut cpu, &mut s, page, 1),
            Err(CpuFault::Bus { addr: page })
        );
    }
    assert!(s.frame_at(at).is_none() && s.frame_at(at + P).is_none());
    drop((s, f));
}

#[test]
fn private_pages_read_before_a_truncation_are_bus_errors_after_it() {
    read_pages_then_truncate_to_zero(setup());
    assert_no_leak();
    CountingHandler::reset();
    let range = VirtAddrRange::new(va(USER_START), va(0x7fff_ffff_f000));
    read_pages_then_truncate_to_zero(X64Space::new(range).unwrap());
    assert_no_leak();
}

/// Privately written pages past the new end are dropped too (Linux unmaps COW copies in
/// `truncate_pagecache`): loads and stores there are `SIGBUS`, the copy of the page that
/// holds the new end stays, and growing the file again shows zeros, not the old copy.
#[test]
fn private_copies_past_the_new_end_are_dropped() {
    let mut s = setup();
    let f = Arc::new(MemFile::new((0..4 * P).map(byte).collect::<Vec<u8>>()));
    let file: Arc<dyn File> = f.clone();
    let at = s.mmap(va(0), 4 * P, RW, MmapFlags::PRIVATE, Some(file), 0);
    let at = at.unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut s, at + 2 * P, b"cow2").unwrap(); // a private copy of page 2
    cpu.write(&mut s, at + P + 8, b"cow1").unwrap(); // and of page 1 (stays: holds the end)
    assert_eq!(
        user_load(&mut cpu, &mut s, at + 3 * P, 1),
        Ok(vec![byte(3 * P)])
    );
    f.set_len(P + 100);
    assert_eq!(
        user_load(&mut cpu, &mut s, at + P + 8, 4),
        Ok(b"cow1".to_vec())
    );
    for page in [at + 2 * P, at + 3 * P] {
        assert_eq!(
            user_load(&mut cpu, &mut s, page, 4),
            Err(CpuFault::Bus { addr: page })
        );
        assert_eq!(
            cpu.write(&mut s, page, b"x"),
            Err(CpuFault::Bus { addr: page })
        );
    }
    f.set_len(4 * P);
    assert_eq!(user_load(&mut cpu, &mut s, at + 2 * P, 4), Ok(vec![0; 4]));
    assert_eq!(user_load(&mut cpu, &mut s, at + 3 * P, 1), Ok(vec![0]));
    // The file is untouched by the private copies.
    assert_eq!(
        f.contents()[P + 8..P + 12],
        [byte(P + 8), byte(P + 9), byte(P + 10), byte(P + 11)]
    );
    drop((cpu, s, f));
    assert_no_leak();
}
