//! One regression test per file-layer bug found by the differential test against Linux
//! (each fails on the code before the page-cache rework), plus the write-back contract.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use axerrno::LinuxResult;
use memory_addr::PAGE_SIZE_4K;
use page_table_entry::MappingFlags;

use super::*;
use crate::{FaultError, File, LinuxError, MemFile, MmapFlags, MsyncFlags};

const P: usize = PAGE_SIZE_4K;

fn file_of(len: usize) -> Arc<MemFile> {
    Arc::new(MemFile::new(
        (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
    ))
}

fn map(s: &mut Space, f: &Arc<MemFile>, len: usize, prot: MappingFlags, flags: MmapFlags) -> usize {
    let file: Arc<dyn File> = f.clone();
    s.mmap(va(0), len, prot, flags, Some(file), 0)
        .unwrap()
        .as_usize()
}

/// Bug 1: a `pwrite` must show in every mapping at once and never be overwritten by the
/// write-back of a stale page, not even from a read-only shared mapping.
#[test]
fn pwrite_shows_in_mappings_and_is_never_lost() {
    let mut s = setup();
    let mut t = Space::new(s.va_range()).unwrap();
    let f = file_of(2 * P);
    let ro = map(&mut s, &f, 2 * P, R, MmapFlags::SHARED);
    let rw = map(&mut t, &f, 2 * P, RW, MmapFlags::SHARED);
    let pv = map(&mut t, &f, 2 * P, R, MmapFlags::PRIVATE);
    // Every mapping holds page 0 (and page 1) before the write.
    assert_eq!(read(&mut s, ro, 2), [0, 1]);
    assert_eq!(read(&mut s, ro + P, 1), [(P % 251) as u8]);
    assert_eq!(read(&mut t, rw, 2), [0, 1]);
    assert_eq!(read(&mut t, pv, 2), [0, 1]);
    assert_eq!(f.write_at(0, b"NEW").unwrap(), 3);
    assert_eq!(
        read(&mut s, ro, 3),
        b"NEW",
        "read-only shared mapping is stale"
    );
    assert_eq!(read(&mut t, rw, 3), b"NEW", "shared mapping is stale");
    assert_eq!(
        read(&mut t, pv, 3),
        b"NEW",
        "unwritten private page is stale"
    );
    s.msync(va(ro), 2 * P, MsyncFlags::SYNC).unwrap();
    assert_eq!(
        &f.contents()[..3],
        b"NEW",
        "msync of a read-only mapping lost it"
    );
    s.munmap(va(ro), P).unwrap();
    drop(s);
    assert_eq!(&f.contents()[..3], b"NEW", "unmap/teardown lost it");
    t.msync(va(rw), 2 * P, MsyncFlags::SYNC).unwrap();
    drop(t);
    assert_eq!(&f.contents()[..3], b"NEW");
    assert_eq!(f.contents()[3..], file_of(2 * P).contents()[3..]);
    drop(f);
    assert_no_leak();
}

/// Bug 2: `pread` sees stores made through a shared mapping at once.
#[test]
fn pread_sees_mapped_stores_at_once() {
    let mut s = setup();
    let f = file_of(P + 10);
    let a = map(&mut s, &f, 2 * P, RW, MmapFlags::SHARED);
    s.write_bytes(va(a + P + 2), b"xyz").unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(f.read_at(P as u64 + 2, &mut buf).unwrap(), 3);
    assert_eq!(&buf, b"xyz", "pread missed a mapped store");
    // Past EOF a read returns what is before it.
    let mut buf = [0u8; 16];
    assert_eq!(f.read_at(P as u64 + 2, &mut buf).unwrap(), 8);
    drop(s);
    assert_eq!(&f.contents()[P + 2..P + 5], b"xyz");
    drop(f);
    assert_no_leak();
}

/// Bug 3: shrinking a file reaches every mapping: pages past the new end are gone (bus
/// error), private copies included, in every space and fork, and the tail of the new last
/// page reads zero.
#[test]
fn truncate_zaps_every_mapping_and_zeroes_the_tail() {
    let mut a = setup();
    let mut b = Space::new(a.va_range()).unwrap();
    let f = file_of(3 * P);
    let sh = map(&mut a, &f, 3 * P, RW, MmapFlags::SHARED);
    let pv = map(&mut b, &f, 3 * P, RW, MmapFlags::PRIVATE);
    for p in 0..3 {
        read(&mut a, sh + p * P, 1);
    }
    b.write_bytes(va(pv + 2 * P), b"cow2").unwrap(); // a private copy of page 2
    b.write_bytes(va(pv + P + 200), b"cow1").unwrap(); // and of page 1
    let mut c = b.fork().unwrap();
    f.set_len(P + 100);
    assert_eq!(f.contents().len(), P + 100);
    // The shared mapping: the tail of page 1 is zero, page 2 is gone.
    assert_eq!(read(&mut a, sh + P + 99, 2), [((P + 99) % 251) as u8, 0]);
    assert_eq!(
        a.read_bytes(va(sh + 2 * P), &mut [0]),
        Err(LinuxError::EFAULT)
    );
    assert_eq!(
        a.handle_page_fault(va(sh + 2 * P), MappingFlags::READ),
        Err(FaultError::Bus)
    );
    for s in [&mut b, &mut c] {
        // Private copies past the end are gone too; the copy of the last page stays.
        assert_eq!(
            s.read_bytes(va(pv + 2 * P), &mut [0]),
            Err(LinuxError::EFAULT)
        );
        assert_eq!(read(s, pv + P + 200, 4), b"cow1");
        assert_eq!(read(s, pv + 5, 1), [5]);
    }
    assert!(b.frame_at(va(pv + 2 * P)).is_none(), "private copy kept");
    // A new mapping faults nothing in past the end either.
    let mut d = Space::new(a.va_range()).unwrap();
    let late = map(&mut d, &f, 3 * P, R, MmapFlags::SHARED);
    assert_eq!(
        d.handle_page_fault(va(late + 2 * P), MappingFlags::READ),
        Err(FaultError::Bus)
    );
    // Growing again shows zeros, not the old data.
    f.set_len(3 * P);
    assert_eq!(read(&mut a, sh + 2 * P, 4), [0; 4]);
    assert_eq!(read(&mut c, pv + 2 * P, 4), [0; 4]);
    drop((a, b, c, d));
    assert_eq!(f.contents()[P + 100..], vec![0u8; 2 * P - 100][..]);
    drop(f);
    assert_no_leak();
}

/// Bug 4: `MAP_POPULATE` of a writable private file mapping breaks copy-on-write at once
/// (as Linux's write-fault populate does): later changes to the file do not show.
#[test]
fn populate_of_writable_private_mapping_copies_at_once() {
    let mut s = setup();
    let mut t = Space::new(s.va_range()).unwrap();
    let f = file_of(2 * P);
    let pv = map(
        &mut s,
        &f,
        2 * P,
        RW,
        MmapFlags::PRIVATE | MmapFlags::POPULATE,
    );
    let sh = map(&mut t, &f, 2 * P, RW, MmapFlags::SHARED);
    t.write_bytes(va(sh), b"later").unwrap();
    assert_eq!(
        read(&mut s, pv, 5),
        [0, 1, 2, 3, 4],
        "populated page shows file changes"
    );
    // A read-only private populate still shares the page cache (no copy needed).
    let ro = map(
        &mut s,
        &f,
        2 * P,
        R,
        MmapFlags::PRIVATE | MmapFlags::POPULATE,
    );
    assert_eq!(read(&mut s, ro, 5), b"later");
    drop((s, t));
    drop(f);
    assert_no_leak();
}

/// Bug 5: a file offset past 2^63 - 1 is `EOVERFLOW`, and nothing is mapped.
#[test]
fn mmap_offset_past_max_file_size_is_eoverflow() {
    let mut s = setup();
    let f = file_of(P);
    let file: Arc<dyn File> = f.clone();
    for off in [1u64 << 63, u64::MAX - (P as u64 - 1), (1 << 63) - P as u64] {
        assert_eq!(
            s.mmap(va(0), P, R, MmapFlags::SHARED, Some(file.clone()), off),
            Err(LinuxError::EOVERFLOW),
            "offset {off:#x}"
        );
    }
    // The last mappable page (Linux: offset + len <= 2^63 - 4096).
    assert!(
        s.mmap(
            va(0),
            P,
            R,
            MmapFlags::SHARED,
            Some(file),
            (1 << 63) - 2 * P as u64
        )
        .is_ok()
    );
    assert_eq!(s.areas().count(), 1);
}

/// A backing store that counts the pages written to it.
struct Counting {
    mem: MemFile,
    writes: AtomicUsize,
}

impl crate::FileBacking for Counting {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        self.mem.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.mem.write_at(offset, data)
    }
    fn size(&self) -> u64 {
        self.mem.size()
    }
    fn set_len(&self, len: u64) -> LinuxResult {
        self.mem.cached().set_len(len)
    }
}

/// Write-back writes only dirty pages: never pages that were only read, or mapped only
/// read-only; a page stored into through a mapping is written once it is let go.
#[test]
fn write_back_writes_only_dirty_pages() {
    let mut s = setup();
    let backing = Arc::new(Counting {
        mem: MemFile::new(vec![7u8; 4 * P]),
        writes: AtomicUsize::new(0),
    });
    struct Shared(Arc<Counting>);
    impl crate::FileBacking for Shared {
        fn read_at(&self, o: u64, b: &mut [u8]) -> LinuxResult<usize> {
            self.0.read_at(o, b)
        }
        fn write_at(&self, o: u64, d: &[u8]) -> LinuxResult<usize> {
            self.0.write_at(o, d)
        }
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn set_len(&self, l: u64) -> LinuxResult {
            self.0.set_len(l)
        }
    }
    let file = Arc::new(crate::CachedFile::new(Shared(backing.clone())));
    let dynf: Arc<dyn File> = file.clone();
    let rw = s
        .mmap(va(0), 4 * P, RW, MmapFlags::SHARED, Some(dynf.clone()), 0)
        .unwrap()
        .as_usize();
    let ro = s
        .mmap(va(0), 4 * P, R, MmapFlags::SHARED, Some(dynf), 0)
        .unwrap()
        .as_usize();
    let writes = || backing.writes.load(Ordering::Relaxed);
    for p in 0..4 {
        read(&mut s, rw + p * P, 1);
        read(&mut s, ro + p * P, 1);
    }
    let (_, flags, _) = pte(&s, rw).unwrap();
    assert!(
        !flags.contains(MappingFlags::WRITE),
        "read fault mapped it writable"
    );
    s.msync(va(rw), 4 * P, MsyncFlags::SYNC).unwrap();
    s.munmap(va(ro), 4 * P).unwrap();
    assert_eq!(writes(), 0, "clean pages written back");
    assert_eq!(file.cache_stats(), (4, 0));
    s.write_bytes(va(rw + P), b"dirty").unwrap();
    assert_eq!(file.cache_stats(), (4, 1));
    s.msync(va(rw), 4 * P, MsyncFlags::SYNC).unwrap();
    assert_eq!(writes(), 1, "msync wrote more than the dirty page");
    assert_eq!(&backing.mem.stored()[P..P + 5], b"dirty");
    // A store through the (now writable) entry is caught at teardown.
    let mut cpu = crate::testing::Cpu::new();
    cpu.write(&mut s, va(rw + 3 * P), b"cpu").unwrap();
    drop(cpu);
    drop(s);
    assert_eq!(&backing.mem.stored()[3 * P..3 * P + 3], b"cpu");
    assert_eq!(file.cache_stats(), (0, 0), "cache kept unmapped pages");
    // Only page 3: the kernel's store left page 1 clean after its msync, pages 0 and 2
    // were never written.
    assert_eq!(writes(), 2, "teardown wrote clean pages");
    drop((file, backing));
    assert_no_leak();
}

/// The `mmap` checks of a file come in Linux's order (checked on x86-64 Linux with a C
/// program): offset alignment, fd, length, placement, range, mapping type, access mode.
#[test]
fn mmap_file_checks_follow_linux_order() {
    use crate::{AccessMode, OpenFile};
    let mut s = setup();
    let f = file_of(2 * P);
    let open = |mode| -> Arc<dyn File> { Arc::new(OpenFile::new(f.clone(), mode)) };
    let (ro, wo) = (open(AccessMode::ReadOnly), open(AccessMode::WriteOnly));
    let sh = MmapFlags::SHARED;
    let e = |r: LinuxResult<memory_addr::VirtAddr>| r.unwrap_err();
    assert_eq!(
        e(s.mmap(va(0), P, RW, sh, Some(ro.clone()), 0)),
        LinuxError::EACCES
    );
    assert!(
        s.mmap(va(0), P, RW, MmapFlags::PRIVATE, Some(ro.clone()), 0)
            .is_ok()
    );
    assert!(s.mmap(va(0), P, R, sh, Some(ro.clone()), 0).is_ok());
    assert_eq!(
        e(s.mmap(va(0), P, R, MmapFlags::PRIVATE, Some(wo.clone()), 0)),
        LinuxError::EACCES
    );
    assert_eq!(e(s.mmap(va(0), P, RW, sh, Some(wo), 0)), LinuxError::EACCES);
    // Unaligned offset before anything; the fd before the length.
    assert_eq!(
        e(s.mmap(va(0), 0, RW, sh, Some(ro.clone()), 1)),
        LinuxError::EINVAL
    );
    assert_eq!(e(s.mmap(va(0), P, R, sh, None, 1)), LinuxError::EINVAL);
    assert_eq!(e(s.mmap(va(0), 0, R, sh, None, 0)), LinuxError::EBADF);
    assert_eq!(
        e(s.mmap(va(0), P, R, MmapFlags::empty(), None, 0)),
        LinuxError::EBADF
    );
    assert_eq!(
        e(s.mmap(va(0), 0, RW, sh, Some(ro.clone()), 0)),
        LinuxError::EINVAL
    );
    // Placement before the file's checks.
    let fixed = sh | MmapFlags::FIXED;
    assert_eq!(
        e(s.mmap(va(USER_END), P, RW, fixed, Some(ro.clone()), 0)),
        LinuxError::ENOMEM
    );
    let neg = u64::MAX - (P as u64 - 1);
    assert_eq!(
        e(s.mmap(va(USER_END), P, R, fixed, Some(ro.clone()), neg)),
        LinuxError::ENOMEM
    );
    assert_eq!(
        e(s.mmap(va(USER_END), P, R, MmapFlags::FIXED, Some(ro.clone()), 0)),
        LinuxError::ENOMEM
    );
    assert_eq!(
        e(s.mmap(va(0x1000_0001), P, RW, fixed, Some(ro.clone()), 0)),
        LinuxError::EINVAL
    );
    // The range before the type and the mode; the type before the mode.
    assert_eq!(
        e(s.mmap(va(0), P, R, MmapFlags::empty(), Some(ro.clone()), neg)),
        LinuxError::EOVERFLOW
    );
    assert_eq!(
        e(s.mmap(va(0), P, RW, sh, Some(ro.clone()), neg)),
        LinuxError::EOVERFLOW
    );
    assert_eq!(
        e(s.mmap(va(0), P, R, MmapFlags::empty(), Some(ro.clone()), 0)),
        LinuxError::EINVAL
    );
    let validate = MmapFlags::SHARED_VALIDATE | MmapFlags::from_bits_retain(1 << 21);
    assert_eq!(
        e(s.mmap(va(0), P, RW, validate, Some(ro), 0)),
        LinuxError::EOPNOTSUPP
    );
    assert_eq!(s.areas().count(), 2, "a failed mmap left an area");
}

/// A truncation notice applies to what was mapped before it: pages populated after it (in
/// the same space, before it ran) stay, and forks inherit the pending notice.
#[test]
fn pending_truncation_spares_later_pages_and_reaches_forks() {
    let mut s = setup();
    let f = file_of(2 * P);
    let old = map(&mut s, &f, 2 * P, RW, MmapFlags::PRIVATE);
    s.write_bytes(va(old + P), b"copy").unwrap();
    f.set_len(0); // `s` has a notice pending
    assert_eq!(f.write_at(0, &[9u8; 2 * P]).unwrap(), 2 * P);
    let new = map(
        &mut s,
        &f,
        2 * P,
        RW,
        MmapFlags::PRIVATE | MmapFlags::POPULATE,
    );
    assert_eq!(f.write_at(0, &[7u8; 2 * P]).unwrap(), 2 * P);
    let mut child = s.fork().unwrap();
    for sp in [&mut s, &mut child] {
        assert_eq!(read(sp, new + P, 2), [9, 9], "populated copy zapped");
        // The old mapping's private copy went with the truncation: the file shows again.
        assert_eq!(read(sp, old + P, 4), [7; 4]);
    }
    drop((s, child, f));
    assert_no_leak();
}

/// A backing store whose writes fail while `broken` is set.
struct Flaky {
    mem: MemFile,
    broken: core::sync::atomic::AtomicBool,
}

impl crate::FileBacking for Arc<Flaky> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> LinuxResult<usize> {
        self.mem.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> LinuxResult<usize> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(LinuxError::EIO);
        }
        self.mem.write_at(offset, data)
    }
    fn size(&self) -> u64 {
        self.mem.size()
    }
    fn set_len(&self, len: u64) -> LinuxResult {
        self.mem.cached().set_len(len)
    }
}

/// A failed write-back loses nothing: `msync` says `EIO`, the page stays cached and dirty
/// after the last mapping goes, and a later `sync` writes it.
#[test]
fn failed_write_back_keeps_the_page() {
    let mut s = setup();
    let flaky = Arc::new(Flaky {
        mem: MemFile::new(vec![0u8; P]),
        broken: core::sync::atomic::AtomicBool::new(true),
    });
    let file = Arc::new(crate::CachedFile::new(flaky.clone()));
    let dynf: Arc<dyn File> = file.clone();
    let a = s
        .mmap(va(0), P, RW, MmapFlags::SHARED, Some(dynf), 0)
        .unwrap()
        .as_usize();
    s.write_bytes(va(a), b"keep").unwrap();
    assert_eq!(s.msync(va(a), P, MsyncFlags::SYNC), Err(LinuxError::EIO));
    drop(s);
    assert_eq!(file.cache_stats(), (1, 1), "dirty page dropped");
    let mut buf = [0u8; 4];
    file.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"keep");
    assert_eq!(file.sync(), Err(LinuxError::EIO));
    flaky.broken.store(false, Ordering::Relaxed);
    file.sync().unwrap();
    assert_eq!(&flaky.mem.stored()[..4], b"keep");
    assert_eq!(file.cache_stats(), (0, 0), "sync kept an unmapped page");
    drop(file);
    drop(flaky);
    assert_no_leak();
}

/// `MAP_SHARED_VALIDATE` accepts exactly Linux's legacy mask: `MAP_UNINITIALIZED` and the
/// hugetlb size bits pass (and are ignored), `MAP_FIXED_NOREPLACE` and `MAP_SYNC` do not.
#[test]
fn shared_validate_accepts_linux_legacy_mask_only() {
    let mut s = setup();
    let f = file_of(2 * P);
    let validate = MmapFlags::SHARED_VALIDATE;
    for ok in [0x400_0000u32, 1 << 30, 0x100] {
        let flags = validate | MmapFlags::from_bits_retain(ok);
        let got = s.mmap(va(0), P, RW, flags, Some(f.clone()), 0);
        assert!(got.is_ok(), "{ok:#x}: {got:?}");
    }
    for bad in [MmapFlags::FIXED_NOREPLACE.bits(), 0x8_0000, 1 << 21] {
        let flags = validate | MmapFlags::from_bits_retain(bad);
        assert_eq!(
            s.mmap(va(USER_END - 64 * P), P, RW, flags, Some(f.clone()), 0),
            Err(LinuxError::EOPNOTSUPP),
            "{bad:#x}"
        );
    }
}

/// A shared mapping of a file not open for writing can never become writable (Linux clears
/// `VM_MAYWRITE`): `mprotect(+WRITE)` is `EACCES` and changes nothing; a private mapping of
/// the same file can, and so can a shared one of a read-write file.
#[test]
fn mprotect_write_needs_a_writable_shared_file() {
    use crate::{AccessMode, OpenFile};
    let mut s = setup();
    let f = file_of(2 * P);
    let open = |mode| -> Arc<dyn File> { Arc::new(OpenFile::new(f.clone(), mode)) };
    let ro = open(AccessMode::ReadOnly);
    let shared = s
        .mmap(va(0), P, R, MmapFlags::SHARED, Some(ro.clone()), 0)
        .unwrap();
    assert_eq!(s.mprotect(shared, P, RW), Err(LinuxError::EACCES));
    assert_eq!(s.mprotect_linux(shared, P, RW), Err(LinuxError::EACCES));
    assert!(
        s.mprotect(shared, P, R).is_ok(),
        "dropping to what it has is fine"
    );
    let private = s
        .mmap(va(0), P, R, MmapFlags::PRIVATE, Some(ro), 0)
        .unwrap();
    assert!(s.mprotect(private, P, RW).is_ok());
    let rw = s.mmap(
        va(0),
        P,
        R,
        MmapFlags::SHARED,
        Some(open(AccessMode::ReadWrite)),
        0,
    );
    assert!(s.mprotect(rw.unwrap(), P, RW).is_ok());
}
