//! Property tests: mutated and truncated images never panic the parser, and whatever it
//! accepts stays inside the user range and inside the image.

use alloc::vec::Vec;

use proptest::prelude::*;

use alloc::sync::Arc;

use memory_addr::VirtAddr;

use super::builder::{ElfBuilder, PF_R, PF_W, PF_X};
use super::load::{ElfLoadRequest, load_elf};
use super::parse::{ElfLayout, ElfMachine, ElfPlan, plan};
use crate::tests::{assert_no_leak, setup};
use crate::{File, MemFile};

pub const USER_START: usize = 0x1000;
pub const USER_END: usize = 0x40_0000_0000;

pub fn layout(machine: ElfMachine) -> ElfLayout {
    ElfLayout {
        machine,
        user_start: VirtAddr::from(USER_START),
        user_end: VirtAddr::from(USER_END),
        pie_base: VirtAddr::from(0x7000_0000),
    }
}

/// One of four valid seeds: static or PIE, RISC-V or x86-64.
pub fn seed(pie: bool, x86: bool) -> (Vec<u8>, ElfMachine) {
    let machine = if x86 {
        ElfMachine::X86_64
    } else {
        ElfMachine::RiscV64
    };
    let base = if pie { 0 } else { 0x40_0000 };
    let image = ElfBuilder::new(machine, pie)
        .entry(base + 0x1000)
        .load_with_headers(base, PF_R, b"hdr")
        .load(base + 0x1000, PF_R | PF_X, &[0x13; 100], 100)
        .load(base + 0x2f00, PF_R | PF_W, &[7; 0x180], 0x2000)
        .interp(b"/lib/ld.so")
        .build();
    (image, machine)
}

/// A mutation applied to a seed image.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Keep only the first `n` bytes (modulo the length).
    Truncate(usize),
    /// Set one byte (offset modulo the length).
    Byte(usize, u8),
    /// Overwrite a field of the program-header table (header `i`, 8-byte word `w`).
    PhWord(usize, usize, u64),
    /// Overwrite an 8-byte word of the ELF header.
    EhWord(usize, u64),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1u64 << 63),
        Just(0x1000u64),
        Just(0x40_0000_0000u64),
        Just(0x3f_ffff_f000u64),
        any::<u64>(),
        0u64..0x10000,
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Byte(a, b)),
        (0usize..4, 0usize..7, interesting.clone()).prop_map(|(i, w, v)| Mutation::PhWord(i, w, v)),
        (2usize..8, interesting).prop_map(|(w, v)| Mutation::EhWord(w, v)),
    ]
}

pub fn apply(image: &mut Vec<u8>, m: &Mutation) {
    let len = image.len();
    // An earlier truncation may have emptied the image: nothing left to mutate.
    if len == 0 {
        return;
    }
    match *m {
        Mutation::Truncate(n) => image.truncate(n % len),
        Mutation::Byte(at, v) => image[at % len] = v,
        Mutation::PhWord(i, w, v) => {
            let at = 64 + 56 * i + 8 * w;
            if at + 8 <= len {
                image[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        Mutation::EhWord(w, v) => {
            if 8 * w + 8 <= len {
                image[8 * w..8 * w + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// The invariants of an accepted plan.
pub fn check_plan(p: &ElfPlan, image_len: usize) {
    let mut prev_end = USER_START;
    for s in &p.segments {
        let (start, end) = (s.start.as_usize(), s.start.as_usize() + s.size);
        assert!(start.is_multiple_of(4096) && s.size.is_multiple_of(4096) && s.size > 0);
        assert!(start >= prev_end && end <= USER_END, "{s:?}");
        assert!(s.data_start >= s.start && s.mem_end.as_usize() <= end);
        let filesz = s.file_range.end - s.file_range.start;
        assert!(s.file_range.end <= image_len);
        assert!(s.data_start.as_usize() + filesz <= s.mem_end.as_usize());
        prev_end = end;
    }
    assert!(p.entry.as_usize() >= USER_START && p.entry.as_usize() < USER_END);
    assert_eq!(p.brk_start.as_usize(), prev_end);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::testing::proptest_cases(512), ..ProptestConfig::default() })]

    #[test]
    fn mutated_images_never_panic(
        pie in any::<bool>(),
        x86 in any::<bool>(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let (mut image, machine) = seed(pie, x86);
        for m in &muts {
            apply(&mut image, m);
        }
        if let Ok(p) = plan(&image, &layout(machine)) {
            check_plan(&p, image.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::testing::proptest_cases(128), ..ProptestConfig::default() })]

    /// Loading accepted images maps only user addresses, and everything goes on drop.
    #[test]
    fn mutated_images_load_inside_the_user_range(
        pie in any::<bool>(),
        x86 in any::<bool>(),
        file_backed in any::<bool>(),
        muts in proptest::collection::vec(mutation(), 1..3),
    ) {
        let (mut image, machine) = seed(pie, x86);
        for m in &muts {
            apply(&mut image, m);
        }
        let mut s = setup();
        let file: Arc<dyn File> = Arc::new(MemFile::new(image.clone()));
        let req = ElfLoadRequest {
            machine,
            pie_base: VirtAddr::from(0x7000_0000),
            stack_top: VirtAddr::from(USER_END),
            stack_size: 0x4000,
            argv: &["fuzz"],
            envp: &["A=B"],
            random: [9; 16],
            interp_base: VirtAddr::from(0),
        };
        if let Ok(got) = load_elf(&mut s, &image, file_backed.then_some(&file), &req) {
            check_plan(&got.plan, image.len());
            for area in s.areas() {
                prop_assert!(area.start().as_usize() >= USER_START);
                prop_assert!(area.end().as_usize() <= USER_END);
            }
            let mapped: usize = s.areas().map(|a| a.size()).sum();
            let planned: usize = got.plan.segments.iter().map(|g| g.size).sum();
            prop_assert_eq!(mapped, planned + 0x4000);
        }
        drop((s, file));
        assert_no_leak();
    }
}

#[test]
fn seeds_are_valid() {
    for (pie, x86) in [(false, false), (false, true), (true, false), (true, true)] {
        let (image, machine) = seed(pie, x86);
        let p = plan(&image, &layout(machine)).unwrap();
        check_plan(&p, image.len());
        assert_eq!(p.segments.len(), 3);
    }
}
