//! The errors of token handling.

use std::io;
use std::path::PathBuf;

/// Why a token, a scope or the signing key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is malformed, signed by another key, or meant for another
    /// service or use. The reason never quotes the token.
    #[error("the token is invalid: {0}")]
    Invalid(String),
    /// The token was valid but its lifetime is over.
    #[error("the token has expired")]
    Expired,
    /// A scope's text does not follow the `type:name:actions` grammar.
    #[error("invalid scope: {0}")]
    Scope(String),
    /// The signing key file could not be read, parsed or written.
    #[error("the token signing key {} could not be used: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong with it.
        source: io::Error,
    },
    /// A token could not be signed.
    #[error("could not sign a token: {0}")]
    Sign(String),
}
