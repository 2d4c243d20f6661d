//! Authentication: from the credentials a request presents to the
//! [`Caller`] behind it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use sentinel_auth::{
    AuthFailure, AuthState, AuthStore, CredentialVerifier, Principal, Role, SharedAuth,
    TokenRestriction, is_current,
};
use sentinel_token::{AccessClaims, SigningKey, TokenAuthority};
use tokio::sync::Semaphore;

use super::credentials::{Credentials, MalformedAuthorization, credentials};
use super::login_limits::{LoginAttempt, LoginLimits, Refusal};
use super::{AuthSetupError, BOOTSTRAP_ADMIN, Caller, audit, now};
use crate::settings::Settings;

/// How long a refresh token (docker's identity token) stays valid.
const REFRESH_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The longest bearer token looked at: a token for the most scopes
/// `/token` grants, with the longest names, stays well below it.
const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// How long a login waits for other attempts from the same address or for
/// the same name to be checked before it is refused as limited.
const LOGIN_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// The file holding the token signing key, in the data directory.
const SIGNING_KEY_FILE: &str = "token-signing-key.pem";

/// Whether `name` could be a user name at all (the account name grammar:
/// lowercase letters, digits and `.`, `_`, `-`, at most 64 characters).
fn plausible_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// A client-supplied name cut to something safe to log.
fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Why a login was refused.
#[derive(Debug)]
pub(crate) enum LoginError {
    /// Too many failures lately: try again after this long.
    Limited(Duration),
    /// Wrong credentials, an expired or revoked token.
    Refused(AuthFailure),
    /// The check could not run (shutting down).
    Unavailable,
}

/// Why a bearer or refresh token was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenRejected {
    /// Not a token this registry issued (or not a well-formed one).
    #[error("the token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Its user, the user's password or its personal access token changed.
    #[error("the token was revoked: its user, password or access token has changed")]
    Revoked,
    /// A refresh token that is not valid.
    #[error("the refresh token is not valid: log in again")]
    RefreshInvalid,
    /// A refresh token whose user or password changed.
    #[error("the refresh token was revoked: log in again")]
    RefreshRevoked,
}

/// Why the caller of a request could not be told.
#[derive(Debug)]
pub(crate) enum Unidentified {
    /// The `Authorization` header could not be read.
    Malformed(MalformedAuthorization),
    /// The Basic credentials were refused.
    Login(LoginError),
    /// The bearer token was refused.
    Token(TokenRejected),
}

/// The result of [`Authenticator::open`].
pub(crate) struct AuthSetup {
    /// The authenticator, or `None` when authentication is off.
    pub authenticator: Option<Arc<Authenticator>>,
    /// The password of an admin created just now, when it was generated
    /// (to be shown once).
    pub generated_password: Option<String>,
}

/// Checks who is calling, when authentication is on: passwords, personal
/// access tokens and the tokens `/token` issues.
pub(crate) struct Authenticator {
    shared: SharedAuth,
    verifier: CredentialVerifier,
    authority: TokenAuthority,
    public_url: Option<String>,
    scheme: &'static str,
    logins: LoginLimits,
    /// Bounds concurrent password hashing (CPU and memory heavy).
    hashing: Semaphore,
}

impl Authenticator {
    /// Reads the users file in `data_dir` and decides whether authentication
    /// is on: as configured, or else when users exist. Turned on over an
    /// empty store, it creates the admin user, with the password from
    /// `SENTINEL_ADMIN_PASSWORD` or a generated one.
    pub(crate) fn open(settings: &Settings) -> Result<AuthSetup, AuthSetupError> {
        let shared = SharedAuth::open(AuthStore::new(&settings.data_dir))?;
        let enabled = settings
            .auth
            .unwrap_or_else(|| !shared.current().users.is_empty());
        if !enabled {
            return Ok(AuthSetup {
                authenticator: None,
                generated_password: None,
            });
        }
        let mut generated_password = None;
        if shared.current().users.is_empty() {
            let password = match std::env::var("SENTINEL_ADMIN_PASSWORD") {
                Ok(password) if !password.is_empty() => password,
                _ => {
                    let password = generate_password()?;
                    generated_password = Some(password.clone());
                    password
                }
            };
            shared
                .update(|state| state.add_user(BOOTSTRAP_ADMIN, &password, Role::Admin, now()))?;
        }
        let key = SigningKey::load_or_create(&settings.data_dir.join(SIGNING_KEY_FILE))?;
        let authority = TokenAuthority::new(
            key,
            settings.service.clone(),
            settings.service.clone(),
            Duration::from_secs(settings.token_ttl),
            REFRESH_TTL,
        );
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let authenticator = Authenticator {
            shared,
            verifier: CredentialVerifier::new()?,
            authority,
            public_url: settings
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            scheme: if settings.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
            logins: LoginLimits::new(settings.failed_logins_per_minute),
            hashing: Semaphore::new(parallelism),
        };
        Ok(AuthSetup {
            authenticator: Some(Arc::new(authenticator)),
            generated_password,
        })
    }

    /// The users, tokens and policies as of now.
    pub(crate) fn state(&self) -> Arc<AuthState> {
        self.shared.current()
    }

    /// The shared state, for changes and for authorisation.
    pub(crate) fn shared(&self) -> &SharedAuth {
        &self.shared
    }

    /// The token issuer.
    pub(crate) fn authority(&self) -> &TokenAuthority {
        &self.authority
    }

    /// Picks up changes another process (the `sentinel-registry user ...`
    /// commands) made to the users file.
    pub(crate) fn reload(&self) {
        if let Err(error) = self.shared.reload_if_changed() {
            tracing::warn!(error = %crate::describe(&error), "could not reload the users file");
        }
    }

    /// Forgets the failed-login state of quiet clients (call now and then).
    pub(crate) fn forget_idle(&self) {
        self.logins.forget_idle();
    }

    /// The base URL clients reach the registry at: the configured public
    /// URL, or this request's `Host` with the listener's scheme.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = crate::host::registry_host(None, headers);
        format!("{}://{host}", self.scheme)
    }

    /// The `WWW-Authenticate` Bearer challenge that sends a refused client
    /// to `/token`, asking for `scope` and naming the `error`, if any.
    pub(crate) fn challenge(
        &self,
        headers: &HeaderMap,
        scope: Option<&str>,
        error: Option<&str>,
    ) -> HeaderValue {
        let mut value = format!(
            "Bearer realm=\"{}/token\",service=\"{}\"",
            self.base_url(headers),
            self.authority.service()
        );
        if let Some(scope) = scope {
            value.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            value.push_str(&format!(",error=\"{error}\""));
        }
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// Checks a password or personal access token for `user`, within the
    /// failed-login limits. A password verified lately is recognised at
    /// once; otherwise it is hashed off the async threads (tens of
    /// milliseconds) by at most one check per core at a time.
    pub(crate) async fn login(
        self: &Arc<Self>,
        user: &str,
        secret: &str,
        client: IpAddr,
    ) -> Result<Principal, LoginError> {
        if !plausible_user_name(user) {
            // No such user can exist: refuse without keeping the name.
            let attempt = self.begin_login(client, None).await?;
            attempt.failed();
            audit::login_failed(&printable(user), client, "no such user name");
            return Err(LoginError::Refused(AuthFailure::BadCredentials));
        }
        // The identity (refresh) token a login saved in place of the
        // password works wherever the password does. One that does not
        // verify is checked as a password below, and fails as one.
        if looks_like_jwt(secret)
            && let Ok(principal) = self.refresh_principal(secret)
            && principal.user == user
        {
            return Ok(principal);
        }
        let is_token = secret.starts_with(sentinel_auth::TOKEN_PREFIX);
        // The fast path reads the state as of the last reload (at most 250 ms
        // old); the checks below look at the users file first.
        if !is_token
            && let Some(principal) =
                self.verifier
                    .verify_remembered(&self.shared.current(), user, secret, now())
        {
            return Ok(principal);
        }
        self.reload();
        // A personal access token's 256-bit secret cannot be guessed, so only
        // the address pays for a wrong one: nobody can lock a user's tokens
        // out by failing logins under their name. Only a password login that
        // succeeds makes its address known for the user.
        let attempt = self
            .begin_login(client, (!is_token).then_some(user))
            .await?;
        let verified = if is_token {
            self.verifier
                .verify_basic(&self.shared.current(), user, secret, now())
        } else {
            let permit = self
                .hashing
                .acquire()
                .await
                .map_err(|_| LoginError::Unavailable)?;
            let authenticator = Arc::clone(self);
            let (name, password) = (user.to_owned(), secret.to_owned());
            let verified = tokio::task::spawn_blocking(move || {
                let state = authenticator.shared.current();
                authenticator
                    .verifier
                    .verify_basic(&state, &name, &password, now())
            })
            .await
            .map_err(|_| LoginError::Unavailable)?;
            drop(permit);
            verified
        };
        match verified {
            Ok(principal) => {
                attempt.succeeded();
                Ok(principal)
            }
            Err(failure) => {
                attempt.failed();
                audit::login_failed(user, client, &failure.to_string());
                Err(LoginError::Refused(failure))
            }
        }
    }

    /// Starts a login attempt within the failed-login limits. While every
    /// failure left is held by attempts still being checked, it waits for
    /// them (they may well succeed) rather than refuse.
    async fn begin_login(
        &self,
        client: IpAddr,
        user: Option<&str>,
    ) -> Result<LoginAttempt<'_>, LoginError> {
        let deadline = tokio::time::Instant::now() + LOGIN_QUEUE_TIMEOUT;
        loop {
            match self.logins.begin_login(client, user) {
                Ok(attempt) => return Ok(attempt),
                Err(Refusal::Limited(wait)) => return Err(LoginError::Limited(wait)),
                Err(Refusal::Busy(wait)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(LoginError::Limited(wait));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Checks a bare personal access token (`Authorization: Bearer sntl_...`
    /// on the management API), within the failed-login limits.
    pub(crate) async fn token_login(
        &self,
        token: &str,
        client: IpAddr,
    ) -> Result<Principal, LoginError> {
        let attempt = self.begin_login(client, None).await?;
        self.reload();
        self.verifier
            .verify_token_text(&self.shared.current(), token, now())
            .map_err(|failure| {
                attempt.failed();
                audit::login_failed("-", client, &failure.to_string());
                LoginError::Refused(failure)
            })
    }

    /// Who sent a `/v2/` request, from its `Authorization` header.
    pub(crate) async fn identify(
        self: &Arc<Self>,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Caller, Unidentified> {
        match credentials(headers) {
            Ok(Credentials::Nothing) => Ok(Caller::Anonymous),
            Ok(Credentials::Basic { user, secret }) => self
                .login(&user, &secret, client)
                .await
                .map(Caller::User)
                .map_err(Unidentified::Login),
            // A bare personal access token works as a bearer token too; one
            // refused is a refused bearer token (`invalid_token`).
            Ok(Credentials::Bearer(token)) if token.starts_with(sentinel_auth::TOKEN_PREFIX) => {
                self.token_login(&token, client)
                    .await
                    .map(Caller::User)
                    .map_err(|error| match error {
                        LoginError::Refused(_) => Unidentified::Token(TokenRejected::Invalid),
                        other => Unidentified::Login(other),
                    })
            }
            Ok(Credentials::Bearer(token)) => self
                .verify_bearer(&token)
                .map(Caller::Token)
                .map_err(Unidentified::Token),
            Err(malformed) => Err(Unidentified::Malformed(malformed)),
        }
    }

    /// Checks a bearer token: signature, expiry, and that its user, the
    /// user's password and the personal access token it came from are all
    /// still current.
    fn verify_bearer(&self, token: &str) -> Result<Arc<AccessClaims>, TokenRejected> {
        if token.len() > MAX_TOKEN_LENGTH {
            // Longer than any token this registry issues.
            return Err(TokenRejected::Invalid);
        }
        let claims = self
            .authority
            .verify_access(token)
            .map_err(|error| match error {
                sentinel_token::TokenError::Expired => TokenRejected::Expired,
                _ => TokenRejected::Invalid,
            })?;
        if !claims.sub.is_empty()
            && !is_current(
                &self.shared.current(),
                &claims.sub,
                claims.r#gen,
                claims.tid.as_deref(),
                now(),
            )
        {
            return Err(TokenRejected::Revoked);
        }
        Ok(claims)
    }

    /// Checks a refresh token: its signature, expiry, and that its user still
    /// has the password it was issued under. A refusal is audited.
    pub(crate) fn verify_refresh(
        &self,
        token: &str,
        client: IpAddr,
    ) -> Result<Principal, TokenRejected> {
        self.refresh_principal(token).inspect_err(|reason| {
            audit::login_failed("-", client, &reason.to_string());
        })
    }

    /// The user a refresh token stands for, if it is one of ours and
    /// current (see [`Authenticator::verify_refresh`]); nothing is audited.
    fn refresh_principal(&self, token: &str) -> Result<Principal, TokenRejected> {
        let claims = self
            .authority
            .verify_refresh(token)
            .map_err(|_| TokenRejected::RefreshInvalid)?;
        let state = self.state();
        let user = state
            .users
            .get(&claims.sub)
            .filter(|_| is_current(&state, &claims.sub, Some(claims.r#gen), None, now()))
            .ok_or(TokenRejected::RefreshRevoked)?;
        Ok(Principal {
            user: claims.sub.clone(),
            role: user.role,
            generation: user.generation,
            token: None,
        })
    }
}

/// Whether `secret` has the shape of a JSON Web Token (three base64url
/// parts, the first a JSON object): the identity token `agent login` and
/// `docker login` keep in place of a password.
pub(crate) fn looks_like_jwt(secret: &str) -> bool {
    secret.starts_with("eyJ")
        && secret.split('.').count() == 3
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The user behind a token's claims, as of `state`.
pub(crate) fn principal_from_claims(state: &AuthState, claims: &AccessClaims) -> Option<Principal> {
    let user = state.users.get(&claims.sub)?;
    let token = match &claims.tid {
        Some(id) => {
            let token = state.tokens.get(id)?;
            Some(TokenRestriction {
                id: id.clone(),
                scope: token.scope.clone(),
            })
        }
        None => None,
    };
    Some(Principal {
        user: claims.sub.clone(),
        role: user.role,
        generation: user.generation,
        token,
    })
}

/// A random password: 24 bytes from the OS, base64url (32 characters).
pub fn generate_password() -> Result<String, AuthSetupError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|error| AuthSetupError::Random(error.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
