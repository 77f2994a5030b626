//! The address-space files: `maps` lines, `smaps` accounting (Linux's proportional-set
//! rules), `smaps_rollup`, the `VmFlags` letters and `statm`.

use alloc::string::String;
use core::fmt::Write;

use super::SmapsFigures;

/// The column where Linux starts a maps line's name.
const NAME_COLUMN: usize = 73;

/// Linux's fixed-point shift for proportional sizes.
const PSS_SHIFT: u32 = 12;

/// One area as `maps` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapsArea<'a> {
    /// `[start, end)`.
    pub range: (u64, u64),
    /// Readable, writable, executable, shared.
    pub perms: (bool, bool, bool, bool),
    /// File offset (or the shared object's).
    pub offset: u64,
    /// Device major and minor.
    pub dev: (u32, u32),
    /// Inode number (0 for anonymous memory).
    pub inode: u64,
    /// The name (path, `[heap]`, `[stack]`, ...), if any.
    pub name: Option<&'a str>,
}

/// One `maps` line with its newline: `start-end perms offset dev inode`, a trailing
/// space, and the name padded to column 73, as Linux prints it.
pub fn maps_line(a: &MapsArea<'_>) -> String {
    let (r, w, x, s) = a.perms;
    let bit = |on: bool, c: char| if on { c } else { '-' };
    let mut line = alloc::format!(
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        a.range.0,
        a.range.1,
        bit(r, 'r'),
        bit(w, 'w'),
        bit(x, 'x'),
        if s { 's' } else { 'p' },
        a.offset,
        a.dev.0,
        a.dev.1,
        a.inode
    );
    if let Some(name) = a.name {
        while line.len() < NAME_COLUMN {
            line.push(' ');
        }
        line.push_str(name);
    }
    line.push('\n');
    line
}

/// What Linux's `VmFlags` line shows, for the flags Pagoda tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmFlagSet {
    /// `rd`, `wr`, `ex`, `sh`.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// Shared.
    pub shared: bool,
    /// `mw`: may become writable (`mr` and `me` are always set, as for Linux user memory
    /// without `noexec` mounts).
    pub may_write: bool,
    /// `ms`: may be shared (every shared mapping).
    pub may_share: bool,
    /// `gd`: grows down (the stack).
    pub growsdown: bool,
    /// `lo`: locked.
    pub locked: bool,
    /// `dc`: not copied on fork.
    pub dontcopy: bool,
    /// `ac`: accounted (private writable memory).
    pub account: bool,
    /// `nr`: no swap reservation.
    pub noreserve: bool,
    /// `wf`: wiped on fork.
    pub wipeonfork: bool,
}

/// The `VmFlags` value, letters in Linux's bit order, each followed by a space.
pub fn vm_flags(f: &VmFlagSet) -> String {
    let letters = [
        (f.read, "rd"),
        (f.write, "wr"),
        (f.exec, "ex"),
        (f.shared, "sh"),
        (true, "mr"),
        (f.may_write, "mw"),
        (true, "me"),
        (f.may_share, "ms"),
        (f.growsdown, "gd"),
        (f.locked, "lo"),
        (f.dontcopy, "dc"),
        (f.account, "ac"),
        (f.noreserve, "nr"),
        (f.wipeonfork, "wf"),
    ];
    let mut out = String::new();
    for (on, l) in letters {
        if on {
            out.push_str(l);
            out.push(' ');
        }
    }
    out
}

/// What kind of memory a page is, for the `Pss_*` split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageClass {
    /// Anonymous (private anonymous or a private copy).
    Anon,
    /// A page-cache page of a file.
    File,
    /// Shared memory (shared anonymous, System V).
    Shmem,
}

/// Sums pages into [`SmapsFigures`] as Linux's `smaps_account` does: a page mapped by one
/// space is private and counts fully; one mapped by `n` counts `1/n` in the proportional
/// sizes (kept with 12 fraction bits until [`finish`](Self::finish)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmapsAcc {
    fig: SmapsFigures,
    pss: u64,
    pss_dirty: u64,
    pss_anon: u64,
    pss_file: u64,
    pss_shmem: u64,
    pss_locked: u64,
}

impl SmapsAcc {
    /// Adds the area's size (`Size`).
    pub fn add_size(&mut self, bytes: u64) {
        self.fig.size = self.fig.size.saturating_add(bytes);
    }

    /// Adds one resident page of `bytes` mapped by `mappers` spaces (0 counts as 1).
    pub fn add_page(
        &mut self,
        bytes: u64,
        mappers: u64,
        dirty: bool,
        class: PageClass,
        locked: bool,
    ) {
        let mappers = mappers.max(1);
        let share = (bytes << PSS_SHIFT) / mappers;
        let f = &mut self.fig;
        f.rss += bytes;
        let slot = match (mappers > 1, dirty) {
            (true, false) => &mut f.shared.0,
            (true, true) => &mut f.shared.1,
            (false, false) => &mut f.private.0,
            (false, true) => &mut f.private.1,
        };
        *slot += bytes;
        self.pss += share;
        if dirty {
            self.pss_dirty += share;
        }
        match class {
            PageClass::Anon => {
                f.anonymous += bytes;
                self.pss_anon += share;
            }
            PageClass::File => self.pss_file += share,
            PageClass::Shmem => self.pss_shmem += share,
        }
        if locked {
            self.pss_locked += share;
        }
    }

    /// Counts `bytes` of resident anonymous memory (already added page by page) as mapped
    /// by PMD-level leaves (`AnonHugePages`).
    pub fn add_anon_huge(&mut self, bytes: u64) {
        self.fig.anon_huge = self.fig.anon_huge.saturating_add(bytes);
    }

    /// Adds another accumulator (for `smaps_rollup`).
    pub fn merge(&mut self, o: &SmapsAcc) {
        let (a, b) = (&mut self.fig, &o.fig);
        a.size += b.size;
        a.rss += b.rss;
        a.shared.0 += b.shared.0;
        a.shared.1 += b.shared.1;
        a.private.0 += b.private.0;
        a.private.1 += b.private.1;
        a.anonymous += b.anonymous;
        a.anon_huge += b.anon_huge;
        self.pss += o.pss;
        self.pss_dirty += o.pss_dirty;
        self.pss_anon += o.pss_anon;
        self.pss_file += o.pss_file;
        self.pss_shmem += o.pss_shmem;
        self.pss_locked += o.pss_locked;
    }

    /// The figures, proportional sizes rounded down to bytes.
    pub fn finish(&self) -> SmapsFigures {
        SmapsFigures {
            pss: self.pss >> PSS_SHIFT,
            pss_dirty: self.pss_dirty >> PSS_SHIFT,
            pss_anon: self.pss_anon >> PSS_SHIFT,
            pss_file: self.pss_file >> PSS_SHIFT,
            pss_shmem: self.pss_shmem >> PSS_SHIFT,
            locked: self.pss_locked >> PSS_SHIFT,
            ..self.fig
        }
    }
}

/// `/proc/<pid>/smaps_rollup`: a maps-style header line over `[start, end)` named
/// `[rollup]`, then the summed figures (with `Pss_Anon/File/Shmem`, without `Size`).
pub fn smaps_rollup(range: (u64, u64), f: &SmapsFigures) -> String {
    let mut o = maps_line(&MapsArea {
        range,
        name: Some("[rollup]"),
        ..MapsArea::default()
    });
    super::smaps_figures(&mut o, f, true);

    o
}

/// `/proc/<pid>/statm`: size, resident, shared (file and shmem resident), text, 0, data +
/// stack, 0 — in pages.
pub fn statm(size: u64, resident: u64, shared: u64, text: u64, data: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{size} {resident} {shared} {text} 0 {data} 0");
    o
}
