//! Timer interrupts preempt user code. Three user programs, each in its own address space:
//! two spin and make a "progress" system call in a loop, counting the calls in a register,
//! until the kernel answers 0, then exit with their count; the third loops forever
//! without a single trap. The kernel answers 0 once a counter made `MIN_ROUNDS` calls and
//! was preempted `MIN_PREEMPTIONS` times, so the run lasts long enough however fast TCG
//! happens to be. A scheduler loop in the kernel, as the kernel
//! will run Linux threads (docs/DESIGN.md: run to completion, interrupts only in user mode
//! and while idle), arms a tick every `TICK_NS`, feeds every `UserTrap::Timer` to
//! `RunQueue::tick` and switches when it says so. PASS when both counters exited with
//! the count the kernel saw (their registers survived every preemption) while the looper was preempted again and again, the looper is
//! dropped, the monotonic clock agreed with the tick count to within 1 %, and an idle wait
//! (`wait_for_interrupt`) ended at its deadline.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use pagoda::mm::{self, AddrSpace, VirtAddr};
use pagoda::println;
use pagoda::time::{self, Next, Pid, RunQueue};
use pagoda::trap::{UserContext, UserTrap};

pagoda::main!(main);

const T: pagoda::Test = pagoda::Test::new("preempt");
/// Timer tick period.
const TICK_NS: u64 = 2_000_000;
/// Ticks per time slice.
const SLICE_TICKS: u32 = 2;
/// Progress calls a counter makes at least before the kernel lets it stop.
const MIN_ROUNDS: u32 = 100;
/// Times a counter is preempted at least before the kernel lets it stop.
const MIN_PREEMPTIONS: u32 = 12;
/// The private "progress" system call of the counters: returns 0 to say "stop".
const SYS_PROGRESS: usize = 2000;
/// Give up (the counters are not getting the CPU) after this many ticks: 4 s.
const MAX_TICKS: u64 = 2000;
const CODE_VA: usize = 0x40_0000;
const STACK_TOP: usize = 0x80_0000;

/// Per-arch system-call numbers and machine code (data, chosen at run time).
struct Arch {
    exit: usize,
    counter: fn(u32) -> Vec<u8>,
    /// Busy-loop iterations between two system calls of a counter (TCG runs x86's
    /// two-instruction loop faster).
    spin: u32,
    looper: &'static [u8],
}

const RISCV64: Arch = Arch {
    exit: 93,
    counter: riscv_counter,
    spin: 3000,
    looper: &[0x6f, 0x00, 0x00, 0x00], // j .
};

const X86_64: Arch = Arch {
    exit: 60,
    counter: x86_counter,
    spin: 12000,
    looper: &[0xeb, 0xfe], // jmp .
};

const AARCH64: Arch = Arch {
    exit: 93,
    counter: aarch64_counter,
    spin: 3000,
    looper: &[0x00, 0x00, 0x00, 0x14], // b .
};

/// riscv64 `li rd, v` (lui + addi) for `v < 2^31`.
fn rv_li(rd: u32, v: u32) -> [u32; 2] {
    let hi = v.wrapping_add(0x800) >> 12;
    let lo = v.wrapping_sub(hi << 12) & 0xfff;
    [
        (hi << 12) | (rd << 7) | 0x37,
        (lo << 20) | (rd << 15) | (rd << 7) | 0x13,
    ]
}

/// riscv64 `addi rd, rs, imm`.
fn rv_addi(rd: u32, rs: u32, imm: i32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | (rs << 15) | (rd << 7) | 0x13
}

/// riscv64 `bnez rs, off` (`bne rs, zero, off`).
fn rv_bnez(rs: u32, off: i32) -> u32 {
    let i = off as u32;
    (((i >> 12) & 1) << 31)
        | (((i >> 5) & 0x3f) << 25)
        | (rs << 15)
        | (1 << 12)
        | (((i >> 1) & 0xf) << 8)
        | (((i >> 11) & 1) << 7)
        | 0x63
}

/// Until the progress call returns 0: spin `spin` iterations, progress call, count it in
/// s0; then exit(count).
fn riscv_counter(spin: u32) -> Vec<u8> {
    const S0: u32 = 8;
    const T0: u32 = 5;
    const A0: u32 = 10;
    const A7: u32 = 17;
    const ECALL: u32 = 0x73;
    let mut w = Vec::new();
    w.push(rv_addi(S0, 0, 0)); // 0
    w.extend(rv_li(T0, spin)); // 4: outer
    w.push(rv_addi(T0, T0, -1)); // 12: inner
    w.push(rv_bnez(T0, -4)); // 16 → 12
    w.push(rv_addi(A7, 0, SYS_PROGRESS as i32)); // 20
    w.push(ECALL); // 24
    w.push(rv_addi(S0, S0, 1)); // 28
    w.push(rv_bnez(A0, -28)); // 32 → 4
    w.push(rv_addi(A0, S0, 0)); // 36
    w.push(rv_addi(A7, 0, 93)); // 40
    w.push(ECALL); // 44
    w.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// The same program for x86_64 (count in ebx).
fn x86_counter(spin: u32) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend([0x31, 0xdb]); // 0: xor ebx, ebx
    c.push(0xb9); // 2: outer: mov ecx, spin
    c.extend(spin.to_le_bytes());
    c.extend([0xff, 0xc9]); // 7: inner: dec ecx
    c.extend([0x75, 0xfc]); // 9: jnz inner
    c.push(0xb8); // 11: mov eax, SYS_PROGRESS
    c.extend((SYS_PROGRESS as u32).to_le_bytes());
    c.extend([0x0f, 0x05]); // 16: syscall
    c.extend([0xff, 0xc3]); // 18: inc ebx
    c.extend([0x85, 0xc0]); // 20: test eax, eax
    c.extend([0x75, 0xea]); // 22: jnz outer
    c.extend([0x89, 0xdf]); // 24: mov edi, ebx
    c.extend([0xb8, 60, 0, 0, 0]); // 26: mov eax, 60 (exit)
    c.extend([0x0f, 0x05]); // 31: syscall
    c
}

/// The same program for aarch64 (count in x19; `spin` < 65536).
fn aarch64_counter(spin: u32) -> Vec<u8> {
    let movz = |rd: u32, imm: u32| 0xd280_0000 | ((imm & 0xffff) << 5) | rd;
    let code = [
        movz(19, 0),                  // 0: mov x19, #0
        movz(9, spin),                // 4: outer: mov x9, #spin
        0xf100_0529,                  // 8: inner: subs x9, x9, #1
        0x54ff_ffe1,                  // 12: b.ne inner
        movz(8, SYS_PROGRESS as u32), // 16: mov x8, #SYS_PROGRESS
        0xd400_0001,                  // 20: svc #0
        0x9100_0673,                  // 24: add x19, x19, #1
        0xb5ff_ff40,                  // 28: cbnz x0, outer
        0xaa13_03e0,                  // 32: mov x0, x19
        movz(8, 93),                  // 36: mov x8, #93 (exit)
        0xd400_0001,                  // 40: svc #0
    ];
    code.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// One user thread with its own address space (`None` while installed).
struct Thread {
    tid: Pid,
    ctx: UserContext,
    space: Option<AddrSpace>,
    finite: bool,
    syscalls: u32,
    exited: bool,
    /// Timer interrupts taken while it ran.
    ticks: u32,
    /// Times a tick switched it out.
    preempted: u32,
}

fn spawn(tid: u32, code: &[u8], finite: bool) -> Thread {
    let mut space = T.ok(mm::new_space(), "new address space");
    T.ok(
        mm::map_code(&mut space, VirtAddr::from_usize(CODE_VA), code),
        "map code",
    );
    Thread {
        tid: Pid::new(tid),
        ctx: UserContext::new(CODE_VA, STACK_TOP),
        space: Some(space),
        finite,
        syscalls: 0,
        exited: false,
        ticks: 0,
        preempted: 0,
    }
}

/// Installs the address space of `threads[idx]`, parking the previous one with its owner.
fn activate(threads: &mut [Thread], installed: &mut Option<usize>, idx: usize) {
    if *installed == Some(idx) {
        return;
    }
    let space = T.some(
        threads[idx].space.take(),
        "address space of the next thread",
    );
    let previous = T.ok(mm::switch_to(space), "switch address space");
    if let Some(i) = *installed {
        threads[i].space = previous;
    }
    *installed = Some(idx);
}

fn main() {
    let arch = match pagoda::ARCH {
        "riscv64" => &RISCV64,
        "x86_64" => &X86_64,
        "aarch64" => &AARCH64,
        other => T.fail(format_args!("no user programs for {other}")),
    };
    let counter = (arch.counter)(arch.spin);
    let mut threads = Vec::new();
    threads.push(spawn(1, &counter, true));
    threads.push(spawn(2, arch.looper, false));
    threads.push(spawn(3, &counter, true));
    let mut rq = RunQueue::new(SLICE_TICKS);
    for t in &threads {
        rq.wake(t.tid);
    }
    let tids: Vec<Pid> = threads.iter().map(|t| t.tid).collect();
    let find = |tid: Pid| T.some(tids.iter().position(|&t| t == tid), "known tid");

    let start = time::monotonic_ns();
    let mut deadline = start + TICK_NS;
    time::set_timer_deadline(deadline);
    let (mut ticks, mut switches, mut last_now) = (0u64, 0u64, start);
    let mut tick_times = Vec::new();
    let mut caught_up = true;
    let mut installed = None;
    let mut cur = 0;
    let mut next = rq.block();
    loop {
        match next {
            Next::Switch(tid) => {
                cur = find(tid);
                activate(&mut threads, &mut installed, cur);
                switches += 1;
            }
            Next::Continue => {}
            Next::Idle => T.fail(format_args!("run queue idle while the looper lives")),
        }
        let trap = threads[cur].ctx.run();
        let t = &mut threads[cur];
        next = match trap {
            UserTrap::Timer => {
                ticks += 1;
                t.ticks += 1;
                let now = time::monotonic_ns();
                T.check(now >= last_now, "monotonic_ns went backwards");
                T.check(now >= deadline, "timer interrupt before its deadline");
                last_now = now;
                tick_times.push(now - start);
                // Ticks late by more than a period (the host stalled QEMU) are caught up
                // back to back; the run ends only once the schedule is punctual again.
                caught_up = now - deadline < TICK_NS;
                T.check(ticks < MAX_TICKS, "counters did not finish in time");
                // Absolute deadlines: a late tick does not shift the ones after it.
                deadline += TICK_NS;
                time::set_timer_deadline(deadline);
                let next = rq.tick();
                if matches!(next, Next::Switch(_)) {
                    t.preempted += 1;
                }
                next
            }
            UserTrap::Syscall if t.finite => {
                let nr = t.ctx.syscall_number();
                if nr == SYS_PROGRESS {
                    t.syscalls += 1;
                    let go_on =
                        t.syscalls < MIN_ROUNDS || t.preempted < MIN_PREEMPTIONS || !caught_up;
                    t.ctx.set_syscall_return(usize::from(go_on));
                    Next::Continue
                } else if nr == arch.exit {
                    T.eq(
                        t.ctx.syscall_args()[0],
                        t.syscalls as usize,
                        "exit status = the program's own count of progress calls",
                    );
                    t.exited = true;
                    let next = rq.block();
                    if threads.iter().all(|t| !t.finite || t.exited) {
                        // Only the looper is left: the queue hands it the CPU.
                        T.eq(next, Next::Switch(Pid::new(2)), "the looper is next");
                        break;
                    }
                    next
                } else {
                    T.fail(format_args!("unexpected system call {nr}"))
                }
            }
            other => T.fail(format_args!("thread {:?}: unexpected {other:?}", t.tid)),
        };
    }

    // Drop the looper: it never runs again; its space goes with it.
    let looper = T.some(threads.iter().position(|t| !t.finite), "looper");
    rq.remove(threads[looper].tid);
    T.eq(rq.current(), None, "nothing current without the looper");
    T.eq(rq.ready().count(), 0, "nothing ready without the looper");
    T.eq(rq.block(), Next::Idle, "idle without the looper");
    let (l_ticks, l_preempted) = (threads[looper].ticks, threads[looper].preempted);
    drop(mm::take_current());
    drop(threads.remove(looper));

    println!(
        "preempt: {ticks} timer interrupts, {switches} switches; looper ran {l_ticks} ticks, preempted {l_preempted} times; counters made {} and {} syscalls (preempted {} and {} times)",
        threads[0].syscalls, threads[1].syscalls, threads[0].preempted, threads[1].preempted
    );
    for t in &threads {
        T.check(t.syscalls >= MIN_ROUNDS, "progress calls of a counter");
        T.check(
            t.preempted >= MIN_PREEMPTIONS,
            "each counting program was preempted",
        );
    }
    T.check(l_preempted >= 3, "the looper was preempted again and again");
    T.check(
        l_ticks >= 2 * l_preempted,
        "the looper ran whole slices (2 ticks each)",
    );

    // The clock against the tick count: tick k (deadline start + k * TICK_NS) was seen at
    // tick_times[k - 1]. A late delivery (the host descheduled QEMU) says nothing about
    // the clock, so take the most punctual tick of the second half of the run.
    let first = tick_times.len() / 2;
    let (k, elapsed) = T.some(
        tick_times
            .iter()
            .enumerate()
            .skip(first)
            .map(|(i, &t)| (i as u64 + 1, t))
            .min_by_key(|&(k, t)| t.abs_diff(k * TICK_NS)),
        "ticks",
    );
    let expected = k * TICK_NS;
    let err = elapsed.abs_diff(expected);
    println!(
        "preempt: clock {elapsed} ns at tick {k} of {TICK_NS} ns (error {} ppm), counter at {} Hz",
        err * 1_000_000 / expected.max(1),
        time::timer_frequency_hz()
    );
    T.check(
        err * 100 < expected,
        "monotonic_ns within 1% of the tick count",
    );

    // Idle: nothing runnable, wait for the next tick with interrupts enabled (the kernel
    // takes the interrupt inside wait_for_interrupt and acknowledges it).
    let idle_deadline = time::monotonic_ns() + TICK_NS;
    time::set_timer_deadline(idle_deadline);
    let mut wakeups = 0;
    while time::monotonic_ns() < idle_deadline {
        time::wait_for_interrupt();
        wakeups += 1;
        T.check(wakeups < 1000, "idle wait never reached its deadline");
    }
    time::set_timer_deadline(u64::MAX);
    println!("preempt: idle until the next deadline, woken {wakeups} time(s)");
    T.pass();
}
