//! Failure injection: the k-th backend call of an operation fails; the set, the backends'
//! per-page state and the page table must equal their state before the call.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::model::{Op, Prot, apply, mutating_op};
use super::*;

/// Builds the state of `prefix` from scratch (deterministically), then returns it with the
/// next area tag.
fn build(prefix: &[Op]) -> (Set, MockPt, u32) {
    let mut set = Set::new();
    let mut pt = MockPt::default();
    let mut tag = 0;
    for op in prefix {
        let _ = apply(&mut set, &mut pt, op, &mut tag);
    }
    (set, pt, tag)
}

/// Runs `op` after `prefix` once to count its backend calls, then once per call with that
/// call failing; every failure must leave everything unchanged. Returns the call count.
fn fail_each_call(prefix: &[Op], op: &Op) -> usize {
    let (mut set, mut pt, mut tag) = build(prefix);
    let before = pt.calls;
    let ok = apply(&mut set, &mut pt, op, &mut tag);
    let calls = pt.calls - before;
    if ok.is_err() {
        return calls;
    }
    for k in 1..=calls {
        let (mut set, mut pt, mut tag) = build(prefix);
        let snap = snapshot(&set, &pt);
        pt.fail_at.insert(pt.calls + k);
        let r = apply(&mut set, &mut pt, op, &mut tag);
        assert_eq!(
            r,
            Err(MappingError::NoMemory),
            "call {k} of {calls} failing: {op:?}"
        );
        assert_eq!(
            snapshot(&set, &pt),
            snap,
            "call {k} of {calls} failing: {op:?}"
        );
        check_consistent(&set, &pt);

        // If the first undo call fails too, the set's own bookkeeping is still unchanged
        // and the original error is reported (the contract is broken, the page table may
        // differ).
        let (mut set, mut pt, mut tag) = build(prefix);
        let shape = layout(&set);
        pt.fail_at.extend([pt.calls + k, pt.calls + k + 1]);
        let r = apply(&mut set, &mut pt, op, &mut tag);
        assert_eq!(r, Err(MappingError::NoMemory));
        assert_eq!(layout(&set), shape);
    }
    calls
}

const P: usize = PAGE;

/// Areas [1, 5), [7, 9), [9, 12), [14, 20) pages.
fn prefix() -> Vec<Op> {
    [(1, 4), (7, 2), (9, 3), (14, 6)]
        .into_iter()
        .enumerate()
        .map(|(i, (s, n))| Op::Map {
            start: s * P,
            size: n * P,
            flags: i as u8,
            replace: false,
        })
        .collect()
}

#[test]
fn every_call_of_multi_area_operations() {
    let prefix = prefix();
    let cases = [
        (
            Op::Unmap {
                start: 3 * P,
                size: 13 * P,
            },
            4,
        ),
        (
            Op::Unmap {
                start: 0,
                size: 30 * P,
            },
            4,
        ),
        // The last area already has flags 3.
        (
            Op::Protect {
                start: 2 * P,
                size: 16 * P,
                prot: Prot::Set(3),
            },
            3,
        ),
        (
            Op::Protect {
                start: 2 * P,
                size: 16 * P,
                prot: Prot::Toggle(2),
            },
            4,
        ),
        // Skips the area that already has flags 1: three calls.
        (
            Op::Protect {
                start: 0,
                size: 30 * P,
                prot: Prot::Set(1),
            },
            3,
        ),
        (
            Op::Map {
                start: 4 * P,
                size: 12 * P,
                flags: 3,
                replace: true,
            },
            5,
        ),
        (
            Op::Map {
                start: 2 * P,
                size: P,
                flags: 3,
                replace: true,
            },
            2,
        ),
        (Op::Clear, 4),
    ];
    for (op, calls) in cases {
        assert_eq!(fail_each_call(&prefix, &op), calls, "{op:?}");
    }
}

proptest! {
    // `PROPTEST_CASES` overrides the default.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128)))]

    #[test]
    fn random_state_random_failure(
        prefix in proptest::collection::vec(mutating_op(), 0..16),
        op in prop_oneof![4 => mutating_op(), 1 => Just(Op::Clear)],
    ) {
        fail_each_call(&prefix, &op);
    }
}
