//! Random sequences of shmget / shmat / shmdt / munmap / IPC_RMID / fork / exit against a
//! simple model: which segments exist, their keys and their attachment counts.

use alloc::collections::BTreeMap;
use alloc::vec;

use memory_addr::VirtAddr;
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    /// `shmget(key, pages * P, IPC_CREAT? | IPC_EXCL?)`; key 0 is `IPC_PRIVATE`.
    Get {
        key: i32,
        pages: usize,
        creat: bool,
        excl: bool,
    },
    /// Attach the `seg`-th known segment in space `space`.
    Attach {
        seg: usize,
        space: usize,
    },
    /// Detach the `att`-th attachment of `space` (with `shmdt` or `munmap`).
    Detach {
        space: usize,
        att: usize,
        munmap: bool,
    },
    Rmid {
        seg: usize,
    },
    Fork {
        space: usize,
    },
    Exit {
        space: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3i32, 1..3usize, any::<bool>(), any::<bool>()).prop_map(|(key, pages, creat, excl)| {
            Op::Get {
                key,
                pages,
                creat,
                excl,
            }
        }),
        (0..6usize, 0..3usize).prop_map(|(seg, space)| Op::Attach { seg, space }),
        (0..3usize, 0..4usize, any::<bool>()).prop_map(|(space, att, munmap)| Op::Detach {
            space,
            att,
            munmap
        }),
        (0..6usize).prop_map(|seg| Op::Rmid { seg }),
        (0..3usize).prop_map(|space| Op::Fork { space }),
        (0..3usize).prop_map(|space| Op::Exit { space }),
    ]
}

#[derive(Debug, Clone)]
struct SegModel {
    key: i32,
    size: usize,
    removed: bool,
}

/// `(segment id, attach address)` per live space.
type Atts = Vec<(ShmId, VirtAddr)>;

fn nattch(spaces: &[Option<(Space, Atts)>], id: ShmId) -> usize {
    spaces
        .iter()
        .flatten()
        .map(|(_, atts)| atts.iter().filter(|a| a.0 == id).count())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::testing::proptest_cases(96), ..ProptestConfig::default() })]

    #[test]
    fn registry_follows_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let first = setup();
        let range = first.va_range();
        let reg = Reg::default();
        let mut spaces: Vec<Option<(Space, Atts)>> = vec![Some((first, Vec::new())), None, None];
        let mut segs: BTreeMap<ShmId, SegModel> = BTreeMap::new();
        let mut known: Vec<ShmId> = Vec::new();
        for op in ops {
            match op {
                Op::Get { key, pages, creat, excl } => {
                    let flags = if creat { IPC_CREAT } else { 0 } | if excl { IPC_EXCL } else { 0 };
                    let r = reg.shmget(ShmKey(key), pages * P, flags, C);
                    let existing = segs.iter().find(|(_, s)| key != 0 && s.key == key && !s.removed);
                    match existing {
                        Some(_) if creat && excl => prop_assert_eq!(r, Err(LinuxError::EEXIST)),
                        Some((_, s)) if pages * P > s.size => prop_assert_eq!(r, Err(LinuxError::EINVAL)),
                        Some((&id, _)) => prop_assert_eq!(r, Ok(id)),
                        None if key != 0 && !creat => prop_assert_eq!(r, Err(LinuxError::ENOENT)),
                        None => {
                            let id = r.unwrap();
                            prop_assert!(!segs.contains_key(&id), "ids are unique while in use");
                            segs.insert(id, SegModel { key, size: pages * P, removed: false });
                            known.push(id);
                        }
                    }
                }
                Op::Attach { seg, space } => {
                    let (Some(&id), Some((s, atts))) = (known.get(seg), spaces[space].as_mut()) else {
                        continue;
                    };
                    let r = reg.shmat(s, id, None, 0, C);
                    if segs.contains_key(&id) {
                        let at = r.unwrap();
                        atts.push((id, at));
                    } else {
                        prop_assert_eq!(r, Err(LinuxError::EINVAL));
                    }
                }
                Op::Detach { space, att, munmap } => {
                    let Some((s, atts)) = spaces[space].as_mut() else { continue };
                    if att >= atts.len() {
                        continue;
                    }
                    let (id, at) = atts.remove(att);
                    let size = segs[&id].size.div_ceil(P) * P;
                    if munmap {
                        reg.munmap(s, at, size, C).unwrap();
                    } else {
                        reg.shmdt(s, at, C).unwrap();
                    }
                }
                Op::Rmid { seg } => {
                    let Some(&id) = known.get(seg) else { continue };
                    let r = reg.remove(id);
                    match segs.get_mut(&id) {
                        Some(m) => {
                            prop_assert_eq!(r, Ok(()));
                            m.removed = true;
                        }
                        None => prop_assert_eq!(r, Err(LinuxError::EINVAL)),
                    }
                }
                Op::Fork { space } => {
                    let Some(free) = spaces.iter().position(Option::is_none) else { continue };
                    let Some((s, atts)) = spaces[space].as_mut() else { continue };
                    let child = s.fork().unwrap();
                    reg.forked(&child, C);
                    let atts = atts.clone();
                    spaces[free] = Some((child, atts));
                }
                Op::Exit { space } => {
                    if let Some((s, _)) = spaces[space].take() {
                        reg.exit(s, C);
                    }
                    if spaces.iter().all(Option::is_none) {
                        spaces[0] = Some((Space::new(range).unwrap(), Vec::new()));
                    }
                }
            }
            // A removed segment disappears with its last attachment.
            let gone: Vec<ShmId> = segs
                .iter()
                .filter(|&(&id, m)| m.removed && nattch(&spaces, id) == 0)
                .map(|(&id, _)| id)
                .collect();
            gone.iter().for_each(|id| { segs.remove(id); });
            for &id in &known {
                match segs.get(&id) {
                    Some(m) => {
                        let ds = reg.stat(id).unwrap();
                        prop_assert_eq!(ds.nattch, nattch(&spaces, id));
                        prop_assert_eq!(ds.key, if m.removed { IPC_PRIVATE } else { ShmKey(m.key) });
                        prop_assert_eq!(ds.mode & SHM_DEST != 0, m.removed);
                    }
                    None => prop_assert_eq!(reg.stat(id), Err(LinuxError::EINVAL)),
                }
            }
            prop_assert_eq!(reg.len(), segs.len());
        }
        drop(spaces);
        drop(reg);
        assert_no_leak();
    }
}
