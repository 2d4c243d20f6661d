//! Registry bearer tokens: the Docker token spec's scopes and access claims,
//! as EdDSA-signed JWTs.
//!
//! This crate knows the wire format only: what a scope looks like, what a
//! token claims and how it is signed and checked. Who may have which access
//! is decided elsewhere.

mod actions;
mod authority;
mod cache;
mod claims;
mod error;
mod key;
mod scope;

pub use actions::{Action, Actions, UnknownAction};
pub use authority::{IssuedToken, TokenAuthority};
pub use claims::{AccessClaims, AccessEntry, REFRESH_TYPE, RefreshClaims};
pub use error::TokenError;
pub use key::SigningKey;
pub use scope::Scope;
