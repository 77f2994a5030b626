//! The text (and binary) formats of the `/proc` files Linux programs and test suites read:
//! `meminfo`, `<pid>/status`, `<pid>/stat`, `<pid>/smaps` entries, `<pid>/pagemap` words.
//! Field names, order and column widths are Linux's; the kernel supplies the numbers.

mod maps;

use alloc::string::String;
use core::fmt::Write;

pub use self::maps::{
    MapsArea, PageClass, SmapsAcc, VmFlagSet, maps_line, smaps_rollup, statm, vm_flags,
};

/// Memory figures for `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// Usable RAM.
    pub total: u64,
    /// Unused RAM.
    pub free: u64,
    /// RAM available to new allocations without swapping (free + reclaimable cache).
    pub available: u64,
    /// The page cache.
    pub cached: u64,
    /// Shared memory (shm, shared anonymous mappings, tmpfs files).
    pub shmem: u64,
    /// Anonymous pages mapped by processes.
    pub anon: u64,
    /// File pages mapped by processes.
    pub mapped: u64,
    /// Page-table pages.
    pub page_tables: u64,
    /// Kernel stacks.
    pub kernel_stack: u64,
    /// Locked (mlock) pages.
    pub mlocked: u64,
    /// The kernel's own heap (`Slab`, all of it `SUnreclaim`: it never shrinks).
    pub slab: u64,
    /// Anonymous memory mapped as transparent huge pages (PMD-level leaves).
    pub anon_huge: u64,
}

/// `"Name:" + value` with the name padded to 16 columns and the value in kB right-aligned
/// in 8, as Linux prints meminfo and smaps lines.
pub(crate) fn kb_line(out: &mut String, name: &str, bytes: u64) {
    let _ = writeln!(
        out,
        "{:<16}{:>8} kB",
        alloc::format!("{name}:"),
        bytes / 1024
    );
}

/// `/proc/meminfo`, with every field Linux 6.18 prints (those Pagoda has no notion of are 0).
pub fn meminfo(m: &MemInfo) -> String {
    let mut out = String::new();
    let sizes: [(&str, u64); 45] = [
        ("MemTotal", m.total),
        ("MemFree", m.free),
        ("MemAvailable", m.available),
        ("Buffers", 0),
        ("Cached", m.cached),
        ("SwapCached", 0),
        ("Active", m.anon + m.cached),
        ("Inactive", 0),
        ("Active(anon)", m.anon),
        ("Inactive(anon)", 0),
        ("Active(file)", m.cached),
        ("Inactive(file)", 0),
        ("Unevictable", m.mlocked),
        ("Mlocked", m.mlocked),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", m.anon),
        ("Mapped", m.mapped),
        ("Shmem", m.shmem),
        ("KReclaimable", 0),
        ("Slab", m.slab),
        ("SReclaimable", 0),
        ("SUnreclaim", m.slab),
        ("KernelStack", m.kernel_stack),
        ("PageTables", m.page_tables),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", m.total / 2),
        ("Committed_AS", m.anon + m.shmem),
        ("VmallocTotal", 0),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("AnonHugePages", m.anon_huge),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
        ("Balloon", 0),
    ];
    for (name, value) in sizes {
        kb_line(&mut out, name, value);
    }
    // Counts, without a unit.
    for name in [
        "HugePages_Total",
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
    ] {
        let _ = writeln!(out, "{:<16}{:>8}", alloc::format!("{name}:"), 0);
    }
    for (name, value) in [
        ("Hugepagesize", 2 << 20),
        ("Hugetlb", 0),
        ("DirectMap4k", 0),
        ("DirectMap2M", m.total),
        ("DirectMap1G", 0),
    ] {
        kb_line(&mut out, name, value);
    }
    out
}

/// What `/proc/<pid>/status` and `stat` report about a process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcStatus {
    /// The command name (at most 15 bytes are shown).
    pub name: String,
    /// One of `R`, `S`, `D`, `T`, `Z`.
    pub state: char,
    /// File mode creation mask.
    pub umask: u32,
    /// Process id (thread-group id).
    pub tgid: u32,
    /// The thread reported (the tgid for `/proc/<pid>`).
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// Real, effective, saved and file-system uid.
    pub uids: [u32; 4],
    /// Real, effective, saved and file-system gid.
    pub gids: [u32; 4],
    /// Size of the descriptor table.
    pub fd_size: u32,
    /// Peak and current virtual size, locked, peak and current resident, anon/file/shmem
    /// resident, data, stack, text, libraries, page tables — bytes.
    pub vm: VmFigures,
    /// Threads in the process.
    pub threads: u32,
    /// Pending (thread), shared pending, blocked, ignored, caught signal sets.
    pub signals: [u64; 5],
    /// Voluntary and involuntary context switches.
    pub ctxt_switches: [u64; 2],
}

/// Memory figures of one process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmFigures {
    /// `VmPeak`.
    pub peak: u64,
    /// `VmSize`.
    pub size: u64,
    /// `VmLck`.
    pub locked: u64,
    /// `VmHWM`.
    pub rss_peak: u64,
    /// `RssAnon`.
    pub rss_anon: u64,
    /// `RssFile`.
    pub rss_file: u64,
    /// `RssShmem`.
    pub rss_shmem: u64,
    /// `VmData`.
    pub data: u64,
    /// `VmStk`.
    pub stack: u64,
    /// `VmExe`.
    pub exe: u64,
    /// `VmLib`.
    pub lib: u64,
    /// `VmPTE`.
    pub pte: u64,
}

fn state_word(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        'Z' => "Z (zombie)",
        _ => "X (dead)",
    }
}

fn comm(name: &str) -> &str {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// `/proc/<pid>/status`.
pub fn status(p: &ProcStatus) -> String {
    let mut o = String::new();
    let v = &p.vm;
    let rss = v.rss_anon + v.rss_file + v.rss_shmem;
    let _ = write!(
        o,
        "Name:\t{}\nUmask:\t{:04o}\nState:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n",
        comm(&p.name),
        p.umask,
        state_word(p.state),
        p.tgid,
        p.pid,
        p.ppid
    );
    let [u0, u1, u2, u3] = p.uids;
    let [g0, g1, g2, g3] = p.gids;
    let _ = write!(
        o,
        "Uid:\t{u0}\t{u1}\t{u2}\t{u3}\nGid:\t{g0}\t{g1}\t{g2}\t{g3}\nFDSize:\t{}\nGroups:\t\n",
        p.fd_size
    );
    let _ = write!(
        o,
        "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\nKthread:\t0\n",
        p.tgid, p.pid, p.pgid, p.sid
    );
    let vm_lines = [
        ("VmPeak", v.peak),
        ("VmSize", v.size),
        ("VmLck", v.locked),
        ("VmPin", 0),
        ("VmHWM", v.rss_peak.max(rss)),
        ("VmRSS", rss),
        ("RssAnon", v.rss_anon),
        ("RssFile", v.rss_file),
        ("RssShmem", v.rss_shmem),
        ("VmData", v.data),
        ("VmStk", v.stack),
        ("VmExe", v.exe),
        ("VmLib", v.lib),
        ("VmPTE", v.pte),
        ("VmSwap", 0),
        ("HugetlbPages", 0),
    ];
    for (name, bytes) in vm_lines {
        let _ = writeln!(o, "{name}:\t{:>8} kB", bytes / 1024);
    }
    let _ = write!(
        o,
        "CoreDumping:\t0\nTHP_enabled:\t0\nuntag_mask:\t0xffffffffffffffff\nThreads:\t{}\nSigQ:\t0/0\n",
        p.threads
    );
    for (name, set) in ["SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"]
        .iter()
        .zip(p.signals)
    {
        let _ = writeln!(o, "{name}:\t{set:016x}");
    }
    for name in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let caps: u64 = if p.uids[1] == 0 && name != "CapInh" && name != "CapAmb" {
            0x1ff_ffff_ffff
        } else {
            0
        };
        let _ = writeln!(o, "{name}:\t{caps:016x}");
    }
    let _ = write!(
        o,
        "NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\nSpeculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\nCpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed:\t1\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
        p.ctxt_switches[0], p.ctxt_switches[1]
    );
    o
}

/// Address-space landmarks for `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatLayout {
    /// Start and end of the text segment, start of the stack.
    pub code: (u64, u64),
    /// The initial stack pointer.
    pub start_stack: u64,
    /// Data segment start and end, heap start.
    pub data: (u64, u64, u64),
    /// argv and envp strings.
    pub args: (u64, u64),
    /// Environment strings.
    pub env: (u64, u64),
    /// Clock ticks since boot at process start.
    pub start_time: u64,
    /// User and system ticks.
    pub times: (u64, u64),
    /// Minor faults.
    pub minor_faults: u64,
}

/// `/proc/<pid>/stat`: the 52 fields of proc(5), on one line.
pub fn stat(p: &ProcStatus, l: &StatLayout) -> String {
    let rss_pages = (p.vm.rss_anon + p.vm.rss_file + p.vm.rss_shmem) / 4096;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} ({}) {} {} {} {} 0 -1 4194560 {} 0 0 0 {} {} 0 0 20 0 {} 0 {} {} {} 18446744073709551615 {} {} {} 0 0 {} {} {} {} 0 0 0 17 0 0 0 0 0 0 {} {} {} {} {} {} {} 0",
        p.pid,
        comm(&p.name),
        p.state,
        p.ppid,
        p.pgid,
        p.sid,
        l.minor_faults,
        l.times.0,
        l.times.1,
        p.threads,
        l.start_time,
        p.vm.size,
        rss_pages,
        l.code.0,
        l.code.1,
        l.start_stack,
        p.signals[0] | p.signals[1],
        p.signals[2],
        p.signals[3],
        p.signals[4],
        l.data.0,
        l.data.1,
        l.data.2,
        l.args.0,
        l.args.1,
        l.env.0,
        l.env.1
    );
    o
}

/// Per-area figures for one `/proc/<pid>/smaps` entry, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmapsFigures {
    /// Area size.
    pub size: u64,
    /// Resident.
    pub rss: u64,
    /// Proportional share (resident pages divided by their mappers).
    pub pss: u64,
    /// The dirty part of `pss`.
    pub pss_dirty: u64,
    /// The anonymous, file and shared-memory parts of `pss` (`smaps_rollup`).
    pub pss_anon: u64,
    /// File part of `pss`.
    pub pss_file: u64,
    /// Shared-memory part of `pss`.
    pub pss_shmem: u64,
    /// Resident pages also mapped elsewhere, clean / dirty.
    pub shared: (u64, u64),
    /// Resident pages mapped only here, clean / dirty.
    pub private: (u64, u64),
    /// Anonymous resident pages.
    pub anonymous: u64,
    /// Locked (mlock) resident pages.
    pub locked: u64,
    /// Anonymous resident pages mapped by PMD-level leaves (transparent huge pages).
    pub anon_huge: u64,
    /// A first touch may fill a PMD-size huge page in the area (`THPeligible`; smaps
    /// only).
    pub thp_eligible: bool,
}

/// The kB lines `smaps` and `smaps_rollup` share, from `Rss` to `Locked`; the rollup also
/// splits `Pss` into its anonymous, file and shmem parts (as Linux does).
pub(crate) fn smaps_figures(o: &mut String, f: &SmapsFigures, rollup: bool) {
    let pss = [("Rss", f.rss), ("Pss", f.pss), ("Pss_Dirty", f.pss_dirty)];
    let split = [
        ("Pss_Anon", f.pss_anon),
        ("Pss_File", f.pss_file),
        ("Pss_Shmem", f.pss_shmem),
    ];
    let rest = [
        ("Shared_Clean", f.shared.0),
        ("Shared_Dirty", f.shared.1),
        ("Private_Clean", f.private.0),
        ("Private_Dirty", f.private.1),
        ("Referenced", f.rss),
        ("Anonymous", f.anonymous),
        ("KSM", 0),
        ("LazyFree", 0),
        ("AnonHugePages", f.anon_huge),
        ("ShmemPmdMapped", 0),
        ("FilePmdMapped", 0),
        ("Shared_Hugetlb", 0),
        ("Private_Hugetlb", 0),
        ("Swap", 0),
        ("SwapPss", 0),
        ("Locked", f.locked),
    ];
    let split: &[(&str, u64)] = if rollup { &split } else { &[] };
    for &(name, bytes) in pss.iter().chain(split).chain(&rest) {
        kb_line(o, name, bytes);
    }
}

/// The lines that follow an area's maps line in `smaps`; `vm_flags` is the `VmFlags` list
/// as [`vm_flags`] makes it (each letter pair followed by a space: `"rd wr mr mw me ac "`).
pub fn smaps_entry(f: &SmapsFigures, vm_flags: &str) -> String {
    let mut o = String::new();
    kb_line(&mut o, "Size", f.size);
    kb_line(&mut o, "KernelPageSize", 4096);
    kb_line(&mut o, "MMUPageSize", 4096);
    smaps_figures(&mut o, f, false);
    let eligible = u8::from(f.thp_eligible);
    let _ = write!(
        o,
        "{:<16}{:>8}\nVmFlags: {vm_flags}\n",
        "THPeligible:", eligible
    );
    o
}

/// One `/proc/<pid>/pagemap` word: bit 63 present, 61 file-page or shared-anon, 56 mapped
/// exactly once, 55 soft-dirty, bits 0..=54 the frame number (shown only to privileged
/// readers, as Linux does since 4.2).
pub fn pagemap_word(
    pfn: Option<u64>,
    file_or_shared: bool,
    exclusive: bool,
    soft_dirty: bool,
    show_pfn: bool,
) -> u64 {
    let mut word = 0;
    if let Some(pfn) = pfn {
        word |= 1 << 63;
        if show_pfn {
            word |= pfn & ((1 << 55) - 1);
        }
    }
    if file_or_shared {
        word |= 1 << 61;
    }
    if exclusive {
        word |= 1 << 56;
    }
    if soft_dirty {
        word |= 1 << 55;
    }
    word
}
