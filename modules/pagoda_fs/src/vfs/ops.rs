//! Namespace changes that remove or move names (`unlink`, `rmdir`, `link`, `rename`) and
//! the lookup half of `open`.

use alloc::string::ToString;

use super::path::check_new_name;
use super::tree::{Access, Fs, Ino, Inode, Last, NodeKind, RenameFlags};
use super::{FsError, FsResult};

/// The `open` flags that decide what the namespace does (access mode and data flags are the
/// kernel's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenIntent {
    /// Wants to read (`O_RDONLY`, `O_RDWR`).
    pub read: bool,
    /// Wants to write (`O_WRONLY`, `O_RDWR`).
    pub write: bool,
    /// `O_CREAT`.
    pub create: bool,
    /// `O_EXCL` (with `O_CREAT`).
    pub exclusive: bool,
    /// `O_TRUNC`.
    pub truncate: bool,
    /// `O_DIRECTORY`.
    pub directory: bool,
    /// `O_NOFOLLOW`.
    pub nofollow: bool,
}

/// What `open` found or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The inode (its open reference is already counted).
    pub ino: Ino,
    /// Whether `O_CREAT` made it.
    pub created: bool,
    /// Whether the kernel must truncate its contents to 0 (`O_TRUNC` on a regular file).
    pub truncate: bool,
}

/// The sticky-directory rule: in a `+t` directory only the owner of the entry, the owner of
/// the directory, or root may remove or rename it.
fn sticky_allows<F>(dir: &Inode<F>, victim: &Inode<F>, who: Access) -> bool {
    dir.perm & 0o1000 == 0 || who.uid == 0 || who.uid == dir.uid || who.uid == victim.uid
}

impl<F> Fs<F> {
    /// The directory and entry a removal names, with permission to change the directory.
    /// A last component that is not a name gives `special(last)`.
    fn removable(
        &self,
        start: Ino,
        path: &str,
        who: Access,
        special: fn(Last) -> FsError,
    ) -> FsResult<(Ino, alloc::string::String, Ino)> {
        let (dir, last, _) = self.resolve_parent(start, path, who)?;
        let Last::Normal(name) = last else {
            return Err(special(last));
        };
        let dir_node = self.inode(dir).ok_or(FsError::NotFound)?;
        let NodeKind::Dir { entries, .. } = &dir_node.kind else {
            return Err(FsError::NotDir);
        };
        let victim = *entries.get(name).ok_or(FsError::NotFound)?;
        if !dir_node.permits(who, 3) {
            return Err(FsError::Access);
        }
        let victim_node = self.inode(victim).ok_or(FsError::NotFound)?;
        if !sticky_allows(dir_node, victim_node, who) {
            return Err(FsError::Perm);
        }
        Ok((dir, name.to_string(), victim))
    }

    fn detach(&mut self, dir: Ino, name: &str) {
        let (nodes, now) = self.node_parts();
        if let Some(Inode {
            kind: NodeKind::Dir { entries, .. },
            times,
            ..
        }) = nodes.get_mut(&dir)
        {
            entries.remove(name);
            times[1] = now;
            times[2] = now;
        }
    }

    /// `unlink(path)`: removes a name of a non-directory. Returns the inode if this freed it
    /// (no other link and not open), so the kernel can release its contents.
    ///
    /// # Errors
    /// `EISDIR` for a directory (Linux's answer), `ENOENT`, `ENOTDIR`, `EACCES`, `EPERM`
    /// (sticky directory), `EBUSY` for `/`.
    pub fn unlink(&mut self, start: Ino, path: &str, who: Access) -> FsResult<Option<Inode<F>>> {
        let (dir, name, victim) = self.removable(start, path, who, |_| FsError::IsDir)?;
        if path.ends_with('/') {
            let is_dir = self.inode(victim).is_some_and(Inode::is_dir);
            return Err(if is_dir {
                FsError::IsDir
            } else {
                FsError::NotDir
            });
        }
        if self.inode(victim).is_some_and(Inode::is_dir) {
            return Err(FsError::IsDir);
        }
        self.detach(dir, &name);
        let (nodes, now) = self.node_parts();
        if let Some(node) = nodes.get_mut(&victim) {
            node.nlink -= 1;
            node.times[2] = now;
        }
        Ok(self.drop_unused(victim))
    }

    /// `rmdir(path)`.
    ///
    /// # Errors
    /// `ENOTDIR`, `ENOTEMPTY` (also for `..`), `EINVAL` for `.`, `EBUSY` for `/`, `ENOENT`,
    /// `EACCES`, `EPERM`.
    pub fn rmdir(&mut self, start: Ino, path: &str, who: Access) -> FsResult<()> {
        let (dir, name, victim) = self.removable(start, path, who, |last| match last {
            Last::Dot => FsError::Invalid,
            Last::DotDot => FsError::NotEmpty,
            _ => FsError::Busy,
        })?;
        match &self.inode(victim).ok_or(FsError::NotFound)?.kind {
            NodeKind::Dir { entries, .. } if entries.is_empty() => {}
            NodeKind::Dir { .. } => return Err(FsError::NotEmpty),
            _ => return Err(FsError::NotDir),
        }
        self.detach(dir, &name);
        let (nodes, _) = self.node_parts();
        if let Some(parent) = nodes.get_mut(&dir) {
            parent.nlink -= 1;
        }
        if let Some(node) = nodes.get_mut(&victim) {
            node.nlink = 1;
        }
        self.drop_unused(victim);
        Ok(())
    }

    /// `link(old, new)`: another name for a non-directory (`old`'s last symlink not followed,
    /// as `linkat` without `AT_SYMLINK_FOLLOW`).
    ///
    /// # Errors
    /// `EPERM` for a directory, `EEXIST`, `EMLINK`, `ENOENT`, `ENOTDIR`, `EACCES`.
    pub fn link(
        &mut self,
        old_start: Ino,
        old: &str,
        new_start: Ino,
        new: &str,
        who: Access,
    ) -> FsResult<()> {
        let ino = self.lookup(old_start, old, false, who)?;
        self.link_inode(ino, new_start, new, who)
    }

    /// `linkat` of an inode found otherwise (`AT_SYMLINK_FOLLOW`, `AT_EMPTY_PATH`): a new
    /// name `new` for `ino`.
    ///
    /// # Errors
    /// As [`link`](Self::link); `ENOENT` for an inode without links (an unlinked open
    /// file: Linux refuses to give it a name again).
    pub fn link_inode(&mut self, ino: Ino, new_start: Ino, new: &str, who: Access) -> FsResult<()> {
        let (dir, last, trailing) = self.resolve_parent(new_start, new, who)?;
        let Last::Normal(name) = last else {
            return Err(FsError::Exists);
        };
        check_new_name(name)?;
        let dir_node = self.inode(dir).ok_or(FsError::NotFound)?;
        let NodeKind::Dir { entries, .. } = &dir_node.kind else {
            return Err(FsError::NotDir);
        };
        if entries.contains_key(name) {
            return Err(FsError::Exists);
        }
        if trailing {
            return Err(FsError::NotFound);
        }
        if !dir_node.permits(who, 3) {
            return Err(FsError::Access);
        }
        let node = self.inode(ino).ok_or(FsError::NotFound)?;
        if node.is_dir() {
            return Err(FsError::Perm);
        }
        if node.nlink == 0 {
            return Err(FsError::NotFound);
        }
        if node.nlink >= 65_000 {
            return Err(FsError::TooManyLinks);
        }
        let name = name.to_string();
        let (nodes, now) = self.node_parts();
        if let Some(Inode {
            kind: NodeKind::Dir { entries, .. },
            ..
        }) = nodes.get_mut(&dir)
        {
            entries.insert(name, ino);
        }
        if let Some(node) = nodes.get_mut(&ino) {
            node.nlink += 1;
            node.times[2] = now;
        }
        Ok(())
    }

    /// Whether directory `maybe_inner` is `dir` or lies below it.
    fn is_within(&self, maybe_inner: Ino, dir: Ino) -> bool {
        let mut at = maybe_inner;
        loop {
            if at == dir {
                return true;
            }
            match &self.inode(at).map(|n| &n.kind) {
                Some(NodeKind::Dir { parent, .. }) if *parent != at => at = *parent,
                _ => return false,
            }
        }
    }

    /// `renameat2(old, new, flags)`. Returns an inode the rename freed (a replaced file that
    /// had no other link and was not open).
    ///
    /// # Errors
    /// `ENOENT`; `EEXIST` with `RENAME_NOREPLACE`; `ENOTDIR` (directory onto a
    /// non-directory); `EISDIR` (non-directory onto a directory); `ENOTEMPTY`; `EINVAL`
    /// (a directory into itself, `.`/`..`); `EBUSY` (`/`); `EACCES`; `EPERM` (sticky).
    pub fn rename(
        &mut self,
        old_start: Ino,
        old: &str,
        new_start: Ino,
        new: &str,
        flags: RenameFlags,
        who: Access,
    ) -> FsResult<Option<Inode<F>>> {
        // Linux's order: both parents, both last components, the source, the target, the
        // slash and ancestry rules, then permissions and types of the victims.
        let (from_dir, from_last, from_trailing) = self.resolve_parent(old_start, old, who)?;
        let (to_dir, to_last, to_trailing) = self.resolve_parent(new_start, new, who)?;
        let Last::Normal(from_name) = from_last else {
            return Err(FsError::Busy);
        };
        let Last::Normal(to_name) = to_last else {
            return Err(if flags.noreplace {
                FsError::Exists
            } else {
                FsError::Busy
            });
        };
        check_new_name(to_name)?;
        let moving = self.step(from_dir, from_name, who)?;
        let replaced = match self.step(to_dir, to_name, who) {
            Ok(ino) => Some(ino),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if flags.noreplace && replaced.is_some() {
            return Err(FsError::Exists);
        }
        let moving_is_dir = self.inode(moving).is_some_and(Inode::is_dir);
        let replaced_is_dir = replaced
            .and_then(|r| self.inode(r))
            .is_some_and(Inode::is_dir);
        if flags.exchange {
            if replaced.is_none() {
                return Err(FsError::NotFound);
            }
            if !replaced_is_dir && to_trailing {
                return Err(FsError::NotDir);
            }
        }
        if !moving_is_dir && (from_trailing || (!flags.exchange && to_trailing)) {
            return Err(FsError::NotDir);
        }
        if moving_is_dir && self.is_within(to_dir, moving) {
            return Err(FsError::Invalid);
        }
        if let Some(target) = replaced
            && replaced_is_dir
            && self.is_within(from_dir, target)
        {
            return Err(if flags.exchange {
                FsError::Invalid
            } else {
                FsError::NotEmpty
            });
        }
        if replaced == Some(moving) {
            return Ok(None);
        }
        let from_node = self.inode(from_dir).ok_or(FsError::NotFound)?;
        let moving_node = self.inode(moving).ok_or(FsError::NotFound)?;
        if !from_node.permits(who, 3) {
            return Err(FsError::Access);
        }
        if !sticky_allows(from_node, moving_node, who) {
            return Err(FsError::Perm);
        }
        let to_node = self.inode(to_dir).ok_or(FsError::NotFound)?;
        if !to_node.permits(who, 3) {
            return Err(FsError::Access);
        }
        if let Some(target) = replaced {
            let target_node = self.inode(target).ok_or(FsError::NotFound)?;
            if !sticky_allows(to_node, target_node, who) {
                return Err(FsError::Perm);
            }
            if !flags.exchange {
                match (moving_is_dir, &target_node.kind) {
                    (true, NodeKind::Dir { entries, .. }) if !entries.is_empty() => {
                        return Err(FsError::NotEmpty);
                    }
                    (true, NodeKind::Dir { .. })
                    | (
                        false,
                        NodeKind::File(_)
                        | NodeKind::Symlink(_)
                        | NodeKind::CharDev
                        | NodeKind::BlockDev
                        | NodeKind::Fifo
                        | NodeKind::Socket,
                    ) => {}
                    (true, _) => return Err(FsError::NotDir),
                    (false, NodeKind::Dir { .. }) => return Err(FsError::IsDir),
                }
            }
        }
        let (from_name, to_name) = (from_name.to_string(), to_name.to_string());
        Ok(self.apply_rename(
            from_dir,
            &from_name,
            moving,
            to_dir,
            &to_name,
            replaced,
            flags.exchange,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_rename(
        &mut self,
        from_dir: Ino,
        from_name: &str,
        moving: Ino,
        to_dir: Ino,
        to_name: &str,
        replaced: Option<Ino>,
        exchange: bool,
    ) -> Option<Inode<F>> {
        let (nodes, now) = self.node_parts();
        let mut set_entry = |dir: Ino, name: &str, ino: Option<Ino>| {
            if let Some(Inode {
                kind: NodeKind::Dir { entries, .. },
                times,
                ..
            }) = nodes.get_mut(&dir)
            {
                match ino {
                    Some(ino) => entries.insert(name.to_string(), ino),
                    None => entries.remove(name),
                };
                times[1] = now;
                times[2] = now;
            }
        };
        set_entry(from_dir, from_name, if exchange { replaced } else { None });
        set_entry(to_dir, to_name, Some(moving));
        let mut reparent = |ino: Ino, from: Ino, to: Ino| {
            if let Some(Inode {
                kind: NodeKind::Dir { parent, .. },
                ..
            }) = nodes.get_mut(&ino)
            {
                *parent = to;
                if from != to {
                    if let Some(n) = nodes.get_mut(&from) {
                        n.nlink -= 1;
                    }
                    if let Some(n) = nodes.get_mut(&to) {
                        n.nlink += 1;
                    }
                }
            }
        };
        reparent(moving, from_dir, to_dir);
        if exchange {
            if let Some(other) = replaced {
                reparent(other, to_dir, from_dir);
            }
            return None;
        }
        let old = replaced?;
        let node = nodes.get_mut(&old)?;
        if node.is_dir() {
            node.nlink = 1;
            if let Some(n) = nodes.get_mut(&to_dir) {
                n.nlink -= 1;
            }
        } else {
            node.nlink -= 1;
        }
        self.drop_unused(old)
    }

    /// The namespace half of `open(path, flags, perm)`: find or create the inode and check
    /// what the flags ask; `make` gives a new file's contents. The open reference is taken.
    ///
    /// # Errors
    /// `EINVAL` for `O_CREAT|O_DIRECTORY`; `EEXIST` (`O_CREAT|O_EXCL` on any existing name,
    /// symlinks not followed), `ELOOP`
    /// (`O_NOFOLLOW` on a symlink), `EISDIR` (a directory opened for writing or with
    /// `O_CREAT`), `ENOTDIR` (`O_DIRECTORY` on a non-directory), `EACCES`, lookup errors.
    pub fn open(
        &mut self,
        start: Ino,
        path: &str,
        intent: OpenIntent,
        perm: u32,
        who: Access,
        make: impl FnOnce() -> F,
    ) -> FsResult<Opened> {
        self.open_at_depth(start, path, intent, perm, who, make, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_at_depth(
        &mut self,
        start: Ino,
        path: &str,
        intent: OpenIntent,
        perm: u32,
        who: Access,
        make: impl FnOnce() -> F,
        depth: usize,
    ) -> FsResult<Opened> {
        if intent.create && intent.directory {
            // Linux (since 6.4) refuses the combination outright.
            return Err(FsError::Invalid);
        }
        if !intent.create {
            let ino = self.lookup(start, path, !intent.nofollow, who)?;
            return self.finish_open(ino, intent, false, who);
        }
        let (dir, last, trailing) = self.resolve_parent(start, path, who)?;
        let Last::Normal(name) = last else {
            // `.`, `..` or `/`: an existing directory.
            return Err(if intent.exclusive {
                FsError::Exists
            } else {
                FsError::IsDir
            });
        };
        if trailing {
            return Err(FsError::IsDir);
        }
        let ino = match self.step(dir, name, who) {
            Ok(ino) => ino,
            Err(FsError::NotFound) => {
                let ino = self.create(dir, name, perm, who, make())?;
                self.open_ref(ino)?;
                return Ok(Opened {
                    ino,
                    created: true,
                    truncate: false,
                });
            }
            Err(e) => return Err(e),
        };
        if intent.exclusive {
            return Err(FsError::Exists);
        }
        let target = match &self.inode(ino).ok_or(FsError::NotFound)?.kind {
            NodeKind::Symlink(_) if intent.nofollow => return Err(FsError::Loop),
            NodeKind::Symlink(target) => target.clone(),
            _ => return self.finish_open(ino, intent, true, who),
        };
        if depth >= super::MAX_SYMLINKS {
            return Err(FsError::Loop);
        }
        // O_CREAT through a symlink opens or creates what it points to.
        self.open_at_depth(dir, &target, intent, perm, who, make, depth + 1)
    }

    /// The checks `open` makes on an inode it found, in Linux's order.
    fn finish_open(
        &mut self,
        ino: Ino,
        intent: OpenIntent,
        with_create: bool,
        who: Access,
    ) -> FsResult<Opened> {
        let node = self.inode(ino).ok_or(FsError::NotFound)?;
        let is_dir = node.is_dir();
        if with_create && is_dir {
            return Err(FsError::IsDir);
        }
        if intent.directory && !is_dir {
            return Err(FsError::NotDir);
        }
        let writes = intent.write || intent.truncate;
        match node.kind {
            NodeKind::Symlink(_) => return Err(FsError::Loop),
            NodeKind::Dir { .. } if writes => return Err(FsError::IsDir),
            _ => {}
        }
        let want = (if intent.read { 4 } else { 0 }) | (if writes { 2 } else { 0 });
        if !node.permits(who, want) {
            return Err(FsError::Access);
        }
        let truncate = intent.truncate && matches!(node.kind, NodeKind::File(_));
        self.open_ref(ino)?;
        Ok(Opened {
            ino,
            created: false,
            truncate,
        })
    }
}
