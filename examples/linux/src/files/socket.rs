//! Connected `AF_UNIX` socket pairs (`socketpair`): two ends, each with a receive queue
//! the other end sends into — bytes for `SOCK_STREAM`, whole messages for `SOCK_DGRAM` and
//! `SOCK_SEQPACKET` — and Linux's `sk_shutdown` bits. Waiters sleep on the pair's one key
//! (the machinery pipes use: [`WaitKey`], [`wake`]); every change posts it.
//!
//! Linux's rules, checked on its 6.x kernels: `shutdown` of a stream or seqpacket end is
//! mirrored on the peer (`SHUT_WR` here is `SHUT_RD` there) and the last close shuts the
//! peer down completely (reads drain, then end of file; sends `EPIPE`), with `ECONNRESET`
//! for the peer if unread data was thrown away. A datagram end is not shut down by its
//! peer: its sends get `ECONNREFUSED` once, then `ENOTCONN`. Sent data is charged to the
//! sender's buffer (`wmem_default`, 212992 bytes) until it is received; `POLLOUT` needs a
//! quarter of it free, as `unix_writable` does.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::mm::LinuxError;

use super::poll::ev::*;
use super::{WaitKey, new_key, wake};

/// `POLLRDHUP`: the peer shut its sending side down.
const POLLRDHUP: u16 = 0x2000;
/// A socket's send buffer (Linux's `net.core.wmem_default`).
pub const SNDBUF: usize = 212_992;
/// What one queued datagram costs beyond its bytes (the `sk_buff` Linux charges).
const MSG_OVERHEAD: usize = 768;
/// `sk_shutdown` bits: no more receiving, no more sending.
const RCV: u8 = 1;
const SEND: u8 = 2;

/// The socket types `socketpair(AF_UNIX, ...)` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    /// `SOCK_STREAM`: a byte stream.
    Stream,
    /// `SOCK_DGRAM`: unreliable-by-contract messages (reliable here, as on Linux).
    Dgram,
    /// `SOCK_SEQPACKET`: a connection carrying messages.
    Seqpacket,
}

impl SockType {
    /// The `SOCK_*` number (`SO_TYPE`).
    pub fn number(self) -> u32 {
        match self {
            SockType::Stream => 1,
            SockType::Dgram => 2,
            SockType::Seqpacket => 5,
        }
    }
}

/// One end's state.
#[derive(Default)]
struct End {
    /// Stream bytes the peer sent and this end has not received.
    bytes: VecDeque<u8>,
    /// Messages the peer sent (datagram, seqpacket).
    msgs: VecDeque<Vec<u8>>,
    /// What `msgs` is charged to the peer's send buffer.
    charged: usize,
    /// [`RCV`] and [`SEND`].
    shut: u8,
    /// Some description still refers to this end.
    open: bool,
    /// Datagram end whose dead peer refused a send: `ENOTCONN` from then on.
    disconnected: bool,
    /// A pending error (`SO_ERROR`): `ECONNRESET` after the peer dropped unread data.
    err: Option<LinuxError>,
}

impl End {
    fn queued(&self) -> usize {
        self.bytes.len() + self.charged
    }
}

/// A connected pair.
pub struct SocketPair {
    /// Waiters on either end sleep on this key.
    pub key: WaitKey,
    /// The type both ends have.
    pub ty: SockType,
    ends: SpinNoIrq<[End; 2]>,
}

/// One end of a pair, as a description refers to it; dropping it is the end's last close.
pub struct SocketEnd {
    /// The pair.
    pub pair: Arc<SocketPair>,
    /// Which end (0 or 1).
    pub side: usize,
}

/// What a send or receive did.
pub enum SockIo<T> {
    /// It finished.
    Done(T),
    /// It would wait on this key.
    Block(WaitKey),
}

/// A received chunk: the bytes (at most what was asked for) and the message's full length
/// (`MSG_TRUNC`; the byte count for streams).
pub struct Received {
    /// The bytes for the caller.
    pub data: Vec<u8>,
    /// The length of the whole message.
    pub full: usize,
}

/// How a receive goes.
#[derive(Clone, Copy, Default)]
pub struct RecvFlags {
    /// `MSG_PEEK`: leave the data queued.
    pub peek: bool,
    /// `O_NONBLOCK` or `MSG_DONTWAIT`.
    pub nonblocking: bool,
    /// `MSG_WAITALL` (streams): wait for all of it, or for as much as the buffer holds.
    pub waitall: bool,
}

/// A new connected pair of `ty`: its two ends.
pub fn pair(ty: SockType) -> (SocketEnd, SocketEnd) {
    let open = || End {
        open: true,
        ..End::default()
    };
    let pair = Arc::new(SocketPair {
        key: new_key(),
        ty,
        ends: SpinNoIrq::new([open(), open()]),
    });
    (
        SocketEnd {
            pair: pair.clone(),
            side: 0,
        },
        SocketEnd { pair, side: 1 },
    )
}

fn would_block<T>(key: WaitKey, nonblocking: bool) -> Result<SockIo<T>, LinuxError> {
    if nonblocking {
        Err(LinuxError::EAGAIN)
    } else {
        Ok(SockIo::Block(key))
    }
}

impl SocketEnd {
    fn peer(&self) -> usize {
        1 - self.side
    }

    /// The socket type.
    pub fn ty(&self) -> SockType {
        self.pair.ty
    }

    /// Sends `data` (a whole message for datagram types). Streams take what fits and
    /// return the count; `EPIPE` on a stream is the caller's cue for `SIGPIPE`.
    pub fn send(&self, data: &[u8], nonblocking: bool) -> Result<SockIo<usize>, LinuxError> {
        let key = self.pair.key;
        let (me, peer) = (self.side, self.peer());
        let mut e = self.pair.ends.lock();
        if self.pair.ty == SockType::Stream {
            if e[me].shut & SEND != 0 {
                return Err(LinuxError::EPIPE);
            }
            if data.is_empty() {
                return Ok(SockIo::Done(0));
            }
            let room = SNDBUF.saturating_sub(e[peer].bytes.len());
            if room == 0 {
                return would_block(key, nonblocking);
            }
            let n = room.min(data.len());
            e[peer].bytes.extend(&data[..n]);
            drop(e);
            wake(key);
            return Ok(SockIo::Done(n));
        }
        // unix_dgram_sendmsg's order: not connected, too long, shut down, no room, dead
        // peer, peer not receiving.
        if e[me].disconnected {
            return Err(LinuxError::ENOTCONN);
        }
        if data.len() > SNDBUF - 32 {
            return Err(LinuxError::EMSGSIZE);
        }
        if e[me].shut & SEND != 0 {
            return Err(LinuxError::EPIPE);
        }
        // As sock_alloc_send_pskb: room while the buffer is not yet full (one message may
        // overshoot it).
        if e[peer].charged >= SNDBUF {
            return would_block(key, nonblocking);
        }
        if !e[peer].open {
            e[me].disconnected = true;
            return Err(LinuxError::ECONNREFUSED);
        }
        if e[peer].shut & RCV != 0 {
            return Err(LinuxError::EPIPE);
        }
        e[peer].charged += data.len() + MSG_OVERHEAD;
        e[peer].msgs.push_back(data.to_vec());
        drop(e);
        wake(key);
        Ok(SockIo::Done(data.len()))
    }

    /// Receives up to `len` bytes (one message, or stream bytes). A pending error comes
    /// first for messages, once the queue is empty for streams; with nothing queued, end of
    /// file if receiving was shut down, else wait.
    pub fn recv(&self, len: usize, f: RecvFlags) -> Result<SockIo<Received>, LinuxError> {
        let key = self.pair.key;
        let mut ends = self.pair.ends.lock();
        let e = &mut ends[self.side];
        let empty = e.bytes.is_empty() && e.msgs.is_empty();
        // The datagram path reports a pending error before any queued message; a stream
        // only once its bytes are drained.
        if (empty || self.pair.ty != SockType::Stream)
            && let Some(err) = e.err.take()
        {
            return Err(err);
        }
        if empty {
            if e.shut & RCV != 0 {
                return Ok(SockIo::Done(Received {
                    data: Vec::new(),
                    full: 0,
                }));
            }
            return would_block(key, f.nonblocking);
        }
        let got = if self.pair.ty == SockType::Stream {
            let enough = e.bytes.len() >= len.min(SNDBUF);
            if f.waitall && !f.nonblocking && !enough && e.shut & RCV == 0 && e.err.is_none() {
                return Ok(SockIo::Block(key));
            }
            let n = len.min(e.bytes.len());
            let data: Vec<u8> = if f.peek {
                e.bytes.iter().take(n).copied().collect()
            } else {
                e.bytes.drain(..n).collect()
            };
            Received { data, full: n }
        } else {
            let mut data = if f.peek {
                e.msgs.front().cloned().unwrap_or_default()
            } else {
                let m = e.msgs.pop_front().unwrap_or_default();
                e.charged = e.charged.saturating_sub(m.len() + MSG_OVERHEAD);
                m
            };
            let full = data.len();
            data.truncate(len);
            Received { data, full }
        };
        drop(ends);
        if !f.peek {
            wake(key);
        }
        Ok(SockIo::Done(got))
    }

    /// Puts stream bytes a failed copy to the user could not deliver back in front.
    pub fn unrecv(&self, data: &[u8]) {
        if self.pair.ty == SockType::Stream {
            let mut ends = self.pair.ends.lock();
            for &b in data.iter().rev() {
                ends[self.side].bytes.push_front(b);
            }
        }
    }

    /// `shutdown(how)`: 0 `SHUT_RD`, 1 `SHUT_WR`, 2 `SHUT_RDWR` (checked by the caller).
    pub fn shutdown(&self, how: usize) {
        let bits = (how as u8 + 1) & (RCV | SEND);
        let mut e = self.pair.ends.lock();
        e[self.side].shut |= bits;
        if self.pair.ty != SockType::Dgram {
            // The peer's view: our receiving side is its sending side.
            let mirrored = ((bits & RCV) << 1) | ((bits & SEND) >> 1);
            e[self.peer()].shut |= mirrored;
        }
        drop(e);
        wake(self.pair.key);
    }

    /// Bytes waiting (`FIONREAD`): all of a stream or seqpacket queue, a datagram's next
    /// message.
    pub fn pending(&self) -> usize {
        let e = self.pair.ends.lock();
        let me = &e[self.side];
        match self.pair.ty {
            SockType::Stream => me.bytes.len(),
            SockType::Seqpacket => me.msgs.iter().map(Vec::len).sum(),
            SockType::Dgram => me.msgs.front().map_or(0, Vec::len),
        }
    }

    /// Takes the pending error (`SO_ERROR`).
    pub fn take_error(&self) -> Option<LinuxError> {
        self.pair.ends.lock()[self.side].err.take()
    }

    /// The `poll` mask, as `unix_poll` / `unix_dgram_poll` compute it.
    pub fn mask(&self) -> u16 {
        let e = self.pair.ends.lock();
        let me = &e[self.side];
        let mut m = 0;
        if me.err.is_some() {
            m |= POLLERR;
        }
        if me.shut == RCV | SEND {
            m |= POLLHUP;
        }
        if me.shut & RCV != 0 {
            m |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if !me.bytes.is_empty() || !me.msgs.is_empty() {
            m |= POLLIN | POLLRDNORM;
        }
        if e[self.peer()].queued() * 4 <= SNDBUF {
            m |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        m
    }
}

impl Drop for SocketEnd {
    /// The end's last close: the peer of a stream or seqpacket end is shut down (with
    /// `ECONNRESET` if this end dropped unread data); what this end had queued is freed.
    fn drop(&mut self) {
        let (me, peer) = (self.side, self.peer());
        let mut e = self.pair.ends.lock();
        let unread = e[me].queued() > 0;
        e[me].open = false;
        e[me].bytes = VecDeque::new();
        e[me].msgs = VecDeque::new();
        e[me].charged = 0;
        if self.pair.ty != SockType::Dgram && e[peer].open {
            e[peer].shut = RCV | SEND;
            if unread {
                e[peer].err = Some(LinuxError::ECONNRESET);
            }
        }
        drop(e);
        wake(self.pair.key);
    }
}
