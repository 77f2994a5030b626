//! Moving bytes: `read`, `write`, `readv`, `writev`, `pread64`, `pwrite64`, `lseek`.
//! Transfers go through a kernel buffer in chunks; a fault after some bytes ends the call
//! early with the count so far, as on Linux.

use alloc::vec;

use pagoda::mm::LinuxError;

use super::desc::{Description, Kind, PipeIo, flag};
use super::user::{self, MAX_RW};
use super::{FileCall, Files, SysResult, WaitKey, namespace};

/// The kernel buffer one step of a transfer uses.
const CHUNK: usize = 64 * 1024;

/// What one transfer did.
enum Xfer {
    Done(usize),
    Block(WaitKey),
    /// Wait on the key until the deadline (a console read with `VTIME`).
    Until(WaitKey, u64),
}

impl From<Result<Xfer, LinuxError>> for FileCall {
    fn from(r: Result<Xfer, LinuxError>) -> Self {
        match r {
            Ok(Xfer::Done(n)) => FileCall::Done(Ok(n)),
            Ok(Xfer::Block(key)) => FileCall::Block(super::Block::pipe(key)),
            Ok(Xfer::Until(key, at)) => FileCall::Block(super::Block {
                deadline: Some(at),
                ..super::Block::pipe(key)
            }),
            Err(e) => FileCall::Done(Err(e)),
        }
    }
}

/// `d` if it is a socket end.
fn socket_of(d: alloc::sync::Arc<Description>) -> Result<alloc::sync::Arc<Description>, ()> {
    if super::sockcall::is_socket(&d) {
        Ok(d)
    } else {
        Err(())
    }
}

/// Ends a transfer at its first error: the bytes so far, or the error if none.
fn partial(done: usize, e: LinuxError) -> Result<Xfer, LinuxError> {
    if done > 0 {
        Ok(Xfer::Done(done))
    } else {
        Err(e)
    }
}

impl Files {
    /// `started`: the deadline an earlier execution of this read waited until.
    pub(super) fn read(
        &mut self,
        fd: usize,
        buf: usize,
        len: usize,
        started: Option<u64>,
    ) -> FileCall {
        if let Ok(d) = self.get(fd).map_err(|_| ()).and_then(socket_of) {
            return self.socket_read(&d, &[(buf, len.min(MAX_RW))]);
        }
        let r = self
            .get(fd)
            .and_then(|d| self.xfer(&d, buf, len, None, false, started));
        r.into()
    }

    pub(super) fn write(&mut self, fd: usize, buf: usize, len: usize) -> FileCall {
        if let Ok(d) = self.get(fd).map_err(|_| ()).and_then(socket_of) {
            return self.socket_write(&d, &[(buf, len.min(MAX_RW))]);
        }
        let r = self
            .get(fd)
            .and_then(|d| self.xfer(&d, buf, len, None, true, None));
        r.into()
    }

    pub(super) fn readv(
        &mut self,
        fd: usize,
        iov: usize,
        count: usize,
        started: Option<u64>,
    ) -> FileCall {
        self.socket_vector(fd, iov, count, false)
            .unwrap_or_else(|| self.vector(fd, iov, count, false, started).into())
    }

    pub(super) fn writev(&mut self, fd: usize, iov: usize, count: usize) -> FileCall {
        self.socket_vector(fd, iov, count, true)
            .unwrap_or_else(|| self.vector(fd, iov, count, true, None).into())
    }

    /// `readv` / `writev` on a socket: one receive or send of all the iovecs (one
    /// datagram); `None` if `fd` is no socket.
    fn socket_vector(
        &mut self,
        fd: usize,
        iov: usize,
        count: usize,
        write: bool,
    ) -> Option<FileCall> {
        let d = self.get(fd).map_err(|_| ()).and_then(socket_of).ok()?;
        Some(match user::iovecs(iov, count) {
            Err(e) => FileCall::Done(Err(e)),
            Ok(iovs) if write => self.socket_write(&d, &iovs),
            Ok(iovs) => self.socket_read(&d, &iovs),
        })
    }

    /// `readv` / `writev`: the iovecs in order, stopping at the first short transfer; it
    /// blocks only before anything moved.
    fn vector(
        &mut self,
        fd: usize,
        iov: usize,
        count: usize,
        write: bool,
        started: Option<u64>,
    ) -> Result<Xfer, LinuxError> {
        let d = self.get(fd)?;
        let ok = if write { d.writable() } else { d.readable() };
        if !ok {
            return Err(LinuxError::EBADF);
        }
        let iovs = user::iovecs(iov, count)?;
        let mut total = 0;
        for (base, len) in iovs {
            match self.xfer(&d, base, len, None, write, started) {
                Ok(Xfer::Done(n)) => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                Ok(x @ (Xfer::Block(_) | Xfer::Until(..))) if total == 0 => return Ok(x),
                Ok(Xfer::Block(_) | Xfer::Until(..)) => break,
                Err(e) => return partial(total, e),
            }
        }
        Ok(Xfer::Done(total))
    }

    /// `pread64` / `pwrite64`: Linux's order is `EINVAL` for a negative offset, `EBADF`,
    /// `ESPIPE` for what has no offset, then the access mode.
    fn positional(&mut self, fd: usize, buf: usize, len: usize, at: i64, write: bool) -> SysResult {
        let at = u64::try_from(at).map_err(|_| LinuxError::EINVAL)?;
        let d = self.get(fd)?;
        if matches!(
            d.kind,
            Kind::PipeRead(_) | Kind::PipeWrite(_) | Kind::Console | Kind::Socket(_)
        ) {
            return Err(LinuxError::ESPIPE);
        }
        match self.xfer(&d, buf, len, Some(at), write, None)? {
            Xfer::Done(n) => Ok(n),
            // Only pipes and the console block, and they were refused above.
            Xfer::Block(_) | Xfer::Until(..) => Err(LinuxError::EAGAIN),
        }
    }

    pub(super) fn pread(&mut self, fd: usize, buf: usize, len: usize, at: i64) -> SysResult {
        self.positional(fd, buf, len, at, false)
    }

    pub(super) fn pwrite(&mut self, fd: usize, buf: usize, len: usize, at: i64) -> SysResult {
        self.positional(fd, buf, len, at, true)
    }

    /// One read or write of `len` bytes at user `buf` on `d`; `at`: a positional transfer
    /// (the description's offset is neither used nor moved).
    fn xfer(
        &mut self,
        d: &Description,
        buf: usize,
        len: usize,
        at: Option<u64>,
        write: bool,
        started: Option<u64>,
    ) -> Result<Xfer, LinuxError> {
        let ok = if write { d.writable() } else { d.readable() };
        if !ok {
            return Err(LinuxError::EBADF);
        }
        let len = len.min(MAX_RW);
        if write {
            self.write_to(d, buf, len, at)
        } else {
            read_from(d, buf, len, at, started)
        }
    }

    fn write_to(
        &mut self,
        d: &Description,
        buf: usize,
        len: usize,
        at: Option<u64>,
    ) -> Result<Xfer, LinuxError> {
        match &d.kind {
            Kind::Console => {
                // Output stopped (^S): wait for ^Q.
                if super::tty::output_stopped() {
                    if d.nonblocking() {
                        return Err(LinuxError::EAGAIN);
                    }
                    return Ok(Xfer::Block(super::tty::CONSOLE_KEY));
                }
                let mut chunk = vec![0u8; len.min(CHUNK)];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(chunk.len());
                    if let Err(e) = user::get(buf.wrapping_add(done), &mut chunk[..n]) {
                        return partial(done, e);
                    }
                    super::tty::write(&chunk[..n]);
                    done += n;
                }
                Ok(Xfer::Done(done))
            }
            Kind::Null | Kind::Zero => Ok(Xfer::Done(len)),
            Kind::File { ino, file } => {
                // O_APPEND writes at the end, also for pwrite (as Linux does).
                let append = d.flags() & flag::APPEND != 0;
                let mut pos = match at {
                    _ if append => file.size(),
                    Some(p) => p,
                    None => d.offset(),
                };
                let mut chunk = vec![0u8; len.min(CHUNK)];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(chunk.len());
                    if let Err(e) = user::get(buf.wrapping_add(done), &mut chunk[..n]) {
                        if done == 0 {
                            return Err(e);
                        }
                        break;
                    }
                    match file.write_at(pos, &chunk[..n]) {
                        Ok(w) => {
                            pos += w as u64;
                            done += w;
                        }
                        Err(e) if done == 0 => return Err(e),
                        Err(_) => break,
                    }
                }
                if at.is_none() {
                    d.set_offset(pos);
                }
                if done > 0 {
                    namespace::with(|fs| fs.touch(*ino, 1));
                }
                Ok(Xfer::Done(done))
            }
            Kind::PipeWrite(p) => {
                // Chunk by chunk while the pipe takes all of each; a blocking writer that
                // moved some bytes returns the short count rather than waiting (the call
                // is restarted from scratch after a wait, so it must not have written).
                let mut chunk = vec![0u8; len.min(CHUNK)];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(chunk.len());
                    if let Err(e) = user::get(buf.wrapping_add(done), &mut chunk[..n]) {
                        return partial(done, e);
                    }
                    match p.write(&chunk[..n], d.nonblocking() || done > 0) {
                        Ok(PipeIo::Done(w)) => {
                            done += w;
                            if w < n {
                                break;
                            }
                        }
                        Ok(PipeIo::Block(key)) => return Ok(Xfer::Block(key)),
                        Err(LinuxError::EPIPE) if done == 0 => {
                            self.sigpipe = true;
                            return Err(LinuxError::EPIPE);
                        }
                        Err(e) => return partial(done, e),
                    }
                }
                Ok(Xfer::Done(done))
            }
            Kind::Dir(_) => Err(LinuxError::EISDIR),
            Kind::Proc(f) => {
                let mut data = vec![0u8; len.min(CHUNK)];
                user::get(buf, &mut data)?;
                let pos = at.unwrap_or_else(|| d.offset());
                let n = f.write_at(pos, &data)?;
                if at.is_none() {
                    d.set_offset(pos + n as u64);
                }
                Ok(Xfer::Done(n))
            }
            Kind::Path(_) | Kind::PipeRead(_) => Err(LinuxError::EBADF),
            // Sockets take the send path (`socket_write`); they have no offset.
            Kind::Socket(_) => Err(LinuxError::ESPIPE),
        }
    }

    pub(super) fn lseek(&mut self, fd: usize, off: i64, whence: usize) -> SysResult {
        const SEEK_SET: usize = 0;
        const SEEK_CUR: usize = 1;
        const SEEK_END: usize = 2;
        const SEEK_DATA: usize = 3;
        const SEEK_HOLE: usize = 4;
        let d = self.get(fd)?;
        if d.is_path() {
            return Err(LinuxError::EBADF);
        }
        if !d.seekable() {
            return Err(LinuxError::ESPIPE);
        }
        if whence > SEEK_HOLE {
            return Err(LinuxError::EINVAL);
        }
        let size = match &d.kind {
            // Linux's null and zero devices accept any seek and stay at 0.
            Kind::Null | Kind::Zero => return Ok(0),
            Kind::File { file, .. } => file.size() as i64,
            Kind::Proc(f) => f.size(),
            Kind::Dir(_) if matches!(whence, SEEK_SET | SEEK_CUR) => 0,
            _ => return Err(LinuxError::EINVAL),
        };
        let cur = d.offset() as i64;
        let new = match whence {
            SEEK_SET => Some(off),
            SEEK_CUR => cur.checked_add(off),
            SEEK_END => size.checked_add(off),
            // One data extent covering the whole file: holes only at the end.
            SEEK_DATA if off >= 0 && off < size => Some(off),
            SEEK_HOLE if off >= 0 && off < size => Some(size),
            _ => return Err(LinuxError::ENXIO),
        };
        let new = new.filter(|&n| n >= 0).ok_or(LinuxError::EINVAL)?;
        d.set_offset(new as u64);
        Ok(new as usize)
    }
}

/// A read of `len` bytes into user `buf`.
fn read_from(
    d: &Description,
    buf: usize,
    len: usize,
    at: Option<u64>,
    started: Option<u64>,
) -> Result<Xfer, LinuxError> {
    match &d.kind {
        Kind::Console => match super::tty::read(len.min(CHUNK), d.nonblocking(), started)? {
            super::tty::Read::Data(data) => {
                // The bytes are taken: a fault loses them, as on Linux.
                user::put(buf, &data).map(|()| Xfer::Done(data.len()))
            }
            super::tty::Read::Wait(None) => Ok(Xfer::Block(super::tty::CONSOLE_KEY)),
            super::tty::Read::Wait(Some(at)) => Ok(Xfer::Until(super::tty::CONSOLE_KEY, at)),
        },
        Kind::Null => Ok(Xfer::Done(0)),
        Kind::Zero => {
            let zeros = vec![0u8; len.min(CHUNK)];
            let mut done = 0;
            while done < len {
                let n = (len - done).min(zeros.len());
                if let Err(e) = user::put(buf.wrapping_add(done), &zeros[..n]) {
                    return partial(done, e);
                }
                done += n;
            }
            Ok(Xfer::Done(done))
        }
        Kind::File { file, .. } => {
            let file = file.clone();
            read_seekable(d, buf, len, at, |pos, out| file.read_at(pos, out))
        }
        Kind::Proc(f) => read_seekable(d, buf, len, at, |pos, out| f.read_at(pos, out)),
        Kind::PipeRead(p) => {
            if len == 0 {
                return Ok(Xfer::Done(0));
            }
            let mut data = vec![0u8; len.min(CHUNK)];
            match p.read(&mut data, d.nonblocking())? {
                PipeIo::Done(n) => user::put(buf, &data[..n]).map(|()| Xfer::Done(n)),
                PipeIo::Block(key) => Ok(Xfer::Block(key)),
            }
        }
        Kind::Dir(_) => Err(LinuxError::EISDIR),
        Kind::Path(_) | Kind::PipeWrite(_) => Err(LinuxError::EBADF),
        // Sockets take the receive path (`socket_read`); they have no offset.
        Kind::Socket(_) => Err(LinuxError::ESPIPE),
    }
}

/// Reads from something with an offset through `source(pos, out) -> n`.
fn read_seekable(
    d: &Description,
    buf: usize,
    len: usize,
    at: Option<u64>,
    mut source: impl FnMut(u64, &mut [u8]) -> Result<usize, LinuxError>,
) -> Result<Xfer, LinuxError> {
    let mut pos = at.unwrap_or_else(|| d.offset());
    let mut chunk = vec![0u8; len.min(CHUNK)];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(chunk.len());
        let n = match source(pos, &mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        if let Err(e) = user::put(buf.wrapping_add(done), &chunk[..n]) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        pos += n as u64;
        done += n;
        if n < want {
            break;
        }
    }
    if at.is_none() {
        d.set_offset(pos);
    }
    Ok(Xfer::Done(done))
}
