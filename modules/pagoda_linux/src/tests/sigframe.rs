//! Signal frames: offsets against the UAPI headers (x86_64 from the host, riscv64 from
//! Debian's cross headers when installed), placement and alignment rules, and the round trip
//! through `rt_sigreturn`.

use super::{Headers, c_values};
use crate::abi::Arch;
use crate::sigframe::*;

#[test]
fn x86_64_ucontext_matches_the_headers() {
    let exprs = [
        "sizeof(struct ucontext)",
        "offsetof(struct ucontext, uc_stack)",
        "offsetof(struct ucontext, uc_mcontext)",
        "offsetof(struct ucontext, uc_sigmask)",
        "sizeof(struct sigcontext)",
        "offsetof(struct sigcontext, rip)",
        "offsetof(struct sigcontext, eflags)",
        "offsetof(struct sigcontext, cs)",
        "offsetof(struct sigcontext, err)",
        "offsetof(struct sigcontext, oldmask)",
        "offsetof(struct sigcontext, cr2)",
        "offsetof(struct sigcontext, fpstate)",
        "offsetof(struct sigcontext, r8)",
        "offsetof(struct sigcontext, rsp)",
    ];
    let Some(v) = c_values(
        Headers::Uapi(&["/usr/include/x86_64-linux-gnu", "/usr/include"]),
        &["asm/signal.h", "asm/sigcontext.h", "asm-generic/ucontext.h"],
        &exprs,
    ) else {
        return;
    };
    assert_eq!(
        v,
        [
            304, 16, 40, 296, 256, 128, 136, 144, 152, 168, 176, 184, 0, 120
        ]
    );
}

#[test]
fn riscv64_ucontext_matches_the_cross_headers() {
    let exprs = [
        "sizeof(struct ucontext)",
        "offsetof(struct ucontext, uc_stack)",
        "offsetof(struct ucontext, uc_sigmask)",
        "offsetof(struct ucontext, uc_mcontext)",
        "sizeof(struct sigcontext)",
        "offsetof(struct sigcontext, sc_fpregs)",
        "offsetof(struct sigcontext, sc_regs.sp)",
        "offsetof(struct sigcontext, sc_regs.a0)",
        "sizeof(struct __riscv_d_ext_state)",
    ];
    let Some(v) = c_values(
        Headers::Uapi(&["/usr/riscv64-linux-gnu/include"]),
        &["asm/signal.h", "asm/sigcontext.h", "asm/ucontext.h"],
        &exprs,
    ) else {
        return;
    };
    assert_eq!(
        v,
        [
            960,
            16,
            40,
            176,
            784,
            256,
            16,
            80,
            fp_size(Arch::Riscv64) + 4
        ]
    );
}

fn info() -> [u8; 128] {
    let mut i = [0u8; 128];
    i[0] = 11;
    i[8] = 1;
    i
}

fn x86_regs(sp: u64) -> UserRegs {
    let mut gpr = [0u64; 18];
    for (i, r) in gpr.iter_mut().enumerate() {
        *r = 0x1000 + i as u64;
    }
    gpr[x64::RSP] = sp;
    gpr[x64::EFLAGS] = 0x202 | 0x400 | 0x100;
    UserRegs::X86_64 {
        gpr,
        segs: 0x2b_0000_0000_0033,
        fault: [4, 14, 0xdead_0000],
    }
}

fn rv_regs(sp: u64) -> UserRegs {
    let mut x = [0u64; 32];
    for (i, r) in x.iter_mut().enumerate() {
        *r = 0x2000 + i as u64;
    }
    x[rv::SP] = sp;
    UserRegs::Riscv64(x)
}

fn delivery(info: &[u8; 128], altstack: StackInfo, switch: bool) -> Delivery<'_> {
    Delivery {
        signo: 11,
        info,
        saved_mask: 0x5a,
        handler: 0x40_1000,
        restorer: Some(0x40_2000),
        altstack,
        switch_to_altstack: switch,
    }
}

#[test]
fn x86_64_frames_skip_the_red_zone_and_align_like_a_call() {
    let info = info();
    let regs = x86_regs(0x7fff_0000_1234);
    let fp: Vec<u8> = (0..512).map(|i| i as u8).collect();
    let f = build(
        &regs,
        &fp,
        &delivery(
            &info,
            StackInfo {
                flags: 2,
                ..StackInfo::default()
            },
            false,
        ),
    )
    .unwrap();
    assert_eq!((f.addr + 8) % 16, 0, "rsp % 16 == 8 at entry");
    assert!(
        f.addr + f.bytes.len() as u64 <= 0x7fff_0000_1234 - 128,
        "red zone intact"
    );
    let UserRegs::X86_64 { gpr, .. } = f.entry else {
        panic!()
    };
    assert_eq!(
        (gpr[x64::RIP], gpr[x64::RDI], gpr[x64::RSP]),
        (0x40_1000, 11, f.addr)
    );
    assert_eq!(gpr[x64::RSI], f.addr + 312);
    assert_eq!(gpr[x64::RDX], f.addr + 8);
    assert_eq!(
        gpr[x64::EFLAGS] & 0x500,
        0,
        "DF and TF clear in the handler"
    );
    assert_eq!(
        &f.bytes[..8],
        &0x40_2000u64.to_le_bytes(),
        "returns to sa_restorer"
    );
    assert_eq!(&f.bytes[312..440], &info[..]);
    let fp_addr = u64::from_le_bytes(f.bytes[48 + 184..48 + 192].try_into().unwrap());
    assert_eq!(fp_addr % 64, 0);
    let at = (fp_addr - f.addr) as usize;
    assert_eq!(&f.bytes[at..at + 512], &fp[..]);
    // rt_sigreturn: the handler's `ret` popped the return address.
    let start = frame_at_sigreturn(Arch::X86_64, f.addr + 8);
    assert_eq!(start, f.addr);
    let back = restore(
        Arch::X86_64,
        &f.bytes[..frame_len(Arch::X86_64)],
        0x202 | 0x3000,
    )
    .unwrap();
    let UserRegs::X86_64 {
        gpr: old,
        segs,
        fault,
    } = regs
    else {
        panic!()
    };
    let UserRegs::X86_64 {
        gpr: got,
        segs: got_segs,
        fault: got_fault,
    } = back.regs
    else {
        panic!()
    };
    assert_eq!(&got[..17], &old[..17]);
    assert_eq!(
        got[x64::EFLAGS],
        0x202 | 0x400 | 0x100 | 0x3000,
        "IOPL bits come from the kernel"
    );
    assert_eq!((got_segs, got_fault), (segs, fault));
    assert_eq!((back.mask, back.fp_addr), (0x5a, fp_addr));
    assert_eq!(back.altstack.flags, 2);
}

#[test]
fn riscv64_frames_are_16_aligned_and_return_through_the_trampoline() {
    let info = info();
    let regs = rv_regs(0x3f_ffff_f008);
    let fp: Vec<u8> = (0..fp_size(Arch::Riscv64)).map(|i| (i * 3) as u8).collect();
    let f = build(&regs, &fp, &delivery(&info, StackInfo::default(), false)).unwrap();
    assert_eq!(f.addr % 16, 0);
    assert!(f.addr + f.bytes.len() as u64 <= 0x3f_ffff_f008);
    let UserRegs::Riscv64(x) = f.entry else {
        panic!()
    };
    assert_eq!(
        (x[rv::PC], x[rv::RA], x[rv::SP]),
        (0x40_1000, 0x40_2000, f.addr)
    );
    assert_eq!(
        (x[rv::A0], x[rv::A1], x[rv::A2]),
        (11, f.addr, f.addr + 128)
    );
    assert_eq!(&f.bytes[..128], &info[..]);
    let back = restore(Arch::Riscv64, &f.bytes, 0).unwrap();
    assert_eq!(back.regs, regs);
    assert_eq!((back.mask, back.fp), (0x5a, fp));
}

#[test]
fn altstack_switch_and_errors() {
    let info = info();
    let alt = StackInfo {
        sp: 0x5000_0000,
        flags: 0,
        size: 0x4000,
    };
    for regs in [x86_regs(0x7fff_0000_0000), rv_regs(0x3f_0000_0000)] {
        let fp = vec![0; fp_size(regs.arch())];
        let f = build(&regs, &fp, &delivery(&info, alt, true)).unwrap();
        assert!(
            f.addr >= alt.sp && f.addr + f.bytes.len() as u64 <= alt.sp + alt.size,
            "{:?}",
            regs.arch()
        );
        let mut d = delivery(&info, alt, false);
        d.restorer = None;
        assert_eq!(
            build(&regs, &fp, &d),
            Err(axerrno::LinuxError::EFAULT),
            "no restorer"
        );
        assert_eq!(
            build(&regs, &fp[1..], &delivery(&info, alt, false)),
            Err(axerrno::LinuxError::EFAULT)
        );
    }
    let low = x86_regs(100);
    assert_eq!(
        build(&low, &[0; 512], &delivery(&info, alt, false)),
        Err(axerrno::LinuxError::EFAULT)
    );
    assert_eq!(
        restore(Arch::Riscv64, &[0; 100], 0),
        Err(axerrno::LinuxError::EFAULT)
    );
    assert_eq!(
        restore(Arch::Aarch64, &[0; 2000], 0),
        Err(axerrno::LinuxError::EINVAL)
    );
}
