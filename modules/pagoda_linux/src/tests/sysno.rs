use std::collections::BTreeMap;

use crate::Sysno;

/// `#define __NR_<name> <value>` lines of a header, values resolved through other defines.
fn header_numbers(path: &str) -> Option<BTreeMap<String, usize>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut raw = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(value)) =
            (words.next(), words.next(), words.next())
            && name.starts_with("__NR")
        {
            raw.insert(name.to_string(), value.to_string());
        }
    }
    let resolve = |name: &str| {
        let mut value = raw.get(name)?;
        for _ in 0..4 {
            match value.parse::<usize>() {
                Ok(n) => return Some(n),
                Err(_) => value = raw.get(value.as_str())?,
            }
        }
        None
    };
    Some(
        raw.keys()
            .filter_map(|k| Some((k.strip_prefix("__NR_")?.to_string(), resolve(k)?)))
            .collect(),
    )
}

fn compare(path: &str, ours: fn(Sysno) -> Option<usize>) {
    let Some(theirs) = header_numbers(path) else {
        eprintln!("{path} not found: skipping the header comparison");
        return;
    };
    let mut checked = 0;
    for &call in Sysno::ALL {
        match (ours(call), theirs.get(call.name())) {
            (Some(a), Some(b)) => {
                assert_eq!(a, *b, "{} in {path}", call.name());
                checked += 1;
            }
            (None, Some(b)) => panic!("{} is {b} in {path} but missing here", call.name()),
            // Newer than the header (mseal) or absent on this arch.
            (_, None) => {}
        }
    }
    assert!(checked > 200, "only {checked} calls compared");
}

#[test]
fn x86_64_numbers_match_the_uapi_header() {
    compare(
        "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
        Sysno::x86_64,
    );
}

#[test]
fn generic_numbers_match_the_uapi_header() {
    compare("/usr/include/asm-generic/unistd.h", Sysno::generic);
}

#[test]
fn reverse_lookup_is_the_inverse_and_unknown_numbers_are_none() {
    for &call in Sysno::ALL {
        if let Some(n) = call.x86_64() {
            assert_eq!(Sysno::from_x86_64(n), Some(call));
        }
        if let Some(n) = call.generic() {
            assert_eq!(Sysno::from_generic(n), Some(call));
        }
        assert!(call.x86_64().is_some() || call.generic().is_some());
    }
    for n in [usize::MAX, 512, 100_000] {
        assert_eq!(Sysno::from_x86_64(n), None);
        assert_eq!(Sysno::from_generic(n), None);
    }
}
