//! A process's file-descriptor table: lowest-free allocation, the close-on-exec flag, the dup
//! family and `close_range`, with `RLIMIT_NOFILE` and Linux's error order.
//!
//! What a descriptor refers to (`T`: the kernel's open file description, shared by `dup`s and
//! across `fork`) is opaque here; dropping the last `T` is the kernel's "last close".

use alloc::vec::Vec;

use axerrno::LinuxError;

/// The default soft `RLIMIT_NOFILE`.
pub const DEFAULT_NOFILE: usize = 1024;
/// The hard ceiling of `RLIMIT_NOFILE` (Linux's `fs.nr_open` default).
pub const NR_OPEN: usize = 1 << 20;

/// `close_range` flag: mark close-on-exec instead of closing.
pub const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
/// `close_range` flag: unshare the table first (Pagoda's tables are per process already).
pub const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;

#[derive(Debug, Clone)]
struct Slot<T> {
    file: T,
    cloexec: bool,
}

/// A file-descriptor table.
#[derive(Debug, Clone)]
pub struct FdTable<T> {
    slots: Vec<Option<Slot<T>>>,
    limit: usize,
}

impl<T> Default for FdTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> FdTable<T> {
    /// An empty table with the default limit.
    pub fn new() -> Self {
        Self {
            slots: Vec::new(),
            limit: DEFAULT_NOFILE,
        }
    }

    /// The soft `RLIMIT_NOFILE`: descriptors are below it.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit (`setrlimit(RLIMIT_NOFILE)`); open descriptors above it stay open, as
    /// in Linux.
    ///
    /// # Errors
    /// `EPERM` above [`NR_OPEN`].
    pub fn set_limit(&mut self, limit: usize) -> Result<(), LinuxError> {
        if limit > NR_OPEN {
            return Err(LinuxError::EPERM);
        }
        self.limit = limit;
        Ok(())
    }

    /// How many descriptors are open.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The open file `fd` refers to.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn get(&self, fd: i32) -> Result<&T, LinuxError> {
        self.slot(fd).map(|s| &s.file)
    }

    fn slot(&self, fd: i32) -> Result<&Slot<T>, LinuxError> {
        let fd = usize::try_from(fd).map_err(|_| LinuxError::EBADF)?;
        self.slots
            .get(fd)
            .and_then(Option::as_ref)
            .ok_or(LinuxError::EBADF)
    }

    fn lowest_free(&self, from: usize) -> Option<usize> {
        (from..self.limit).find(|&fd| self.slots.get(fd).is_none_or(Option::is_none))
    }

    fn put(&mut self, fd: usize, file: T, cloexec: bool) -> Option<T> {
        if self.slots.len() <= fd {
            self.slots.resize_with(fd + 1, || None);
        }
        self.slots[fd]
            .replace(Slot { file, cloexec })
            .map(|s| s.file)
    }

    /// Installs `file` at the lowest free descriptor (`open`, `pipe`, `socket`).
    ///
    /// # Errors
    /// `EMFILE` when every descriptor below the limit is open; `file` is dropped.
    pub fn insert(&mut self, file: T, cloexec: bool) -> Result<i32, LinuxError> {
        self.insert_from(0, file, cloexec)
    }

    /// Installs `file` at the lowest free descriptor `>= min` (`F_DUPFD`).
    ///
    /// # Errors
    /// `EINVAL` if `min` is not below the limit; `EMFILE` if none is free.
    pub fn insert_from(&mut self, min: usize, file: T, cloexec: bool) -> Result<i32, LinuxError> {
        if min >= self.limit {
            return Err(LinuxError::EINVAL);
        }
        let fd = self.lowest_free(min).ok_or(LinuxError::EMFILE)?;
        self.put(fd, file, cloexec);
        Ok(fd as i32)
    }

    /// `close(fd)`: returns what it referred to.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn close(&mut self, fd: i32) -> Result<T, LinuxError> {
        self.slot(fd)?;
        let slot = self.slots[fd as usize].take().ok_or(LinuxError::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(slot.file)
    }

    /// Whether `fd` is close-on-exec (`F_GETFD`).
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn cloexec(&self, fd: i32) -> Result<bool, LinuxError> {
        self.slot(fd).map(|s| s.cloexec)
    }

    /// Sets close-on-exec (`F_SETFD`).
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), LinuxError> {
        self.slot(fd)?;
        if let Some(Some(slot)) = self.slots.get_mut(fd as usize) {
            slot.cloexec = on;
        }
        Ok(())
    }

    /// `execve`: closes every close-on-exec descriptor; returns what they referred to.
    pub fn exec(&mut self) -> Vec<T> {
        let mut closed = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                closed.extend(slot.take().map(|s| s.file));
            }
        }
        closed
    }

    /// `close_range(first, last, flags)`; returns the files it closed.
    ///
    /// # Errors
    /// `EINVAL` for unknown flags or `first > last`.
    pub fn close_range(&mut self, first: u32, last: u32, flags: u32) -> Result<Vec<T>, LinuxError> {
        if flags & !(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE) != 0 || first > last {
            return Err(LinuxError::EINVAL);
        }
        let end = (last as usize).saturating_add(1).min(self.slots.len());
        let mut closed = Vec::new();
        for slot in self.slots.iter_mut().take(end).skip(first as usize) {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                if let Some(s) = slot {
                    s.cloexec = true;
                }
            } else {
                closed.extend(slot.take().map(|s| s.file));
            }
        }
        Ok(closed)
    }

    /// Every open descriptor, ascending.
    pub fn fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(fd, _)| fd as i32)
    }
}

impl<T: Clone> FdTable<T> {
    /// `dup(fd)`: the lowest free descriptor, without close-on-exec.
    ///
    /// # Errors
    /// `EBADF`, `EMFILE`.
    pub fn dup(&mut self, fd: i32) -> Result<i32, LinuxError> {
        let file = self.get(fd)?.clone();
        self.insert(file, false)
    }

    /// `fcntl(fd, F_DUPFD / F_DUPFD_CLOEXEC, min)`.
    ///
    /// # Errors
    /// `EBADF`; `EINVAL` if `min` is negative or not below the limit; `EMFILE`.
    pub fn dup_from(&mut self, fd: i32, min: i64, cloexec: bool) -> Result<i32, LinuxError> {
        let file = self.get(fd)?.clone();
        let min = usize::try_from(min).map_err(|_| LinuxError::EINVAL)?;
        self.insert_from(min, file, cloexec)
    }

    /// `dup2(old, new)`: returns `new` and what it referred to before, if anything.
    ///
    /// # Errors
    /// `EBADF` if `new` is not below the limit or `old` is not open (in that order, as Linux).
    pub fn dup2(&mut self, old: i32, new: i32) -> Result<(i32, Option<T>), LinuxError> {
        if old == new {
            self.get(old)?;
            return Ok((new, None));
        }
        self.dup3(old, new, false)
    }

    /// `dup3(old, new, O_CLOEXEC?)` (the flag check is the caller's: only `O_CLOEXEC` is valid).
    ///
    /// # Errors
    /// `EINVAL` if `old == new`; `EBADF` if `new` is negative or not below the limit, or
    /// `old` is not open.
    pub fn dup3(
        &mut self,
        old: i32,
        new: i32,
        cloexec: bool,
    ) -> Result<(i32, Option<T>), LinuxError> {
        if old == new {
            return Err(LinuxError::EINVAL);
        }
        let slot = usize::try_from(new)
            .ok()
            .filter(|&n| n < self.limit)
            .ok_or(LinuxError::EBADF)?;
        let file = self.get(old)?.clone();
        Ok((new, self.put(slot, file, cloexec)))
    }
}
