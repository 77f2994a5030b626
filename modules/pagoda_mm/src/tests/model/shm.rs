//! System V shm in the model: `shmget`, `shmat`, `shmdt` and `IPC_RMID` on a registry
//! shared by every space. A segment's bytes live in `Model::shm`, so a write through one
//! attachment must show through every other one, in every space, forks included.

use alloc::vec;
use alloc::vec::Vec;

use page_table_entry::MappingFlags;
use page_table_multiarch::testing::CountingHandler;
use proptest::prelude::*;

use super::reference::{MPage, Model, Src};
use super::{P, R, RW, WINDOW, page_addr};
use crate::LinuxError;
use crate::shm::{
    IPC_CREAT, IPC_EXCL, IPC_PRIVATE, SHM_DEST, SHM_RDONLY, SHM_REMAP, ShmContext, ShmId, ShmKey,
    ShmRegistry,
};
use crate::tests::{Space, va};

pub(super) type Reg = ShmRegistry<CountingHandler>;

const CTX: ShmContext = ShmContext { pid: 1, now: 1 };

/// A segment of the model.
#[derive(Debug, Clone)]
pub(super) struct Seg {
    id: ShmId,
    key: i32,
    pages: usize,
    /// Its contents: `Model::shm[obj]`.
    obj: usize,
    /// `IPC_RMID` was called.
    removed: bool,
    /// Removed and detached everywhere: the registry forgot it.
    gone: bool,
}

#[derive(Debug, Clone)]
pub(super) enum ShmOp {
    /// `shmget(key, pages * P, 0o600 | IPC_CREAT? | IPC_EXCL?)`; key 0 is `IPC_PRIVATE`.
    Get {
        key: i32,
        pages: usize,
        creat: bool,
        excl: bool,
    },
    /// `shmat` of the `seg`-th segment (counting round) in space `s`, at window page `at` or placed by the
    /// space (top-down below `MMAP_TOP`, the end of the window).
    At {
        s: usize,
        seg: usize,
        at: Option<usize>,
        rdonly: bool,
        remap: bool,
    },
    /// `shmdt` at window page `p`, or (`base`) at the `p`-th address where some segment
    /// starts in the model.
    Dt { s: usize, p: usize, base: bool },
    /// `shmctl(IPC_RMID)` of the `seg`-th segment (counting round).
    Rmid { seg: usize },
    /// Splits an attachment: `munmap`, or `mprotect(PROT_READ)`, of the `i`-th (counting
    /// round) window page of space `s` that maps a segment.
    Split { s: usize, i: usize, unmap: bool },
}

pub(super) fn op() -> impl Strategy<Value = ShmOp> {
    let s = 0..3usize;
    prop_oneof![
        2 => (0..3i32, 1..=3usize, prop::bool::weighted(0.8), prop::bool::weighted(0.2))
            .prop_map(|(key, pages, creat, excl)| ShmOp::Get { key, pages, creat, excl }),
        3 => (s.clone(), 0..5usize, prop::option::weighted(0.5, 0..WINDOW), prop::bool::weighted(0.3), prop::bool::weighted(0.2))
            .prop_map(|(s, seg, at, rdonly, remap)| ShmOp::At { s, seg, at, rdonly, remap }),
        2 => (s, 0..WINDOW, prop::bool::weighted(0.8)).prop_map(|(s, p, base)| ShmOp::Dt { s, p, base }),
        1 => (0..5usize).prop_map(|seg| ShmOp::Rmid { seg }),
        2 => (0..3usize, 0..WINDOW, any::<bool>()).prop_map(|(s, i, unmap)| ShmOp::Split { s, i, unmap }),
    ]
}

/// The highest window page where `n` free pages start (where `shmat(NULL)` must go).
fn top_down_fit(pages: &[Option<MPage>], n: usize) -> Option<usize> {
    (0..=WINDOW - n)
        .rev()
        .find(|&p| pages[p..p + n].iter().all(Option::is_none))
}

/// The window pages `shmdt(page_addr(p))` must unmap: pages at or above `p` showing page
/// `q - p` of a segment, all of the segment of the lowest one (Linux's rule).
fn pieces(model: &Model, s: usize, p: usize) -> Vec<usize> {
    let consistent = |q: usize| match model.spaces[s][q].as_ref().map(|m| &m.src) {
        Some(&Src::Shm(o, i)) if i == q - p && model.segs.iter().any(|g| g.obj == o) => Some(o),
        _ => None,
    };
    let Some(obj) = (p..WINDOW).find_map(consistent) else {
        return Vec::new();
    };
    (p..WINDOW)
        .filter(|&q| consistent(q) == Some(obj))
        .collect()
}

/// The `i`-th segment, counting round.
fn nth(segs: &[Seg], i: usize) -> Option<&Seg> {
    segs.get(i % segs.len().max(1))
}

/// `(window page, index in its segment)` of the pages of space `s` that map a segment.
fn segment_pages(model: &Model, s: usize) -> Vec<(usize, usize)> {
    (0..WINDOW)
        .filter_map(|q| match model.spaces[s][q].as_ref()?.src {
            Src::Shm(o, i) if model.segs.iter().any(|g| g.obj == o) => Some((q, i)),
            _ => None,
        })
        .collect()
}

/// The `s`-th space (counting round) among those mapping a segment, else the `s`-th.
fn attached_space(model: &Model, s: usize) -> usize {
    let with: Vec<usize> = (0..model.spaces.len())
        .filter(|&t| !segment_pages(model, t).is_empty())
        .collect();
    with.get(s % with.len().max(1))
        .copied()
        .unwrap_or(s % model.spaces.len())
}

/// The window pages where a segment mapped in space `s` starts (or would start).
fn bases(model: &Model, s: usize) -> Vec<usize> {
    let mut bases: Vec<usize> = segment_pages(model, s)
        .into_iter()
        .filter_map(|(q, i)| q.checked_sub(i))
        .collect();
    bases.dedup();
    bases
}

pub(super) fn apply(op: ShmOp, reg: &Reg, spaces: &mut [Space], model: &mut Model) {
    let pick = |s: usize| s % spaces.len();
    match op {
        ShmOp::Get {
            key,
            pages,
            creat,
            excl,
        } => {
            let flags = 0o600 | if creat { IPC_CREAT } else { 0 } | if excl { IPC_EXCL } else { 0 };
            let r = reg.shmget(ShmKey(key), pages * P, flags, CTX);
            let existing = model
                .segs
                .iter()
                .find(|g| key != 0 && g.key == key && !g.removed);
            match existing {
                Some(_) if creat && excl => assert_eq!(r, Err(LinuxError::EEXIST)),
                Some(g) if pages > g.pages => assert_eq!(r, Err(LinuxError::EINVAL)),
                Some(g) => assert_eq!(r, Ok(g.id)),
                None if key != 0 && !creat => assert_eq!(r, Err(LinuxError::ENOENT)),
                None => {
                    let id = r.unwrap();
                    assert!(model.segs.iter().all(|g| g.gone || g.id != id));
                    model.segs.push(Seg {
                        id,
                        key,
                        pages,
                        obj: model.shm.len(),
                        removed: false,
                        gone: false,
                    });
                    model.shm.push(vec![0; pages * P]);
                }
            }
        }
        ShmOp::At {
            s,
            seg,
            at,
            rdonly,
            remap,
        } => {
            let s = pick(s);
            let Some(g) = nth(&model.segs, seg).cloned() else {
                return;
            };
            let flags = if rdonly { SHM_RDONLY } else { 0 } | if remap { SHM_REMAP } else { 0 };
            let at = at.map(|p| p.min(WINDOW - g.pages));
            // Where it must go: at the page asked for, or top-down in the window.
            let place = match at {
                Some(p) => Some(p),
                None if remap || g.gone => None,
                // No room in the window: it would go below it, where the model is blind.
                None => Some(match top_down_fit(&model.spaces[s], g.pages) {
                    Some(p) => p,
                    None => return,
                }),
            };
            let r = reg.shmat(
                &mut spaces[s],
                g.id,
                at.map(|p| va(page_addr(p))),
                flags,
                CTX,
            );
            let Some(p) = place.filter(|_| !g.gone) else {
                assert_eq!(r, Err(LinuxError::EINVAL));
                return;
            };
            let pages = &mut model.spaces[s][p..p + g.pages];
            if !remap && pages.iter().any(Option::is_some) {
                assert_eq!(r, Err(LinuxError::EINVAL), "shmat over a mapping");
                return;
            }
            assert_eq!(r, Ok(va(page_addr(p))));
            for (i, page) in pages.iter_mut().enumerate() {
                let mut m = MPage::new(if rdonly { R } else { RW }, Src::Shm(g.obj, i));
                m.may_write = !rdonly;
                *page = Some(m);
            }
        }
        ShmOp::Dt { s, p, base } => {
            let s = if base {
                attached_space(model, s)
            } else {
                pick(s)
            };
            let bases = bases(model, s);
            let p = if base && !bases.is_empty() {
                bases[p % bases.len()]
            } else {
                p
            };
            let gone = pieces(model, s, p);
            let r = reg.shmdt(&mut spaces[s], va(page_addr(p)), CTX);
            if gone.is_empty() {
                assert_eq!(r, Err(LinuxError::EINVAL));
            } else {
                assert_eq!(r, Ok(()));
                gone.iter().for_each(|&q| model.spaces[s][q] = None);
            }
        }
        ShmOp::Split { s, i, unmap } => {
            let s = attached_space(model, s);
            let pages = segment_pages(model, s);
            let Some(&(q, _)) = pages.get(i % pages.len().max(1)) else {
                return;
            };
            let at = va(page_addr(q));
            if unmap {
                assert_eq!(spaces[s].munmap(at, P), Ok(()));
                model.spaces[s][q] = None;
            } else {
                assert_eq!(spaces[s].mprotect(at, P, R), Ok(()));
                model.spaces[s][q].as_mut().unwrap().perms = R;
            }
        }
        ShmOp::Rmid { seg } => {
            let n = model.segs.len();
            let Some(g) = model.segs.get_mut(seg % n.max(1)) else {
                return;
            };
            let r = reg.remove(g.id);
            if g.gone {
                assert_eq!(r, Err(LinuxError::EINVAL));
            } else {
                assert_eq!(r, Ok(()));
                g.removed = true;
            }
        }
    }
}

/// Forgets removed segments nothing maps any more, then checks every segment's
/// `IPC_STAT` against the model: gone ones are `EINVAL`, others have the right key,
/// `SHM_DEST` bit and whether they are attached.
pub(super) fn check_registry(reg: &Reg, model: &mut Model) {
    for i in 0..model.segs.len() {
        let attached = model.maps_object(model.segs[i].obj);
        let g = &mut model.segs[i];
        g.gone |= g.removed && !attached;
        if g.gone {
            assert_eq!(reg.stat(g.id), Err(LinuxError::EINVAL), "{g:?}");
            continue;
        }
        let ds = reg.stat(g.id).unwrap();
        let key = if g.removed {
            IPC_PRIVATE
        } else {
            ShmKey(g.key)
        };
        assert_eq!(ds.key, key, "{g:?}");
        assert_eq!(ds.mode & SHM_DEST != 0, g.removed, "{g:?}");
        assert_eq!(ds.nattch > 0, attached, "{g:?}: nattch {}", ds.nattch);
    }
    let listed = model.segs.iter().filter(|g| !g.gone).count();
    assert_eq!(reg.len(), listed);
}

/// Whether `mprotect` to `prot` over `pages` must fail with `EACCES`.
pub(super) fn write_denied(pages: &[Option<MPage>], prot: MappingFlags) -> bool {
    prot.contains(MappingFlags::WRITE) && pages.iter().flatten().any(|m| !m.may_write)
}
