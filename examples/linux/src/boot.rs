//! The initramfs: unpacking the `-initrd` cpio archive into the RAM file system, and
//! choosing the program that runs as pid 1.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use pagoda::fs::cpio::{Archive, CpioError, EntryKind};
use pagoda::fs::vfs::{Access, FsError, Ino, ROOT_INO};
use pagoda::mm::MemFile;

pub use crate::files::namespace::RamFs;

/// Why the initramfs could not be used.
#[derive(Debug)]
pub enum BootError {
    /// QEMU was started without `-initrd`.
    NoInitrd,
    /// The archive is not a valid uncompressed newc cpio.
    Cpio(CpioError),
    /// A member could not be created (e.g. its parent directory is missing).
    Member(Vec<u8>, FsError),
    /// The archive holds no regular file to run.
    NoProgram,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoInitrd => f.write_str("no initrd (pass a cpio archive with QEMU -initrd)"),
            Self::Cpio(e) => write!(f, "initrd: {e}"),
            Self::Member(name, e) => {
                write!(
                    f,
                    "initrd member {}: {e}",
                    alloc::string::String::from_utf8_lossy(name)
                )
            }
            Self::NoProgram => f.write_str("initrd holds no regular file to run"),
        }
    }
}

/// What was unpacked.
pub struct Initramfs {
    /// The namespace.
    pub fs: RamFs,
    /// Regular files in archive order (absolute paths), for choosing the program.
    pub files: Vec<(alloc::string::String, Ino)>,
    /// Members of kinds the RAM file system does not hold here (devices, fifos, sockets).
    pub skipped: usize,
}

/// The path as the namespace wants it: `./a/b`, `a/b` and `/a/b` all become `/a/b`;
/// `None` for the archive's root entry (`.`).
fn absolute(name: &str) -> Option<alloc::string::String> {
    let rel = name.trim_start_matches("./").trim_start_matches('/');
    (!rel.is_empty() && rel != ".").then(|| alloc::format!("/{rel}"))
}

/// Unpacks `bytes` (one or more concatenated newc archives) into a fresh namespace and
/// makes it the kernel's ([`namespace::install`](crate::files::namespace::install), which
/// adds `/tmp`, `/proc`, `/dev` and `/etc` where missing), as
/// Linux's initramfs does: directories, regular files (their data copied into a
/// `MemFile`), symbolic links; owners and modes as stored. Device nodes, fifos and
/// sockets are counted in `skipped`. A hard-linked file (same `ino`, `nlink > 1`) becomes
/// separate files; newc stores the data only with the last of them.
///
/// # Errors
/// [`BootError::Cpio`] for a bad archive; [`BootError::Member`] when a member cannot be
/// created (missing parent, a name that exists as another kind).
pub fn unpack(bytes: &[u8]) -> Result<Initramfs, BootError> {
    let mut fs = RamFs::new();
    let mut files = Vec::new();
    let mut skipped = 0;
    for entry in Archive::new(bytes) {
        let entry = entry.map_err(BootError::Cpio)?;
        let Some(path) = absolute(entry.name) else {
            continue;
        };
        let err = |e| BootError::Member(path.as_bytes().to_vec(), e);
        let perm = entry.permissions();
        let ino = match entry.kind() {
            Ok(EntryKind::Directory) => match fs.mkdir(ROOT_INO, &path, perm, Access::ROOT) {
                // `cpio` lists a directory once, but concatenated archives may repeat it.
                Err(FsError::Exists) => fs.lookup(ROOT_INO, &path, false, Access::ROOT),
                other => other,
            }
            .map_err(err)?,
            Ok(EntryKind::Regular) => {
                let file = Arc::new(MemFile::with_name(&path, entry.data.to_vec()));
                let ino = fs
                    .create(ROOT_INO, &path, perm, Access::ROOT, file)
                    .map_err(err)?;
                files.push((path.clone(), ino));
                ino
            }
            Ok(EntryKind::Symlink) => {
                let target = core::str::from_utf8(entry.data).map_err(|_| err(FsError::Invalid))?;
                fs.symlink(target, ROOT_INO, &path, Access::ROOT)
                    .map_err(err)?
            }
            _ => {
                skipped += 1;
                continue;
            }
        };
        if ino != ROOT_INO && (entry.uid, entry.gid) != (0, 0) {
            fs.chown(ino, entry.uid, entry.gid, Access::ROOT)
                .map_err(err)?;
        }
    }
    // The kernel's namespace gets the tree (sharing every file's contents); this copy is
    // what boot reads the program and its arguments from.
    crate::files::namespace::install(fs.clone());
    Ok(Initramfs { fs, files, skipped })
}

impl Initramfs {
    /// The program to run as pid 1: `/init` (following symlinks) if it is a regular file,
    /// otherwise the first regular file of the archive other than `/args`. Returns its
    /// path and contents.
    ///
    /// # Errors
    /// [`BootError::NoProgram`] if the archive holds no regular file.
    pub fn init_program(&self) -> Result<(alloc::string::String, Vec<u8>), BootError> {
        let init = self
            .fs
            .lookup(ROOT_INO, "/init", true, Access::ROOT)
            .ok()
            .filter(|&ino| self.fs.contents(ino).is_some())
            .map(|ino| (alloc::string::String::from("/init"), ino));
        let (path, ino) = init
            .or_else(|| self.files.iter().find(|(p, _)| p != "/args").cloned())
            .ok_or(BootError::NoProgram)?;
        let file = self.fs.contents(ino).ok_or(BootError::NoProgram)?;
        crate::files::namespace::set_init_exe(&path);
        Ok((path, file.contents()))
    }

    /// The program's arguments after `argv[0]`: the lines of the archive's `/args` file
    /// (written by `scripts/run_linux.sh`; there is no kernel command line yet), or none.
    pub fn args(&self) -> Vec<alloc::string::String> {
        let Some(file) = self
            .fs
            .lookup(ROOT_INO, "/args", true, Access::ROOT)
            .ok()
            .and_then(|ino| self.fs.contents(ino))
        else {
            return Vec::new();
        };
        let text = file.contents();
        alloc::string::String::from_utf8_lossy(&text)
            .lines()
            .map(alloc::string::String::from)
            .collect()
    }
}
