//! Transparent huge pages against a byte-per-page model: random mmap (advised or not) /
//! write / mprotect / munmap / MADV_DONTNEED / mremap / fork / exit / clear_refs /
//! MADV_COLLAPSE sequences over three 2 MiB blocks, at page positions around block and
//! half-block edges, with a random THP policy. After every step each sampled page reads
//! the model's byte through the CPU model (which also checks that every entry, huge or
//! not, maps the frame the space holds), writes fault exactly where the model forbids
//! them, and at the end every frame is freed exactly once.

use alloc::vec;
use alloc::vec::Vec;

use memory_addr::{PAGE_SIZE_4K, VirtAddr};
use page_table_entry::MappingFlags;
use proptest::prelude::*;

use super::*;
use crate::testing::{Cpu, CpuFault, SegvCode, proptest_cases};
use crate::thp::{self, ThpMode, ThpOrderMode};
use crate::{Advice, ClearRefs, MmapFlags, MremapFlags};

const P: usize = PAGE_SIZE_4K;
const PAGES: usize = 3 * 512;
const BASE: usize = 0x4000_0000;

/// A page: its byte and whether it is writable (`None`: unmapped).
type Page = Option<(u8, bool)>;

#[derive(Debug, Clone)]
enum Op {
    Mmap(usize, usize, bool),
    Write(usize, usize, u8),
    Protect(usize, usize, bool),
    Unmap(usize, usize),
    DontNeed(usize, usize),
    Move(usize, usize, usize),
    Fork,
    Exit,
    ClearRefs,
    Collapse(usize, usize),
}

fn page() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => prop::sample::select(vec![0, 1, 255, 256, 257, 511, 512, 513, 768, 1023, 1024, 1025, 1535]),
        1 => 0..PAGES,
    ]
}

fn range() -> impl Strategy<Value = (usize, usize)> {
    (
        page(),
        prop_oneof![
            Just(1usize),
            Just(256),
            Just(511),
            Just(512),
            Just(513),
            1..700usize
        ],
    )
        .prop_map(|(p, n)| (p, n.min(PAGES - p)))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (range(), any::<bool>()).prop_map(|((p, n), adv)| Op::Mmap(p, n, adv)),
        6 => (0..2usize, page(), any::<u8>()).prop_map(|(s, p, b)| Op::Write(s, p, b)),
        2 => (range(), any::<bool>()).prop_map(|((p, n), w)| Op::Protect(p, n, w)),
        1 => range().prop_map(|(p, n)| Op::Unmap(p, n)),
        1 => range().prop_map(|(p, n)| Op::DontNeed(p, n)),
        1 => (range(), page()).prop_map(|((p, n), q)| Op::Move(p, n, q)),
        1 => Just(Op::Fork),
        1 => Just(Op::Exit),
        1 => Just(Op::ClearRefs),
        1 => range().prop_map(|(p, n)| Op::Collapse(p, n)),
    ]
}

fn at(p: usize) -> VirtAddr {
    va(BASE + p * P)
}

fn set(model: &mut [Page], p: usize, n: usize, f: impl Fn(Page) -> Page) {
    for page in &mut model[p..p + n] {
        *page = f(*page);
    }
}

/// Sampled pages read the model's byte; a write is refused exactly where it must be.
fn check(s: &mut Space, cpu: &mut Cpu, model: &[Page]) {
    let edges = [0, 1, 255, 256, 511, 512, 513, 767, 1023, 1024, 1535];
    let sample = (0..PAGES).step_by(37).chain(edges);
    for p in sample {
        let mut b = [0u8; 1];
        let r = cpu.read(s, at(p) + 9, &mut b);
        match model[p] {
            Some((byte, _)) => assert_eq!((r, b[0]), (Ok(()), byte), "page {p}"),
            None => assert!(r.is_err(), "page {p} is unmapped"),
        }
    }
}

fn run(orders: u16, top_always: bool, ops: Vec<Op>) {
    thp::set_mode(if top_always {
        ThpMode::Always
    } else {
        ThpMode::Madvise
    });
    for order in thp::orders() {
        let on = orders & (1 << order) != 0;
        let mode = if on {
            ThpOrderMode::Inherit
        } else {
            ThpOrderMode::Never
        };
        thp::set_order_mode(order, mode).unwrap();
    }
    // The window starts as one advised area, so that the first writes fill blocks.
    let fixed = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED;
    let mut first = setup();
    first.mmap(at(0), PAGES * P, RW, fixed, None, 0).unwrap();
    first.madvise(at(0), PAGES * P, Advice::HugePage).unwrap();
    let mut spaces = vec![(first, Cpu::new(), vec![Some((0, true)); PAGES])];
    for op in ops {
        let last = spaces.len() - 1;
        let (s, _, model) = &mut spaces[last];
        match op {
            Op::Mmap(p, n, advise) => {
                s.mmap(at(p), n * P, RW, fixed, None, 0).unwrap();
                if advise {
                    s.madvise(at(p), n * P, Advice::HugePage).unwrap();
                }
                set(model, p, n, |_| Some((0, true)));
            }
            Op::Write(i, p, byte) => {
                let (s, cpu, model) = &mut spaces[i % (last + 1)];
                let r = cpu.write(s, at(p) + 9, &[byte]);
                match model[p] {
                    Some((_, true)) => {
                        assert_eq!(r, Ok(()), "write to page {p}");
                        model[p] = Some((byte, true));
                    }
                    Some((_, false)) => {
                        let code = SegvCode::Accerr;
                        assert_eq!(
                            r,
                            Err(CpuFault::Segv {
                                addr: at(p) + 9,
                                code
                            })
                        );
                    }
                    None => assert!(r.is_err()),
                }
            }
            Op::Protect(p, n, w) => {
                let prot = if w { RW } else { R };
                if s.mprotect(at(p), n * P, prot).is_ok() {
                    set(model, p, n, |pg| pg.map(|(b, _)| (b, w)));
                }
            }
            Op::Unmap(p, n) => {
                s.munmap(at(p), n * P).unwrap();
                set(model, p, n, |_| None);
            }
            Op::DontNeed(p, n) => {
                // With a hole: ENOMEM, the mapped pages dropped all the same (as Linux).
                let _ = s.madvise(at(p), n * P, Advice::DontNeed);
                set(model, p, n, |pg| pg.map(|(_, w)| (0, w)));
            }
            Op::Move(p, n, q) => {
                let n = n.min(PAGES - q);
                let flags = MremapFlags::MAYMOVE | MremapFlags::FIXED;
                let overlap = p < q + n && q < p + n;
                if !overlap && s.mremap(at(p), n * P, n * P, flags, at(q)).is_ok() {
                    let moved: Vec<Page> = model[p..p + n].to_vec();
                    set(model, p, n, |_| None);
                    model[q..q + n].copy_from_slice(&moved);
                }
            }
            Op::Fork => {
                if spaces.len() < 2 {
                    let child = spaces[0].0.fork().unwrap();
                    let model = spaces[0].2.clone();
                    spaces.push((child, Cpu::new(), model));
                }
            }
            Op::Exit => {
                if spaces.len() > 1 {
                    spaces.remove(0);
                }
            }
            Op::ClearRefs => s.clear_refs(ClearRefs::SoftDirty).unwrap(),
            Op::Collapse(p, n) => {
                // Contents never change; errors (holes, read-only blocks split across
                // areas) leave them as they were too.
                let _ = s.madvise(at(p), n * P, Advice::Collapse);
            }
        }
        for (s, cpu, model) in &mut spaces {
            check(s, cpu, model);
        }
    }
    drop(spaces);
    assert_no_leak();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(32), ..ProptestConfig::default() })]

    #[test]
    fn huge_pages_keep_every_byte_and_free_every_frame(
        orders in any::<u16>(),
        top_always in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(orders | 1 << thp::PMD_ORDER, top_always, ops);
    }
}

#[test]
fn collapse_of_a_read_only_block_keeps_it_read_only() {
    let fixed = MmapFlags::PRIVATE | MmapFlags::ANONYMOUS | MmapFlags::FIXED;
    let mut s = setup();
    s.mmap(at(0), 512 * P, RW, fixed, None, 0).unwrap();
    s.write_bytes(at(3), &[1]).unwrap();
    s.mprotect(at(0), 512 * P, R).unwrap();
    s.madvise(at(0), 512 * P, Advice::Collapse).unwrap();
    let mut cpu = Cpu::new();
    let r = cpu.write(&mut s, at(3), &[2]);
    let code = SegvCode::Accerr;
    assert_eq!(r, Err(CpuFault::Segv { addr: at(3), code }));
    assert!(!pte(&s, BASE).unwrap().1.contains(MappingFlags::WRITE));
}
