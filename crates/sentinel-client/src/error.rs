//! The client's errors, and the coarse kinds a CLI maps to exit codes.

use std::path::PathBuf;
use std::time::Duration;

use sentinel_oci::Digest;

use sentinel_oci::ImageReferenceError;

/// Everything a registry operation can fail with. The `Display` text is one
/// sentence meant to be printed as-is; it never contains a secret or a URL query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The registry or its token service refused the credentials (or their absence).
    #[error("authentication failed for {registry}")]
    AuthenticationFailed {
        /// The registry.
        registry: String,
    },
    /// The credentials are valid but lack the permission.
    #[error("access denied by {registry}: {message}")]
    Denied {
        /// The registry.
        registry: String,
        /// The registry's explanation.
        message: String,
    },
    /// A manifest, blob or repository does not exist.
    #[error("{what} not found in {registry}")]
    NotFound {
        /// The registry.
        registry: String,
        /// What was looked for, e.g. `manifest me/hello:0.1.0` or `blob sha256:..`.
        what: String,
    },
    /// The registry could not be reached, the connection broke or stalled, and retries ran out.
    #[error("cannot connect to {registry}: {}", root_cause(source.as_ref()))]
    Connect {
        /// The registry.
        registry: String,
        /// The transport error (a URL it held removed).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry asks to slow down for longer than the retry policy waits.
    #[error("rate limited by {registry}, {}", retry_hint(*retry_after))]
    RateLimited {
        /// The registry.
        registry: String,
        /// How long the registry asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The registry answered with an error status.
    #[error("{registry} answered {status}: {}", describe_code(code.as_deref(), message))]
    Registry {
        /// The registry.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The first error code of the OCI error envelope, if there was one.
        code: Option<String>,
        /// The first message of the envelope, or the status's reason.
        message: String,
    },
    /// Content does not hash to the digest it was asked for or announced with.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// Content has another size than announced.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob or file concerned.
        what: String,
        /// The size announced.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// Content is larger than the client accepts for its kind.
    #[error("{what} from {registry} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The registry.
        registry: String,
        /// What was fetched.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A reference, repository name or registry given by the caller is invalid.
    #[error(transparent)]
    InvalidReference(#[from] ImageReferenceError),
    /// A manifest the caller asked to push is not what the operation needs
    /// (e.g. a referrer without a `subject`).
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// The client options cannot work (e.g. a zero chunk size, an invalid user agent).
    #[error("invalid client options: {0}")]
    InvalidOptions(String),
    /// A local file could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The registry broke the protocol (a missing header, a malformed body).
    #[error("unexpected answer from {registry}: {message}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was wrong.
        message: String,
    },
}

/// The coarse class of an error, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Credentials missing, wrong or insufficient.
    Auth,
    /// The thing asked for does not exist.
    NotFound,
    /// The registry could not be reached.
    Connect,
    /// The registry is throttling.
    RateLimited,
    /// Content failed verification.
    Integrity,
    /// The caller's input is invalid.
    Usage,
    /// The registry failed or misbehaved.
    Registry,
    /// A local file problem.
    Io,
}

impl ClientError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::AuthenticationFailed { .. } | ClientError::Denied { .. } => {
                ErrorKind::Auth
            }
            ClientError::NotFound { .. } => ErrorKind::NotFound,
            ClientError::Connect { .. } => ErrorKind::Connect,
            ClientError::RateLimited { .. } => ErrorKind::RateLimited,
            ClientError::DigestMismatch { .. } | ClientError::SizeMismatch { .. } => {
                ErrorKind::Integrity
            }
            ClientError::InvalidReference(_)
            | ClientError::InvalidOptions(_)
            | ClientError::InvalidManifest(_) => ErrorKind::Usage,
            ClientError::Registry { .. }
            | ClientError::TooLarge { .. }
            | ClientError::Protocol { .. } => ErrorKind::Registry,
            ClientError::Io { .. } => ErrorKind::Io,
        }
    }

    /// A transport error, stripped of its URL (which may carry a pre-signed query).
    pub(crate) fn connect(registry: &str, source: reqwest::Error) -> ClientError {
        ClientError::Connect {
            registry: registry.to_owned(),
            source: Box::new(source.without_url()),
        }
    }

    /// The connection stayed silent for `idle`.
    pub(crate) fn stalled(registry: &str, idle: std::time::Duration) -> ClientError {
        ClientError::Connect {
            registry: registry.to_owned(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                if idle.as_secs() > 0 {
                    format!("the connection stalled for {} s", idle.as_secs())
                } else {
                    format!("the connection stalled for {} ms", idle.as_millis())
                },
            )),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ClientError {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn protocol(registry: &str, message: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            registry: registry.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(registry: &str, what: impl Into<String>) -> ClientError {
        ClientError::NotFound {
            registry: registry.to_owned(),
            what: what.into(),
        }
    }

    pub(crate) fn authentication_failed(registry: &str) -> ClientError {
        ClientError::AuthenticationFailed {
            registry: registry.to_owned(),
        }
    }
}

/// The innermost cause of a transport error (e.g. `Connection refused (os error 111)`),
/// which says more than reqwest's outer "error sending request".
fn root_cause(error: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    if error
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_timeout)
    {
        return "the operation timed out".to_owned();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("retry after {} s", wait.as_secs()),
        None => "retry later".to_owned(),
    }
}

fn describe_code(code: Option<&str>, message: &str) -> String {
    match code {
        Some(code) => format!("{code}: {message}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_match_what_the_cli_prints() {
        let registry = "localhost:5000".to_owned();
        assert_eq!(
            ClientError::authentication_failed(&registry).to_string(),
            "authentication failed for localhost:5000"
        );
        assert_eq!(
            ClientError::not_found(&registry, "manifest me/hello:0.1.0").to_string(),
            "manifest me/hello:0.1.0 not found in localhost:5000"
        );
        assert_eq!(
            ClientError::RateLimited {
                registry: registry.clone(),
                retry_after: Some(Duration::from_secs(3600))
            }
            .to_string(),
            "rate limited by localhost:5000, retry after 3600 s"
        );
        assert_eq!(
            ClientError::Denied {
                registry: registry.clone(),
                message: "requested access to the resource is denied".into()
            }
            .to_string(),
            "access denied by localhost:5000: requested access to the resource is denied"
        );
        assert_eq!(
            ClientError::Registry {
                registry,
                status: 400,
                code: Some("MANIFEST_INVALID".into()),
                message: "bad".into()
            }
            .to_string(),
            "localhost:5000 answered 400: MANIFEST_INVALID: bad"
        );
    }
}
