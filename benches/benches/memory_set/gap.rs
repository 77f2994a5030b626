//! The adversarial free-area layout: n one-page areas separated by one-page holes (each hole
//! one page too small for the two-page request), so a search that walks the areas it skips
//! costs O(n). Pagoda (top-down as mmap(NULL) places, bottom-up, and a whole placement:
//! find + map + unmap), the anchor (bottom-up, its only search) and the host Linux kernel
//! (mmap(NULL) + munmap in a forked child that fragments its own address space the same way)
//! side by side, in CPU time per call (kernel time included for Linux).
//!
//! `PAGODA_GAP_IR=<row>:<n>[:<calls>]` runs only `<calls>` calls of one row inside
//! [`ir_calls`] and exits, for `valgrind --tool=callgrind --toggle-collect='*ir_calls*'`
//! (instructions per call; see `benches/gap_ir.sh`).

use std::hint::black_box;
use std::time::Duration;

use super::{Count, RW, thread_cpu_time};

const P: usize = 0x1000;
/// The first area of the comb.
const COMB: usize = 0x4000_0000;
/// The top of the searched range in bottom-up searches.
const USER_END: usize = 0x7fff_ffff_f000;

/// The rows, by name (also the `PAGODA_GAP_IR` row names).
pub const ROWS: [&str; 5] = ["ours_down", "ours_up", "ours_place", "anchor_up", "linux"];

/// Linux refuses more mappings than `vm.max_map_count` (65530 by default, not namespaced).
const LINUX_MAX_AREAS: usize = 65_000;

fn comb_end(n: usize) -> usize {
    COMB + (2 * n - 1) * P
}

fn ours(n: usize) -> memory_set::MemorySet<Count> {
    let mut set = memory_set::MemorySet::new();
    let mut pt = 0u64;
    for i in 0..n {
        let start = memory_addr::VirtAddr::from_usize(COMB + 2 * i * P);
        let a = memory_set::MemoryArea::new(start, P, RW, Count);
        set.map(a, &mut pt, memory_set::OnOverlap::Fail)
            .expect("map");
    }
    set
}

fn anchor(n: usize) -> anchor_memory_set::MemorySet<Count> {
    let mut set = anchor_memory_set::MemorySet::new();
    let mut pt = 0u64;
    for i in 0..n {
        let start = anchor_memory_addr::VirtAddr::from_usize(COMB + 2 * i * P);
        let a = anchor_memory_set::MemoryArea::new(start, P, RW, Count);
        set.map(a, &mut pt, false).expect("map");
    }
    set
}

/// One call of a row; returns the address found (checked by [`setup`]).
type Call = Box<dyn FnMut() -> usize>;

/// The call of `row` on a fresh layout of `n` areas (not for `linux`).
fn setup(row: &str, n: usize) -> Call {
    use memory_addr::VirtAddr;
    let end = comb_end(n);
    let below = AddrRangeArgs {
        hint: end,
        lo: P,
        hi: end,
    };
    let above = AddrRangeArgs {
        hint: COMB,
        lo: COMB,
        hi: USER_END,
    };
    let (call, expect): (Call, usize) = match row {
        "ours_down" => {
            let set = ours(n);
            let f = move || {
                set.find_free_area_top_down(VirtAddr::from(below.hint), 2 * P, below.range(), P)
                    .map_or(0, VirtAddr::as_usize)
            };
            (Box::new(f), COMB - 2 * P)
        }
        "ours_up" => {
            let set = ours(n);
            let f = move || {
                set.find_free_area(VirtAddr::from(above.hint), 2 * P, above.range(), P)
                    .map_or(0, VirtAddr::as_usize)
            };
            (Box::new(f), end)
        }
        "ours_place" => {
            let mut set = ours(n);
            let mut pt = 0u64;
            let f = move || {
                let hint = VirtAddr::from(below.hint);
                let Some(at) = set.find_free_area_top_down(hint, 2 * P, below.range(), P) else {
                    return 0;
                };
                let a = memory_set::MemoryArea::new(at, 2 * P, RW, Count);
                set.map(a, &mut pt, memory_set::OnOverlap::Fail)
                    .expect("map");
                set.unmap(at, 2 * P, &mut pt).expect("unmap");
                at.as_usize()
            };
            (Box::new(f), COMB - 2 * P)
        }
        "anchor_up" => {
            let set = anchor(n);
            let f = move || {
                let va = anchor_memory_addr::VirtAddr::from_usize;
                let range = anchor_memory_addr::AddrRange::new(va(above.lo), va(above.hi));
                set.find_free_area(va(above.hint), 2 * P, range, P)
                    .map_or(0, |a| a.as_usize())
            };
            (Box::new(f), end)
        }
        // Not in the table: callgrind rows for the cost the index adds to map and unmap.
        "ours_map_end" => {
            let mut set = ours(n);
            let mut pt = 0u64;
            let f = move || {
                let at = VirtAddr::from_usize(end + P);
                let a = memory_set::MemoryArea::new(at, P, RW, Count);
                set.map(a, &mut pt, memory_set::OnOverlap::Fail)
                    .expect("map");
                set.unmap(at, P, &mut pt).expect("unmap");
                at.as_usize()
            };
            (Box::new(f), end + P)
        }
        "anchor_map_end" => {
            let mut set = anchor(n);
            let mut pt = 0u64;
            let f = move || {
                let at = anchor_memory_addr::VirtAddr::from_usize(end + P);
                let a = anchor_memory_set::MemoryArea::new(at, P, RW, Count);
                set.map(a, &mut pt, false).expect("map");
                set.unmap(at, P, &mut pt).expect("unmap");
                at.as_usize()
            };
            (Box::new(f), end + P)
        }
        _ => panic!("unknown row {row}"),
    };
    let mut call = call;
    assert_eq!(call(), expect, "{row} n = {n}: wrong placement");
    call
}

#[derive(Clone, Copy)]
struct AddrRangeArgs {
    hint: usize,
    lo: usize,
    hi: usize,
}

impl AddrRangeArgs {
    fn range(&self) -> memory_addr::AddrRange<memory_addr::VirtAddr> {
        memory_addr::AddrRange::new(self.lo.into(), self.hi.into())
    }
}

/// Median and fastest CPU time per call over `blocks` blocks of calls, each block about
/// `block_time` long.
fn measure(mut call: impl FnMut() -> usize, blocks: usize, block_time: Duration) -> (f64, f64) {
    let t0 = thread_cpu_time();
    let mut k = 0u64;
    while thread_cpu_time() - t0 < block_time / 4 || k < 2 {
        black_box(call());
        k += 1;
    }
    let per_block = (k * 4).max(1);
    let mut samples: Vec<f64> = (0..blocks)
        .map(|_| {
            let t0 = thread_cpu_time();
            for _ in 0..per_block {
                black_box(call());
            }
            (thread_cpu_time() - t0).as_nanos() as f64 / per_block as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[0])
}

/// Linux: a forked child maps 2n pages, unmaps every second one, fills every free 2-page
/// hole above its comb (so mmap(NULL) has to search past it, as in the Pagoda rows), then
/// times mmap(NULL, 2 pages) + munmap and sends (median, best) through a pipe.
fn linux(n: usize) -> Option<(f64, f64)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: the benchmark is single-threaded here (criterion has not started); the child
    // only uses its own copy of the address space and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let out = linux_child(n).unwrap_or((f64::NAN, f64::NAN));
        let msg = format!("{} {}\n", out.0, out.1);
        // SAFETY: writes a valid buffer to the pipe, then exits without unwinding.
        unsafe {
            libc::write(fds[1], msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut buf = [0u8; 128];
    // SAFETY: reads into a valid buffer; then reaps the child.
    let len = unsafe {
        let len = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
        libc::close(fds[0]);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        len
    };
    let text = std::str::from_utf8(&buf[..usize::try_from(len).ok()?]).ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    let (median, best) = (it.next()??, it.next()??);
    (median.is_finite() && best.is_finite()).then_some((median, best))
}

fn mmap(addr: usize, len: usize) -> Option<usize> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: an anonymous mapping at an address chosen by the kernel (or hinted) never
    // aliases memory this process uses.
    let p = unsafe { libc::mmap(addr as *mut _, len, libc::PROT_READ, flags, -1, 0) };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

fn munmap(addr: usize, len: usize) {
    // SAFETY: only ranges this child mapped itself for the benchmark are unmapped.
    unsafe { libc::munmap(addr as *mut _, len) };
}

fn linux_child(n: usize) -> Option<(f64, f64)> {
    let base = mmap(0, 2 * n * P)?;
    for i in 0..n {
        munmap(base + (2 * i + 1) * P, P);
    }
    // Fill the 2-page holes above the comb (a bounded number: the gaps between libraries).
    for _ in 0..100_000 {
        let p = mmap(0, 2 * P)?;
        if p < base {
            munmap(p, 2 * P);
            break;
        }
    }
    let call = || {
        let p = mmap(0, 2 * P).unwrap_or(0);
        munmap(p, 2 * P);
        p
    };
    let first = call();
    if first >= base {
        return None;
    }
    Some(measure(call, 15, Duration::from_millis(20)))
}

/// The callgrind mode: runs the calls of `PAGODA_GAP_IR=<row>:<n>[:<calls>]` and exits.
pub fn ir_mode() {
    let Ok(spec) = std::env::var("PAGODA_GAP_IR") else {
        return;
    };
    let mut parts = spec.split(':');
    let row = parts.next().unwrap_or_default().to_string();
    let n = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let calls = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let mut call = setup(&row, n);
    ir_calls(&mut call, calls);
    println!("{row} n = {n}: {calls} calls");
    std::process::exit(0);
}

/// The measured calls (the only function callgrind counts in `ir_mode`).
#[inline(never)]
fn ir_calls(call: &mut Call, calls: usize) {
    for _ in 0..calls {
        black_box(call());
    }
}

/// Measures every row at every n; returns the markdown table. Skipped (empty) when a
/// criterion filter is given that does not mention `gap`.
pub fn table(sizes: &[usize]) -> String {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if !filter.is_empty() && !filter.contains("gap") {
        return String::new();
    }
    let fmt = |v: f64| {
        if v >= 1e3 {
            format!("{:.2} µs", v / 1e3)
        } else {
            format!("{v:.0} ns")
        }
    };
    let mut out = String::from(
        "\nAdversarial free-area layout (n one-page areas, one-page holes, 2-page request); \
         CPU time per call, median (best)\n\n| row |",
    );
    for n in sizes {
        out += &format!(" n = {n} |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(sizes.len());
    for row in ROWS {
        out += &format!("\n| {row} |");
        for &n in sizes {
            let res = if row == "linux" {
                if n > LINUX_MAX_AREAS {
                    out += " skipped: vm.max_map_count |";
                    continue;
                }
                linux(n)
            } else {
                Some(measure(setup(row, n), 15, Duration::from_millis(20)))
            };
            out += &match res {
                Some((median, best)) => format!(" {} ({}) |", fmt(median), fmt(best)),
                None => " failed |".to_string(),
            };
        }
    }
    out.push('\n');
    out
}
