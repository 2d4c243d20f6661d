//! Exit codes, one per kind of failure, and the one line printed for an error.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure |
//! | 2 | bad usage or input: flags, references, an invalid agent.yaml |
//! | 3 | authentication failed or access denied; a signing key's passphrase missing or wrong |
//! | 4 | not found: the reference, tag, blob or local name does not exist |
//! | 5 | cannot connect to the registry |
//! | 6 | rate limited by the registry |
//! | 7 | integrity: a digest, size or package inventory does not match, or an unsafe package |
//! | 8 | not signed: no signature at all |
//! | 9 | signed only by keys that are not trusted |
//! | 10 | a signature that does not verify (changed, damaged or malformed) and no valid one |
//! | 11 | a valid signature, but for another digest, and no valid one for this one |
//! | 12 | the registry is not ready: `/readyz` failed, or `/v2/` answered neither 200 nor 401 (`agent registry health`) |
//! | 13 | the registry lacks what the command needs: a Sentinel API (`agent registry metrics`, `logs`, `agent configure`), or deleting tags (`agent delete`) |
//! | 130 | interrupted (Ctrl-C) |

use sentinel_client::{ClientError, ErrorKind};
use sentinel_package::PackageError;
use sentinel_signature::KeyError;
use sentinel_workflows::{SignatureFailure, WorkflowError};

/// Any other failure.
pub const GENERAL: u8 = 1;
/// Bad usage or input.
pub const USAGE: u8 = 2;
/// Authentication failed or access denied.
pub const AUTH: u8 = 3;
/// Something named does not exist.
pub const NOT_FOUND: u8 = 4;
/// The registry cannot be reached.
pub const CONNECT: u8 = 5;
/// The registry asks the client to slow down.
pub const RATE_LIMITED: u8 = 6;
/// Content does not match its digest, size or inventory.
pub const INTEGRITY: u8 = 7;
/// Nothing is signed.
pub const UNSIGNED: u8 = 8;
/// Signed only by keys that are not trusted.
pub const UNTRUSTED: u8 = 9;
/// A signature does not verify, and none does.
pub const BAD_SIGNATURE: u8 = 10;
/// A valid signature for another digest, and none for this one.
pub const OTHER_SUBJECT: u8 = 11;
/// The registry is up but not ready to serve.
pub const NOT_READY: u8 = 12;
/// The registry lacks what the command needs (a Sentinel API, deleting tags).
pub const UNSUPPORTED: u8 = 13;
/// The user pressed Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// The user pressed Ctrl-C; partial output has been removed.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; nothing half-written was left behind")]
pub struct Interrupted;

/// A failure the user caused with what they typed or wrote (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The registry answered, but is not ready to serve (exit code 12).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// An encrypted signing key and no passphrase to open it (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockedKey(pub String);

/// The exit code for an error: the first error in its chain that has a kind.
pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<Interrupted>() {
            return INTERRUPTED;
        }
        if cause.is::<UsageError>() {
            return USAGE;
        }
        if cause.is::<LockedKey>() {
            return AUTH;
        }
        if cause.is::<NotReady>() {
            return NOT_READY;
        }
        if let Some(code) = cause
            .downcast_ref::<WorkflowError>()
            .and_then(workflow_code)
        {
            return code;
        }
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            return match client.kind() {
                ErrorKind::Auth => AUTH,
                ErrorKind::NotFound => NOT_FOUND,
                ErrorKind::Connect => CONNECT,
                ErrorKind::RateLimited => RATE_LIMITED,
                ErrorKind::Integrity => INTEGRITY,
                ErrorKind::Usage => USAGE,
                _ => GENERAL,
            };
        }
        if let Some(package) = cause.downcast_ref::<PackageError>() {
            return package_code(package);
        }
        if cause.is::<sentinel_package::DefinitionError>() {
            return USAGE;
        }
        if let Some(key) = cause.downcast_ref::<KeyError>() {
            return match key {
                KeyError::Encrypted | KeyError::WrongPassphrase | KeyError::EmptyPassphrase => AUTH,
                _ => USAGE,
            };
        }
    }
    GENERAL
}

/// The code for a workflow's own verdict; `None` for an error that only
/// says what was being done, so the cause beneath decides.
fn workflow_code(error: &WorkflowError) -> Option<u8> {
    match error {
        WorkflowError::Usage(_) => Some(USAGE),
        WorkflowError::NotFound(_) => Some(NOT_FOUND),
        WorkflowError::Integrity(_) => Some(INTEGRITY),
        WorkflowError::Signature(failure) => Some(match failure {
            SignatureFailure::Unsigned { .. } => UNSIGNED,
            SignatureFailure::Untrusted { .. } => UNTRUSTED,
            SignatureFailure::BadSignature { .. } => BAD_SIGNATURE,
            SignatureFailure::OtherSubject { .. } => OTHER_SUBJECT,
        }),
        WorkflowError::LimitExceeded(_) | WorkflowError::Changed(_) => Some(GENERAL),
        WorkflowError::Unsupported(_) => Some(UNSUPPORTED),
        WorkflowError::Registries(_)
        | WorkflowError::Unnamed(_)
        | WorkflowError::CredentialsRefused(_)
        | WorkflowError::VisibilityNotSet { .. }
        | WorkflowError::Client(_)
        | WorkflowError::Copy { .. }
        | WorkflowError::Package(_)
        | WorkflowError::Layout(_)
        | WorkflowError::InvalidDefinition { .. }
        | WorkflowError::Open { .. }
        | WorkflowError::Malformed { .. }
        | WorkflowError::NotYaml { .. }
        | WorkflowError::Json(_)
        | WorkflowError::Key { .. }
        | WorkflowError::Durable(_)
        | WorkflowError::UnpackThread(_) => None,
    }
}

/// Problems in what the user packs are usage errors; problems in a package
/// that was handed over are integrity failures.
fn package_code(error: &PackageError) -> u8 {
    use PackageError as E;
    match error {
        E::Io { .. } | E::Write(_) => GENERAL,
        E::NoDefinition { .. }
        | E::AmbiguousDefinition { .. }
        | E::Definition(_)
        | E::DefinitionTooLarge { .. }
        | E::Symlink { .. }
        | E::SpecialFile { .. }
        | E::UnsupportedName { .. }
        | E::FileTooLarge { .. }
        | E::FileChanged { .. }
        | E::IgnorePattern { .. }
        | E::TargetNotEmpty { .. }
        | E::TargetNotDirectory { .. } => USAGE,
        E::Cancelled => INTERRUPTED,
        _ => INTEGRITY,
    }
}

/// The error and its causes on one line, each cause once. A client error
/// already names its cause in words a person can act on, so the transport
/// details beneath it are left out.
pub fn describe(error: &anyhow::Error) -> String {
    let logging_in = matches!(
        error.downcast_ref::<WorkflowError>(),
        Some(WorkflowError::CredentialsRefused(_))
    );
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|previous| previous.contains(&text)) {
            parts.push(text);
        }
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            if let ClientError::AuthenticationFailed { registry } = client
                && !logging_in
            {
                parts.push(format!("log in with `agent login {registry}`"));
            }
            break;
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("dns error: no such host")]
    struct Transport;

    #[test]
    fn an_authentication_failure_says_how_to_log_in() {
        let client = ClientError::AuthenticationFailed {
            registry: "registry.example".to_string(),
        };
        let error = anyhow::Error::new(client).context("cannot push me/hello:1");
        assert_eq!(
            describe(&error),
            "cannot push me/hello:1: authentication failed for registry.example: \
             log in with `agent login registry.example`"
        );
    }

    #[test]
    fn a_description_stops_at_the_client_error_and_repeats_nothing() {
        let client = ClientError::NotFound {
            registry: "localhost:5000".to_string(),
            what: "manifest me/hello:9.9.9".to_string(),
        };
        let error = anyhow::Error::new(client).context("cannot pull me/hello:9.9.9");
        assert_eq!(
            describe(&error),
            "cannot pull me/hello:9.9.9: manifest me/hello:9.9.9 not found in localhost:5000"
        );
        let plain = anyhow::Error::new(Transport).context("cannot read the index");
        assert_eq!(
            describe(&plain),
            "cannot read the index: dns error: no such host"
        );
        assert_eq!(code_for(&plain), GENERAL);
        assert_eq!(code_for(&anyhow::Error::new(Interrupted)), INTERRUPTED);
    }

    #[test]
    fn a_workflow_error_has_the_code_of_its_verdict_or_of_its_cause() {
        let unnamed = WorkflowError::Unnamed(
            WorkflowError::Usage("invalid reference \"Hello:1\"".to_string()).into(),
        );
        let error = anyhow::Error::new(unnamed);
        assert_eq!(code_for(&error), USAGE);
        assert!(
            describe(&error)
                .ends_with("agent push REGISTRY/NAMESPACE/NAME:TAG: invalid reference \"Hello:1\""),
            "{}",
            describe(&error)
        );
        let missing = anyhow::Error::new(WorkflowError::NotFound(
            "x is not in the local store".into(),
        ));
        assert_eq!(code_for(&missing), NOT_FOUND);
        let client = WorkflowError::Client(ClientError::AuthenticationFailed {
            registry: "registry.example".to_string(),
        });
        let error = anyhow::Error::new(client);
        assert_eq!(code_for(&error), AUTH);
        assert_eq!(
            describe(&error),
            "authentication failed for registry.example: \
             log in with `agent login registry.example`"
        );
    }
}
