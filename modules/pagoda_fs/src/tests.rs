use proptest::prelude::*;

use crate::cpio::{Archive, CpioError, Entry, EntryKind};

/// Proptest cases: `PROPTEST_CASES` when set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    mode: u32,
    data: Vec<u8>,
}

fn member(out: &mut Vec<u8>, magic: &[u8], m: &Member, ino: u32) {
    let check = m
        .data
        .iter()
        .fold(0u32, |s, b| s.wrapping_add(u32::from(*b)));
    let fields = [
        ino,
        m.mode,
        1000,
        100,
        1,
        1_700_000_000,
        m.data.len() as u32,
        8,
        1,
        1,
        3,
        m.name.len() as u32 + 1,
        check,
    ];
    out.extend(magic);
    for f in fields {
        out.extend(format!("{f:08x}").bytes());
    }
    out.extend(m.name.bytes());
    out.push(0);
    pad(out);
    out.extend(&m.data);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn archive(magic: &[u8], members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        member(&mut out, magic, m, i as u32 + 1);
    }
    member(
        &mut out,
        magic,
        &Member {
            name: "TRAILER!!!".into(),
            mode: 0,
            data: vec![],
        },
        0,
    );
    out
}

fn file(name: &str, data: &[u8]) -> Member {
    Member {
        name: name.into(),
        mode: 0o100_644,
        data: data.to_vec(),
    }
}

#[test]
fn reads_every_field_and_kind() {
    let members = [
        Member {
            name: "bin".into(),
            mode: 0o040_755,
            data: vec![],
        },
        file("bin/init", b"\x7fELF..."),
        Member {
            name: "sh".into(),
            mode: 0o120_777,
            data: b"bin/init".to_vec(),
        },
        Member {
            name: "dev/console".into(),
            mode: 0o020_600,
            data: vec![],
        },
    ];
    let bytes = archive(b"070701", &members);
    let got: Vec<Entry> = Archive::new(&bytes).collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].kind(), Ok(EntryKind::Directory));
    assert_eq!(got[0].permissions(), 0o755);
    assert_eq!((got[1].name, got[1].data), ("bin/init", &b"\x7fELF..."[..]));
    assert_eq!(
        (got[1].uid, got[1].gid, got[1].nlink, got[1].ino),
        (1000, 100, 1, 2)
    );
    assert_eq!(got[1].mtime, 1_700_000_000);
    assert_eq!(got[2].kind(), Ok(EntryKind::Symlink));
    assert_eq!(got[3].kind(), Ok(EntryKind::CharDevice));
    assert_eq!(got[3].rdev, (1, 3));
    let weird = Entry {
        mode: 0o170_000,
        ..got[0]
    };
    assert_eq!(weird.kind(), Err(0o170_000));
}

#[test]
fn checksummed_archives_are_verified() {
    let mut bytes = archive(b"070702", &[file("a", b"abc")]);
    assert!(Archive::new(&bytes).all(|e| e.is_ok()));
    let at = bytes.windows(3).position(|w| w == b"abc").unwrap();
    bytes[at] = b'x';
    assert_eq!(
        Archive::new(&bytes).next(),
        Some(Err(CpioError::Checksum { offset: 0 }))
    );
}

#[test]
fn concatenated_archives_with_padding_are_one_tree() {
    let mut bytes = archive(b"070701", &[file("a", b"1")]);
    bytes.extend([0u8; 512]);
    bytes.extend(archive(b"070701", &[file("b", b"22")]));
    let names: Vec<&str> = Archive::new(&bytes).map(|e| e.unwrap().name).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn malformed_input_is_an_error() {
    assert_eq!(Archive::new(b"").next(), Some(Err(CpioError::NoTrailer)));
    assert_eq!(
        Archive::new(&[0x1f, 0x8b, 8, 0]).next(),
        Some(Err(CpioError::Compressed { offset: 0 }))
    );
    assert_eq!(
        Archive::new(&[b'0'; 200]).next(),
        Some(Err(CpioError::BadMagic { offset: 0 }))
    );
    let good = archive(b"070701", &[file("a", b"data")]);
    let mut bad_hex = good.clone();
    bad_hex[7] = b'g';
    assert_eq!(
        Archive::new(&bad_hex).next(),
        Some(Err(CpioError::BadField { offset: 0 }))
    );
    let no_trailer = &good[..good.len() - 124];
    let got: Vec<_> = Archive::new(no_trailer).collect();
    assert_eq!(got.last(), Some(&Err(CpioError::NoTrailer)));
    let empty_name = archive(b"070701", &[file("", b"")]);
    assert_eq!(
        Archive::new(&empty_name).next(),
        Some(Err(CpioError::BadName { offset: 0 }))
    );
    let mut huge = good.clone();
    huge[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"ffffffff");
    assert_eq!(
        Archive::new(&huge).next(),
        Some(Err(CpioError::Truncated { offset: 0 }))
    );
    let mut iter = Archive::new(&bad_hex);
    iter.next();
    assert_eq!(iter.next(), None, "nothing after an error");
}

fn members() -> impl Strategy<Value = Vec<Member>> {
    let m = (
        "[a-z]{1,12}(/[a-z0-9._-]{1,12}){0,3}",
        0u32..0o10000,
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(name, perm, data)| Member {
            name,
            mode: 0o100_000 | perm,
            data,
        });
    proptest::collection::vec(m, 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn round_trip(ms in members(), crc in any::<bool>()) {
        let bytes = archive(if crc { b"070702" } else { b"070701" }, &ms);
        let got: Vec<Entry> = Archive::new(&bytes).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), ms.len());
        for (g, m) in got.iter().zip(&ms) {
            prop_assert_eq!(g.name, m.name.as_str());
            prop_assert_eq!(g.data, &m.data[..]);
            prop_assert_eq!(g.mode, m.mode);
        }
    }

    #[test]
    fn truncation_and_mutation_never_panic(ms in members(), cut in any::<prop::sample::Index>(),
                                           flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
        let bytes = archive(b"070701", &ms);
        let cut = cut.index(bytes.len() + 1);
        let short = &bytes[..cut];
        let results: Vec<_> = Archive::new(short).collect();
        if cut < bytes.len() && !ms.is_empty() {
            prop_assert!(results.iter().any(|r| r.is_err()) || cut >= bytes.len() - 3);
        }
        let mut mutated = bytes.clone();
        for (i, b) in flips {
            let i = i.index(mutated.len());
            mutated[i] = b;
        }
        for entry in Archive::new(&mutated).flatten() {
            prop_assert!(entry.data.len() <= mutated.len());
        }
    }
}
