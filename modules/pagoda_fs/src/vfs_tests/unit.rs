use crate::vfs::*;

const R: Access = Access::ROOT;
const USER: Access = Access {
    uid: 1000,
    gid: 1000,
};

fn fs() -> Fs<u32> {
    Fs::new()
}

fn open_intent(read: bool, write: bool) -> OpenIntent {
    OpenIntent {
        read,
        write,
        ..OpenIntent::default()
    }
}

#[test]
fn create_lookup_and_the_dot_entries() {
    let mut f = fs();
    let a = f.mkdir(ROOT_INO, "a", 0o755, R).unwrap();
    let b = f.create(ROOT_INO, "/a/b", 0o644, R, 7).unwrap();
    assert_eq!(f.lookup(ROOT_INO, "a/./b", true, R), Ok(b));
    assert_eq!(f.lookup(a, "../a//b", true, R), Ok(b));
    assert_eq!(f.lookup(ROOT_INO, "/..", true, R), Ok(ROOT_INO));
    assert_eq!(f.lookup(ROOT_INO, "a/b/", true, R), Err(FsError::NotDir));
    assert_eq!(f.lookup(ROOT_INO, "a/b/c", true, R), Err(FsError::NotDir));
    assert_eq!(f.lookup(ROOT_INO, "", true, R), Err(FsError::NotFound));
    assert_eq!(f.contents(b), Some(&7));
    assert_eq!(f.inode(a).unwrap().nlink, 2);
    assert_eq!(f.inode(ROOT_INO).unwrap().nlink, 3);
    assert_eq!(f.mkdir(ROOT_INO, "a", 0o755, R), Err(FsError::Exists));
    assert_eq!(f.mkdir(ROOT_INO, "/", 0o755, R), Err(FsError::Exists));
    assert_eq!(f.mkdir(ROOT_INO, "a/..", 0o755, R), Err(FsError::Exists));
    assert_eq!(
        f.create(ROOT_INO, "new/", 0o644, R, 0),
        Err(FsError::NotFound)
    );
    let names: Vec<String> = f
        .read_dir(a)
        .unwrap()
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert_eq!(names, [".", "..", "b"]);
    assert_eq!(f.inode(b).unwrap().mode(), 0o100_644);
}

#[test]
fn names_and_paths_have_linux_limits() {
    let mut f = fs();
    let long = "x".repeat(256);
    assert_eq!(
        f.mkdir(ROOT_INO, &long, 0o755, R),
        Err(FsError::NameTooLong)
    );
    f.mkdir(ROOT_INO, &long[..255], 0o755, R).unwrap();
    let deep = "a/".repeat(2048);
    assert_eq!(
        f.lookup(ROOT_INO, &deep, true, R),
        Err(FsError::NameTooLong)
    );
}

#[test]
fn symlinks_are_followed_and_loops_end_in_eloop() {
    let mut f = fs();
    let d = f.mkdir(ROOT_INO, "d", 0o755, R).unwrap();
    let file = f.create(d, "file", 0o644, R, 1).unwrap();
    let l = f.symlink("d/file", ROOT_INO, "l", R).unwrap();
    f.symlink("d", ROOT_INO, "dl", R).unwrap();
    assert_eq!(f.lookup(ROOT_INO, "l", true, R), Ok(file));
    assert_eq!(f.lookup(ROOT_INO, "l", false, R), Ok(l));
    assert_eq!(f.lookup(ROOT_INO, "dl/file", false, R), Ok(file));
    assert_eq!(
        f.lookup(ROOT_INO, "dl/", false, R),
        Ok(d),
        "a trailing slash follows"
    );
    assert_eq!(f.readlink(ROOT_INO, "l", R), Ok("d/file"));
    assert_eq!(f.readlink(ROOT_INO, "d", R), Err(FsError::Invalid));
    f.symlink("loop", ROOT_INO, "loop", R).unwrap();
    assert_eq!(f.lookup(ROOT_INO, "loop", true, R), Err(FsError::Loop));
    assert_eq!(f.symlink("", ROOT_INO, "empty", R), Err(FsError::NotFound));
    // A chain of 40 links resolves; 41 do not.
    f.symlink("d/file", ROOT_INO, "c0", R).unwrap();
    for i in 1..=41 {
        f.symlink(&format!("c{}", i - 1), ROOT_INO, &format!("c{i}"), R)
            .unwrap();
    }
    assert_eq!(f.lookup(ROOT_INO, "c39", true, R), Ok(file));
    assert_eq!(f.lookup(ROOT_INO, "c40", true, R), Err(FsError::Loop));
}

#[test]
fn permissions_follow_the_mode_bits_and_root_bypasses_them() {
    let mut f = fs();
    let pub_dir = f.mkdir(ROOT_INO, "pub", 0o777, R).unwrap();
    f.mkdir(ROOT_INO, "priv", 0o700, R).unwrap();
    f.create(ROOT_INO, "priv/secret", 0o600, R, 0).unwrap();
    assert_eq!(
        f.lookup(ROOT_INO, "priv/secret", true, USER),
        Err(FsError::Access)
    );
    assert_eq!(
        f.create(ROOT_INO, "priv/mine", 0o644, USER, 0),
        Err(FsError::Access)
    );
    let mine = f.create(pub_dir, "mine", 0o600, USER, 0).unwrap();
    assert_eq!(f.inode(mine).unwrap().uid, 1000);
    let ro = open_intent(true, false);
    assert_eq!(
        f.open(
            ROOT_INO,
            "pub/mine",
            ro,
            0,
            Access {
                uid: 2000,
                gid: 2000
            },
            || 0
        ),
        Err(FsError::Access)
    );
    assert!(
        f.open(ROOT_INO, "pub/mine", ro, 0, R, || 0).is_ok(),
        "root reads anything"
    );
    assert_eq!(
        f.chmod(
            mine,
            0o644,
            Access {
                uid: 2000,
                gid: 2000
            }
        ),
        Err(FsError::Perm)
    );
    f.chmod(mine, 0o4755, USER).unwrap();
    assert_eq!(f.chown(mine, 0, u32::MAX, USER), Err(FsError::Perm));
    f.chown(mine, 2000, 2000, R).unwrap();
    assert_eq!(
        f.inode(mine).unwrap().perm,
        0o755,
        "chown clears set-id bits"
    );
    // Sticky directory: only owners remove.
    f.chmod(pub_dir, 0o1777, R).unwrap();
    f.create(
        pub_dir,
        "theirs",
        0o666,
        Access {
            uid: 3000,
            gid: 3000,
        },
        0,
    )
    .unwrap();
    assert_eq!(
        f.unlink(pub_dir, "theirs", USER).map(|_| ()),
        Err(FsError::Perm)
    );
    assert!(f.unlink(pub_dir, "theirs", R).is_ok());
    // Exec by root needs some execute bit.
    let node = f.inode(mine).unwrap();
    assert!(node.permits(R, 1));
    f.chmod(mine, 0o644, R).unwrap();
    assert!(!f.inode(mine).unwrap().permits(R, 1));
}

#[test]
fn unlink_rmdir_and_open_references() {
    let mut f = fs();
    f.mkdir(ROOT_INO, "d", 0o755, R).unwrap();
    let file = f.create(ROOT_INO, "d/f", 0o644, R, 5).unwrap();
    assert_eq!(f.rmdir(ROOT_INO, "d", R), Err(FsError::NotEmpty));
    assert_eq!(f.rmdir(ROOT_INO, "d/f", R), Err(FsError::NotDir));
    assert_eq!(f.unlink(ROOT_INO, "d", R).map(|_| ()), Err(FsError::IsDir));
    assert_eq!(f.rmdir(ROOT_INO, "/", R), Err(FsError::Busy));
    assert_eq!(f.rmdir(ROOT_INO, "d/.", R), Err(FsError::Invalid));
    assert_eq!(f.rmdir(ROOT_INO, "d/..", R), Err(FsError::NotEmpty));
    let opened = f
        .open(ROOT_INO, "d/f", open_intent(true, false), 0, R, || 0)
        .unwrap();
    assert_eq!(opened.ino, file);
    assert_eq!(
        f.unlink(ROOT_INO, "d/f", R),
        Ok(None),
        "still open: not freed"
    );
    assert_eq!(f.contents(file), Some(&5), "data lives while open");
    assert_eq!(f.lookup(ROOT_INO, "d/f", true, R), Err(FsError::NotFound));
    let freed = f.close_ref(file).unwrap();
    assert_eq!(freed.kind, NodeKind::File(5));
    f.rmdir(ROOT_INO, "d", R).unwrap();
    assert_eq!(f.inode(ROOT_INO).unwrap().nlink, 2);
    assert_eq!(f.len(), 1);
}

#[test]
fn links_count_names() {
    let mut f = fs();
    let file = f.create(ROOT_INO, "f", 0o644, R, 1).unwrap();
    f.mkdir(ROOT_INO, "d", 0o755, R).unwrap();
    f.link(ROOT_INO, "f", ROOT_INO, "d/g", R).unwrap();
    assert_eq!(f.inode(file).unwrap().nlink, 2);
    assert_eq!(f.link(ROOT_INO, "d", ROOT_INO, "d2", R), Err(FsError::Perm));
    assert_eq!(
        f.link(ROOT_INO, "f", ROOT_INO, "d/g", R),
        Err(FsError::Exists)
    );
    assert_eq!(f.unlink(ROOT_INO, "f", R), Ok(None));
    assert!(
        f.unlink(ROOT_INO, "d/g", R).unwrap().is_some(),
        "last link frees it"
    );
}

#[test]
fn rename_rules() {
    let mut f = fs();
    let a = f.mkdir(ROOT_INO, "a", 0o755, R).unwrap();
    let b = f.mkdir(ROOT_INO, "b", 0o755, R).unwrap();
    let x = f.create(a, "x", 0o644, R, 1).unwrap();
    let y = f.create(b, "y", 0o644, R, 2).unwrap();
    let none = RenameFlags::default();
    assert_eq!(
        f.rename(ROOT_INO, "a", ROOT_INO, "a/sub", none, R)
            .map(|_| ()),
        Err(FsError::Invalid)
    );
    assert_eq!(
        f.rename(ROOT_INO, "a", ROOT_INO, "b/y", none, R)
            .map(|_| ()),
        Err(FsError::NotDir)
    );
    assert_eq!(
        f.rename(ROOT_INO, "a/x", ROOT_INO, "b", none, R)
            .map(|_| ()),
        Err(FsError::IsDir)
    );
    let noreplace = RenameFlags::from_bits(1).unwrap();
    assert_eq!(
        f.rename(ROOT_INO, "a/x", ROOT_INO, "b/y", noreplace, R)
            .map(|_| ()),
        Err(FsError::Exists)
    );
    let exchange = RenameFlags::from_bits(2).unwrap();
    assert_eq!(
        f.rename(ROOT_INO, "a/x", ROOT_INO, "b/y", exchange, R),
        Ok(None)
    );
    assert_eq!(f.lookup(ROOT_INO, "a/x", true, R), Ok(y));
    assert_eq!(f.lookup(ROOT_INO, "b/y", true, R), Ok(x));
    let freed = f
        .rename(ROOT_INO, "a/x", ROOT_INO, "b/y", none, R)
        .unwrap()
        .unwrap();
    assert_eq!(freed.kind, NodeKind::File(1), "the replaced file is freed");
    f.rename(ROOT_INO, "a", ROOT_INO, "b/a2", none, R).unwrap();
    assert_eq!(f.lookup(ROOT_INO, "b/a2/..", true, R), Ok(b));
    assert_eq!(f.inode(b).unwrap().nlink, 3);
    assert_eq!(f.inode(ROOT_INO).unwrap().nlink, 3);
    assert_eq!(
        f.rename(ROOT_INO, "b/a2", ROOT_INO, "b/a2", none, R),
        Ok(None)
    );
    assert_eq!(f.lookup(ROOT_INO, "b/a2", true, R), Ok(a));
    assert_eq!(RenameFlags::from_bits(3), Err(FsError::Invalid));
    assert_eq!(
        RenameFlags::from_bits(4),
        Err(FsError::Invalid),
        "RENAME_WHITEOUT"
    );
}

#[test]
fn open_follows_the_flag_rules() {
    let mut f = fs();
    f.mkdir(ROOT_INO, "d", 0o755, R).unwrap();
    f.create(ROOT_INO, "f", 0o644, R, 1).unwrap();
    f.symlink("f", ROOT_INO, "l", R).unwrap();
    f.symlink("made", ROOT_INO, "dangling", R).unwrap();
    let creat = OpenIntent {
        write: true,
        create: true,
        ..OpenIntent::default()
    };
    let excl = OpenIntent {
        exclusive: true,
        ..creat
    };
    assert_eq!(
        f.open(ROOT_INO, "f", excl, 0o644, R, || 0),
        Err(FsError::Exists)
    );
    assert_eq!(
        f.open(ROOT_INO, "l", excl, 0o644, R, || 0),
        Err(FsError::Exists)
    );
    assert_eq!(
        f.open(ROOT_INO, "d", creat, 0o644, R, || 0),
        Err(FsError::IsDir)
    );
    assert_eq!(
        f.open(ROOT_INO, "d", open_intent(false, true), 0, R, || 0),
        Err(FsError::IsDir)
    );
    assert!(
        f.open(ROOT_INO, "d", open_intent(true, false), 0, R, || 0)
            .is_ok()
    );
    let dir_only = OpenIntent {
        read: true,
        directory: true,
        ..OpenIntent::default()
    };
    assert_eq!(
        f.open(ROOT_INO, "f", dir_only, 0, R, || 0),
        Err(FsError::NotDir)
    );
    let nofollow = OpenIntent {
        read: true,
        nofollow: true,
        ..OpenIntent::default()
    };
    assert_eq!(
        f.open(ROOT_INO, "l", nofollow, 0, R, || 0),
        Err(FsError::Loop)
    );
    let made = f.open(ROOT_INO, "dangling", creat, 0o600, R, || 9).unwrap();
    assert!(made.created);
    assert_eq!(f.lookup(ROOT_INO, "made", true, R), Ok(made.ino));
    let trunc = OpenIntent {
        write: true,
        truncate: true,
        ..OpenIntent::default()
    };
    assert!(f.open(ROOT_INO, "f", trunc, 0, R, || 0).unwrap().truncate);
    assert_eq!(
        f.open(ROOT_INO, "nope", open_intent(true, false), 0, R, || 0),
        Err(FsError::NotFound)
    );
}

#[test]
fn every_error_maps_to_its_errno() {
    let all = [
        FsError::NotFound,
        FsError::NotDir,
        FsError::IsDir,
        FsError::Exists,
        FsError::NotEmpty,
        FsError::Access,
        FsError::Perm,
        FsError::Loop,
        FsError::NameTooLong,
        FsError::Invalid,
        FsError::Busy,
        FsError::TooManyLinks,
    ];
    for e in all {
        assert_eq!(e.linux().code(), e.errno(), "{e:?}");
        assert_eq!(axerrno::LinuxError::from(e), e.linux());
    }
}

#[test]
fn link_inode_names_an_open_file_but_not_an_unlinked_one() {
    let mut fs = fs();
    let ino = fs.create(ROOT_INO, "/a", 0o644, R, 7).unwrap();
    fs.symlink("/a", ROOT_INO, "/s", R).unwrap();
    // AT_SYMLINK_FOLLOW: the kernel resolves the symlink and links what it names.
    let target = fs.lookup(ROOT_INO, "/s", true, R).unwrap();
    fs.link_inode(target, ROOT_INO, "/b", R).unwrap();
    assert_eq!(fs.lookup(ROOT_INO, "/b", false, R), Ok(ino));
    assert_eq!(fs.inode(ino).unwrap().nlink, 2);
    assert_eq!(fs.link_inode(ino, ROOT_INO, "/b", R), Err(FsError::Exists));
    fs.open_ref(ino).unwrap();
    fs.unlink(ROOT_INO, "/a", R).unwrap();
    fs.unlink(ROOT_INO, "/b", R).unwrap();
    assert_eq!(
        fs.link_inode(ino, ROOT_INO, "/c", R),
        Err(FsError::NotFound)
    );
    assert_eq!(fs.lookup(ROOT_INO, "/c", false, R), Err(FsError::NotFound));
    assert!(fs.close_ref(ino).is_some());
}

#[test]
fn set_times_follows_utimensat_permissions() {
    let mut f = fs();
    let file = f.create(ROOT_INO, "f", 0o666, R, 1).unwrap();
    f.chown(file, USER.uid, USER.gid, R).unwrap();
    let other = Access {
        uid: 2000,
        gid: 2000,
    };
    let at = SetTime::At(1000, 5);
    // A given time: the owner or root only; nothing changes on error.
    assert_eq!(
        f.set_times(file, [at, SetTime::Keep], other),
        Err(FsError::Perm)
    );
    assert_eq!(f.inode(file).unwrap().times[0], (0, 0));
    f.set_times(file, [at, SetTime::Keep], USER).unwrap();
    let t = f.inode(file).unwrap().times;
    assert_eq!((t[0], t[1]), ((1000, 5), (0, 0)));
    // Both now: a writer may, others may not.
    f.set_times(file, [SetTime::Now; 2], other).unwrap();
    f.chmod(file, 0o644, USER).unwrap();
    assert_eq!(
        f.set_times(file, [SetTime::Now; 2], other),
        Err(FsError::Access)
    );
    f.set_times(file, [SetTime::Keep, SetTime::At(7, 0)], R)
        .unwrap();
    assert_eq!(f.inode(file).unwrap().times[1], (7, 0));
    assert_eq!(
        f.set_times(99_999, [SetTime::Now; 2], R),
        Err(FsError::NotFound)
    );
}
