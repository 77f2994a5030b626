//! `execve`: a new program image from the namespace replaces the calling process's. Every
//! check that can fail (arguments, the file, the ELF, the new address space) happens
//! before the old image is touched, so a failed exec leaves the caller intact.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use pagoda::fs::vfs::{Access, Ino, ROOT_INO};
use pagoda::mm::{self, AddrSpace, LinuxError, MemFile, UserContext, VirtAddr};
use pagoda_task::rlimit::resource;
use pagoda_task::{AltStack, Pid};

use crate::files::namespace;
use crate::files::procfs::ExecLayout;
use crate::process::Kernel;
use crate::syscall::Outcome;
use crate::uaccess::{get_cstr, get_path, get_u64};

/// Longest single argument or environment string (Linux's `MAX_ARG_STRLEN`, 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Most bytes of arguments and environment together: a quarter of the stack limit, as
/// Linux allows, but at least 32 pages and at most 6 MiB (the loader's initial stack
/// area has the same size, so the auxv may still make it `E2BIG`).
fn arg_max(stack_limit: u64) -> usize {
    let quarter = usize::try_from(stack_limit / 4).unwrap_or(usize::MAX);
    quarter.clamp(32 * 4096, 6 << 20)
}
/// `#!` lines longer than this are not scripts (Linux's `BINPRM_BUF_SIZE`).
const SHEBANG_MAX: usize = 256;

/// Reads a NULL-terminated array of string pointers (`argv`, `envp`); NULL is an empty
/// array, as Linux treats it. `budget` counts down the bytes all strings may use.
fn read_strings(at: usize, budget: &mut usize) -> Result<Vec<String>, LinuxError> {
    let mut out = Vec::new();
    if at == 0 {
        return Ok(out);
    }
    loop {
        let slot = at.checked_add(out.len() * 8).ok_or(LinuxError::EFAULT)?;
        let ptr = get_u64(slot)? as usize;
        if ptr == 0 {
            return Ok(out);
        }
        let s = get_cstr(ptr, MAX_ARG_STRLEN - 1, LinuxError::E2BIG)?;
        // Each string costs its bytes, its NUL and its pointer.
        let cost = s.len() + 1 + 8;
        *budget = budget.checked_sub(cost).ok_or(LinuxError::E2BIG)?;
        out.push(String::from_utf8_lossy(&s).into_owned());
    }
}

/// A `#!` line: the interpreter and its optional single argument.
fn shebang(image: &[u8]) -> Option<(String, Option<String>)> {
    let rest = image.strip_prefix(b"#!")?;
    let end = rest.iter().take(SHEBANG_MAX).position(|&b| b == b'\n')?;
    let line = core::str::from_utf8(&rest[..end]).ok()?.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    (!interp.is_empty()).then(|| (String::from(interp), arg.map(String::from)))
}

/// Loads `file` (or the interpreter of a `#!` script) into a fresh address space, with its
/// `PT_INTERP` interpreter when it is dynamic; also the path of the program that runs (the
/// interpreter for a script: `/proc/self/exe`). `ids`: real and effective uid and gid
/// (lookups use the effective ones); `stack_limit`: the soft `RLIMIT_STACK`, how far the
/// new stack may grow.
pub(crate) fn load(
    cwd: Ino,
    path: &str,
    mut file: Arc<MemFile>,
    mut argv: Vec<String>,
    envp: &[String],
    ids: [u32; 4],
    stack_limit: u64,
) -> Result<Image, LinuxError> {
    let who = Access {
        uid: ids[1],
        gid: ids[3],
    };
    let mut image = file.contents();
    let mut exe = String::from(path);
    if let Some((interp, arg)) = shebang(&image) {
        // argv becomes: interpreter, its argument, the script's path, argv[1..].
        let mut new = Vec::with_capacity(argv.len() + 2);
        new.push(interp.clone());
        new.extend(arg);
        new.push(String::from(path));
        new.extend(argv.into_iter().skip(1));
        argv = new;
        file = namespace::read_executable(cwd, &interp, who)?;
        image = file.contents();
        if image.starts_with(b"#!") {
            // One level of interpreter only.
            return Err(LinuxError::ELOOP);
        }
        exe = interp;
    }
    let mut space = mm::new_space().map_err(|_| LinuxError::ENOMEM)?;
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let envp: Vec<&str> = envp.iter().map(String::as_str).collect();
    let args = mm::ExecArgs {
        execfn: path,
        argv: &argv,
        envp: &envp,
        ids,
        stack_limit,
    };
    let file: Arc<dyn mm::File> = file;
    // The dynamic linker is opened as the caller, like the program (PT_INTERP is absolute).
    let open_interp = |p: &str| namespace::read_executable(cwd, p, who);
    let loaded = mm::load_program(&mut space, &image, Some(&file), &args, open_interp)?;
    let sigreturn = map_trampoline(&mut space)?;
    let ctx = UserContext::new(loaded.entry.as_usize(), loaded.sp.as_usize());
    let sp = loaded.sp.as_usize() as u64;
    let top = loaded.stack.end.as_usize() as u64;
    let layout = ExecLayout::new(&exe, path, sp, top, &argv, &envp);
    Ok(Image {
        space,
        ctx,
        exe,
        layout,
        sigreturn,
    })
}

/// The `comm` of a program run from `path`: its last component, cut to 15 bytes.
pub fn comm_of(path: &str) -> [u8; 16] {
    let name = path.rsplit('/').next().unwrap_or(path).as_bytes();
    let mut comm = [0u8; 16];
    let n = name.len().min(15);
    comm[..n].copy_from_slice(&name[..n]);
    comm
}

/// A program loaded into a new address space, not yet running.
pub(crate) struct Image {
    pub space: AddrSpace,
    /// Its first user context (entry point and stack pointer).
    pub ctx: UserContext,
    /// The program that runs (a script's interpreter): `/proc/self/exe`.
    pub exe: String,
    /// Where `/proc` finds its arguments and environment.
    pub layout: ExecLayout,
    /// The signal-return trampoline's address (0 where programs bring their own).
    pub sigreturn: u64,
}

/// Maps the signal-return trampoline riscv64 handlers return through (x86_64 programs
/// bring their own `sa_restorer`) where an mmap would go, high in the space as Linux's
/// vDSO: a low fixed address would be in the way of a program mapping page 0. Its address,
/// or 0 on x86_64.
pub fn map_trampoline(space: &mut AddrSpace) -> Result<u64, LinuxError> {
    if pagoda::ARCH != "riscv64" {
        return Ok(0);
    }
    let code = &crate::sigdeliver::TRAMPOLINE_CODE;
    let va = space
        .find_free_area(VirtAddr::from_usize(0), code.len().next_multiple_of(4096))
        .ok_or(LinuxError::ENOMEM)?;
    mm::map_code(space, va, code)?;
    Ok(va.as_usize() as u64)
}

impl Kernel {
    /// `execve(path, argv, envp)`.
    pub fn sys_execve(&mut self, tid: Pid, a: [usize; 6]) -> Outcome {
        match self.exec_prepare(tid, a) {
            Ok((path, mut image)) => {
                if let Ok(pid) = self.tree.tgid(tid) {
                    crate::files::procfs::exec(pid.get(), core::mem::take(&mut image.layout));
                }
                self.exec_commit(tid, &path, image);
                Outcome::NoReturn
            }
            Err(e) => Outcome::Ret(Err(e)),
        }
    }

    fn exec_prepare(&mut self, tid: Pid, a: [usize; 6]) -> Result<(String, Image), LinuxError> {
        let path = get_path(a[0])?;
        let pid = self.tree.tgid(tid)?;
        let limits = self.procs.get(&pid).map(|p| p.limits.get(resource::STACK));
        let stack_limit = match limits {
            Some(Ok(l)) => l.cur,
            _ => crate::ids::STACK_LIMIT,
        };
        let mut budget = arg_max(stack_limit);
        let argv = read_strings(a[1], &mut budget)?;
        let envp = read_strings(a[2], &mut budget)?;
        let c = self.tree.creds(self.tree.tgid(tid)?)?;
        let who = Access {
            uid: c.euid,
            gid: c.egid,
        };
        let cwd = self
            .threads
            .get(&tid)
            .map_or(ROOT_INO, |t| t.files.cwd_ino());
        let file = namespace::read_executable(cwd, &path, who)?;
        let ids = [c.ruid, c.euid, c.rgid, c.egid];
        let image = load(cwd, &path, file, argv, &envp, ids, stack_limit)?;
        Ok((path, image))
    }

    /// The point of no return: other threads end, the caller takes the process id, the new
    /// space replaces the old one, handlers reset, a `vfork` parent resumes. `path`: what
    /// execve named (`comm`); `image.exe`: the program that runs (a script's interpreter).
    fn exec_commit(&mut self, tid: Pid, path: &str, image: Image) {
        let Image {
            space,
            ctx,
            exe,
            sigreturn,
            ..
        } = image;
        let Some(pid) = self.threads.get(&tid).map(|t| t.tgid) else {
            return;
        };
        let Ok(report) = self.tree.exec(tid) else {
            return;
        };
        for other in report.ended {
            if other != tid {
                self.rq.remove(other);
                self.futexes.cancel(other);
                self.timers.cancel(pagoda::time::TimerKind::Wake(other));
                self.threads.remove(&other);
            }
        }
        let Some(mut t) = self.threads.remove(&tid) else {
            return;
        };
        // Like Linux's exec_mm_release: the clear_child_tid word is cleared and woken when
        // someone else (a vfork parent) still uses the old space, and forgotten anyway.
        let clear = core::mem::take(&mut t.clear_child_tid);
        t.ctx = ctx;
        t.sig.altstack = AltStack::default();
        t.sleep_deadline = None;
        t.suspend_mask = None;
        t.comm = comm_of(path);
        t.files.on_exec();
        t.files.set_exe(&exe);
        let new_tid = report.new_tid;
        self.threads.insert(new_tid, t);
        let new_mm = self.add_mm(space);
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let old_mm = core::mem::replace(&mut p.mm, new_mm);
        if clear != 0 && self.mms.get(&old_mm).is_some_and(|m| m.users > 1) {
            self.clear_tid_word(old_mm, clear);
        }
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        p.signals.exec();
        p.sigreturn = sigreturn;

        let vfork_parent = p.vfork_parent.take();
        p.memory.on_exec();
        if self.activate(new_mm).is_err() {
            self.kill_process(
                pid,
                pagoda_task::ExitStatus::Signaled {
                    sig: pagoda_task::Signal::SIGKILL,
                    core: false,
                },
            );
        }
        self.release_mm(old_mm, pid);
        if let Some(waiter) = vfork_parent {
            self.complete(waiter, pid.get() as usize);
        }
        if new_tid != tid {
            // The thread goes on under the process id.
            self.rq.remove(tid);
            self.rq.wake(new_tid);
        }
    }
}
