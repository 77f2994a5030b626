//! ELF parsing and loading (`pagoda_mm::elf`): raw bytes, or one of four valid seeds
//! (static/PIE × RISC-V/x86-64) with byte and header-word mutations. An accepted plan must
//! stay inside the user range and the image; a successful load must hold the file bytes
//! and zeroed bss; a failed load must leave nothing mapped; dropping the space must free
//! every frame (the counting handler panics on a double free).

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use memory_addr::{VirtAddr, VirtAddrRange};
use page_table_entry::riscv::Rv64PTE;
use page_table_multiarch::riscv::Sv39MetaData;
use page_table_multiarch::testing::CountingHandler;
use pagoda_mm::elf::{ElfLayout, ElfLoadRequest, ElfMachine, load_elf, plan};
use pagoda_mm::{AddrSpace, File, MemFile};

type Space = AddrSpace<Sv39MetaData, Rv64PTE, CountingHandler>;

const USER_START: usize = 0x1000;
const USER_END: usize = 0x40_0000_0000;
const PIE_BASE: usize = 0x7000_0000;
const STACK_TOP: usize = 0x3f_0000_0000;
const PAGE: usize = 0x1000;

#[derive(Arbitrary, Debug)]
enum Mutation {
    Byte(u16, u8),
    /// An 8-byte word of the ELF header (word index modulo 8).
    EhWord(u8, Word),
    /// Program header `i`, 8-byte word `w` (modulo 7).
    PhWord(u8, u8, Word),
    Truncate(u16),
}

/// Values that hit the parser's edge cases more often than random ones.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    Zero,
    Max,
    Top,
    Page,
    UserEnd,
    Small(u16),
    Any(u64),
}

impl Word {
    fn get(self) -> u64 {
        match self {
            Word::Zero => 0,
            Word::Max => u64::MAX,
            Word::Top => 1 << 63,
            Word::Page => 0x1000,
            Word::UserEnd => USER_END as u64 - 0x1000,
            Word::Small(v) => u64::from(v),
            Word::Any(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        x86: bool,
        with_file: bool,
        bytes: Vec<u8>,
    },
    Seed {
        pie: bool,
        x86: bool,
        interp: bool,
        with_file: bool,
        mutations: Vec<Mutation>,
    },
}

fn put(image: &mut [u8], at: usize, bytes: &[u8]) {
    image[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A valid image: headers in a first read-only `PT_LOAD`, code, data with bss, and an
/// optional `PT_INTERP`.
fn seed(pie: bool, x86: bool, interp: bool) -> Vec<u8> {
    let base: u64 = if pie { 0 } else { 0x40_0000 };
    let phnum = if interp { 4 } else { 3 };
    let mut image = vec![0u8; 0x2400];
    put(&mut image, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut image, 16, &(if pie { 3u16 } else { 2 }).to_le_bytes());
    put(
        &mut image,
        18,
        &(if x86 { 62u16 } else { 243 }).to_le_bytes(),
    );
    put(&mut image, 20, &1u32.to_le_bytes());
    put(&mut image, 24, &(base + 0x1000).to_le_bytes());
    put(&mut image, 32, &64u64.to_le_bytes());
    put(&mut image, 52, &64u16.to_le_bytes());
    put(&mut image, 54, &56u16.to_le_bytes());
    put(&mut image, 56, &(phnum as u16).to_le_bytes());
    // (type, flags, offset, vaddr, filesz, memsz)
    let mut phdrs = vec![
        (1u32, 4u32, 0u64, base, 0x200u64, 0x200u64),
        (1, 5, 0x1000, base + 0x1000, 100, 100),
        (1, 6, 0x2100, base + 0x3100, 0x180, 0x2000),
    ];
    if interp {
        phdrs.push((3, 4, 0x2300, 0, 11, 11));
        put(&mut image, 0x2300, b"/lib/ld.so\0");
    }
    for (i, &(ty, flags, off, vaddr, filesz, memsz)) in phdrs.iter().enumerate() {
        let at = 64 + 56 * i;
        put(&mut image, at, &ty.to_le_bytes());
        put(&mut image, at + 4, &flags.to_le_bytes());
        put(&mut image, at + 8, &off.to_le_bytes());
        put(&mut image, at + 16, &vaddr.to_le_bytes());
        put(&mut image, at + 24, &vaddr.to_le_bytes());
        put(&mut image, at + 32, &filesz.to_le_bytes());
        put(&mut image, at + 40, &memsz.to_le_bytes());
        put(&mut image, at + 48, &0x1000u64.to_le_bytes());
    }
    image[0x1000..0x1064].fill(0x13);
    image[0x2100..0x2280].fill(7);
    image
}

fn mutate(image: &mut Vec<u8>, m: &Mutation) {
    let len = image.len();
    if len == 0 {
        return;
    }
    match *m {
        Mutation::Byte(at, v) => image[at as usize % len] = v,
        Mutation::EhWord(w, v) => {
            let at = 8 * (w as usize % 8);
            if at + 8 <= len {
                image[at..at + 8].copy_from_slice(&v.get().to_le_bytes());
            }
        }
        Mutation::PhWord(i, w, v) => {
            let at = 64 + 56 * (i as usize % 5) + 8 * (w as usize % 7);
            if at + 8 <= len {
                image[at..at + 8].copy_from_slice(&v.get().to_le_bytes());
            }
        }
        Mutation::Truncate(n) => image.truncate(n as usize % len),
    }
}

fuzz_target!(|input: Input| {
    let (image, x86, with_file, pristine) = match input {
        Input::Raw {
            x86,
            with_file,
            bytes,
        } => (bytes, x86, with_file, false),
        Input::Seed {
            pie,
            x86,
            interp,
            with_file,
            mutations,
        } => {
            let mut image = seed(pie, x86, interp);
            mutations.iter().take(8).for_each(|m| mutate(&mut image, m));
            (image, x86, with_file, mutations.is_empty())
        }
    };
    let machine = if x86 {
        ElfMachine::X86_64
    } else {
        ElfMachine::RiscV64
    };
    let layout = ElfLayout {
        machine,
        user_start: VirtAddr::from(USER_START),
        user_end: VirtAddr::from(USER_END),
        pie_base: VirtAddr::from(PIE_BASE),
    };
    let planned = plan(&image, &layout);
    if pristine {
        assert!(planned.is_ok(), "a valid seed was rejected: {planned:?}");
    }
    if let Ok(p) = &planned {
        let mut prev_end = USER_START;
        for s in &p.segments {
            let (start, end) = (s.start.as_usize(), s.start.as_usize() + s.size);
            assert!(
                start % PAGE == 0 && s.size % PAGE == 0 && s.size > 0,
                "{s:?}"
            );
            assert!(start >= prev_end && end <= USER_END, "{s:?}");
            assert!(
                s.data_start >= s.start && s.mem_end.as_usize() <= end,
                "{s:?}"
            );
            assert!(s.file_range.start <= s.file_range.end && s.file_range.end <= image.len());
            let filesz = s.file_range.end - s.file_range.start;
            assert!(
                s.data_start.as_usize() + filesz <= s.mem_end.as_usize(),
                "{s:?}"
            );
            prev_end = end;
        }
        assert!((USER_START..USER_END).contains(&p.entry.as_usize()));
        assert_eq!(p.brk_start.as_usize(), prev_end);
    }

    CountingHandler::reset();
    let range = VirtAddrRange::new(VirtAddr::from(USER_START), VirtAddr::from(USER_END));
    let mut space = Space::new(range).expect("new address space");
    let baseline = CountingHandler::live_frames();
    let file: Arc<dyn File> = Arc::new(MemFile::new(image.clone()));
    let req = ElfLoadRequest {
        machine,
        pie_base: VirtAddr::from(PIE_BASE),
        stack_top: VirtAddr::from(STACK_TOP),
        stack_size: 16 * PAGE,
        argv: &["prog", "arg"],
        envp: &["A=B"],
        random: [9; 16],
        interp_base: VirtAddr::from(0),
    };
    let loaded = load_elf(&mut space, &image, with_file.then_some(&file), &req);
    assert!(
        planned.is_ok() || loaded.is_err(),
        "load_elf accepted what plan refused"
    );
    if pristine {
        assert!(loaded.is_ok(), "a valid seed did not load: {loaded:?}");
    }
    match &loaded {
        Ok(l) => {
            assert_eq!(Ok(&l.plan), planned.as_ref());
            for s in &l.plan.segments {
                let filesz = s.file_range.end - s.file_range.start;
                let mut buf = vec![0u8; filesz.min(0x4000)];
                if space.read_bytes(s.data_start, &mut buf).is_ok() {
                    assert!(buf[..] == image[s.file_range.start..s.file_range.start + buf.len()]);
                }
                // The bss (up to a bound) reads as zeros.
                let bss = (s.mem_end.as_usize() - s.data_start.as_usize() - filesz).min(0x2000);
                let mut zeros = vec![1u8; bss];
                if space.read_bytes(s.data_start + filesz, &mut zeros).is_ok() {
                    assert!(zeros.iter().all(|&b| b == 0), "bss not zero");
                }
            }
            let mut argc = [0u8; 8];
            space
                .read_bytes(l.sp, &mut argc)
                .expect("argc on the stack");
            assert_eq!(u64::from_le_bytes(argc), 2);
        }
        Err(_) => {
            assert_eq!(space.areas().count(), 0, "a failed load left areas");
            assert_eq!(
                CountingHandler::live_frames(),
                baseline,
                "a failed load kept frames"
            );
        }
    }
    drop(space);
    drop(file);
    assert_eq!(CountingHandler::live_frames(), 0, "frames leaked");
});
