//! Packing: reproducible bytes, what goes in and what is refused, round trips through
//! read_package and unpack, and the unpack target rules.

mod common;

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;
use sentinel_package::{
    Digest, PackageError, PackageKind, UnpackOptions, default_file_name, load_dir, pack,
    pack_to_file, read_package, read_package_file, unpack, verify_package,
};

const AGENT: &str =
    "name: demo\nversion: 1.0.0\ndescription: A demo agent.\nlicense: MIT\ntags: [demo]\n";

/// A small tree with nested directories, an executable, a dotfile, and names whose byte
/// order differs from a directory walk's ("a-b" < "a/b" < "a0").
fn sample_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("agent.yaml", AGENT.as_bytes()),
        ("README.md", b"# demo\n"),
        ("a-b", b"dash"),
        ("a/b", b"slash"),
        ("a0", b"zero"),
        ("src/main.py", b"print('hello')\n"),
        ("src/lib/util.py", b"def f():\n    return 1\n"),
        ("bin/run.sh", b"#!/bin/sh\nexec python -m src.main\n"),
        (".env.example", b"KEY=value\n"),
        ("empty.txt", b""),
    ]
}

fn sample_tree(root: &Path) {
    write_tree(root, &sample_files());
    #[cfg(unix)]
    set_mode(&root.join("bin/run.sh"), 0o755);
}

fn pack_bytes(dir: &Path) -> (Vec<u8>, sentinel_package::PackSummary) {
    let mut out = Vec::new();
    let summary = pack(dir, &mut out).unwrap();
    (out, summary)
}

/// The decompressed tar stream of a package.
fn tar_stream(package: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&package[18..])
        .read_to_end(&mut tar)
        .unwrap();
    tar
}

/// The entry paths of a package, in archive order.
fn entry_paths(package: &[u8]) -> Vec<String> {
    let tar = tar_stream(package);
    let mut archive = tar::Archive::new(&tar[..]);
    archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().path().unwrap().to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn packing_twice_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (first, first_summary) = pack_bytes(dir.path());
    let (second, second_summary) = pack_bytes(dir.path());
    assert_eq!(first, second);
    assert_eq!(first_summary.digest, second_summary.digest);
    assert_eq!(first_summary.digest, Digest::sha256(&first));
    assert_eq!(first_summary.size, first.len() as u64);
    assert_eq!(first_summary.files, sample_files().len());
}

#[test]
fn a_copy_with_other_mtimes_modes_and_creation_order_packs_identically() {
    let original = tempfile::tempdir().unwrap();
    sample_tree(original.path());
    let copy = tempfile::tempdir().unwrap();
    let mut files = sample_files();
    files.reverse();
    for (path, content) in &files {
        write_tree(copy.path(), &[(path, content)]);
        let file = File::options()
            .write(true)
            .open(copy.path().join(path))
            .unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890))
            .unwrap();
    }
    #[cfg(unix)]
    {
        set_mode(&copy.path().join("bin/run.sh"), 0o700);
        set_mode(&copy.path().join("README.md"), 0o600);
        set_mode(&copy.path().join("src/main.py"), 0o664);
        set_mode(&copy.path().join("src"), 0o700);
    }
    let (a, a_summary) = pack_bytes(original.path());
    let (b, b_summary) = pack_bytes(copy.path());
    assert_eq!(a_summary.digest, b_summary.digest);
    assert_eq!(a, b);
}

#[test]
fn the_exec_bit_changes_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (before, _) = pack_bytes(dir.path());
    #[cfg(unix)]
    set_mode(&dir.path().join("README.md"), 0o744);
    let (after, _) = pack_bytes(dir.path());
    if cfg!(unix) {
        assert_ne!(before, after);
    }
}

#[test]
fn the_layout_is_as_specified() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());
    assert_eq!(&package[..14], b"SNTL-AGENT-PKG");
    assert_eq!(&package[14..18], &[0, 0, 0, 1]);
    assert_eq!(&package[18..28], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    assert_eq!(
        entry_paths(&package),
        [
            "sentinel.manifest.json",
            "agent.yaml",
            ".env.example",
            "README.md",
            "a-b",
            "a/b",
            "a0",
            "bin/run.sh",
            "empty.txt",
            "src/lib/util.py",
            "src/main.py",
        ]
    );
    let tar = tar_stream(&package);
    assert!(tar.ends_with(&[0u8; 1024]));
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert!(header.as_ustar().is_some());
        assert_eq!(header.mtime().unwrap(), 0);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        let expected_mode = if entry.path().unwrap() == Path::new("bin/run.sh") && cfg!(unix) {
            0o755
        } else {
            0o644
        };
        assert_eq!(header.mode().unwrap(), expected_mode, "{:?}", entry.path());
    }
}

#[test]
fn the_manifest_json_is_compact_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[("agent.yaml", AGENT.as_bytes()), ("x.txt", b"x")],
    );
    let (package, _) = pack_bytes(dir.path());
    let tar = tar_stream(&package);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    let mut json = String::new();
    first.read_to_string(&mut json).unwrap();
    let yaml_hash = Digest::sha256(AGENT.as_bytes()).hex().to_owned();
    let x_hash = Digest::sha256(b"x").hex().to_owned();
    assert_eq!(
        json,
        format!(
            r#"{{"formatVersion":1,"kind":"agent","name":"demo","version":"1.0.0","description":"A demo agent.","license":"MIT","tags":["demo"],"definition":"agent.yaml","files":[{{"path":"agent.yaml","size":{},"sha256":"{yaml_hash}"}},{{"path":"x.txt","size":1,"sha256":"{x_hash}"}}]}}"#,
            AGENT.len()
        )
    );
}

/// A golden value: the sha256 of the uncompressed tar stream of a fixed tree. It changes
/// only when the archive layout changes, which breaks reproducibility across versions and
/// must come with a new format version.
#[test]
fn the_tar_stream_of_a_fixed_tree_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("agent.yaml", b"name: golden\nversion: 1.0.0\n"),
            ("data/hello.txt", b"hello\n"),
        ],
    );
    let (package, _) = pack_bytes(dir.path());
    assert_eq!(
        Digest::sha256(&tar_stream(&package)).hex(),
        "46b4a14908453ad8e22010942ab02a102127deb879990fad11616d120776deb3"
    );
}

#[test]
fn pack_unpack_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let long = format!("{}/{}", "d".repeat(150), "f".repeat(120));
    let split = format!("{}/{}", "p".repeat(120), "n".repeat(90));
    write_tree(
        dir.path(),
        &[(&long, b"long name"), (&split, b"split name")],
    );
    let (package, summary) = pack_bytes(dir.path());

    let (_parent, target) = unpack_target();
    let unpacked = unpack(&package[..], &target, &UnpackOptions::default()).unwrap();
    assert_eq!(unpacked.kind, PackageKind::Agent);
    assert_eq!(unpacked.files, summary.files);
    assert_eq!(unpacked.definition, summary.definition);
    assert_eq!(read_tree(&target), read_tree(dir.path()));
    let total: u64 = read_tree(dir.path())
        .iter()
        .map(|(_, c, _)| c.len() as u64)
        .sum();
    assert_eq!(unpacked.bytes, total);

    let (repacked, _) = pack_bytes(&target);
    assert_eq!(
        repacked, package,
        "an unpacked package packs to the same bytes"
    );
}

#[test]
fn read_package_gives_definition_and_inventory() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, summary) = pack_bytes(dir.path());
    let contents = read_package(&package[..]).unwrap();
    assert_eq!(contents.kind, PackageKind::Agent);
    assert_eq!(contents.format_version, 1);
    assert_eq!(contents.definition, summary.definition);
    assert_eq!(contents.definition_bytes, AGENT.as_bytes());
    assert_eq!(contents.manifest.name, "demo");
    assert_eq!(contents.manifest.tags, ["demo"]);
    let paths: Vec<&str> = contents
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let mut expected: Vec<&str> = sample_files().iter().map(|(p, _)| *p).collect();
    expected.sort();
    assert_eq!(paths, expected);
    let readme = contents.manifest.file("README.md").unwrap();
    assert_eq!(readme.size, 7);
    assert_eq!(readme.sha256, Digest::sha256(b"# demo\n").hex());
}

#[test]
fn read_package_stops_after_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());
    // Damage the end of the stream: read_package never gets there.
    let mut damaged = package.clone();
    let len = damaged.len();
    damaged.truncate(len - 40);
    assert!(read_package(&damaged[..]).is_ok());
    let (_parent, target) = unpack_target();
    assert!(unpack(&damaged[..], &target, &UnpackOptions::default()).is_err());
}

#[test]
fn read_package_file_reads_one_verified_file_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());
    let mut damaged = package.clone();
    let len = damaged.len();
    damaged.truncate(len - 40);
    let (contents, readme) = read_package_file(&damaged[..], "README.md", 1024).unwrap();
    assert_eq!(contents.manifest.name, "demo");
    assert_eq!(readme.as_deref(), Some(&b"# demo\n"[..]));
    let (_, capped) = read_package_file(&package[..], "README.md", 3).unwrap();
    assert_eq!(capped.as_deref(), Some(&b"# d"[..]));
    let (_, absent) = read_package_file(&damaged[..], "NOTES.md", 1024).unwrap();
    assert_eq!(absent, None);
    let (_, later) = read_package_file(&package[..], "src/main.py", 1024).unwrap();
    assert_eq!(later.as_deref(), Some(&b"print('hello')\n"[..]));
}

#[test]
fn verify_package_reads_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());
    assert_eq!(verify_package(&package[..]).unwrap().manifest.name, "demo");
    let mut damaged = package.clone();
    let len = damaged.len();
    damaged.truncate(len - 40);
    assert!(verify_package(&damaged[..]).is_err());
    let mut extra = package.clone();
    extra.extend_from_slice(b"trailing");
    assert!(verify_package(&extra[..]).is_err());
}

#[test]
fn read_package_file_checks_the_file_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());
    let mut tar = tar_stream(&package);
    let at = tar.windows(7).position(|w| w == b"# demo\n").unwrap();
    tar[at + 2] = b'D';
    let mut damaged = package[..18].to_vec();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &tar).unwrap();
    damaged.extend(encoder.finish().unwrap());
    let error = read_package_file(&damaged[..], "README.md", 1024).unwrap_err();
    assert!(error.to_string().contains("README.md"), "{error}");
}

#[test]
fn stacks_pack_with_their_own_magic() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[(
            "stack.yaml",
            b"name: team\nversion: 0.1.0\nagents:\n  - name: a\n    ref: team/a:1.0.0\n",
        )],
    );
    let (package, summary) = pack_bytes(dir.path());
    assert_eq!(&package[..14], b"SNTL-STACK-PKG");
    assert_eq!(summary.kind, PackageKind::Stack);
    assert_eq!(
        default_file_name(&summary.definition),
        "team-0.1.0.stack.sntl"
    );
    let contents = read_package(&package[..]).unwrap();
    assert_eq!(contents.manifest.definition, "stack.yaml");
}

#[test]
fn git_and_ignored_files_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    write_tree(
        dir.path(),
        &[
            (".git/HEAD", b"ref: refs/heads/main\n"),
            ("sub/.git", b"gitdir: ../.git/modules/sub\n"),
            (
                ".sntlignore",
                b"# build output\n*.pyc\n/build/\n!keep.pyc\nagent.yaml\n",
            ),
            ("src/cache.pyc", b"x"),
            ("keep.pyc", b"kept"),
            ("build/out.bin", b"x"),
            ("src/build/kept.txt", b"nested build is not anchored"),
        ],
    );
    let (package, _) = pack_bytes(dir.path());
    let paths = entry_paths(&package);
    for absent in [".git/HEAD", "sub/.git", "src/cache.pyc", "build/out.bin"] {
        assert!(!paths.iter().any(|p| p == absent), "{absent} was packed");
    }
    for present in [
        ".sntlignore",
        "keep.pyc",
        "src/build/kept.txt",
        "agent.yaml",
    ] {
        assert!(paths.iter().any(|p| p == present), "{present} is missing");
    }
}

#[test]
fn a_bad_ignore_pattern_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("agent.yaml", AGENT.as_bytes()),
            (".sntlignore", b"ok\n[oops\n"),
        ],
    );
    let error = pack(dir.path(), Vec::new()).unwrap_err();
    assert!(
        matches!(error, PackageError::IgnorePattern { line: 2, .. }),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("src/passwd")).unwrap();
    let error = pack(dir.path(), Vec::new()).unwrap_err();
    assert!(
        matches!(&error, PackageError::Symlink { path } if path.ends_with("src/passwd")),
        "{error}"
    );
    fs::write(dir.path().join(".sntlignore"), "passwd\n").unwrap();
    assert!(pack(dir.path(), Vec::new()).is_ok());

    let linked = tempfile::tempdir().unwrap();
    write_tree(linked.path(), &[("real.yaml", AGENT.as_bytes())]);
    std::os::unix::fs::symlink("real.yaml", linked.path().join("agent.yaml")).unwrap();
    let error = pack(linked.path(), Vec::new()).unwrap_err();
    assert!(matches!(error, PackageError::Symlink { .. }), "{error}");
}

#[cfg(unix)]
#[test]
fn sockets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("agent.sock")).unwrap();
    let error = pack(dir.path(), Vec::new()).unwrap_err();
    assert!(
        matches!(error, PackageError::SpecialFile { kind: "socket", .. }),
        "{error}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn non_utf8_names_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    fs::write(
        dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff.txt")),
        b"x",
    )
    .unwrap();
    let error = pack(dir.path(), Vec::new()).unwrap_err();
    assert!(matches!(error, PackageError::NonUtf8Name { .. }), "{error}");
}

#[test]
fn names_the_format_cannot_carry_are_refused() {
    for name in ["back\\slash", "colon:name", "sentinel.manifest.json"] {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[("agent.yaml", AGENT.as_bytes()), (name, b"x")],
        );
        let error = pack(dir.path(), Vec::new()).unwrap_err();
        assert!(
            matches!(error, PackageError::UnsupportedName { .. }),
            "{name}: {error}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("agent.yaml", AGENT.as_bytes()),
            ("sub/sentinel.manifest.json", b"{}"),
        ],
    );
    assert!(
        pack(dir.path(), Vec::new()).is_ok(),
        "only the root name is reserved"
    );
}

#[test]
fn the_definition_file_decides_the_kind() {
    let empty = tempfile::tempdir().unwrap();
    let error = load_dir(empty.path()).unwrap_err();
    assert!(
        matches!(error, PackageError::NoDefinition { .. }),
        "{error}"
    );

    let both = tempfile::tempdir().unwrap();
    write_tree(
        both.path(),
        &[
            ("agent.yaml", AGENT.as_bytes()),
            ("stack.yaml", b"name: s\nversion: 1.0.0\n"),
        ],
    );
    let error = load_dir(both.path()).unwrap_err();
    assert!(
        matches!(error, PackageError::AmbiguousDefinition { .. }),
        "{error}"
    );

    let missing = empty.path().join("nope");
    let error = load_dir(&missing).unwrap_err();
    assert!(matches!(error, PackageError::Io { .. }), "{error}");

    let invalid = tempfile::tempdir().unwrap();
    write_tree(
        invalid.path(),
        &[("agent.yaml", b"name: demo\nversion: 1.2\n")],
    );
    let error = load_dir(invalid.path()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("agent.yaml: field \"version\""), "{text}");

    let huge = tempfile::tempdir().unwrap();
    let mut yaml = AGENT.as_bytes().to_vec();
    yaml.extend(std::iter::repeat_n(b'#', 1024 * 1024));
    write_tree(huge.path(), &[("agent.yaml", &yaml)]);
    let error = load_dir(huge.path()).unwrap_err();
    assert!(
        matches!(error, PackageError::DefinitionTooLarge { .. }),
        "{error}"
    );
}

#[test]
fn pack_to_file_inside_the_directory_skips_itself() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (expected, expected_summary) = pack_bytes(dir.path());
    let out = dir
        .path()
        .join(default_file_name(&expected_summary.definition));
    assert!(out.ends_with("demo-1.0.0.agent.sntl"));
    let summary = pack_to_file(dir.path(), &out).unwrap();
    assert_eq!(summary.digest, expected_summary.digest);
    assert_eq!(fs::read(&out).unwrap(), expected);
    let again = pack_to_file(dir.path(), &out).unwrap();
    assert_eq!(
        again.digest, expected_summary.digest,
        "the previous output is not packed"
    );
    let leftovers: Vec<String> = names_in(dir.path())
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}

#[test]
fn a_failed_pack_to_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[("agent.yaml", AGENT.as_bytes()), ("bad:name", b"x")],
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("demo.agent.sntl");
    assert!(pack_to_file(dir.path(), &out).is_err());
    assert_eq!(names_in(out_dir.path()), Vec::<String>::new());
}

#[test]
fn unpack_target_rules() {
    let dir = tempfile::tempdir().unwrap();
    sample_tree(dir.path());
    let (package, _) = pack_bytes(dir.path());

    let parent = tempfile::tempdir().unwrap();
    let occupied = parent.path().join("occupied");
    write_tree(&occupied, &[("keep.txt", b"mine")]);
    let error = unpack(&package[..], &occupied, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(error, PackageError::TargetNotEmpty { .. }),
        "{error}"
    );
    assert_eq!(names_in(&occupied), ["keep.txt"]);

    let a_file = parent.path().join("file");
    fs::write(&a_file, b"x").unwrap();
    let error = unpack(&package[..], &a_file, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(error, PackageError::TargetNotDirectory { .. }),
        "{error}"
    );

    let empty = parent.path().join("empty");
    fs::create_dir(&empty).unwrap();
    unpack(&package[..], &empty, &UnpackOptions::default()).unwrap();
    assert_eq!(read_tree(&empty), read_tree(dir.path()));
    assert_eq!(
        names_in(parent.path()),
        ["empty", "file", "occupied"],
        "no temporary directory is left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&empty.join("bin/run.sh")) & 0o111, 0o111);
        assert_eq!(mode(&empty.join("README.md")) & 0o111, 0);
        assert_eq!(
            mode(&empty.join("README.md")) & 0o7000,
            0,
            "no setuid, setgid or sticky bits"
        );
    }
}
