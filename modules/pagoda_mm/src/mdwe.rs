//! Memory-deny-write-execute (`prctl(PR_SET_MDWE)`): the per-process policy and its rules,
//! as Linux 6.12 defines them (`Documentation/userspace-api/mdwe` and `prctl(2)`).

use axerrno::LinuxError;
use page_table_entry::MappingFlags;

/// `PR_SET_MDWE`.
pub const PR_SET_MDWE: usize = 65;
/// `PR_GET_MDWE`.
pub const PR_GET_MDWE: usize = 66;
/// `PR_MDWE_REFUSE_EXEC_GAIN`: no mapping may become writable and executable, and no
/// mapping may gain `PROT_EXEC` after it was created without it.
pub const PR_MDWE_REFUSE_EXEC_GAIN: usize = 1;
/// `PR_MDWE_NO_INHERIT`: the policy ends at the next `fork` or `execve`.
pub const PR_MDWE_NO_INHERIT: usize = 2;

/// A process's MDWE bits (Linux's `MMF_HAS_MDWE` and `MMF_HAS_MDWE_NO_INHERIT`). Once set
/// they stay: a process cannot weaken or change them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Mdwe(usize);

impl Mdwe {
    /// No policy (every process starts so).
    pub const OFF: Self = Self(0);

    /// The bits `PR_GET_MDWE` returns.
    pub fn bits(self) -> usize {
        self.0
    }

    /// Whether `PR_MDWE_REFUSE_EXEC_GAIN` is in force.
    pub fn refuses_exec_gain(self) -> bool {
        self.0 & PR_MDWE_REFUSE_EXEC_GAIN != 0
    }

    /// `prctl(PR_SET_MDWE, bits, a3, a4, a5)`: the new policy.
    ///
    /// # Errors
    ///
    /// In Linux's order: [`LinuxError::EINVAL`] for a non-zero `a3`/`a4`/`a5`, unknown
    /// bits, or `NO_INHERIT` without `REFUSE_EXEC_GAIN`; [`LinuxError::EPERM`] for other
    /// bits than those already set (they can be set again, never changed).
    pub fn set(self, bits: usize, a3: usize, a4: usize, a5: usize) -> Result<Self, LinuxError> {
        if a3 != 0 || a4 != 0 || a5 != 0 {
            return Err(LinuxError::EINVAL);
        }
        if bits & !(PR_MDWE_REFUSE_EXEC_GAIN | PR_MDWE_NO_INHERIT) != 0 {
            return Err(LinuxError::EINVAL);
        }
        if bits & PR_MDWE_NO_INHERIT != 0 && bits & PR_MDWE_REFUSE_EXEC_GAIN == 0 {
            return Err(LinuxError::EINVAL);
        }
        if self.0 != 0 && self.0 != bits {
            return Err(LinuxError::EPERM);
        }
        Ok(Self(bits))
    }

    /// `prctl(PR_GET_MDWE, a2, a3, a4, a5)`.
    ///
    /// # Errors
    ///
    /// [`LinuxError::EINVAL`] unless all four arguments are 0.
    pub fn get(self, a2: usize, a3: usize, a4: usize, a5: usize) -> Result<usize, LinuxError> {
        if a2 != 0 || a3 != 0 || a4 != 0 || a5 != 0 {
            return Err(LinuxError::EINVAL);
        }
        Ok(self.0)
    }

    /// The policy of a forked child or of the new image after `execve` (Linux's
    /// `mmf_init_flags`): the same, unless `NO_INHERIT` ends it.
    pub fn inherited(self) -> Self {
        if self.0 & PR_MDWE_NO_INHERIT != 0 {
            Self::OFF
        } else {
            self
        }
    }

    /// Whether an area with protection `old` may not get protection `new` (Linux's
    /// `map_deny_write_exec`; a new mapping passes its protection as both): under the
    /// policy, nothing may be writable and executable, and nothing may become executable.
    pub fn denies(self, old: MappingFlags, new: MappingFlags) -> bool {
        self.refuses_exec_gain()
            && new.contains(MappingFlags::EXECUTE)
            && (new.contains(MappingFlags::WRITE) || !old.contains(MappingFlags::EXECUTE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: MappingFlags = MappingFlags::READ;
    const W: MappingFlags = MappingFlags::WRITE;
    const X: MappingFlags = MappingFlags::EXECUTE;
    const E: usize = PR_MDWE_REFUSE_EXEC_GAIN;
    const N: usize = PR_MDWE_NO_INHERIT;

    #[test]
    fn prctl_arguments_are_checked_in_linux_order() {
        let off = Mdwe::OFF;
        assert_eq!(off.set(N, 0, 0, 7), Err(LinuxError::EINVAL));
        assert_eq!(off.set(7, 0, 0, 0), Err(LinuxError::EINVAL));
        assert_eq!(off.set(N, 0, 0, 0), Err(LinuxError::EINVAL));
        assert_eq!(off.set(0, 7, 0, 0), Err(LinuxError::EINVAL));
        for i in 0..4 {
            let mut a = [0; 4];
            a[i] = 7;
            assert_eq!(off.get(a[0], a[1], a[2], a[3]), Err(LinuxError::EINVAL));
        }
        assert_eq!(off.get(0, 0, 0, 0), Ok(0));
        // An unchanged policy may be set again; nothing else once one is set.
        assert_eq!(off.set(0, 0, 0, 0), Ok(off));
        for (first, second, ok) in [
            (E, E, true),
            (E | N, E | N, true),
            (E, 0, false),
            (E | N, 0, false),
            (E | N, E, false),
            (E, E | N, false),
        ] {
            let m = off.set(first, 0, 0, 0).unwrap();
            let r = m.set(second, 0, 0, 0);
            if ok {
                assert_eq!(r.unwrap().get(0, 0, 0, 0), Ok(second));
            } else {
                assert_eq!(r, Err(LinuxError::EPERM));
            }
        }
        // A bad argument is EINVAL even under a policy.
        let m = off.set(E, 0, 0, 0).unwrap();
        assert_eq!(m.set(E, 1, 0, 0), Err(LinuxError::EINVAL));
    }

    #[test]
    fn denies_write_exec_and_exec_gain_and_inherits_unless_told() {
        let off = Mdwe::OFF;
        let on = off.set(E, 0, 0, 0).unwrap();
        let once = off.set(E | N, 0, 0, 0).unwrap();
        assert!(!off.denies(R, W | X));
        assert!(on.denies(W | X, W | X), "W+X mapping");
        assert!(
            !on.denies(R | X, R | X),
            "an executable mapping stays allowed"
        );
        assert!(on.denies(R, R | X), "gaining exec");
        assert!(
            on.denies(R | X, R | W | X),
            "becoming writable while executable"
        );
        assert!(!on.denies(R | X, R), "dropping exec");
        assert!(!on.denies(W, R | W));
        assert_eq!(on.inherited(), on);
        assert_eq!(once.inherited(), Mdwe::OFF);
        assert!(once.denies(R, X));
    }
}
