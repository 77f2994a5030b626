//! Placement of `shmat(NULL)`, and `shmdt` of pieces, moved and grown attachments.

use page_table_entry::MappingFlags;

use super::*;
use crate::tests::{URW, USER_END, USER_START, read};
use crate::{FaultError, MremapFlags};

const R: MappingFlags = MappingFlags::READ;
const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const ANON: MmapFlags = MmapFlags::PRIVATE.union(MmapFlags::ANONYMOUS);

#[test]
fn shmat_without_address_goes_below_the_mmap_top_like_mmap() {
    let mut s = setup();
    // A stack at the very end of the space and the mmap top below it, as after exec.
    s.map_alloc(va(USER_END - 16 * P), 16 * P, URW, Populate::Lazy)
        .unwrap();
    let top = 0x20_0000_0000;
    s.set_mmap_top(va(top));
    let reg = Reg::default();
    let id = seg(&reg, 3);
    assert_eq!(s.find_free_area(va(0), 3 * P), Some(va(top - 3 * P)));
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    assert_eq!(a, va(top - 3 * P), "not under the mmap top");
    // Attachments and mmaps share one top-down layout.
    assert_eq!(reg.shmat(&mut s, id, None, 0, C), Ok(va(top - 6 * P)));
    assert_eq!(s.mmap(va(0), P, RW, ANON, None, 0), Ok(va(top - 7 * P)));
    // The highest hole that fits is reused.
    reg.shmdt(&mut s, a, C).unwrap();
    assert_eq!(reg.shmat(&mut s, id, None, 0, C), Ok(a));
    // No room below the top: ENOMEM, nothing attached.
    s.set_mmap_top(va(USER_START + 2 * P));
    assert_eq!(reg.shmat(&mut s, id, None, 0, C), Err(LinuxError::ENOMEM));
    assert_eq!(reg.stat(id).unwrap().nattch, 2);
}

#[test]
fn shmdt_finds_an_attachment_moved_by_mremap() {
    let (mut s, reg, id, a) = attached(2);
    s.write_bytes(a + P, b"moved").unwrap();
    let new = va(0x30_0000);
    let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
    assert_eq!(s.mremap(a, 2 * P, 2 * P, fixed, new), Ok(new));
    assert_eq!(
        reg.stat(id).unwrap().nattch,
        1,
        "a move is no new attachment"
    );
    let att = s.find_area(new).unwrap().backend().shm_attachment();
    assert_eq!(att.map(ShmAttachment::base), Some(new));
    assert_eq!(read(&mut s, 0x30_0000 + P, 5), b"moved");
    assert_eq!(
        reg.shmdt(&mut s, a, C),
        Err(LinuxError::EINVAL),
        "nothing is left at the old address"
    );
    reg.shmdt(&mut s, new, ctx(4, 44)).unwrap();
    let ds = reg.stat(id).unwrap();
    assert_eq!((ds.nattch, ds.dtime, ds.lpid), (0, 44, 4));
    assert_eq!(s.areas().count(), 0);

    // Only the last page moves: it belongs to the attachment that would start 2 pages
    // below it, and shmdt at the original address leaves it alone.
    let id3 = seg(&reg, 3);
    let a = reg.shmat(&mut s, id3, None, 0, C).unwrap();
    let x = va(0x40_0000);
    assert_eq!(s.mremap(a + 2 * P, P, P, fixed, x), Ok(x));
    reg.shmdt(&mut s, a, C).unwrap();
    assert_eq!(reg.stat(id3).unwrap().nattch, 1);
    assert_eq!(
        reg.shmdt(&mut s, x, C),
        Err(LinuxError::EINVAL),
        "not where the segment starts"
    );
    reg.shmdt(&mut s, x - 2 * P, C).unwrap();
    assert_eq!(reg.stat(id3).unwrap().nattch, 0);
    drop(s);
    drop(reg);
    assert_no_leak();
}

#[test]
fn mremap_growing_an_attachment_never_grows_the_segment() {
    let mut s = setup();
    let reg = Reg::default();
    let id = seg(&reg, 1);
    let a = reg.shmat(&mut s, id, Some(va(0x50_0000)), 0, C).unwrap();
    let live = CountingHandler::live_frames();
    assert_eq!(s.mremap(a, P, 3 * P, MremapFlags::empty(), va(0)), Ok(a));
    // Past the segment: bus errors, no frame, the segment keeps its size.
    assert_eq!(
        s.handle_page_fault(a + P, MappingFlags::READ),
        Err(FaultError::Bus)
    );
    assert_eq!(s.write_bytes(a + 2 * P, b"x"), Err(LinuxError::EFAULT));
    assert_eq!(CountingHandler::live_frames(), live);
    assert_eq!(reg.stat(id).unwrap().size, P);
    // Moving while growing: the same, and shmdt at the new place takes the whole area.
    s.map_alloc(a + 3 * P, P, URW, Populate::Lazy).unwrap();
    let m = s
        .mremap(a, 3 * P, 5 * P, MremapFlags::MAYMOVE, va(0))
        .unwrap();
    assert_ne!(m, a);
    assert_eq!(
        s.handle_page_fault(m + 4 * P, MappingFlags::WRITE),
        Err(FaultError::Bus)
    );
    reg.shmdt(&mut s, m, C).unwrap();
    assert!(s.find_area(m + 4 * P).is_none());
    assert_eq!(reg.stat(id).unwrap().nattch, 0);
}

#[test]
fn shmdt_detaches_the_rest_after_the_first_page_was_unmapped() {
    let (mut s, reg, id, a) = attached(3);
    s.munmap(a, P).unwrap();
    s.mprotect(a + 2 * P, P, R).unwrap();
    // As on Linux: the pieces still sit at their offsets from the attach address.
    detach_pieces(&reg, &mut s, id, a, 2);
}

#[test]
fn mprotect_cannot_make_a_shm_rdonly_attachment_writable() {
    let (mut s, reg, id, rw) = attached(1);
    let below = va(0x50_0000);
    s.map_alloc(below, P, R | MappingFlags::USER, Populate::Lazy)
        .unwrap();
    let ro = reg
        .shmat(&mut s, id, Some(below + P), SHM_RDONLY, C)
        .unwrap();
    s.write_bytes(rw, b"seg").unwrap();
    for prot in [RW, MappingFlags::WRITE] {
        assert_eq!(s.mprotect(ro, P, prot), Err(LinuxError::EACCES));
    }
    // A range mixing an ordinary area and the attachment changes nothing.
    assert_eq!(s.mprotect(below, 2 * P, RW), Err(LinuxError::EACCES));
    assert_eq!(s.find_area(below).unwrap().flags(), R | MappingFlags::USER);
    assert_eq!(s.write_bytes(ro, b"x"), Err(LinuxError::EFAULT));
    // Less access is fine, and so is any access on a writable attachment.
    s.mprotect(ro, P, MappingFlags::empty()).unwrap();
    s.mprotect(ro, P, R | MappingFlags::EXECUTE).unwrap();
    s.mprotect(rw, P, R).unwrap();
    s.mprotect(rw, P, RW).unwrap();
    // A fork inherits the restriction.
    let mut child = s.fork().unwrap();
    assert_eq!(child.mprotect(ro, P, RW), Err(LinuxError::EACCES));
    assert_eq!(read(&mut child, ro.as_usize(), 3), b"seg");
}
