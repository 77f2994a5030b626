//! Random operations by several users (no panics, whatever the input) keep the namespace
//! consistent: entries name live inodes, link counts equal the names (and subdirectories),
//! parents match, every inode is reachable or open, and nothing leaks at the end.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::host::{Op, op, ours};
use crate::vfs::*;

fn check(f: &Fs<u32>, open: &BTreeMap<Ino, u32>) {
    let mut names: BTreeMap<Ino, u32> = BTreeMap::new();
    let mut reachable = vec![ROOT_INO];
    let mut stack = vec![ROOT_INO];
    while let Some(dir) = stack.pop() {
        let entries = f.read_dir(dir).unwrap();
        let mut subdirs = 0;
        for (name, ino, _) in entries.into_iter().skip(2) {
            let node = f
                .inode(ino)
                .unwrap_or_else(|| panic!("{name} names a missing inode"));
            *names.entry(ino).or_default() += 1;
            if let NodeKind::Dir { parent, .. } = node.kind {
                assert_eq!(parent, dir, "parent of {name}");
                subdirs += 1;
                stack.push(ino);
            }
            reachable.push(ino);
        }
        assert_eq!(
            f.inode(dir).unwrap().nlink,
            2 + subdirs,
            "nlink of dir {dir}"
        );
    }
    for (ino, n) in &names {
        let node = f.inode(*ino).unwrap();
        if !node.is_dir() {
            assert_eq!(node.nlink, *n, "nlink of {ino}");
        } else {
            assert_eq!(*n, 1, "a directory has one name");
        }
    }
    for ino in 1..=(f.len() as u64 * 4 + 64) {
        if f.inode(ino).is_some() {
            assert!(
                reachable.contains(&ino) || open.contains_key(&ino),
                "inode {ino} leaked"
            );
        }
    }
}

const USERS: [Access; 3] = [
    Access::ROOT,
    Access {
        uid: 1000,
        gid: 1000,
    },
    Access {
        uid: 1001,
        gid: 1000,
    },
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::tests::cases(256)))]

    #[test]
    fn namespace_stays_consistent(steps in proptest::collection::vec((op(), 0..3usize, any::<u16>()), 1..60)) {
        let mut f = Fs::<u32>::new();
        let mut open: BTreeMap<Ino, u32> = BTreeMap::new();
        for (op, user, extra) in steps {
            let who = USERS[user];
            match (&op, extra % 4) {
                // Hold some files open across later operations.
                (Op::Create { path, .. }, 0) => {
                    let intent = OpenIntent { read: true, ..OpenIntent::default() };
                    if let Ok(o) = f.open(ROOT_INO, path, intent, 0, who, || 0) {
                        *open.entry(o.ino).or_default() += 1;
                    }
                }
                (Op::Mkdir(path), 1) => {
                    if let Ok(ino) = f.lookup(ROOT_INO, path, true, who) {
                        let _ = f.chmod(ino, u32::from(extra) & 0o7777, who);
                    }
                }
                _ => {
                    let _ = ours(&mut f, &op, who);
                }
            }
            check(&f, &open);
        }
        for (ino, n) in std::mem::take(&mut open) {
            for _ in 0..n {
                f.close_ref(ino);
            }
        }
        check(&f, &open);
    }
}
