//! `/sys/kernel/mm/transparent_hugepage`: Linux 6.12's files with its formats, defaults and
//! checks (`mm/huge_memory.c`, `mm/khugepaged.c`, `mm/shmem.c`).
//!
//! `enabled` and `hugepages-<size>kB/enabled` (orders 2 to 9) are `pagoda_mm::thp`'s policy,
//! which the fault path follows. The rest is what Pagoda has no mechanism for, answered as
//! Linux configured that way would:
//! - `use_zero_page`: Pagoda has no huge zero page, so it reads `0`; writing `0` is accepted,
//!   `1` is `EINVAL` (a setting that would be a lie).
//! - `defrag`: stored and read back; Pagoda never compacts memory, so it changes nothing.
//! - `shmem_enabled`: Pagoda has no huge shared memory: `never` (the default) and `deny` are
//!   accepted, the modes that would enable it are `EINVAL`. There are no per-size
//!   `shmem_enabled` files, so programs see no shared-memory sizes.
//! - `khugepaged/*`: stored with Linux's defaults and range checks and read back; Pagoda has
//!   no background collapse, so `full_scans` and `pages_collapsed` stay 0.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use pagoda::mm::LinuxError;
use pagoda_mm::thp::{self, ThpMode, ThpOrderMode};

const DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// A `khugepaged/` number: its name, Linux's default and how a write is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `kstrtoul`, at most 1, `kstrtoul`'s own error (`single_hugepage_flag_store`).
    Flag,
    /// `kstrtouint`, any error `EINVAL`; `nonzero`: 0 is `EINVAL` too.
    Uint { nonzero: bool },
    /// `kstrtoul`, at most 511 (`HPAGE_PMD_NR - 1`), any error `EINVAL`.
    Ptes,
    /// A statistic (`0444`).
    Stat,
}

const KNOBS: [(&str, u64, Check); 9] = [
    ("defrag", 1, Check::Flag),
    (
        "alloc_sleep_millisecs",
        60000,
        Check::Uint { nonzero: false },
    ),
    (
        "scan_sleep_millisecs",
        10000,
        Check::Uint { nonzero: false },
    ),
    ("max_ptes_none", 511, Check::Ptes),
    ("max_ptes_swap", 64, Check::Ptes),
    ("max_ptes_shared", 256, Check::Ptes),
    ("pages_to_scan", 4096, Check::Uint { nonzero: true }),
    ("full_scans", 0, Check::Stat),
    ("pages_collapsed", 0, Check::Stat),
];

static KNOB_VALUES: [AtomicU64; 9] = {
    let mut a = [const { AtomicU64::new(0) }; 9];
    let mut i = 0;
    while i < KNOBS.len() {
        a[i] = AtomicU64::new(KNOBS[i].1);
        i += 1;
    }
    a
};

const DEFRAG: [&str; 5] = ["always", "defer", "defer+madvise", "madvise", "never"];
const SHMEM: [&str; 6] = ["always", "within_size", "advise", "never", "deny", "force"];
/// The choices of `defrag` and `shmem_enabled` (indices into the lists above); Linux's
/// defaults: `madvise`, `never`.
static DEFRAG_AT: AtomicU64 = AtomicU64::new(3);
static SHMEM_AT: AtomicU64 = AtomicU64::new(3);

/// One attribute file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// `enabled`.
    Enabled,
    /// `hugepages-<size>kB/enabled` of an order.
    OrderEnabled(u32),
    /// `hpage_pmd_size`.
    PmdSize,
    /// `use_zero_page`.
    UseZeroPage,
    /// `defrag`.
    Defrag,
    /// `shmem_enabled`.
    ShmemEnabled,
    /// `khugepaged/<KNOBS[i]>`.
    Knob(usize),
}

/// The directories (parents first) and files of the tree.
pub fn tree() -> (Vec<String>, Vec<(String, Attr)>) {
    let mut dirs = alloc::vec![String::from(DIR), format!("{DIR}/khugepaged")];
    let mut files: Vec<(String, Attr)> = [
        ("enabled", Attr::Enabled),
        ("hpage_pmd_size", Attr::PmdSize),
        ("use_zero_page", Attr::UseZeroPage),
        ("defrag", Attr::Defrag),
        ("shmem_enabled", Attr::ShmemEnabled),
    ]
    .into_iter()
    .map(|(n, a)| (format!("{DIR}/{n}"), a))
    .collect();
    for (i, (name, _, _)) in KNOBS.iter().enumerate() {
        files.push((format!("{DIR}/khugepaged/{name}"), Attr::Knob(i)));
    }
    for order in thp::orders() {
        let d = format!("{DIR}/hugepages-{}kB", 4u32 << order);
        files.push((format!("{d}/enabled"), Attr::OrderEnabled(order)));
        dirs.push(d);
    }
    (dirs, files)
}

/// `words` with the one at `at` in brackets, as sysfs shows a choice.
fn choice(words: &[&str], at: u64) -> String {
    let shown: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i as u64 == at {
                format!("[{w}]")
            } else {
                String::from(*w)
            }
        })
        .collect();
    format!("{}\n", shown.join(" "))
}

/// Linux's `sysfs_streq`: `text` is `word`, maybe with one trailing newline.
fn streq(text: &[u8], word: &str) -> bool {
    text.strip_suffix(b"\n").unwrap_or(text) == word.as_bytes()
}

/// Linux's `kstrtoull(text, 10)`: an optional `+`, decimal digits, one optional newline.
///
/// # Errors
/// `EINVAL` for anything else, `ERANGE` past `max`.
pub fn kstrto(text: &[u8], max: u64) -> Result<u64, LinuxError> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(LinuxError::EINVAL);
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(LinuxError::ERANGE)?;
    }
    if v > max {
        return Err(LinuxError::ERANGE);
    }
    Ok(v)
}

impl Attr {
    /// The file's mode (Linux's).
    pub fn mode(self) -> u32 {
        match self {
            Self::PmdSize => 0o444,
            Self::Knob(i) if KNOBS[i].2 == Check::Stat => 0o444,
            _ => 0o644,
        }
    }

    /// The text a read shows.
    pub fn show(self) -> String {
        match self {
            Self::Enabled => format!("{}\n", thp::mode()),
            Self::OrderEnabled(o) => match thp::order_mode(o) {
                Ok(m) => format!("{m}\n"),
                Err(_) => String::new(),
            },
            Self::PmdSize => format!("{}\n", 4096u64 << thp::PMD_ORDER),
            Self::UseZeroPage => String::from("0\n"),
            Self::Defrag => choice(&DEFRAG, DEFRAG_AT.load(Ordering::Relaxed)),
            Self::ShmemEnabled => choice(&SHMEM, SHMEM_AT.load(Ordering::Relaxed)),
            Self::Knob(i) => format!("{}\n", KNOB_VALUES[i].load(Ordering::Relaxed)),
        }
    }

    /// Applies a write (already cut at a NUL and to a page).
    ///
    /// # Errors
    /// `EINVAL` / `ERANGE` as Linux's store functions; nothing changes then.
    pub fn store(self, text: &[u8]) -> Result<(), LinuxError> {
        match self {
            Self::Enabled => thp::set_mode(ThpMode::parse(text)?),
            Self::OrderEnabled(o) => thp::set_order_mode(o, ThpOrderMode::parse(text)?)?,
            // 0444: never opened for writing.
            Self::PmdSize => return Err(LinuxError::EACCES),
            Self::UseZeroPage => {
                if kstrto(text, u64::MAX)? != 0 {
                    return Err(LinuxError::EINVAL);
                }
            }
            Self::Defrag => {
                let at = DEFRAG.iter().position(|w| streq(text, w));
                DEFRAG_AT.store(at.ok_or(LinuxError::EINVAL)? as u64, Ordering::Relaxed);
            }
            Self::ShmemEnabled => {
                // Linux copies at most 15 bytes and strips one newline before parsing.
                let at = SHMEM.iter().position(|w| streq(text, w));
                match at {
                    Some(i) if text.len() < 16 && matches!(SHMEM[i], "never" | "deny") => {
                        SHMEM_AT.store(i as u64, Ordering::Relaxed);
                    }
                    _ => return Err(LinuxError::EINVAL),
                }
            }
            Self::Knob(i) => {
                let (_, _, check) = KNOBS[i];
                let v = match check {
                    Check::Flag => Some(kstrto(text, u64::MAX)?).filter(|&v| v <= 1),
                    Check::Uint { nonzero } => kstrto(text, u32::MAX.into())
                        .ok()
                        .filter(|&v| !nonzero || v != 0),
                    Check::Ptes => kstrto(text, u64::MAX).ok().filter(|&v| v <= 511),
                    Check::Stat => return Err(LinuxError::EACCES),
                };
                KNOB_VALUES[i].store(v.ok_or(LinuxError::EINVAL)?, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
