//! The `/proc` formats against the host kernel's own files: same keys in the same order, and
//! each line shaped like the host's (digits aside).

use crate::procfs::*;

/// A line without digits and spaces: what must match whatever the numbers are.
fn shape(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_ascii_digit() && *c != ' ')
        .collect()
}

/// A `Name:   value[ kB]` line as the kernel renders it: the name and colon padded to 16
/// columns, the value right-aligned in 8 (wider values push on).
fn render_kb(line: &str) -> String {
    let (name, rest) = line.split_once(':').unwrap();
    let value = rest.trim().trim_end_matches(" kB").trim();
    let unit = if rest.ends_with(" kB") { " kB" } else { "" };
    format!("{:<16}{:>8}{unit}", format!("{name}:"), value)
}

fn keys(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.split(':').next()).collect()
}

fn host(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[test]
fn meminfo_has_the_host_kernels_fields_and_columns() {
    let m = MemInfo {
        total: 512 << 20,
        free: 300 << 20,
        available: 310 << 20,
        cached: 4 << 20,
        anon: 50 << 20,
        slab: 3 << 20,
        ..MemInfo::default()
    };
    let ours = meminfo(&m);
    assert!(ours.starts_with("MemTotal:         524288 kB\nMemFree:          307200 kB\n"));
    assert!(ours.contains("\nSlab:               3072 kB\n"));
    assert!(ours.contains("\nSUnreclaim:         3072 kB\n"));
    let Some(theirs) = host("/proc/meminfo") else {
        return;
    };
    assert_eq!(keys(&ours), keys(&theirs));
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert_eq!(
            render_kb(b),
            b,
            "the rendering rule reproduces the host's line"
        );
        assert_eq!(render_kb(a), a);
        assert_eq!(a.ends_with(" kB"), b.ends_with(" kB"), "{a:?} vs {b:?}");
    }
}

#[test]
fn status_has_the_host_kernels_fields_and_shapes() {
    let p = ProcStatus {
        name: "a-very-long-command-name".into(),
        state: 'S',
        umask: 0o022,
        tgid: 7,
        pid: 7,
        ppid: 1,
        pgid: 7,
        sid: 1,
        fd_size: 64,
        threads: 1,
        uids: [0; 4],
        gids: [0; 4],
        vm: VmFigures {
            size: 8 << 20,
            rss_anon: 1 << 20,
            ..VmFigures::default()
        },
        ..ProcStatus::default()
    };
    let ours = status(&p);
    assert!(ours.starts_with("Name:\ta-very-long-com\nUmask:\t0022\nState:\tS (sleeping)\n"));
    assert!(ours.contains("VmSize:\t    8192 kB\n"));
    assert!(ours.contains("VmRSS:\t    1024 kB\n"));
    let Some(theirs) = host("/proc/self/status") else {
        return;
    };
    assert_eq!(keys(&ours), keys(&theirs));
    for (a, b) in ours.lines().zip(theirs.lines()) {
        if [
            "Name",
            "State",
            "Groups",
            "Cpus_allowed",
            "Mems_allowed",
            "Speculation",
            "SigQ",
            "untag_mask",
            "Seccomp",
            "Ngid",
            "Umask",
            "Cap",
            "NoNewPrivs",
        ]
        .iter()
        .any(|k| a.starts_with(k))
        {
            continue;
        }
        if a.starts_with("Sig") || a.starts_with("ShdPnd") {
            // Signal sets: 16 hex digits, whatever the test runner blocks or ignores.
            let hex = |l: &str| {
                l.split_once('\t')
                    .map(|(_, v)| v.len() == 16 && v.bytes().all(|c| c.is_ascii_hexdigit()))
            };
            assert_eq!((hex(a), hex(b)), (Some(true), Some(true)), "{a:?} vs {b:?}");
            continue;
        }
        assert_eq!(shape(a), shape(b), "{a:?} vs {b:?}");
    }
}

#[test]
fn stat_has_52_fields() {
    let p = ProcStatus {
        name: "sh".into(),
        state: 'R',
        pid: 3,
        tgid: 3,
        ppid: 1,
        threads: 1,
        ..ProcStatus::default()
    };
    let line = stat(&p, &StatLayout::default());
    let after_comm = line.rsplit_once(')').unwrap().1;
    assert_eq!(2 + after_comm.split_whitespace().count(), 52);
    assert!(line.starts_with("3 (sh) R 1 "));
    if let Some(theirs) = host("/proc/self/stat") {
        let n = theirs
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .count();
        assert_eq!(2 + n, 52);
    }
}

#[test]
fn smaps_entries_have_the_host_kernels_fields_and_columns() {
    let f = SmapsFigures {
        size: 8192,
        rss: 4096,
        pss: 4096,
        private: (0, 4096),
        anonymous: 4096,
        ..SmapsFigures::default()
    };
    let ours = smaps_entry(&f, "rd wr mr mw me ac ");
    assert!(ours.contains("Rss:                   4 kB\n"));
    let Some(theirs) = host("/proc/self/smaps") else {
        return;
    };
    let first: Vec<&str> = theirs
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("VmFlags"))
        .collect();
    let ours_lines: Vec<&str> = ours
        .lines()
        .take_while(|l| !l.starts_with("VmFlags"))
        .collect();
    assert_eq!(
        ours_lines
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        first
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>()
    );
    for (a, b) in ours_lines.iter().zip(&first) {
        if b.ends_with(" kB") {
            assert_eq!(
                render_kb(b),
                *b,
                "the rendering rule reproduces the host's line"
            );
            assert_eq!(render_kb(a), *a);
        } else {
            assert_eq!(shape(a), shape(b));
        }
    }
}

#[test]
fn pagemap_bits() {
    assert_eq!(pagemap_word(None, false, false, false, true), 0);
    let w = pagemap_word(Some(0x1234), false, true, true, true);
    assert_eq!(w, (1 << 63) | (1 << 56) | (1 << 55) | 0x1234);
    assert_eq!(
        pagemap_word(Some(0x1234), true, false, false, false),
        (1 << 63) | (1 << 61)
    );
    assert_eq!(
        pagemap_word(Some(u64::MAX), false, false, false, true) & ((1 << 55) - 1),
        (1 << 55) - 1
    );
}

/// The host's maps lines as areas, re-rendered by `maps_line`: byte for byte the same.
#[test]
fn maps_lines_match_the_host_byte_for_byte() {
    let Some(theirs) = host("/proc/self/maps") else {
        return;
    };
    for line in theirs.lines() {
        let mut it = line.splitn(6, ' ');
        let (range, perms, off, dev, ino) = (
            it.next().unwrap(),
            it.next().unwrap().as_bytes(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
        );
        let name = it.next().map(str::trim_start).filter(|n| !n.is_empty());
        let (s, e) = range.split_once('-').unwrap();
        let (ma, mi) = dev.split_once(':').unwrap();
        let hex = |t: &str| u64::from_str_radix(t, 16).unwrap();
        let area = MapsArea {
            range: (hex(s), hex(e)),
            perms: (
                perms[0] == b'r',
                perms[1] == b'w',
                perms[2] == b'x',
                perms[3] == b's',
            ),
            offset: hex(off),
            dev: (hex(ma) as u32, hex(mi) as u32),
            inode: ino.parse().unwrap(),
            name,
        };
        assert_eq!(maps_line(&area), format!("{line}\n"));
    }
}

#[test]
fn vm_flags_follow_linuxs_order_and_the_hosts_common_lines() {
    let private_rw = VmFlagSet {
        read: true,
        write: true,
        may_write: true,
        account: true,
        ..VmFlagSet::default()
    };
    assert_eq!(vm_flags(&private_rw), "rd wr mr mw me ac ");
    let stack = VmFlagSet {
        growsdown: true,
        locked: true,
        ..private_rw
    };
    assert_eq!(vm_flags(&stack), "rd wr mr mw me gd lo ac ");
    let shared_ro = VmFlagSet {
        read: true,
        shared: true,
        may_share: true,
        ..VmFlagSet::default()
    };
    assert_eq!(vm_flags(&shared_ro), "rd sh mr me ms ");
    let all = VmFlagSet {
        read: true,
        write: true,
        exec: true,
        shared: true,
        may_write: true,
        may_share: true,
        growsdown: true,
        locked: true,
        dontcopy: true,
        account: true,
        noreserve: true,
        wipeonfork: true,
    };
    assert_eq!(vm_flags(&all), "rd wr ex sh mr mw me ms gd lo dc ac nr wf ");
    if let Some(theirs) = host("/proc/self/smaps") {
        let ours = vm_flags(&private_rw);
        assert!(
            theirs.lines().any(|l| l == format!("VmFlags: {ours}")),
            "the host's writable private areas print the same letters"
        );
    }
}

#[test]
fn smaps_accounting_splits_shared_pages_proportionally() {
    let mut acc = SmapsAcc::default();
    acc.add_size(4 * 4096);
    acc.add_page(4096, 1, true, PageClass::Anon, false);
    acc.add_page(4096, 3, false, PageClass::File, true);
    acc.add_page(4096, 2, true, PageClass::Shmem, false);
    let f = acc.finish();
    assert_eq!(f.size, 4 * 4096);
    assert_eq!(f.rss, 3 * 4096);
    assert_eq!(f.private, (0, 4096));
    assert_eq!(f.shared, (4096, 4096));
    assert_eq!(f.anonymous, 4096);
    // 4096 + 4096/3 + 4096/2, each with 12 fraction bits, rounded down once.
    let exact = (4096u64 << 12) + (4096u64 << 12) / 3 + (4096u64 << 12) / 2;
    assert_eq!(f.pss, exact >> 12);
    assert_eq!(f.pss_dirty, 4096 + 2048);
    assert_eq!((f.pss_anon, f.pss_shmem), (4096, 2048));
    assert_eq!(f.pss_file, 1365);
    assert_eq!(
        f.locked, 1365,
        "Locked is the locked pages' proportional share"
    );
    let mut total = SmapsAcc::default();
    total.merge(&acc);
    total.merge(&acc);
    assert_eq!(total.finish().rss, 6 * 4096);
    assert_eq!(total.finish().pss, (2 * exact) >> 12);
}

#[test]
fn smaps_rollup_and_statm_have_the_host_kernels_shape() {
    let f = SmapsAcc::default().finish();
    let ours = smaps_rollup((0x1000, 0x7fff_0000), &f);
    assert!(ours.starts_with(
        "00001000-7fff0000 ---p 00000000 00:00 0                                  [rollup]\n"
    ));
    if let Some(theirs) = host("/proc/self/smaps_rollup") {
        assert_eq!(keys(&ours)[1..], keys(&theirs)[1..]);
        for (a, b) in ours.lines().zip(theirs.lines()).skip(1) {
            assert_eq!(render_kb(b), b);
            assert_eq!(render_kb(a), a);
        }
    }
    let ours = statm(10, 4, 2, 1, 3);
    assert_eq!(ours, "10 4 2 1 0 3 0\n");
    if let Some(theirs) = host("/proc/self/statm") {
        assert_eq!(theirs.split_whitespace().count(), 7);
    }
}

#[test]
fn huge_pages_show_in_smaps_rollup_and_meminfo() {
    let mut acc = SmapsAcc::default();
    acc.add_size(2 << 20);
    for _ in 0..512 {
        acc.add_page(4096, 1, true, PageClass::Anon, false);
    }
    acc.add_anon_huge(2 << 20);
    let mut f = acc.finish();
    assert_eq!(f.anon_huge, 2 << 20);
    f.thp_eligible = true;
    let e = smaps_entry(&f, "rd wr mr mw me ac ");
    assert!(e.contains("AnonHugePages:      2048 kB\n"), "{e}");
    assert!(e.contains("THPeligible:           1\nVmFlags"), "{e}");
    f.thp_eligible = false;
    assert!(smaps_entry(&f, "").contains("THPeligible:           0\n"));
    let mut total = SmapsAcc::default();
    total.merge(&acc);
    total.merge(&acc);
    let r = smaps_rollup((0, 4 << 20), &total.finish());
    assert!(r.contains("AnonHugePages:      4096 kB\n"), "{r}");
    let m = meminfo(&MemInfo {
        anon_huge: 6 << 20,
        ..MemInfo::default()
    });
    assert!(m.contains("AnonHugePages:      6144 kB\n"), "{m}");
}
