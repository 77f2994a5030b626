//! A tiny ELF64 writer for tests: headers, program headers and segment bytes in a `Vec<u8>`.

use alloc::vec::Vec;

use super::parse::ElfMachine;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One program header and the bytes it carries.
#[derive(Clone, Debug)]
struct Seg {
    ty: u32,
    flags: u32,
    vaddr: u64,
    bytes: Vec<u8>,
    memsz: u64,
    /// The segment starts at file offset 0 and covers the headers (like a linker's first
    /// `PT_LOAD`); `bytes` then follow the program headers.
    with_headers: bool,
}

/// Builds an ELF image; `build` lays the file out.
#[derive(Clone, Debug)]
pub struct ElfBuilder {
    e_type: u16,
    machine: u16,
    entry: u64,
    segs: Vec<Seg>,
}

impl ElfBuilder {
    /// `ET_EXEC` (static) or `ET_DYN` (PIE) for `machine`.
    pub fn new(machine: ElfMachine, pie: bool) -> Self {
        let machine = match machine {
            ElfMachine::RiscV64 => 243,
            ElfMachine::X86_64 => 62,
            ElfMachine::AArch64 => 183,
        };
        Self {
            e_type: if pie { 3 } else { 2 },
            machine,
            entry: 0,
            segs: Vec::new(),
        }
    }

    /// Sets `e_entry`.
    pub fn entry(mut self, entry: u64) -> Self {
        self.entry = entry;
        self
    }

    /// Adds a `PT_LOAD` with file bytes `bytes` at `vaddr` and `memsz` bytes in memory.
    pub fn load(mut self, vaddr: u64, flags: u32, bytes: &[u8], memsz: u64) -> Self {
        let seg = Seg {
            ty: PT_LOAD,
            flags,
            vaddr,
            bytes: bytes.to_vec(),
            memsz,
            with_headers: false,
        };
        self.segs.push(seg);
        self
    }

    /// Adds a first `PT_LOAD` at file offset 0 mapped at `vaddr`: headers, then `bytes`.
    pub fn load_with_headers(mut self, vaddr: u64, flags: u32, bytes: &[u8]) -> Self {
        let seg = Seg {
            ty: PT_LOAD,
            flags,
            vaddr,
            bytes: bytes.to_vec(),
            memsz: 0,
            with_headers: true,
        };
        self.segs.push(seg);
        self
    }

    /// Adds a `PT_INTERP` with `path` and its NUL.
    pub fn interp(mut self, path: &[u8]) -> Self {
        let mut bytes = path.to_vec();
        bytes.push(0);
        let memsz = bytes.len() as u64;
        self.segs.push(Seg {
            ty: PT_INTERP,
            flags: PF_R,
            vaddr: 0,
            bytes,
            memsz,
            with_headers: false,
        });
        self
    }

    /// Adds a program header of any type with no file bytes.
    pub fn raw(mut self, ty: u32, vaddr: u64) -> Self {
        self.segs.push(Seg {
            ty,
            flags: PF_R,
            vaddr,
            bytes: Vec::new(),
            memsz: 0,
            with_headers: false,
        });
        self
    }

    /// Length of the ELF header plus program headers.
    pub fn headers_len(&self) -> usize {
        64 + 56 * self.segs.len()
    }

    /// Writes the file.
    pub fn build(&self) -> Vec<u8> {
        let hdr_len = self.headers_len();
        let mut out = alloc::vec![0u8; hdr_len];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // ELFDATA2LSB
        out[6] = 1; // EV_CURRENT
        put16(&mut out, 16, self.e_type);
        put16(&mut out, 18, self.machine);
        put32(&mut out, 20, 1);
        put64(&mut out, 24, self.entry);
        put64(&mut out, 32, 64);
        put16(&mut out, 52, 64);
        put16(&mut out, 54, 56);
        put16(&mut out, 56, self.segs.len() as u16);
        for (i, s) in self.segs.iter().enumerate() {
            let (offset, filesz) = if s.with_headers {
                out.extend_from_slice(&s.bytes);
                (0, (hdr_len + s.bytes.len()) as u64)
            } else if s.bytes.is_empty() {
                (0, 0)
            } else {
                // Keep offset ≡ vaddr (mod 4K), as linkers do.
                let mut off = out.len() as u64;
                while s.ty == PT_LOAD && off % 4096 != s.vaddr % 4096 {
                    off += 1;
                }
                out.resize(off as usize, 0xee);
                out.extend_from_slice(&s.bytes);
                (off, s.bytes.len() as u64)
            };
            let memsz = s.memsz.max(filesz);
            let ph = 64 + 56 * i;
            put32(&mut out, ph, s.ty);
            put32(&mut out, ph + 4, s.flags);
            put64(&mut out, ph + 8, offset);
            put64(&mut out, ph + 16, s.vaddr);
            put64(&mut out, ph + 24, s.vaddr);
            put64(&mut out, ph + 32, filesz);
            put64(&mut out, ph + 40, memsz);
            put64(&mut out, ph + 48, 4096);
        }
        // Trailing junk after the last segment: the loader must not copy it into bss.
        out.extend_from_slice(&[0xab; 64]);
        out
    }
}

pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
