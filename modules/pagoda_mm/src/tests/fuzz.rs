//! Hostile arguments never panic, and another PTE format works the same way.

use alloc::sync::Arc;
use alloc::vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddrRange};
use page_table_entry::MappingFlags;
use page_table_entry::x86_64::X64PTE;
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::x86_64::X64PagingMetaData;
use proptest::prelude::*;

use super::*;
use crate::{AddrSpace, Advice, File, MemFile, MmapFlags, MremapFlags, MsyncFlags};

/// Addresses and lengths around interesting edges.
fn num() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(usize::MAX),
        Just(USER_END),
        Just(PAGE_SIZE_4K),
        0..0x20_0000usize,
        (0..64usize).prop_map(|p| 0x1000_0000 + p * PAGE_SIZE_4K),
        any::<usize>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::testing::proptest_cases(64), ..ProptestConfig::default() })]

    #[test]
    fn random_arguments_never_panic(calls in prop::collection::vec((0..8u8, num(), num(), any::<u32>(), num()), 1..40)) {
        let mut s = setup();
        let file: Arc<dyn File> = Arc::new(MemFile::new(vec![1u8; 3 * PAGE_SIZE_4K + 5]));
        s.set_heap_start(va(0x3000_0000)).unwrap();
        for (op, a, b, bits, c) in calls {
            let prot = MappingFlags::from_bits_retain((bits & 0xf) as usize);
            match op {
                0 => {
                    let flags = MmapFlags::from_bits_retain(bits >> 4);
                    let f = (bits & 1 == 0).then(|| file.clone());
                    let _ = s.mmap(va(a), b, prot, flags, f, c as u64);
                }
                1 => { let _ = s.munmap(va(a), b); }
                2 => { let _ = s.mprotect(va(a), b, prot); }
                3 => { let _ = s.mremap(va(a), b, c, MremapFlags::from_bits_retain(bits % 8), va(c)); }
                4 => { let _ = s.msync(va(a), b, MsyncFlags::from_bits_retain(bits % 8)); }
                5 => { let _ = s.madvise(va(a), b, Advice::try_from(bits % 6).unwrap_or(Advice::DontNeed)); }
                6 => { let _ = s.brk(va(a)); }
                _ => {
                    let _ = s.handle_page_fault(va(a), prot);
                    let _ = s.write_bytes(va(b), &[1, 2, 3]);
                    let _ = s.read_cstr(va(a), 16);
                }
            }
        }
        drop(s);
        drop(file);
        assert_no_leak();
    }
}

#[test]
fn x86_64_format_behaves_the_same() {
    CountingHandler::reset();
    type X = AddrSpace<X64PagingMetaData, X64PTE, CountingHandler>;
    let range = VirtAddrRange::new(va(0x1000), va(0x7fff_ffff_f000));
    let mut p = X::new(range).unwrap();
    let flags = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS;
    let a = p.mmap(va(0), 2 * PAGE_SIZE_4K, RW, flags, None, 0).unwrap();
    assert!(a.as_usize() < 0x7fff_ffff_f000);
    p.write_bytes(a, b"x86").unwrap();
    let mut c = p.fork().unwrap();
    let (_, f, _) = c.page_table().query(a).unwrap();
    assert!(f.contains(MappingFlags::COW) && !f.contains(MappingFlags::WRITE));
    c.write_bytes(a, b"X").unwrap();
    let mut buf = [0u8; 3];
    p.read_bytes(a, &mut buf).unwrap();
    assert_eq!(&buf, b"x86");
    p.mprotect(a, PAGE_SIZE_4K, MappingFlags::empty()).unwrap();
    assert!(p.page_table().query(a).unwrap().1.is_empty());
    drop((p, c));
    assert_no_leak();
}

#[test]
fn address_spaces_can_move_between_cpus() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Space>();
    send_sync::<crate::SharedMem<CountingHandler>>();
    send_sync::<MemFile>();
}
