//! The terminal settings of `tty.rs`: the `ioctl` requests, the `termios` flag and control
//! character numbers (`asm-generic/termbits.h`, the same on x86_64 and riscv64) and the
//! kernel's `struct termios`.

/// `ioctl` requests of a terminal (the same numbers on x86_64 and riscv64).
pub mod req {
    /// Get `struct termios`.
    pub const TCGETS: usize = 0x5401;
    /// Set it now.
    pub const TCSETS: usize = 0x5402;
    /// Set it after output drained.
    pub const TCSETSW: usize = 0x5403;
    /// Set it after output drained, discarding pending input.
    pub const TCSETSF: usize = 0x5404;
    /// Send a break (`tcsendbreak`) or drain (`tcdrain`, argument 1).
    pub const TCSBRK: usize = 0x5409;
    /// Flow control (`tcflow`): suspend or restart output, send STOP or START.
    pub const TCXONC: usize = 0x540a;
    /// `tcflow` actions.
    pub const TCOOFF: usize = 0;
    /// Restart output.
    pub const TCOON: usize = 1;
    /// Send the STOP character.
    pub const TCIOFF: usize = 2;
    /// Send the START character.
    pub const TCION: usize = 3;
    /// Discard input and/or output (`tcflush`).
    pub const TCFLSH: usize = 0x540b;
    /// Make it the caller's controlling terminal.
    pub const TIOCSCTTY: usize = 0x540e;
    /// Foreground process group.
    pub const TIOCGPGRP: usize = 0x540f;
    /// Set the foreground process group.
    pub const TIOCSPGRP: usize = 0x5410;
    /// Bytes waiting to be sent.
    pub const TIOCOUTQ: usize = 0x5411;
    /// Window size.
    pub const TIOCGWINSZ: usize = 0x5413;
    /// Set the window size.
    pub const TIOCSWINSZ: usize = 0x5414;
    /// Bytes waiting to be read.
    pub const FIONREAD: usize = 0x541b;
    /// Give up the controlling terminal.
    pub const TIOCNOTTY: usize = 0x5422;
    /// A POSIX break of a duration (`tcsendbreak`).
    pub const TCSBRKP: usize = 0x5425;
    /// The terminal's session.
    pub const TIOCGSID: usize = 0x5429;
}

/// `c_iflag` bits.
pub const ISTRIP: u32 = 0x20;
pub const INLCR: u32 = 0x40;
pub const IGNCR: u32 = 0x80;
pub const ICRNL: u32 = 0x100;
pub const IUCLC: u32 = 0x200;
pub const IXON: u32 = 0x400;
pub const IXANY: u32 = 0x800;
/// `c_oflag` bits.
pub const OPOST: u32 = 0x1;
pub const ONLCR: u32 = 0x4;
pub const OCRNL: u32 = 0x8;
/// `c_lflag` bits.
pub const ISIG: u32 = 0x1;
pub const ICANON: u32 = 0x2;
pub const ECHO: u32 = 0x8;
pub const ECHOE: u32 = 0x10;
pub const ECHOK: u32 = 0x20;
pub const ECHONL: u32 = 0x40;
pub const NOFLSH: u32 = 0x80;
pub const TOSTOP: u32 = 0x100;
pub const ECHOCTL: u32 = 0x200;
pub const ECHOKE: u32 = 0x800;
pub const IEXTEN: u32 = 0x8000;
/// `c_cc` indices.
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
/// The kernel's `struct termios` (36 bytes; the speed is in `c_cflag`).
#[derive(Clone, Copy)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; 19],
}

impl Termios {
    /// A cooked 38400-baud 8-bit terminal, as Linux sets up a serial console: `ICRNL |
    /// IXON`, `OPOST | ONLCR`, `B38400 | CS8 | CREAD`, `ISIG | ICANON | ECHO | ECHOE | ECHOK
    /// | ECHOCTL | ECHOKE | IEXTEN`, the usual control characters, `VMIN` 1.
    pub const fn cooked() -> Self {
        Self {
            iflag: 0x500,
            oflag: 0x5,
            cflag: 0xbf,
            lflag: 0x8a3b,
            line: 0,
            cc: [
                3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0,
                0,
            ],
        }
    }

    pub fn encode(&self) -> [u8; 36] {
        let mut t = [0u8; 36];
        for (i, v) in [self.iflag, self.oflag, self.cflag, self.lflag]
            .iter()
            .enumerate()
        {
            t[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        t[16] = self.line;
        t[17..].copy_from_slice(&self.cc);
        t
    }

    pub fn decode(t: &[u8; 36]) -> Self {
        let word = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        let mut cc = [0u8; 19];
        cc.copy_from_slice(&t[17..]);
        Self {
            iflag: word(0),
            oflag: word(4),
            cflag: word(8),
            lflag: word(12),
            line: t[16],
            cc,
        }
    }

    pub fn lflag(&self, bit: u32) -> bool {
        self.lflag & bit != 0
    }

    /// Whether `c` is the enabled control character `index` (0 disables one).
    pub fn is(&self, c: u8, index: usize) -> bool {
        self.cc[index] != 0 && self.cc[index] == c
    }
}
