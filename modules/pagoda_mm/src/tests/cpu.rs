//! The CPU model itself: it faults pages in, follows copy-on-write, reports the signals
//! Linux would send, and catches missing TLB flushes.

use alloc::sync::Arc;

use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::PagingMetaData;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::testing::{Cpu, CpuFault, SegvCode, X64Space};
use crate::{AddrSpace, File, MemFile, MmapFlags};

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);
const X: MappingFlags = MappingFlags::EXECUTE;

#[test]
fn loads_and_stores_fault_pages_in_and_hit_the_tlb_after() {
    let mut s = setup();
    let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    // Crossing a page boundary touches both pages.
    cpu.write(&mut s, a + (P - 2), b"abcd").unwrap();
    assert_eq!(cpu.faults_taken(), 2);
    let mut buf = [0u8; 4];
    cpu.read(&mut s, a + (P - 2), &mut buf).unwrap();
    assert_eq!(&buf, b"abcd");
    assert_eq!(cpu.faults_taken(), 2, "the second access hits the TLB");
    assert_eq!(cpu.tlb_len(), 2);
    assert_eq!(read(&mut s, a.as_usize() + P - 2, 4), b"abcd");
    drop(cpu);
    drop(s);
    assert_no_leak();
}

#[test]
fn signals_are_maperr_accerr_and_bus() {
    let mut s = setup();
    let a = s.mmap(va(0), P, R, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    let mut buf = [0u8; 1];
    let hole = a + P;
    assert_eq!(
        cpu.read(&mut s, hole, &mut buf),
        Err(CpuFault::Segv {
            addr: hole,
            code: SegvCode::Maperr
        })
    );
    assert_eq!(
        cpu.write(&mut s, a + 3, b"x"),
        Err(CpuFault::Segv {
            addr: a + 3,
            code: SegvCode::Accerr
        })
    );
    assert_eq!(
        cpu.fetch(&mut s, a, &mut buf),
        Err(CpuFault::Segv {
            addr: a,
            code: SegvCode::Accerr
        })
    );
    // A file page wholly past EOF is a bus error.
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![7u8; 10]));
    let f = s
        .mmap(va(0), 2 * P, R, MmapFlags::PRIVATE, Some(file), 0)
        .unwrap();
    cpu.read(&mut s, f + 9, &mut buf).unwrap();
    assert_eq!(buf, [7]);
    assert_eq!(
        cpu.read(&mut s, f + P, &mut buf),
        Err(CpuFault::Bus { addr: f + P })
    );
    drop((cpu, s));
    assert_no_leak();
}

#[test]
fn fork_write_through_the_cpu_copies_and_the_other_side_keeps_its_data() {
    let mut parent = setup();
    let a = parent.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut parent, a, b"parent").unwrap();
    let mut child = parent.fork().unwrap();
    // The parent's cached writable entry was flushed by fork: this write faults.
    let before = cpu.faults_taken();
    cpu.write(&mut child, a, b"child!").unwrap();
    let mut buf = [0u8; 6];
    cpu.read(&mut parent, a, &mut buf).unwrap();
    assert_eq!(&buf, b"parent");
    cpu.write(&mut parent, a, b"PARENT").unwrap();
    cpu.read(&mut child, a, &mut buf).unwrap();
    assert_eq!(&buf, b"child!");
    assert!(cpu.faults_taken() >= before + 2);
    drop((cpu, parent, child));
    assert_no_leak();
}

/// Sv39 metadata that drops every flush: the kernel bug the CPU model must catch.
struct NoFlush;

impl PagingMetaData for NoFlush {
    const LEVELS: usize = 3;
    const PA_MAX_BITS: usize = 56;
    const VA_MAX_BITS: usize = 39;
    type VirtAddr = VirtAddr;

    fn flush_tlb(_: Option<VirtAddr>) {}
}

#[test]
fn a_missing_flush_is_a_stale_tlb_fault() {
    CountingHandler::reset();
    let range = VirtAddrRange::new(va(USER_START), va(USER_END));
    let mut s = AddrSpace::<NoFlush, Rv64PTE, CountingHandler>::new(range).unwrap();
    let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut s, a, b"x").unwrap();
    cpu.write(&mut s, a + P, b"y").unwrap();
    // Write-protected without a flush: the cached entry still grants the write.
    s.mprotect(a, P, R).unwrap();
    assert_eq!(
        cpu.write(&mut s, a, b"z"),
        Err(CpuFault::StaleTlb { addr: a })
    );
    // Unmapped without a flush: the cached entry points at a freed frame.
    s.munmap(a + P, P).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        cpu.read(&mut s, a + P, &mut buf),
        Err(CpuFault::StaleTlb { addr: a + P })
    );
    drop((cpu, s));
    assert_no_leak();
}

#[test]
fn the_same_calls_with_flushes_are_fine() {
    let mut s = setup();
    let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut s, a, b"x").unwrap();
    cpu.write(&mut s, a + P, b"y").unwrap();
    s.mprotect(a, P, R).unwrap();
    assert_eq!(
        cpu.write(&mut s, a, b"z"),
        Err(CpuFault::Segv {
            addr: a,
            code: SegvCode::Accerr
        })
    );
    s.munmap(a + P, P).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        cpu.read(&mut s, a + P, &mut buf),
        Err(CpuFault::Segv {
            addr: a + P,
            code: SegvCode::Maperr
        })
    );
    cpu.read(&mut s, a, &mut buf).unwrap();
    assert_eq!(buf, *b"x");
    drop((cpu, s));
    assert_no_leak();
}

#[test]
fn x86_present_pages_are_readable_even_when_execute_only() {
    CountingHandler::reset();
    let range = VirtAddrRange::new(va(USER_START), va(0x7fff_ffff_f000));
    let mut s = X64Space::new(range).unwrap();
    let a = s.mmap(va(0), P, RW | X, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.write(&mut s, a, &[0xc3]).unwrap();
    s.mprotect(a, P, X).unwrap();
    let mut buf = [0u8; 1];
    cpu.fetch(&mut s, a, &mut buf).unwrap();
    assert_eq!(buf, [0xc3]);
    // x86 cannot express execute-only: the present entry grants the load.
    cpu.read(&mut s, a, &mut buf).unwrap();
    assert_eq!(buf, [0xc3]);
    drop((cpu, s));
    assert_no_leak();
}

#[test]
fn faults_past_the_limit_are_a_fault_loop() {
    let mut s = setup();
    let a = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    let mut cpu = Cpu::new();
    cpu.set_fault_limit(0);
    let mut buf = [0u8; 1];
    assert_eq!(
        cpu.read(&mut s, a, &mut buf),
        Err(CpuFault::Loop { addr: a })
    );
    assert_eq!(cpu.faults_taken(), 0);
    cpu.set_fault_limit(1);
    cpu.read(&mut s, a, &mut buf).unwrap();
    assert_eq!(cpu.faults_taken(), 1);
    drop((cpu, s));
    assert_no_leak();
}
