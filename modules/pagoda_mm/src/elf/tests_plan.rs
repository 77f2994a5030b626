//! Tests of ELF validation, the load plan and the stack layout (no address space needed).

use alloc::{vec, vec::Vec};

use axerrno::LinuxError;
use memory_addr::VirtAddr;
use page_table_entry::MappingFlags;

use super::builder::{ElfBuilder, PF_R, PF_W, PF_X, PT_PHDR, put16, put64};
use super::parse::{ElfKind, ElfLayout, ElfMachine, ElfPlan, plan};
use super::stack::{AT_PAGESZ, AT_PHDR, AT_RANDOM, build_stack};

const RV: ElfMachine = ElfMachine::RiscV64;
const X86: ElfMachine = ElfMachine::X86_64;
const URX: MappingFlags = MappingFlags::READ
    .union(MappingFlags::EXECUTE)
    .union(MappingFlags::USER);
const URW: MappingFlags = MappingFlags::READ
    .union(MappingFlags::WRITE)
    .union(MappingFlags::USER);

fn layout(machine: ElfMachine) -> ElfLayout {
    ElfLayout {
        machine,
        user_start: VirtAddr::from(0x1000),
        user_end: VirtAddr::from(0x40_0000_0000),
        pie_base: VirtAddr::from(0x5555_0000),
    }
}

/// A static image: text at 0x10000 (with headers), data+bss at 0x12100.
pub fn static_image(machine: ElfMachine) -> Vec<u8> {
    ElfBuilder::new(machine, false)
        .entry(0x10000 + 64 + 2 * 56)
        .load_with_headers(0x10000, PF_R | PF_X, &[0x13; 40])
        .load(0x12100, PF_R | PF_W, &[0x5a; 0x20], 0x3000)
        .build()
}

fn err(image: &[u8], machine: ElfMachine) -> LinuxError {
    plan(image, &layout(machine)).expect_err("image must be rejected")
}

#[test]
fn static_plan() {
    let image = static_image(RV);
    let p = plan(&image, &layout(RV)).unwrap();
    assert_eq!(p.kind, ElfKind::Static);
    assert_eq!(p.load_bias, 0);
    assert_eq!(p.entry, VirtAddr::from(0x10000 + 176));
    assert_eq!(p.segments.len(), 2);
    let (t, d) = (&p.segments[0], &p.segments[1]);
    assert_eq!(
        (t.start, t.size, t.flags),
        (VirtAddr::from(0x10000), 0x1000, URX)
    );
    assert_eq!(t.file_range, 0..176 + 40);
    assert_eq!(
        (d.start, d.size, d.flags),
        (VirtAddr::from(0x12000), 0x4000, URW)
    );
    assert_eq!(d.data_start, VirtAddr::from(0x12100));
    assert_eq!(d.mem_end, VirtAddr::from(0x15100));
    assert_eq!(&image[d.file_range.clone()], &[0x5a; 0x20]);
    assert_eq!(p.brk_start, VirtAddr::from(0x16000));
    assert_eq!(p.phdr, VirtAddr::from(0x10040));
    assert_eq!(p.phnum, 2);
    assert_eq!(p.interp, None);
}

#[test]
fn pie_plan_moves_everything_by_the_bias() {
    let image = ElfBuilder::new(X86, true)
        .entry(0x1100)
        .raw(PT_PHDR, 0x40)
        .load_with_headers(0, PF_R, &[])
        .load(0x1000, PF_R | PF_X, &[0x90; 0x200], 0x200)
        .interp(b"/lib/ld-musl-x86_64.so.1")
        .build();
    let p = plan(&image, &layout(X86)).unwrap();
    assert_eq!(p.kind, ElfKind::Pie);
    assert_eq!(p.load_bias, 0x5555_0000);
    assert_eq!(p.entry, VirtAddr::from(0x5555_1100));
    assert_eq!(p.phdr, VirtAddr::from(0x5555_0040));
    assert_eq!(p.segments[0].start, VirtAddr::from(0x5555_0000));
    assert_eq!(p.segments[1].start, VirtAddr::from(0x5555_1000));
    assert_eq!(p.segments[1].flags, URX);
    assert_eq!(p.brk_start, VirtAddr::from(0x5555_2000));
    assert_eq!(p.interp.as_deref(), Some(&b"/lib/ld-musl-x86_64.so.1"[..]));
    // The same image for the other machine is refused.
    assert_eq!(err(&image, RV), LinuxError::ENOEXEC);
}

#[test]
fn pie_base_must_be_page_aligned() {
    let image = ElfBuilder::new(RV, true)
        .entry(0)
        .load(0, PF_R, &[1], 1)
        .build();
    let mut l = layout(RV);
    l.pie_base = VirtAddr::from(0x5555_0010);
    assert_eq!(plan(&image, &l), Err(LinuxError::EINVAL));
}

#[test]
fn unaligned_input_buffer_is_parsed_like_an_aligned_one() {
    let image = static_image(X86);
    let want = plan(&image, &layout(X86));
    assert!(want.is_ok());
    for skip in 1..8 {
        let mut shifted = vec![0u8; skip];
        shifted.extend_from_slice(&image);
        assert_eq!(plan(&shifted[skip..], &layout(X86)), want);
    }
}

#[test]
fn header_identity_checks() {
    let good = static_image(RV);
    let cases: [(usize, u8); 6] = [(0, 0x7e), (4, 1), (5, 2), (6, 0), (20, 2), (16, 1)];
    for (at, v) in cases {
        let mut bad = good.clone();
        bad[at] = v;
        assert_eq!(err(&bad, RV), LinuxError::ENOEXEC, "byte {at} = {v}");
    }
    // ET_CORE, wrong machine.
    let mut bad = good.clone();
    put16(&mut bad, 16, 4);
    assert_eq!(err(&bad, RV), LinuxError::ENOEXEC);
    assert_eq!(err(&good, X86), LinuxError::ENOEXEC);
    assert_eq!(err(&good, ElfMachine::AArch64), LinuxError::ENOEXEC);
}

#[test]
fn aarch64_images_need_the_aarch64_machine() {
    let a64 = ElfMachine::AArch64;
    let image = static_image(a64);
    assert_eq!(u16::from_le_bytes([image[18], image[19]]), 183); // EM_AARCH64
    let p = plan(&image, &layout(a64)).unwrap();
    assert_eq!(p.entry, VirtAddr::from(0x10000 + 176));
    assert_eq!(err(&image, RV), LinuxError::ENOEXEC);
    assert_eq!(err(&image, X86), LinuxError::ENOEXEC);
}

#[test]
fn program_header_table_checks() {
    let good = static_image(RV);
    let set = |at: usize, v: u64, two: bool| {
        let mut bad = good.clone();
        if two {
            put16(&mut bad, at, v as u16)
        } else {
            put64(&mut bad, at, v)
        }
        err(&bad, RV)
    };
    assert_eq!(set(32, 65, false), LinuxError::ENOEXEC); // unaligned e_phoff
    assert_eq!(set(32, 0, false), LinuxError::ENOEXEC); // table over the ELF header
    assert_eq!(set(32, u64::MAX - 7, false), LinuxError::ENOEXEC); // overflow
    assert_eq!(set(32, 1 << 20, false), LinuxError::ENOEXEC); // past the end
    assert_eq!(set(54, 32, true), LinuxError::ENOEXEC); // e_phentsize
    assert_eq!(set(56, 0, true), LinuxError::ENOEXEC); // no program headers
    assert_eq!(set(56, 0xffff, true), LinuxError::ENOEXEC); // PN_XNUM / too large
    assert_eq!(set(56, 40, true), LinuxError::ENOEXEC); // table beyond the file
}

/// Byte offset of field `off` of program header `i`.
fn ph(i: usize, off: usize) -> usize {
    64 + 56 * i + off
}

#[test]
fn segment_checks() {
    let good = static_image(RV);
    let patch = |i: usize, off: usize, v: u64| {
        let mut bad = good.clone();
        put64(&mut bad, ph(i, off), v);
        err(&bad, RV)
    };
    assert_eq!(patch(1, 32, 0x3001), LinuxError::ENOEXEC); // filesz > memsz
    assert_eq!(patch(1, 8, good.len() as u64), LinuxError::ENOEXEC); // bytes past the end
    assert_eq!(patch(1, 8, u64::MAX - 4), LinuxError::ENOEXEC); // offset + filesz overflows
    assert_eq!(patch(1, 16, 0x10800), LinuxError::ENOEXEC); // overlaps the text page
    assert_eq!(patch(1, 16, 0x8000), LinuxError::ENOEXEC); // not ascending
    assert_eq!(patch(1, 16, u64::MAX - 0x100), LinuxError::ENOEXEC); // vaddr + memsz overflows
    assert_eq!(patch(1, 40, 1 << 62), LinuxError::EINVAL); // huge: beyond the user range
    assert_eq!(patch(1, 16, 0x40_0000_0000), LinuxError::EINVAL); // outside the user range
    assert_eq!(patch(0, 16, 0), LinuxError::EINVAL); // page 0 is not user memory
    // Entry outside the user range.
    let mut bad = good.clone();
    put64(&mut bad, 24, 0x40_0000_0000);
    assert_eq!(err(&bad, RV), LinuxError::EINVAL);
    // No PT_LOAD at all.
    let mut bad = good.clone();
    put64(&mut bad, ph(0, 0), 4);
    put64(&mut bad, ph(1, 0), 4);
    assert_eq!(err(&bad, RV), LinuxError::ENOEXEC);
    // Unknown segment types are ignored (Linux does the same).
    let mut odd = good.clone();
    super::builder::put32(&mut odd, ph(0, 0), 0x5000_0000);
    let p = plan(&odd, &layout(RV)).unwrap();
    assert_eq!(p.segments.len(), 1);
}

#[test]
fn interp_checks() {
    let image = ElfBuilder::new(RV, false)
        .entry(0x10000)
        .load(0x10000, PF_R | PF_X, &[1; 8], 8)
        .interp(b"/lib/ld.so")
        .build();
    let p: ElfPlan = plan(&image, &layout(RV)).unwrap();
    assert_eq!(p.interp.as_deref(), Some(&b"/lib/ld.so"[..]));
    let off = u64::from_le_bytes(image[ph(1, 8)..ph(1, 16)].try_into().unwrap()) as usize;
    let mut no_nul = image.clone();
    no_nul[off + 10] = b'x';
    assert_eq!(err(&no_nul, RV), LinuxError::ENOEXEC);
    let mut inner_nul = image.clone();
    inner_nul[off + 3] = 0;
    assert_eq!(err(&inner_nul, RV), LinuxError::ENOEXEC);
}

#[test]
fn every_truncation_is_rejected_without_panic() {
    let image = static_image(X86);
    // End of the data segment's file bytes: everything after it is junk.
    let needed = plan(&image, &layout(X86)).unwrap().segments[1]
        .file_range
        .end;
    for len in 0..image.len() {
        let r = plan(&image[..len], &layout(X86));
        if len < needed {
            assert_eq!(r, Err(LinuxError::ENOEXEC), "len {len}");
        } else {
            assert!(r.is_ok(), "len {len}");
        }
    }
}

#[test]
fn stack_layout_byte_for_byte() {
    let random: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let aux = [(AT_PHDR, 0x1040), (AT_PAGESZ, 4096)];
    let img = build_stack(
        VirtAddr::from(0x10000),
        &["prog", "-x"],
        &["A=1"],
        &aux,
        &random,
        4096,
    )
    .unwrap();
    assert_eq!(img.sp, VirtAddr::from(0xff70));
    assert_eq!(img.random, VirtAddr::from(0xffe0));
    let mut want = Vec::new();
    let words: [u64; 14] = [
        2,
        0xfff4,
        0xfff9,
        0,
        0xfffc,
        0,
        3,
        0x1040,
        6,
        4096,
        AT_RANDOM as u64,
        0xffe0,
        0,
        0,
    ];
    words
        .iter()
        .for_each(|w| want.extend_from_slice(&w.to_le_bytes()));
    want.extend_from_slice(&random);
    want.extend_from_slice(&[0; 4]);
    want.extend_from_slice(b"prog\0-x\0A=1\0");
    assert_eq!(img.bytes, want);
}

#[test]
fn stack_limits_and_bad_input() {
    let r = [0u8; 16];
    let none: [&str; 0] = [];
    let top = VirtAddr::from(0x10000);
    let ok = build_stack(top, &["a"], &none, &[], &r, 4096).unwrap();
    assert!(ok.sp.as_usize().is_multiple_of(16));
    assert_eq!(ok.bytes.len(), 0x10000 - ok.sp.as_usize());
    let big = vec![b'x'; 5000];
    assert_eq!(
        build_stack(top, &[&big[..]], &none, &[], &r, 4096),
        Err(LinuxError::E2BIG)
    );
    assert_eq!(
        build_stack(VirtAddr::from(0x40), &["a"; 8], &none, &[], &r, 4096),
        Err(LinuxError::E2BIG)
    );
    assert_eq!(
        build_stack(top, &["a\0b"], &none, &[], &r, 4096),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        build_stack(top, &["a"], &none, &[(0, 0)], &r, 4096),
        Err(LinuxError::EINVAL)
    );
    assert_eq!(
        build_stack(VirtAddr::from(0x10008), &["a"], &none, &[], &r, 4096),
        Err(LinuxError::EINVAL)
    );
}
