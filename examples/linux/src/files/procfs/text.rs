//! The text files of `/proc/<pid>` (made at open, from one consistent look at the process)
//! and the global ones (`meminfo`, `cpuinfo`, `sys/...`).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use pagoda::fs::procfs::{
    self as fmt, MapsArea, MemInfo, PageClass, ProcStatus, SmapsAcc, StatLayout, VmFigures,
    VmFlagSet,
};
use pagoda::fs::vfs::NodeKind;
use pagoda::mm::{self, AddrSpace, BackendKind, File, LinuxError, MappingFlags, VirtAddr};

use super::super::namespace::{self, WHO};
use super::info::{self, ExecLayout, ProcSnapshot, info};

const PAGE: u64 = 4096;
/// Linux's `" (deleted)"` mark for a mapped file that lost its name.
const DELETED: &str = " (deleted)";

/// One area, copied out of the address space with its page figures.
struct Row {
    start: u64,
    end: u64,
    flags: MappingFlags,
    kind: BackendKind,
    shared: bool,
    offset: u64,
    name: Option<String>,
    file: Option<Arc<dyn File>>,
    may_write: bool,
    locked: bool,
    dontfork: bool,
    wipeonfork: bool,
    sealed: bool,
    softdirty: bool,
    accounted: bool,
    noreserve: bool,
    growsdown: bool,
    stack: bool,
    thp_eligible: bool,
    acc: SmapsAcc,
}

impl Row {
    fn size(&self) -> u64 {
        self.end - self.start
    }

    fn vm_flags(&self) -> VmFlagSet {
        let write = self.flags.contains(MappingFlags::WRITE);
        VmFlagSet {
            read: self.flags.contains(MappingFlags::READ),
            write,
            exec: self.flags.contains(MappingFlags::EXECUTE),
            shared: self.shared,
            may_write: self.may_write,
            may_share: self.shared,
            growsdown: self.growsdown,
            locked: self.locked,
            dontcopy: self.dontfork,
            account: self.accounted,
            noreserve: self.noreserve,
            wipeonfork: self.wipeonfork,
        }
    }
}

/// The areas of `pid`'s address space; `ESRCH` if it has none.
fn rows(pid: u32, layout: &ExecLayout) -> Result<Vec<Row>, LinuxError> {
    let mut rows = Vec::new();
    let stack = VirtAddr::from_usize(layout.start_stack as usize);
    let found = info().with_space(pid, &mut |s: &mut AddrSpace| {
        for area in s.areas() {
            let i = s.area_info(area);
            let mut acc = SmapsAcc::default();
            acc.add_size(i.range.size() as u64);
            for p in s.area_pages(area, i.range.start, i.range.end) {
                if !p.present {
                    continue;
                }
                let class = match (p.anon, i.kind) {
                    (true, _) => PageClass::Anon,
                    (false, BackendKind::Shared) => PageClass::Shmem,
                    (false, _) => PageClass::File,
                };
                acc.add_page(PAGE, p.mappers as u64, p.dirty, class, i.locked);
                if p.huge && p.anon {
                    acc.add_anon_huge(PAGE);
                }
            }
            rows.push(Row {
                start: i.range.start.as_usize() as u64,
                end: i.range.end.as_usize() as u64,
                flags: i.flags,
                kind: i.kind,
                shared: i.shared,
                offset: i.offset,
                name: i.name.map(String::from),
                file: area.backend().file().cloned(),
                may_write: i.may_write,
                locked: i.locked,
                dontfork: i.dontfork,
                wipeonfork: i.wipeonfork,
                sealed: i.sealed,
                softdirty: i.softdirty,
                accounted: i.accounted,
                noreserve: i.noreserve,
                growsdown: i.growsdown,
                stack: i.range.contains(stack),
                thp_eligible: i.thp_eligible,
                acc,
            });
        }
    });
    if !found {
        return Err(LinuxError::ESRCH);
    }
    // Names need the namespace, which is never locked inside the address space's lock.
    for r in &mut rows {
        if r.stack {
            r.name = Some(String::from("[stack]"));
        }
        if let (Some(file), Some(name)) = (&r.file, &mut r.name)
            && !name.ends_with(DELETED)
            && !still_named(file.as_ref(), name)
        {
            name.push_str(DELETED);
        }
    }
    Ok(rows)
}

/// Whether `path` still names the file `file` maps.
fn still_named(file: &dyn File, path: &str) -> bool {
    namespace::with(|fs| {
        let Ok(ino) = fs.lookup(pagoda::fs::vfs::ROOT_INO, path, true, WHO) else {
            return false;
        };
        matches!(fs.inode(ino).map(|n| &n.kind),
            Some(NodeKind::File(f)) if core::ptr::eq(f.cached(), file.cached()))
    })
}

fn maps_area(r: &Row) -> MapsArea<'_> {
    MapsArea {
        range: (r.start, r.end),
        perms: (
            r.flags.contains(MappingFlags::READ),
            r.flags.contains(MappingFlags::WRITE),
            r.flags.contains(MappingFlags::EXECUTE),
            r.shared,
        ),
        offset: r.offset,
        dev: (0, 0),
        inode: 0,
        name: r.name.as_deref(),
    }
}

/// `maps`.
pub fn maps(pid: u32, layout: &ExecLayout) -> Result<String, LinuxError> {
    Ok(rows(pid, layout)?
        .iter()
        .map(|r| fmt::maps_line(&maps_area(r)))
        .collect())
}

/// `smaps`.
pub fn smaps(pid: u32, layout: &ExecLayout) -> Result<String, LinuxError> {
    let mut out = String::new();
    for r in rows(pid, layout)? {
        out.push_str(&fmt::maps_line(&maps_area(&r)));
        // Linux prints the flags in bit order: `sd` (VM_SOFTDIRTY) after `wf`, `sl`
        // (VM_SEALED) last.
        let mut flags = fmt::vm_flags(&r.vm_flags());
        if r.softdirty {
            flags.push_str("sd ");
        }
        if r.sealed {
            flags.push_str("sl ");
        }
        let mut fig = r.acc.finish();
        fig.thp_eligible = r.thp_eligible;
        out.push_str(&fmt::smaps_entry(&fig, &flags));
    }
    Ok(out)
}

/// `smaps_rollup`.
pub fn smaps_rollup(pid: u32, layout: &ExecLayout) -> Result<String, LinuxError> {
    let rows = rows(pid, layout)?;
    let mut total = SmapsAcc::default();
    rows.iter().for_each(|r| total.merge(&r.acc));
    let range = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => (a.start, b.end),
        _ => (0, 0),
    };
    Ok(fmt::smaps_rollup(range, &total.finish()))
}

/// The memory figures of `status`, `stat` and `statm`, with the text and data ranges.
struct Figures {
    vm: VmFigures,
    code: (u64, u64),
    data: (u64, u64),
    heap: u64,
    shared_pages: u64,
}

fn figures(pid: u32, layout: &ExecLayout) -> Result<Figures, LinuxError> {
    // A zombie has no memory left: its figures are 0 (the snapshot proved it exists).
    let rows = match rows(pid, layout) {
        Err(LinuxError::ESRCH) => Vec::new(),
        r => r?,
    };
    let mut f = Figures {
        vm: VmFigures::default(),
        code: (0, 0),
        data: (0, 0),
        heap: 0,
        shared_pages: 0,
    };
    for r in &rows {
        let fig = r.acc.finish();
        let v = &mut f.vm;
        v.size += r.size();
        if r.locked {
            v.locked += r.size();
        }
        v.rss_anon += fig.anonymous;
        let other = fig.rss - fig.anonymous;
        if r.kind == BackendKind::Shared {
            v.rss_shmem += other;
        } else {
            v.rss_file += other;
        }
        let write = r.flags.contains(MappingFlags::WRITE);
        let exe = r.name.as_deref() == Some(layout.path.as_str());
        if r.stack {
            v.stack += r.size();
        } else if write && !r.shared {
            v.data += r.size();
        }
        if r.flags.contains(MappingFlags::EXECUTE) && !write {
            if exe {
                v.exe += r.size();
                if f.code == (0, 0) {
                    f.code = (r.start, r.end);
                }
            } else {
                v.lib += r.size();
            }
        }
        if exe && write && f.data == (0, 0) {
            f.data = (r.start, r.end);
        }
        if r.name.as_deref() == Some("[heap]") {
            f.heap = r.start;
        }
    }
    f.shared_pages = (f.vm.rss_file + f.vm.rss_shmem) / PAGE;
    // No peak is kept: the peaks are the current figures.
    f.vm.peak = f.vm.size;
    f.vm.rss_peak = f.vm.rss_anon + f.vm.rss_file + f.vm.rss_shmem;
    if f.heap == 0 {
        f.heap = f.data.1;
    }
    Ok(f)
}

fn status_of(p: &ProcSnapshot, layout: &ExecLayout, vm: VmFigures) -> ProcStatus {
    ProcStatus {
        name: p.comm.clone().unwrap_or_else(|| layout.comm.clone()),
        state: p.state,
        umask: p.umask.unwrap_or(0o022),
        tgid: p.tgid,
        pid: p.tgid,
        ppid: p.ppid,
        pgid: p.pgid,
        sid: p.sid,
        uids: p.uids,
        gids: p.gids,
        fd_size: p.fd_size.unwrap_or(64),
        vm,
        threads: p.threads,
        signals: p.signals,
        ctxt_switches: [0, 0],
    }
}

/// `status`.
pub fn status(p: &ProcSnapshot, layout: &ExecLayout) -> Result<String, LinuxError> {
    let f = figures(p.tgid, layout)?;
    Ok(fmt::status(&status_of(p, layout, f.vm)))
}

/// `stat`.
pub fn stat(p: &ProcSnapshot, layout: &ExecLayout) -> Result<String, LinuxError> {
    let f = figures(p.tgid, layout)?;
    let l = StatLayout {
        code: f.code,
        start_stack: layout.start_stack,
        data: (f.data.0, f.data.1, f.heap),
        args: layout.args,
        env: layout.env,
        start_time: layout.start_time,
        times: p.times,
        minor_faults: 0,
    };
    Ok(fmt::stat(&status_of(p, layout, f.vm), &l))
}

/// `statm`.
pub fn statm(p: &ProcSnapshot, layout: &ExecLayout) -> Result<String, LinuxError> {
    let f = figures(p.tgid, layout)?;
    let v = &f.vm;
    let rss = (v.rss_anon + v.rss_file + v.rss_shmem) / PAGE;
    Ok(fmt::statm(
        v.size / PAGE,
        rss,
        f.shared_pages,
        v.exe / PAGE,
        (v.data + v.stack) / PAGE,
    ))
}

/// `cmdline` or `environ`: the bytes of `[start, end)` in `pid`'s memory (as far as they
/// can be read).
pub fn user_bytes(pid: u32, (start, end): (u64, u64)) -> Result<Vec<u8>, LinuxError> {
    let len = usize::try_from(end.saturating_sub(start)).map_err(|_| LinuxError::EIO)?;
    let mut out = alloc::vec![0u8; len];
    let mut ok = 0;
    let found = info().with_space(pid, &mut |s: &mut AddrSpace| {
        while ok < len {
            let at = start as usize + ok;
            let n = (len - ok).min(4096 - at % 4096);
            if s.read_bytes(VirtAddr::from_usize(at), &mut out[ok..ok + n])
                .is_err()
            {
                break;
            }
            ok += n;
        }
    });
    if !found {
        return Ok(Vec::new());
    }
    out.truncate(ok);
    Ok(out)
}

/// `/proc/meminfo` from the frame allocator's figures.
pub fn meminfo() -> String {
    let frames = mm::frame_stats();
    let free = frames.free as u64 * PAGE;
    fmt::meminfo(&MemInfo {
        total: frames.total as u64 * PAGE,
        free,
        available: free,
        // The heap's frames are allocated but never given back (its unused part included).
        slab: pagoda::mem::heap_stats().claimed as u64,
        anon_huge: anon_huge(),
        ..MemInfo::default()
    })
}

/// Anonymous memory mapped by PMD-level leaves in every address space (each counted once,
/// however many processes share it).
fn anon_huge() -> u64 {
    let mut bytes = 0u64;
    for tgid in info::space_users() {
        info().with_space(tgid, &mut |s: &mut AddrSpace| {
            for area in s.areas() {
                let i = s.area_info(area);
                let huge = s
                    .area_pages(area, i.range.start, i.range.end)
                    .filter(|p| p.present && p.huge && p.anon)
                    .count() as u64;
                bytes = bytes.saturating_add(huge * PAGE);
            }
        });
    }
    bytes
}

/// `/proc/cpuinfo`: one processor, described as far as Pagoda knows it.
pub fn cpuinfo() -> String {
    match pagoda::ARCH {
        "x86_64" => String::from(
            "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 0\n\
             model name\t: QEMU TCG CPU\nstepping\t: 0\ncpu MHz\t\t: 1000.000\n\
             cache size\t: 0 KB\nphysical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\n\
             cpu cores\t: 1\napicid\t\t: 0\nfpu\t\t: yes\nflags\t\t: fpu pae msr tsc cx8 \
             apic sep pge cmov pat clflush mmx fxsr sse sse2 syscall nx lm\n\
             bogomips\t: 2000.00\nclflush size\t: 64\ncache_alignment\t: 64\n\
             address sizes\t: 40 bits physical, 48 bits virtual\n\n",
        ),
        arch => format!(
            "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc\nmmu\t\t: sv39\n\
             uarch\t\t: qemu ({arch})\n\n"
        ),
    }
}
