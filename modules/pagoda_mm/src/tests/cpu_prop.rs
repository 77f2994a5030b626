//! On Sv39 and on x86-64: after any sequence of mmap / mprotect / mremap / munmap /
//! madvise / fork, every access an area allows succeeds through the CPU model (no fault
//! loop, no stale TLB entry, no entry without its frame), and every access it forbids is
//! a `SEGV_ACCERR`. The data itself is checked by the model test (`model`).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::{GenericPTE, MappingFlags};
use page_table_multiarch::PagingMetaData;
use page_table_multiarch::testing::CountingHandler;
use proptest::prelude::*;

use super::*;
use crate::perm::permits;
use crate::testing::{Cpu, CpuFault, SegvCode, Sv39Space, X64Space, proptest_cases};
use crate::{AddrSpace, Advice, File, MemFile, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const WINDOW: usize = 8;
const BASE: usize = 0x1000_0000;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Anon,
    SharedAnon,
    File { shared: bool },
}

#[derive(Debug, Clone)]
enum Op {
    Mmap(usize, usize, MappingFlags, Kind),
    Mprotect(usize, usize, MappingFlags),
    Munmap(usize, usize),
    Mremap(usize, usize, usize),
    DontNeed(usize, usize),
    Fork,
    Exit,
    Touch(usize, usize, u8),
}

fn prot() -> impl Strategy<Value = MappingFlags> {
    (0..8usize).prop_map(MappingFlags::from_bits_truncate)
}

fn op() -> impl Strategy<Value = Op> {
    let range = (0..WINDOW).prop_flat_map(|p| (Just(p), 1..=(WINDOW - p).min(3)));
    let kind = prop_oneof![
        2 => Just(Kind::Anon),
        1 => Just(Kind::SharedAnon),
        1 => any::<bool>().prop_map(|shared| Kind::File { shared }),
    ];
    prop_oneof![
        3 => (range.clone(), prot(), kind).prop_map(|((p, n), prot, k)| Op::Mmap(p, n, prot, k)),
        3 => (range.clone(), prot()).prop_map(|((p, n), prot)| Op::Mprotect(p, n, prot)),
        1 => range.clone().prop_map(|(p, n)| Op::Munmap(p, n)),
        2 => (range.clone(), 1..4usize).prop_map(|((p, n), m)| Op::Mremap(p, n, m)),
        1 => range.prop_map(|(p, n)| Op::DontNeed(p, n)),
        1 => Just(Op::Fork),
        1 => Just(Op::Exit),
        3 => (0..2usize, 0..WINDOW, any::<u8>()).prop_map(|(s, p, b)| Op::Touch(s, p, b)),
    ]
}

fn at(p: usize) -> VirtAddr {
    va(BASE + p * P)
}

/// Every access of every page of `s`: allowed ones succeed (or are a bus error past the
/// end of an object), forbidden ones are `SEGV_ACCERR`.
fn check_all<M, PT>(cpu: &mut Cpu, s: &mut AddrSpace<M, PT, CountingHandler>, byte: u8)
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PT: GenericPTE,
{
    for p in 0..WINDOW {
        let addr = at(p) + 8;
        let Some(flags) = s.find_area(addr).map(|a| a.flags()) else {
            continue;
        };
        for access in [
            MappingFlags::READ,
            MappingFlags::EXECUTE,
            MappingFlags::WRITE,
        ] {
            let mut buf = [byte; 1];
            let r = match access {
                MappingFlags::READ => cpu.read(s, addr, &mut buf),
                MappingFlags::EXECUTE => cpu.fetch(s, addr, &mut buf),
                _ => cpu.write(s, addr, &buf),
            };
            if permits::<PT>(flags, access | MappingFlags::USER) {
                let bus = Err(CpuFault::Bus { addr });
                assert!(
                    r.is_ok() || r == bus,
                    "page {p} {flags:?} {access:?}: {r:?}"
                );
            } else {
                let code = SegvCode::Accerr;
                assert_eq!(r, Err(CpuFault::Segv { addr, code }), "page {p} {access:?}");
            }
        }
    }
}

fn run<M, PT>(new: fn() -> AddrSpace<M, PT, CountingHandler>, ops: Vec<Op>)
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    PT: GenericPTE,
{
    let file: Arc<dyn File> = Arc::new(MemFile::new(vec![3u8; 2 * WINDOW * P]));
    let mut spaces = vec![(new(), Cpu::new())];
    for op in ops {
        let n_spaces = spaces.len();
        let s = &mut spaces[n_spaces - 1].0;
        match op {
            Op::Mmap(p, n, prot, kind) => {
                let (flags, f) = match kind {
                    Kind::Anon => (MmapFlags::PRIVATE | MmapFlags::ANONYMOUS, None),
                    Kind::SharedAnon => (MmapFlags::SHARED | MmapFlags::ANONYMOUS, None),
                    Kind::File { shared: true } => (MmapFlags::SHARED, Some(file.clone())),
                    Kind::File { shared: false } => (MmapFlags::PRIVATE, Some(file.clone())),
                };
                let off = (p * P) as u64;
                s.mmap(at(p), n * P, prot, flags | MmapFlags::FIXED, f, off)
                    .unwrap();
            }
            Op::Mprotect(p, n, prot) => {
                let _ = s.mprotect_linux(at(p), n * P, prot);
            }
            Op::Munmap(p, n) => s.munmap(at(p), n * P).unwrap(),
            Op::Mremap(p, n, m) => {
                // Moves land outside the window: move them back with `FIXED`.
                let may = MremapFlags::MAYMOVE;
                if let Ok(moved) = s.mremap(at(p), n * P, m * P, may, va(0))
                    && moved != at(p)
                {
                    let back = at((p + 1) % WINDOW);
                    let len = (m * P).min(BASE + WINDOW * P - back.as_usize());
                    let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
                    let _ = s.mremap(moved, len, len, fixed, back);
                    let _ = s.munmap(moved, m * P);
                }
            }
            Op::DontNeed(p, n) => {
                let _ = s.madvise(at(p), n * P, Advice::DontNeed);
            }
            Op::Fork => {
                if n_spaces < 2 {
                    let child = spaces[0].0.fork().unwrap();
                    spaces.push((child, Cpu::new()));
                }
            }
            Op::Exit => {
                if n_spaces > 1 {
                    spaces.remove(0);
                }
            }
            Op::Touch(i, p, byte) => {
                let (s, cpu) = &mut spaces[i % n_spaces];
                let _ = cpu.write(s, at(p), &[byte]);
            }
        }
        for (s, cpu) in &mut spaces {
            check_all(cpu, s, 0x5a);
        }
    }
    drop(spaces);
    drop(file);
    assert_no_leak();
}

fn sv39() -> Sv39Space {
    CountingHandler::reset();
    Sv39Space::new(VirtAddrRange::new(va(USER_START), va(USER_END))).unwrap()
}

fn x64() -> X64Space {
    CountingHandler::reset();
    X64Space::new(VirtAddrRange::new(va(USER_START), va(0x7fff_ffff_f000))).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(48), ..ProptestConfig::default() })]

    #[test]
    fn allowed_accesses_succeed_on_sv39(ops in prop::collection::vec(op(), 1..32)) {
        run(sv39, ops);
    }

    #[test]
    fn allowed_accesses_succeed_on_x86_64(ops in prop::collection::vec(op(), 1..32)) {
        run(x64, ops);
    }
}
