//! Inodes, directories and the namespace operations.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};

use super::path::{check_new_name, parse};
use super::{FsError, FsResult, MAX_SYMLINKS};

/// An inode number.
pub type Ino = u64;

/// The root directory's inode number.
pub const ROOT_INO: Ino = 1;

/// The most hard links one inode may have.
const MAX_LINKS: u32 = 65_000;

/// Who asks: the ids permission checks use (the effective ones, as Linux's fs ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access {
    /// User id; 0 bypasses read, write and search checks.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Access {
    /// Root.
    pub const ROOT: Access = Access { uid: 0, gid: 0 };
}

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind<F> {
    /// A directory: names to inodes (without `.` and `..`), and its parent.
    Dir {
        /// Entries by name.
        entries: BTreeMap<String, Ino>,
        /// The parent directory (the root is its own parent).
        parent: Ino,
    },
    /// A regular file; its contents are the kernel's.
    File(F),
    /// A symbolic link.
    Symlink(String),
    /// A character device.
    CharDev,
    /// A block device.
    BlockDev,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
}

/// An inode: its kind and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode<F> {
    /// What it is.
    pub kind: NodeKind<F>,
    /// Permission bits (`0o7777`).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Hard links (directories: 2 + subdirectories).
    pub nlink: u32,
    /// Device number of device nodes.
    pub rdev: u64,
    /// Last access, modification, status change (seconds, nanoseconds).
    pub times: [(i64, i64); 3],
    /// Open references (the kernel's open files): the inode outlives its last link while any.
    opens: u32,
}

impl<F> Inode<F> {
    /// The `S_IF*` type bits of `st_mode`.
    pub fn type_bits(&self) -> u32 {
        match self.kind {
            NodeKind::Dir { .. } => 0o040_000,
            NodeKind::File(_) => 0o100_000,
            NodeKind::Symlink(_) => 0o120_000,
            NodeKind::CharDev => 0o020_000,
            NodeKind::BlockDev => 0o060_000,
            NodeKind::Fifo => 0o010_000,
            NodeKind::Socket => 0o140_000,
        }
    }

    /// `st_mode`: type and permission bits.
    pub fn mode(&self) -> u32 {
        self.type_bits() | self.perm
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }

    /// Whether `who` has all of `want` (bits of `0o7`: read 4, write 2, execute/search 1).
    pub fn permits(&self, who: Access, want: u32) -> bool {
        if who.uid == 0 {
            // Root may read and write anything, search any directory, and execute a file
            // with at least one execute bit.
            return want & 1 == 0 || self.is_dir() || self.perm & 0o111 != 0;
        }
        let shift = if who.uid == self.uid {
            6
        } else if who.gid == self.gid {
            3
        } else {
            0
        };
        (self.perm >> shift) & want == want
    }

    /// The `d_type` of `getdents64`.
    pub fn d_type(&self) -> u8 {
        (self.type_bits() >> 12) as u8
    }
}

/// The last component of a path that names an entry to create or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Last<'p> {
    /// The path is `/` (or only slashes).
    Root,
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// A name.
    Normal(&'p str),
}

/// `renameat2` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenameFlags {
    /// `RENAME_NOREPLACE`: fail with `EEXIST` if the new name exists.
    pub noreplace: bool,
    /// `RENAME_EXCHANGE`: swap two existing names.
    pub exchange: bool,
}

impl RenameFlags {
    /// Decodes `renameat2`'s flags.
    ///
    /// # Errors
    /// `EINVAL` for unknown bits, `RENAME_WHITEOUT` (no overlay file systems here), or
    /// `NOREPLACE` with `EXCHANGE`.
    pub fn from_bits(bits: u32) -> FsResult<Self> {
        let flags = RenameFlags {
            noreplace: bits & 1 != 0,
            exchange: bits & 2 != 0,
        };
        if bits & !3 != 0 || (flags.noreplace && flags.exchange) {
            return Err(FsError::Invalid);
        }
        Ok(flags)
    }
}

/// A RAM namespace whose regular files hold an `F`.
#[derive(Debug, Clone)]
pub struct Fs<F> {
    pub(crate) nodes: BTreeMap<Ino, Inode<F>>,
    next_ino: Ino,
    now: (i64, i64),
}

impl<F> Fs<F> {
    /// A namespace with only `/` (mode `0o755`, owned by root).
    pub fn new() -> Self {
        let root = Inode {
            kind: NodeKind::Dir {
                entries: BTreeMap::new(),
                parent: ROOT_INO,
            },
            perm: 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            rdev: 0,
            times: [(0, 0); 3],
            opens: 0,
        };
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT_INO, root);
        Self {
            nodes,
            next_ino: ROOT_INO + 1,
            now: (0, 0),
        }
    }

    /// Sets the time stamped on changes from now on (the kernel calls it with its clock).
    pub fn set_time(&mut self, sec: i64, nsec: i64) {
        self.now = (sec, nsec);
    }

    /// The time stamped on changes.
    pub(crate) fn now(&self) -> (i64, i64) {
        self.now
    }

    /// The inode `ino`, if it exists.
    pub fn inode(&self, ino: Ino) -> Option<&Inode<F>> {
        self.nodes.get(&ino)
    }

    /// How many inodes exist (linked or open).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: the root always exists.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn node(&self, ino: Ino) -> FsResult<&Inode<F>> {
        self.nodes.get(&ino).ok_or(FsError::NotFound)
    }

    pub(crate) fn node_mut(&mut self, ino: Ino) -> FsResult<&mut Inode<F>> {
        self.nodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    pub(crate) fn entries(&self, dir: Ino) -> FsResult<&BTreeMap<String, Ino>> {
        match &self.node(dir)?.kind {
            NodeKind::Dir { entries, .. } => Ok(entries),
            _ => Err(FsError::NotDir),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> FsResult<&mut BTreeMap<String, Ino>> {
        match &mut self.node_mut(dir)?.kind {
            NodeKind::Dir { entries, .. } => Ok(entries),
            _ => Err(FsError::NotDir),
        }
    }

    pub(crate) fn parent_of(&self, dir: Ino) -> FsResult<Ino> {
        match &self.node(dir)?.kind {
            NodeKind::Dir { parent, .. } => Ok(*parent),
            _ => Err(FsError::NotDir),
        }
    }

    /// One step of a walk: `name` inside `dir`, with search permission.
    pub(crate) fn step(&self, dir: Ino, name: &str, who: Access) -> FsResult<Ino> {
        let node = self.node(dir)?;
        if !node.is_dir() {
            return Err(FsError::NotDir);
        }
        if !node.permits(who, 1) {
            return Err(FsError::Access);
        }
        match name {
            "." => return Ok(dir),
            ".." => return self.parent_of(dir),
            _ => {}
        }
        self.entries(dir)?
            .get(name)
            .copied()
            .ok_or(FsError::NotFound)
    }

    /// Resolves `path` from directory `start` (the cwd or a dirfd). Symlinks are followed,
    /// the last one only with `follow`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES` (search permission), `ELOOP`, `ENAMETOOLONG`.
    pub fn lookup(&self, start: Ino, path: &str, follow: bool, who: Access) -> FsResult<Ino> {
        let mut links = 0;
        self.walk(start, path, follow, who, &mut links)
    }

    fn walk(
        &self,
        start: Ino,
        path: &str,
        follow: bool,
        who: Access,
        links: &mut usize,
    ) -> FsResult<Ino> {
        let parsed = parse(path)?;
        let mut at = if parsed.absolute { ROOT_INO } else { start };
        let last = parsed.parts.len();
        for (i, part) in parsed.parts.iter().enumerate() {
            let dir = at;
            at = self.step(dir, part, who)?;
            let is_last = i + 1 == last;
            if let NodeKind::Symlink(target) = &self.node(at)?.kind
                && (!is_last || follow || parsed.trailing_slash)
            {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(FsError::Loop);
                }
                at = self.walk(dir, target, true, who, links)?;
            }
        }
        if parsed.trailing_slash && !self.node(at)?.is_dir() {
            return Err(FsError::NotDir);
        }
        Ok(at)
    }

    /// The directory that would hold `path`'s last component, that component, and whether
    /// the path ends in `/`. The directory part is resolved and must be a directory.
    fn parent_and_name<'p>(
        &self,
        start: Ino,
        path: &'p str,
        who: Access,
    ) -> FsResult<(Ino, Last<'p>, bool)> {
        let parsed = parse(path)?;
        let Some((&name, dirs)) = parsed.parts.split_last() else {
            return Ok((ROOT_INO, Last::Root, parsed.trailing_slash));
        };
        let base = if parsed.absolute { ROOT_INO } else { start };
        let mut links = 0;
        let mut dir = base;
        for part in dirs {
            let prev = dir;
            dir = self.step(prev, part, who)?;
            if let NodeKind::Symlink(target) = &self.node(dir)?.kind {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(FsError::Loop);
                }
                dir = self.walk(prev, target, true, who, &mut links)?;
            }
        }
        if !self.node(dir)?.is_dir() {
            return Err(FsError::NotDir);
        }
        let last = match name {
            "." => Last::Dot,
            ".." => Last::DotDot,
            n => Last::Normal(n),
        };
        Ok((dir, last, parsed.trailing_slash))
    }

    fn alloc(&mut self, kind: NodeKind<F>, perm: u32, who: Access) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if matches!(kind, NodeKind::Dir { .. }) {
            2
        } else {
            1
        };
        let node = Inode {
            kind,
            perm: perm & 0o7777,
            uid: who.uid,
            gid: who.gid,
            nlink,
            rdev: 0,
            times: [self.now; 3],
            opens: 0,
        };
        self.nodes.insert(ino, node);
        ino
    }

    fn touch_dir(&mut self, dir: Ino) {
        let now = self.now;
        if let Ok(node) = self.node_mut(dir) {
            node.times[1] = now;
            node.times[2] = now;
        }
    }

    /// Creates an entry `name` in `dir` for a new inode of `kind` (checks done by callers
    /// except existence and permission).
    fn add(
        &mut self,
        start: Ino,
        path: &str,
        kind: NodeKind<F>,
        perm: u32,
        who: Access,
    ) -> FsResult<Ino> {
        let (dir, last, trailing) = self.parent_and_name(start, path, who)?;
        let Last::Normal(name) = last else {
            return Err(FsError::Exists);
        };
        check_new_name(name)?;
        if self.entries(dir)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let is_dir = matches!(kind, NodeKind::Dir { .. });
        if trailing && !is_dir {
            // `symlink("x/")`, `mknod("x/")`: Linux finds no name to create.
            return Err(FsError::NotFound);
        }
        if !self.node(dir)?.permits(who, 3) {
            return Err(FsError::Access);
        }
        if is_dir && self.node(dir)?.nlink >= MAX_LINKS {
            return Err(FsError::TooManyLinks);
        }
        let kind = match kind {
            NodeKind::Dir { entries, .. } => NodeKind::Dir {
                entries,
                parent: dir,
            },
            other => other,
        };
        let ino = self.alloc(kind, perm, who);
        self.entries_mut(dir)?.insert(name.to_string(), ino);
        if is_dir {
            self.node_mut(dir)?.nlink += 1;
        }
        self.touch_dir(dir);
        Ok(ino)
    }

    /// `mkdir(path, perm)` (the caller applied the umask).
    ///
    /// # Errors
    /// `EEXIST` (also for `.`, `..`, `/`), `ENOENT`, `ENOTDIR`, `EACCES` (write and search on
    /// the parent), `EMLINK`, `ENAMETOOLONG`, `ELOOP`.
    pub fn mkdir(&mut self, start: Ino, path: &str, perm: u32, who: Access) -> FsResult<Ino> {
        let kind = NodeKind::Dir {
            entries: BTreeMap::new(),
            parent: ROOT_INO,
        };
        self.add(start, path, kind, perm, who)
    }

    /// A new regular file holding `contents` (`open(O_CREAT)` of a missing name, `mknod`).
    ///
    /// # Errors
    /// As [`mkdir`](Self::mkdir), and `ENOENT` for a path ending in `/`.
    pub fn create(
        &mut self,
        start: Ino,
        path: &str,
        perm: u32,
        who: Access,
        contents: F,
    ) -> FsResult<Ino> {
        self.add(start, path, NodeKind::File(contents), perm, who)
    }

    /// `symlink(target, path)`.
    ///
    /// # Errors
    /// As [`create`](Self::create); `ENOENT` for an empty target.
    pub fn symlink(&mut self, target: &str, start: Ino, path: &str, who: Access) -> FsResult<Ino> {
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        if target.len() > super::MAX_PATH {
            return Err(FsError::NameTooLong);
        }
        self.add(
            start,
            path,
            NodeKind::Symlink(target.to_string()),
            0o777,
            who,
        )
    }

    /// `mknod` of a device node, fifo or socket with device number `rdev`.
    ///
    /// # Errors
    /// As [`create`](Self::create); `EINVAL` for a directory, file or symlink kind; `EPERM`
    /// for device nodes unless root.
    pub fn mknod(
        &mut self,
        start: Ino,
        path: &str,
        kind: NodeKind<F>,
        perm: u32,
        rdev: u64,
        who: Access,
    ) -> FsResult<Ino> {
        match kind {
            NodeKind::CharDev | NodeKind::BlockDev if who.uid != 0 => return Err(FsError::Perm),
            NodeKind::CharDev | NodeKind::BlockDev | NodeKind::Fifo | NodeKind::Socket => {}
            _ => return Err(FsError::Invalid),
        }
        let ino = self.add(start, path, kind, perm, who)?;
        self.node_mut(ino)?.rdev = rdev;
        Ok(ino)
    }

    /// `readlink(path)`: the target.
    ///
    /// # Errors
    /// `EINVAL` if the path names something other than a symlink; lookup errors.
    pub fn readlink(&self, start: Ino, path: &str, who: Access) -> FsResult<&str> {
        let ino = self.lookup(start, path, false, who)?;
        match &self.node(ino)?.kind {
            NodeKind::Symlink(target) => Ok(target),
            _ => Err(FsError::Invalid),
        }
    }

    /// The contents of regular file `ino`.
    pub fn contents(&self, ino: Ino) -> Option<&F> {
        match &self.nodes.get(&ino)?.kind {
            NodeKind::File(f) => Some(f),
            _ => None,
        }
    }

    /// An open file now refers to `ino`: it lives on after its last link is gone.
    ///
    /// # Errors
    /// `ENOENT` for an unknown inode.
    pub fn open_ref(&mut self, ino: Ino) -> FsResult<()> {
        self.node_mut(ino)?.opens += 1;
        Ok(())
    }

    /// An open file of `ino` was closed; returns the inode if this freed it (no link and no
    /// other open file), so the kernel can release its contents.
    pub fn close_ref(&mut self, ino: Ino) -> Option<Inode<F>> {
        let node = self.nodes.get_mut(&ino)?;
        node.opens = node.opens.saturating_sub(1);
        self.free_if_unused(ino)
    }

    fn free_if_unused(&mut self, ino: Ino) -> Option<Inode<F>> {
        let node = self.nodes.get(&ino)?;
        let gone = if node.is_dir() {
            node.nlink <= 1
        } else {
            node.nlink == 0
        };
        if gone && node.opens == 0 && ino != ROOT_INO {
            return self.nodes.remove(&ino);
        }
        None
    }

    pub(crate) fn node_parts(&mut self) -> (&mut BTreeMap<Ino, Inode<F>>, (i64, i64)) {
        (&mut self.nodes, self.now)
    }

    pub(crate) fn resolve_parent<'p>(
        &self,
        start: Ino,
        path: &'p str,
        who: Access,
    ) -> FsResult<(Ino, Last<'p>, bool)> {
        self.parent_and_name(start, path, who)
    }

    pub(crate) fn drop_unused(&mut self, ino: Ino) -> Option<Inode<F>> {
        self.free_if_unused(ino)
    }
}

impl<F> Default for Fs<F> {
    fn default() -> Self {
        Self::new()
    }
}
