//! The reference model: per space and page, the permissions and where the bytes live; and
//! the check that a real space agrees with it.

use alloc::vec;
use alloc::vec::Vec;

use page_table_entry::MappingFlags;

use super::shm::Seg;
use super::{HEAP, P, WINDOW, page_addr};
use crate::perm::{Cow, entry_flags};
use crate::tests::{Space, pte, va};
use crate::{FaultError, FaultOutcome};
use memory_addr::VirtAddr;

/// Where a page's bytes live in the model.
#[derive(Debug, Clone)]
pub(super) enum Src {
    /// A private page: its own bytes once written, else zeros (anonymous) or the file's
    /// current contents (file page `idx`).
    Private {
        file: Option<(usize, usize)>,
        data: Option<Vec<u8>>,
    },
    /// Shared file page.
    File(usize, usize),
    /// Page `i` of shared object `o` (`MAP_SHARED | MAP_ANONYMOUS` or a System V segment).
    Shm(usize, usize),
}

#[derive(Debug, Clone)]
pub(super) struct MPage {
    pub(super) perms: MappingFlags,
    pub(super) src: Src,
    /// `false` in a `SHM_RDONLY` attachment: `mprotect` cannot add `WRITE`.
    pub(super) may_write: bool,
    /// Written by this space since the last `clear_refs` (then it must read soft-dirty).
    pub(super) written: bool,
}

impl MPage {
    pub(super) fn new(perms: MappingFlags, src: Src) -> Self {
        Self {
            perms,
            src,
            may_write: true,
            written: false,
        }
    }

    pub(super) fn zero(perms: MappingFlags) -> Self {
        let src = Src::Private {
            file: None,
            data: None,
        };
        Self::new(perms, src)
    }
}

pub(super) struct Model {
    pub(super) spaces: Vec<Vec<Option<MPage>>>,
    pub(super) brk: Vec<usize>,
    pub(super) files: Vec<Vec<u8>>,
    /// Contents of the shared objects, anonymous ones and segments alike.
    pub(super) shm: Vec<Vec<u8>>,
    /// Every System V segment created so far.
    pub(super) segs: Vec<Seg>,
}

impl Model {
    fn file_page(&self, f: usize, idx: usize) -> Option<&[u8]> {
        self.files[f].get(idx * P..(idx + 1) * P)
    }

    /// The bytes of a page, or `None` past EOF (bus error).
    pub(super) fn bytes(&self, page: &MPage) -> Option<Vec<u8>> {
        Some(match &page.src {
            Src::Private { data: Some(d), .. } => d.clone(),
            Src::Private { file: None, .. } => vec![0; P],
            Src::Private {
                file: Some((f, i)), ..
            }
            | Src::File(f, i) => self.file_page(*f, *i)?.to_vec(),
            Src::Shm(o, i) => self.shm[*o][i * P..(i + 1) * P].to_vec(),
        })
    }

    /// Applies a write of the whole page contents `new`.
    pub(super) fn store(&mut self, s: usize, p: usize, new: Vec<u8>) {
        let page = self.spaces[s][p].as_mut().unwrap();
        match &mut page.src {
            Src::Private { data, .. } => *data = Some(new),
            Src::File(f, i) => self.files[*f][*i * P..(*i + 1) * P].copy_from_slice(&new),
            Src::Shm(o, i) => self.shm[*o][*i * P..(*i + 1) * P].copy_from_slice(&new),
        }
    }

    /// Whether some page of some space maps shared object `obj`.
    pub(super) fn maps_object(&self, obj: usize) -> bool {
        self.spaces
            .iter()
            .flatten()
            .flatten()
            .any(|m| matches!(m.src, Src::Shm(o, _) if o == obj))
    }
}

pub(super) fn readable(perms: MappingFlags) -> bool {
    perms.intersects(MappingFlags::READ | MappingFlags::WRITE)
}

/// Checks that `s` agrees with the model: areas and permissions of every page, page-table
/// entries never more permissive than the model, resident frames hold the model's bytes.
pub(super) fn check(real: &Space, model: &Model, s: usize) {
    for p in 0..WINDOW + HEAP {
        let addr = page_addr(p);
        let want = &model.spaces[s][p];
        let area = real.find_area(va(addr));
        assert_eq!(
            area.is_some(),
            want.is_some(),
            "space {s} page {p}: mapped?"
        );
        let Some(want) = want else {
            assert!(pte(real, addr).is_none(), "space {s} page {p}: stale entry");
            continue;
        };
        let area = area.unwrap();
        assert_eq!(
            area.flags() & MappingFlags::ACCESS,
            want.perms,
            "space {s} page {p}: perms"
        );
        assert!(
            !want.written || real.soft_dirty(va(addr)),
            "space {s} page {p}: written but not soft-dirty {want:?} {:?}",
            real.areas()
                .map(|a| (a.start(), a.end()))
                .collect::<Vec<_>>()
        );
        if let Some((_, flags, _)) = pte(real, addr) {
            // Writable only once written (else a write would escape soft-dirty tracking).
            assert!(
                !flags.contains(MappingFlags::WRITE) || real.page_written(va(addr)),
                "space {s} page {p}: writable entry of a clean page"
            );
            let granted = flags & MappingFlags::ACCESS;
            assert!(
                want.perms.union(MappingFlags::READ).contains(granted),
                "space {s} page {p}: pte {flags:?} > {:?}",
                want.perms
            );
            // And never less than the area allows (a writable page is readable), except
            // `WRITE` while copy-on-write: else an allowed access faults forever.
            let need = entry_flags(want.perms, Cow::Shared) & MappingFlags::ACCESS;
            assert!(
                granted.contains(need),
                "space {s} page {p}: pte {flags:?} < {:?}",
                want.perms
            );
            let private = matches!(want.src, Src::Private { .. });
            if flags.contains(MappingFlags::WRITE) && private {
                assert_eq!(
                    real.frame_is_exclusive(va(addr)),
                    Some(true),
                    "space {s} page {p}: writable shared private frame"
                );
            }
            assert!(
                private || !flags.contains(MappingFlags::COW),
                "space {s} page {p}: shared page marked COW"
            );
        }
        if let Some(frame) = real.frame_at(va(addr)) {
            let mut got = vec![0u8; P];
            frame.read_at(0, &mut got).unwrap();
            assert_eq!(Some(got), model.bytes(want), "space {s} page {p}: contents");
        }
    }
}

pub(super) fn fault_of(
    model: &Model,
    page: &Option<MPage>,
    access: MappingFlags,
) -> Result<(), FaultError> {
    let page = page.as_ref().ok_or(FaultError::Segv)?;
    let ok = match access {
        MappingFlags::READ => readable(page.perms),
        a => page.perms.contains(a),
    };
    if !ok {
        return Err(FaultError::Segv);
    }
    model.bytes(page).map(|_| ()).ok_or(FaultError::Bus)
}

/// What a space showed at a page before a fault: its frame, whether the frame was the
/// space's alone, and its page-table flags.
pub(super) struct Before {
    frame: Option<usize>,
    exclusive: Option<bool>,
    pte: Option<MappingFlags>,
}

impl Before {
    pub(super) fn observe(real: &Space, at: VirtAddr) -> Self {
        Self {
            frame: real.frame_at(at).map(|f| f.start_paddr().as_usize()),
            exclusive: real.frame_is_exclusive(at),
            pte: pte(real, at.as_usize()).map(|(_, f, _)| f),
        }
    }

    /// Checks a fault's outcome against this state and the state after it.
    pub(super) fn check(
        &self,
        real: &Space,
        at: VirtAddr,
        access: MappingFlags,
        page: &MPage,
        outcome: FaultOutcome,
    ) {
        let cow = access.contains(MappingFlags::WRITE) && matches!(page.src, Src::Private { .. });
        let want = match self.frame {
            None => FaultOutcome::Filled,
            Some(_) if cow && self.pte.is_some_and(|f| f.contains(MappingFlags::WRITE)) => {
                FaultOutcome::Spurious
            }
            Some(_) if cow && self.exclusive == Some(true) => FaultOutcome::Reused,
            Some(_) if cow => FaultOutcome::CopiedOnWrite,
            // A shared page is mapped writable on its first write (the page cache's dirty
            // tracking, soft-dirty tracking after mprotect or clear_refs).
            Some(_)
                if access.contains(MappingFlags::WRITE)
                    && matches!(page.src, Src::File(..) | Src::Shm(..))
                    && self.pte.is_some_and(|f| !f.contains(MappingFlags::WRITE)) =>
            {
                FaultOutcome::Reused
            }
            Some(_) => FaultOutcome::Spurious,
        };
        assert_eq!(outcome, want, "fault at {at:?} for {access:?}");
        let after = Self::observe(real, at);
        assert!(after.frame.is_some(), "no frame after {outcome:?}");
        match outcome {
            FaultOutcome::CopiedOnWrite => assert_ne!(after.frame, self.frame),
            FaultOutcome::Filled => {}
            FaultOutcome::Reused | FaultOutcome::Spurious => assert_eq!(after.frame, self.frame),
        }
        if cow {
            assert_eq!(after.exclusive, Some(true), "written page still shared");
        }
    }
}
