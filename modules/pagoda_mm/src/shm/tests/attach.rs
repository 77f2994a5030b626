//! shmat / shmdt / munmap / fork against real address spaces.

use page_table_entry::MappingFlags;

use super::*;
use crate::FaultError;
use crate::tests::read;

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);

#[test]
fn shared_across_spaces_and_attached_twice_in_one() {
    let mut s = setup();
    let mut t = Space::new(s.va_range()).unwrap();
    let reg = Reg::default();
    let id = seg(&reg, 2);
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    let b = reg.shmat(&mut s, id, None, 0, C).unwrap();
    let c = reg.shmat(&mut t, id, None, 0, C).unwrap();
    assert_ne!(a, b, "two attachments, two ranges");
    assert_eq!(reg.stat(id).unwrap().nattch, 3);
    s.write_bytes(a + P + 5, b"hello").unwrap();
    assert_eq!(read(&mut s, b.as_usize() + P + 5, 5), b"hello");
    assert_eq!(read(&mut t, c.as_usize() + P + 5, 5), b"hello");
    // Same frames behind all three, no copy-on-write bit anywhere.
    let f = frames_at(&mut s, a.as_usize(), 2);
    assert_eq!(frames_at(&mut s, b.as_usize(), 2), f);
    assert_eq!(frames_at(&mut t, c.as_usize(), 2), f);
    assert!(!pte(&s, a.as_usize()).unwrap().1.contains(MappingFlags::COW));
    drop(t);
    assert_eq!(reg.stat(id).unwrap().nattch, 2, "dropping a space detaches");
}

#[test]
fn given_addresses_shm_rnd_and_alignment() {
    let mut s = setup();
    let reg = Reg::default();
    let id = seg(&reg, 1);
    let unaligned = va(0x50_0123);
    assert_eq!(
        reg.shmat(&mut s, id, Some(unaligned), 0, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmat(&mut s, id, Some(unaligned), SHM_RND, C),
        Ok(va(0x50_0000))
    );
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(0x60_0000)), 0, C),
        Ok(va(0x60_0000))
    );
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(0x123)), SHM_RND, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(crate::tests::USER_END)), 0, C),
        Err(LinuxError::EINVAL)
    );
    // Overlap: EINVAL, unless SHM_REMAP replaces what is there.
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(0x50_0000)), 0, C),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        reg.shmat(&mut s, id, None, SHM_REMAP, C),
        Err(LinuxError::EINVAL)
    );
    s.map_alloc(va(0x70_0000), P, RW | MappingFlags::USER, Populate::Eager)
        .unwrap();
    assert_eq!(
        reg.shmat(&mut s, id, Some(va(0x70_0000)), SHM_REMAP, C),
        Ok(va(0x70_0000))
    );
    assert_eq!(reg.stat(id).unwrap().nattch, 3);
    assert!(
        s.find_area(va(0x70_0000))
            .unwrap()
            .backend()
            .shm_attachment()
            .is_some()
    );
}

#[test]
fn rdonly_attachment_refuses_writes() {
    let mut s = setup();
    let reg = Reg::default();
    let id = seg(&reg, 1);
    let rw = reg.shmat(&mut s, id, None, 0, C).unwrap();
    let ro = reg.shmat(&mut s, id, None, SHM_RDONLY, C).unwrap();
    s.write_bytes(rw, b"data").unwrap();
    assert_eq!(read(&mut s, ro.as_usize(), 4), b"data");
    let user_write = MappingFlags::WRITE | MappingFlags::USER;
    assert_eq!(s.handle_page_fault(ro, user_write), Err(FaultError::Segv));
    assert_eq!(s.write_bytes(ro, b"x"), Err(LinuxError::EFAULT));
    let (_, flags, _) = pte(&s, ro.as_usize()).unwrap();
    assert!(flags.contains(MappingFlags::READ) && !flags.contains(MappingFlags::WRITE));
    assert!(!flags.contains(MappingFlags::EXECUTE));
    let x = reg
        .shmat(&mut s, id, None, SHM_EXEC | SHM_RDONLY, C)
        .unwrap();
    touch(&mut s, x.as_usize(), 1);
    assert!(
        pte(&s, x.as_usize())
            .unwrap()
            .1
            .contains(MappingFlags::EXECUTE)
    );
    assert_eq!(
        read(&mut s, rw.as_usize(), 4),
        b"data",
        "the failed write changed nothing"
    );
}

#[test]
fn fork_inherits_attachments() {
    let mut parent = setup();
    let reg = Reg::default();
    let id = seg(&reg, 2);
    let a = reg.shmat(&mut parent, id, None, 0, ctx(1, 10)).unwrap();
    let b = reg
        .shmat(&mut parent, id, None, SHM_RDONLY, ctx(1, 10))
        .unwrap();
    let frames = frames_at(&mut parent, a.as_usize(), 2);
    let mut child = parent.fork().unwrap();
    assert_eq!(
        reg.stat(id).unwrap().nattch,
        4,
        "the child's two attachments count"
    );
    reg.forked(&child, ctx(2, 20));
    let ds = reg.stat(id).unwrap();
    assert_eq!((ds.atime, ds.lpid), (20, 2));
    // Shared, not copy-on-write: the child's write is the parent's.
    child.write_bytes(a + 8, b"child").unwrap();
    assert_eq!(read(&mut parent, b.as_usize() + 8, 5), b"child");
    assert_eq!(frames_at(&mut child, a.as_usize(), 2), frames);
    assert_eq!(
        child.write_bytes(b, b"x"),
        Err(LinuxError::EFAULT),
        "RDONLY is inherited"
    );
    reg.shmdt(&mut child, a, ctx(2, 30)).unwrap();
    assert_eq!(reg.stat(id).unwrap().nattch, 3);
    reg.remove(id).unwrap();
    reg.exit(parent, ctx(1, 40));
    let ds = reg.stat(id).unwrap();
    assert_eq!((ds.nattch, ds.dtime, ds.lpid), (1, 40, 1));
    assert!(all_live(&frames));
    reg.exit(child, ctx(2, 50));
    assert!(none_live(&frames), "freed with the last attachment");
    assert_eq!(reg.stat(id), Err(LinuxError::EINVAL));
    assert_no_leak();
}

#[test]
fn munmap_counts_as_detach() {
    let (mut s, reg, id, a) = attached(4);
    reg.munmap(&mut s, a, 4 * P, ctx(3, 33)).unwrap();
    let ds = reg.stat(id).unwrap();
    assert_eq!((ds.nattch, ds.dtime, ds.lpid), (0, 33, 3));
    assert_eq!(
        reg.shmdt(&mut s, a, C),
        Err(LinuxError::EINVAL),
        "already gone"
    );
    // A hole in the middle leaves two pieces, each counted (as Linux counts VMAs) ...
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    s.munmap(a + P, P).unwrap();
    assert_eq!(reg.stat(id).unwrap().nattch, 2);
    assert_eq!(
        reg.shmdt(&mut s, a + 2 * P, C),
        Err(LinuxError::EINVAL),
        "not a head"
    );
    // ... and shmdt at the attach address removes both.
    reg.shmdt(&mut s, a, C).unwrap();
    assert_eq!(reg.stat(id).unwrap().nattch, 0);
    assert!(s.find_area(a + 3 * P).is_none());
    // Another segment attached inside the hole is not part of the first attachment.
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    s.munmap(a + P, 2 * P).unwrap();
    let other = seg(&reg, 1);
    assert_eq!(reg.shmat(&mut s, other, Some(a + P), 0, C), Ok(a + P));
    reg.shmdt(&mut s, a, C).unwrap();
    assert_eq!(reg.stat(id).unwrap().nattch, 0);
    assert_eq!(reg.stat(other).unwrap().nattch, 1, "the neighbour stays");
    reg.shmdt(&mut s, a + P, C).unwrap();
    // mprotect splits too; every piece still belongs to the attachment.
    let a = reg.shmat(&mut s, id, None, 0, C).unwrap();
    s.mprotect(a + P, P, MappingFlags::READ).unwrap();
    detach_pieces(&reg, &mut s, id, a, 3);
}

#[test]
fn shmdt_of_a_bad_address_is_einval() {
    let (mut s, reg, id, a) = attached(2);
    s.map_alloc(va(0x10_0000), P, RW | MappingFlags::USER, Populate::Lazy)
        .unwrap();
    for bad in [va(0x10_0000), va(0x20_0000), a + 1, a + P] {
        assert_eq!(
            reg.shmdt(&mut s, bad, C),
            Err(LinuxError::EINVAL),
            "{bad:?}"
        );
    }
    assert_eq!(reg.stat(id).unwrap().nattch, 1, "nothing was detached");
    // A segment's frames survive its attachments while the registry holds it.
    let frames = frames_at(&mut s, a.as_usize(), 2);
    reg.shmdt(&mut s, a, C).unwrap();
    assert!(all_live(&frames));
    let again = reg.shmat(&mut s, id, None, 0, C).unwrap();
    assert_eq!(frames_at(&mut s, again.as_usize(), 2), frames);
}
