//! Format-independent properties, checked for every PTE format against a
//! small reference model of each format's normalization.

use memory_addr::PhysAddr;
use proptest::prelude::*;

use crate::aarch64::A64PTE;
use crate::arm::A32PTE;
use crate::loongarch64::LA64PTE;
use crate::riscv::{Rv32PTE, Rv64PTE};
use crate::x86_64::X64PTE;
use crate::{GenericPTE, MappingFlags as MF};

#[derive(Clone, Copy, Debug)]
enum Arch {
    Rv,
    X86,
    Arm,
    A32,
    La,
}

/// Reference model of `normalize`, written from the format docs.
fn model(arch: Arch, raw: usize) -> MF {
    let mut f = MF::from_bits_truncate(raw);
    if !f.intersects(MF::READ | MF::WRITE | MF::EXECUTE) {
        return MF::empty();
    }
    if f.contains(MF::DEVICE) {
        f.remove(MF::UNCACHED);
    }
    match arch {
        Arch::Rv => {
            if f.contains(MF::WRITE) {
                f.insert(MF::READ);
            }
            if f.contains(MF::COW) {
                f.remove(MF::DEVICE | MF::UNCACHED);
            }
        }
        Arch::X86 | Arch::A32 => f.insert(MF::READ),
        Arch::Arm => {
            f.insert(MF::READ);
            if cfg!(feature = "arm-el2") {
                f.remove(MF::USER | MF::GLOBAL);
            }
        }
        Arch::La => {}
    }
    f
}

struct Spec {
    arch: Arch,
    pa_bits: u32,
    /// Whether `is_huge` distinguishes present 4K leaves from blocks.
    huge_exact: bool,
    /// Alignment (log2) of the address a block keeps.
    block: u32,
}

const RV: Spec = Spec {
    block: 12,
    arch: Arch::Rv,
    pa_bits: 56,
    huge_exact: false,
};
const X86: Spec = Spec {
    block: 21,
    arch: Arch::X86,
    pa_bits: 52,
    huge_exact: true,
};
const ARM: Spec = Spec {
    block: 21,
    arch: Arch::Arm,
    pa_bits: 48,
    huge_exact: true,
};
const LA: Spec = Spec {
    block: 21,
    arch: Arch::La,
    pa_bits: 48,
    huge_exact: true,
};

const RV32: Spec = Spec {
    arch: Arch::Rv,
    pa_bits: 34,
    huge_exact: false,
    block: 12,
};
const A32: Spec = Spec {
    arch: Arch::A32,
    pa_bits: 32,
    huge_exact: true,
    block: 20,
};

/// An address aligned for the entry kind, within the PA width.
fn addr(spec: &Spec, seed: u64, huge: bool) -> PhysAddr {
    let align = if huge { spec.block.max(21) } else { 12 };
    let mask = ((1u64 << spec.pa_bits) - 1) & !((1u64 << align) - 1);
    PhysAddr::from_usize((seed & mask) as usize)
}

fn check_leaf<P: GenericPTE>(spec: &Spec, raw: usize, pa: PhysAddr, huge: bool) {
    let want = model(spec.arch, raw);
    let f = MF::from_bits_retain(raw);
    let e = P::new_page(pa, f, huge);
    assert_eq!(e.flags(), want, "{:?} flags {f:?} -> {e:?}", spec.arch);
    assert_eq!(P::normalize_flags(f), want);
    assert_eq!(e.paddr(), pa, "{e:?}");
    assert!(!e.is_unused(), "{e:?}");
    assert_eq!(e.is_present(), !want.is_empty(), "{e:?}");
    assert_eq!(e.is_reserved(), want.is_empty(), "{e:?}");
    if !e.is_present() || spec.huge_exact {
        assert_eq!(e.is_huge(), huge, "{e:?}");
    } else {
        assert!(e.is_huge(), "{e:?}");
    }
    // Rebuilding from the normalized flags gives the same bits.
    assert_eq!(P::new_page(pa, want, huge).bits(), e.bits());
    // The in-memory form is the bits (rule 1 of the `GenericPTE` contract): 8 bytes, or 4
    // for the 32-bit formats (Sv32, ARMv7 short descriptors).
    let mem = match size_of::<P>() {
        // SAFETY: `P` is 8 bytes (matched) and `Copy`.
        8 => unsafe { core::mem::transmute_copy::<P, u64>(&e) },
        // SAFETY: `P` is 4 bytes (matched) and `Copy`.
        4 => u64::from(unsafe { core::mem::transmute_copy::<P, u32>(&e) }),
        n => panic!("{:?}: an entry of {n} bytes", spec.arch),
    };
    assert_eq!(mem as usize, e.bits(), "{e:?}");
}

fn check_updates<P: GenericPTE>(
    spec: &Spec,
    raw: usize,
    raw2: usize,
    pa: PhysAddr,
    pa2: PhysAddr,
    huge: bool,
) {
    let mut e = P::new_page(pa, MF::from_bits_retain(raw), huge);
    let before = e;
    e.set_flags(MF::from_bits_retain(raw2), huge);
    assert_eq!(e.paddr(), pa);
    assert_eq!(e.flags(), model(spec.arch, raw2));
    e.set_flags(MF::from_bits_retain(raw), huge);
    assert_eq!(
        e.bits(),
        before.bits(),
        "set_flags is not a pure function of its inputs"
    );
    e.set_paddr(pa2);
    assert_eq!(e.paddr(), pa2);
    assert_eq!(e.flags(), before.flags());
    assert_eq!(e.is_huge(), before.is_huge());
    assert_eq!(e.is_present(), before.is_present());
    e.clear();
    assert!(e.is_unused() && !e.is_present());
    assert_eq!(e.bits(), 0);
    assert_eq!(e.flags(), MF::empty());
}

fn check_table<P: GenericPTE>(pa: PhysAddr) {
    let t = P::new_table(pa);
    assert!(t.is_present() && !t.is_unused() && !t.is_huge(), "{t:?}");
    assert_eq!(t.paddr(), pa);
    // Walkers take the shortcut for every table the constructor makes.
    assert!(t.is_table_entry(), "{t:?}");
    assert_eq!(t.table_paddr(), pa);
}

fn all_formats(raw: usize, raw2: usize, seed: u64, seed2: u64, huge: bool) {
    macro_rules! run {
        ($pte:ty, $spec:expr) => {{
            let (pa, pa2) = (addr(&$spec, seed, huge), addr(&$spec, seed2, huge));
            check_leaf::<$pte>(&$spec, raw, pa, huge);
            check_updates::<$pte>(&$spec, raw, raw2, pa, pa2, huge);
            let table_pa = addr(&$spec, seed | 0x1000, false);
            check_table::<$pte>(table_pa);
        }};
    }
    run!(Rv64PTE, RV);
    run!(X64PTE, X86);
    run!(A64PTE, ARM);
    run!(LA64PTE, LA);
    run!(Rv32PTE, RV32);
    run!(A32PTE, A32);
}

#[test]
fn every_flag_combination() {
    // Bits 8..=9 are unknown to MappingFlags and must be ignored.
    for raw in 0..0x400 {
        for huge in [false, true] {
            all_formats(
                raw,
                raw ^ 0x3,
                0x8765_4321_0000 + raw as u64 * 0x1000,
                0x1000,
                huge,
            );
        }
    }
}

#[test]
fn reserved_leaves_clear_the_hardware_valid_bit() {
    let pa = PhysAddr::from_usize(0x20_0000);
    for huge in [false, true] {
        // Bit 0 is the hardware valid/present bit in every format.
        for bits in [
            Rv64PTE::new_page(pa, MF::USER, huge).bits(),
            X64PTE::new_page(pa, MF::USER, huge).bits(),
            A64PTE::new_page(pa, MF::USER, huge).bits(),
            LA64PTE::new_page(pa, MF::USER, huge).bits(),
            Rv32PTE::new_page(pa, MF::USER, huge).bits(),
            A32PTE::new_page(pa, MF::USER, huge).bits(),
        ] {
            assert_eq!(bits & 1, 0);
            assert_ne!(bits, 0);
        }
    }
}

#[test]
fn flag_type_conversions_match_entries() {
    use crate::aarch64::DescriptorAttr;
    use crate::loongarch64::PTEFlags as LaFlags;
    use crate::riscv::PTEFlags as RvFlags;
    use crate::x86_64::PTF;
    for raw in 0..0x100 {
        let f = MF::from_bits_retain(raw);
        assert_eq!(MF::from(RvFlags::from(f)), model(Arch::Rv, raw));
        assert_eq!(MF::from(PTF::from(f)), model(Arch::X86, raw));
        assert_eq!(MF::from(DescriptorAttr::from(f)), model(Arch::Arm, raw));
        assert_eq!(MF::from(LaFlags::from(f)), model(Arch::La, raw));
    }
}

#[cfg(not(feature = "xuantie-c9xx"))]
#[test]
fn debug_dump_is_exact() {
    let pa = PhysAddr::from_usize(0x8020_0000);
    let e = Rv64PTE::new_page(pa, MF::READ | MF::WRITE, false);
    assert_eq!(
        format!("{e:?}"),
        "Rv64PTE { raw: 0x00000000200800c7, kind: present, paddr: 0x80200000, \
         huge: true, flags: MappingFlags(READ | WRITE) }"
    );
    let r = X64PTE::new_page(pa, MF::empty(), true);
    assert_eq!(
        format!("{r:?}"),
        "X64PTE { raw: 0x0000000080200480, kind: reserved, paddr: 0x80200000, \
         huge: true, flags: MappingFlags(0x0) }"
    );
    assert_eq!(
        format!("{:?}", A64PTE::empty()),
        "A64PTE { raw: 0x0000000000000000, kind: unused, paddr: 0x0, huge: false, \
         flags: MappingFlags(0x0) }"
    );
}

#[test]
fn hardware_invariants_of_present_leaves() {
    for raw in 0..0x100 {
        let f = MF::from_bits_retain(raw);
        let pa = PhysAddr::from_usize(0x4000_0000);
        // RISC-V: never the reserved W-without-R encoding.
        let rv = Rv64PTE::new_page(pa, f, false).as_u64();
        assert_ne!(rv & 0b111, 0b101, "{f:?}");
        let thead = if cfg!(feature = "xuantie-c9xx") {
            0x1f << 5
        } else {
            0
        };
        assert_eq!(
            (rv >> 54) & !thead,
            0,
            "reserved/PBMT/N bits must stay zero"
        );
        // x86: a 4K leaf never sets bit 7 (PAT); a huge one never bit 12.
        assert_eq!(X64PTE::new_page(pa, f, false).as_u64() & 0x80, 0);
        assert_eq!(X64PTE::new_page(pa, f, true).as_u64() & 0x1000, 0);
        // AArch64: a level-3 page must have descriptor bits 1:0 = 0b11 when valid.
        let a = A64PTE::new_page(pa, f, false).as_u64();
        assert!(a & 1 == 0 || a & 0b11 == 0b11);
        // LoongArch: V and P agree.
        let l = LA64PTE::new_page(pa, f, false).as_u64();
        assert_eq!(l & 1, (l >> 7) & 1);
    }
}

#[test]
fn pa_widths_match_the_manuals() {
    assert_eq!(Rv64PTE::PA_MAX_BITS, RV.pa_bits as usize);
    assert_eq!(X64PTE::PA_MAX_BITS, X86.pa_bits as usize);
    assert_eq!(A64PTE::PA_MAX_BITS, ARM.pa_bits as usize);
    assert_eq!(LA64PTE::PA_MAX_BITS, LA.pa_bits as usize);
}

/// Any address: the entry keeps exactly the aligned in-width part (RISC-V
/// keeps 4K alignment for blocks too) and never spills into flag bits.
fn check_truncation<P: GenericPTE>(spec: &Spec, raw_pa: u64, huge: bool) {
    let align = if huge { spec.block } else { 12 };
    let mask = ((1u64 << spec.pa_bits) - 1) & !((1u64 << align) - 1);
    let want = PhysAddr::from_usize((raw_pa & mask) as usize);
    let f = MF::READ | MF::WRITE;
    let e = P::new_page(PhysAddr::from_usize(raw_pa as usize), f, huge);
    assert_eq!(e.paddr(), want, "{e:?}");
    assert_eq!(e.flags(), f);
    assert_eq!(e.bits(), P::new_page(want, f, huge).bits());
}

/// `default` cases, unless the `PROPTEST_CASES` environment variable says
/// otherwise (`make miri` runs few).
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn out_of_range_address_bits_are_dropped(raw_pa in any::<u64>(), huge in any::<bool>()) {
        check_truncation::<Rv64PTE>(&RV, raw_pa, huge);
        check_truncation::<X64PTE>(&X86, raw_pa, huge);
        check_truncation::<A64PTE>(&ARM, raw_pa, huge);
        check_truncation::<LA64PTE>(&LA, raw_pa, huge);
        check_truncation::<Rv32PTE>(&RV32, raw_pa, huge);
        check_truncation::<A32PTE>(&A32, raw_pa, huge);
    }

    #[test]
    fn table_entry_test_is_present_and_not_huge(raw in any::<u64>(), low in 0u64..0x1000) {
        // Random high bits with every low-bit pattern equally likely.
        let bits = raw & !0xfff | low;
        // `exact`: equal to the generic rule on every bit pattern; otherwise it
        // only implies it (LoongArch refuses a present 4K leaf; x86-64, RISC-V
        // and AArch64 every entry that is not bit for bit a `new_table`).
        fn check<P: GenericPTE>(e: P, exact: bool) {
            let generic = e.is_present() && !e.is_huge();
            assert!(!e.is_table_entry() || generic, "{e:?}");
            assert!(!exact || e.is_table_entry() == generic, "{e:?}");
            // The walker's shortcut to the next table (contract rule 5).
            assert!(!e.is_table_entry() || e.table_paddr() == e.paddr(), "{e:?}");
            let pa = e.paddr();
            assert!(P::new_table(pa).is_table_entry() || pa.as_usize() == 0, "{e:?}");
            assert!(!P::new_page(pa, e.flags(), true).is_table_entry(), "{e:?}");
            assert!(!P::new_page(pa, MF::empty(), false).is_table_entry(), "{e:?}");
            let mut unused = e;
            unused.clear();
            assert!(!unused.is_table_entry());
            // A table or 4K leaf the constructors make reports its address both ways.
            for made in [P::new_table(pa), P::new_page(pa, e.flags(), false)] {
                assert_eq!(made.paddr_4k(), made.paddr(), "{made:?}");
            }
        }
        check(X64PTE::from_bits(bits), false);
        check(Rv64PTE::from_bits(bits), false);
        check(A64PTE::from_bits(bits), false);
        check(LA64PTE::from_bits(bits), false);
        check(Rv32PTE::from_bits(bits as u32), true);
        check(A32PTE::from_bits(bits as u32), true);
    }

    #[test]
    fn set_paddr_changes_only_the_address_field(raw in any::<u64>(), raw_pa in any::<u64>()) {
        // Any bits, any address: the PPN field (bits 10..=53, from address
        // bits 12..=55) is replaced and nothing else changes. RISC-V is
        // checked against this literal rule because its `set_paddr` is a
        // rotation trick; the field masks of the other formats are the plain form.
        const PPN: u64 = ((1 << 54) - 1) & !0x3ff;
        let mut e = Rv64PTE::from_bits(raw);
        e.set_paddr(PhysAddr::from_usize(raw_pa as usize));
        prop_assert_eq!(e.as_u64(), (raw & !PPN) | ((raw_pa >> 2) & PPN));
    }

    #[test]
    fn paddr_steps_add_to_the_bits(raw in any::<u64>(), seed in any::<u64>(), shift in 12u32..40) {
        // Contract rule 7: where `pa` and `pa + size` both round-trip through
        // `set_paddr` on this entry, the second has the first's bits plus the step.
        fn check<P: GenericPTE>(e: P, pa_bits: u32, seed: u64, shift: u32) {
            let size = 1usize << shift;
            let Some(step) = P::paddr_step(size) else { return };
            let align = shift.max(21);
            let pa = (seed & ((1u64 << pa_bits) - 1) & !((1u64 << align) - 1)) as usize;
            let at = |pa: usize| {
                let mut e = e;
                e.set_paddr(PhysAddr::from_usize(pa));
                (e.paddr().as_usize() == pa).then_some(e.bits())
            };
            if let (Some(a), Some(b)) = (at(pa), at(pa + size)) {
                assert_eq!(b, a.wrapping_add(step), "{e:?} at {pa:#x} + {size:#x}");
            }
        }
        check(X64PTE::from_bits(raw), X86.pa_bits, seed, shift);
        check(Rv64PTE::from_bits(raw), RV.pa_bits, seed, shift);
        check(A64PTE::from_bits(raw), ARM.pa_bits, seed, shift);
        check(LA64PTE::from_bits(raw), LA.pa_bits, seed, shift);
    }

    #[test]
    fn round_trips(raw in 0usize..0x400, raw2 in 0usize..0x400, seed in any::<u64>(),
                   seed2 in any::<u64>(), huge in any::<bool>()) {
        all_formats(raw, raw2, seed, seed2, huge);
    }
}
