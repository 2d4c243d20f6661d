//! Sentinel's management API (`/api/v1/`), as far as a publisher and an
//! administrator need it from the command line: whether the registry has
//! it, a repository's visibility and grants, the server's request rate
//! limits, and any other call as JSON ([`RegistryClient::management_json`]).
//! It authenticates with the credential itself (Basic, or a personal access
//! token as a bearer token), not with tokens from the token service. A
//! refusal is [`ClientError::Denied`] with the registry's one-line reason; a
//! 404 (another registry, or Sentinel without authentication, or no such
//! user) is [`ClientError::Registry`] with status 404, or
//! [`ClientError::NotFound`] from `management_json`.

use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::direct_header;
use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::reference::parse_repository;
use crate::response::error_for_status;
use crate::transport::{Auth, BodySource, Call};

/// The largest management answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Who may pull a repository without a grant, on a Sentinel registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone, signed in or not.
    Public,
    /// Only the owner, publishers, admins and grantees.
    Private,
    /// Like private, and every member of the owning organisation.
    Organisation,
}

impl Visibility {
    /// The name on the wire and on the command line: `public`, `private`, `org`.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Organisation => "org",
        }
    }
}

/// What a grant lets a user do in a repository, on a Sentinel registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pull.
    Read,
    /// Pull, push and delete.
    Write,
    /// Pull, push, delete, and manage the repository's visibility and grants.
    Admin,
}

impl Access {
    /// The name on the wire and on the command line: `read`, `write`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        }
    }
}

/// A repository's visibility and grants, as the management API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySettings {
    /// The repository.
    pub name: String,
    /// `public`, `private` or `organisation`.
    pub visibility: String,
    /// Each granted user's access (`read`, `write`, `admin`), by user name.
    #[serde(default)]
    pub grants: BTreeMap<String, String>,
}

/// One request rate limit of a Sentinel registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests per minute (0: no limit).
    pub requests_per_minute: u32,
    /// Requests a full bucket lets through at once (0: no limit).
    pub burst_size: u32,
}

/// A Sentinel registry's request rate limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// The limit per client address.
    pub per_address: RateLimit,
    /// The limit per signed-in user.
    pub per_user: RateLimit,
    /// `settings` (the server's configuration) or `file` (changed through
    /// the API, kept across restarts).
    pub source: String,
}

/// Which rate limit a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    /// The limit per client address.
    Address,
    /// The limit per signed-in user.
    User,
}

impl RateLimitScope {
    /// The name on the wire and on the command line: `address`, `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitScope::Address => "address",
            RateLimitScope::User => "user",
        }
    }
}

/// A change of a Sentinel registry's rate limits: the fields given replace
/// the current ones, for one limit or (no scope) both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitChange {
    /// The new rate (0: no limit).
    pub requests_per_minute: Option<u32>,
    /// The new burst (0: one second's worth of the rate).
    pub burst_size: Option<u32>,
    /// The limit changed; both when `None`.
    pub scope: Option<RateLimitScope>,
}

/// What a registry says about the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagementApi {
    /// A Sentinel registry with authentication, and the credential is valid
    /// there: it signs in as this user.
    SignedIn {
        /// The user the credential names.
        user: String,
        /// The user's role (`reader`, `publisher`, `admin`), when the registry says.
        role: Option<String>,
        /// The id of the personal access token signed in with, if it was one.
        token: Option<String>,
    },
    /// A Sentinel registry with authentication off: nothing to manage,
    /// every repository is open to everyone.
    AuthenticationOff,
    /// Not a Sentinel registry (no management API answered).
    Absent,
}

#[derive(Deserialize)]
struct WhoAmI {
    user: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<EnvelopeEntry>,
}

#[derive(Deserialize)]
struct EnvelopeEntry {
    code: String,
}

impl RegistryClient {
    /// Asks `GET /api/v1/whoami` whether the registry has Sentinel's
    /// management API and who the credential signs in as. A Sentinel
    /// registry that refuses the credential (or its absence) is
    /// [`ClientError::AuthenticationFailed`].
    pub async fn management_api(&self) -> Result<ManagementApi, ClientError> {
        let url = self.url("api/v1/whoami")?;
        let response = self
            .execute(Call::idempotent(Method::GET, url, self.management_auth()))
            .await?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(error_for_status(self.registry(), response, None).await);
        }
        let body = match self
            .read_body(response, MAX_ANSWER, "the management API's answer")
            .await
        {
            Ok(body) => body,
            Err(error @ ClientError::Connect { .. }) => return Err(error),
            Err(_) => return Ok(ManagementApi::Absent),
        };
        if status == StatusCode::OK {
            return Ok(match serde_json::from_slice::<WhoAmI>(&body) {
                Ok(who) => ManagementApi::SignedIn {
                    user: who.user,
                    role: who.role,
                    token: who.token,
                },
                Err(_) => ManagementApi::Absent,
            });
        }
        // Only Sentinel answers with its management envelope here.
        let code = serde_json::from_slice::<Envelope>(&body)
            .ok()
            .and_then(|envelope| envelope.errors.into_iter().next())
            .map(|entry| entry.code);
        Ok(match (status, code.as_deref()) {
            (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")) => {
                return Err(ClientError::authentication_failed(self.registry()));
            }
            (StatusCode::NOT_FOUND, Some("NOT_FOUND")) => ManagementApi::AuthenticationOff,
            _ => ManagementApi::Absent,
        })
    }

    /// Sets the visibility of `repo` (`PUT /api/v1/repositories/{repo}/visibility`).
    /// A caller who may not administer the repository gets [`ClientError::Denied`].
    pub async fn set_visibility(
        &self,
        repo: &str,
        visibility: Visibility,
    ) -> Result<(), ClientError> {
        let repository = parse_repository(repo)?;
        let url = self.url(&format!("api/v1/repositories/{repository}/visibility"))?;
        let body = serde_json::json!({ "visibility": visibility.as_str() }).to_string();
        let call = Call::idempotent(Method::PUT, url, self.management_auth())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(BodySource::Bytes(Bytes::from(body)));
        let response = self.execute(call).await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(error_for_status(self.registry(), response, None).await)
    }

    /// The visibility and grants of `repo` (`GET /api/v1/repositories/{repo}`).
    pub async fn repository_settings(&self, repo: &str) -> Result<RepositorySettings, ClientError> {
        let repository = parse_repository(repo)?;
        let body = self
            .management_call(Method::GET, &format!("repositories/{repository}"), None)
            .await?;
        self.management_answer(&body)
    }

    /// Grants `user` `access` to `repo`, replacing any grant it had
    /// (`PUT /api/v1/repositories/{repo}/grants/{user}`).
    pub async fn grant(&self, repo: &str, user: &str, access: Access) -> Result<(), ClientError> {
        let repository = parse_repository(repo)?;
        let body = serde_json::json!({ "access": access.as_str() });
        self.management_call(
            Method::PUT,
            &format!("repositories/{repository}/grants/{}", user_segment(user)),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Removes the grant of `user` on `repo`
    /// (`DELETE /api/v1/repositories/{repo}/grants/{user}`).
    pub async fn revoke_grant(&self, repo: &str, user: &str) -> Result<(), ClientError> {
        let repository = parse_repository(repo)?;
        self.management_call(
            Method::DELETE,
            &format!("repositories/{repository}/grants/{}", user_segment(user)),
            None,
        )
        .await
        .map(drop)
    }

    /// The request rate limits in force (`GET /api/v1/settings/rate-limit`,
    /// administrators only).
    pub async fn rate_limits(&self) -> Result<RateLimits, ClientError> {
        let body = self
            .management_call(Method::GET, RATE_LIMIT_PATH, None)
            .await?;
        self.management_answer(&body)
    }

    /// Changes the request rate limits while the registry runs and returns
    /// those now in force (`PUT /api/v1/settings/rate-limit`, administrators only).
    pub async fn set_rate_limits(
        &self,
        change: RateLimitChange,
    ) -> Result<RateLimits, ClientError> {
        let mut body = serde_json::Map::new();
        if let Some(rate) = change.requests_per_minute {
            body.insert("requests_per_minute".into(), rate.into());
        }
        if let Some(burst) = change.burst_size {
            body.insert("burst_size".into(), burst.into());
        }
        if let Some(scope) = change.scope {
            body.insert("per".into(), scope.as_str().into());
        }
        let body = self
            .management_call(Method::PUT, RATE_LIMIT_PATH, Some(body.into()))
            .await?;
        self.management_answer(&body)
    }

    /// Returns to the rate limits of the registry's settings, forgetting
    /// any change (`DELETE /api/v1/settings/rate-limit`, administrators only).
    pub async fn reset_rate_limits(&self) -> Result<RateLimits, ClientError> {
        let body = self
            .management_call(Method::DELETE, RATE_LIMIT_PATH, None)
            .await?;
        self.management_answer(&body)
    }

    /// Sends `method` to `/api/v1/{path}` with the JSON `body`, if any,
    /// and returns the JSON answer (`null` for an empty one). A refusal is
    /// the client error its status and envelope say ([`ClientError::Denied`]
    /// for a caller who may not, [`ClientError::NotFound`] of `what` for 404).
    pub async fn management_json(
        &self,
        method: Method,
        path: &str,
        what: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let url = self.url(&format!("api/v1/{path}"))?;
        let mut call = if method == Method::POST {
            Call::once(method, url, self.management_auth())
        } else {
            Call::idempotent(method, url, self.management_auth())
        };
        if let Some(body) = body {
            call = call
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(BodySource::Bytes(Bytes::from(body.to_string())));
        }
        let response = self.execute(call).await?;
        if !response.status().is_success() {
            return Err(error_for_status(self.registry(), response, Some(what.to_owned())).await);
        }
        let answer = self
            .read_body(response, MAX_ANSWER, "the management API's answer")
            .await?;
        if answer.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|error| {
            ClientError::protocol(
                self.registry(),
                format!("the management API answered with something other than JSON: {error}"),
            )
        })
    }

    /// Sends a management request to `/api/v1/{path}` with `body` as JSON;
    /// the answer's body when the status is a success.
    async fn management_call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(&format!("api/v1/{path}"))?;
        let mut call = Call::idempotent(method, url, self.management_auth())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = body {
            call = call
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(BodySource::Bytes(Bytes::from(body.to_string())));
        }
        let response = self.execute(call).await?;
        if !response.status().is_success() {
            return Err(error_for_status(self.registry(), response, None).await);
        }
        self.read_body(response, MAX_ANSWER, "the management API's answer")
            .await
    }

    /// `body` as the JSON answer it should be.
    fn management_answer<T: for<'de> Deserialize<'de>>(
        &self,
        body: &[u8],
    ) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|error| ClientError::Protocol {
            registry: self.registry().to_owned(),
            message: format!("the management API's answer is not what Sentinel sends: {error}"),
        })
    }

    /// The credential as Sentinel's own APIs (management, package search)
    /// take it, or nothing.
    pub(crate) fn management_auth(&self) -> Auth<'static> {
        match self.inner.auth.credential() {
            Some(credential) => Auth::Header(direct_header(credential)),
            None => Auth::None,
        }
    }
}

/// The path of the rate limits, under `/api/v1/`.
const RATE_LIMIT_PATH: &str = "settings/rate-limit";

/// `user` as one path segment: valid user names (one repository path
/// component) go as they are; anything else is percent-encoded so it cannot
/// name another path, and the registry refuses it as an unknown user.
fn user_segment(user: &str) -> String {
    // A URL resolves `.` and `..` away instead of encoding them.
    if user == "." || user == ".." {
        return "%2E".repeat(user.len());
    }
    let mut url = url::Url::parse("http://segment.invalid/").expect("a valid URL constant");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .push(user);
    url.path().trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        assert_eq!(Visibility::Public.as_str(), "public");
        assert_eq!(Visibility::Private.as_str(), "private");
        assert_eq!(Visibility::Organisation.as_str(), "org");
        assert_eq!(Access::Admin.as_str(), "admin");
        assert_eq!(RateLimitScope::User.as_str(), "user");
    }

    #[test]
    fn user_names_are_path_segments() {
        assert_eq!(user_segment("alice.b-2"), "alice.b-2");
        assert_eq!(user_segment("a/b"), "a%2Fb");
        assert_eq!(user_segment("a?b"), "a%3Fb");
        assert_eq!(user_segment(".."), "%2E%2E");
    }
}
