//! The Linux executor: a child process running `executor/executor.c`, one op per line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::ops::{Addr, NFILES, Op, PAGE, Region, WIN_PAGES};
use crate::reply::{Kind, MapEntry, PageState, Reply, normalize};
use crate::{HEAP_SPAN, WIN_BASE};

/// Path of the executor binary built by build.rs.
const EXECUTOR: &str = env!("LINUX_DIFF_EXECUTOR");

/// A running executor (a fresh process per sequence, so nothing leaks between them).
pub struct Linux {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    heap_base: u64,
    line: String,
    reaped: bool,
}

impl Linux {
    /// Starts an executor with the window reserved and the files created.
    pub fn start(file_sizes: &[u64]) -> Result<Self, String> {
        let mut child = Command::new(EXECUTOR)
            // Its own process group, so that a failed run can kill the forked family.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {EXECUTOR}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut me = Self {
            child,
            stdin: Some(stdin),
            stdout,
            heap_base: 0,
            line: String::new(),
            reaped: false,
        };
        let mut cmd = format!("init {WIN_BASE:#x} {WIN_PAGES} {NFILES}");
        for s in file_sizes {
            cmd += &format!(" {s}");
        }
        let reply = me.call(&cmd)?;
        me.heap_base = reply
            .strip_prefix("v ")
            .and_then(parse_u64)
            .ok_or_else(|| format!("executor init failed: {reply}"))?;
        Ok(me)
    }

    fn call(&mut self, cmd: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().ok_or("executor already quit")?;
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("executor died (write: {e}) at `{cmd}`"))?;
        self.line.clear();
        match self.stdout.read_line(&mut self.line) {
            Ok(0) | Err(_) => Err(format!("executor died at `{cmd}`")),
            Ok(_) => Ok(self.line.trim_end().to_string()),
        }
    }

    fn addr(&self, a: Addr) -> u64 {
        let base = match a.region {
            Region::Win => WIN_BASE,
            Region::Heap => self.heap_base,
        };
        base.wrapping_add_signed(a.off)
    }

    /// Runs one op.
    pub fn run(&mut self, op: &Op) -> Result<Reply, String> {
        let a = |x: Addr| self.addr(x);
        let cmd = match *op {
            Op::Mmap {
                addr,
                len,
                prot,
                flags,
                file,
                off,
            } => {
                let addr = addr.map_or(0, a);
                format!("mmap {addr:#x} {len:#x} {prot} {flags:#x} {file} {off}")
            }
            Op::Munmap { addr, len } => format!("munmap {:#x} {len:#x}", a(addr)),
            Op::Mprotect { addr, len, prot } => format!("mprotect {:#x} {len:#x} {prot}", a(addr)),
            Op::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                new_addr,
            } => format!(
                "mremap {:#x} {old_len:#x} {new_len:#x} {flags} {:#x}",
                a(addr),
                a(new_addr)
            ),
            Op::Madvise { addr, len, advice } => {
                format!("madvise {:#x} {len:#x} {advice}", a(addr))
            }
            Op::Msync { addr, len, flags } => format!("msync {:#x} {len:#x} {flags}", a(addr)),
            Op::Brk { addr } => format!("brk {:#x}", a(addr)),
            Op::Read { addr, len } => format!("read {:#x} {len:#x}", a(addr)),
            Op::Write { addr, len, seed } => format!("write {:#x} {len:#x} {seed}", a(addr)),
            Op::Pread { file, off, len } => format!("pread {file} {off} {len:#x}"),
            Op::Pwrite {
                file,
                off,
                len,
                seed,
            } => format!("pwrite {file} {off} {len:#x} {seed}"),
            Op::Ftruncate { file, len } => format!("ftrunc {file} {len}"),
            Op::Fork { child_active } => {
                format!("fork {}", if child_active { "child" } else { "parent" })
            }
            Op::Switch { proc } => format!("switch {proc}"),
        };
        let line = self.call(&cmd)?;
        let mut t = line.split(' ');
        let bad = || format!("bad executor reply `{line}` to `{cmd}`");
        let mut next = || t.next().ok_or_else(bad);
        let reply = match next()? {
            "o" => Reply::Outside,
            "k" => Reply::Stored,
            "e" => Reply::Err(next()?.parse().map_err(|_| bad())?),
            "h" => Reply::Hash(parse_u64(next()?).ok_or_else(bad)?),
            "s" => {
                let signo = next()?.parse().map_err(|_| bad())?;
                let code = next()?.parse().map_err(|_| bad())?;
                let addr_delta = next()?.parse().map_err(|_| bad())?;
                Reply::Fault {
                    signo,
                    code,
                    addr_delta,
                }
            }
            "v" => {
                let v = parse_u64(next()?).ok_or_else(bad)?;
                match op {
                    Op::Pread { .. } => Reply::Io(v, parse_u64(next()?).ok_or_else(bad)?),
                    Op::Pwrite { .. } => Reply::Io(v, 0),
                    Op::Brk { .. } => Reply::Val(v.wrapping_sub(self.heap_base) as i64),
                    Op::Mmap { .. } | Op::Mremap { .. } => {
                        let h = v.wrapping_sub(self.heap_base);
                        if h < HEAP_SPAN {
                            Reply::HeapAddr(h as i64)
                        } else {
                            Reply::Val(v.wrapping_sub(WIN_BASE) as i64)
                        }
                    }
                    _ => Reply::Val(v as i64),
                }
            }
            _ => return Err(bad()),
        };
        Ok(reply)
    }

    /// The window's and the heap's mappings (heap relative to its base), normalized.
    pub fn maps(&mut self) -> Result<(Vec<MapEntry>, Vec<MapEntry>), String> {
        let line = self.call("maps")?;
        let bad = || format!("bad maps reply `{line}`");
        let t: Vec<&str> = line.split(' ').collect();
        if t.first() != Some(&"m") {
            return Err(bad());
        }
        let (mut win, mut heap) = (Vec::new(), Vec::new());
        for e in t[2..].chunks(5) {
            let [start, end, perms, off, kind] = e else {
                return Err(bad());
            };
            let (start, end) = (
                parse_u64(start).ok_or_else(bad)?,
                parse_u64(end).ok_or_else(bad)?,
            );
            let off = parse_u64(off).ok_or_else(bad)?;
            let kind = match *kind {
                "anon" => Kind::Anon,
                "heap" => Kind::Heap,
                "shm" => Kind::Shm(off),
                k if k.starts_with('f') => Kind::File(k[1..].parse().map_err(|_| bad())?, off),
                _ => Kind::Other,
            };
            let perms = perms.to_string();
            let rel = start.wrapping_sub(self.heap_base);
            if rel < HEAP_SPAN {
                // The whole heap region; the break area counts as anonymous memory.
                let end = end.wrapping_sub(self.heap_base);
                let kind = if kind == Kind::Heap { Kind::Anon } else { kind };
                heap.push(MapEntry {
                    start: rel,
                    end,
                    perms,
                    kind,
                });
            } else {
                win.push(MapEntry {
                    start,
                    end,
                    perms,
                    kind,
                });
            }
        }
        Ok((normalize(win), normalize(heap)))
    }

    /// Loads every page of `[addr, addr + pages * 4096)`.
    pub fn dump(&mut self, addr: Addr, pages: u64) -> Result<Vec<PageState>, String> {
        let line = self.call(&format!("dump {:#x} {pages}", self.addr(addr)))?;
        let bad = || format!("bad dump reply `{line}`");
        let mut t = line.split(' ');
        if t.next() != Some("d") {
            return Err(bad());
        }
        t.map(|p| {
            if let Some(s) = p.strip_prefix('s') {
                let (sig, code) = s.split_once('.').ok_or_else(bad)?;
                Ok(PageState::Fault(
                    sig.parse().map_err(|_| bad())?,
                    code.parse().map_err(|_| bad())?,
                ))
            } else {
                Ok(PageState::Data(parse_u64(p).ok_or_else(bad)?))
            }
        })
        .collect()
    }

    /// Ends the whole process family.
    pub fn quit(mut self) -> Result<(), String> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit").and_then(|()| stdin.flush());
        }
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.reaped = true;
        if !status.success() {
            return Err(format!("executor exited with {status}"));
        }
        Ok(())
    }
}

impl Drop for Linux {
    fn drop(&mut self) {
        // Parked members of the family wait on semaphores forever if the sequence ended
        // early: kill the whole group. The leader is not reaped yet, so its pid (the
        // group id) cannot have been reused. After a clean quit every member exits.
        if self.reaped {
            return;
        }
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the executor's own process group,
        // created by `process_group(0)` above; it touches no memory of this process.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Window pages in bytes (for dumps).
pub const WIN_BYTES: u64 = WIN_PAGES * PAGE;
