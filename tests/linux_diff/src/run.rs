//! Runs one sequence on both executors in lockstep and compares everything observable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use page_table_multiarch::testing::{CountingHandler, take_flushes};

use crate::known::{History, Selection};
use crate::linux::Linux;
use crate::ops::{Addr, Case, Op, Region, WIN_PAGES};
use crate::pagoda::Pagoda;
use crate::reply::Reply;

/// Heap pages compared by the final dump.
const HEAP_DUMP_PAGES: u64 = 24;

/// Figures of one or many sequences.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Sequences run (including proptest's shrinking runs).
    pub sequences: u64,
    /// Ops run on both sides.
    pub ops: u64,
    /// Ops not run, per class.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Pagoda panics.
    pub panics: u64,
    /// Sequences whose teardown left frames allocated.
    pub leaks: u64,
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Stats) {
        self.sequences += other.sequences;
        self.ops += other.ops;
        self.panics += other.panics;
        self.leaks += other.leaks;
        for (k, v) in &other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
    }
}

/// Where and how the two sides disagreed.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Index of the op (`None`: setup, final dumps or teardown).
    pub at: Option<usize>,
    /// What was compared.
    pub what: String,
    /// Linux's side.
    pub linux: String,
    /// Pagoda's side.
    pub pagoda: String,
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// Runs `f` on Pagoda, turning a panic into a mismatch.
fn guarded<T>(stats: &mut Stats, at: Option<usize>, f: impl FnOnce() -> T) -> Result<T, Mismatch> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        stats.panics += 1;
        Mismatch {
            at,
            what: "Pagoda panicked".into(),
            linux: "-".into(),
            pagoda: panic_text(p),
        }
    })
}

fn setup_err(e: String) -> Mismatch {
    Mismatch {
        at: None,
        what: "executor".into(),
        linux: e,
        pagoda: "-".into(),
    }
}

/// One sequence, optionally logging every op and both replies into `trace`.
pub fn run_case(
    case: &Case,
    sel: &Selection,
    stats: &mut Stats,
    mut trace: Option<&mut String>,
) -> Result<(), Mismatch> {
    stats.sequences += 1;
    CountingHandler::reset();
    take_flushes();
    let mut linux = Linux::start(&case.file_sizes).map_err(setup_err)?;
    let mut pagoda = match guarded(stats, None, || Pagoda::start(&case.file_sizes))? {
        Ok(p) => p,
        Err(e) => {
            return Err(Mismatch {
                at: None,
                what: "Pagoda setup".into(),
                linux: "-".into(),
                pagoda: e,
            });
        }
    };
    let r = run_ops(
        case,
        sel,
        stats,
        &mut linux,
        &mut pagoda,
        trace.as_deref_mut(),
    );
    let r = r.and_then(|()| final_compare(stats, &mut linux, &mut pagoda, trace));
    linux.quit().map_err(setup_err)?;
    // Teardown: every frame must come back exactly once (CountingHandler panics on a
    // double free, which `guarded` reports).
    guarded(stats, None, move || drop(pagoda))?;
    r?;
    let live = CountingHandler::live_frames();
    if live != 0 {
        stats.leaks += 1;
        return Err(Mismatch {
            at: None,
            what: "frames after teardown".into(),
            linux: "0".into(),
            pagoda: format!("{live} frames still allocated"),
        });
    }
    Ok(())
}

fn run_ops(
    case: &Case,
    sel: &Selection,
    stats: &mut Stats,
    linux: &mut Linux,
    pagoda: &mut Pagoda,
    mut trace: Option<&mut String>,
) -> Result<(), Mismatch> {
    let mut hist = History {
        file_mapped: vec![false; pagoda.files.len()],
    };
    for (i, op) in case.ops.iter().enumerate() {
        if let Some(class) = sel.skip(pagoda, &hist, op) {
            *stats.skipped.entry(class.name).or_default() += 1;
            if let Some(t) = trace.as_deref_mut() {
                let _ = writeln!(t, "  {i:3}: {op:?} -> {:?}", Reply::Skipped(class.name));
            }
            continue;
        }
        stats.ops += 1;
        let l = linux.run(op).map_err(|e| Mismatch {
            at: Some(i),
            ..setup_err(e)
        })?;
        let p = guarded(stats, Some(i), || pagoda.run(op))?;
        if let Some(t) = trace.as_deref_mut() {
            if l == p {
                let _ = writeln!(t, "  {i:3}: {op:?} -> {l:?}");
            } else {
                let _ = writeln!(t, "  {i:3}: {op:?} -> Linux {l:?}, Pagoda {p:?}");
            }
        }
        if l != p {
            return Err(Mismatch {
                at: Some(i),
                what: "result".into(),
                linux: format!("{l:?}"),
                pagoda: format!("{p:?}"),
            });
        }
        if let (Op::Mmap { file, .. }, Reply::Val(_) | Reply::HeapAddr(_) | Reply::Outside) =
            (op, &l)
            && let Some(m) = usize::try_from(*file)
                .ok()
                .and_then(|f| hist.file_mapped.get_mut(f))
        {
            *m = true;
        }
        if op.changes_layout() {
            compare_maps(stats, Some(i), linux, pagoda)?;
        }
    }
    Ok(())
}

fn compare_maps(
    stats: &mut Stats,
    at: Option<usize>,
    linux: &mut Linux,
    pagoda: &mut Pagoda,
) -> Result<(), Mismatch> {
    let l = linux.maps().map_err(setup_err)?;
    let p = guarded(stats, at, || pagoda.maps())?.map_err(|e| Mismatch {
        at,
        what: "maps".into(),
        linux: "-".into(),
        pagoda: e,
    })?;
    if l.0 != p.0 {
        return Err(Mismatch {
            at,
            what: "window layout".into(),
            linux: format!("{:?}", l.0),
            pagoda: format!("{:?}", p.0),
        });
    }
    if l.1 != p.1 {
        return Err(Mismatch {
            at,
            what: "heap layout (relative)".into(),
            linux: format!("{:?}", l.1),
            pagoda: format!("{:?}", p.1),
        });
    }
    Ok(())
}

/// Every process's layout and page contents at the end.
fn final_compare(
    stats: &mut Stats,
    linux: &mut Linux,
    pagoda: &mut Pagoda,
    mut trace: Option<&mut String>,
) -> Result<(), Mismatch> {
    for proc in 0..pagoda.procs.len() {
        let switch = Op::Switch { proc };
        let l = linux.run(&switch).map_err(setup_err)?;
        let p = guarded(stats, None, || pagoda.run(&switch))?;
        if l != p {
            return Err(Mismatch {
                at: None,
                what: format!("final switch to p{proc}"),
                linux: format!("{l:?}"),
                pagoda: format!("{p:?}"),
            });
        }
        compare_maps(stats, None, linux, pagoda)?;
        for (region, pages) in [(Region::Win, WIN_PAGES), (Region::Heap, HEAP_DUMP_PAGES)] {
            let at = Addr { region, off: 0 };
            let l = linux.dump(at, pages).map_err(setup_err)?;
            let p = guarded(stats, None, || pagoda.dump(at, pages))?;
            if let Some(t) = trace.as_deref_mut() {
                let _ = writeln!(t, "  final p{proc} {at:?}: {l:?}");
            }
            if l != p {
                let diff: Vec<String> = l
                    .iter()
                    .zip(&p)
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .map(|(i, (a, b))| format!("page {i}: Linux {a:?} Pagoda {b:?}"))
                    .collect();
                return Err(Mismatch {
                    at: None,
                    what: format!("final contents of p{proc} {at:?}"),
                    linux: format!("{l:?}"),
                    pagoda: diff.join("; "),
                });
            }
        }
    }
    Ok(())
}
