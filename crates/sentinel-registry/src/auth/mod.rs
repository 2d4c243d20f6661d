//! Who is asking and what they may do: authentication of every request,
//! the token endpoint, the management API, rate limits and the audit trail.
//!
//! With authentication off ([`Gate`] absent), every request is admitted as
//! [`Caller::Open`], as before users existed. With it on, a request carries
//! Basic credentials (a password or personal access token), a bearer token
//! from `/token`, or nothing; it is admitted when what it presents allows the
//! action its endpoint needs, and otherwise answered with a challenge (`401`)
//! or `403 DENIED`. The answer never depends on whether the repository exists.

pub(crate) mod api;
pub(crate) mod audit;
mod credentials;
mod limits;
pub(crate) mod token_endpoint;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, Method, header};
use sentinel_auth::{
    AuthFailure, AuthState, AuthStore, CredentialVerifier, Principal, Role, SharedAuth,
    TokenRestriction, is_current, permitted,
};
use sentinel_oci::ErrorCode;
use sentinel_token::{AccessClaims, Actions, SigningKey, TokenAuthority};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::routes::path::Endpoint;
use crate::settings::Settings;
use credentials::{MalformedAuthorization, Presented, presented};
pub(crate) use limits::{Limits, limit_addresses};

/// How long a refresh token (docker's identity token) stays valid.
const REFRESH_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// The user created on an empty store when authentication is turned on.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// The longest bearer token looked at: a token for the most scopes
/// `/token` grants, with the longest names, stays well below it.
const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// How long a login waits for other attempts from the same address or for
/// the same name to be checked before it is refused as limited.
const LOGIN_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The file holding the token signing key, in the data directory.
const SIGNING_KEY_FILE: &str = "token-signing-key.pem";

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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

/// The result of [`Gate::open`].
pub(crate) struct Opened {
    /// The gate, or `None` when authentication is off.
    pub gate: Option<Arc<Gate>>,
    /// The password of an admin created just now, when it was generated
    /// (to be shown once).
    pub generated_password: Option<String>,
}

/// The identity behind a request.
#[derive(Clone)]
pub(crate) enum Caller {
    /// Authentication is off: everything is allowed.
    Open,
    /// No credentials at all.
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
            Caller::Open | Caller::Anonymous => "",
            Caller::Token(claims) => &claims.sub,
            Caller::User(principal) => &principal.user,
        }
    }
}

/// What an endpoint needs from its caller.
enum Requirement<'a> {
    /// Any valid credentials or token (the `/v2/` check, unsupported methods).
    SignedIn,
    /// Access to the catalog (its entries are then filtered one by one).
    Catalog,
    /// These actions on this repository.
    Repository(&'a str, Actions),
}

fn requirement<'a>(endpoint: &Endpoint<'a>, method: &Method) -> Requirement<'a> {
    let reading = matches!(*method, Method::GET | Method::HEAD);
    match endpoint {
        Endpoint::Base => Requirement::SignedIn,
        Endpoint::Catalog => Requirement::Catalog,
        Endpoint::Tags(name) | Endpoint::Referrers(name, _) => {
            Requirement::Repository(name, Actions::PULL)
        }
        Endpoint::Manifest(name, _) | Endpoint::Blob(name, _) => match *method {
            _ if reading => Requirement::Repository(name, Actions::PULL),
            Method::DELETE => Requirement::Repository(name, Actions::DELETE),
            _ => Requirement::Repository(name, Actions::PULL_PUSH),
        },
        Endpoint::Uploads(name) | Endpoint::Upload(name, _) => {
            Requirement::Repository(name, Actions::PULL_PUSH)
        }
    }
}

/// Authentication and authorisation, when they are on.
pub(crate) struct Gate {
    shared: SharedAuth,
    verifier: CredentialVerifier,
    authority: TokenAuthority,
    public_url: Option<String>,
    scheme: &'static str,
    limits: Arc<Limits>,
    /// Bounds concurrent password hashing (CPU and memory heavy).
    hashing: Semaphore,
}

impl Gate {
    /// Reads the users file in `data_dir` and decides whether authentication
    /// is on: as configured, or else when users exist. Turned on over an
    /// empty store, it creates the admin user, with the password from
    /// `SENTINEL_ADMIN_PASSWORD` or a generated one.
    pub(crate) fn open(settings: &Settings, limits: Arc<Limits>) -> Result<Opened, AuthSetupError> {
        let shared = SharedAuth::open(AuthStore::new(&settings.data_dir))?;
        let enabled = settings
            .auth
            .unwrap_or_else(|| !shared.current().users.is_empty());
        if !enabled {
            return Ok(Opened {
                gate: None,
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
        let gate = Gate {
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
            limits,
            hashing: Semaphore::new(parallelism),
        };
        Ok(Opened {
            gate: Some(Arc::new(gate)),
            generated_password,
        })
    }

    /// The users, tokens and policies as of now.
    pub(crate) fn state(&self) -> Arc<AuthState> {
        self.shared.current()
    }

    /// The shared state, for changes.
    pub(crate) fn shared(&self) -> &SharedAuth {
        &self.shared
    }

    /// The token issuer.
    pub(crate) fn authority(&self) -> &TokenAuthority {
        &self.authority
    }

    /// The rate limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Picks up changes another process (the `sentinel-registry user ...`
    /// commands) made to the users file.
    pub(crate) fn reload(&self) {
        if let Err(error) = self.shared.reload_if_changed() {
            tracing::warn!(error = %crate::error::describe(&error), "could not reload the users file");
        }
    }

    /// The base URL clients reach the registry at: the configured public
    /// URL, or this request's `Host` with the listener's scheme.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{}://{host}", self.scheme)
    }

    /// A `401 UNAUTHORIZED` with a Bearer challenge.
    pub(crate) fn challenge(
        &self,
        headers: &HeaderMap,
        message: &str,
        scope: Option<&str>,
        error: Option<&str>,
    ) -> ApiError {
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
        let value =
            HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        ApiError::new(ErrorCode::Unauthorized, message).with_header(header::WWW_AUTHENTICATE, value)
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
            let gate = Arc::clone(self);
            let (name, password) = (user.to_owned(), secret.to_owned());
            let verified = tokio::task::spawn_blocking(move || {
                let state = gate.shared.current();
                gate.verifier.verify_basic(&state, &name, &password, now())
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
    ) -> Result<limits::LoginAttempt<'_>, LoginError> {
        let deadline = tokio::time::Instant::now() + LOGIN_QUEUE_TIMEOUT;
        loop {
            match self.limits.begin_login(client, user) {
                Ok(attempt) => return Ok(attempt),
                Err(limits::Refusal::Limited(error)) => return Err(LoginError::Limited(error)),
                Err(limits::Refusal::Busy(error)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(LoginError::Limited(error));
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

    /// Who sent a `/v2/` request.
    async fn authenticate(
        self: &Arc<Self>,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Caller, ApiError> {
        match presented(headers) {
            Ok(Presented::Nothing) => Ok(Caller::Anonymous),
            Ok(Presented::Basic { user, secret }) => match self.login(&user, &secret, client).await
            {
                Ok(principal) => Ok(Caller::User(principal)),
                Err(error) => Err(error.into_api_error(self, headers)),
            },
            Ok(Presented::Bearer(token)) => self.bearer(&token, headers).map(Caller::Token),
            Err(malformed) => Err(self.malformed(headers, &malformed)),
        }
    }

    fn malformed(&self, headers: &HeaderMap, malformed: &MalformedAuthorization) -> ApiError {
        self.challenge(
            headers,
            &malformed.to_string(),
            None,
            Some("invalid_request"),
        )
    }

    /// Checks a bearer token: signature, expiry, and that its user, the
    /// user's password and the personal access token it came from are all
    /// still current.
    fn bearer(&self, token: &str, headers: &HeaderMap) -> Result<Arc<AccessClaims>, ApiError> {
        let invalid = |message: &str| self.challenge(headers, message, None, Some("invalid_token"));
        if token.len() > MAX_TOKEN_LENGTH {
            // Longer than any token this registry issues.
            return Err(invalid("the token is not valid"));
        }
        let claims = self
            .authority
            .verify_access(token)
            .map_err(|error| match error {
                sentinel_token::TokenError::Expired => invalid("the token has expired"),
                _ => invalid("the token is not valid"),
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
            return Err(invalid(
                "the token was revoked: its user, password or access token has changed",
            ));
        }
        Ok(claims)
    }

    /// Authenticates a `/v2/` request and checks that it may do what its
    /// endpoint does.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        method: &Method,
        headers: &HeaderMap,
        endpoint: &Endpoint<'_>,
        client: IpAddr,
    ) -> Result<Caller, ApiError> {
        let caller = self.authenticate(headers, client).await?;
        if !caller.user().is_empty() {
            self.limits.charge_user(caller.user())?;
        }
        match requirement(endpoint, method) {
            Requirement::SignedIn => match caller {
                Caller::Anonymous => {
                    Err(self.challenge(headers, "authentication required", None, None))
                }
                _ => Ok(caller),
            },
            Requirement::Catalog => {
                const SCOPE: &str = "registry:catalog:*";
                match &caller {
                    Caller::Anonymous => {
                        Err(self.challenge(headers, "authentication required", Some(SCOPE), None))
                    }
                    Caller::Token(claims)
                        if claims.actions_on("registry", "catalog").is_empty() =>
                    {
                        Err(self.challenge(
                            headers,
                            "the token does not cover the catalog",
                            Some(SCOPE),
                            Some("insufficient_scope"),
                        ))
                    }
                    _ => Ok(caller),
                }
            }
            Requirement::Repository(name, needed) => {
                self.authorize(&caller, name, needed, headers)?;
                Ok(caller)
            }
        }
    }

    /// Checks that `caller` may do `needed` on `repository`. Refusals are
    /// the same whether or not the repository exists.
    fn authorize(
        &self,
        caller: &Caller,
        repository: &str,
        needed: Actions,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let scope = || format!("repository:{repository}:{needed}");
        let granted = match caller {
            Caller::Open => return Ok(()),
            Caller::Anonymous => {
                return Err(self.challenge(
                    headers,
                    "authentication required",
                    Some(&scope()),
                    None,
                ));
            }
            // The hot path: a hash lookup already done, a scan of the claim.
            Caller::Token(claims) => claims.actions_on("repository", repository),
            Caller::User(principal) => {
                permitted(&self.shared.current(), Some(principal), repository)
            }
        };
        if granted.intersection(needed) == needed {
            return Ok(());
        }
        let state = self.shared.current();
        let principal = self.principal_of(&state, caller);
        let allowed = permitted(&state, principal.as_ref(), repository);
        if matches!(caller, Caller::Token(_))
            && (principal.is_none() || allowed.intersection(needed) == needed)
        {
            // A new token would help: the caller may do this, or is anonymous
            // and may sign in.
            return Err(self.challenge(
                headers,
                "the token does not cover this request",
                Some(&scope()),
                Some("insufficient_scope"),
            ));
        }
        Err(ApiError::new(
            ErrorCode::Denied,
            format!("requested access to {repository} is denied (needs {needed})"),
        ))
    }

    /// The principal behind a caller, as of `state` (a token's user with
    /// their current role and the restriction of the access token it came
    /// from).
    fn principal_of(&self, state: &AuthState, caller: &Caller) -> Option<Principal> {
        match caller {
            Caller::Open | Caller::Anonymous => None,
            Caller::User(principal) => Some(principal.clone()),
            Caller::Token(claims) => principal_from_claims(state, claims),
        }
    }

    /// Whether `caller` may see `repository` now (catalog filtering).
    pub(crate) fn can_see(&self, caller: &Caller, repository: &str) -> bool {
        if matches!(caller, Caller::Open) {
            return true;
        }
        let state = self.shared.current();
        let principal = self.principal_of(&state, caller);
        permitted(&state, principal.as_ref(), repository).contains(sentinel_token::Action::Pull)
    }

    /// Whether the request itself may pull from `repository` (a mount's
    /// source): a token must cover it, Basic credentials must allow it.
    pub(crate) fn may_pull(&self, caller: &Caller, repository: &str) -> bool {
        let granted = match caller {
            Caller::Open => Actions::ALL,
            Caller::Anonymous => Actions::NONE,
            Caller::Token(claims) => claims.actions_on("repository", repository),
            Caller::User(principal) => {
                permitted(&self.shared.current(), Some(principal), repository)
            }
        };
        granted.contains(sentinel_token::Action::Pull)
    }
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

/// Why a login was refused.
#[derive(Debug)]
pub(crate) enum LoginError {
    /// Too many failures lately.
    Limited(ApiError),
    /// Wrong credentials, an expired or revoked token.
    Refused(AuthFailure),
    /// The check could not run (shutting down).
    Unavailable,
}

impl LoginError {
    /// The response to send.
    pub(crate) fn into_api_error(self, gate: &Gate, headers: &HeaderMap) -> ApiError {
        match self {
            LoginError::Limited(error) => error,
            LoginError::Refused(failure) => {
                gate.challenge(headers, &failure.to_string(), None, None)
            }
            LoginError::Unavailable => {
                ApiError::new(ErrorCode::Unknown, "the login could not be checked")
            }
        }
    }
}

/// A random password: 24 bytes from the OS, base64url (32 characters).
pub fn generate_password() -> Result<String, AuthSetupError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|error| AuthSetupError::Random(error.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
