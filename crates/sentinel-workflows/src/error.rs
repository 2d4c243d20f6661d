//! Why a workflow failed.
//!
//! Six variants are the workflow's own verdicts ([`WorkflowError::Usage`],
//! [`WorkflowError::NotFound`], [`WorkflowError::Integrity`],
//! [`WorkflowError::Signature`], [`WorkflowError::Unsupported`],
//! [`WorkflowError::Changed`]); every other
//! variant says what was being done and keeps the error that stopped it as
//! its source, so a caller walking the chain finds the client, package or
//! store error beneath.

use std::path::PathBuf;

use sentinel_client::ClientError;
use sentinel_local_store::LocalStoreError;
use sentinel_package::{DefinitionError, PackageError};
use sentinel_signature::KeyError;

use crate::verify::SignatureFailure;

/// An error the caller's [`Registries`](crate::Registries) returned, passed
/// through untouched.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a workflow failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// What the user asked for cannot be done as asked: a bad tag, a digest
    /// where a tag is needed, a manifest that is not a package.
    #[error("{0}")]
    Usage(String),
    /// A name or reference is in neither the local store nor any registry tried.
    #[error("{0}")]
    NotFound(String),
    /// Content does not match what describes it.
    #[error("{0}")]
    Integrity(String),
    /// The caller's registries could not parse a reference or make a client.
    #[error("{0}")]
    Registries(#[source] BoxError),
    /// A package pushed without a reference has a name that makes none.
    #[error(
        "no reference given and the definition's name does not make one; name it: agent push REGISTRY/NAMESPACE/NAME:TAG"
    )]
    Unnamed(#[source] BoxError),
    /// The registry refused the credential being checked (so the way out is
    /// another credential, not logging in).
    #[error("the user name and password (or token) were refused")]
    CredentialsRefused(#[source] ClientError),
    /// The package was pushed, but the registry did not set the
    /// repository's visibility (the caller may not administer it, say).
    #[error("pushed {reference}, but its visibility was not set to {visibility}")]
    VisibilityNotSet {
        /// The reference pushed.
        reference: String,
        /// The visibility asked for.
        visibility: &'static str,
        /// The registry's refusal.
        source: ClientError,
    },
    /// What the user was shown changed before it was acted on (a tag
    /// pushed to while its deletion was being confirmed); nothing was done.
    #[error("{0}")]
    Changed(String),
    /// The registry lacks what the command needs (Sentinel's health,
    /// metrics or logs API): the text says which registry and what it answered.
    #[error("{0}")]
    Unsupported(String),
    /// The registry refused or failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A copy failed at one step; the source says why.
    #[error("{what}")]
    Copy {
        /// What was being read or written, and where.
        what: String,
        /// The registry's refusal or failure.
        source: ClientError,
    },
    /// The work asked for is beyond a bound the workflow keeps (how many
    /// manifests a copy handles, how deep they nest).
    #[error("{0}")]
    LimitExceeded(String),
    /// A package could not be packed, read or unpacked.
    #[error("{0}")]
    Package(#[from] PackageError),
    /// The local store failed.
    #[error("{0}")]
    Layout(#[from] LocalStoreError),
    /// A pulled package's definition does not validate.
    #[error("the definition in {reference} is invalid")]
    InvalidDefinition {
        /// The reference pulled.
        reference: String,
        /// What is wrong with it.
        source: DefinitionError,
    },
    /// A file could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A manifest is not the JSON it should be.
    #[error("{what}")]
    Malformed {
        /// Which manifest, and what it should have been.
        what: String,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// A definition shown by inspect is not YAML.
    #[error("the {file} is not YAML")]
    NotYaml {
        /// The definition's file name.
        file: String,
        /// What the parser said.
        source: serde_norway::Error,
    },
    /// A value could not be turned into JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A key file could not be read, decrypted or written.
    #[error("cannot use the key {}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// What was to be verified has no trusted, valid signature.
    #[error("{0}")]
    Signature(#[from] SignatureFailure),
    /// A file could not be written durably.
    #[error("{0}")]
    Durable(#[from] sentinel_durable::DurableError),
    /// The thread that unpacks a package panicked or was cancelled.
    #[error("the unpacking thread failed")]
    UnpackThread(#[source] tokio::task::JoinError),
}

/// The result of a workflow.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;
