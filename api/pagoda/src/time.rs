//! Time: the monotonic clock, the one-shot timer, idling, the wall clock; and the
//! scheduling decisions of `pagoda_task::sched` that a timer tick feeds.

pub use pagoda_hal::time::{
    monotonic_ns, set_timer_deadline, timer_frequency_hz, wait_for_interrupt, wall_clock_secs,
};
pub use pagoda_task::Pid;
pub use pagoda_task::sched::{DEFAULT_SLICE, Next, RunQueue, TimerKind, Timers};
