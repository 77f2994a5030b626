use axerrno::LinuxError;

use crate::siginfo::code;
use crate::*;

const INIT: Pid = Pid::INIT;

fn exited(n: u8) -> ExitStatus {
    ExitStatus::Exited(n)
}

#[test]
fn fork_exit_wait_reaps_once_and_signals_the_parent() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    assert_eq!(t.parent(a), Ok(INIT));
    assert_eq!(
        t.wait(
            INIT,
            WaitTarget::Any,
            WaitOptions::WEXITED | WaitOptions::WNOHANG
        ),
        Ok(WaitOutcome::NotReady)
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, WaitOptions::WEXITED),
        Ok(WaitOutcome::Block)
    );
    let report = t.exit_group(a, exited(4)).unwrap();
    let (to, info) = report.notify.unwrap();
    assert_eq!(to, INIT);
    assert_eq!((info.signo, info.code), (Signal::SIGCHLD, code::CLD_EXITED));
    assert_eq!(
        info.fields,
        SigFields::Child {
            pid: a.get(),
            uid: 0,
            status: 4
        }
    );
    assert!(!report.reaped);
    assert_eq!(t.state(a), Ok(ProcState::Zombie(exited(4))));
    let peek = WaitOptions::WEXITED | WaitOptions::WNOWAIT;
    assert_eq!(
        t.wait(INIT, WaitTarget::Pid(a), peek),
        Ok(WaitOutcome::Exited {
            pid: a,
            status: exited(4)
        })
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Pid(a), WaitOptions::WEXITED),
        Ok(WaitOutcome::Exited {
            pid: a,
            status: exited(4)
        })
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Pid(a), WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
    assert_eq!(t.state(a), Err(LinuxError::ESRCH));
}

#[test]
fn wait_only_sees_own_children_matching_the_target() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    assert_eq!(
        t.wait(INIT, WaitTarget::Pid(b), WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
    t.setpgid(a, 0, 0).unwrap();
    assert_eq!(
        t.wait(INIT, WaitTarget::OwnGroup, WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Pgid(a), WaitOptions::WEXITED),
        Ok(WaitOutcome::Block)
    );
    assert_eq!(
        t.wait(a, WaitTarget::Any, WaitOptions::WEXITED),
        Ok(WaitOutcome::Block)
    );
    assert_eq!(
        t.wait(b, WaitTarget::Any, WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
}

#[test]
fn orphans_go_to_init_and_zombie_orphans_stay_reapable() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(a).unwrap();
    t.exit_group(c, exited(1)).unwrap();
    let report = t.exit_group(a, exited(0)).unwrap();
    assert_eq!(report.reparented, [b, c]);
    assert_eq!(t.parent(b), Ok(INIT));
    assert_eq!(t.children(INIT), Ok(&[a, b, c][..]));
    let got = t.wait(INIT, WaitTarget::Any, WaitOptions::WEXITED).unwrap();
    assert_eq!(
        got,
        WaitOutcome::Exited {
            pid: a,
            status: exited(0)
        },
        "oldest first"
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, WaitOptions::WEXITED),
        Ok(WaitOutcome::Exited {
            pid: c,
            status: exited(1)
        })
    );
    let (to, _) = t.exit_group(b, exited(2)).unwrap().notify.unwrap();
    assert_eq!(to, INIT);
}

#[test]
fn ignoring_sigchld_reaps_children_at_once() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    t.set_autoreap(a, true).unwrap();
    let b = t.fork(a).unwrap();
    assert_eq!(
        t.wait(a, WaitTarget::Any, WaitOptions::WEXITED),
        Ok(WaitOutcome::Block)
    );
    assert!(t.exit_group(b, exited(3)).unwrap().reaped);
    assert_eq!(
        t.wait(a, WaitTarget::Any, WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
    assert_eq!(t.state(b), Err(LinuxError::ESRCH));
}

#[test]
fn threads_end_the_process_with_the_last_one_or_all_at_once() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let t2 = t.spawn_thread(a).unwrap();
    let t3 = t.spawn_thread(t2).unwrap();
    assert_eq!(t.tgid(t3), Ok(a));
    assert_eq!(
        t.exit_thread(a, exited(9)),
        Ok(None),
        "the leader may exit first"
    );
    assert_eq!(t.tgid(t2), Ok(a));
    assert_eq!(t.state(a), Ok(ProcState::Alive));
    let report = t.exit_group(t3, exited(5)).unwrap();
    assert_eq!(report.other_threads, [t2]);
    assert_eq!(t.state(a), Ok(ProcState::Zombie(exited(5))));
    assert_eq!(t.tgid(t2), Err(LinuxError::ESRCH));
    assert_eq!(t.spawn_thread(t3), Err(LinuxError::ESRCH));
    let b = t.fork(INIT).unwrap();
    let report = t.exit_thread(b, exited(6)).unwrap().unwrap();
    assert!(report.other_threads.is_empty() || report.other_threads == [b]);
}

#[test]
fn exec_dethreads_and_the_caller_takes_the_process_id() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let t2 = t.spawn_thread(a).unwrap();
    let t3 = t.spawn_thread(a).unwrap();
    let report = t.exec(t3).unwrap();
    assert_eq!(report.ended, [a, t2]);
    assert_eq!(report.new_tid, a);
    assert_eq!(t.threads(a), Ok(&[a][..]));
    assert_eq!(t.tgid(t3), Err(LinuxError::ESRCH));
    assert_eq!(
        t.setpgid(INIT, a.get() as i32, 0),
        Err(LinuxError::EACCES),
        "child ran execve"
    );
}

#[test]
fn stop_and_continue_are_reported_once_each() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    t.stop(a, Signal::SIGSTOP).unwrap();
    assert_eq!(
        t.wait(
            INIT,
            WaitTarget::Any,
            WaitOptions::WEXITED | WaitOptions::WNOHANG
        ),
        Ok(WaitOutcome::NotReady)
    );
    let stopped = WaitOptions::WEXITED | WaitOptions::WSTOPPED;
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, stopped),
        Ok(WaitOutcome::Stopped {
            pid: a,
            sig: Signal::SIGSTOP
        })
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, stopped | WaitOptions::WNOHANG),
        Ok(WaitOutcome::NotReady)
    );
    assert_eq!(t.resume(a), Ok(true));
    assert_eq!(t.resume(a), Ok(false));
    let cont = WaitOptions::WCONTINUED | WaitOptions::WNOHANG;
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, cont),
        Ok(WaitOutcome::Continued { pid: a })
    );
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, cont),
        Ok(WaitOutcome::NotReady)
    );
}

#[test]
fn clone_children_need_wclone_or_wall() {
    let mut t = ProcessTree::new();
    let a = t.fork_with(INIT, None).unwrap();
    t.exit_group(a, exited(0)).unwrap();
    assert_eq!(
        t.wait(INIT, WaitTarget::Any, WaitOptions::WEXITED),
        Err(LinuxError::ECHILD)
    );
    assert!(matches!(
        t.wait(
            INIT,
            WaitTarget::Any,
            WaitOptions::WEXITED | WaitOptions::WCLONE | WaitOptions::WNOWAIT
        ),
        Ok(WaitOutcome::Exited { .. })
    ));
    assert!(matches!(
        t.wait(
            INIT,
            WaitTarget::Any,
            WaitOptions::WEXITED | WaitOptions::WALL
        ),
        Ok(WaitOutcome::Exited { .. })
    ));
}

#[test]
fn setpgid_and_setsid_check_in_linux_order() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    let th = t.spawn_thread(b).unwrap();
    let ai = a.get() as i32;
    let bi = b.get() as i32;
    assert_eq!(
        t.setpgid(a, -1, -1),
        Err(LinuxError::EINVAL),
        "pgid < 0 first"
    );
    assert_eq!(t.setpgid(a, 99_999, 0), Err(LinuxError::ESRCH));
    assert_eq!(
        t.setpgid(a, th.get() as i32, 0),
        Err(LinuxError::EINVAL),
        "not a leader"
    );
    assert_eq!(
        t.setpgid(b, ai, 0),
        Err(LinuxError::ESRCH),
        "parent is not a child"
    );
    assert_eq!(
        t.setpgid(a, bi, 12345),
        Err(LinuxError::EPERM),
        "no such group"
    );
    t.setpgid(a, bi, 0).unwrap();
    assert_eq!(t.getpgid(a, b.get()), Ok(b));
    t.setpgid(a, bi, ai)
        .map_err(|e| assert_eq!(e, LinuxError::EPERM))
        .unwrap_err();
    t.setpgid(a, 0, 0).unwrap();
    t.setpgid(a, bi, ai).unwrap();
    assert_eq!(t.setsid(a), Err(LinuxError::EPERM), "leads a group");
    assert_eq!(t.setsid(b), Ok(b));
    assert_eq!(t.getsid(b, 0), Ok(b));
    assert_eq!(t.setpgid(b, 0, 0), Err(LinuxError::EPERM), "session leader");
    assert_eq!(
        t.setpgid(a, bi, ai),
        Err(LinuxError::EPERM),
        "child in another session"
    );
    assert_eq!(t.getsid(a, 777_777), Err(LinuxError::ESRCH));
}

#[test]
fn kill_targets_follow_kill_2() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(INIT).unwrap();
    t.setpgid(a, 0, 0).unwrap();
    t.setpgid(a, b.get() as i32, a.get() as i32).unwrap();
    let usr1 = Some(Signal::SIGUSR1);
    assert_eq!(t.kill_targets(INIT, a.get() as i32, usr1), Ok(vec![a]));
    assert_eq!(
        t.kill_targets(INIT, -(a.get() as i32), usr1),
        Ok(vec![a, b])
    );
    assert_eq!(t.kill_targets(a, 0, usr1), Ok(vec![a, b]));
    assert_eq!(
        t.kill_targets(a, -1, usr1),
        Ok(vec![b, c]),
        "all but init and the caller"
    );
    assert_eq!(t.kill_targets(INIT, -4242, usr1), Err(LinuxError::ESRCH));
    assert_eq!(t.kill_targets(INIT, 4242, None), Err(LinuxError::ESRCH));
    assert_eq!(t.kill_targets(INIT, i32::MIN, usr1), Err(LinuxError::ESRCH));
    t.creds_mut(c).unwrap().setresuid(1000, 1000, 1000).unwrap();
    assert_eq!(
        t.kill_targets(c, a.get() as i32, usr1),
        Err(LinuxError::EPERM)
    );
    assert_eq!(
        t.kill_targets(c, -(a.get() as i32), usr1),
        Err(LinuxError::EPERM)
    );
    assert_eq!(
        t.kill_targets(c, -1, usr1),
        Ok(vec![]),
        "kill(-1) ignores EPERM"
    );
    assert_eq!(
        t.kill_targets(c, a.get() as i32, Some(Signal::SIGCONT)),
        Ok(vec![a]),
        "same session"
    );
    t.exit_group(b, exited(0)).unwrap();
    assert_eq!(
        t.kill_targets(INIT, b.get() as i32, usr1),
        Ok(vec![]),
        "a zombie is found"
    );
}

#[test]
fn ids_wrap_and_skip_ids_in_use_as_groups() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    t.setpgid(a, 0, 0).unwrap();
    let b = t.fork(a).unwrap();
    t.exit_group(a, exited(0)).unwrap();
    t.wait(INIT, WaitTarget::Pid(a), WaitOptions::WEXITED)
        .unwrap();
    // `a` is gone but still names b's group: it must not be handed out again.
    for _ in 0..(PID_MAX + 10) {
        let c = t.fork(INIT).unwrap();
        assert_ne!(c, a);
        t.exit_group(c, exited(0)).unwrap();
        t.wait(INIT, WaitTarget::Pid(c), WaitOptions::WEXITED)
            .unwrap();
    }
    assert_eq!(t.getpgid(INIT, b.get()), Ok(a));
}

#[test]
fn pids_run_out_with_eagain() {
    let mut t = ProcessTree::new();
    for _ in 2..=PID_MAX {
        t.fork(INIT).unwrap();
    }
    assert_eq!(t.fork(INIT), Err(LinuxError::EAGAIN));
    assert_eq!(t.spawn_thread(INIT), Err(LinuxError::EAGAIN));
}

#[test]
fn orphans_go_to_the_nearest_live_subreaper() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(b).unwrap();
    let d = t.fork(c).unwrap();
    t.set_subreaper(a, true).unwrap();
    assert_eq!(t.is_subreaper(a), Ok(true));
    assert_eq!(t.is_subreaper(b), Ok(false));
    // c ends: d goes to a (b is no subreaper).
    let report = t.exit_group(c, exited(0)).unwrap();
    assert_eq!(report.reparented, vec![d]);
    assert_eq!(t.parent(d), Ok(a));
    assert!(t.children(a).unwrap().contains(&d));
    // a ends (a zombie is no reaper): its children, b and d, go to init.
    let report = t.exit_group(a, exited(0)).unwrap();
    assert_eq!(report.reparented, vec![b, d]);
    assert_eq!(t.parent(d), Ok(INIT));
    let e = t.fork(d).unwrap();
    t.set_subreaper(b, true).unwrap();
    // b is not an ancestor of e any more: e goes to init.
    t.exit_group(d, exited(0)).unwrap();
    assert_eq!(t.parent(e), Ok(INIT));
    assert_eq!(t.set_subreaper(Pid::new(999), true), Err(LinuxError::ESRCH));
}

#[test]
fn a_subreaper_that_ignores_sigchld_reaps_zombie_orphans_at_once() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(b).unwrap();
    t.set_subreaper(a, true).unwrap();
    t.set_autoreap(a, true).unwrap();
    // c is a zombie child of b when b ends: a adopts it and reaps it at once.
    t.exit_group(c, exited(1)).unwrap();
    t.exit_group(b, exited(0)).unwrap();
    assert!(!t.children(a).unwrap().contains(&c));
    assert_eq!(t.state(c), Err(LinuxError::ESRCH));
}

#[test]
fn a_zombie_keeps_its_group_until_reaped() {
    let mut t = ProcessTree::new();
    let a = t.fork(INIT).unwrap();
    let b = t.fork(INIT).unwrap();
    let ai = a.get() as i32;
    t.setpgid(INIT, ai, 0).unwrap();
    t.exit_group(a, exited(0)).unwrap();
    assert_eq!(t.group_session(a), Ok(Some(INIT)), "zombie member");
    t.setpgid(INIT, b.get() as i32, ai).unwrap();
    t.wait(INIT, WaitTarget::Pid(a), WaitOptions::WEXITED)
        .unwrap();
    assert_eq!(t.group_session(a), Ok(Some(INIT)), "b still in a's group");
    assert_eq!(t.group_session(Pid::new(99_999)), Err(LinuxError::ESRCH));
    let c = t.fork(INIT).unwrap();
    assert_eq!(
        t.setpgid(INIT, c.get() as i32, 99_999),
        Err(LinuxError::EPERM)
    );
}
