//! Bug 1 of the differential test: a writable area is readable (Linux), so no page of a
//! `PROT_WRITE` (or `PROT_WRITE | PROT_EXEC`) area may get an entry that refuses loads,
//! or loads fault forever. Each case runs through the CPU model, which reports such a
//! fault loop, on Sv39 and on x86-64.

use alloc::sync::Arc;

use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;

use super::*;
use crate::testing::{Cpu, X64Space};
use crate::{AddrSpace, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const W: MappingFlags = MappingFlags::WRITE;
const X: MappingFlags = MappingFlags::EXECUTE;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

fn load<M, PT, H>(cpu: &mut Cpu, s: &mut AddrSpace<M, PT, H>, at: VirtAddr) -> u8
where
    M: page_table_multiarch::PagingMetaData<VirtAddr = VirtAddr>,
    PT: page_table_entry::GenericPTE,
    H: page_table_multiarch::PagingHandler,
{
    let mut b = [0u8; 1];
    cpu.read(s, at, &mut b).unwrap();
    b[0]
}

fn x64() -> X64Space {
    CountingHandler::reset();
    X64Space::new(VirtAddrRange::new(va(USER_START), va(0x7fff_ffff_f000))).unwrap()
}

macro_rules! both_arches {
    ($name:ident, |$s:ident, $cpu:ident| $body:block) => {
        #[test]
        fn $name() {
            {
                let mut $s = setup();
                let mut $cpu = Cpu::new();
                $body
                drop(($s, $cpu));
                assert_no_leak();
            }
            {
                let mut $s = x64();
                let mut $cpu = Cpu::new();
                $body
                drop(($s, $cpu));
                assert_no_leak();
            }
        }
    };
}

both_arches!(write_only_page_is_readable_after_mprotect, |s, cpu| {
    let a = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    cpu.write(&mut s, a, &[7]).unwrap();
    s.mprotect(a, P, W).unwrap();
    assert_eq!(load(&mut cpu, &mut s, a), 7);
    cpu.write(&mut s, a, &[8]).unwrap();
    assert_eq!(load(&mut cpu, &mut s, a), 8);
});

both_arches!(
    write_only_area_is_readable_after_mremap_moves_it,
    |s, cpu| {
        let a = s.mmap(va(0), 2 * P, W, ANON, None, 0).unwrap();
        cpu.write(&mut s, a, &[7]).unwrap();
        // Keep the area from growing in place: it has to move.
        s.munmap(a + P, P).unwrap();
        let flags = MmapFlags::FIXED | ANON;
        s.mmap(a + P, P, R, flags, None, 0).unwrap();
        let b = s.mremap(a, P, 3 * P, MremapFlags::MAYMOVE, va(0)).unwrap();
        assert_ne!(a, b);
        assert_eq!(load(&mut cpu, &mut s, b), 7);
        assert_eq!(load(&mut cpu, &mut s, b + P), 0);
    }
);

both_arches!(
    private_file_mapping_with_prot_write_is_readable_first,
    |s, cpu| {
        let file: Arc<dyn File> = Arc::new(MemFile::new(vec![5u8; P]));
        let a = s
            .mmap(va(0), P, W, MmapFlags::PRIVATE, Some(file), 0)
            .unwrap();
        assert_eq!(load(&mut cpu, &mut s, a), 5);
        cpu.write(&mut s, a + 1, &[6]).unwrap();
        assert_eq!(load(&mut cpu, &mut s, a + 1), 6);
    }
);

both_arches!(write_only_is_readable_after_fork_and_mprotect, |s, cpu| {
    let a = s.mmap(va(0), P, RW, ANON, None, 0).unwrap();
    cpu.write(&mut s, a, &[7]).unwrap();
    let mut child = s.fork().unwrap();
    child.mprotect(a, P, W).unwrap();
    s.mprotect(a, P, W).unwrap();
    let mut child_cpu = Cpu::new();
    assert_eq!(load(&mut child_cpu, &mut child, a), 7);
    assert_eq!(load(&mut cpu, &mut s, a), 7);
    cpu.write(&mut s, a, &[1]).unwrap();
    assert_eq!(load(&mut child_cpu, &mut child, a), 7);
    drop((child, child_cpu));
});

both_arches!(
    write_exec_page_stays_readable_after_mprotect_and_fork,
    |s, cpu| {
        let a = s.mmap(va(0), 2 * P, RW, ANON, None, 0).unwrap();
        cpu.write(&mut s, a, &[7]).unwrap();
        cpu.write(&mut s, a + P, &[8]).unwrap();
        // Copy-on-write takes `WRITE` away, never `READ` (Sv39 would be execute-only).
        s.mprotect(a, 2 * P, W | X).unwrap();
        assert_eq!(load(&mut cpu, &mut s, a), 7);
        let child = s.fork().unwrap();
        assert_eq!(load(&mut cpu, &mut s, a + P), 8);
        let mut insn = [0u8; 1];
        cpu.fetch(&mut s, a, &mut insn).unwrap();
        drop(child);
    }
);

#[test]
fn a_present_entry_that_refuses_the_access_is_never_spurious() {
    // Sv39 execute-only pages exist: a load of a `PROT_EXEC` page is a segfault, not a
    // "spurious" fault (x86-64 reads it, its entries cannot refuse loads).
    let mut s = setup();
    let a = s.mmap(va(0), P, RW | X, ANON, None, 0).unwrap();
    s.write_bytes(a, &[1]).unwrap();
    s.mprotect(a, P, X).unwrap();
    assert_eq!(
        s.handle_page_fault(a, MappingFlags::READ | MappingFlags::USER),
        Err(crate::FaultError::Segv)
    );
    drop(s);
    assert_no_leak();
    let mut x = x64();
    let a = x.mmap(va(0), P, RW | X, ANON, None, 0).unwrap();
    x.mprotect(a, P, X).unwrap();
    let mut b = [0u8; 1];
    // Lazy or present, x86-64 reads `PROT_EXEC` pages, as Linux does there.
    x.read_bytes(a, &mut b).unwrap();
    let mut cpu = Cpu::new();
    cpu.read(&mut x, a, &mut b).unwrap();
    drop((x, cpu));
    assert_no_leak();
}
