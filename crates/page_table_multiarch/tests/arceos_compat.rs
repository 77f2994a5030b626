//! Code in the style of a consumer of arceos page_table_multiarch 0.6.2 /
//! page_table_entry 0.6.2 (a hypervisor's guest address space), after the
//! one-line edits of the README's migration section, compiles and works.

use std::alloc::{Layout, alloc, dealloc};
use std::collections::HashMap;
use std::sync::Mutex;

use memory_addr::{
    MemoryAddr, PhysAddr, VirtAddr, def_usize_addr, def_usize_addr_formatter, pa, va,
};
use page_table_entry::aarch64::{DescriptorAttr, MemAttr};
use page_table_multiarch::aarch64::{A64PageTable, A64PagingMetaData};
use page_table_multiarch::arm::{A32PTE, A32PageTable, A32PagingMetaData};
use page_table_multiarch::loongarch64::LA64MetaData;
use page_table_multiarch::riscv::{
    Rv64PTE, Sv32PageTable, Sv39MetaData, Sv39PageTable, SvVirtAddr,
};
use page_table_multiarch::testing::CountingHandler;
use page_table_multiarch::x86_64::{X64PageTable, X64PageTableCursor, X64PagingMetaData};
use page_table_multiarch::{
    GenericPTE, MappingFlags, PageSize, PageTable32, PageTable64, PagingError, PagingHandler,
    PagingMetaData, PagingResult, VaLayout,
};

/// Heap-backed frames, identity "physical" addresses, written the 0.6.2 way:
/// only `alloc_frames` / `dealloc_frames` / `phys_to_virt`.
struct HeapHandler;

static LAYOUTS: Mutex<Option<HashMap<usize, Layout>>> = Mutex::new(None);

// Edit: `impl PagingHandler` → `unsafe impl PagingHandler` (+ a SAFETY comment).
// SAFETY: fresh heap blocks owned by the caller until freed; physical and
// virtual addresses coincide.
unsafe impl PagingHandler for HeapHandler {
    fn alloc_frames(num: usize, align: usize) -> Option<PhysAddr> {
        let layout = Layout::from_size_align(num * 4096, align.max(4096)).ok()?;
        // SAFETY: non-zero size.
        let p = unsafe { alloc(layout) } as usize;
        if p == 0 {
            return None;
        }
        LAYOUTS
            .lock()
            .unwrap()
            .get_or_insert_default()
            .insert(p, layout);
        Some(pa!(p))
    }
    unsafe fn dealloc_frames(paddr: PhysAddr, _num: usize) {
        let layout = LAYOUTS
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .remove(&paddr.as_usize())
            .unwrap();
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(paddr.as_usize() as *mut u8, layout) }
    }
    fn phys_to_virt(paddr: PhysAddr) -> VirtAddr {
        va!(paddr.as_usize())
    }
}

const RW: MappingFlags = MappingFlags::READ.union(MappingFlags::WRITE);
const RX: MappingFlags = MappingFlags::READ.union(MappingFlags::EXECUTE);

/// Generic code over the metadata, as consumers write it.
fn map_one<M: PagingMetaData, PTE: GenericPTE, H: PagingHandler>(
    pt: &mut PageTable64<M, PTE, H>,
    va: M::VirtAddr,
    pa: PhysAddr,
) -> PagingResult {
    let mut cursor = pt.cursor();
    cursor.map(va, pa, PageSize::Size4K, RW)?;
    let (got, flags, size) = cursor.query(va)?; // reads through Deref
    assert_eq!((got, flags, size), (pa, RW, PageSize::Size4K));
    Ok(()) // the cursor flushes when dropped
}

#[test]
fn cursor_on_x86_64() -> PagingResult {
    let mut pt = X64PageTable::<HeapHandler>::try_new()?;
    const fn root_of(pt: &X64PageTable<HeapHandler>) -> PhysAddr {
        pt.root_paddr() // const fn, as in 0.6.2
    }
    assert!(root_of(&pt).is_aligned_4k());
    map_one(&mut pt, va!(0x1000), pa!(0x8000))?;
    {
        let mut c: X64PageTableCursor<'_, HeapHandler> = pt.cursor();
        c.map_region(
            va!(0x20_0000),
            |v| pa!(v.as_usize() + 0x4000_0000),
            0x40_1000,
            RW,
            true,
        )?;
        assert_eq!(c.query(va!(0x20_0000))?.2, PageSize::Size2M);
        assert_eq!(
            c.protect(va!(0x60_0000), MappingFlags::READ)?,
            PageSize::Size4K
        );
        // Edit: `remap` of a present page to another frame is refused; say so.
        assert_eq!(
            c.remap(va!(0x1000), pa!(0x9000), RW),
            Err(PagingError::AlreadyMapped)
        );
        let (old, size) = c.remap_with(
            va!(0x1000),
            pa!(0x9000),
            RW,
            page_table_multiarch::OnPresent::Replace,
        )?;
        assert_eq!((old, size), (pa!(0x8000), PageSize::Size4K));
        assert_eq!(c.remap(va!(0x1000), pa!(0x9000), RX)?, PageSize::Size4K); // same frame: fine
        c.protect_region(va!(0x20_0000), 0x1000, MappingFlags::READ)?; // splits the 2M page
        assert_eq!(c.unmap(va!(0x1000))?, (pa!(0x9000), RX, PageSize::Size4K));
        c.unmap_region(va!(0x20_0000), 0x40_1000)?;
        // Edit: `map` refuses unaligned addresses instead of rounding them.
        assert_eq!(
            c.map(va!(0x1234), pa!(0), PageSize::Size4K, RW),
            Err(PagingError::NotAligned)
        );
        c.flush();
    }
    assert_eq!(pt.query(va!(0x20_0000)), Err(PagingError::NotMapped));
    // Non-canonical addresses are refused.
    assert_eq!(
        pt.cursor().map(va!(1 << 47), pa!(0), PageSize::Size4K, RW),
        Err(PagingError::InvalidAddress)
    );
    // PROT_NONE pages answer `Ok` with empty flags (0.6.2: `NotMapped`).
    let mut c = pt.cursor();
    c.map(
        va!(0x5000),
        pa!(0x5000),
        PageSize::Size4K,
        MappingFlags::empty(),
    )?;
    assert_eq!(c.query(va!(0x5000))?.1, MappingFlags::empty());
    drop(c);
    // walk() as in 0.6.2: level 0 is the root.
    let leaves = std::cell::Cell::new(0);
    pt.walk(
        usize::MAX,
        Some(&|level: usize,
               _idx: usize,
               _va: VirtAddr,
               e: &page_table_multiarch::x86_64::X64PTE| {
            if level == 3 && e.is_present() || !e.is_present() {
                leaves.set(leaves.get() + 1);
            }
        }),
        None,
    );
    assert_eq!(leaves.get(), 1);
    Ok(())
}

#[test]
fn metadata_constants() {
    assert_eq!(X64PagingMetaData::PA_MAX_ADDR, (1 << 52) - 1);
    assert!(X64PagingMetaData::paddr_is_valid((1 << 52) - 1));
    assert!(!X64PagingMetaData::paddr_is_valid(1 << 52));
    assert_eq!(<Sv39MetaData<VirtAddr>>::PA_MAX_ADDR, (1 << 56) - 1);
    assert_eq!(LA64MetaData::PWCL_VALUE, 0x13e4_d52c); // PTbase 12, widths 9, Dir1 21, Dir2 30
    assert_eq!(LA64MetaData::PWCH_VALUE, 39 | (9 << 6));
    assert_eq!(A32PagingMetaData::PA_MAX_ADDR, u32::MAX as usize);
    assert!(A32PagingMetaData::vaddr_is_valid(0xffff_f000));
    assert_eq!(PageSize::Size1M as usize, 0x10_0000);
    assert!(PageSize::Size1M.is_huge());
    assert_eq!(PageSize::Size2M.align_offset(0x32_3456), 0x12_3456);
    // page_table_entry 0.6.2 names.
    let attr = DescriptorAttr::from_mem_attr(MemAttr::Device);
    assert_eq!(attr.mem_attr(), Some(MemAttr::Device));
    assert_ne!(MemAttr::MAIR_VALUE, 0);
}

// A guest-physical address type for a stage-2-like table, with its own flush.
def_usize_addr! {
    /// Guest physical address.
    pub type GuestPhysAddr;
}
def_usize_addr_formatter! {
    GuestPhysAddr = "GPA:{}";
}

impl SvVirtAddr for GuestPhysAddr {
    fn flush_tlb(_vaddr: Option<Self>) {} // a hypervisor runs hfence.gvma here
}

#[test]
fn generic_sv39_metadata_with_a_guest_address_type() -> PagingResult {
    type GuestTable = PageTable64<Sv39MetaData<GuestPhysAddr>, Rv64PTE, HeapHandler>;
    let mut pt = GuestTable::try_new()?;
    let gpa = GuestPhysAddr::from_usize(0x8000_0000);
    pt.cursor()
        .map(gpa, pa!(0x1_0000_0000), PageSize::Size1G, RW)?;
    assert_eq!(
        pt.query(GuestPhysAddr::from_usize(0x8000_1234))?.0,
        pa!(0x1_0000_1234)
    );
    // The default type parameter keeps `Sv39PageTable<H>` working.
    let mut host = Sv39PageTable::<HeapHandler>::try_new()?;
    map_one(&mut host, va!(0x4000), pa!(0x4000))
}

/// An EPT-like table: guest-physical addresses `[0, 2^48)`, not sign-extended.
struct EptMeta;

impl PagingMetaData for EptMeta {
    const LEVELS: usize = 4;
    const PA_MAX_BITS: usize = 52;
    const VA_MAX_BITS: usize = 48;
    // Edit: instead of `fn vaddr_is_valid(va) -> bool { va < 1 << 48 }`.
    const VA_LAYOUT: VaLayout = VaLayout::ZeroExtended;
    type VirtAddr = GuestPhysAddr;
    fn flush_tlb(_vaddr: Option<GuestPhysAddr>) {} // invept
}

#[test]
fn guest_physical_addresses_are_not_sign_extended() -> PagingResult {
    type Ept = PageTable64<EptMeta, page_table_multiarch::x86_64::X64PTE, HeapHandler>;
    let mut pt = Ept::try_new()?;
    let high = GuestPhysAddr::from_usize(0xfedc_0000_0000); // bit 47 set
    pt.cursor().map_region(
        high,
        |g| pa!(g.as_usize() - 0xfed0_0000_0000),
        0x4000,
        RW,
        false,
    )?;
    assert_eq!(
        pt.query(GuestPhysAddr::from_usize(0xfedc_0000_3abc))?.0,
        pa!(0xc_0000_3abc)
    );
    let starts: Vec<usize> = pt.iter().map(|m| m.vaddr.as_usize()).collect();
    assert_eq!(
        starts,
        [
            0xfedc_0000_0000,
            0xfedc_0000_1000,
            0xfedc_0000_2000,
            0xfedc_0000_3000
        ]
    );
    for bad in [1 << 48, 0xffff_fedc_0000_0000] {
        assert_eq!(
            pt.query(GuestPhysAddr::from_usize(bad)),
            Err(PagingError::InvalidAddress)
        );
    }
    // The whole space in one range.
    pt.cursor()
        .unmap_region(GuestPhysAddr::from_usize(0), 1 << 48)?;
    assert_eq!(pt.iter().count(), 0);
    Ok(())
}

#[test]
fn aarch64_kernel_addresses() -> PagingResult {
    let mut pt = A64PageTable::<HeapHandler>::try_new()?;
    let mut c = pt.cursor();
    c.map(
        va!(0xffff_0000_4008_0000),
        pa!(0x4008_0000),
        PageSize::Size4K,
        RX,
    )?;
    assert_eq!(c.query(va!(0xffff_0000_4008_0abc))?.0, pa!(0x4008_0abc));
    drop(c);
    assert!(A64PagingMetaData::vaddr_is_valid(0xffff_0000_0000_0000));
    Ok(())
}

#[test]
fn page_table32_for_armv7_and_sv32() -> PagingResult {
    CountingHandler::reset();
    {
        let mut pt: A32PageTable<CountingHandler> = PageTable32::try_new()?;
        let mut c = pt.cursor();
        c.map(va!(0xc000_0000), pa!(0x6000_0000), PageSize::Size1M, RW)?;
        c.map(
            va!(0x1000),
            pa!(0x7000_1000),
            PageSize::Size4K,
            RX | MappingFlags::USER,
        )?;
        c.map_region(
            va!(0xd000_0000),
            |v| pa!(v.as_usize() - 0x7000_0000),
            0x20_0000,
            RW,
            true,
        )?;
        assert_eq!(
            c.query(va!(0xc00f_ffff))?,
            (pa!(0x600f_ffff), RW, PageSize::Size1M)
        );
        assert_eq!(c.query(va!(0xd010_0000))?.2, PageSize::Size1M);
        c.protect(va!(0x1000), MappingFlags::READ)?;
        c.unmap_region(va!(0xd008_0000), 0x1000)?; // splits a section
        assert_eq!(c.query(va!(0xd008_0000)), Err(PagingError::NotMapped));
        assert_eq!(c.unmap(va!(0xc000_0000))?.2, PageSize::Size1M);
        let e: A32PTE = A32PTE::new_page(pa!(0x1000), RW, false);
        assert_eq!(e.flags(), RW);
    }
    {
        let mut pt = Sv32PageTable::<CountingHandler>::try_new()?;
        let mut c = pt.cursor();
        c.map_region(va!(0xffc0_0000), |v| pa!(v.as_usize()), 0x40_0000, RW, true)?;
        assert_eq!(c.query(va!(0xffff_f000))?.2, PageSize::Size4K); // no 4M pages here
        c.protect_region(va!(0xffc0_0000), 0x40_0000, MappingFlags::READ)?;
        c.unmap_region(va!(0xffc0_0000), 0x40_0000)?;
    }
    assert_eq!(CountingHandler::live_frames(), 0);
    Ok(())
}

#[cfg(feature = "copy-from")]
#[test]
fn copy_from_shares_the_kernel_half() -> PagingResult {
    let mut kernel = X64PageTable::<HeapHandler>::try_new()?;
    kernel.cursor().map(
        va!(0xffff_8000_0000_0000),
        pa!(0x1000),
        PageSize::Size4K,
        RW,
    )?;
    let mut user = X64PageTable::<HeapHandler>::try_new()?;
    // Edit: `copy_from` is `unsafe` (the lender must outlive the borrower).
    // SAFETY: `kernel` outlives `user` (dropped first, below).
    unsafe {
        user.cursor()
            .copy_from(&kernel, va!(0xffff_8000_0000_0000), 1 << 46)?
    };
    assert_eq!(user.query(va!(0xffff_8000_0000_0000))?.0, pa!(0x1000));
    drop(user);
    drop(kernel);
    Ok(())
}

#[cfg(feature = "axerrno")]
#[test]
fn paging_errors_convert_to_axerrno() {
    fn consumer() -> axerrno::AxResult {
        let mut pt = X64PageTable::<HeapHandler>::try_new()?;
        pt.cursor().map(va!(0x1001), pa!(0), PageSize::Size4K, RW)?;
        Ok(())
    }
    assert_eq!(consumer(), Err(axerrno::AxErrorKind::InvalidInput.into()));
}
