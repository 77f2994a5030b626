use axerrno::LinuxError;

use crate::rlimit::{INFINITY, Limits, Rlimit, resource};

fn limits() -> Limits {
    Limits::new(1 << 20, 1024, 1 << 20)
}

#[test]
fn defaults_and_get() {
    let l = limits();
    assert_eq!(
        l.get(resource::STACK),
        Ok(Rlimit {
            cur: 1 << 20,
            max: INFINITY
        })
    );
    assert_eq!(
        l.get(resource::NOFILE),
        Ok(Rlimit {
            cur: 1024,
            max: 1 << 20
        })
    );
    assert_eq!(
        l.get(resource::AS),
        Ok(Rlimit {
            cur: INFINITY,
            max: INFINITY
        })
    );
    assert_eq!(l.get(resource::CORE).map(|r| r.cur), Ok(0));
    assert_eq!(l.get(16), Err(LinuxError::EINVAL));
}

#[test]
fn set_rules() {
    let mut l = limits();
    let small = Rlimit {
        cur: 1 << 26,
        max: 1 << 27,
    };
    assert_eq!(
        l.set(resource::AS, small, false).map(|o| o.cur),
        Ok(INFINITY)
    );
    assert_eq!(l.get(resource::AS), Ok(small));
    // Lowering is free; raising the hard limit needs privilege.
    let up = Rlimit {
        cur: 1 << 26,
        max: 1 << 28,
    };
    assert_eq!(l.set(resource::AS, up, false), Err(LinuxError::EPERM));
    assert_eq!(l.get(resource::AS), Ok(small));
    assert_eq!(l.set(resource::AS, up, true), Ok(small));
    // The soft limit may not exceed the hard one.
    let bad = Rlimit { cur: 10, max: 5 };
    assert_eq!(l.set(resource::CPU, bad, true), Err(LinuxError::EINVAL));
    // RLIMIT_NOFILE stops at nr_open even for root.
    let many = Rlimit {
        cur: 1024,
        max: (1 << 20) + 1,
    };
    assert_eq!(l.set(resource::NOFILE, many, true), Err(LinuxError::EPERM));
    assert_eq!(l.set(99, small, true), Err(LinuxError::EINVAL));
}

#[test]
fn encode_decode() {
    let r = Rlimit {
        cur: 7,
        max: INFINITY,
    };
    let b = r.encode();
    assert_eq!(&b[..8], &7u64.to_le_bytes());
    assert_eq!(&b[8..], &[0xff; 8]);
    assert_eq!(Rlimit::decode(&b), r);
}
