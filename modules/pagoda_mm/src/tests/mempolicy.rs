//! NUMA policies on one node: argument rules (`mm/mempolicy.c`'s order) and per-area
//! storage (splits, merges, fork).

use axerrno::{LinuxError, LinuxResult};
use memory_addr::PAGE_SIZE_4K;

use super::*;
use crate::MmapFlags;
use crate::mempolicy::*;

const P: usize = PAGE_SIZE_4K;
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

fn mask(low: u64) -> NodeMask {
    NodeMask { low, any: low != 0 }
}

#[test]
fn modes_and_flags_follow_sanitize_mpol_flags() {
    assert_eq!(parse_mode(2), Ok((PolicyMode::Bind, 0)));
    assert_eq!(parse_mode(7), Err(LinuxError::EINVAL));
    assert_eq!(
        parse_mode(0x1_0000_0002),
        Ok((PolicyMode::Bind, 0)),
        "an int"
    );
    let both = usize::from(MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES);
    assert_eq!(parse_mode(2 | both), Err(LinuxError::EINVAL));
    let nb = usize::from(MPOL_F_NUMA_BALANCING);
    assert!(parse_mode(2 | nb).is_ok() && parse_mode(5 | nb).is_ok());
    assert_eq!(parse_mode(3 | nb), Err(LinuxError::EINVAL));
}

#[test]
fn policies_validate_nodes_as_on_one_node() {
    use PolicyMode::*;
    let new = MemPolicy::new;
    assert_eq!(new(Default, 0, mask(0)), Ok(MemPolicy::default()));
    assert_eq!(new(Default, 0, mask(1)), Err(LinuxError::EINVAL));
    assert_eq!(new(Bind, 0, mask(3)).map(|p| p.nodes), Ok(1));
    assert_eq!(new(Bind, 0, mask(2)), Err(LinuxError::EINVAL));
    assert_eq!(new(Interleave, 0, mask(0)), Err(LinuxError::EINVAL));
    assert_eq!(new(Preferred, 0, mask(0)).map(|p| p.mode), Ok(Local));
    assert_eq!(
        new(Preferred, MPOL_F_STATIC_NODES, mask(0)),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(new(Local, 0, mask(1)), Err(LinuxError::EINVAL));
    assert_eq!(
        new(Bind, MPOL_F_STATIC_NODES, mask(3)).map(|p| p.nodes),
        Ok(3)
    );
    let rel = new(Preferred, MPOL_F_RELATIVE_NODES, mask(4)).unwrap();
    assert_eq!(
        (rel.nodes, rel.mode_word()),
        (4, 1 | u32::from(MPOL_F_RELATIVE_NODES))
    );
    let high = NodeMask { low: 0, any: true };
    assert!(new(Bind, MPOL_F_RELATIVE_NODES, high).is_ok());
    assert_eq!(new(Bind, 0, high), Err(LinuxError::EINVAL));
}

#[test]
fn node_masks_are_read_as_get_nodes() {
    let words = [1u64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    let mut read = |at: usize| {
        words
            .get((at - 0x1000) / 8)
            .copied()
            .ok_or(LinuxError::EFAULT)
    };
    assert_eq!(
        read_nodemask(0, 64, MAX_NUMNODES_X86_64, &mut read),
        Ok(NodeMask::default())
    );
    assert_eq!(
        read_nodemask(0x1000, 1, MAX_NUMNODES_X86_64, &mut read),
        Ok(NodeMask::default())
    );
    assert_eq!(
        read_nodemask(0x1000, 2, MAX_NUMNODES_X86_64, &mut read),
        Ok(mask(1))
    );
    assert_eq!(
        read_nodemask(0x1000, 0, MAX_NUMNODES_X86_64, &mut read),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        read_nodemask(0x1000, 32770, MAX_NUMNODES_X86_64, &mut read),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        read_nodemask(0x1000, 1025, MAX_NUMNODES_X86_64, &mut read),
        Ok(mask(1))
    );
    // Word 16 holds nodes 1024..: past MAX_NUMNODES, so set bits are refused.
    assert_eq!(
        read_nodemask(0x1000, 1026, MAX_NUMNODES_X86_64, &mut read),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        read_nodemask(0x1000, 1088, MAX_NUMNODES_X86_64, &mut read),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        read_nodemask(0x1000, 2000, MAX_NUMNODES_X86_64, &mut read),
        Err(LinuxError::EFAULT)
    );
    // riscv64's four nodes: bits 4.. of the first word must be 0 once maxnode passes 4.
    let one_word = |w: u64| move |_at: usize| Ok(w);
    let rv = MAX_NUMNODES_RISCV64;
    assert_eq!(
        read_nodemask(0x3000, 65, rv, &mut one_word(0b1001)),
        Ok(mask(0b1001))
    );
    assert_eq!(
        read_nodemask(0x3000, 65, rv, &mut one_word(0b1_0001)),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        read_nodemask(0x3000, 5, rv, &mut one_word(0b1_0001)),
        Ok(mask(1))
    );
    assert_eq!(
        read_nodemask(0x3000, 4, rv, &mut one_word(0b1001)),
        Ok(mask(1))
    );
    let mut two = |at: usize| Ok(if at == 0x2008 { 1 } else { 0 });
    assert_eq!(
        read_nodemask(0x2000, 129, MAX_NUMNODES_X86_64, &mut two),
        Ok(NodeMask { low: 0, any: true })
    );
}

#[test]
fn mbind_checks_come_in_linuxs_order() {
    assert_eq!(mbind_range(0x1001, P, 8, true), Err(LinuxError::EINVAL));
    assert_eq!(mbind_range(0x1001, P, 4, false), Err(LinuxError::EPERM));
    assert_eq!(mbind_range(0x1001, P, 4, true), Err(LinuxError::EINVAL));
    assert_eq!(mbind_range(0x1000, 0, 0, true), Ok(None));
    assert_eq!(
        mbind_range(0x1000, usize::MAX, 0, true),
        Ok(None),
        "PAGE_ALIGN wraps to 0"
    );
    assert_eq!(
        mbind_range(0x2000, usize::MAX - P, 0, true),
        Err(LinuxError::EINVAL)
    );
    let r = mbind_range(0x1000, 1, 0, true).unwrap().unwrap();
    assert_eq!((r.start.as_usize(), r.end.as_usize()), (0x1000, 0x2000));
}

#[test]
fn area_policies_split_merge_and_fork() {
    let mut s = setup();
    let a = s.mmap(va(0), 4 * P, RW, ANON, None, 0).unwrap().as_usize();
    let bind = MemPolicy::new(PolicyMode::Bind, 0, mask(1)).unwrap();
    let range = |at: usize, n: usize| mbind_range(at, n * P, 0, true).unwrap().unwrap();
    s.mbind(range(a + P, 1), bind, mask(1), 0).unwrap();
    assert_eq!(s.areas().count(), 3);
    assert_eq!(s.policy_at(va(a + P)), Ok(bind));
    assert_eq!(s.policy_at(va(a)), Ok(MemPolicy::default()));
    s.mbind(range(a + 2 * P, 2), bind, mask(1), 0).unwrap();
    assert_eq!(s.areas().count(), 2, "equal policies merge");
    let child = s.fork().unwrap();
    assert_eq!(child.policy_at(va(a + 3 * P)), Ok(bind));
    drop(child);
    assert_eq!(s.policy_at(va(a + 4 * P)), Err(LinuxError::EFAULT));
    s.munmap(va(a + 2 * P), P).unwrap();
    assert_eq!(
        s.mbind(range(a, 4), bind, mask(1), 0),
        Err(LinuxError::EFAULT)
    );
    let default = MemPolicy::default();
    assert_eq!(s.mbind(range(a, 4), default, mask(0), 0), Ok(()));
    assert_eq!(
        s.mbind(range(a + 2 * P, 1), default, mask(0), 0),
        Err(LinuxError::EFAULT)
    );
    s.write_bytes(va(a), &[1]).unwrap();
    let local = MemPolicy::new(PolicyMode::Local, 0, mask(0)).unwrap();
    let strict = MPOL_MF_STRICT;
    assert_eq!(
        s.mbind(range(a, 1), local, mask(0), strict),
        Err(LinuxError::EIO)
    );
    assert_eq!(s.policy_at(va(a)), Ok(default), "unchanged after EIO");
    assert_eq!(
        s.mbind(range(a + P, 1), local, mask(0), strict),
        Ok(()),
        "untouched"
    );
    let moved = strict | MPOL_MF_MOVE;
    assert_eq!(s.mbind(range(a, 1), local, mask(0), moved), Ok(()));
    assert_eq!(s.node_of(va(a + 5)), Ok(0));
    assert_eq!(s.node_of(va(a + 2 * P)), Err(LinuxError::EFAULT));
    drop(s);
    assert_no_leak();
}

mod model {
    //! Area policies against a per-page model: random `mbind`s (of three policies, strict
    //! or not), unmaps, fresh maps, writes, `mprotect`s and forks over a window of pages;
    //! after every step each page's policy (or `EFAULT`) must match the model, and so
    //! must a forked child's.

    use alloc::vec::Vec;

    use page_table_entry::MappingFlags;
    use proptest::prelude::*;

    use super::*;
    use crate::testing::proptest_cases;

    const PAGES: usize = 10;
    const FIXED: MmapFlags = ANON.union(MmapFlags::FIXED);

    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// `mbind` with policy 0 (default), 1 (BIND {0}) or 2 (LOCAL), `MPOL_MF_STRICT`.
        Mbind(u8, bool),
        Unmap,
        Map,
        Write,
        Protect,
    }

    fn policy(k: u8) -> (MemPolicy, NodeMask) {
        match k {
            0 => (MemPolicy::default(), mask(0)),
            1 => (
                MemPolicy::new(PolicyMode::Bind, 0, mask(1)).unwrap(),
                mask(1),
            ),
            _ => (
                MemPolicy::new(PolicyMode::Local, 0, mask(0)).unwrap(),
                mask(0),
            ),
        }
    }

    /// A page: unmapped (`None`) or its policy and whether it was written.
    type Page = Option<(MemPolicy, bool)>;

    fn op() -> impl Strategy<Value = (Op, usize, usize)> {
        let kind = prop_oneof![
            (0u8..3, any::<bool>()).prop_map(|(k, s)| Op::Mbind(k, s)),
            Just(Op::Unmap),
            Just(Op::Map),
            Just(Op::Write),
            Just(Op::Protect),
        ];
        (kind, 0..PAGES, 1..4usize)
    }

    /// The model's answer to `mbind` of pages `r`.
    fn model_mbind(m: &[Page], r: core::ops::Range<usize>, k: u8, strict: bool) -> LinuxResult {
        let (pol, asked) = policy(k);
        let pages = &m[r];
        let default = pol.mode == PolicyMode::Default;
        if pages.iter().all(Option::is_none) || (!default && pages.iter().any(Option::is_none)) {
            return Err(LinuxError::EFAULT);
        }
        if strict && !default && asked.low & 1 == 0 && pages.iter().flatten().any(|p| p.1) {
            return Err(LinuxError::EIO);
        }
        Ok(())
    }

    fn run(ops: &[(Op, usize, usize)]) {
        let mut s = setup();
        let base = s
            .mmap(va(0), PAGES * P, RW, ANON, None, 0)
            .unwrap()
            .as_usize();
        let page = |i: usize| base + i * P;
        let mut m: Vec<Page> = alloc::vec![Some((MemPolicy::default(), false)); PAGES];
        for &(op, first, n) in ops {
            let n = n.min(PAGES - first);
            let r = first..first + n;
            match op {
                Op::Mbind(k, strict) => {
                    let flags = if strict { MPOL_MF_STRICT } else { 0 };
                    let want = model_mbind(&m, r.clone(), k, strict);
                    let range = mbind_range(page(first), n * P, flags as usize, true)
                        .unwrap()
                        .unwrap();
                    let (pol, asked) = policy(k);
                    assert_eq!(s.mbind(range, pol, asked, flags), want, "{op:?} {r:?}");
                    if want.is_ok() {
                        for p in m[r.clone()].iter_mut().flatten() {
                            p.0 = pol;
                        }
                    }
                }
                Op::Unmap => {
                    s.munmap(va(page(first)), n * P).unwrap();
                    m[r.clone()].fill(None);
                }
                Op::Map => {
                    s.mmap(va(page(first)), n * P, RW, FIXED, None, 0).unwrap();
                    m[r.clone()].fill(Some((MemPolicy::default(), false)));
                }
                Op::Write => {
                    for i in r.clone() {
                        if let Some(p) = &mut m[i] {
                            s.write_bytes(va(page(i)), &[1]).unwrap();
                            p.1 = true;
                        }
                    }
                }
                Op::Protect => {
                    if m[r.clone()].iter().all(Option::is_some) {
                        s.mprotect(va(page(first)), n * P, MappingFlags::READ)
                            .unwrap();
                        s.mprotect(va(page(first)), n * P, RW).unwrap();
                    }
                }
            }
            let child = s.fork().unwrap();
            for (i, want) in m.iter().enumerate() {
                let want = want.map(|p| p.0).ok_or(LinuxError::EFAULT);
                assert_eq!(
                    s.policy_at(va(page(i))),
                    want,
                    "page {i} after {op:?} {r:?}"
                );
                assert_eq!(child.policy_at(va(page(i) + 5)), want, "child page {i}");
            }
        }
        drop(s);
        assert_no_leak();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(proptest_cases(64)))]

        #[test]
        fn area_policies_match_a_per_page_model(ops in prop::collection::vec(op(), 1..20)) {
            run(&ops);
        }
    }
}
