//! The socket calls on [`socket`](super::socket) pairs: `socketpair`, `sendto` / `recvfrom`,
//! `sendmsg` / `recvmsg`, `shutdown`, `getsockname` / `getpeername`, `getsockopt`, and the
//! `read` / `write` family on a socket. No ancillary data: `SCM_RIGHTS` and
//! `SCM_CREDENTIALS` are refused with `EOPNOTSUPP`, as is `MSG_OOB`. `socket(2)` itself
//! is not served (there is no `bind` / `connect` / named socket to make one useful).

use alloc::vec;
use alloc::vec::Vec;

use pagoda::mm::LinuxError;

use super::desc::{Description, Kind, flag};
use super::socket::{self, RecvFlags, SNDBUF, SockIo, SockType};
use super::user;
use super::{Block, FileCall, Files, SysResult};

/// `AF_UNIX`, and the number of address families Linux knows (`NPROTO`).
const AF_UNIX: usize = 1;
const NPROTO: usize = 46;
/// `SOCK_*` type bits beyond the type: `SOCK_NONBLOCK`, `SOCK_CLOEXEC`.
const SOCK_TYPE_MASK: usize = 0xf;
const SOCK_MAX: usize = 11;
/// `send` / `recv` flags.
const MSG_OOB: usize = 1;
const MSG_PEEK: usize = 2;
const MSG_TRUNC: usize = 0x20;
const MSG_DONTWAIT: usize = 0x40;
const MSG_WAITALL: usize = 0x100;
const MSG_NOSIGNAL: usize = 0x4000;
/// `SOL_SOCKET` and its options.
const SOL_SOCKET: usize = 1;
const SO_TYPE: usize = 3;
const SO_ERROR: usize = 4;
const SO_SNDBUF: usize = 7;
const SO_RCVBUF: usize = 8;
const SO_ACCEPTCONN: usize = 30;
const SO_PROTOCOL: usize = 38;
const SO_DOMAIN: usize = 39;
/// `SCM_RIGHTS`, `SCM_CREDENTIALS`.
const SCM_RIGHTS: u32 = 1;
const SCM_CREDENTIALS: u32 = 2;
/// `sizeof(struct sockaddr_un)`, `sizeof(struct msghdr)`, `sizeof(struct cmsghdr)`.
const SOCKADDR_UN: usize = 110;
const MSGHDR: usize = 56;
const CMSGHDR: usize = 16;
/// `net.core.optmem_max`: the largest control buffer `sendmsg` takes.
const OPTMEM_MAX: usize = 128 * 1024;

fn word(b: &[u8], at: usize) -> usize {
    usize::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// The `struct msghdr` fields the calls use.
struct MsgHdr {
    name: usize,
    namelen: u32,
    iovs: Vec<(usize, usize)>,
    control: usize,
    controllen: usize,
}

fn get_msghdr(at: usize) -> Result<MsgHdr, LinuxError> {
    let mut b = [0u8; MSGHDR];
    user::get(at, &mut b)?;
    let controllen = word(&b, 40);
    if controllen > i32::MAX as usize {
        return Err(LinuxError::ENOBUFS);
    }
    if word(&b, 24) > user::IOV_MAX {
        return Err(LinuxError::EMSGSIZE);
    }
    Ok(MsgHdr {
        name: word(&b, 0),
        namelen: u32::from_le_bytes(b[8..12].try_into().unwrap_or([0; 4])),
        iovs: user::iovecs(word(&b, 16), word(&b, 24))?,
        control: word(&b, 32),
        controllen,
    })
}

/// Checks a `sendmsg` control buffer as `__scm_send` walks it: `EINVAL` for a malformed
/// header or an unknown `SOL_SOCKET` message, `EOPNOTSUPP` for descriptors or credentials
/// (not implemented); messages of other levels are ignored, as Linux does.
fn check_control(at: usize, len: usize) -> Result<(), LinuxError> {
    // Linux allocates the buffer from the socket's option memory (`optmem_max`).
    if len > OPTMEM_MAX {
        return Err(LinuxError::ENOBUFS);
    }
    let mut buf = vec![0u8; len];
    user::get(at, &mut buf)?;
    let mut off = 0;
    while off + CMSGHDR <= len {
        let clen = word(&buf, off);
        if clen < CMSGHDR || clen > len - off {
            return Err(LinuxError::EINVAL);
        }
        let level = u32::from_le_bytes(buf[off + 8..off + 12].try_into().unwrap_or([0; 4]));
        let ty = u32::from_le_bytes(buf[off + 12..off + 16].try_into().unwrap_or([0; 4]));
        if level as usize == SOL_SOCKET {
            return Err(match ty {
                SCM_RIGHTS | SCM_CREDENTIALS => LinuxError::EOPNOTSUPP,
                _ => LinuxError::EINVAL,
            });
        }
        off += clen.next_multiple_of(8);
    }
    Ok(())
}

impl Files {
    /// The socket end behind `fd`: `EBADF`, then `ENOTSOCK`.
    fn socket(&self, fd: usize) -> Result<(alloc::sync::Arc<Description>, usize), LinuxError> {
        let d = self.get(fd)?;
        match d.kind {
            Kind::Socket(_) if !d.is_path() => Ok((d, fd)),
            _ if d.is_path() => Err(LinuxError::EBADF),
            _ => Err(LinuxError::ENOTSOCK),
        }
    }

    pub(super) fn socketpair(
        &mut self,
        domain: usize,
        ty: usize,
        proto: usize,
        sv: usize,
    ) -> SysResult {
        let (domain, ty, proto) = (domain as i32, ty as u32 as usize, proto as i32);
        let extra = ty & !SOCK_TYPE_MASK;
        if extra & !((flag::NONBLOCK | flag::CLOEXEC) as usize) != 0 {
            return Err(LinuxError::EINVAL);
        }
        let status = 2 | (extra as u32 & flag::NONBLOCK);
        let cloexec = extra & flag::CLOEXEC as usize != 0;
        // Linux takes the descriptors and stores their numbers first (EMFILE, EFAULT), and
        // only then creates the sockets: a bad family or type leaves the numbers written.
        let kind = socket_type(domain, ty & SOCK_TYPE_MASK, proto);
        let (a, b) = socket::pair(*kind.as_ref().unwrap_or(&SockType::Stream));
        let a = Description::new(Kind::Socket(a), status, None);
        let b = Description::new(Kind::Socket(b), status, None);
        let afd = self.fds().insert(a, cloexec)?;
        let bfd = match self.fds().insert(b, cloexec) {
            Ok(fd) => fd,
            Err(e) => {
                drop(self.fds().close(afd));
                return Err(e);
            }
        };
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&afd.to_le_bytes());
        out[4..].copy_from_slice(&bfd.to_le_bytes());
        if let Err(e) = user::put(sv, &out).and(kind) {
            drop(self.fds().close(afd));
            drop(self.fds().close(bfd));
            return Err(e);
        }
        Ok(0)
    }

    /// `sendto(fd, buf, len, flags, addr, addrlen)`.
    pub(super) fn sendto(&mut self, a: [usize; 6]) -> FileCall {
        let r = self.socket(a[0]).and_then(|(d, _)| {
            let name = (a[4] != 0 || a[5] != 0).then_some((a[4], a[5] as u32));
            self.send_on(&d, &[(a[1], a[2])], a[3], name)
        });
        xfer_call(r)
    }

    /// `sendmsg(fd, msg, flags)`.
    pub(super) fn sendmsg(&mut self, fd: usize, msg: usize, flags: usize) -> FileCall {
        let r = self.socket(fd).and_then(|(d, _)| {
            let m = get_msghdr(msg)?;
            if m.controllen >= CMSGHDR {
                check_control(m.control, m.controllen)?;
            }
            let name = (m.namelen != 0).then_some((m.name, m.namelen));
            self.send_on(&d, &m.iovs, flags, name)
        });
        xfer_call(r)
    }

    /// `recvfrom(fd, buf, len, flags, addr, addrlen)`: the peer is unnamed, so `*addrlen`
    /// becomes 0.
    pub(super) fn recvfrom(&mut self, a: [usize; 6]) -> FileCall {
        let r = self.socket(a[0]).and_then(|(d, _)| {
            let r = self.recv_on(&d, &[(a[1], a[2])], a[3])?;
            if let SockIo::Done(_) = r
                && a[4] != 0
                && a[5] != 0
            {
                let mut len = [0u8; 4];
                user::get(a[5], &mut len)?;
                if (u32::from_le_bytes(len) as i32) < 0 {
                    return Err(LinuxError::EINVAL);
                }
                user::put_u32(a[5], 0)?;
            }
            Ok(r.map(|(n, _)| n))
        });
        xfer_call(r)
    }

    /// `recvmsg(fd, msg, flags)`: `msg_namelen` and `msg_controllen` become 0,
    /// `msg_flags` says `MSG_TRUNC` if a message was cut.
    pub(super) fn recvmsg(&mut self, fd: usize, msg: usize, flags: usize) -> FileCall {
        let r = self.socket(fd).and_then(|(d, _)| {
            let m = get_msghdr(msg)?;
            let r = self.recv_on(&d, &m.iovs, flags)?;
            if let SockIo::Done((_, truncated)) = r {
                user::put_u32(msg + 8, 0)?;
                user::put(msg + 40, &0usize.to_le_bytes())?;
                let out = if truncated { MSG_TRUNC as u32 } else { 0 };
                user::put_u32(msg + 48, out)?;
            }
            Ok(r.map(|(n, _)| n))
        });
        xfer_call(r)
    }

    pub(super) fn shutdown(&mut self, fd: usize, how: usize) -> SysResult {
        let (d, _) = self.socket(fd)?;
        if how > 2 {
            return Err(LinuxError::EINVAL);
        }
        if let Kind::Socket(s) = &d.kind {
            s.shutdown(how);
        }
        Ok(0)
    }

    /// `getsockname` / `getpeername`: both ends are unnamed, `sa_family` only.
    pub(super) fn sockname(&mut self, fd: usize, addr: usize, len: usize) -> SysResult {
        self.socket(fd)?;
        let mut l = [0u8; 4];
        user::get(len, &mut l)?;
        let want = u32::from_le_bytes(l) as i32;
        let want = usize::try_from(want).map_err(|_| LinuxError::EINVAL)?;
        let family = (AF_UNIX as u16).to_le_bytes();
        user::put(addr, &family[..want.min(2)])?;
        user::put_u32(len, 2).map(|()| 0)
    }

    /// `getsockopt(fd, level, name, val, len)` for the `SOL_SOCKET` options a socket pair
    /// has; others are `ENOPROTOOPT`.
    pub(super) fn getsockopt(&mut self, a: [usize; 6]) -> SysResult {
        let (d, _) = self.socket(a[0])?;
        let Kind::Socket(s) = &d.kind else {
            return Err(LinuxError::ENOTSOCK);
        };
        // Other levels go to the protocol, which has no options for AF_UNIX.
        if a[1] as i32 != SOL_SOCKET as i32 {
            return Err(LinuxError::EOPNOTSUPP);
        }
        let mut l = [0u8; 4];
        user::get(a[4], &mut l)?;
        let len = usize::try_from(u32::from_le_bytes(l) as i32).map_err(|_| LinuxError::EINVAL)?;
        let v: u32 = match a[2] as i32 as usize {
            SO_TYPE => s.ty().number(),
            SO_ERROR => s.take_error().map_or(0, |e| e.code() as u32),
            SO_SNDBUF | SO_RCVBUF => SNDBUF as u32,
            SO_ACCEPTCONN | SO_PROTOCOL => 0,
            SO_DOMAIN => AF_UNIX as u32,
            _ => return Err(LinuxError::ENOPROTOOPT),
        };
        let n = len.min(4);
        user::put(a[3], &v.to_le_bytes()[..n])?;
        user::put_u32(a[4], n as u32).map(|()| 0)
    }

    /// `write` / `writev` on a socket: a send without flags.
    pub(super) fn socket_write(&mut self, d: &Description, iovs: &[(usize, usize)]) -> FileCall {
        xfer_call(self.send_on(d, iovs, 0, None))
    }

    /// `read` / `readv` on a socket: a receive without flags (a zero-length read is 0).
    pub(super) fn socket_read(&mut self, d: &Description, iovs: &[(usize, usize)]) -> FileCall {
        if iovs.iter().all(|&(_, l)| l == 0) {
            return FileCall::Done(Ok(0));
        }
        xfer_call(self.recv_on(d, iovs, 0).map(|r| r.map(|(n, _)| n)))
    }

    /// Sends the bytes of `iovs` from `d`; `name`: a destination address (`addr`, `len`).
    fn send_on(
        &mut self,
        d: &Description,
        iovs: &[(usize, usize)],
        flags: usize,
        name: Option<(usize, u32)>,
    ) -> Result<SockIo<usize>, LinuxError> {
        let Kind::Socket(s) = &d.kind else {
            return Err(LinuxError::ENOTSOCK);
        };
        if flags & MSG_OOB != 0 {
            return Err(LinuxError::EOPNOTSUPP);
        }
        if let Some((addr, len)) = name {
            match s.ty() {
                // A connected stream takes no address; seqpacket ignores it.
                SockType::Stream => return Err(LinuxError::EISCONN),
                SockType::Seqpacket => {}
                SockType::Dgram => check_addr(addr, len)?,
            }
        }
        let total: usize = iovs.iter().map(|&(_, l)| l).sum();
        let limit = match s.ty() {
            SockType::Stream => SNDBUF,
            _ if total > SNDBUF - 32 => return Err(LinuxError::EMSGSIZE),
            _ => total,
        };
        let mut data = vec![0u8; total.min(limit)];
        let mut at = 0;
        for &(base, len) in iovs {
            let n = len.min(data.len() - at);
            user::get(base, &mut data[at..at + n])?;
            at += n;
            if at == data.len() {
                break;
            }
        }
        let nonblocking = d.nonblocking() || flags & MSG_DONTWAIT != 0;
        let r = s.send(&data, nonblocking);
        if matches!(r, Err(LinuxError::EPIPE))
            && s.ty() == SockType::Stream
            && flags & MSG_NOSIGNAL == 0
        {
            self.sigpipe = true;
        }
        r
    }

    /// Receives into `iovs` on `d`: the count (the full message length with `MSG_TRUNC`)
    /// and whether a message was cut.
    fn recv_on(
        &mut self,
        d: &Description,
        iovs: &[(usize, usize)],
        flags: usize,
    ) -> Result<SockIo<(usize, bool)>, LinuxError> {
        let Kind::Socket(s) = &d.kind else {
            return Err(LinuxError::ENOTSOCK);
        };
        if flags & MSG_OOB != 0 {
            return Err(LinuxError::EOPNOTSUPP);
        }
        let f = RecvFlags {
            peek: flags & MSG_PEEK != 0,
            nonblocking: d.nonblocking() || flags & MSG_DONTWAIT != 0,
            waitall: flags & MSG_WAITALL != 0,
        };
        let total: usize = iovs.iter().map(|&(_, l)| l).sum();
        let got = match s.recv(total, f)? {
            SockIo::Done(got) => got,
            SockIo::Block(key) => return Ok(SockIo::Block(key)),
        };
        let mut at = 0;
        for &(base, len) in iovs {
            let n = len.min(got.data.len() - at);
            if let Err(e) = user::put(base, &got.data[at..at + n]) {
                if !f.peek {
                    s.unrecv(&got.data[at..]);
                }
                return if at > 0 {
                    Ok(SockIo::Done((at, false)))
                } else {
                    Err(e)
                };
            }
            at += n;
            if at == got.data.len() {
                break;
            }
        }
        let truncated = got.full > got.data.len();
        let n = if truncated && flags & MSG_TRUNC != 0 {
            got.full
        } else {
            at
        };
        Ok(SockIo::Done((n, truncated)))
    }
}

/// The type of a `socketpair(domain, ty & SOCK_TYPE_MASK, proto)`, in `__sock_create`'s
/// and `unix_create`'s order.
fn socket_type(domain: i32, base: usize, proto: i32) -> Result<SockType, LinuxError> {
    if !(0..NPROTO as i32).contains(&domain) {
        return Err(LinuxError::EAFNOSUPPORT);
    }
    if base >= SOCK_MAX {
        return Err(LinuxError::EINVAL);
    }
    // The only family this kernel has.
    if domain as usize != AF_UNIX {
        return Err(LinuxError::EAFNOSUPPORT);
    }
    if proto != 0 && proto as usize != AF_UNIX {
        return Err(LinuxError::EPROTONOSUPPORT);
    }
    match base {
        1 => Ok(SockType::Stream),
        // SOCK_RAW is a datagram socket for AF_UNIX.
        2 | 3 => Ok(SockType::Dgram),
        5 => Ok(SockType::Seqpacket),
        _ => Err(LinuxError::ESOCKTNOSUPPORT),
    }
}

/// A datagram destination: every end here is unnamed and connected, so a well-formed
/// address names no socket (`ENOENT` for a path, `ECONNREFUSED` for an abstract name).
fn check_addr(addr: usize, len: u32) -> Result<(), LinuxError> {
    let len = len as usize;
    if !(3..=SOCKADDR_UN).contains(&len) {
        return Err(LinuxError::EINVAL);
    }
    let mut b = vec![0u8; len];
    user::get(addr, &mut b)?;
    if u16::from_le_bytes([b[0], b[1]]) as usize != AF_UNIX {
        return Err(LinuxError::EINVAL);
    }
    match b.get(2) {
        Some(0) => Err(LinuxError::ECONNREFUSED),
        Some(_) => Err(LinuxError::ENOENT),
        None => Err(LinuxError::EINVAL),
    }
}

impl<T> SockIo<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> SockIo<U> {
        match self {
            SockIo::Done(v) => SockIo::Done(f(v)),
            SockIo::Block(k) => SockIo::Block(k),
        }
    }
}

/// A transfer's result as a file call: a wait is restartable (`SA_RESTART`).
fn xfer_call(r: Result<SockIo<usize>, LinuxError>) -> FileCall {
    match r {
        Ok(SockIo::Done(n)) => FileCall::Done(Ok(n)),
        Ok(SockIo::Block(key)) => FileCall::Block(Block::pipe(key)),
        Err(e) => FileCall::Done(Err(e)),
    }
}

/// Whether `d` is a socket end (for the generic read and write paths).
pub(super) fn is_socket(d: &Description) -> bool {
    matches!(d.kind, Kind::Socket(_))
}
