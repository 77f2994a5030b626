//! Shared helpers of the Pagoda benchmarks (the benchmarks themselves are in `benches/`):
//! a frame arena used by every page-table handler (ours, the anchor's and the raw bound use
//! the same one, so frame allocation costs the same everywhere), a tiny deterministic RNG,
//! a CPU-time measurement for criterion, and the reader of criterion's estimates that prints
//! the results table.

pub mod report;

use std::alloc::{Layout, alloc};
use std::cell::RefCell;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// Size of one frame.
pub const FRAME: usize = 4096;
/// Frames obtained from the system at once when the arena runs dry.
const CHUNK_FRAMES: usize = 1024;

thread_local! {
    /// Free frames (host addresses used as "physical" addresses, identity-mapped).
    static FREE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Takes a 4K-aligned 4K frame from the arena (contents unspecified; page tables zero their
/// own frames). Chunks are never returned to the system: frames are recycled, so steady-state
/// iterations reuse the same (cache-warm) memory for every implementation alike.
pub fn alloc_frame() -> Option<usize> {
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        if free.is_empty() {
            let layout = Layout::from_size_align(CHUNK_FRAMES * FRAME, FRAME).ok()?;
            // SAFETY: `layout` has a non-zero size.
            let base = unsafe { alloc(layout) } as usize;
            if base == 0 {
                return None;
            }
            free.extend((0..CHUNK_FRAMES).rev().map(|i| base + i * FRAME));
        }
        free.pop()
    })
}

/// Returns a frame obtained from [`alloc_frame`].
pub fn dealloc_frame(frame: usize) {
    FREE.with(|free| free.borrow_mut().push(frame));
}

/// xorshift64*: deterministic, fast, good enough to scatter addresses.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 32) as usize * n) >> 32
    }
}

/// CPU time consumed by the calling thread so far.
///
/// The benchmarks measure CPU time rather than wall time: the machines they run on are shared,
/// and time spent preempted is not the code's cost. (Both agree on an idle machine.)
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Criterion measurement: CPU time of the benchmark thread (see [`thread_cpu_time`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}
