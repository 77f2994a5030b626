//! Transparent huge pages: the system-wide policy (Linux's
//! `/sys/kernel/mm/transparent_hugepage/enabled` and `hugepages-<size>kB/enabled`) that
//! decides which block sizes a first touch of private anonymous memory may fill at once.
//!
//! A block of order `k` is `2^k` pages whose frames are physically contiguous and aligned
//! to the block size: order 9 (2 MiB, the size one leaf table covers) is mapped by one
//! PMD-level leaf, smaller orders (Linux's multi-size THP, orders 2–8) by ordinary 4K
//! entries. Every frame of a block is owned on its own, so a block can be split, partly
//! unmapped or copied on write page by page, as Linux does with a large folio.
//!
//! The policy is global, as on Linux: a change applies to every address space at its next
//! fault. Defaults are Linux's with `CONFIG_TRANSPARENT_HUGEPAGE_MADVISE` (Debian's and
//! this host's): `madvise` at the top, `inherit` for the PMD size, `never` for the others.

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

use axerrno::{LinuxError, LinuxResult};

/// The order of a PMD-size block (512 pages of 4 KiB: 2 MiB).
pub const PMD_ORDER: u32 = 9;
/// The smallest order a block may have (Linux 6.12 offers orders 2 to 9 for anonymous
/// memory: 16 KiB to 2 MiB).
pub const MIN_ORDER: u32 = 2;

/// The system-wide setting (`transparent_hugepage/enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpMode {
    /// Every eligible area.
    Always,
    /// Areas advised with `MADV_HUGEPAGE`.
    Madvise,
    /// None.
    Never,
}

/// The setting of one block size (`hugepages-<size>kB/enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpOrderMode {
    /// Every eligible area.
    Always,
    /// As the system-wide setting says.
    Inherit,
    /// Areas advised with `MADV_HUGEPAGE`.
    Madvise,
    /// None.
    Never,
}

const TOP_CHOICES: [(&str, ThpMode); 3] = [
    ("always", ThpMode::Always),
    ("madvise", ThpMode::Madvise),
    ("never", ThpMode::Never),
];
const ORDER_CHOICES: [(&str, ThpOrderMode); 4] = [
    ("always", ThpOrderMode::Always),
    ("inherit", ThpOrderMode::Inherit),
    ("madvise", ThpOrderMode::Madvise),
    ("never", ThpOrderMode::Never),
];

/// Parses a sysfs write: one of `choices`' words, with an optional trailing newline
/// (`EINVAL` otherwise, as Linux).
fn parse<T: Copy>(choices: &[(&str, T)], text: &[u8]) -> LinuxResult<T> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    choices
        .iter()
        .find(|(word, _)| word.as_bytes() == text)
        .map(|&(_, v)| v)
        .ok_or(LinuxError::EINVAL)
}

/// Shows `choices` with the selected one in brackets: `always [madvise] never`.
fn show<T: PartialEq>(
    f: &mut fmt::Formatter<'_>,
    choices: &[(&str, T)],
    current: &T,
) -> fmt::Result {
    for (i, (word, v)) in choices.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        if v == current {
            write!(f, "{sep}[{word}]")?;
        } else {
            write!(f, "{sep}{word}")?;
        }
    }
    Ok(())
}

impl ThpMode {
    /// Parses what a program writes to `enabled`.
    ///
    /// # Errors
    /// `EINVAL` for anything but `always`, `madvise` or `never` (plus a newline).
    pub fn parse(text: &[u8]) -> LinuxResult<Self> {
        parse(&TOP_CHOICES, text)
    }
}

impl fmt::Display for ThpMode {
    /// The file's contents without the newline: `always [madvise] never`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, &TOP_CHOICES, self)
    }
}

impl ThpOrderMode {
    /// Parses what a program writes to `hugepages-<size>kB/enabled`.
    ///
    /// # Errors
    /// `EINVAL` for anything but `always`, `inherit`, `madvise` or `never`.
    pub fn parse(text: &[u8]) -> LinuxResult<Self> {
        parse(&ORDER_CHOICES, text)
    }
}

impl fmt::Display for ThpOrderMode {
    /// The file's contents without the newline: `always [inherit] madvise never`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, &ORDER_CHOICES, self)
    }
}

const fn encode_top(m: ThpMode) -> u8 {
    m as u8
}

fn decode_top(v: u8) -> ThpMode {
    match v {
        0 => ThpMode::Always,
        1 => ThpMode::Madvise,
        _ => ThpMode::Never,
    }
}

fn decode_order(v: u8) -> ThpOrderMode {
    match v {
        0 => ThpOrderMode::Always,
        1 => ThpOrderMode::Inherit,
        2 => ThpOrderMode::Madvise,
        _ => ThpOrderMode::Never,
    }
}

const ORDERS: usize = (PMD_ORDER - MIN_ORDER + 1) as usize;

/// The settings: the system-wide one, then one per order from `MIN_ORDER`.
struct Settings {
    top: AtomicU8,
    per_order: [AtomicU8; ORDERS],
}

impl Settings {
    const fn new() -> Self {
        let mut per_order = [const { AtomicU8::new(ThpOrderMode::Never as u8) }; ORDERS];
        per_order[ORDERS - 1] = AtomicU8::new(ThpOrderMode::Inherit as u8);
        Self {
            top: AtomicU8::new(encode_top(ThpMode::Madvise)),
            per_order,
        }
    }
}

#[cfg(not(test))]
static SETTINGS: Settings = Settings::new();

#[cfg(test)]
std::thread_local! {
    // Host tests run in parallel threads: each has its own policy, so a test that changes
    // it cannot disturb another.
    static SETTINGS: &'static Settings = alloc::boxed::Box::leak(alloc::boxed::Box::new(Settings::new()));
}

fn settings() -> &'static Settings {
    #[cfg(not(test))]
    return &SETTINGS;
    #[cfg(test)]
    return SETTINGS.with(|s| *s);
}

/// The orders blocks may have, smallest first (`MIN_ORDER..=PMD_ORDER`).
pub fn orders() -> impl DoubleEndedIterator<Item = u32> {
    MIN_ORDER..=PMD_ORDER
}

/// The system-wide setting.
pub fn mode() -> ThpMode {
    decode_top(settings().top.load(Ordering::Relaxed))
}

/// Changes the system-wide setting.
pub fn set_mode(mode: ThpMode) {
    settings().top.store(encode_top(mode), Ordering::Relaxed);
}

fn slot(order: u32) -> LinuxResult<&'static AtomicU8> {
    order
        .checked_sub(MIN_ORDER)
        .and_then(|i| settings().per_order.get(i as usize))
        .ok_or(LinuxError::EINVAL)
}

/// The setting of blocks of `order`.
///
/// # Errors
/// `EINVAL` for an order outside `MIN_ORDER..=PMD_ORDER`.
pub fn order_mode(order: u32) -> LinuxResult<ThpOrderMode> {
    Ok(decode_order(slot(order)?.load(Ordering::Relaxed)))
}

/// Changes the setting of blocks of `order`.
///
/// # Errors
/// `EINVAL` for an order outside `MIN_ORDER..=PMD_ORDER`.
pub fn set_order_mode(order: u32, mode: ThpOrderMode) -> LinuxResult<()> {
    slot(order)?.store(mode as u8, Ordering::Relaxed);
    Ok(())
}

/// The orders (a bit per order) a first touch may fill in an area with `MADV_HUGEPAGE`
/// advice `advised` and `MADV_NOHUGEPAGE` (or `MAP_STACK`) advice `refused`.
pub(crate) fn allowed_orders(advised: bool, refused: bool) -> u32 {
    if refused {
        return 0;
    }
    let top = mode();
    let on = |m: ThpOrderMode| match m {
        ThpOrderMode::Always => true,
        ThpOrderMode::Madvise => advised,
        ThpOrderMode::Inherit => match top {
            ThpMode::Always => true,
            ThpMode::Madvise => advised,
            ThpMode::Never => false,
        },
        ThpOrderMode::Never => false,
    };
    orders()
        .filter(|&o| order_mode(o).is_ok_and(on))
        .fold(0, |bits, o| bits | 1 << o)
}
