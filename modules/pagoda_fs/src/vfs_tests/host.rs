//! The namespace against the host's Linux file system: the same random operations run in a
//! fresh temporary directory through the C library and on a `Fs`, and every result (errno
//! included) and the final tree must agree. The tests run as whoever runs `cargo test`:
//! permission differences are avoided by generating only permissive modes.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::vfs::*;

const R: Access = Access::ROOT;

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Mkdir(String),
    Create {
        path: String,
        excl: bool,
        trunc: bool,
        dir: bool,
        nofollow: bool,
    },
    OpenRead {
        path: String,
        dir: bool,
        nofollow: bool,
    },
    Unlink(String),
    Rmdir(String),
    Rename(String, String),
    Link(String, String),
    Symlink(String, String),
    Readlink(String),
}

/// Paths inside the test directory: never climbing above it.
pub(crate) fn path() -> impl Strategy<Value = String> {
    let names = prop_oneof!["a", "b", "c", Just(".".to_string())];
    (
        proptest::collection::vec(names, 1..4),
        any::<Option<usize>>(),
        any::<u8>(),
    )
        .prop_map(|(mut parts, up, tail)| {
            if let Some(at) = up {
                let at = 1 + at % parts.len();
                if parts[..at].iter().any(|p| p != ".") {
                    parts.insert(at, "..".to_string());
                }
            }
            let mut s = parts.join("/");
            match tail % 6 {
                0 => s.push('/'),
                1 => s.push_str("/."),
                _ => {}
            }
            s
        })
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof!["a", "b", "c", "a/b", "missing", "b/c/"].prop_map(|s| s.to_string())
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => path().prop_map(Op::Mkdir),
        3 => (path(), any::<[bool; 4]>()).prop_map(|(path, [excl, trunc, dir, nofollow])| Op::Create { path, excl, trunc, dir, nofollow }),
        1 => (path(), any::<bool>(), any::<bool>()).prop_map(|(path, dir, nofollow)| Op::OpenRead { path, dir, nofollow }),
        2 => path().prop_map(Op::Unlink),
        2 => path().prop_map(Op::Rmdir),
        2 => (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        2 => (target(), path()).prop_map(|(t, p)| Op::Symlink(t, p)),
        1 => path().prop_map(Op::Readlink),
    ]
}

fn errno(r: io::Result<()>) -> Result<(), i32> {
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// Runs `op` on the host under `root`.
fn host(root: &Path, op: &Op) -> Result<(), i32> {
    let p = |s: &str| root.join(s);
    match op {
        Op::Mkdir(path) => errno(fs::create_dir(p(path))),
        Op::Create {
            path,
            excl,
            trunc,
            dir,
            nofollow,
        } => {
            let flags = libc_flags::of(*dir, *nofollow);
            let mut o = fs::OpenOptions::new();
            o.write(true)
                .truncate(*trunc)
                .mode(0o644)
                .custom_flags(flags);
            if *excl {
                o.create_new(true);
            } else {
                o.create(true);
            }
            errno(o.open(p(path)).map(drop))
        }
        Op::OpenRead {
            path,
            dir,
            nofollow,
        } => {
            let flags = libc_flags::of(*dir, *nofollow);
            errno(
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(flags)
                    .open(p(path))
                    .map(drop),
            )
        }
        Op::Unlink(path) => errno(fs::remove_file(p(path))),
        Op::Rmdir(path) => errno(fs::remove_dir(p(path))),
        Op::Rename(a, b) => errno(fs::rename(p(a), p(b))),
        Op::Link(a, b) => errno(fs::hard_link(p(a), p(b))),
        Op::Symlink(t, path) => errno(symlink(t, p(path))),
        Op::Readlink(path) => errno(fs::read_link(p(path)).map(drop)),
    }
}

/// The open(2) flag values the host test needs (x86_64 and the generic table agree).
mod libc_flags {
    pub const O_DIRECTORY: i32 = 0o200_000;
    pub const O_NOFOLLOW: i32 = 0o400_000;

    /// The extra open flags an operation asks for.
    pub fn of(directory: bool, nofollow: bool) -> i32 {
        (if directory { O_DIRECTORY } else { 0 }) | (if nofollow { O_NOFOLLOW } else { 0 })
    }
}

/// Runs `op` on `f`.
pub(crate) fn ours(f: &mut Fs<u32>, op: &Op, who: Access) -> Result<(), i32> {
    let e = |r: FsResult<()>| r.map_err(FsError::errno);
    match op {
        Op::Mkdir(path) => e(f.mkdir(ROOT_INO, path, 0o755, who).map(drop)),
        Op::Create {
            path,
            excl,
            trunc,
            dir,
            nofollow,
        } => {
            let intent = OpenIntent {
                write: true,
                create: true,
                exclusive: *excl,
                truncate: *trunc,
                directory: *dir,
                nofollow: *nofollow,
                read: false,
            };
            e(f.open(ROOT_INO, path, intent, 0o644, who, || 0).map(|o| {
                f.close_ref(o.ino);
            }))
        }
        Op::OpenRead {
            path,
            dir,
            nofollow,
        } => {
            let intent = OpenIntent {
                read: true,
                directory: *dir,
                nofollow: *nofollow,
                ..OpenIntent::default()
            };
            e(f.open(ROOT_INO, path, intent, 0, who, || 0).map(|o| {
                f.close_ref(o.ino);
            }))
        }
        Op::Unlink(path) => e(f.unlink(ROOT_INO, path, who).map(drop)),
        Op::Rmdir(path) => e(f.rmdir(ROOT_INO, path, who)),
        Op::Rename(a, b) => e(f
            .rename(ROOT_INO, a, ROOT_INO, b, RenameFlags::default(), who)
            .map(drop)),
        Op::Link(a, b) => e(f.link(ROOT_INO, a, ROOT_INO, b, who)),
        Op::Symlink(t, path) => e(f.symlink(t, ROOT_INO, path, who).map(drop)),
        Op::Readlink(path) => e(f.readlink(ROOT_INO, path, who).map(drop)),
    }
}

/// (path, kind, nlink, symlink target) of every entry below `dir`, sorted.
fn host_tree(dir: &Path, prefix: &str, out: &mut Vec<(String, char, u64, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let meta = fs::symlink_metadata(e.path()).unwrap();
        if meta.file_type().is_symlink() {
            let t = fs::read_link(e.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((name, 'l', meta.nlink(), t));
        } else if meta.is_dir() {
            out.push((name.clone(), 'd', meta.nlink(), String::new()));
            host_tree(&e.path(), &format!("{name}/"), out);
        } else {
            out.push((name, 'f', meta.nlink(), String::new()));
        }
    }
}

fn our_tree(f: &Fs<u32>, dir: Ino, prefix: &str, out: &mut Vec<(String, char, u64, String)>) {
    for (name, ino, _) in f.read_dir(dir).unwrap().into_iter().skip(2) {
        let node = f.inode(ino).unwrap();
        let path = format!("{prefix}{name}");
        match &node.kind {
            NodeKind::Symlink(t) => out.push((path, 'l', u64::from(node.nlink), t.clone())),
            NodeKind::Dir { .. } => {
                out.push((path.clone(), 'd', u64::from(node.nlink), String::new()));
                our_tree(f, ino, &format!("{path}/"), out);
            }
            _ => out.push((path, 'f', u64::from(node.nlink), String::new())),
        }
    }
}

fn scratch() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pagoda-vfs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::tests::cases(200)))]

    #[test]
    fn namespace_matches_the_host_kernel(ops in proptest::collection::vec(op(), 1..40)) {
        let root = scratch();
        let mut f = Fs::<u32>::new();
        for (i, op) in ops.iter().enumerate() {
            let want = host(&root, op);
            let got = ours(&mut f, op, R);
            prop_assert_eq!(got, want, "op {} {:?}", i, op);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        host_tree(&root, "", &mut a);
        our_tree(&f, ROOT_INO, "", &mut b);
        fs::remove_dir_all(&root).unwrap();
        prop_assert_eq!(b, a);
    }
}
