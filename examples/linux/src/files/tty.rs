//! The console's terminal: Linux's `N_TTY` line discipline over the polled serial port.
//! Input bytes go through `c_iflag` translation, the `ISIG` characters (which queue a
//! signal for the foreground process group: [`take_signals`]), canonical line editing
//! (`ICANON`: erase, kill, end of file, reprint) or straight to the read queue, and are
//! echoed as `c_lflag` says; output goes through `OPOST` (`ONLCR`). The serial port raises
//! no interrupts: [`poll_input`] drains it, from every read, `poll`, and the scheduler loop
//! (which also idles in ticks while a reader waits, see [`wanted`]).
//!
//! One terminal, the console, behind `/dev/console`, `/dev/tty` and the boot descriptors.
//! Its session and foreground group (job control) live here too; the calls that need the
//! process tree are the kernel's (`crate::ttyjobs`).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use pagoda::mm::LinuxError;
use pagoda_task::Signal;

pub use super::termios::req;
use super::termios::*;
use super::{WaitKey, user};
use req::*;

/// The key console readers and pollers wait on (pipe keys start at 1).
pub const CONSOLE_KEY: WaitKey = WaitKey(0);

/// Characters of an unfinished line beyond this are dropped (Linux's `N_TTY_BUF_SIZE - 1`).
const MAX_LINE: usize = 4095;
/// Input beyond this much unread is dropped (line ends still count, so a reader is woken).
const MAX_QUEUE: usize = 64 * 1024;

/// What an erase character erases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Erase {
    Char,
    Word,
    Line,
}

/// The terminal.
struct Tty {
    termios: Termios,
    /// `struct winsize`: rows, columns, x and y pixels.
    winsize: [u16; 4],
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// Input a read may take.
    ready: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines at the front of `ready` (0: an
    /// end of file, which a read returns as 0).
    lines: VecDeque<usize>,
    /// Signals the input raised for the foreground group, not yet sent (bit `n` = signal n).
    signals: u64,
    /// A reader, poller or stopped writer waits for input.
    wanted: bool,
    /// When the last byte arrived (monotonic ns; `VTIME`).
    last_rx: u64,
    /// The next byte is data (`VLNEXT` came).
    lnext: bool,
    /// Output is stopped (`VSTOP` with `IXON`): writers wait for `VSTART`.
    stopped: bool,
    /// The session the console is the controlling terminal of (0: none).
    session: u32,
    /// Its foreground process group.
    pgrp: u32,
}

static TTY: SpinNoIrq<Tty> = SpinNoIrq::new(Tty {
    termios: Termios::cooked(),
    winsize: [24, 80, 0, 0],
    line: Vec::new(),
    ready: VecDeque::new(),
    lines: VecDeque::new(),
    signals: 0,
    wanted: false,
    last_rx: 0,
    lnext: false,
    stopped: false,
    // Pid 1's session and group: the console is the controlling terminal at boot.
    session: 1,
    pgrp: 1,
});

impl Tty {
    /// Writes `bytes` as output, through `OPOST`.
    fn output(&self, bytes: &[u8]) {
        let t = &self.termios;
        if t.oflag & OPOST == 0 {
            pagoda::console::write_bytes(bytes);
            return;
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let with: &[u8] = match b {
                b'\n' if t.oflag & ONLCR != 0 => b"\r\n",
                b'\r' if t.oflag & OCRNL != 0 => b"\n",
                _ => continue,
            };
            pagoda::console::write_bytes(&bytes[start..i]);
            pagoda::console::write_bytes(with);
            start = i + 1;
        }
        pagoda::console::write_bytes(&bytes[start..]);
    }

    /// Echoes `c` (Linux's `echo_char`): a control character but tab as `^X` with
    /// `ECHOCTL`.
    fn echo(&self, c: u8) {
        let ctl = c.is_ascii_control() && c != b'\t';
        if ctl && self.termios.lflag(ECHOCTL) {
            self.output(&[b'^', c ^ 0x40]);
        } else {
            self.output(&[c]);
        }
    }

    /// Erases from the line being edited as Linux's `eraser`: one character (`VERASE`), a
    /// word (`VWERASE`: trailing non-word characters, then word characters), or the line
    /// (`VKILL`), echoing `\b \b` per column (a control character echoed as `^X` takes
    /// two, one not echoed none; a tab one), or the erase character without `ECHOE`; a kill
    /// without `ECHOK`, `ECHOKE` and `ECHOE` echoes the kill character (and a newline with
    /// `ECHOK`).
    fn erase(&mut self, c: u8, kind: Erase) {
        let t = self.termios;
        let echo = t.lflag(ECHO);
        if self.line.is_empty() {
            return;
        }
        if kind == Erase::Line && (!echo || !t.lflag(ECHOK) || !t.lflag(ECHOKE) || !t.lflag(ECHOE))
        {
            self.line.clear();
            if echo {
                self.echo(c);
                if t.lflag(ECHOK) {
                    self.output(b"\n");
                }
            }
            return;
        }
        let mut seen_word = false;
        while let Some(&last) = self.line.last() {
            if kind == Erase::Word {
                if last.is_ascii_alphanumeric() || last == b'_' {
                    seen_word = true;
                } else if seen_word {
                    break;
                }
            }
            self.line.pop();
            if echo {
                if kind == Erase::Char && !t.lflag(ECHOE) {
                    self.echo(c);
                } else {
                    let ctl = last.is_ascii_control() && last != b'\t';
                    let columns = match (ctl, t.lflag(ECHOCTL)) {
                        (true, true) => 2,
                        (true, false) => 0,
                        (false, _) => 1,
                    };
                    for _ in 0..columns {
                        self.output(b"\x08 \x08");
                    }
                }
            }
            if kind == Erase::Char {
                break;
            }
        }
    }

    /// Ends the line being edited: it becomes readable.
    fn commit_line(&mut self) {
        let n = self.line.len();
        self.ready.extend(self.line.drain(..));
        self.lines.push_back(n);
    }

    fn flush_input(&mut self) {
        self.line.clear();
        self.ready.clear();
        self.lines.clear();
    }

    /// Output starts again (`VSTART`, or any byte with `IXANY`): wakes blocked writers.
    fn start_output(&mut self) {
        if core::mem::take(&mut self.stopped) {
            super::wake(CONSOLE_KEY);
        }
    }

    /// One received byte, in the order of Linux's `n_tty_receive_buf_standard` and
    /// `n_tty_receive_char_special`: after `VLNEXT` the byte is data; else `ISTRIP`,
    /// `IUCLC`; flow control (`IXON`); the signal characters (`ISIG`); `IXANY`; CR and NL
    /// translation; canonical editing; then echo and queueing.
    fn receive(&mut self, mut c: u8) {
        let t = self.termios;
        if t.iflag & ISTRIP != 0 {
            c &= 0x7f;
        }
        if t.iflag & IUCLC != 0 && t.lflag(IEXTEN) {
            c = c.to_ascii_lowercase();
        }
        if core::mem::take(&mut self.lnext) {
            if t.iflag & IXON != 0 && t.iflag & IXANY != 0 {
                self.start_output();
            }
            self.data(c, false);
            return;
        }
        if t.iflag & IXON != 0 {
            if t.is(c, VSTART) {
                self.start_output();
                return;
            }
            if t.is(c, VSTOP) {
                self.stopped = true;
                return;
            }
        }
        if t.lflag(ISIG) {
            let sig = if t.is(c, VINTR) {
                Some(Signal::SIGINT)
            } else if t.is(c, VQUIT) {
                Some(Signal::SIGQUIT)
            } else if t.is(c, VSUSP) {
                Some(Signal::SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                if !t.lflag(NOFLSH) {
                    self.flush_input();
                }
                if t.lflag(ECHO) {
                    self.echo(c);
                }
                self.signals |= 1 << sig.num();
                return;
            }
        }
        if t.iflag & IXON != 0 && t.iflag & IXANY != 0 {
            self.start_output();
        }
        if c == b'\r' {
            if t.iflag & IGNCR != 0 {
                return;
            }
            if t.iflag & ICRNL != 0 {
                c = b'\n';
            }
        } else if c == b'\n' && t.iflag & INLCR != 0 {
            c = b'\r';
        }
        let echo = t.lflag(ECHO);
        if t.lflag(ICANON) {
            let ext = t.lflag(IEXTEN);
            if t.is(c, VERASE) {
                return self.erase(c, Erase::Char);
            }
            if ext && t.is(c, VWERASE) {
                return self.erase(c, Erase::Word);
            }
            if t.is(c, VKILL) {
                return self.erase(c, Erase::Line);
            }
            if ext && t.is(c, VLNEXT) {
                self.lnext = true;
                if echo && t.lflag(ECHOCTL) {
                    // A caret the next byte's echo overwrites.
                    self.output(b"^\x08");
                }
                return;
            }
            if echo && ext && t.is(c, VREPRINT) {
                self.echo(c);
                self.output(b"\n");
                self.output(&self.line);
                return;
            }
            if c == b'\n' {
                if echo || t.lflag(ECHONL) {
                    self.output(b"\n");
                }
                self.line.push(c);
                return self.commit_line();
            }
            if t.is(c, VEOF) {
                return self.commit_line();
            }
            if t.is(c, VEOL) || (ext && t.is(c, VEOL2)) {
                if echo {
                    self.echo(c);
                }
                self.line.push(c);
                return self.commit_line();
            }
        }
        self.data(c, true);
    }

    /// An ordinary input byte: echoed (a newline as itself when `newline_raw`, else by
    /// `echo_char`'s rule) and queued (canonical: on the line, if there is room).
    fn data(&mut self, c: u8, newline_raw: bool) {
        if self.termios.lflag(ECHO) {
            if c == b'\n' && newline_raw {
                self.output(b"\n");
            } else {
                self.echo(c);
            }
        }
        if self.termios.lflag(ICANON) {
            if self.line.len() < MAX_LINE && self.ready.len() < MAX_QUEUE {
                self.line.push(c);
            }
        } else if self.ready.len() < MAX_QUEUE {
            self.ready.push_back(c);
        }
    }

    /// Bytes a read could take now (canonical: of complete lines).
    fn available(&self) -> usize {
        if self.termios.lflag(ICANON) {
            self.lines.iter().sum()
        } else {
            self.ready.len()
        }
    }

    /// Whether `poll` reports input (Linux's `input_available_p(tty, 1)`): a complete
    /// line (an end of file counts), or `VMIN` bytes when `VTIME` is 0, else one.
    fn poll_ready(&self) -> bool {
        if self.termios.lflag(ICANON) {
            return !self.lines.is_empty();
        }
        let (min, time) = (self.termios.cc[VMIN], self.termios.cc[VTIME]);
        let amt = if time == 0 && min > 0 { min } else { 1 };
        self.ready.len() >= usize::from(amt)
    }

    /// What a read of `len` (> 0) bytes does now: `Ok(())`: it returns (with what
    /// [`Tty::take`] gives), `Err(deadline)`: it waits, until that deadline if any.
    /// Non-canonical reads follow `VMIN` and `VTIME` as `n_tty_read`: `VMIN` bytes (at most
    /// `len`), with `VTIME` as the gap after the last byte that ends the read early; with
    /// `VMIN` 0, any byte or `VTIME` since the call started (`started`: the deadline an
    /// earlier execution of the same call set), or at once if `VTIME` is 0 too.
    fn read_ready(&self, len: usize, started: Option<u64>, now: u64) -> Result<(), Option<u64>> {
        if self.termios.lflag(ICANON) {
            return if self.lines.is_empty() {
                Err(None)
            } else {
                Ok(())
            };
        }
        let (min, time) = (usize::from(self.termios.cc[VMIN]), self.termios.cc[VTIME]);
        let time_ns = u64::from(time) * 100_000_000;
        let have = self.ready.len();
        if min == 0 {
            if have > 0 || time == 0 {
                return Ok(());
            }
            let deadline = started.unwrap_or(now.saturating_add(time_ns));
            return if now >= deadline {
                Ok(())
            } else {
                Err(Some(deadline))
            };
        }
        if have >= min.min(len) {
            return Ok(());
        }
        if have == 0 || time == 0 {
            return Err(None);
        }
        let deadline = self.last_rx.saturating_add(time_ns);
        if now >= deadline {
            Ok(())
        } else {
            Err(Some(deadline))
        }
    }

    /// Takes up to `len` bytes: in canonical mode from one line only.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let n = if self.termios.lflag(ICANON) {
            let Some(first) = self.lines.front_mut() else {
                return Vec::new();
            };
            let n = len.min(*first);
            *first -= n;
            if *first == 0 {
                self.lines.pop_front();
            }
            n
        } else {
            len.min(self.ready.len())
        };
        self.ready.drain(..n).collect()
    }

    /// A new `termios`: switching canonical mode moves the pending input over.
    fn set_termios(&mut self, new: Termios) {
        let was = self.termios.lflag(ICANON);
        self.termios = new;
        match (was, new.lflag(ICANON)) {
            (true, false) => {
                self.ready.extend(self.line.drain(..));
                self.lines.clear();
            }
            (false, true) => {
                self.lines.clear();
                if !self.ready.is_empty() {
                    self.lines.push_back(self.ready.len());
                }
            }
            _ => {}
        }
    }
}

/// Drains the serial port into the line discipline; wakes the waiting readers if input
/// became readable.
pub fn poll_input() {
    let mut tty = TTY.lock();
    let mut got = false;
    while let Some(b) = pagoda::console::read_byte() {
        tty.receive(b);
        got = true;
    }
    if got {
        tty.last_rx = pagoda::time::monotonic_ns();
    }
    // A waiting read re-checks itself (VMIN counts, VTIME restarts with each byte).
    if got && tty.wanted {
        tty.wanted = false;
        super::wake(CONSOLE_KEY);
    }
}

/// Whether a reader or poller waits for console input (the scheduler then polls the port
/// while it idles).
pub fn wanted() -> bool {
    TTY.lock().wanted
}

/// Whether background writers are stopped (`TOSTOP`).
pub fn tostop() -> bool {
    TTY.lock().termios.lflag(TOSTOP)
}

/// The signals typed since the last call (`^C`, `^\`, `^Z`), for the foreground process
/// group, with that group (0: none).
pub fn take_signals() -> (u64, u32) {
    let mut tty = TTY.lock();
    (core::mem::take(&mut tty.signals), tty.pgrp)
}

/// Whether output is stopped (`VSTOP`, `TCOOFF`); if so the caller is about to wait for it
/// to start again (on [`CONSOLE_KEY`]).
pub fn output_stopped() -> bool {
    poll_input();
    let mut tty = TTY.lock();
    if tty.stopped {
        tty.wanted = true;
    }
    tty.stopped
}

/// Writes user bytes to the console (through `OPOST`).
pub fn write(bytes: &[u8]) {
    TTY.lock().output(bytes);
}

/// What a console read did.
pub enum Read {
    /// These bytes (empty: end of file, or nothing when `VMIN` / `VTIME` allow it).
    Data(Vec<u8>),
    /// Nothing yet: wait on [`CONSOLE_KEY`], until this deadline if any (pass it back as
    /// `started` when the call is executed again).
    Wait(Option<u64>),
}

/// A read of up to `len` bytes; `nonblocking`: `EAGAIN` instead of waiting; `started`: the
/// deadline an earlier execution of this same read was given.
pub fn read(len: usize, nonblocking: bool, started: Option<u64>) -> Result<Read, LinuxError> {
    poll_input();
    let mut tty = TTY.lock();
    if len == 0 {
        return Ok(Read::Data(Vec::new()));
    }
    match tty.read_ready(len, started, pagoda::time::monotonic_ns()) {
        Ok(_) => Ok(Read::Data(tty.take(len))),
        Err(_) if nonblocking => Err(LinuxError::EAGAIN),
        Err(deadline) => {
            tty.wanted = true;
            Ok(Read::Wait(deadline))
        }
    }
}

/// Whether `poll` reports input; if not, the caller is about to wait for it.
pub fn poll_readable() -> bool {
    poll_input();
    let mut tty = TTY.lock();
    let r = tty.poll_ready();
    if !r {
        tty.wanted = true;
    }
    r
}

/// The session and foreground group (job control, `crate::ttyjobs`).
pub fn job_state() -> (u32, u32) {
    let tty = TTY.lock();
    (tty.session, tty.pgrp)
}

/// Sets the session (0: none) and the foreground group.
pub fn set_job_state(session: u32, pgrp: u32) {
    let mut tty = TTY.lock();
    tty.session = session;
    tty.pgrp = pgrp;
}

/// The terminal `ioctl`s that need no process state; `ENOTTY` for the others.
pub fn ioctl(req: usize, arg: usize) -> Result<usize, LinuxError> {
    match req {
        TCGETS => {
            let t = TTY.lock().termios.encode();
            user::put(arg, &t).map(|()| 0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let mut raw = [0u8; 36];
            user::get(arg, &mut raw)?;
            let mut tty = TTY.lock();
            if req == TCSETSF {
                tty.flush_input();
            }
            tty.set_termios(Termios::decode(&raw));
            Ok(0)
        }
        TIOCGWINSZ => {
            let ws = TTY.lock().winsize;
            let mut b = [0u8; 8];
            for (i, v) in ws.iter().enumerate() {
                b[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
            }
            user::put(arg, &b).map(|()| 0)
        }
        TIOCSWINSZ => {
            let mut b = [0u8; 8];
            user::get(arg, &mut b)?;
            let ws = core::array::from_fn(|i| u16::from_le_bytes([b[i * 2], b[i * 2 + 1]]));
            let mut tty = TTY.lock();
            if tty.winsize != ws {
                tty.winsize = ws;
                tty.signals |= 1 << Signal::SIGWINCH.num();
            }
            Ok(0)
        }
        FIONREAD => {
            poll_input();
            let n = TTY.lock().available();
            user::put_u32(arg, n as u32).map(|()| 0)
        }
        // Output is written synchronously: nothing is ever queued to drain or discard.
        TIOCOUTQ => user::put_u32(arg, 0).map(|()| 0),
        TCSBRK | TCSBRKP => Ok(0),
        TCXONC => {
            let mut tty = TTY.lock();
            match arg {
                TCOOFF => tty.stopped = true,
                TCOON => tty.start_output(),
                TCIOFF | TCION => {
                    let c = tty.termios.cc[if arg == TCIOFF { VSTOP } else { VSTART }];
                    if c != 0 {
                        pagoda::console::write_bytes(&[c]);
                    }
                }
                _ => return Err(LinuxError::EINVAL),
            }
            Ok(0)
        }
        TCFLSH => match arg {
            0 | 2 => {
                let mut tty = TTY.lock();
                tty.flush_input();
                Ok(0)
            }
            1 => Ok(0),
            _ => Err(LinuxError::EINVAL),
        },
        _ => Err(LinuxError::ENOTTY),
    }
}
