//! Packing a directory into a reproducible `.sntl` file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sentinel_oci::{Digest, DigestAlgorithm, Digester, DigestingWriter};

use crate::container;
use crate::definition::Definition;
use crate::error::PackageError;
use crate::fsmode;
use crate::kind::PackageKind;
use crate::package_manifest::{FileEntry, PackageManifest};
use crate::paths::PACKAGE_MANIFEST_NAME;
use crate::source::{self, SourceFile, load_dir};
use crate::tar_write::{MAX_FILE_SIZE, TarWriter};

/// What [`pack`] produced.
#[derive(Clone, Debug)]
pub struct PackSummary {
    /// The package kind.
    pub kind: PackageKind,
    /// The validated definition.
    pub definition: Definition,
    /// The definition file's exact bytes (the OCI config blob).
    pub definition_bytes: Vec<u8>,
    /// The sha256 of the whole `.sntl` output.
    pub digest: Digest,
    /// The size of the whole `.sntl` output in bytes.
    pub size: u64,
    /// The number of files in the package (the inventory's length).
    pub files: usize,
}

/// The conventional file name of a package: `<name>-<version>.agent.sntl` or `.stack.sntl`.
pub fn default_file_name(definition: &Definition) -> String {
    format!(
        "{}-{}.{}",
        definition.name(),
        definition.version(),
        definition.kind().file_extension()
    )
}

/// Packs the package directory `dir` into `out`, streaming: each file is hashed once for the
/// inventory and then streamed into the archive, never held in memory whole.
///
/// The same directory gives the same bytes on any machine (see docs/package-format.md).
pub fn pack(dir: &Path, out: impl Write) -> Result<PackSummary, PackageError> {
    pack_excluding(dir, out, &[])
}

/// Packs `dir` into the file `out` atomically: the package is written to a temporary file
/// next to `out`, synced, and renamed over `out`; on failure nothing is left behind. When
/// `out` lies inside `dir`, it is not packed into itself.
pub fn pack_to_file(dir: &Path, out: &Path) -> Result<PackSummary, PackageError> {
    let file_name = out
        .file_name()
        .ok_or_else(|| PackageError::UnsupportedName {
            path: out.to_path_buf(),
            reason: "the output path does not name a file",
        })?;
    let parent = sentinel_durable::parent_dir(out);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    let temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(PackageError::io("create a temporary file in", parent))?;
    let canonical_parent = fs::canonicalize(parent).map_err(PackageError::io("resolve", parent))?;
    let excluded = [
        canonical_parent.join(file_name),
        canonical_parent.join(temp.path().file_name().unwrap_or_default()),
    ];
    let mut writer = BufWriter::new(temp.as_file());
    let summary = pack_excluding(dir, &mut writer, &excluded)?;
    writer.flush().map_err(PackageError::Write)?;
    drop(writer);
    let file = temp.as_file();
    fsmode::make_file_public(file).map_err(PackageError::io("set permissions on", temp.path()))?;
    file.sync_all()
        .map_err(PackageError::io("sync", temp.path()))?;
    temp.persist(out)
        .map_err(|error| PackageError::io("rename the package to", out)(error.error))?;
    sentinel_durable::sync_dir(parent).map_err(PackageError::io("sync", parent))?;
    Ok(summary)
}

fn pack_excluding(
    dir: &Path,
    out: impl Write,
    excluded: &[PathBuf],
) -> Result<PackSummary, PackageError> {
    let source = load_dir(dir)?;
    let root = fs::canonicalize(dir).map_err(PackageError::io("resolve", dir))?;
    let definition_file = source.kind.definition_file();
    let ignore = source::load_ignore_rules(&root)?;
    let files = source::list_files(&root, definition_file, &ignore, excluded)?;

    let mut inventory = Vec::with_capacity(files.len());
    let mut definition_executable = false;
    for file in &files {
        let entry = if file.path == definition_file {
            definition_executable = file.executable;
            FileEntry {
                path: file.path.clone(),
                size: source.definition_bytes.len() as u64,
                sha256: Digest::sha256(&source.definition_bytes).hex().to_owned(),
            }
        } else {
            hash_file(file)?
        };
        inventory.push(entry);
    }
    let manifest = PackageManifest::new(&source.definition, inventory);
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|error| PackageError::InvalidPackageManifest {
            reason: error.to_string(),
        })?;

    let mut hashing = DigestingWriter::new(out, DigestAlgorithm::Sha256);
    container::write_preamble(&mut hashing, source.kind).map_err(PackageError::Write)?;
    let mut tar = TarWriter::new(container::gzip_writer(hashing));
    append_bytes(&mut tar, PACKAGE_MANIFEST_NAME, &manifest_json, false)?;
    append_bytes(
        &mut tar,
        definition_file,
        &source.definition_bytes,
        definition_executable,
    )?;
    for (file, entry) in files.iter().zip(&manifest.files) {
        if file.path != definition_file {
            append_file(&mut tar, file, entry)?;
        }
    }
    let gzip = tar.finish().map_err(PackageError::Write)?;
    let hashing = gzip.finish().map_err(PackageError::Write)?;
    let (mut out, digest, size) = hashing.finish();
    out.flush().map_err(PackageError::Write)?;
    Ok(PackSummary {
        kind: source.kind,
        definition: source.definition,
        definition_bytes: source.definition_bytes,
        digest,
        size,
        files: manifest.files.len(),
    })
}

/// The inventory entry of a file, hashed in one streaming pass.
fn hash_file(file: &SourceFile) -> Result<FileEntry, PackageError> {
    if file.size > MAX_FILE_SIZE {
        return Err(PackageError::FileTooLarge {
            path: file.location.clone(),
            size: file.size,
            max: MAX_FILE_SIZE,
        });
    }
    let mut reader = open_listed(file)?;
    let mut hasher = DigestingWriter::new(io::sink(), DigestAlgorithm::Sha256);
    io::copy(&mut reader, &mut hasher).map_err(PackageError::io("read", &file.location))?;
    let (_, digest, size) = hasher.finish();
    if size != file.size {
        return Err(PackageError::FileChanged {
            path: file.location.clone(),
        });
    }
    Ok(FileEntry {
        path: file.path.clone(),
        size,
        sha256: digest.hex().to_owned(),
    })
}

/// Opens a listed file, checking it is still a regular file of the listed size.
fn open_listed(file: &SourceFile) -> Result<File, PackageError> {
    let opened = File::open(&file.location).map_err(PackageError::io("open", &file.location))?;
    let metadata = opened
        .metadata()
        .map_err(PackageError::io("inspect", &file.location))?;
    if !metadata.is_file() || metadata.len() != file.size {
        return Err(PackageError::FileChanged {
            path: file.location.clone(),
        });
    }
    Ok(opened)
}

fn append_bytes<W: Write>(
    tar: &mut TarWriter<W>,
    path: &str,
    bytes: &[u8],
    executable: bool,
) -> Result<(), PackageError> {
    tar.append_file(
        path,
        bytes.len() as u64,
        fsmode::tar_mode(executable),
        &mut &bytes[..],
    )
    .map_err(PackageError::Write)
}

/// Streams a file into the archive, hashing it again on the way; a file that differs from
/// its inventory entry (shorter, longer or other bytes) fails the pack.
fn append_file<W: Write>(
    tar: &mut TarWriter<W>,
    file: &SourceFile,
    entry: &FileEntry,
) -> Result<(), PackageError> {
    let changed = || PackageError::FileChanged {
        path: file.location.clone(),
    };
    let opened = open_listed(file)?;
    let mut reader = HashingReader {
        inner: opened,
        digester: Digester::new(DigestAlgorithm::Sha256),
        failed: None,
    };
    let mode = fsmode::tar_mode(file.executable);
    if let Err(error) = tar.append_file(&file.path, entry.size, mode, &mut reader) {
        return Err(match reader.failed.take() {
            Some(read_error) => PackageError::io("read", &file.location)(read_error),
            None if error.kind() == io::ErrorKind::UnexpectedEof => changed(),
            None => PackageError::Write(error),
        });
    }
    let mut extra = [0u8; 1];
    let grew = reader
        .inner
        .read(&mut extra)
        .map_err(PackageError::io("read", &file.location))?
        > 0;
    if grew || reader.digester.finish().hex() != entry.sha256 {
        return Err(changed());
    }
    Ok(())
}

/// Hashes what is read through it, and keeps a read error apart from write errors.
struct HashingReader<R> {
    inner: R,
    digester: Digester,
    failed: Option<io::Error>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.digester.update(&buf[..n]);
                Ok(n)
            }
            Err(error) => {
                let kind = error.kind();
                self.failed = Some(error);
                Err(io::Error::new(kind, "reading the source file failed"))
            }
        }
    }
}
