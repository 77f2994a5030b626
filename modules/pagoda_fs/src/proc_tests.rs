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
        ..MemInfo::default()
    };
    let ours = meminfo(&m);
    assert!(ours.starts_with("MemTotal:         524288 kB\nMemFree:          307200 kB\n"));
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
    let ours = smaps_entry(&f, "rd wr mr mw me ac");
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
