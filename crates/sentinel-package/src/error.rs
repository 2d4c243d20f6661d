//! Everything that can go wrong while packing, reading or unpacking a package.

use std::io;
use std::path::PathBuf;

use crate::definition::DefinitionError;

/// Why a package could not be packed, read or unpacked. Each message is one sentence that
/// names the file, entry or directory concerned.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file system operation on `path` failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Writing the packed output failed.
    #[error("could not write the package: {0}")]
    Write(#[source] io::Error),
    /// The directory has no definition file.
    #[error("{} contains no agent.yaml or stack.yaml; pass the directory that holds the definition", dir.display())]
    NoDefinition {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory has both definition files.
    #[error("{} contains both agent.yaml and stack.yaml; a package directory holds exactly one", dir.display())]
    AmbiguousDefinition {
        /// The directory.
        dir: PathBuf,
    },
    /// The definition does not validate.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The definition file is larger than a definition may be.
    #[error("{} is {size} bytes; a definition file may be at most {limit} bytes", path.display())]
    DefinitionTooLarge {
        /// The definition file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A symbolic link in the source directory.
    #[error("{} is a symbolic link; packages cannot contain links, so copy the target in or list the link in .sntlignore", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A socket, device or FIFO in the source directory.
    #[error("{} is a {kind}; packages hold only regular files, so remove it or list it in .sntlignore", path.display())]
    SpecialFile {
        /// The file.
        path: PathBuf,
        /// What it is, e.g. "socket".
        kind: &'static str,
    },
    /// A file or directory name that is not UTF-8.
    #[error("{} has a name that is not valid UTF-8; rename it or list its directory in .sntlignore", path.display())]
    NonUtf8Name {
        /// The file.
        path: PathBuf,
    },
    /// A file whose relative path the format cannot store.
    #[error("{} cannot be packaged: {reason}", path.display())]
    UnsupportedName {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A file larger than a tar header can describe.
    #[error("{} is {size} bytes; the package format stores files of at most {max} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The largest size the format stores.
        max: u64,
    },
    /// A file changed between being hashed and being written.
    #[error("{} changed while it was being packed; pack again once it is stable", path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
    },
    /// A `.sntlignore` line that is not a valid pattern.
    #[error("{}, line {line}: {message}", path.display())]
    IgnorePattern {
        /// The ignore file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the pattern.
        message: String,
    },
    /// The input does not start with a Sentinel magic.
    #[error(
        "the input is not a Sentinel package: it does not start with SNTL-AGENT-PKG or SNTL-STACK-PKG"
    )]
    NotAPackage,
    /// The input uses a format version this library does not read.
    #[error(
        "the package uses format version {version}; this version of Sentinel reads format version {} only, so upgrade Sentinel to read it",
        crate::FORMAT_VERSION
    )]
    UnsupportedFormatVersion {
        /// The version in the file.
        version: u32,
    },
    /// The gzip or tar stream is damaged or truncated.
    #[error("the package is corrupt: {reason}")]
    Corrupt {
        /// What is damaged.
        reason: String,
    },
    /// `sentinel.manifest.json` is not valid.
    #[error("the package's sentinel.manifest.json is invalid: {reason}")]
    InvalidPackageManifest {
        /// What is wrong.
        reason: String,
    },
    /// The first entry is not `sentinel.manifest.json`.
    #[error("the package's first entry is {found:?}, not sentinel.manifest.json")]
    PackageManifestNotFirst {
        /// The first entry's path.
        found: String,
    },
    /// The archive has no entries at all.
    #[error("the package contains no sentinel.manifest.json")]
    PackageManifestMissing,
    /// An entry path that could escape the target or is not canonical.
    #[error("the package entry {path:?} has an unsafe path: {reason}")]
    UnsafePath {
        /// The entry's path, lossily decoded.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A hard link or symbolic link entry.
    #[error("the package entry {path:?} is a {kind}; packages never contain links")]
    LinkEntry {
        /// The entry's path.
        path: String,
        /// "symbolic link" or "hard link".
        kind: &'static str,
    },
    /// A device or FIFO entry.
    #[error("the package entry {path:?} is a {kind}; packages hold only regular files")]
    SpecialEntry {
        /// The entry's path.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// An entry type the format never produces (directories, pax headers, ...).
    #[error("the package entry {path:?} is a {kind}, which the format never contains")]
    UnexpectedEntry {
        /// The entry's path.
        path: String,
        /// What it is.
        kind: String,
    },
    /// The same path appears twice.
    #[error("the package contains {path:?} twice")]
    DuplicateEntry {
        /// The path.
        path: String,
    },
    /// An entry that the manifest does not list.
    #[error("the package entry {path:?} is not listed in its manifest")]
    NotInInventory {
        /// The entry's path.
        path: String,
    },
    /// Entries not in the order the format prescribes.
    #[error("the package entry {path:?} is out of order: {expected:?} must come first")]
    OutOfOrder {
        /// The entry found.
        path: String,
        /// The entry expected at this position.
        expected: String,
    },
    /// A file the manifest lists is absent from the archive.
    #[error("the package's manifest lists {path:?}, but the archive does not contain it")]
    MissingFromArchive {
        /// The missing file.
        path: String,
    },
    /// An entry's size differs from the manifest.
    #[error("the package entry {path:?} is {actual} bytes, but the manifest says {expected}")]
    SizeMismatch {
        /// The entry's path.
        path: String,
        /// The size in the manifest.
        expected: u64,
        /// The size in the archive.
        actual: u64,
    },
    /// An entry's content differs from the manifest.
    #[error("the package entry {path:?} has sha256 {actual}, but the manifest says {expected}")]
    DigestMismatch {
        /// The entry's path.
        path: String,
        /// The hash in the manifest.
        expected: String,
        /// The hash of the content.
        actual: String,
    },
    /// A file larger than the per-file limit.
    #[error(
        "the package entry {path:?} is {size} bytes, more than the limit of {limit} bytes per file"
    )]
    FileSizeLimit {
        /// The entry's path.
        path: String,
        /// Its size (claimed or counted).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More file bytes than the total limit.
    #[error("the package holds more than {limit} bytes of files, the limit for one package")]
    TotalSizeLimit {
        /// The limit.
        limit: u64,
    },
    /// More files than the entry limit.
    #[error("the package holds more than {limit} files, the limit for one package")]
    EntryLimit {
        /// The limit.
        limit: u64,
    },
    /// The stream expands more than the ratio limit allows.
    #[error(
        "the package expands to more than {limit} times its compressed size; it is refused as a likely decompression bomb"
    )]
    RatioLimit {
        /// The limit.
        limit: u64,
    },
    /// Data after the end of the archive.
    #[error("the package has unexpected data after the end of its archive")]
    TrailingData,
    /// The unpack target exists and is not an empty directory.
    #[error("{} already exists and is not an empty directory; choose another target or remove it", path.display())]
    TargetNotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// The unpack target exists and is not a directory.
    #[error("{} already exists and is not a directory", path.display())]
    TargetNotDirectory {
        /// The target.
        path: PathBuf,
    },
    /// The cancellation flag was raised.
    #[error("unpacking was cancelled")]
    Cancelled,
}

impl PackageError {
    /// A constructor of [`PackageError::Io`] for `action` on `path`, for `map_err`; the path
    /// is copied only when an error happens.
    pub(crate) fn io<P: AsRef<std::path::Path>>(
        action: &'static str,
        path: P,
    ) -> impl FnOnce(io::Error) -> PackageError {
        move |source| PackageError::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}
