//! Hand-made hostile packages: each must be refused with the expected error, leaving neither
//! the target nor a temporary directory behind.

mod common;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::*;
use flate2::{Compress, Compression, Crc, FlushCompress};
use sentinel_package::{PackageError, UnpackLimits, UnpackOptions, unpack};

/// Unpacks `bytes` into a fresh target with `options`, asserts that nothing is left in the
/// target's parent, and returns the error.
fn refuse_with(bytes: &[u8], options: &UnpackOptions) -> PackageError {
    let (parent, target) = unpack_target();
    let error = unpack(bytes, &target, options).expect_err("the package must be refused");
    assert!(!target.exists(), "the target must not exist after {error}");
    assert_eq!(
        names_in(parent.path()),
        Vec::<String>::new(),
        "leftovers after {error}"
    );
    error
}

fn refuse(bytes: &[u8]) -> PackageError {
    refuse_with(bytes, &UnpackOptions::default())
}

fn with_extra(extra: Vec<Raw>) -> Vec<u8> {
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"hello"));
    entries.extend(extra);
    agent_package(entries)
}

#[test]
fn a_well_formed_hand_made_package_unpacks() {
    let (_parent, target) = unpack_target();
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"hello"));
    let summary = unpack(
        &agent_package(entries)[..],
        &target,
        &UnpackOptions::default(),
    )
    .unwrap();
    assert_eq!(summary.files, 2);
    assert_eq!(fs::read(target.join("data.txt")).unwrap(), b"hello");
}

#[test]
fn refuses_parent_directory_escapes() {
    for path in ["../escape", "a/../../b", "a/.."] {
        let error = refuse(&with_extra(vec![file(path, b"x")]));
        assert!(
            matches!(error, PackageError::UnsafePath { .. }),
            "{path}: {error}"
        );
    }
}

#[test]
fn refuses_absolute_and_odd_paths() {
    for path in ["/abs", "/etc/passwd", "a\\b", "./a", "a//b", "C:/x"] {
        let error = refuse(&with_extra(vec![file(path, b"x")]));
        assert!(
            matches!(error, PackageError::UnsafePath { .. }),
            "{path}: {error}"
        );
    }
}

#[test]
fn refuses_escapes_hidden_in_the_ustar_prefix() {
    let mut header = raw_header(b"name", 1, b'0', 0o644);
    header.as_ustar_mut().unwrap().prefix[..3].copy_from_slice(b"../");
    header.set_cksum();
    let error = refuse(&with_extra(vec![Raw::Header {
        header: Box::new(header),
        data: b"x".to_vec(),
    }]));
    assert!(matches!(error, PackageError::UnsafePath { .. }), "{error}");
}

#[test]
fn refuses_symlinks() {
    let error = refuse(&with_extra(vec![other("link", b'2', "/etc/passwd")]));
    assert!(
        matches!(&error, PackageError::LinkEntry { kind: "symbolic link", path } if path == "link"),
        "{error}"
    );
}

#[test]
fn refuses_a_symlink_followed_by_a_file_through_it() {
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().to_str().unwrap().to_owned();
    let error = refuse(&with_extra(vec![
        other("dir", b'2', &outside_path),
        file("dir/planted", b"gotcha"),
    ]));
    assert!(matches!(error, PackageError::LinkEntry { .. }), "{error}");
    assert_eq!(names_in(outside.path()), Vec::<String>::new());
}

#[test]
fn refuses_hard_links() {
    let error = refuse(&with_extra(vec![other("hard", b'1', "data.txt")]));
    assert!(
        matches!(
            error,
            PackageError::LinkEntry {
                kind: "hard link",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refuses_devices_and_fifos() {
    for (typeflag, kind) in [
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "FIFO"),
    ] {
        let error = refuse(&with_extra(vec![other("dev", typeflag, "")]));
        assert!(
            matches!(&error, PackageError::SpecialEntry { kind: found, .. } if *found == kind),
            "{error}"
        );
    }
}

#[test]
fn refuses_directories_and_pax_headers() {
    for typeflag in [b'5', b'x', b'g', b'S'] {
        let error = refuse(&with_extra(vec![other("thing", typeflag, "")]));
        assert!(
            matches!(error, PackageError::UnexpectedEntry { .. }),
            "{error}"
        );
    }
}

#[test]
fn refuses_duplicate_entries() {
    let error = refuse(&with_extra(vec![file("data.txt", b"hello")]));
    assert!(
        matches!(&error, PackageError::DuplicateEntry { path } if path == "data.txt"),
        "{error}"
    );

    let error = refuse(&with_extra(vec![file("sentinel.manifest.json", b"{}")]));
    assert!(
        matches!(error, PackageError::DuplicateEntry { .. }),
        "{error}"
    );
}

#[test]
fn refuses_duplicates_in_the_inventory() {
    let inventory = vec![
        listed("agent.yaml", AGENT_YAML.as_bytes()),
        listed("data.txt", b"hello"),
        listed("data.txt", b"hello"),
    ];
    let error = refuse(&agent_package(vec![
        file("sentinel.manifest.json", &manifest(inventory)),
        file("agent.yaml", AGENT_YAML.as_bytes()),
    ]));
    assert!(
        matches!(error, PackageError::DuplicateEntry { .. }),
        "{error}"
    );
}

#[test]
fn refuses_entries_not_in_the_inventory() {
    let error = refuse(&with_extra(vec![file("stowaway.sh", b"rm -rf /")]));
    assert!(
        matches!(&error, PackageError::NotInInventory { path } if path == "stowaway.sh"),
        "{error}"
    );
}

#[test]
fn refuses_a_hash_mismatch() {
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"HELLO"));
    let error = refuse(&agent_package(entries));
    assert!(
        matches!(&error, PackageError::DigestMismatch { path, .. } if path == "data.txt"),
        "{error}"
    );
}

#[test]
fn refuses_a_size_mismatch() {
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"hello, world"));
    let error = refuse(&agent_package(entries));
    assert!(
        matches!(
            error,
            PackageError::SizeMismatch {
                expected: 5,
                actual: 12,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refuses_an_inventory_file_missing_from_the_archive() {
    let entries = head(&[("data.txt", b"hello")]);
    let error = refuse(&agent_package(entries));
    assert!(
        matches!(&error, PackageError::MissingFromArchive { path } if path == "data.txt"),
        "{error}"
    );
}

#[test]
fn refuses_a_package_without_its_manifest_first() {
    let error = refuse(&agent_package(vec![
        file("agent.yaml", AGENT_YAML.as_bytes()),
        file(
            "sentinel.manifest.json",
            &manifest(vec![listed("agent.yaml", AGENT_YAML.as_bytes())]),
        ),
    ]));
    assert!(
        matches!(&error, PackageError::PackageManifestNotFirst { found } if found == "agent.yaml"),
        "{error}"
    );

    let error = refuse(&agent_package(vec![]));
    assert!(
        matches!(error, PackageError::PackageManifestMissing),
        "{error}"
    );
}

#[test]
fn refuses_entries_out_of_order() {
    let files: [(&str, &[u8]); 2] = [("a.txt", b"a"), ("b.txt", b"b")];
    let mut entries = head(&files);
    entries.push(file("b.txt", b"b"));
    entries.push(file("a.txt", b"a"));
    let error = refuse(&agent_package(entries));
    assert!(
        matches!(&error, PackageError::OutOfOrder { path, expected } if path == "b.txt" && expected == "a.txt"),
        "{error}"
    );
}

#[test]
fn refuses_wrong_magic_and_unknown_versions() {
    let tar = tar_of(head(&[]));
    let error = refuse(&wrap(b"SNTL-OTHER-PKG", 1, &tar));
    assert!(matches!(error, PackageError::NotAPackage), "{error}");
    let error = refuse(b"SNTL");
    assert!(matches!(error, PackageError::NotAPackage), "{error}");

    let error = refuse(&wrap(b"SNTL-AGENT-PKG", 2, &tar));
    assert!(
        matches!(error, PackageError::UnsupportedFormatVersion { version: 2 }),
        "{error}"
    );
    assert!(error.to_string().contains("format version 2"));
}

#[test]
fn refuses_a_kind_that_contradicts_the_magic() {
    let error = refuse(&wrap(b"SNTL-STACK-PKG", 1, &tar_of(head(&[]))));
    assert!(
        matches!(error, PackageError::InvalidPackageManifest { .. }),
        "{error}"
    );
}

#[test]
fn refuses_a_definition_that_does_not_validate() {
    let bad = b"name: Demo\nversion: 1\n";
    let inventory = vec![listed("agent.yaml", bad)];
    let error = refuse(&agent_package(vec![
        file("sentinel.manifest.json", &manifest(inventory)),
        file("agent.yaml", bad),
    ]));
    let PackageError::Definition(error) = error else {
        panic!("expected a definition error, got {error}");
    };
    assert_eq!(error.problems().len(), 2, "{error}");
}

#[test]
fn refuses_a_manifest_that_disagrees_with_the_definition() {
    let other = b"name: other\nversion: 1.0.0\n";
    let inventory = vec![listed("agent.yaml", other)];
    let error = refuse(&agent_package(vec![
        file("sentinel.manifest.json", &manifest(inventory)),
        file("agent.yaml", other),
    ]));
    assert!(
        matches!(error, PackageError::InvalidPackageManifest { .. }),
        "{error}"
    );
}

#[test]
fn refuses_truncated_and_trailing_data() {
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"hello"));
    let mut tar = tar_of(entries);
    let complete = tar.clone();
    tar.truncate(tar.len() - 1024);
    let error = refuse(&wrap(b"SNTL-AGENT-PKG", 1, &tar));
    assert!(matches!(error, PackageError::Corrupt { .. }), "{error}");

    let mut junk = complete.clone();
    junk.extend_from_slice(b"junk after the end");
    let error = refuse(&wrap(b"SNTL-AGENT-PKG", 1, &junk));
    assert!(matches!(error, PackageError::TrailingData), "{error}");

    let mut second_member = wrap(b"SNTL-AGENT-PKG", 1, &complete);
    second_member.extend_from_slice(&wrap(b"", 0, b"more")[4..]);
    let error = refuse(&second_member);
    assert!(matches!(error, PackageError::TrailingData), "{error}");

    let mut cut = wrap(b"SNTL-AGENT-PKG", 1, &complete);
    cut.truncate(cut.len() - 10);
    let error = refuse(&cut);
    assert!(matches!(error, PackageError::Corrupt { .. }), "{error}");
}

#[test]
fn refuses_too_many_entries() {
    let names: Vec<String> = (0..11).map(|i| format!("f{i:02}")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let mut entries = head(&files);
    entries.extend(names.iter().map(|n| file(n, b"x")));
    let options = UnpackOptions {
        limits: UnpackLimits {
            max_entries: 10,
            ..UnpackLimits::default()
        },
        cancel: None,
    };
    let error = refuse_with(&agent_package(entries), &options);
    assert!(
        matches!(error, PackageError::EntryLimit { limit: 10 }),
        "{error}"
    );
}

#[test]
fn refuses_files_over_the_size_limits() {
    let big = vec![7u8; 4096];
    let mut entries = head(&[("big.bin", &big)]);
    entries.push(file("big.bin", &big));
    let package = agent_package(entries);
    let per_file = UnpackOptions {
        limits: UnpackLimits {
            max_file_bytes: 1000,
            ..UnpackLimits::default()
        },
        cancel: None,
    };
    let error = refuse_with(&package, &per_file);
    assert!(
        matches!(error, PackageError::FileSizeLimit { limit: 1000, .. }),
        "{error}"
    );
    let total = UnpackOptions {
        limits: UnpackLimits {
            max_total_bytes: 4000,
            ..UnpackLimits::default()
        },
        cancel: None,
    };
    let error = refuse_with(&package, &total);
    assert!(
        matches!(error, PackageError::TotalSizeLimit { limit: 4000 }),
        "{error}"
    );
}

#[test]
fn a_raised_cancel_flag_stops_the_unpack() {
    let mut entries = head(&[("data.txt", b"hello")]);
    entries.push(file("data.txt", b"hello"));
    let options = UnpackOptions {
        limits: UnpackLimits::default(),
        cancel: Some(Arc::new(AtomicBool::new(true))),
    };
    let error = refuse_with(&agent_package(entries), &options);
    assert!(matches!(error, PackageError::Cancelled), "{error}");
}

/// Raw deflate of `input`, flushed with `flush`.
fn deflate(compress: &mut Compress, mut input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(64 * 1024);
        }
        let before = compress.total_in();
        compress.compress_vec(input, &mut out, flush).unwrap();
        input = &input[(compress.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            return out;
        }
    }
}

/// Writes a package whose last entry claims `zeros` bytes of zeros, compressing them lazily:
/// 1 MiB of zeros is compressed once after the window is full of zeros, and that block is
/// repeated, so a 10 GiB bomb takes a few MB on disk and no time to build.
fn write_zero_bomb(path: &Path, zeros: u64) {
    const CHUNK: usize = 1 << 20;
    let claimed = b"big.bin";
    let inventory = vec![
        listed("agent.yaml", AGENT_YAML.as_bytes()),
        serde_json::json!({"path": "big.bin", "size": zeros, "sha256": "0".repeat(64)}),
    ];
    let mut prefix = tar_of(vec![
        file("sentinel.manifest.json", &manifest(inventory)),
        file("agent.yaml", AGENT_YAML.as_bytes()),
    ]);
    prefix.truncate(prefix.len() - 1024);
    prefix.extend_from_slice(raw_header(claimed, zeros, b'0', 0o644).as_bytes());

    let mut out = BufWriter::new(File::create(path).unwrap());
    out.write_all(b"SNTL-AGENT-PKG\0\0\0\x01").unwrap();
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])
        .unwrap();
    let mut compress = Compress::new(Compression::best(), false);
    let mut crc = Crc::new();
    out.write_all(&deflate(&mut compress, &prefix, FlushCompress::Sync))
        .unwrap();
    crc.update(&prefix);
    let zero_chunk = vec![0u8; CHUNK];
    let mut chunk_crc = Crc::new();
    chunk_crc.update(&zero_chunk);
    out.write_all(&deflate(&mut compress, &zero_chunk, FlushCompress::Sync))
        .unwrap();
    crc.combine(&chunk_crc);
    let repeated = deflate(&mut compress, &zero_chunk, FlushCompress::Sync);
    for _ in 1..zeros / CHUNK as u64 {
        out.write_all(&repeated).unwrap();
        crc.combine(&chunk_crc);
    }
    out.write_all(&deflate(&mut compress, &[], FlushCompress::Finish))
        .unwrap();
    out.write_all(&crc.sum().to_le_bytes()).unwrap();
    out.write_all(&crc.amount().to_le_bytes()).unwrap();
    out.flush().unwrap();
}

#[test]
fn refuses_a_ten_gib_gzip_bomb_by_its_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.agent.sntl");
    write_zero_bomb(&bomb, 10 << 30);
    let compressed = fs::metadata(&bomb).unwrap().len();
    assert!(
        compressed < 64 << 20,
        "the bomb is {compressed} bytes on disk"
    );

    // Limits high enough that the inventory's claim passes: only the streaming ratio
    // check stands between the bomb and the disk.
    let options = UnpackOptions {
        limits: UnpackLimits {
            max_total_bytes: 16 << 30,
            max_file_bytes: 16 << 30,
            ..UnpackLimits::default()
        },
        cancel: None,
    };
    let error = refuse_with(&fs::read(&bomb).unwrap(), &options);
    assert!(
        matches!(error, PackageError::RatioLimit { limit: 200 }),
        "{error}"
    );

    // With the default limits the claim alone is refused before any data is read.
    let error = refuse(&fs::read(&bomb).unwrap());
    assert!(
        matches!(error, PackageError::FileSizeLimit { .. }),
        "{error}"
    );
}

#[test]
fn the_bomb_builder_makes_a_valid_gzip_stream() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("small.agent.sntl");
    write_zero_bomb(&bomb, 3 << 20);
    let bytes = fs::read(&bomb).unwrap();
    let mut decoder = flate2::read::GzDecoder::new(&bytes[18..]);
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut decoder, &mut tar).unwrap();
    assert_eq!(tar.len() % 512, 0);
    assert!(tar.len() as u64 > 3 << 20);
    assert!(tar[tar.len() - (3 << 20)..].iter().all(|&b| b == 0));
}

#[test]
fn without_the_ratio_limit_a_small_bomb_streams_through_to_its_hash_check() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("small.agent.sntl");
    write_zero_bomb(&bomb, 8 << 20);
    let bytes = fs::read(&bomb).unwrap();
    let guarded = refuse(&bytes);
    assert!(
        matches!(guarded, PackageError::RatioLimit { .. }),
        "{guarded}"
    );
    let unguarded = UnpackOptions {
        limits: UnpackLimits {
            max_ratio: u64::MAX,
            ..UnpackLimits::default()
        },
        cancel: None,
    };
    let error = refuse_with(&bytes, &unguarded);
    assert!(
        matches!(error, PackageError::DigestMismatch { .. }),
        "{error}"
    );
}

#[test]
fn refuses_non_utf8_paths() {
    let error = refuse(&with_extra(vec![Raw::File {
        path: b"bad\xff".to_vec(),
        data: b"x".to_vec(),
        mode: 0o644,
    }]));
    assert!(
        matches!(
            error,
            PackageError::UnsafePath {
                reason: "it is not valid UTF-8",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refuses_escapes_hidden_in_a_gnu_long_name() {
    let long_name = format!("{}/../../escape\0", "d".repeat(120));
    let mut long_header = tar::Header::new_gnu();
    long_header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    long_header.set_size(long_name.len() as u64);
    long_header.set_entry_type(tar::EntryType::GNULongName);
    long_header.set_cksum();
    let error = refuse(&with_extra(vec![
        Raw::Header {
            header: Box::new(long_header),
            data: long_name.into_bytes(),
        },
        file("innocent", b"x"),
    ]));
    assert!(
        matches!(&error, PackageError::UnsafePath { path, reason } if path.ends_with("../escape") && reason.contains("'..'")),
        "{error}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Damage anywhere in a valid package is refused cleanly (or, if harmless, unpacks to
    /// the same files); it never panics and never leaves anything behind.
    #[test]
    fn damaged_packages_are_refused_cleanly(position in 0usize..10_000, flip in 1u8..=255) {
        let mut entries = head(&[("data.txt", b"hello"), ("run.sh", b"#!/bin/sh\n")]);
        entries.push(file("data.txt", b"hello"));
        entries.push(file("run.sh", b"#!/bin/sh\n"));
        let mut package = agent_package(entries);
        let position = position % package.len();
        package[position] ^= flip;
        let (parent, target) = unpack_target();
        match unpack(&package[..], &target, &UnpackOptions::default()) {
            Ok(_) => {
                proptest::prop_assert_eq!(fs::read(target.join("data.txt")).unwrap(), b"hello");
                proptest::prop_assert_eq!(names_in(parent.path()), vec!["out".to_owned()]);
            }
            Err(_) => {
                proptest::prop_assert!(!target.exists());
                proptest::prop_assert!(names_in(parent.path()).is_empty());
            }
        }
    }
}
