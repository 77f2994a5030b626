//! Directory listing and metadata changes (`chmod`, `chown`, times).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::tree::{Access, Fs, Ino};
use super::{FsError, FsResult};

/// One time [`Fs::set_times`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    /// The current time.
    Now,
    /// This time: seconds and nanoseconds since the epoch.
    At(i64, i64),
    /// Unchanged.
    Keep,
}

impl<F> Fs<F> {
    /// Directory entries of `dir` as `getdents64` lists them: `.`, `..`, then by name.
    ///
    /// # Errors
    /// `ENOTDIR`, `ENOENT`.
    pub fn read_dir(&self, dir: Ino) -> FsResult<Vec<(String, Ino, u8)>> {
        let parent = self.parent_of(dir)?;
        let mut out = alloc::vec![(".".to_string(), dir, 4), ("..".to_string(), parent, 4)];
        for (name, ino) in self.entries(dir)? {
            out.push((name.clone(), *ino, self.node(*ino)?.d_type()));
        }
        Ok(out)
    }

    /// `chmod`: owner or root only.
    ///
    /// # Errors
    /// `EPERM` for others; `ENOENT` for an unknown inode.
    pub fn chmod(&mut self, ino: Ino, perm: u32, who: Access) -> FsResult<()> {
        let now = self.now();
        let node = self.node_mut(ino)?;
        if who.uid != 0 && who.uid != node.uid {
            return Err(FsError::Perm);
        }
        node.perm = perm & 0o7777;
        node.times[2] = now;
        Ok(())
    }

    /// `chown` (`u32::MAX` keeps an id): root may change both; the owner may set the group
    /// to its own group.
    ///
    /// # Errors
    /// `EPERM` otherwise; `ENOENT` for an unknown inode.
    pub fn chown(&mut self, ino: Ino, uid: u32, gid: u32, who: Access) -> FsResult<()> {
        let now = self.now();
        let node = self.node_mut(ino)?;
        let uid_ok = uid == u32::MAX || uid == node.uid || who.uid == 0;
        let gid_ok = gid == u32::MAX
            || gid == node.gid
            || who.uid == 0
            || (who.uid == node.uid && gid == who.gid);
        if !uid_ok || !gid_ok {
            return Err(FsError::Perm);
        }
        if uid != u32::MAX {
            node.uid = uid;
        }
        if gid != u32::MAX {
            node.gid = gid;
        }
        // A change of owner by anyone clears set-user-id and set-group-id on non-directories.
        if !node.is_dir() && (uid != u32::MAX || gid != u32::MAX) {
            node.perm &= !0o6000;
        }
        node.times[2] = now;
        Ok(())
    }

    /// `utimensat`: sets the access and modification times of `ino` (the status-change
    /// time becomes now). A given time (or [`SetTime::Keep`]) needs the owner (or root);
    /// both [`SetTime::Now`] needs ownership or write permission.
    ///
    /// # Errors
    /// `EPERM` (explicit times, not the owner), `EACCES` (now, neither owner nor writer);
    /// `ENOENT` for an unknown inode. Nothing changes on error.
    pub fn set_times(&mut self, ino: Ino, times: [SetTime; 2], who: Access) -> FsResult<()> {
        let now = self.now();
        let explicit = times != [SetTime::Now; 2];
        let node = self.node_mut(ino)?;
        let owner = who.uid == 0 || who.uid == node.uid;
        if explicit && !owner {
            return Err(FsError::Perm);
        }
        if !explicit && !owner && !node.permits(who, 2) {
            return Err(FsError::Access);
        }
        for (slot, t) in node.times.iter_mut().zip(times) {
            match t {
                SetTime::Now => *slot = now,
                SetTime::At(sec, nsec) => *slot = (sec, nsec),
                SetTime::Keep => {}
            }
        }
        node.times[2] = now;
        Ok(())
    }

    /// Stamps the access (`0`) or modification (`1`) time of `ino` with the current time
    /// (modification also changes the status-change time).
    pub fn touch(&mut self, ino: Ino, which: usize) {
        let now = self.now();
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.times[which.min(1)] = now;
            if which >= 1 {
                node.times[2] = now;
            }
        }
    }
}
