//! `splice(fd_in, off_in, fd_out, off_out, len, flags)` and `tee(fd_in, fd_out, len,
//! flags)`: bytes between a pipe and another pipe, a regular file, a stream socket,
//! `/dev/null`, `/dev/zero` or the console, copied through a kernel buffer (Linux moves page
//! references; what a reader sees is the same). Like Linux, a call moves what is there (at
//! most `len`, and what the output takes) and waits only before it moved anything: for data
//! in an input pipe (0 at end of file), for room in an output pipe (`EPIPE` and `SIGPIPE`
//! without readers); `SPLICE_F_NONBLOCK` or `O_NONBLOCK` on a pipe makes that `EAGAIN`.
//! Nothing is lost when the output takes less than was read: pipe and socket input is
//! peeked and only the part taken is consumed, file input is read at an offset.
//! Not served (`EINVAL`, as Linux answers for files without splice support): datagram and
//! seqpacket sockets, directories, `/proc` files.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use pagoda::fs::pipe::{Pipe, PipeRead, PipeWrite};
use pagoda::mm::LinuxError;

use super::desc::{Description, Kind, PipeIo, PipeObj, flag};
use super::socket::{RecvFlags, SockIo, SockType, SocketEnd};
use super::{Block, FileCall, Files, namespace, user, wake};

const SPLICE_F_ALL: usize = 0xf;
const SPLICE_F_NONBLOCK: usize = 2;
/// The most one call moves.
const CHUNK: usize = 64 * 1024;

/// The pipe behind either end of one.
fn pipe_of(d: &Description) -> Option<&Arc<PipeObj>> {
    match &d.kind {
        Kind::PipeRead(p) | Kind::PipeWrite(p) => Some(p),
        _ => None,
    }
}

/// The first `n` bytes of `pipe` without consuming them.
fn peek(pipe: &Pipe, n: usize) -> Vec<u8> {
    let mut copy = pipe.clone();
    let mut buf = vec![0u8; n];
    let got = match copy.read(&mut buf) {
        PipeRead::Data(got) => got,
        PipeRead::Eof | PipeRead::Empty => 0,
    };
    buf.truncate(got);
    buf
}

/// Drops the first `n` bytes of `pipe` (already delivered elsewhere).
fn consume(pipe: &mut Pipe, n: usize) {
    let mut sink = vec![0u8; n];
    let _ = pipe.read(&mut sink);
}

/// Waits for data in an input pipe: `Some(result)` ends the call.
fn input_ready(p: &PipeObj, pipe: &Pipe, nonblocking: bool) -> Option<Result<PipeIo, LinuxError>> {
    if !pipe.is_empty() {
        return None;
    }
    Some(if pipe.writers() == 0 {
        Ok(PipeIo::Done(0))
    } else if nonblocking {
        Err(LinuxError::EAGAIN)
    } else {
        Ok(PipeIo::Block(p.key))
    })
}

/// Waits for room in an output pipe: `Some(result)` ends the call (`EPIPE` without readers).
fn output_ready(p: &PipeObj, pipe: &Pipe, nonblocking: bool) -> Option<Result<PipeIo, LinuxError>> {
    Some(if pipe.readers() == 0 {
        Err(LinuxError::EPIPE)
    } else if !pipe.is_full() {
        return None;
    } else if nonblocking {
        Err(LinuxError::EAGAIN)
    } else {
        Ok(PipeIo::Block(p.key))
    })
}

/// Writes `data` into `pipe`: how much it took.
fn fill(pipe: &mut Pipe, data: &[u8]) -> usize {
    match pipe.write(data) {
        PipeWrite::Wrote(n) => n,
        PipeWrite::Full | PipeWrite::Broken => 0,
    }
}

/// A file offset argument (`loff_t *`), `None` for a null pointer.
fn get_offset(at: usize) -> Result<Option<i64>, LinuxError> {
    if at == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 8];
    user::get(at, &mut b)?;
    Ok(Some(i64::from_le_bytes(b)))
}

/// Whether `d` has positional reads and writes (`FMODE_PREAD` / `FMODE_PWRITE`).
fn positional(d: &Description) -> bool {
    matches!(d.kind, Kind::File { .. } | Kind::Null | Kind::Zero)
}

fn call(r: Result<PipeIo, LinuxError>) -> FileCall {
    match r {
        Ok(PipeIo::Done(n)) => FileCall::Done(Ok(n)),
        Ok(PipeIo::Block(key)) => FileCall::Block(Block::pipe(key)),
        Err(e) => FileCall::Done(Err(e)),
    }
}

impl Files {
    /// `splice`: Linux's order is a zero length (0), unknown flags, the descriptors, an
    /// offset given for a pipe (`ESPIPE`), the offsets (`EFAULT`), the access modes
    /// (`EBADF`), then what the two ends are.
    pub(super) fn splice(&mut self, a: [usize; 6]) -> FileCall {
        let r = self.splice_inner(a);
        if matches!(r, Err(LinuxError::EPIPE)) {
            self.sigpipe = true;
        }
        call(r)
    }

    fn splice_inner(&mut self, a: [usize; 6]) -> Result<PipeIo, LinuxError> {
        let [fd_in, off_in, fd_out, off_out, len, flags] = a;
        let flags = flags as u32 as usize;
        if len == 0 {
            return Ok(PipeIo::Done(0));
        }
        if flags & !SPLICE_F_ALL != 0 {
            return Err(LinuxError::EINVAL);
        }
        let din = self.get(fd_in)?;
        let dout = self.get(fd_out)?;
        if din.is_path() || dout.is_path() {
            return Err(LinuxError::EBADF);
        }
        let (ipipe, opipe) = (pipe_of(&din), pipe_of(&dout));
        if (ipipe.is_some() && off_in != 0) || (opipe.is_some() && off_out != 0) {
            return Err(LinuxError::ESPIPE);
        }
        let out_off = get_offset(off_out)?;
        let in_off = get_offset(off_in)?;
        if !din.readable() || !dout.writable() {
            return Err(LinuxError::EBADF);
        }
        let len = len.min(CHUNK);
        let nb = flags & SPLICE_F_NONBLOCK != 0;
        match (ipipe, opipe) {
            (Some(i), Some(o)) if Arc::ptr_eq(i, o) => Err(LinuxError::EINVAL),
            (Some(i), Some(o)) => pipe_to_pipe(
                i,
                o,
                len,
                nb || din.nonblocking() || dout.nonblocking(),
                false,
            ),
            (Some(i), None) => {
                if out_off.is_some() && !positional(&dout) {
                    return Err(LinuxError::EINVAL);
                }
                if dout.flags() & flag::APPEND != 0 {
                    return Err(LinuxError::EINVAL);
                }
                let at = out_off.unwrap_or(dout.offset() as i64);
                let at = u64::try_from(at).map_err(|_| LinuxError::EINVAL)?;
                let (r, end) = pipe_to(i, &dout, at, len, nb || din.nonblocking())?;
                finish(&dout, off_out, out_off, end)?;
                Ok(r)
            }
            (None, Some(o)) => {
                if in_off.is_some() && !positional(&din) {
                    return Err(LinuxError::EINVAL);
                }
                let at = in_off.unwrap_or(din.offset() as i64);
                let at = u64::try_from(at).map_err(|_| LinuxError::EINVAL)?;
                let (r, end) = to_pipe(&din, at, o, len, nb || dout.nonblocking())?;
                finish(&din, off_in, in_off, end)?;
                Ok(r)
            }
            (None, None) => Err(LinuxError::EINVAL),
        }
    }

    /// `tee`: copies up to `len` bytes from one pipe into another without consuming them.
    pub(super) fn tee(
        &mut self,
        fd_in: usize,
        fd_out: usize,
        len: usize,
        flags: usize,
    ) -> FileCall {
        let r = (|| {
            if flags as u32 as usize & !SPLICE_F_ALL != 0 {
                return Err(LinuxError::EINVAL);
            }
            if len == 0 {
                return Ok(PipeIo::Done(0));
            }
            let din = self.get(fd_in)?;
            let dout = self.get(fd_out)?;
            if din.is_path() || dout.is_path() || !din.readable() || !dout.writable() {
                return Err(LinuxError::EBADF);
            }
            match (pipe_of(&din), pipe_of(&dout)) {
                (Some(i), Some(o)) if !Arc::ptr_eq(i, o) => {
                    let nb =
                        flags & SPLICE_F_NONBLOCK != 0 || din.nonblocking() || dout.nonblocking();
                    pipe_to_pipe(i, o, len.min(CHUNK), nb, true)
                }
                _ => Err(LinuxError::EINVAL),
            }
        })();
        if matches!(r, Err(LinuxError::EPIPE)) {
            self.sigpipe = true;
        }
        call(r)
    }
}

/// After a transfer that ended at file position `end` (if the other end has one): the
/// user's offset is written back, or the description's offset moves.
fn finish(
    d: &Description,
    ptr: usize,
    given: Option<i64>,
    end: Option<u64>,
) -> Result<(), LinuxError> {
    let Some(end) = end else {
        return Ok(());
    };
    match given {
        Some(_) => user::put(ptr, &(end as i64).to_le_bytes()),
        None => {
            d.set_offset(end);
            Ok(())
        }
    }
}

/// Locks two different pipes in key order.
fn lock_two<'a>(
    i: &'a PipeObj,
    o: &'a PipeObj,
) -> (
    kspin::SpinNoIrqGuard<'a, Pipe>,
    kspin::SpinNoIrqGuard<'a, Pipe>,
) {
    if i.key < o.key {
        let ig = i.pipe.lock();
        (ig, o.pipe.lock())
    } else {
        let og = o.pipe.lock();
        (i.pipe.lock(), og)
    }
}

/// Pipe to pipe (`tee`: without consuming the input).
fn pipe_to_pipe(
    i: &PipeObj,
    o: &PipeObj,
    len: usize,
    nb: bool,
    tee: bool,
) -> Result<PipeIo, LinuxError> {
    let (mut ip, mut op) = lock_two(i, o);
    if let Some(r) = input_ready(i, &ip, nb) {
        return r;
    }
    if let Some(r) = output_ready(o, &op, nb) {
        return r;
    }
    let data = peek(&ip, len);
    let n = fill(&mut op, &data);
    if !tee {
        consume(&mut ip, n);
    }
    drop((ip, op));
    wake(i.key);
    wake(o.key);
    Ok(PipeIo::Done(n))
}

/// Pipe to a file, socket or device at file position `at`: the count and the new position
/// (for what has one).
fn pipe_to(
    i: &PipeObj,
    d: &Description,
    at: u64,
    len: usize,
    nb: bool,
) -> Result<(PipeIo, Option<u64>), LinuxError> {
    let data = {
        let ip = i.pipe.lock();
        if let Some(r) = input_ready(i, &ip, nb) {
            return r.map(|r| (r, None));
        }
        peek(&ip, len)
    };
    let (taken, end) = match &d.kind {
        Kind::File { ino, file } => {
            let n = file.write_at(at, &data)?;
            namespace::with(|fs| fs.touch(*ino, 1));
            (n, Some(at + n as u64))
        }
        Kind::Null | Kind::Zero => (data.len(), None),
        Kind::Console => {
            pagoda::console::write_bytes(&data);
            (data.len(), None)
        }
        Kind::Socket(s) if s.ty() == SockType::Stream => {
            match s.send(&data, nb || d.nonblocking())? {
                SockIo::Done(n) => (n, None),
                SockIo::Block(key) => return Ok((PipeIo::Block(key), None)),
            }
        }
        _ => return Err(LinuxError::EINVAL),
    };
    consume(&mut i.pipe.lock(), taken);
    wake(i.key);
    Ok((PipeIo::Done(taken), end))
}

/// A file, stream socket or device at file position `at` to a pipe.
fn to_pipe(
    d: &Description,
    at: u64,
    o: &PipeObj,
    len: usize,
    nb: bool,
) -> Result<(PipeIo, Option<u64>), LinuxError> {
    if let Some(r) = output_ready(o, &o.pipe.lock(), nb) {
        return r.map(|r| (r, None));
    }
    let data = match &d.kind {
        Kind::File { file, .. } => {
            let mut buf = vec![0u8; len];
            let n = file.read_at(at, &mut buf)?;
            buf.truncate(n);
            buf
        }
        Kind::Zero => vec![0u8; len],
        Kind::Null | Kind::Console => Vec::new(),
        Kind::Socket(s) if s.ty() == SockType::Stream => {
            match stream_peek(s, len, nb || d.nonblocking())? {
                SockIo::Done(data) => data,
                SockIo::Block(key) => return Ok((PipeIo::Block(key), None)),
            }
        }
        _ => return Err(LinuxError::EINVAL),
    };
    let taken = fill(&mut o.pipe.lock(), &data);
    if taken > 0 {
        wake(o.key);
    }
    let end = match &d.kind {
        Kind::File { .. } => Some(at + taken as u64),
        Kind::Socket(s) => {
            // Exactly the bytes the pipe took leave the socket.
            let f = RecvFlags {
                nonblocking: true,
                ..RecvFlags::default()
            };
            let _ = s.recv(taken, f);
            None
        }
        _ => None,
    };
    Ok((PipeIo::Done(taken), end))
}

/// Up to `len` bytes a stream socket holds, left queued (empty at end of file).
fn stream_peek(s: &SocketEnd, len: usize, nb: bool) -> Result<SockIo<Vec<u8>>, LinuxError> {
    let f = RecvFlags {
        peek: true,
        nonblocking: nb,
        waitall: false,
    };
    Ok(match s.recv(len, f)? {
        SockIo::Done(got) => SockIo::Done(got.data),
        SockIo::Block(key) => SockIo::Block(key),
    })
}
