use axerrno::LinuxError;

use crate::siginfo::code;
use crate::*;

fn sig(n: usize) -> Signal {
    Signal::new(n).unwrap()
}

fn handler(addr: usize, flags: SaFlags) -> SigAction {
    SigAction {
        handler: Handler::User(addr),
        flags,
        mask: SigSet::EMPTY,
        restorer: 0,
    }
}

#[test]
fn numbers_and_default_actions_follow_signal_7() {
    assert_eq!(Signal::new(0), Err(LinuxError::EINVAL));
    assert_eq!(Signal::new(65), Err(LinuxError::EINVAL));
    assert_eq!(Signal::new(usize::MAX), Err(LinuxError::EINVAL));
    use DefaultAction::*;
    let table = [
        (1, Terminate),
        (2, Terminate),
        (3, Core),
        (4, Core),
        (5, Core),
        (6, Core),
        (7, Core),
        (8, Core),
        (9, Terminate),
        (10, Terminate),
        (11, Core),
        (12, Terminate),
        (13, Terminate),
        (14, Terminate),
        (15, Terminate),
        (16, Terminate),
        (17, Ignore),
        (18, Continue),
        (19, Stop),
        (20, Stop),
        (21, Stop),
        (22, Stop),
        (23, Ignore),
        (24, Core),
        (25, Core),
        (26, Terminate),
        (27, Terminate),
        (28, Ignore),
        (29, Terminate),
        (30, Terminate),
        (31, Core),
        (32, Terminate),
        (64, Terminate),
    ];
    for (n, action) in table {
        assert_eq!(sig(n).default_action(), action, "signal {n}");
    }
    assert_eq!(format!("{:?}", Signal::SIGSEGV), "SIGSEGV");
    assert_eq!(format!("{:?}", sig(40)), "SIGRT40");
    assert!(sig(32).is_realtime() && !sig(31).is_realtime());
}

#[test]
fn sets_use_the_kernel_layout_and_masks_drop_kill_and_stop() {
    let mut s = SigSet::EMPTY;
    s.insert(Signal::SIGINT);
    s.insert(sig(64));
    assert_eq!(s.bits(), (1 << 1) | (1 << 63));
    assert_eq!(s.first(), Some(Signal::SIGINT));
    assert_eq!(
        SigSet::from_bits(u64::MAX).as_mask().bits(),
        !((1 << 8) | (1 << 18))
    );
    assert_eq!(format!("{s:?}"), "{SIGINT, SIGRT64}");
}

#[test]
fn sigprocmask_follows_how_and_never_blocks_kill() {
    let mut t = ThreadSignals::default();
    let all = SigSet::from_bits(u64::MAX);
    assert_eq!(t.sigprocmask(how::SIG_BLOCK, Some(all)), Ok(SigSet::EMPTY));
    assert!(!t.blocked.contains(Signal::SIGKILL) && !t.blocked.contains(Signal::SIGSTOP));
    assert!(t.blocked.contains(Signal::SIGUSR1));
    let usr1 = SigSet::from_bits(1 << 9);
    t.sigprocmask(how::SIG_UNBLOCK, Some(usr1)).unwrap();
    assert!(!t.blocked.contains(Signal::SIGUSR1));
    let before = t.blocked;
    assert_eq!(t.sigprocmask(3, Some(usr1)), Err(LinuxError::EINVAL));
    assert_eq!(t.blocked, before);
    assert_eq!(
        t.sigprocmask(3, None),
        Ok(before),
        "how is ignored without a set"
    );
    t.sigprocmask(how::SIG_SETMASK, Some(usr1)).unwrap();
    assert_eq!(t.blocked, usr1);
}

#[test]
fn kill_and_stop_actions_cannot_change_and_ignoring_discards_pending() {
    let mut p = ProcessSignals::new();
    let mut t = ThreadSignals::default();
    let act = handler(0x1000, SaFlags::empty());
    assert_eq!(
        p.set_action(Signal::SIGKILL, Some(act), []),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        p.set_action(Signal::SIGSTOP, Some(act), []),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        p.set_action(Signal::SIGKILL, None, []),
        Ok(SigAction::default())
    );
    p.shared.push(SigInfo::user(Signal::SIGUSR1, 5, 0)).unwrap();
    t.pending
        .push(SigInfo::user(Signal::SIGUSR1, 5, 0))
        .unwrap();
    let ign = SigAction {
        handler: Handler::Ignore,
        ..SigAction::default()
    };
    p.set_action(Signal::SIGUSR1, Some(ign), [&mut t]).unwrap();
    assert!(p.shared.set().is_empty() && t.pending.set().is_empty());
    // A blocked signal is not discarded at generation even when ignored.
    let mut mask = SigSet::EMPTY;
    mask.insert(Signal::SIGUSR1);
    assert!(p.discards(Signal::SIGUSR1, SigSet::EMPTY));
    assert!(!p.discards(Signal::SIGUSR1, mask));
    assert!(
        p.discards(Signal::SIGCHLD, SigSet::EMPTY),
        "SIGCHLD's default is to ignore"
    );
    assert!(!p.discards(Signal::SIGKILL, SigSet::EMPTY));
}

#[test]
fn standard_signals_coalesce_and_realtime_ones_queue_in_order() {
    let mut q = PendingSignals::new();
    q.push(SigInfo::user(Signal::SIGUSR1, 7, 0)).unwrap();
    q.push(SigInfo::user(Signal::SIGUSR1, 8, 0)).unwrap();
    let rt = sig(40);
    for pid in [1, 2, 3] {
        q.push(SigInfo::user(rt, pid, 0)).unwrap();
    }
    let first = q.take(Signal::SIGUSR1).unwrap();
    assert_eq!(first.fields, SigFields::Kill { pid: 7, uid: 0 });
    assert_eq!(q.take(Signal::SIGUSR1), None);
    let pids: Vec<_> = (0..3).map(|_| q.take(rt).unwrap().fields).collect();
    assert_eq!(pids, [1, 2, 3].map(|pid| SigFields::Kill { pid, uid: 0 }));
    assert!(q.set().is_empty());
    for _ in 0..RT_QUEUE_MAX {
        q.push(SigInfo::user(rt, 1, 0)).unwrap();
    }
    assert_eq!(q.push(SigInfo::user(rt, 1, 0)), Err(LinuxError::EAGAIN));
}

#[test]
fn dequeue_prefers_thread_faults_then_lowest_number_and_skips_blocked() {
    let mut p = ProcessSignals::new();
    let mut t = ThreadSignals::default();
    for s in [Signal::SIGTERM, Signal::SIGUSR2] {
        p.set_action(s, Some(handler(0x10, SaFlags::empty())), [])
            .unwrap();
    }
    p.set_action(Signal::SIGSEGV, Some(handler(0x20, SaFlags::SIGINFO)), [])
        .unwrap();
    p.shared.push(SigInfo::user(Signal::SIGUSR2, 1, 0)).unwrap();
    t.pending
        .push(SigInfo::user(Signal::SIGTERM, 1, 0))
        .unwrap();
    t.pending
        .push(SigInfo::fault(Signal::SIGSEGV, code::SEGV_MAPERR, 0xdead))
        .unwrap();
    let order: Vec<Signal> = core::iter::from_fn(|| match p.dequeue(&mut t) {
        Some(Disposition::Handle {
            info, saved_mask, ..
        }) => {
            t.blocked = saved_mask; // the handler returned
            Some(info.signo)
        }
        _ => None,
    })
    .collect();
    assert_eq!(order, [Signal::SIGSEGV, Signal::SIGTERM, Signal::SIGUSR2]);
    t.blocked.insert(Signal::SIGUSR1);
    p.shared.push(SigInfo::user(Signal::SIGUSR1, 1, 0)).unwrap();
    assert_eq!(p.dequeue(&mut t), None, "blocked");
    assert!(p.shared.set().contains(Signal::SIGUSR1), "still pending");
}

#[test]
fn handler_masks_follow_nodefer_and_resethand() {
    let mut p = ProcessSignals::new();
    let mut t = ThreadSignals::default();
    let mut act = handler(0x40, SaFlags::RESETHAND);
    act.mask.insert(Signal::SIGKILL);
    act.mask.insert(Signal::SIGUSR2);
    p.set_action(Signal::SIGUSR1, Some(act), []).unwrap();
    t.pending
        .push(SigInfo::user(Signal::SIGUSR1, 1, 0))
        .unwrap();
    let Some(Disposition::Handle {
        handler_mask,
        saved_mask,
        action,
        ..
    }) = p.dequeue(&mut t)
    else {
        panic!("expected a handler")
    };
    assert_eq!(saved_mask, SigSet::EMPTY);
    assert!(handler_mask.contains(Signal::SIGUSR1) && handler_mask.contains(Signal::SIGUSR2));
    assert!(!handler_mask.contains(Signal::SIGKILL));
    assert_eq!(action.handler, Handler::User(0x40));
    assert_eq!(
        p.action(Signal::SIGUSR1),
        SigAction::default(),
        "SA_RESETHAND"
    );
    t.blocked = SigSet::EMPTY;
    p.set_action(Signal::SIGUSR2, Some(handler(0x50, SaFlags::NODEFER)), [])
        .unwrap();
    t.pending
        .push(SigInfo::user(Signal::SIGUSR2, 1, 0))
        .unwrap();
    let Some(Disposition::Handle { handler_mask, .. }) = p.dequeue(&mut t) else {
        panic!()
    };
    assert!(!handler_mask.contains(Signal::SIGUSR2), "SA_NODEFER");
}

#[test]
fn default_actions_terminate_stop_or_vanish() {
    let mut p = ProcessSignals::new();
    let mut t = ThreadSignals::default();
    let run = |p: &mut ProcessSignals, t: &mut ThreadSignals, s: Signal| {
        t.pending.push(SigInfo::kernel(s)).unwrap();
        p.dequeue(t)
    };
    assert!(matches!(
        run(&mut p, &mut t, Signal::SIGTERM),
        Some(Disposition::Terminate { core: false, .. })
    ));
    assert!(matches!(
        run(&mut p, &mut t, Signal::SIGQUIT),
        Some(Disposition::Terminate { core: true, .. })
    ));
    assert_eq!(
        run(&mut p, &mut t, Signal::SIGTSTP),
        Some(Disposition::Stop(Signal::SIGTSTP))
    );
    assert_eq!(run(&mut p, &mut t, Signal::SIGCHLD), None);
    assert_eq!(run(&mut p, &mut t, Signal::SIGCONT), None);
}

#[test]
fn blocked_or_ignored_faults_are_fatal() {
    let mut p = ProcessSignals::new();
    let mut t = ThreadSignals::default();
    p.set_action(Signal::SIGSEGV, Some(handler(0x60, SaFlags::empty())), [])
        .unwrap();
    t.blocked.insert(Signal::SIGSEGV);
    let info = SigInfo::fault(Signal::SIGSEGV, code::SEGV_ACCERR, 0x1000);
    assert_eq!(
        p.force_fault(info, &mut t),
        Disposition::Terminate { info, core: true }
    );
    let mut p = ProcessSignals::new();
    let ign = SigAction {
        handler: Handler::Ignore,
        ..SigAction::default()
    };
    p.set_action(Signal::SIGBUS, Some(ign), []).unwrap();
    let info = SigInfo::fault(Signal::SIGBUS, code::BUS_ADRERR, 0x2000);
    assert_eq!(
        p.force_fault(info, &mut ThreadSignals::default()),
        Disposition::Terminate { info, core: true }
    );
    // Unblocked and handled: the handler runs.
    let mut p = ProcessSignals::new();
    p.set_action(Signal::SIGSEGV, Some(handler(0x60, SaFlags::empty())), [])
        .unwrap();
    let info = SigInfo::fault(Signal::SIGSEGV, code::SEGV_MAPERR, 0);
    assert!(matches!(
        p.force_fault(info, &mut ThreadSignals::default()),
        Disposition::Handle { .. }
    ));
}

#[test]
fn stop_and_continue_cancel_each_other() {
    let mut q = PendingSignals::new();
    q.push(SigInfo::kernel(Signal::SIGTSTP)).unwrap();
    q.push(SigInfo::kernel(Signal::SIGTTIN)).unwrap();
    ProcessSignals::cancel_opposites(&mut q, Signal::SIGCONT);
    assert!(q.set().is_empty());
    q.push(SigInfo::kernel(Signal::SIGCONT)).unwrap();
    ProcessSignals::cancel_opposites(&mut q, Signal::SIGSTOP);
    assert!(q.set().is_empty());
}

#[test]
fn exec_resets_handlers_but_keeps_ignored_signals() {
    let mut p = ProcessSignals::new();
    p.set_action(Signal::SIGUSR1, Some(handler(0x70, SaFlags::SIGINFO)), [])
        .unwrap();
    let ign = SigAction {
        handler: Handler::Ignore,
        ..SigAction::default()
    };
    p.set_action(Signal::SIGPIPE, Some(ign), []).unwrap();
    p.exec();
    assert_eq!(p.action(Signal::SIGUSR1), SigAction::default());
    assert_eq!(p.action(Signal::SIGPIPE).handler, Handler::Ignore);
    assert_eq!(p.fork().action(Signal::SIGPIPE).handler, Handler::Ignore);
}

#[test]
fn altstack_rules() {
    let mut a = AltStack::default();
    assert_eq!(a.flags(0x5000), ss::DISABLE);
    assert_eq!(
        a.set(0x9000, 0x1000, 1024, 0, 2048),
        Err(LinuxError::ENOMEM)
    );
    assert_eq!(
        a.set(0x9000, 0x1000, 8192, 7, 2048),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(a, AltStack::default());
    a.set(0x9000, 0x1000, 8192, ss::AUTODISARM, 2048).unwrap();
    assert_eq!(a.flags(0x2000), ss::ONSTACK);
    assert_eq!(a.flags(0x9000), ss::AUTODISARM);
    assert_eq!(
        a.set(0x2000, 0, 0, ss::DISABLE, 2048),
        Err(LinuxError::EPERM),
        "on the stack"
    );
    a.set(0x9000, 0, 0, ss::DISABLE, 2048).unwrap();
    assert_eq!(a.size, 0);
}

#[test]
fn wait_status_words_match_linux() {
    assert_eq!(ExitStatus::from_exit_code(256 + 7).wstatus(), 7 << 8);
    assert_eq!(ExitStatus::from_exit_code(-1).wstatus(), 0xff << 8);
    let segv = ExitStatus::Signaled {
        sig: Signal::SIGSEGV,
        core: true,
    };
    assert_eq!(segv.wstatus(), 11 | 0x80);
    assert_eq!(segv.child_code(), (code::CLD_DUMPED, 11));
    assert_eq!(stopped_wstatus(Signal::SIGSTOP), (19 << 8) | 0x7f);
    assert_eq!(CONTINUED_WSTATUS, 0xffff);
}

#[test]
fn wait_arguments_are_checked_like_linux() {
    assert_eq!(WaitOptions::for_wait4(0), Ok(WaitOptions::WEXITED));
    assert_eq!(
        WaitOptions::for_wait4(0x4),
        Err(LinuxError::EINVAL),
        "WEXITED is waitid's"
    );
    assert_eq!(WaitOptions::for_wait4(0x0100_0000), Err(LinuxError::EINVAL));
    assert_eq!(
        WaitOptions::for_waitid(1),
        Err(LinuxError::EINVAL),
        "no event"
    );
    assert!(WaitOptions::for_waitid(0x0100_0004).is_ok());
    assert_eq!(WaitOptions::for_waitid(0x10), Err(LinuxError::EINVAL));
    assert_eq!(WaitTarget::for_wait4(i32::MIN), Err(LinuxError::ESRCH));
    assert_eq!(WaitTarget::for_wait4(-5), Ok(WaitTarget::Pgid(Pid::new(5))));
    assert_eq!(WaitTarget::for_waitid(1, 0), Err(LinuxError::EINVAL));
    assert_eq!(WaitTarget::for_waitid(2, 0), Ok(WaitTarget::OwnGroup));
    assert_eq!(WaitTarget::for_waitid(3, 4), Err(LinuxError::EINVAL));
    assert_eq!(
        WaitTarget::for_waitid(1, 0x8000_0000),
        Err(LinuxError::EINVAL)
    );
}

#[test]
fn credentials_follow_the_set_id_rules() {
    let mut c = Credentials::ROOT;
    assert_eq!(c.setuid(u32::MAX), Err(LinuxError::EINVAL));
    c.setresuid(1000, 1000, 0).unwrap();
    assert_eq!(c.setuid(0), Ok(()), "saved id 0 may be taken back");
    assert_eq!(
        (c.ruid, c.euid, c.suid),
        (1000, 0, 0),
        "unprivileged: the effective id only"
    );
    c.setuid(1000).unwrap();
    assert_eq!(
        (c.ruid, c.euid, c.suid),
        (1000, 1000, 1000),
        "privileged: all three"
    );
    assert_eq!(c.setuid(0), Err(LinuxError::EPERM));
    assert_eq!(c.setresuid(u32::MAX, 5, u32::MAX), Err(LinuxError::EPERM));
    assert_eq!(
        c.setgid(5),
        Err(LinuxError::EPERM),
        "group changes need privilege too"
    );
    let target = Credentials {
        ruid: 1000,
        suid: 1000,
        euid: 1000,
        ..Credentials::ROOT
    };
    assert!(c.may_signal(&target));
    assert!(!c.may_signal(&Credentials::ROOT));
    let mut d = Credentials {
        ruid: 1,
        euid: 2,
        suid: 3,
        ..Credentials::ROOT
    };
    d.setreuid(2, u32::MAX).unwrap();
    assert_eq!(
        (d.ruid, d.euid, d.suid),
        (2, 2, 2),
        "setting the real id moves the saved id"
    );
}
