//! Reading a `.sntl` stream: the preamble, the manifest, the definition, and (for unpacking)
//! every other entry, each checked against the inventory while it streams.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use flate2::bufread::GzDecoder;
use sentinel_oci::{DigestAlgorithm, Digester};

use crate::container;
use crate::definition::Definition;
use crate::error::PackageError;
use crate::kind::PackageKind;
use crate::limits::{
    Breach, CountingReader, GuardReader, StreamCounters, UnpackLimits, UnpackOptions,
};
use crate::package_manifest::{FileEntry, MAX_PACKAGE_MANIFEST_BYTES, PackageManifest};
use crate::paths::{MAX_PATH_BYTES, PACKAGE_MANIFEST_NAME, check_entry_path};
use crate::tar_write::BLOCK;

/// The most zero bytes accepted after the last entry (the end-of-archive marker included).
const MAX_TRAILING_ZEROS: u64 = 1024 * 1024;

/// What a package holds besides its files: read from its first entries only.
#[derive(Clone, Debug)]
pub struct PackageContents {
    /// The package kind, from the magic.
    pub kind: PackageKind,
    /// The format version, from the preamble.
    pub format_version: u32,
    /// The parsed, checked `sentinel.manifest.json`.
    pub manifest: PackageManifest,
    /// The validated definition.
    pub definition: Definition,
    /// The definition file's exact bytes.
    pub definition_bytes: Vec<u8>,
}

/// Reads a package's preamble, manifest and definition, without extracting anything and
/// without reading past the definition entry. The definition's size and hash are checked
/// against the inventory; the other files are not read.
pub fn read_package(reader: impl Read) -> Result<PackageContents, PackageError> {
    let options = UnpackOptions::default();
    read_stream(reader, &options, None).map(|(contents, _)| contents)
}

/// Reads a package's preamble, manifest and definition and, when the inventory lists
/// `path`, that file too (checked against its size and hash like every file), stopping
/// right after it: the package's README, say, without reading the rest. Returns the
/// file's first `max` bytes, or `None` when the package has no such file.
pub fn read_package_file(
    reader: impl Read,
    path: &str,
    max: usize,
) -> Result<(PackageContents, Option<Vec<u8>>), PackageError> {
    let options = UnpackOptions::default();
    let mut sink = CaptureSink {
        path,
        max,
        capturing: false,
        captured: None,
    };
    let (contents, _) = read_stream_until(reader, &options, Some(&mut sink), Some(path))?;
    Ok((contents, sink.captured))
}

/// Reads a whole package and checks it as an unpack does (the preamble, the inventory,
/// every file's path, size and hash, the end of the archive, the size limits), without
/// writing anything anywhere.
pub fn verify_package(reader: impl Read) -> Result<PackageContents, PackageError> {
    let options = UnpackOptions::default();
    let mut sink = CaptureSink {
        path: "",
        max: 0,
        capturing: false,
        captured: None,
    };
    read_stream(reader, &options, Some(&mut sink)).map(|(contents, _)| contents)
}

/// Keeps the first bytes of one file and lets the others pass.
struct CaptureSink<'a> {
    path: &'a str,
    max: usize,
    capturing: bool,
    captured: Option<Vec<u8>>,
}

impl FileSink for CaptureSink<'_> {
    fn begin(&mut self, path: &str, _executable: bool) -> Result<(), PackageError> {
        self.capturing = path == self.path;
        if self.capturing {
            self.captured = Some(Vec::new());
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PackageError> {
        if self.capturing
            && let Some(captured) = &mut self.captured
        {
            let room = self.max.saturating_sub(captured.len());
            captured.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), PackageError> {
        self.capturing = false;
        Ok(())
    }
}

/// Receives the files of a package as they stream, for extraction.
pub(crate) trait FileSink {
    /// A new file starts.
    fn begin(&mut self, path: &str, executable: bool) -> Result<(), PackageError>;
    /// The next bytes of the current file.
    fn write(&mut self, bytes: &[u8]) -> Result<(), PackageError>;
    /// The current file is complete.
    fn end(&mut self) -> Result<(), PackageError>;
}

/// Totals of a complete read.
pub(crate) struct StreamTotals {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

/// Reads a package. With a sink, every file is streamed to it and the whole archive is
/// checked to its end; without one, reading stops after the definition.
pub(crate) fn read_stream<R: Read>(
    input: R,
    options: &UnpackOptions,
    sink: Option<&mut dyn FileSink>,
) -> Result<(PackageContents, StreamTotals), PackageError> {
    read_stream_until(input, options, sink, None)
}

/// [`read_stream`], stopping after the file at `stop_after` (or after the definition when
/// the inventory does not list it) instead of reading to the end.
fn read_stream_until<R: Read>(
    mut input: R,
    options: &UnpackOptions,
    sink: Option<&mut dyn FileSink>,
    stop_after: Option<&str>,
) -> Result<(PackageContents, StreamTotals), PackageError> {
    let kind = container::read_preamble(&mut input)?;
    let counters = Rc::new(StreamCounters::default());
    let compressed = BufReader::new(CountingReader::new(input, Rc::clone(&counters)));
    let guarded = GuardReader::new(GzDecoder::new(compressed), Rc::clone(&counters), options);
    let mut archive = tar::Archive::new(guarded);
    let mut state = ArchiveState::new(kind, options.limits);
    let outcome = state.read_entries(&mut archive, options, sink, stop_after);
    let outcome = outcome.and_then(|finished| {
        if finished {
            check_end(archive.into_inner(), &state, &counters)
        } else {
            Ok(())
        }
    });
    if let Err(error) = outcome {
        return Err(stream_error(error, &counters, options));
    }
    state.into_contents(kind)
}

/// Replaces a stream error caused by a guard with the guard's own error.
fn stream_error(
    error: PackageError,
    counters: &StreamCounters,
    options: &UnpackOptions,
) -> PackageError {
    match counters.breach() {
        Some(Breach::Ratio) => PackageError::RatioLimit {
            limit: options.limits.max_ratio,
        },
        Some(Breach::Cancelled) => PackageError::Cancelled,
        None => error,
    }
}

fn corrupt(error: io::Error) -> PackageError {
    PackageError::Corrupt {
        reason: error.to_string(),
    }
}

/// After the last entry: at least one more zero block (tar stopped at the first), nothing
/// but zeros up to the end of the gzip member, and nothing after the member.
fn check_end<R: BufRead>(
    guarded: GuardReader<'_, GzDecoder<R>>,
    state: &ArchiveState,
    counters: &StreamCounters,
) -> Result<(), PackageError> {
    let mut guarded = guarded;
    let before = counters.decompressed();
    if before < state.archive_offset + BLOCK as u64 {
        return Err(PackageError::Corrupt {
            reason: "the archive has no end-of-archive marker".to_owned(),
        });
    }
    let mut trailing = before - state.archive_offset;
    let mut buffer = [0u8; 8192];
    loop {
        let n = guarded.read(&mut buffer).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        trailing += n as u64;
        if buffer[..n].iter().any(|&b| b != 0) || trailing > MAX_TRAILING_ZEROS {
            return Err(PackageError::TrailingData);
        }
    }
    if trailing < 2 * BLOCK as u64 {
        return Err(PackageError::Corrupt {
            reason: "the end-of-archive marker is shorter than two blocks".to_owned(),
        });
    }
    let mut compressed = guarded.into_inner().into_inner();
    if !compressed.fill_buf().map_err(corrupt)?.is_empty() {
        return Err(PackageError::TrailingData);
    }
    Ok(())
}

/// Where the reader is in the archive and what it has seen.
struct ArchiveState {
    kind: PackageKind,
    limits: UnpackLimits,
    manifest: Option<PackageManifest>,
    definition: Option<(Definition, Vec<u8>)>,
    /// Paths already extracted.
    seen: BTreeSet<String>,
    /// Index into the manifest's entry order of the next expected file.
    next: usize,
    /// Offset of the end of the last entry read, in the decompressed stream.
    archive_offset: u64,
    files: usize,
    bytes: u64,
}

impl ArchiveState {
    fn new(kind: PackageKind, limits: UnpackLimits) -> Self {
        ArchiveState {
            kind,
            limits,
            manifest: None,
            definition: None,
            seen: BTreeSet::new(),
            next: 0,
            archive_offset: 0,
            files: 0,
            bytes: 0,
        }
    }

    fn into_contents(
        self,
        kind: PackageKind,
    ) -> Result<(PackageContents, StreamTotals), PackageError> {
        let manifest = self.manifest.ok_or(PackageError::PackageManifestMissing)?;
        let (definition, definition_bytes) =
            self.definition
                .ok_or_else(|| PackageError::MissingFromArchive {
                    path: kind.definition_file().to_owned(),
                })?;
        let contents = PackageContents {
            kind,
            format_version: crate::FORMAT_VERSION,
            manifest,
            definition,
            definition_bytes,
        };
        let totals = StreamTotals {
            files: self.files,
            bytes: self.bytes,
        };
        Ok((contents, totals))
    }

    /// Reads entries until the end of the archive (returns `true`) or, without a sink, until
    /// the definition has been read (returns `false`).
    fn read_entries<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
        options: &UnpackOptions,
        mut sink: Option<&mut dyn FileSink>,
        stop_after: Option<&str>,
    ) -> Result<bool, PackageError> {
        let entries = archive.entries().map_err(corrupt)?.raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        for entry in entries {
            if options.is_cancelled() {
                return Err(PackageError::Cancelled);
            }
            let mut entry = entry.map_err(corrupt)?;
            let header = entry.header().clone();
            let size = header.entry_size().map_err(corrupt)?;
            self.archive_offset = self
                .archive_offset
                .saturating_add(BLOCK as u64)
                .saturating_add(size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64));
            let is_ustar = header.as_ustar().is_some();
            if !is_ustar && header.as_gnu().is_none() {
                return Err(PackageError::Corrupt {
                    reason: "an entry header is neither ustar nor GNU".to_owned(),
                });
            }
            let typeflag = header.as_bytes()[156];
            if typeflag == b'L' {
                if long_name.is_some() {
                    return Err(PackageError::Corrupt {
                        reason: "two GNU long-name headers in a row".to_owned(),
                    });
                }
                long_name = Some(read_long_name(&mut entry, size)?);
                continue;
            }
            let path_bytes = match long_name.take() {
                Some(name) => name,
                None => header_path(header.as_bytes(), is_ustar),
            };
            let path = String::from_utf8_lossy(&path_bytes).into_owned();
            check_entry_type(typeflag, &path)?;
            if std::str::from_utf8(&path_bytes).is_err() {
                return Err(PackageError::UnsafePath {
                    path,
                    reason: "it is not valid UTF-8",
                });
            }
            check_entry_path(&path).map_err(|reason| PackageError::UnsafePath {
                path: path.clone(),
                reason,
            })?;
            let executable = header.mode().map_err(corrupt)? & 0o111 != 0;
            let Some(manifest) = &self.manifest else {
                self.read_manifest(&mut entry, &path, size)?;
                continue;
            };
            let expected = self.expected_entry(manifest, &path, size)?;
            let keep_definition = self.definition.is_none();
            let data = self.copy_file(
                &mut entry,
                &expected,
                executable,
                keep_definition,
                sink.as_deref_mut(),
            )?;
            if keep_definition {
                self.accept_definition(&data)?;
                let unlisted = |wanted: &str| {
                    self.manifest
                        .as_ref()
                        .is_some_and(|manifest| manifest.file(wanted).is_none())
                };
                if sink.is_none() || stop_after.is_some_and(unlisted) {
                    return Ok(false);
                }
            } else if stop_after == Some(expected.path.as_str()) {
                return Ok(false);
            }
        }
        if long_name.is_some() {
            return Err(PackageError::Corrupt {
                reason: "the archive ends after a GNU long-name header".to_owned(),
            });
        }
        let manifest = self
            .manifest
            .as_ref()
            .ok_or(PackageError::PackageManifestMissing)?;
        if let Some(missing) = manifest.entry_at(self.next) {
            return Err(PackageError::MissingFromArchive {
                path: missing.path.clone(),
            });
        }
        Ok(true)
    }

    fn read_manifest(
        &mut self,
        entry: &mut impl Read,
        path: &str,
        size: u64,
    ) -> Result<(), PackageError> {
        if path != PACKAGE_MANIFEST_NAME {
            return Err(PackageError::PackageManifestNotFirst {
                found: path.to_owned(),
            });
        }
        if size > MAX_PACKAGE_MANIFEST_BYTES {
            return Err(PackageError::InvalidPackageManifest {
                reason: format!("it is {size} bytes; the limit is {MAX_PACKAGE_MANIFEST_BYTES}"),
            });
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_PACKAGE_MANIFEST_BYTES)
            .read_to_end(&mut bytes)
            .map_err(corrupt)?;
        if bytes.len() as u64 != size {
            return Err(truncated(path));
        }
        self.manifest = Some(PackageManifest::from_json(&bytes, self.kind, &self.limits)?);
        Ok(())
    }

    /// The inventory entry `path` must be, given the entries before it.
    fn expected_entry(
        &self,
        manifest: &PackageManifest,
        path: &str,
        size: u64,
    ) -> Result<FileEntry, PackageError> {
        if path == PACKAGE_MANIFEST_NAME || self.seen.contains(path) {
            return Err(PackageError::DuplicateEntry {
                path: path.to_owned(),
            });
        }
        let Some(listed) = manifest.file(path) else {
            return Err(PackageError::NotInInventory {
                path: path.to_owned(),
            });
        };
        let expected =
            manifest
                .entry_at(self.next)
                .ok_or_else(|| PackageError::NotInInventory {
                    path: path.to_owned(),
                })?;
        if expected.path != path {
            return Err(PackageError::OutOfOrder {
                path: path.to_owned(),
                expected: expected.path.clone(),
            });
        }
        if size != listed.size {
            return Err(PackageError::SizeMismatch {
                path: path.to_owned(),
                expected: listed.size,
                actual: size,
            });
        }
        Ok(listed.clone())
    }

    /// Streams one file to the sink, enforcing the limits on the bytes actually read and
    /// checking the size and hash at the end. Returns the bytes when `keep` is set.
    fn copy_file(
        &mut self,
        entry: &mut impl Read,
        expected: &FileEntry,
        executable: bool,
        keep: bool,
        mut sink: Option<&mut (dyn FileSink + '_)>,
    ) -> Result<Vec<u8>, PackageError> {
        if let Some(sink) = sink.as_deref_mut() {
            sink.begin(&expected.path, executable)?;
        }
        let mut digester = Digester::new(DigestAlgorithm::Sha256);
        let mut kept = Vec::new();
        let mut count: u64 = 0;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buffer).map_err(corrupt)?;
            if n == 0 {
                break;
            }
            let chunk = &buffer[..n];
            count += n as u64;
            self.bytes += n as u64;
            if count > self.limits.max_file_bytes {
                return Err(PackageError::FileSizeLimit {
                    path: expected.path.clone(),
                    size: count,
                    limit: self.limits.max_file_bytes,
                });
            }
            if self.bytes > self.limits.max_total_bytes {
                return Err(PackageError::TotalSizeLimit {
                    limit: self.limits.max_total_bytes,
                });
            }
            digester.update(chunk);
            if keep {
                kept.extend_from_slice(chunk);
            }
            if let Some(sink) = sink.as_deref_mut() {
                sink.write(chunk)?;
            }
        }
        if count != expected.size {
            return Err(truncated(&expected.path));
        }
        let actual = digester.finish();
        if actual.hex() != expected.sha256 {
            return Err(PackageError::DigestMismatch {
                path: expected.path.clone(),
                expected: expected.sha256.clone(),
                actual: actual.hex().to_owned(),
            });
        }
        if let Some(sink) = sink {
            sink.end()?;
        }
        self.seen.insert(expected.path.clone());
        self.next += 1;
        self.files += 1;
        Ok(kept)
    }

    fn accept_definition(&mut self, bytes: &[u8]) -> Result<(), PackageError> {
        let definition = Definition::parse(self.kind, self.kind.definition_file(), bytes)?;
        if let Some(manifest) = &self.manifest
            && (manifest.name != definition.name()
                || manifest.version != definition.version().to_string())
        {
            return Err(PackageError::InvalidPackageManifest {
                reason: format!(
                    "it names {} {}, but the definition says {} {}",
                    manifest.name,
                    manifest.version,
                    definition.name(),
                    definition.version()
                ),
            });
        }
        self.definition = Some((definition, bytes.to_vec()));
        Ok(())
    }
}

fn truncated(path: &str) -> PackageError {
    PackageError::Corrupt {
        reason: format!("the archive ends inside {path:?}"),
    }
}

/// The data of a GNU `L` entry: the next entry's path, NUL-terminated.
fn read_long_name(entry: &mut impl Read, size: u64) -> Result<Vec<u8>, PackageError> {
    if size > MAX_PATH_BYTES as u64 + 1 {
        return Err(PackageError::UnsafePath {
            path: "(GNU long name)".to_owned(),
            reason: "the path is longer than 4096 bytes",
        });
    }
    let mut name = Vec::new();
    entry.read_to_end(&mut name).map_err(corrupt)?;
    if name.len() as u64 != size {
        return Err(truncated("(GNU long name)"));
    }
    while name.last() == Some(&0) {
        name.pop();
    }
    Ok(name)
}

/// The path in a header: `name`, preceded by `prefix/` in a ustar header with a prefix.
fn header_path(block: &[u8; 512], is_ustar: bool) -> Vec<u8> {
    let field = |bytes: &[u8]| {
        bytes
            .iter()
            .take_while(|&&b| b != 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    let name = field(&block[..100]);
    let prefix = if is_ustar {
        field(&block[345..500])
    } else {
        Vec::new()
    };
    if prefix.is_empty() {
        name
    } else {
        [prefix.as_slice(), b"/", name.as_slice()].concat()
    }
}

/// Refuses every entry type but a regular file.
fn check_entry_type(typeflag: u8, path: &str) -> Result<(), PackageError> {
    let path = path.to_owned();
    match typeflag {
        b'0' => Ok(()),
        b'1' => Err(PackageError::LinkEntry {
            path,
            kind: "hard link",
        }),
        b'2' => Err(PackageError::LinkEntry {
            path,
            kind: "symbolic link",
        }),
        b'K' => Err(PackageError::LinkEntry {
            path,
            kind: "GNU long link name",
        }),
        b'3' => Err(PackageError::SpecialEntry {
            path,
            kind: "character device",
        }),
        b'4' => Err(PackageError::SpecialEntry {
            path,
            kind: "block device",
        }),
        b'6' => Err(PackageError::SpecialEntry { path, kind: "FIFO" }),
        b'5' => Err(PackageError::UnexpectedEntry {
            path,
            kind: "directory".to_owned(),
        }),
        b'x' | b'g' => Err(PackageError::UnexpectedEntry {
            path,
            kind: "pax extended header".to_owned(),
        }),
        other => Err(PackageError::UnexpectedEntry {
            path,
            kind: format!("entry of type {:?}", char::from(other)),
        }),
    }
}
