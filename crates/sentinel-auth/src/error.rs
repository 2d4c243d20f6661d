//! The errors of every mutation and of the store.

use std::io;
use std::path::PathBuf;

/// Why a change to the auth state, or reading or writing it, failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No user has this name.
    #[error("there is no user named {0:?}")]
    UnknownUser(String),
    /// A user with this name already exists.
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    /// The name already belongs to a user or an organisation (they share one namespace).
    #[error("the name {0:?} is already taken by a user or an organisation")]
    NameTaken(String),
    /// A user, organisation, token or repository name breaks the naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The password breaks the password rules (the message never repeats the password).
    #[error("the password is not acceptable: {0}")]
    WeakPassword(String),
    /// No organisation has this name.
    #[error("there is no organisation named {0:?}")]
    UnknownOrganisation(String),
    /// No personal access token has this id (it never existed or was revoked).
    #[error("there is no personal access token with id {0:?}")]
    UnknownToken(String),
    /// The user is not a member of the organisation.
    #[error("user {user:?} is not a member of organisation {organisation:?}")]
    NotAMember {
        /// The organisation.
        organisation: String,
        /// The user who is not a member.
        user: String,
    },
    /// The user has no grant on the repository.
    #[error("user {user:?} has no grant on repository {repository:?}")]
    NoGrant {
        /// The repository.
        repository: String,
        /// The user without a grant.
        user: String,
    },
    /// The change would leave the registry without an administrator.
    #[error("user {0:?} is the last administrator; make another user an administrator first")]
    LastAdmin(String),
    /// Organisation visibility was asked for a repository outside an organisation's namespace.
    #[error(
        "repository {0:?} is not in an organisation's namespace, so it cannot have organisation visibility"
    )]
    OrganisationVisibility(String),
    /// A personal access token's expiry is not in the future.
    #[error("the token's expiry time {expires} is not after the current time {now}")]
    InvalidExpiry {
        /// The requested expiry, in unix seconds.
        expires: u64,
        /// The current time, in unix seconds.
        now: u64,
    },
    /// Reading, writing or locking the state file failed.
    #[error("could not access the auth state file {}: {source}", path.display())]
    Store {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The state file is not valid auth state JSON (or has an unknown version).
    #[error("the auth state file {} is corrupt: {source}", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The parse failure.
        source: serde_json::Error,
    },
    /// Hashing a secret, or drawing random bytes for one, failed.
    #[error("could not hash a secret: {0}")]
    Hash(String),
}
