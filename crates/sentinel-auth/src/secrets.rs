//! Password hashing (argon2id), random bytes, and the personal access token
//! text format `sntl_<id>_<secret>`.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AuthError;

/// The prefix every personal access token text starts with.
pub const TOKEN_PREFIX: &str = "sntl_";

/// Hex characters in a token id.
const TOKEN_ID_HEX_LEN: usize = 12;
/// Random bytes in a token secret.
const TOKEN_SECRET_BYTES: usize = 32;

/// Hashes `password` with argon2id and the default parameters, returning
/// the PHC string (`$argon2id$v=19$...`). Slow on purpose (tens of
/// milliseconds): call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hash(format!("argon2 failed: {error}")))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash
/// matches nothing. The comparison is constant-time.
pub(crate) fn password_matches(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| {
        AuthError::Hash(format!(
            "the system random number generator failed: {error}"
        ))
    })?;
    Ok(bytes)
}

/// sha256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A newly drawn personal access token.
pub(crate) struct NewToken {
    /// The public id.
    pub id: String,
    /// Lowercase hex sha256 of the secret, the only trace of it that is kept.
    pub secret_hash: String,
    /// The whole token text, to show once.
    pub text: String,
}

/// Draws a fresh token id and secret.
pub(crate) fn new_token() -> Result<NewToken, AuthError> {
    let id = hex::encode(random_bytes::<{ TOKEN_ID_HEX_LEN / 2 }>()?);
    let secret = hex::encode(random_bytes::<TOKEN_SECRET_BYTES>()?);
    Ok(NewToken {
        secret_hash: hex::encode(sha256(secret.as_bytes())),
        text: format!("{TOKEN_PREFIX}{id}_{secret}"),
        id,
    })
}

/// The id and secret parts of a token text, if it has the token form.
pub(crate) fn split_token(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = id.len() == TOKEN_ID_HEX_LEN
        && secret.len() == TOKEN_SECRET_BYTES * 2
        && lower_hex(id)
        && lower_hex(secret);
    well_formed.then_some((id, secret))
}

/// Whether `secret` hashes to `stored_hash` (lowercase hex sha256), compared
/// in constant time.
pub(crate) fn secret_matches(stored_hash: &str, secret: &str) -> bool {
    let computed = hex::encode(sha256(secret.as_bytes()));
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_has_the_documented_form_and_splits_back() {
        let token = new_token().unwrap();
        let (id, secret) = split_token(&token.text).unwrap();
        assert_eq!(id, token.id);
        assert_eq!(id.len(), 12);
        assert_eq!(secret.len(), 64);
        assert!(secret_matches(&token.secret_hash, secret));
        assert!(!secret_matches(
            &token.secret_hash,
            &secret.replace('a', "b")
        ));
        assert!(!token.text.contains(&token.secret_hash));
    }

    #[test]
    fn malformed_token_texts_do_not_split() {
        assert!(split_token("sntl_abc_def").is_none());
        assert!(split_token("password").is_none());
        let upper = format!("sntl_ABCDEF012345_{}", "a".repeat(64));
        assert!(split_token(&upper).is_none());
        let good = format!("sntl_abcdef012345_{}", "a".repeat(64));
        assert!(split_token(&good).is_some());
    }

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches(&hash, "correct horse"));
        assert!(!password_matches(&hash, "wrong horse"));
        assert!(!password_matches("not a hash", "correct horse"));
    }
}
