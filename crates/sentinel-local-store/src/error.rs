//! The one error type of this crate: a human sentence that names the file,
//! blob or reference involved.

use std::io;
use std::path::PathBuf;

use sentinel_oci::{Digest, ManifestError};

/// Why the local store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LocalStoreError {
    /// A file system operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, completing "could not ...", e.g. "read".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// The directory holds other files and no `oci-layout`, so it is not a store.
    #[error(
        "{} is not an OCI image layout (it has no oci-layout file but holds {entry:?}); choose an empty directory for the store",
        path.display()
    )]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// One of the entries that does not belong to a layout.
        entry: String,
    },
    /// The `oci-layout` file names a version this crate does not write.
    #[error(
        "{} declares imageLayoutVersion {version:?}, but only \"1.0.0\" is supported",
        path.display()
    )]
    UnsupportedLayoutVersion {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version it declares.
        version: String,
    },
    /// A layout file (`oci-layout` or `index.json`) is not what the spec describes.
    #[error("{} is malformed: {reason}", path.display())]
    MalformedLayoutFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The layout has an `oci-layout` file but its `index.json` is gone.
    #[error(
        "{} is missing, so the store's names are lost; restore it from a backup or remove the store",
        path.display()
    )]
    MissingIndex {
        /// The `index.json` path.
        path: PathBuf,
    },
    /// Written or adopted content does not hash to the digest the caller expected.
    #[error(
        "the content written to {} hashes to {actual}, not the expected {expected}; it was discarded",
        path.display()
    )]
    DigestMismatch {
        /// The temporary file that held the content.
        path: PathBuf,
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of what was written.
        actual: Digest,
    },
    /// Written content does not have the size the caller expected.
    #[error(
        "the content written to {} is {actual} bytes, not the expected {expected}; it was discarded",
        path.display()
    )]
    SizeMismatch {
        /// The temporary file that held the content.
        path: PathBuf,
        /// The size the caller expected.
        expected: u64,
        /// The number of bytes written.
        actual: u64,
    },
    /// A file handed to `adopt_file` does not live in the store's `ingest/` directory.
    #[error(
        "{} is not in the store's ingest directory {}; take a path from ingest_path() or use import_file()",
        path.display(),
        ingest.display()
    )]
    NotInIngest {
        /// The file given.
        path: PathBuf,
        /// The store's ingest directory.
        ingest: PathBuf,
    },
    /// A blob is not in the store.
    #[error("blob {digest} is not in the store (expected at {})", path.display())]
    BlobNotFound {
        /// The blob's digest.
        digest: Digest,
        /// Where it would be.
        path: PathBuf,
    },
    /// A blob is larger than the caller allows to be read into memory.
    #[error("blob {} is {size} bytes, more than the {limit} allowed", path.display())]
    BlobTooLarge {
        /// The blob file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest is larger than the store accepts.
    #[error("manifest {digest} is {size} bytes, more than the {limit} a manifest may have")]
    ManifestTooLarge {
        /// The manifest's digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest could not be parsed.
    #[error("manifest {digest} is not a valid manifest: {source}")]
    InvalidManifest {
        /// The manifest's digest.
        digest: Digest,
        /// What the parser said.
        source: ManifestError,
    },
    /// A manifest references a blob or child manifest the store does not hold.
    #[error("manifest {manifest} references {missing}, which is not in the store; store it first")]
    MissingReference {
        /// The manifest.
        manifest: Digest,
        /// The blob or child manifest that is missing.
        missing: Digest,
    },
    /// A name does not follow the image-spec grammar for `org.opencontainers.image.ref.name`.
    #[error("{name:?} cannot name a manifest in the store: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong, as a clause.
        reason: &'static str,
    },
    /// A digest prefix matches manifests with different digests.
    #[error(
        "digest prefix {prefix:?} matches {count} different manifests in the store; give more digits"
    )]
    AmbiguousPrefix {
        /// The prefix as given.
        prefix: String,
        /// How many different digests it matches.
        count: usize,
    },
}

impl LocalStoreError {
    /// An [`LocalStoreError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LocalStoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A failed durable write or lock, worded as the store words its own I/O failures.
impl From<sentinel_durable::DurableError> for LocalStoreError {
    fn from(error: sentinel_durable::DurableError) -> Self {
        LocalStoreError::Io {
            action: error.step.action(),
            path: error.path,
            source: error.source,
        }
    }
}

/// Attaches an action and a path to an I/O result.
pub(crate) trait IoContext<T> {
    /// Turns an I/O error into [`LocalStoreError::Io`] naming `action` and `path`.
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, LocalStoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, LocalStoreError> {
        self.map_err(|source| LocalStoreError::io(action, path, source))
    }
}
