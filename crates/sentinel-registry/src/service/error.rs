//! Why a registry operation failed.

use sentinel_index::IndexError;
use sentinel_oci::{Digest, ManifestError, RepositoryName, Tag};
use sentinel_storage::StorageError;

use sentinel_oci::MAX_MANIFEST_SIZE;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The repository does not hold the blob.
    #[error("blob {0} is not in this repository")]
    BlobUnknown(Digest),
    /// No such upload session in this repository.
    #[error("upload {0} is not known")]
    UploadUnknown(String),
    /// A chunk does not start where the upload ends.
    #[error("the chunk starts at byte {start} but the upload holds {offset} bytes")]
    RangeNotContiguous {
        /// Where the chunk claims to start.
        start: u64,
        /// Where the upload ends.
        offset: u64,
    },
    /// The body's length differs from what its headers declared.
    #[error("the body holds {actual} bytes but {declared} were declared")]
    LengthMismatch {
        /// Declared by `Content-Range` or `Content-Length`.
        declared: u64,
        /// Received.
        actual: u64,
    },
    /// The content hashes to another digest than the client gave.
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch {
        /// What the client said.
        expected: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
    /// The manifest is not in the repository.
    #[error("manifest {0} is not in this repository")]
    ManifestUnknown(String),
    /// The manifest is malformed or of an unsupported type.
    #[error(transparent)]
    ManifestInvalid(#[from] ManifestError),
    /// The manifest is larger than [`MAX_MANIFEST_SIZE`].
    #[error("the manifest is larger than {MAX_MANIFEST_SIZE} bytes")]
    ManifestTooLarge,
    /// A Sentinel package manifest fails validation; one problem per line.
    #[error("{0}")]
    PackageInvalid(String),
    /// A version tag of a package would move to another manifest.
    #[error(
        "tag {tag} of {repository} names a published version ({digest}); versions are immutable, so push this package under a new version"
    )]
    VersionImmutable {
        /// The repository.
        repository: RepositoryName,
        /// The version tag.
        tag: Tag,
        /// The manifest it names.
        digest: Digest,
    },
    /// Another manifest of this package version is catalogued already
    /// (under any tag) and versions are immutable.
    #[error(
        "version {version} of {repository} is published already ({digest}); versions are immutable, so push this package under a new version"
    )]
    VersionTaken {
        /// The repository.
        repository: RepositoryName,
        /// The version.
        version: semver::Version,
        /// The manifest published as that version.
        digest: Digest,
    },
    /// A signature artifact that can never count: its envelope is junk, too
    /// large, of the wrong payload type, for another manifest than its
    /// subject, or a trusted key's signature that does not verify.
    #[error("{0}")]
    SignatureInvalid(String),
    /// The repository's policy requires signatures and no trusted key
    /// signed what was asked for.
    #[error("{pattern}: not signed by a trusted key")]
    NotSigned {
        /// The pattern of the policy that requires it.
        pattern: String,
    },
    /// The caller may not publish to the repository a package would go to.
    #[error("publishing to {0} is denied")]
    PublishDenied(RepositoryName),
    /// The push would take the namespace over its quota (checked when an
    /// upload starts, with its declared size, and when a blob is linked).
    #[error("{}", quota_message(namespace, *quota, *usage, *size))]
    QuotaExceeded {
        /// The namespace.
        namespace: String,
        /// Its quota in bytes.
        quota: u64,
        /// The bytes it holds.
        usage: u64,
        /// The bytes the refused upload or blob would add (0 if unknown).
        size: u64,
    },
    /// A tag matching an immutability rule would be moved or deleted, or
    /// the manifest it names deleted.
    #[error("{}", immutable_message(.0))]
    TagImmutable(Box<ImmutableTag>),
    /// The catalogue failed.
    #[error(transparent)]
    Catalogue(#[from] sentinel_catalogue::CatalogueError),
    /// The manifest references a blob or manifest the repository lacks.
    #[error("the manifest references {0}, which this repository does not hold")]
    ManifestBlobUnknown(Digest),
    /// The repository has never been pushed to.
    #[error("repository {0} is not known")]
    NameUnknown(RepositoryName),
    /// An internal task failed (a bug: it panicked).
    #[error("internal failure: {0}")]
    Internal(String),
    /// The request body ended before it was complete (the client went away).
    #[error(transparent)]
    BodyInterrupted(StorageError),
    /// Garbage collection is deleting the blob's bytes right now: the
    /// request can be repeated in a moment, when they are gone.
    #[error("blob {0} is being deleted by garbage collection; try again")]
    BlobBeingDeleted(Digest),
    /// The metadata index failed.
    #[error(transparent)]
    Index(IndexError),
    /// The blob store failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Body(_) => RegistryError::BodyInterrupted(error),
            StorageError::LengthMismatch { declared, actual } => {
                RegistryError::LengthMismatch { declared, actual }
            }
            StorageError::DigestMismatch { expected, actual } => {
                RegistryError::DigestMismatch { expected, actual }
            }
            other => RegistryError::Storage(other),
        }
    }
}

impl From<IndexError> for RegistryError {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::MissingReference(digest) => RegistryError::ManifestBlobUnknown(digest),
            IndexError::BlobDeleting(digest) => RegistryError::BlobBeingDeleted(digest),
            IndexError::QuotaExceeded {
                namespace,
                quota,
                usage,
                size,
            } => RegistryError::QuotaExceeded {
                namespace,
                quota,
                usage,
                size,
            },
            other => RegistryError::Index(other),
        }
    }
}

/// "namespace acme is at its quota: 10.0 GiB used of 10.0 GiB" (or over
/// it) or, when the refused bytes are what would tip it over, "namespace
/// acme has 9.9 GiB of its 10.0 GiB quota: 200.0 MiB more would exceed it".
fn quota_message(namespace: &str, quota: u64, usage: u64, size: u64) -> String {
    use sentinel_lifecycle::human_bytes;
    let (used, of) = (human_bytes(usage), human_bytes(quota));
    if usage >= quota {
        let state = if usage > quota { "over" } else { "at" };
        return format!("namespace {namespace} is {state} its quota: {used} used of {of}");
    }
    let more = if size > 0 {
        format!("{} more", human_bytes(size))
    } else {
        "this push".to_owned()
    };
    format!("namespace {namespace} has {used} of its {of} quota: {more} would exceed it")
}

/// Why an immutability rule refused a change of a tag: a push may go under
/// a new tag, a deletion may not happen at all.
fn immutable_message(refused: &ImmutableTag) -> String {
    let ImmutableTag {
        repository,
        tag,
        digest,
        rule,
        pattern,
        deleting,
    } = refused;
    let consequence = if *deleting {
        "neither the tag nor its manifest can be deleted while the rule stands"
    } else {
        "push under a new tag"
    };
    format!(
        "tag {tag} of {repository} is immutable (rule {rule}: {pattern}); it names {digest} for good, so {consequence}"
    )
}

/// The tag an immutability rule keeps from changing, and the rule.
#[derive(Debug)]
pub struct ImmutableTag {
    /// The repository.
    pub repository: RepositoryName,
    /// The tag.
    pub tag: Tag,
    /// The manifest it names.
    pub digest: Digest,
    /// The repository pattern of the rule.
    pub rule: String,
    /// The tag pattern the tag matches.
    pub pattern: String,
    /// Whether a deletion was refused (else a push that would move it).
    pub deleting: bool,
}
