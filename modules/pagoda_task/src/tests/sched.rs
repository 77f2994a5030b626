use proptest::prelude::*;

use crate::Pid;
use crate::futex::*;
use crate::sched::*;

fn p(n: u32) -> Pid {
    Pid::new(n)
}

const K1: FutexKey = FutexKey::Private {
    space: 1,
    addr: 0x1000,
};
const K2: FutexKey = FutexKey::Shared {
    object: 9,
    offset: 64,
};

#[test]
fn futex_wake_order_bitsets_requeue_and_cancel() {
    let mut t = FutexTable::new();
    for (tid, bits) in [(1, BITSET_ANY), (2, 0b01), (3, 0b10), (4, BITSET_ANY)] {
        t.wait(K1, p(tid), bits).unwrap();
    }
    assert_eq!(
        t.wait(K2, p(1), BITSET_ANY),
        Err(axerrno::LinuxError::EINVAL),
        "already waits"
    );
    assert_eq!(t.wait(K2, p(9), 0), Err(axerrno::LinuxError::EINVAL));
    assert_eq!(t.wake(K1, 8, 0b10).unwrap(), [p(1), p(3), p(4)]);
    assert_eq!(t.wake(K1, 8, 0), Err(axerrno::LinuxError::EINVAL));
    t.wait(K1, p(5), BITSET_ANY).unwrap();
    t.wait(K1, p(6), BITSET_ANY).unwrap();
    let (woken, moved) = t.requeue(K1, K2, 1, 1);
    assert_eq!((woken, moved), (vec![p(2)], 1));
    assert_eq!(t.waits_on(p(5)), Some(K2));
    assert_eq!(t.waits_on(p(6)), Some(K1));
    assert!(t.cancel(p(6)));
    assert!(
        !t.cancel(p(6)),
        "already gone: its wait returns 0, not ETIMEDOUT"
    );
    assert_eq!(t.waiters(K1), 0);
    assert_eq!(t.wake(K2, 0, BITSET_ANY).unwrap(), Vec::<Pid>::new());
    assert_eq!(t.wake(K2, 1, BITSET_ANY).unwrap(), [p(5)]);
    assert_eq!(check_aligned(0x1002), Err(axerrno::LinuxError::EINVAL));
    assert!(check_aligned(0x1004).is_ok());
}

#[test]
fn round_robin_with_slices() {
    let mut q = RunQueue::new(2);
    assert_eq!(q.tick(), Next::Idle);
    q.wake(p(1));
    q.wake(p(2));
    q.wake(p(1));
    assert_eq!(q.tick(), Next::Switch(p(1)));
    assert_eq!(q.tick(), Next::Continue);
    assert_eq!(q.tick(), Next::Switch(p(2)));
    q.wake(p(2));
    assert_eq!(
        q.ready().collect::<Vec<_>>(),
        [p(1)],
        "waking the running thread changes nothing"
    );
    assert_eq!(q.yield_now(), Next::Switch(p(1)));
    assert_eq!(q.block(), Next::Switch(p(2)));
    assert_eq!(q.yield_now(), Next::Continue, "alone: keeps the CPU");
    q.remove(p(2));
    assert_eq!(q.current(), None);
    assert_eq!(q.block(), Next::Idle);
}

#[test]
fn timers_fire_in_order_and_alarms_rearm() {
    let mut t = Timers::new();
    t.set(TimerKind::Wake(p(1)), 300, 0);
    t.set(TimerKind::Wake(p(2)), 100, 0);
    t.set(TimerKind::Alarm(p(3)), 200, 50);
    assert_eq!(t.next_deadline(), Some(100));
    assert_eq!(t.expire(99), vec![]);
    assert_eq!(
        t.expire(260),
        vec![TimerKind::Wake(p(2)), TimerKind::Alarm(p(3))]
    );
    assert_eq!(
        t.deadline(TimerKind::Alarm(p(3))),
        Some(300),
        "missed periods coalesce"
    );
    assert_eq!(t.cancel(TimerKind::Wake(p(1))), Some(300));
    assert_eq!(t.cancel(TimerKind::Wake(p(1))), None);
    t.set(TimerKind::Alarm(p(3)), 1000, 0);
    assert_eq!(t.expire(5000), vec![TimerKind::Alarm(p(3))]);
    assert_eq!(t.next_deadline(), None, "a one-shot alarm is gone");
}

#[derive(Debug, Clone)]
enum Op {
    Tick,
    Wake(u32),
    Yield,
    Block,
    Remove(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Tick),
        3 => (1..6u32).prop_map(Op::Wake),
        1 => Just(Op::Yield),
        1 => Just(Op::Block),
        1 => (1..6u32).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(super::cases(256)))]

    /// No thread is lost or duplicated, and with only ticks every ready thread runs within
    /// `ready * slice` ticks.
    #[test]
    fn run_queue_is_fair_and_loses_nobody(ops in proptest::collection::vec(op(), 1..200)) {
        let slice = 3;
        let mut q = RunQueue::new(slice);
        let mut runnable = std::collections::BTreeSet::new();
        for op in ops {
            match op {
                Op::Tick => { q.tick(); }
                Op::Wake(t) => { q.wake(p(t)); runnable.insert(t); }
                Op::Yield => { q.yield_now(); }
                Op::Block => {
                    if let Some(cur) = q.current() { runnable.remove(&cur.get()); }
                    q.block();
                }
                Op::Remove(t) => { q.remove(p(t)); runnable.remove(&t); }
            }
            let mut seen: Vec<u32> = q.ready().map(Pid::get).collect();
            seen.extend(q.current().map(Pid::get));
            seen.sort();
            let mut dedup = seen.clone();
            dedup.dedup();
            prop_assert_eq!(&seen, &dedup, "no duplicates");
            prop_assert_eq!(seen, runnable.iter().copied().collect::<Vec<_>>());
        }
        let n = runnable.len() as u32;
        let mut ran = std::collections::BTreeSet::new();
        for _ in 0..=(n * slice + 1) {
            q.tick();
            ran.extend(q.current().map(Pid::get));
        }
        prop_assert_eq!(ran, runnable);
    }

    #[test]
    fn futex_table_matches_a_list_model(ops in proptest::collection::vec((0..4u8, 1..8u32, any::<bool>(), 0..4usize, 1..4u32), 1..100)) {
        let mut t = FutexTable::new();
        let mut model: Vec<(FutexKey, u32, u32)> = Vec::new();
        for (kind, tid, second, n, bits) in ops {
            let key = if second { K2 } else { K1 };
            match kind {
                0 => {
                    let ok = t.wait(key, p(tid), bits).is_ok();
                    prop_assert_eq!(ok, !model.iter().any(|w| w.1 == tid));
                    if ok { model.push((key, tid, bits)); }
                }
                1 => {
                    let got: Vec<u32> = t.wake(key, n, bits).unwrap().into_iter().map(Pid::get).collect();
                    let want: Vec<u32> = model.iter().filter(|w| w.0 == key && w.2 & bits != 0).take(n).map(|w| w.1).collect();
                    model.retain(|w| !want.contains(&w.1));
                    prop_assert_eq!(got, want);
                }
                2 => {
                    let was = model.iter().any(|w| w.1 == tid);
                    prop_assert_eq!(t.cancel(p(tid)), was);
                    model.retain(|w| w.1 != tid);
                }
                _ => {
                    let other = if second { K1 } else { K2 };
                    let (woken, moved) = t.requeue(key, other, n, 2);
                    let want: Vec<u32> = model.iter().filter(|w| w.0 == key).take(n).map(|w| w.1).collect();
                    model.retain(|w| !want.contains(&w.1));
                    let mut m = 0;
                    let mut moved_tids = Vec::new();
                    for w in model.iter().filter(|w| w.0 == key) {
                        if m < 2 { moved_tids.push(w.1); m += 1; }
                    }
                    // Requeued waiters go to the back of the other queue, in order.
                    let (mut stay, mut go): (Vec<_>, Vec<_>) = model.drain(..).partition(|w| !moved_tids.contains(&w.1));
                    for w in &mut go { w.0 = other; }
                    stay.extend(go);
                    model = stay;
                    prop_assert_eq!(woken.into_iter().map(Pid::get).collect::<Vec<_>>(), want);
                    prop_assert_eq!(moved, moved_tids.len());
                }
            }
            for key in [K1, K2] {
                prop_assert_eq!(t.waiters(key), model.iter().filter(|w| w.0 == key).count());
            }
        }
    }
}
