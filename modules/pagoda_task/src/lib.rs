#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod clone;
mod cred;
pub mod futex;
mod groups;
pub mod rlimit;
pub mod sched;
pub mod siginfo;
mod signal;
mod sigstate;
mod tree;
mod wait;

#[cfg(test)]
mod tests;

pub use self::cred::Credentials;
pub use self::siginfo::{SigFields, SigInfo};
pub use self::signal::{DefaultAction, Handler, NSIG, SaFlags, SigAction, SigSet, Signal};
pub use self::sigstate::{
    AltStack, Disposition, PendingSignals, ProcessSignals, RT_QUEUE_MAX, ThreadSignals, how, ss,
};
pub use self::tree::{ExecReport, ExitReport, PID_MAX, Pid, ProcState, ProcessTree, WaitOutcome};
pub use self::wait::{CONTINUED_WSTATUS, ExitStatus, WaitOptions, WaitTarget, stopped_wstatus};
