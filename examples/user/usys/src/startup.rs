//! The System V initial process stack: what the kernel leaves at the stack pointer when it
//! enters `_start`.
//!
//! ```text
//! sp ->  argc
//!        argv[0] .. argv[argc-1], NULL
//!        envp[0] .. envp[n-1],    NULL
//!        (key, value) .. ,        (AT_NULL, _)
//! ```

use core::ffi::{CStr, c_char};
use core::{fmt, slice};

/// Auxiliary-vector keys (`AT_*`), with the numbers Linux uses on every architecture.
pub mod auxv {
    /// End of the vector.
    pub const AT_NULL: usize = 0;
    /// Address of the program headers in memory.
    pub const AT_PHDR: usize = 3;
    /// Size of one program header.
    pub const AT_PHENT: usize = 4;
    /// Number of program headers.
    pub const AT_PHNUM: usize = 5;
    /// Page size in bytes.
    pub const AT_PAGESZ: usize = 6;
    /// Load base of the interpreter (0 when there is none).
    pub const AT_BASE: usize = 7;
    /// Entry point of the program.
    pub const AT_ENTRY: usize = 9;
    /// Real user id.
    pub const AT_UID: usize = 11;
    /// Clock ticks per second.
    pub const AT_CLKTCK: usize = 17;
    /// Non-zero when the program runs with elevated privileges.
    pub const AT_SECURE: usize = 23;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: usize = 25;
    /// Address of the program's file name.
    pub const AT_EXECFN: usize = 31;
}

/// One auxiliary-vector entry as laid out on the stack.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxEntry {
    /// An `AT_*` key from [`auxv`].
    pub key: usize,
    /// Its value (a number or an address, depending on the key).
    pub value: usize,
}

/// Arguments, environment and auxiliary vector handed to the program at start.
///
/// Only `pagoda-usys` builds one (from the real initial stack, in `_start`), so every
/// pointer it holds obeys the contract of [`Startup::from_stack`].
pub struct Startup {
    argv: &'static [*const c_char],
    envp: &'static [*const c_char],
    auxv: &'static [AuxEntry],
}

impl Startup {
    /// Parses the initial process stack at `sp`.
    ///
    /// # Safety
    /// `sp` must point to a System V initial stack (layout in the module docs) that stays
    /// valid and unmodified for the rest of the program: `argc` readable pointers followed by
    /// NULL, then environment pointers ending in NULL, then auxiliary entries ending in
    /// `AT_NULL`. Every non-NULL argv/envp pointer must point to a NUL-terminated string, and
    /// an `AT_RANDOM` value, if present and non-zero, to 16 readable bytes; all of these must
    /// also stay valid and unmodified.
    pub unsafe fn from_stack(sp: *const usize) -> Self {
        // SAFETY: the caller guarantees the layout: a readable argc word at sp, followed by
        // argc pointers and a NULL, all living for the rest of the program.
        let (argv, envp_start) = unsafe {
            let argc = sp.read();
            let argv_start = sp.add(1).cast::<*const c_char>();
            (
                slice::from_raw_parts(argv_start, argc),
                argv_start.add(argc + 1),
            )
        };
        // SAFETY: the environment pointers follow argv's NULL and end with their own NULL.
        let envp = unsafe { slice::from_raw_parts(envp_start, count_until_null(envp_start)) };
        // SAFETY: the auxiliary vector follows envp's NULL; `usize` pairs have AuxEntry's
        // layout and alignment, and the vector ends with an AT_NULL entry.
        let auxv = unsafe {
            let aux_start = envp_start.add(envp.len() + 1).cast::<AuxEntry>();
            let mut n = 0;
            while (*aux_start.add(n)).key != auxv::AT_NULL {
                n += 1;
            }
            slice::from_raw_parts(aux_start, n)
        };
        Self { argv, envp, auxv }
    }

    /// Number of arguments (`argc`).
    pub fn argc(&self) -> usize {
        self.argv.len()
    }

    /// Argument `i`, or `None` past the end (or if the kernel passed a NULL pointer).
    pub fn arg(&self, i: usize) -> Option<&'static CStr> {
        // SAFETY: argv comes from `from_stack`, whose contract covers its pointers.
        self.argv.get(i).and_then(|&p| unsafe { to_cstr(p) })
    }

    /// All arguments in order (NULL pointers skipped).
    pub fn args(&self) -> CStrs {
        CStrs(self.argv.iter())
    }

    /// All environment strings (`KEY=value`) in order.
    pub fn envs(&self) -> CStrs {
        CStrs(self.envp.iter())
    }

    /// The auxiliary vector without its `AT_NULL` terminator.
    pub fn auxv(&self) -> &'static [AuxEntry] {
        self.auxv
    }

    /// Value of the first auxiliary entry with `key`, if any.
    pub fn aux(&self, key: usize) -> Option<usize> {
        self.auxv.iter().find(|e| e.key == key).map(|e| e.value)
    }

    /// The 16 random bytes `AT_RANDOM` points to, if the kernel provided them.
    pub fn random_bytes(&self) -> Option<&'static [u8; 16]> {
        let addr = self.aux(auxv::AT_RANDOM).filter(|&a| a != 0)?;
        // SAFETY: `from_stack`'s contract: a non-zero AT_RANDOM points to 16 readable bytes
        // that live for the rest of the program; `[u8; 16]` has alignment 1.
        Some(unsafe { &*(addr as *const [u8; 16]) })
    }
}

impl fmt::Debug for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Startup")
            .field("args", &self.args())
            .field("envs", &self.envs().count())
            .field("auxv", &self.auxv)
            .finish()
    }
}

/// Iterator over argument or environment strings of a [`Startup`] (only it makes one).
#[derive(Clone)]
pub struct CStrs(slice::Iter<'static, *const c_char>);

impl Iterator for CStrs {
    type Item = &'static CStr;

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: a `CStrs` only walks argv or envp of a `Startup`, whose pointers obey
        // `from_stack`'s contract.
        self.0.by_ref().find_map(|&p| unsafe { to_cstr(p) })
    }
}

impl fmt::Debug for CStrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// The string at `p`, or `None` for NULL.
///
/// # Safety
/// A non-NULL `p` must point to a NUL-terminated string that stays valid and unmodified for
/// the rest of the program (true of argv/envp pointers under `from_stack`'s contract).
unsafe fn to_cstr(p: *const c_char) -> Option<&'static CStr> {
    // SAFETY: NULL is rejected first; the caller guarantees the rest.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

/// Number of pointers before the first NULL.
///
/// # Safety
/// `p` must point to a readable array of pointers that contains a NULL.
unsafe fn count_until_null(p: *const *const c_char) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a NULL terminates the readable array, so every read
    // up to and including it is in bounds.
    while !unsafe { p.add(n).read() }.is_null() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    static RANDOM: [u8; 16] = *b"0123456789abcdef";

    /// Builds a leaked initial stack with the real layout, as a kernel would.
    fn stack(args: &[&'static CStr], envs: &[&'static CStr], aux: &[(usize, usize)]) -> Startup {
        let mut words = Vec::new();
        words.push(args.len());
        words.extend(args.iter().map(|s| s.as_ptr() as usize));
        words.push(0);
        words.extend(envs.iter().map(|s| s.as_ptr() as usize));
        words.push(0);
        for &(k, v) in aux {
            words.extend([k, v]);
        }
        words.extend([auxv::AT_NULL, 0]);
        let words: &'static [usize] = Vec::leak(words);
        // SAFETY: `words` has the initial-stack layout, is leaked (lives forever), its strings
        // are 'static and AT_RANDOM (when used) points to a 16-byte static.
        unsafe { Startup::from_stack(words.as_ptr()) }
    }

    #[test]
    fn parses_args_envs_and_auxv() {
        let random = RANDOM.as_ptr() as usize;
        let s = stack(
            &[c"/bin/prog", c"-v", c""],
            &[c"HOME=/", c"TERM=vt100"],
            &[
                (auxv::AT_PAGESZ, 4096),
                (auxv::AT_RANDOM, random),
                (auxv::AT_ENTRY, 0x40_0000),
            ],
        );
        assert_eq!(s.argc(), 3);
        assert_eq!(s.arg(0), Some(c"/bin/prog"));
        assert_eq!(s.arg(2), Some(c""));
        assert_eq!(s.arg(3), None);
        assert!(s.args().eq([c"/bin/prog", c"-v", c""]));
        assert!(s.envs().eq([c"HOME=/", c"TERM=vt100"]));
        assert_eq!(s.auxv().len(), 3);
        assert_eq!(
            s.auxv()[2],
            AuxEntry {
                key: auxv::AT_ENTRY,
                value: 0x40_0000
            }
        );
        assert_eq!(s.aux(auxv::AT_PAGESZ), Some(4096));
        assert_eq!(s.aux(auxv::AT_PHDR), None);
        assert_eq!(s.random_bytes(), Some(&RANDOM));
    }

    #[test]
    fn empty_vectors() {
        let s = stack(&[], &[], &[]);
        assert_eq!(s.argc(), 0);
        assert_eq!(s.arg(0), None);
        assert_eq!(s.args().count(), 0);
        assert_eq!(s.envs().count(), 0);
        assert!(s.auxv().is_empty());
        assert_eq!(s.random_bytes(), None);
    }

    #[test]
    fn first_duplicate_key_wins_and_zero_random_is_absent() {
        let s = stack(
            &[c"a"],
            &[],
            &[
                (auxv::AT_PAGESZ, 4096),
                (auxv::AT_PAGESZ, 8192),
                (auxv::AT_RANDOM, 0),
            ],
        );
        assert_eq!(s.aux(auxv::AT_PAGESZ), Some(4096));
        assert_eq!(s.aux(auxv::AT_RANDOM), Some(0));
        assert_eq!(s.random_bytes(), None);
    }

    #[test]
    fn debug_lists_args() {
        let s = stack(&[c"x"], &[c"A=1"], &[(auxv::AT_PAGESZ, 4096)]);
        let text = std::format!("{s:?}");
        assert!(text.contains("args: [\"x\"]"), "{text}");
        assert!(text.contains("envs: 1"), "{text}");
    }
}
