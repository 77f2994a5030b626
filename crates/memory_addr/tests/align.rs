//! Free alignment functions: values, edge cases and panics.

use memory_addr::{
    PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, align_down, align_down_4k, align_offset,
    align_offset_4k, align_up, align_up_4k, checked_align_down, checked_align_up, is_aligned,
    is_aligned_4k,
};
use std::panic::catch_unwind;

const TOP_BIT: usize = 1 << (usize::BITS - 1);

#[test]
fn page_size_constants() {
    assert_eq!(PAGE_SIZE_4K, 4096);
    assert_eq!(PAGE_SIZE_2M, 2 * 1024 * 1024);
    assert_eq!(PAGE_SIZE_1G, 1024 * 1024 * 1024);
}

#[test]
fn basic_values() {
    assert_eq!(align_down(0x1234_5678, 0x1000), 0x1234_5000);
    assert_eq!(align_up(0x1234_5678, 0x1000), 0x1234_6000);
    assert_eq!(align_offset(0x1234_5678, 0x1000), 0x678);
    assert!(is_aligned(0x1234_5000, 0x1000));
    assert!(!is_aligned(0x1234_5678, 0x1000));
    assert_eq!(align_down_4k(0x1234_5678), 0x1234_5000);
    assert_eq!(align_up_4k(0x1234_5678), 0x1234_6000);
    assert_eq!(align_offset_4k(0x1234_5678), 0x678);
    assert!(is_aligned_4k(0x1234_5000));
    assert!(!is_aligned_4k(0x1234_5001));
}

#[test]
fn already_aligned_and_zero() {
    for align in [1, 2, 8, PAGE_SIZE_4K, PAGE_SIZE_2M, TOP_BIT] {
        assert_eq!(align_down(0, align), 0);
        assert_eq!(align_up(0, align), 0);
        assert_eq!(align_offset(0, align), 0);
        assert!(is_aligned(0, align));
        assert_eq!(align_down(align, align), align);
        assert_eq!(align_up(align, align), align);
    }
}

#[test]
fn align_one_is_identity() {
    for a in [0, 1, 0x1234, usize::MAX] {
        assert_eq!(align_down(a, 1), a);
        assert_eq!(align_up(a, 1), a);
        assert_eq!(align_offset(a, 1), 0);
        assert!(is_aligned(a, 1));
    }
}

#[test]
fn extremes() {
    assert_eq!(align_down(usize::MAX, PAGE_SIZE_4K), usize::MAX - 0xfff);
    assert_eq!(align_offset(usize::MAX, PAGE_SIZE_4K), 0xfff);
    assert_eq!(align_down(usize::MAX, TOP_BIT), TOP_BIT);
    assert_eq!(align_up(1, TOP_BIT), TOP_BIT);
    assert_eq!(align_up(TOP_BIT, TOP_BIT), TOP_BIT);
    assert_eq!(
        align_up(usize::MAX - 0xfff, PAGE_SIZE_4K),
        usize::MAX - 0xfff
    );
    assert_eq!(checked_align_up(TOP_BIT + 1, TOP_BIT), None);
    assert_eq!(checked_align_up(usize::MAX - 0xffe, PAGE_SIZE_4K), None);
    assert_eq!(checked_align_up(usize::MAX, 1), Some(usize::MAX));
    assert_eq!(checked_align_up(usize::MAX, 2), None);
    assert_eq!(checked_align_down(usize::MAX, 2), Some(usize::MAX - 1));
}

#[test]
fn checked_rejects_bad_alignment() {
    for align in [0, 3, 6, 0x3000, usize::MAX, TOP_BIT + 1] {
        assert_eq!(checked_align_down(0x1000, align), None, "align {align:#x}");
        assert_eq!(checked_align_up(0x1000, align), None, "align {align:#x}");
    }
}

#[test]
fn bad_alignment_panics() {
    for align in [0, 3, 0x3000, usize::MAX] {
        assert!(catch_unwind(|| align_down(0x1000, align)).is_err());
        assert!(catch_unwind(|| align_up(0x1000, align)).is_err());
        assert!(catch_unwind(|| align_offset(0x1000, align)).is_err());
        assert!(catch_unwind(|| is_aligned(0x1000, align)).is_err());
    }
}

#[test]
fn align_up_overflow_panics() {
    assert!(catch_unwind(|| align_up(usize::MAX, 2)).is_err());
    assert!(catch_unwind(|| align_up_4k(usize::MAX - 0xffe)).is_err());
    assert!(catch_unwind(|| align_up(TOP_BIT + 1, TOP_BIT)).is_err());
}

#[test]
fn usable_in_const() {
    const DOWN: usize = align_down(0x1fff, 0x1000);
    const UP: usize = align_up_4k(0x1001);
    const OFF: usize = align_offset_4k(0x1001);
    const OK: bool = is_aligned_4k(0x3000);
    const CHECKED: Option<usize> = checked_align_up(0x1001, 0x1000);
    assert_eq!(
        (DOWN, UP, OFF, OK, CHECKED),
        (0x1000, 0x2000, 1, true, Some(0x2000))
    );
}
