//! Helpers shared by the integration tests: source trees on disk and hand-made archives.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sentinel_package::Digest;

pub const AGENT_YAML: &str = "name: demo\nversion: 1.0.0\ndescription: A demo agent.\n";

/// Writes `files` (path, content) under `root`, creating directories.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (path, content) in files {
        let location = root.join(path);
        fs::create_dir_all(location.parent().unwrap()).unwrap();
        fs::write(location, content).unwrap();
    }
}

/// Every regular file under `root` as (relative path, content, executable), sorted.
pub fn read_tree(root: &Path) -> Vec<(String, Vec<u8>, bool)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let file_type = entry.file_type().unwrap();
            if file_type.is_dir() {
                pending.push(entry.path());
            } else {
                let relative = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let metadata = entry.metadata().unwrap();
                files.push((
                    relative,
                    fs::read(entry.path()).unwrap(),
                    is_executable(&metadata),
                ));
            }
        }
    }
    files.sort();
    files
}

#[cfg(unix)]
pub fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh parent directory and a target path inside it that does not exist yet.
pub fn unpack_target() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    (parent, target)
}

/// One tar entry for a hand-made archive.
pub enum Raw {
    /// A regular file with the raw path bytes.
    File {
        path: Vec<u8>,
        data: Vec<u8>,
        mode: u32,
    },
    /// Any other entry type, with a link name.
    Other {
        path: Vec<u8>,
        typeflag: u8,
        link: Vec<u8>,
    },
    /// A ready header and its data.
    Header {
        header: Box<tar::Header>,
        data: Vec<u8>,
    },
}

pub fn file(path: &str, data: &[u8]) -> Raw {
    Raw::File {
        path: path.as_bytes().to_vec(),
        data: data.to_vec(),
        mode: 0o644,
    }
}

pub fn other(path: &str, typeflag: u8, link: &str) -> Raw {
    Raw::Other {
        path: path.as_bytes().to_vec(),
        typeflag,
        link: link.as_bytes().to_vec(),
    }
}

/// A ustar header with `path` written raw into the name field (the tar crate's `set_path`
/// refuses `..` and absolute paths, which these tests need).
pub fn raw_header(path: &[u8], size: u64, typeflag: u8, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..path.len()].copy_from_slice(path);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::new(typeflag));
    header.set_cksum();
    header
}

/// The tar stream of `entries`, ended by two zero blocks.
pub fn tar_of(entries: Vec<Raw>) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (header, data) = match entry {
            Raw::File { path, data, mode } => {
                (raw_header(&path, data.len() as u64, b'0', mode), data)
            }
            Raw::Other {
                path,
                typeflag,
                link,
            } => {
                let mut header = raw_header(&path, 0, typeflag, 0o644);
                header.as_old_mut().linkname[..link.len()].copy_from_slice(&link);
                header.set_cksum();
                (header, Vec::new())
            }
            Raw::Header { header, data } => (*header, data),
        };
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Magic, format version and gzip around a tar stream.
pub fn wrap(magic: &[u8], version: u32, tar: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    let mut gzip = GzEncoder::new(out, Compression::default());
    gzip.write_all(tar).unwrap();
    gzip.finish().unwrap()
}

/// An inventory entry for `data`.
pub fn listed(path: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "path": path,
        "size": data.len(),
        "sha256": Digest::sha256(data).hex(),
    })
}

/// A manifest for an agent named demo 1.0.0 with the inventory `files` (in the order given).
pub fn manifest(files: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "formatVersion": 1,
        "kind": "agent",
        "name": "demo",
        "version": "1.0.0",
        "definition": "agent.yaml",
        "files": files,
    }))
    .unwrap()
}

/// The usual first entries: the manifest for `files` (sorted here) and `agent.yaml`.
pub fn head(files: &[(&str, &[u8])]) -> Vec<Raw> {
    let mut all: Vec<(&str, &[u8])> = vec![("agent.yaml", AGENT_YAML.as_bytes())];
    all.extend_from_slice(files);
    all.sort();
    let inventory = all.iter().map(|(path, data)| listed(path, data)).collect();
    vec![
        file("sentinel.manifest.json", &manifest(inventory)),
        file("agent.yaml", AGENT_YAML.as_bytes()),
    ]
}

/// A complete agent package from hand-made entries.
pub fn agent_package(entries: Vec<Raw>) -> Vec<u8> {
    wrap(b"SNTL-AGENT-PKG", 1, &tar_of(entries))
}
