//! Borrowed top-level slots are read-only for the borrower: every operation
//! that would change a mapping there fails with `Shared` and changes
//! nothing, in the borrower and in the lender (which may be active on a CPU,
//! or read by another thread meanwhile).

use std::alloc::{Layout, alloc, dealloc};
use std::string::String;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::riscv::{Rv64PTE, Sv39MetaData};
use crate::{OnPresent, PageSize, PagingError, PagingHandler};

const SHARED: Option<PagingError> = Some(PagingError::Shared);
const URW: MappingFlags = RW.union(MappingFlags::USER);

/// Upper-half base and the size of the shared range (the top four slots, so
/// the slot below them stays owned by the borrower).
fn layout<M: PagingMetaData>() -> (usize, usize, usize) {
    let top = 1usize << (12 + 9 * (M::LEVELS - 1));
    let size = 4 * top;
    (size.wrapping_neg(), size, top)
}

/// A lender with a 4K page, a 2M page and a reserved page in the range.
fn lender<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(base: usize) -> Pt<M, PTE> {
    let mut k = Pt::<M, PTE>::try_new().unwrap();
    k.map(va(base), pa(0x1000), PageSize::Size4K, RW)
        .unwrap()
        .ignore();
    k.map(va(base + M2), pa(M2), PageSize::Size2M, RX)
        .unwrap()
        .ignore();
    k.map(
        va(base + 4 * K4),
        pa(0x5000),
        PageSize::Size4K,
        MappingFlags::empty(),
    )
    .unwrap()
    .ignore();
    k
}

/// Everything observable about both tables: dumps, mappings, frames.
fn state<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    kernel: &Pt<M, PTE>,
    user: &Pt<M, PTE>,
) -> (String, String, Vec<Mapping<VirtAddr>>, usize) {
    (
        format!("{kernel:?}"),
        format!("{user:?}"),
        user.iter().collect(),
        CountingHandler::live_frames(),
    )
}

/// Tries every changing operation on `[base, base + size)` of `user` (whose
/// slots there are borrowed) and on ranges that only start or end there.
fn attempt_all<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>(
    user: &mut Pt<M, PTE>,
    base: usize,
    size: usize,
    top: usize,
) {
    let (v, p) = (va(base), pa(0x1000));
    // A user-writable alias of the lender's page, or a new page below its slot.
    assert_eq!(user.protect(v, URW).err(), SHARED);
    assert_eq!(
        user.remap(v, pa(0x9000), URW, OnPresent::Replace).err(),
        SHARED
    );
    assert_eq!(
        user.remap(va(base + 4 * K4), p, URW, OnPresent::Fail).err(),
        SHARED
    );
    assert_eq!(user.unmap(v).err(), SHARED);
    assert_eq!(user.unmap(va(base + M2)).err(), SHARED);
    let free = va(base + 8 * K4);
    assert_eq!(user.map(free, p, PageSize::Size4K, URW).err(), SHARED);
    assert_eq!(
        user.map(va(base + 4 * M2), pa(4 * M2), PageSize::Size2M, URW)
            .err(),
        SHARED
    );
    let any = |_: VirtAddr| pa(0x1000);
    assert_eq!(
        user.map_region(free, any, K4, URW, PageSize::Size4K).err(),
        SHARED
    );
    assert_eq!(user.unmap_region(v, size).err(), SHARED);
    let mut seen = 0;
    let r = user.unmap_region_with(v, K4, |_, _, _, _| seen += 1);
    assert_eq!((r.err(), seen), (SHARED, 0));
    assert_eq!(user.protect_region(v, size, URW).err(), SHARED);
    // Ranges that start in the owned slot below and reach into the shared ones.
    let below = base - top;
    let across = 2 * top;
    assert_eq!(
        user.map_region(va(below + top - K4), any, 2 * K4, URW, PageSize::Size4K)
            .err(),
        SHARED
    );
    assert_eq!(user.unmap_region(va(below), across).err(), SHARED);
    assert_eq!(user.protect_region(va(below), across, URW).err(), SHARED);
    // Fork copies out of and into shared slots.
    let mut other = Pt::<M, PTE>::try_new().unwrap();
    let f = |_, _, _, f| (f, f);
    assert_eq!(user.clone_range_into(&mut other, v, K4, f).err(), SHARED);
    assert_eq!(other.clone_range_into(user, v, K4, f).err(), SHARED);
    drop(other);
    // Bad input is still reported as such.
    assert_eq!(
        user.unmap(va(base + 1)).err(),
        Some(PagingError::NotAligned)
    );
}

fn borrower_cannot_change_lender<M: PagingMetaData<VirtAddr = VirtAddr>, PTE: GenericPTE>() {
    CountingHandler::reset();
    let (base, size, top) = layout::<M>();
    let kernel = lender::<M, PTE>(base);
    let mut user = Pt::<M, PTE>::try_new().unwrap();
    // SAFETY: `user` is dropped before `kernel`, which is not changed meanwhile.
    unsafe { user.copy_from(&kernel, va(base), size) }
        .unwrap()
        .ignore();
    let before = state(&kernel, &user);
    attempt_all(&mut user, base, size, top);
    assert_eq!(
        state(&kernel, &user),
        before,
        "a refused operation changed something"
    );
    // Reads go through, and the owned slot below still works.
    assert_eq!(user.query(va(base + 0x123)).unwrap().0, pa(0x1123));
    assert_eq!(user.iter_range(va(base), size).unwrap().count(), 3);
    let below = va(base - top);
    user.map(below, pa(0x7000), PageSize::Size4K, URW)
        .unwrap()
        .ignore();
    user.unmap_region(below, top).unwrap().1.ignore();
    // Sharing the slots anew is allowed (it only rewrites the borrower's root).
    // SAFETY: as above.
    unsafe { user.copy_from(&kernel, va(base), size) }
        .unwrap()
        .ignore();
    drop(user);
    check_tables(&kernel);
    drop(kernel);
    assert_eq!(CountingHandler::live_frames(), 0);
}

all_modes!(borrower_cannot_change_lender);

/// The kernel table as the HAL keeps it: built once, then `'static`.
static KERNEL: OnceLock<Sv39> = OnceLock::new();

#[test]
fn static_lender_is_frozen() {
    CountingHandler::reset();
    let (base, size, top) = layout::<Sv39MetaData>();
    let kernel: &'static Sv39 = KERNEL.get_or_init(|| lender(base));
    let mut user = Sv39::try_new().unwrap();
    user.share_from(kernel, va(base), size).unwrap().ignore();
    let before = state(kernel, &user);
    attempt_all(&mut user, base, size, top);
    // A second borrower cannot change what the first one sees either.
    let mut user2 = Sv39::try_new().unwrap();
    user2.share_from(kernel, va(base), size).unwrap().ignore();
    attempt_all(&mut user2, base, size, top);
    drop(user2);
    assert_eq!(state(kernel, &user), before);
    // The borrower frees only its own root.
    let frames = CountingHandler::live_frames();
    drop(user);
    assert_eq!(CountingHandler::live_frames(), frames - 1);
    assert_eq!(kernel.iter().count(), 3);
}

/// Frames from the global heap (usable from any thread, unlike the
/// per-thread `CountingHandler`); physical address = exposed pointer.
struct HeapFrames;

static HEAP_LIVE: AtomicUsize = AtomicUsize::new(0);

fn frame_layout() -> Layout {
    Layout::from_size_align(4096, 4096).expect("valid layout")
}

// SAFETY: each frame is a fresh 4K heap block owned by the caller until
// freed; `phys_to_virt` gives back the exposed pointer, valid on any thread.
unsafe impl PagingHandler for HeapFrames {
    fn alloc_frame() -> Option<PhysAddr> {
        // SAFETY: non-zero size.
        let p = unsafe { alloc(frame_layout()) };
        (!p.is_null()).then(|| {
            HEAP_LIVE.fetch_add(1, Ordering::Relaxed);
            PhysAddr::from_usize(p.expose_provenance())
        })
    }

    unsafe fn dealloc_frame(paddr: PhysAddr) {
        HEAP_LIVE.fetch_sub(1, Ordering::Relaxed);
        let p = std::ptr::with_exposed_provenance_mut::<u8>(paddr.as_usize());
        // SAFETY: allocated above with this layout (the caller's contract).
        unsafe { dealloc(p, frame_layout()) }
    }

    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        VirtAddr::from_mut_ptr_of(std::ptr::with_exposed_provenance_mut::<u8>(
            paddr.as_usize(),
        ))
    }
}

/// The borrower's operations race with nothing: while another thread walks
/// the lender (`PageTable64` is `Sync`), the borrower's attempts to unmap,
/// protect or prune the lender's tables fail without touching them. Miri
/// checks this run for data races and use after free.
#[test]
fn lender_read_on_another_thread() {
    type T = PageTable64<Sv39MetaData, Rv64PTE, HeapFrames>;
    let (base, size, _) = layout::<Sv39MetaData>();
    let mut kernel = T::try_new().unwrap();
    kernel
        .map_region(
            va(base),
            |v| pa(v.as_usize() - base + M2),
            8 * K4,
            RW,
            PageSize::Size4K,
        )
        .unwrap()
        .ignore();
    let before: Vec<_> = kernel.iter().collect();
    let mut user = T::try_new().unwrap();
    // SAFETY: `user` is dropped before `kernel`, which is only read meanwhile.
    unsafe { user.copy_from(&kernel, va(base), size) }
        .unwrap()
        .ignore();
    std::thread::scope(|s| {
        let reader = s.spawn(|| (0..3).map(|_| kernel.iter().count()).collect::<Vec<_>>());
        for _ in 0..3 {
            assert_eq!(user.unmap_region(va(base), size).err(), SHARED);
            assert_eq!(user.unmap(va(base + K4)).err(), SHARED);
            assert_eq!(user.protect_region(va(base), 8 * K4, URW).err(), SHARED);
        }
        assert_eq!(reader.join().unwrap(), [8, 8, 8]);
    });
    assert_eq!(kernel.iter().collect::<Vec<_>>(), before);
    drop(user);
    drop(kernel);
    assert_eq!(HEAP_LIVE.load(Ordering::Relaxed), 0);
}

/// The entry check refuses exactly the ranges that touch a shared slot,
/// also across the words of the bitmap.
#[test]
fn check_owned_is_exact() {
    CountingHandler::reset();
    let mut pt = X64::try_new().unwrap();
    let slot = 1usize << 39;
    for shared in [0, 63, 64, 127, 300, 511] {
        pt.shared = [0; 8];
        pt.shared[shared / 64] = 1 << (shared % 64);
        for first in [0, 62, 63, 64, 65, 126, 127, 128, 299, 300, 301, 510, 511] {
            for last in [first, first + 1, first + 64, 511] {
                let last = last.min(511);
                let got = pt.check_owned(first * slot, (last + 1) * slot - K4);
                let want = (first..=last).contains(&shared);
                assert_eq!(
                    got.is_err(),
                    want,
                    "shared {shared}, slots {first}..={last}"
                );
            }
        }
    }
    pt.shared = [0; 8];
}
