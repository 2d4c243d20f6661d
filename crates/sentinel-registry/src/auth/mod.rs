//! Who is asking and what they may do, apart from how either travels over
//! HTTP (that is `api`'s business).
//!
//! - [`authentication`]: credentials -> who is calling. An [`Authenticator`]
//!   reads the users file, checks passwords and personal access tokens (within
//!   the failed-login limits of [`login_limits`]), verifies the bearer tokens
//!   `/token` issues, and names the realm a refused client should log in at.
//! - [`authorization`]: who x action x repository -> decision.
//! - [`audit`]: the trail of who did what.
//! - [`personal_tokens`]: creating and revoking personal access tokens
//!   (the management API and the UI's settings page).
//!
//! With authentication off there is no [`Authenticator`], and every request
//! is allowed. With it on, a request is from a [`Caller`]: anonymous, the
//! holder of a bearer token, or a user whose Basic credentials were checked
//! just now.

pub(crate) mod audit;
pub(crate) mod authentication;
pub(crate) mod authorization;
mod credentials;
mod login_limits;
pub(crate) mod personal_tokens;

use std::sync::Arc;

use sentinel_auth::Principal;
use sentinel_token::AccessClaims;

pub use authentication::generate_password;
pub(crate) use authentication::{Authenticator, LoginError, Unidentified};
pub(crate) use credentials::{Credentials, MalformedAuthorization, credentials};

/// The user created on an empty store when authentication is turned on.
pub const BOOTSTRAP_ADMIN: &str = "admin";

pub(crate) use crate::clock::now;

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The users file could not be read or written.
    #[error(transparent)]
    Store(#[from] sentinel_auth::AuthError),
    /// The signing key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] sentinel_token::TokenError),
    /// The operating system's random source failed.
    #[error("cannot generate a password: {0}")]
    Random(String),
}

/// Who sent a request, when authentication is on.
#[derive(Clone)]
pub(crate) enum Caller {
    /// No credentials at all (or authentication is off).
    Anonymous,
    /// A bearer token from `/token` (an anonymous one has an empty subject).
    Token(Arc<AccessClaims>),
    /// Basic credentials, checked just now.
    User(Principal),
}

impl Caller {
    /// The user name, or `""` for nobody in particular.
    pub(crate) fn user(&self) -> &str {
        match self {
            Caller::Anonymous => "",
            Caller::Token(claims) => &claims.sub,
            Caller::User(principal) => &principal.user,
        }
    }
}
