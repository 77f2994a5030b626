//! The process tree against a simple model: random forks, threads, exits, waits and
//! auto-reap switches; after every step the answers agree and the tree is consistent.

use std::collections::BTreeMap;

use axerrno::LinuxError;
use proptest::prelude::*;

use crate::*;

#[derive(Debug, Clone)]
enum Op {
    Fork(usize),
    Thread(usize),
    ExitThread(usize, usize),
    ExitGroup(usize, u8),
    Wait(usize, Option<usize>, bool),
    Autoreap(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<usize>().prop_map(Op::Fork),
        1 => any::<usize>().prop_map(Op::Thread),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Op::ExitThread(p, t)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, c)| Op::ExitGroup(p, c)),
        3 => (any::<usize>(), any::<Option<usize>>(), any::<bool>()).prop_map(|(p, c, n)| Op::Wait(p, c, n)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(p, on)| Op::Autoreap(p, on)),
    ]
}

#[derive(Debug, Clone)]
struct ModelProc {
    parent: Pid,
    children: Vec<Pid>,
    threads: Vec<Pid>,
    zombie: Option<ExitStatus>,
    autoreap: bool,
}

#[derive(Default)]
struct Model {
    procs: BTreeMap<Pid, ModelProc>,
}

impl Model {
    fn live(&self) -> Vec<Pid> {
        self.procs
            .iter()
            .filter(|(_, p)| p.zombie.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn remove(&mut self, pid: Pid) {
        let parent = self.procs.remove(&pid).unwrap().parent;
        if let Some(p) = self.procs.get_mut(&parent) {
            p.children.retain(|c| *c != pid);
        }
    }

    fn end(&mut self, pid: Pid, status: ExitStatus) {
        let p = self.procs.get_mut(&pid).unwrap();
        p.zombie = Some(status);
        p.threads.clear();
        let orphans = std::mem::take(&mut p.children);
        let parent = p.parent;
        for o in &orphans {
            self.procs.get_mut(o).unwrap().parent = Pid::INIT;
            self.procs.get_mut(&Pid::INIT).unwrap().children.push(*o);
        }
        if self.procs[&Pid::INIT].autoreap {
            for o in orphans {
                if self.procs[&o].zombie.is_some() {
                    self.remove(o);
                }
            }
        }
        if self.procs[&parent].autoreap {
            self.remove(pid);
        }
    }
}

fn check_consistent(tree: &ProcessTree, model: &Model) {
    let pids: Vec<Pid> = tree.pids().collect();
    let expected: Vec<Pid> = model.procs.keys().copied().collect();
    assert_eq!(pids, expected);
    for (pid, m) in &model.procs {
        assert_eq!(
            tree.children(*pid).unwrap(),
            &m.children[..],
            "children of {pid:?}"
        );
        assert_eq!(
            tree.threads(*pid).unwrap(),
            &m.threads[..],
            "threads of {pid:?}"
        );
        if *pid != Pid::INIT {
            assert_eq!(tree.parent(*pid), Ok(m.parent));
        }
        for t in &m.threads {
            assert_eq!(tree.tgid(*t), Ok(*pid));
        }
        match m.zombie {
            Some(s) => assert_eq!(tree.state(*pid), Ok(ProcState::Zombie(s))),
            None => assert_eq!(tree.state(*pid), Ok(ProcState::Alive)),
        }
    }
}

fn run(ops: Vec<Op>) {
    let mut tree = ProcessTree::new();
    let mut model = Model::default();
    model.procs.insert(
        Pid::INIT,
        ModelProc {
            parent: Pid::new(0),
            children: vec![],
            threads: vec![Pid::INIT],
            zombie: None,
            autoreap: false,
        },
    );
    for op in ops {
        let live = model.live();
        let pick = |i: usize| live[i % live.len()];
        match op {
            Op::Fork(i) => {
                let parent = pick(i);
                let tid = model.procs[&parent].threads[0];
                let child = tree.fork(tid).unwrap();
                assert!(!model.procs.contains_key(&child));
                let autoreap = model.procs[&parent].autoreap;
                model.procs.get_mut(&parent).unwrap().children.push(child);
                model.procs.insert(
                    child,
                    ModelProc {
                        parent,
                        children: vec![],
                        threads: vec![child],
                        zombie: None,
                        autoreap,
                    },
                );
            }
            Op::Thread(i) => {
                let pid = pick(i);
                let tid = tree.spawn_thread(model.procs[&pid].threads[0]).unwrap();
                model.procs.get_mut(&pid).unwrap().threads.push(tid);
            }
            Op::ExitThread(i, j) => {
                let pid = pick(i);
                if pid == Pid::INIT {
                    continue;
                }
                let threads = model.procs[&pid].threads.clone();
                let tid = threads[j % threads.len()];
                let status = ExitStatus::Exited(j as u8);
                let got = tree.exit_thread(tid, status).unwrap();
                if threads.len() > 1 {
                    assert_eq!(got, None);
                    model
                        .procs
                        .get_mut(&pid)
                        .unwrap()
                        .threads
                        .retain(|t| *t != tid);
                } else {
                    assert!(got.is_some());
                    model.end(pid, status);
                }
            }
            Op::ExitGroup(i, code) => {
                let pid = pick(i);
                if pid == Pid::INIT {
                    continue;
                }
                let status = ExitStatus::Exited(code);
                let report = tree
                    .exit_group(model.procs[&pid].threads[0], status)
                    .unwrap();
                assert_eq!(
                    report.reaped,
                    model.procs[&model.procs[&pid].parent].autoreap
                );
                model.end(pid, status);
            }
            Op::Wait(i, which, nohang) => {
                let me = pick(i);
                let children = model.procs[&me].children.clone();
                let target = match which {
                    Some(k) if !children.is_empty() => {
                        WaitTarget::Pid(children[k % children.len()])
                    }
                    Some(k) => WaitTarget::Pid(Pid::new(k as u32 % 64 + 2)),
                    None => WaitTarget::Any,
                };
                let matching: Vec<Pid> = children
                    .iter()
                    .copied()
                    .filter(|c| target == WaitTarget::Any || target == WaitTarget::Pid(*c))
                    .collect();
                let mut opts = WaitOptions::WEXITED;
                if nohang {
                    opts |= WaitOptions::WNOHANG;
                }
                let got = tree.wait(model.procs[&me].threads[0], target, opts);
                let zombie = matching
                    .iter()
                    .find(|c| model.procs[c].zombie.is_some())
                    .copied();
                let want = match (matching.is_empty(), zombie) {
                    (true, _) => Err(LinuxError::ECHILD),
                    (false, Some(z)) => {
                        let status = model.procs[&z].zombie.unwrap();
                        model.remove(z);
                        Ok(WaitOutcome::Exited { pid: z, status })
                    }
                    (false, None) if nohang => Ok(WaitOutcome::NotReady),
                    (false, None) => Ok(WaitOutcome::Block),
                };
                assert_eq!(got, want);
            }
            Op::Autoreap(i, on) => {
                let pid = pick(i);
                tree.set_autoreap(pid, on).unwrap();
                model.procs.get_mut(&pid).unwrap().autoreap = on;
            }
        }
        check_consistent(&tree, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(super::cases(128)))]
    #[test]
    fn tree_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
