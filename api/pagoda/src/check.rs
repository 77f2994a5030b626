//! [`Test`]: the checks of an example, ending in `PASS <name>` or `FAIL <name>: <why>`.

use core::fmt::{self, Debug};

/// The named checks of one example. A failed check prints `FAIL <name>: <what>` and exits
/// with failure; [`pass`](Self::pass) prints `PASS <name>` and exits successfully.
///
/// ```ignore
/// const T: pagoda::Test = pagoda::Test::new("lazy");
/// let space = T.ok(pagoda::mm::new_space(), "new address space");
/// T.eq(1 + 1, 2, "arithmetic");
/// T.pass();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Test {
    name: &'static str,
}

impl Test {
    /// Checks named `name` (the example's name: the harness looks for `PASS <name>`).
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Fails unless `ok`.
    pub fn check(&self, ok: bool, what: &str) {
        if !ok {
            self.fail(format_args!("{what}"));
        }
    }

    /// Fails unless `got == want`, showing both.
    pub fn eq<T: PartialEq + Debug>(&self, got: T, want: T, what: &str) {
        if got != want {
            self.fail(format_args!("{what}: got {got:?}, expected {want:?}"));
        }
    }

    /// The value of `r`, or fails with its error.
    pub fn ok<T, E: Debug>(&self, r: Result<T, E>, what: &str) -> T {
        r.unwrap_or_else(|e| self.fail(format_args!("{what}: {e:?}")))
    }

    /// The value of `o`, or fails.
    pub fn some<T>(&self, o: Option<T>, what: &str) -> T {
        o.unwrap_or_else(|| self.fail(format_args!("{what}: nothing")))
    }

    /// Prints `FAIL <name>: <why>` and exits with failure.
    pub fn fail(&self, why: fmt::Arguments<'_>) -> ! {
        crate::fail(self.name, why)
    }

    /// Prints `PASS <name>` and exits successfully.
    pub fn pass(&self) -> ! {
        crate::pass(self.name)
    }
}
