//! `vmsplice(fd, iov, nr_segs, flags)`: user memory into a pipe (its write end) or a pipe
//! into user memory (its read end).
//!
//! Linux's vmsplice into a pipe takes references to the user pages instead of copying
//! them. Since its COW fixes (5.8 / 5.19) the observable contract of such a read-only pin is
//! that the pipe's reader gets the content the pages had at vmsplice time even when the
//! process (or a forked child sharing the pages) writes to them or unmaps them afterwards,
//! and that no write ever leaks through the pin into another process: what kselftest mm's
//! `cow` checks. Copying the bytes into the pipe at call time gives exactly that contract;
//! the one difference is that a later write by the *same* process to a page it maps
//! exclusively, which Linux would let the reader see, is not seen here (the pipe kept a
//! snapshot). `SPLICE_F_GIFT` and `SPLICE_F_MOVE` are hints and change nothing.
//!
//! Like Linux, the pipe is filled page piece by page piece (an iovec is split at page
//! boundaries), a full pipe makes the call wait (only `SPLICE_F_NONBLOCK`, not the pipe's
//! `O_NONBLOCK`, makes it `EAGAIN`), and a pipe without readers is `EPIPE` with `SIGPIPE`.

use alloc::vec;

use pagoda::mm::LinuxError;

use super::desc::{Kind, PipeIo};
use super::{Block, FileCall, Files, user};

/// `SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT`.
const SPLICE_F_ALL: usize = 0xf;
const SPLICE_F_NONBLOCK: usize = 2;
const PAGE: usize = 4096;
/// The most one step of a read into user memory moves.
const CHUNK: usize = 64 * 1024;

impl Files {
    pub(super) fn vmsplice(&mut self, fd: usize, iov: usize, nr: usize, flags: usize) -> FileCall {
        match self.vmsplice_inner(fd, iov, nr, flags as u32 as usize) {
            Ok(PipeIo::Done(n)) => FileCall::Done(Ok(n)),
            Ok(PipeIo::Block(key)) => FileCall::Block(Block::pipe(key)),
            Err(e) => FileCall::Done(Err(e)),
        }
    }

    /// Linux's order: unknown flags (`EINVAL`), the descriptor (`EBADF`, also when it is
    /// neither readable nor writable), the iovecs (`EINVAL`, `EFAULT`), nothing to move (0),
    /// then a descriptor that is no pipe end of the right direction (`EBADF`).
    fn vmsplice_inner(
        &mut self,
        fd: usize,
        iov: usize,
        nr: usize,
        flags: usize,
    ) -> Result<PipeIo, LinuxError> {
        if flags & !SPLICE_F_ALL != 0 {
            return Err(LinuxError::EINVAL);
        }
        let d = self.get(fd)?;
        let to_pipe = d.writable();
        if !to_pipe && !d.readable() {
            return Err(LinuxError::EBADF);
        }
        let iovs = user::iovecs(iov, nr)?;
        if iovs.iter().all(|&(_, len)| len == 0) {
            return Ok(PipeIo::Done(0));
        }
        let nonblocking = flags & SPLICE_F_NONBLOCK != 0;
        match (&d.kind, to_pipe) {
            (Kind::PipeWrite(p), true) => {
                let mut done = 0;
                let mut page = vec![0u8; PAGE];
                for (base, len) in iovs {
                    let mut at = 0;
                    while at < len {
                        let start = base.wrapping_add(at);
                        let n = (PAGE - start % PAGE).min(len - at);
                        if let Err(e) = user::get(start, &mut page[..n]) {
                            return if done > 0 {
                                Ok(PipeIo::Done(done))
                            } else {
                                Err(e)
                            };
                        }
                        // At most a page: the pipe takes all of it or nothing.
                        match p.write(&page[..n], true) {
                            Ok(PipeIo::Done(w)) => done += w,
                            Err(LinuxError::EPIPE) if done == 0 => {
                                self.sigpipe = true;
                                return Err(LinuxError::EPIPE);
                            }
                            Err(LinuxError::EAGAIN) | Ok(PipeIo::Block(_)) if done == 0 => {
                                return if nonblocking {
                                    Err(LinuxError::EAGAIN)
                                } else {
                                    Ok(PipeIo::Block(p.key))
                                };
                            }
                            Err(_) | Ok(PipeIo::Block(_)) => return Ok(PipeIo::Done(done)),
                        }
                        at += n;
                    }
                }
                Ok(PipeIo::Done(done))
            }
            (Kind::PipeRead(p), false) => {
                let mut done = 0;
                let mut buf = vec![0u8; CHUNK];
                for (base, len) in iovs {
                    let mut at = 0;
                    while at < len {
                        let want = (len - at).min(CHUNK);
                        let n = match p.read(&mut buf[..want], nonblocking || done > 0) {
                            Ok(PipeIo::Done(0)) => return Ok(PipeIo::Done(done)),
                            Ok(PipeIo::Done(n)) => n,
                            Ok(PipeIo::Block(key)) => return Ok(PipeIo::Block(key)),
                            Err(_) if done > 0 => return Ok(PipeIo::Done(done)),
                            Err(e) => return Err(e),
                        };
                        if let Err(e) = user::put(base.wrapping_add(at), &buf[..n]) {
                            return if done > 0 {
                                Ok(PipeIo::Done(done))
                            } else {
                                Err(e)
                            };
                        }
                        done += n;
                        at += n;
                        if n < want {
                            return Ok(PipeIo::Done(done));
                        }
                    }
                }
                Ok(PipeIo::Done(done))
            }
            _ => Err(LinuxError::EBADF),
        }
    }
}
