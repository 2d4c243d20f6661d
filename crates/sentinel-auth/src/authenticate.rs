//! Who is calling: checking a password or a personal access token, and
//! whether a session issued earlier is still good.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::AuthError;
use crate::model::{AuthState, Role, TokenScope};
use crate::secrets::{
    TOKEN_PREFIX, hash_password, password_matches, random_bytes, secret_matches, sha256,
    split_token,
};

/// How long a verified password is remembered, in seconds.
const PASSWORD_CACHE_SECONDS: u64 = 10 * 60;
/// How many verified passwords are remembered at most.
const MAX_CACHED_PASSWORDS: usize = 4096;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name.
    pub user: String,
    /// The user's registry-wide role when they authenticated.
    pub role: Role,
    /// The user's credential generation when they authenticated.
    pub generation: u64,
    /// Set when the caller used a personal access token: its id and the
    /// scope that narrows what the user may do.
    pub token: Option<TokenRestriction>,
}

/// The personal access token a [`Principal`] authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRestriction {
    /// The token's id.
    pub id: String,
    /// The token's scope.
    pub scope: TokenScope,
}

/// Why credentials were refused. The messages never contain a secret, and an
/// unknown user reads the same as a wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Unknown user, wrong password, or a token that does not match.
    #[error("the user name or password is wrong")]
    BadCredentials,
    /// The personal access token is past its expiry time.
    #[error("the personal access token has expired")]
    TokenExpired,
    /// The personal access token was revoked (or never existed).
    #[error("the personal access token has been revoked")]
    TokenRevoked,
}

/// A password verified recently.
#[derive(Debug, Clone, Copy)]
struct VerifiedPassword {
    generation: u64,
    verified_at: u64,
}

/// Checks passwords and personal access tokens against an [`AuthState`].
///
/// Password checks are argon2id and slow (tens of milliseconds): call
/// [`CredentialVerifier::verify_basic`] on a blocking thread. A password
/// that verified is remembered for ten minutes, as long as the user's
/// generation does not change, under a keyed hash that never leaves this
/// process.
pub struct CredentialVerifier {
    cache_key: [u8; 32],
    /// An argon2id hash of a random password, checked for unknown users so
    /// they cost as much as known ones.
    dummy_hash: String,
    verified: Mutex<HashMap<[u8; 32], VerifiedPassword>>,
}

impl fmt::Debug for CredentialVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialVerifier")
            .field("cached_passwords", &self.lock_cache().len())
            .finish_non_exhaustive()
    }
}

impl CredentialVerifier {
    /// A verifier with a fresh cache key and dummy hash (one argon2id hash:
    /// slow).
    pub fn new() -> Result<CredentialVerifier, AuthError> {
        let dummy_password = hex::encode(random_bytes::<16>()?);
        Ok(CredentialVerifier {
            cache_key: random_bytes()?,
            dummy_hash: hash_password(&dummy_password)?,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Checks HTTP Basic credentials: a personal access token (text starting
    /// with `sntl_`) that belongs to `username`, or `username`'s password.
    pub fn verify_basic(
        &self,
        state: &AuthState,
        username: &str,
        secret: &str,
        now: u64,
    ) -> Result<Principal, AuthFailure> {
        if secret.starts_with(TOKEN_PREFIX) {
            return verify_token(state, Some(username), secret, now);
        }
        let Some(user) = state.users.get(username) else {
            password_matches(&self.dummy_hash, secret);
            return Err(AuthFailure::BadCredentials);
        };
        let cache_key = self.cache_key_for(username, secret);
        let remembered = self.lock_cache().get(&cache_key).copied();
        let fresh = remembered.is_some_and(|entry| {
            entry.generation == user.generation
                && now.saturating_sub(entry.verified_at) < PASSWORD_CACHE_SECONDS
        });
        if !fresh {
            if !password_matches(&user.password_hash, secret) {
                return Err(AuthFailure::BadCredentials);
            }
            self.remember(
                cache_key,
                VerifiedPassword {
                    generation: user.generation,
                    verified_at: now,
                },
            );
        }
        Ok(Principal {
            user: username.to_owned(),
            role: user.role,
            generation: user.generation,
            token: None,
        })
    }

    /// `username`'s principal if `password` is a password verified within
    /// the last ten minutes under the user's current generation: the fast
    /// path, with no hashing, for clients that send the same credentials
    /// with every request. `None` means "not remembered", not "wrong".
    pub fn verify_remembered(
        &self,
        state: &AuthState,
        username: &str,
        password: &str,
        now: u64,
    ) -> Option<Principal> {
        let user = state.users.get(username)?;
        let entry = self
            .lock_cache()
            .get(&self.cache_key_for(username, password))
            .copied()?;
        (entry.generation == user.generation
            && now.saturating_sub(entry.verified_at) < PASSWORD_CACHE_SECONDS)
            .then(|| Principal {
                user: username.to_owned(),
                role: user.role,
                generation: user.generation,
                token: None,
            })
    }

    /// Checks a bare personal access token (as in `Authorization: Bearer
    /// sntl_...`).
    pub fn verify_token_text(
        &self,
        state: &AuthState,
        token: &str,
        now: u64,
    ) -> Result<Principal, AuthFailure> {
        verify_token(state, None, token, now)
    }

    fn cache_key_for(&self, username: &str, password: &str) -> [u8; 32] {
        let mut material =
            Vec::with_capacity(self.cache_key.len() + username.len() + 1 + password.len());
        material.extend_from_slice(&self.cache_key);
        material.extend_from_slice(username.as_bytes());
        material.push(0);
        material.extend_from_slice(password.as_bytes());
        sha256(&material)
    }

    fn remember(&self, key: [u8; 32], entry: VerifiedPassword) {
        let mut cache = self.lock_cache();
        if cache.len() >= MAX_CACHED_PASSWORDS {
            let now = entry.verified_at;
            cache.retain(|_, cached| {
                now.saturating_sub(cached.verified_at) < PASSWORD_CACHE_SECONDS
            });
            if cache.len() >= MAX_CACHED_PASSWORDS {
                cache.clear();
            }
        }
        cache.insert(key, entry);
    }

    fn lock_cache(&self) -> MutexGuard<'_, HashMap<[u8; 32], VerifiedPassword>> {
        // A poisoned cache holds only complete entries; keep using it.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks a personal access token text, and that it belongs to `username`
/// when one is given.
fn verify_token(
    state: &AuthState,
    username: Option<&str>,
    text: &str,
    now: u64,
) -> Result<Principal, AuthFailure> {
    let (id, secret) = split_token(text).ok_or(AuthFailure::BadCredentials)?;
    let token = state.tokens.get(id).ok_or(AuthFailure::TokenRevoked)?;
    if !secret_matches(&token.secret_hash, secret) {
        return Err(AuthFailure::BadCredentials);
    }
    if username.is_some_and(|username| username != token.user) {
        return Err(AuthFailure::BadCredentials);
    }
    let user = state
        .users
        .get(&token.user)
        .ok_or(AuthFailure::TokenRevoked)?;
    if token.is_expired(now) {
        return Err(AuthFailure::TokenExpired);
    }
    Ok(Principal {
        user: token.user.clone(),
        role: user.role,
        generation: user.generation,
        token: Some(TokenRestriction {
            id: token.id.clone(),
            scope: token.scope.clone(),
        }),
    })
}

/// Whether a session (bearer token) issued for `user` at `generation`, and
/// through the personal access token `token_id` if any, is still good at
/// `now`: the user exists with that generation, and the token still exists,
/// belongs to them and has not expired. A session without a generation is
/// never current; anonymous sessions have no user and need no check.
pub fn is_current(
    state: &AuthState,
    user: &str,
    generation: Option<u64>,
    token_id: Option<&str>,
    now: u64,
) -> bool {
    let Some(account) = state.users.get(user) else {
        return false;
    };
    if generation != Some(account.generation) {
        return false;
    }
    token_id.is_none_or(|id| {
        state
            .tokens
            .get(id)
            .is_some_and(|token| token.user == user && !token.is_expired(now))
    })
}
