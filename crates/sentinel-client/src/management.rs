//! Sentinel's management API (`/api/v1/`), as far as a publisher needs it:
//! whether the registry has it, and setting a repository's visibility. It
//! authenticates with the credential itself (Basic, or a personal access
//! token as a bearer token), not with tokens from the token service.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

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

    /// The credential as Sentinel's own APIs (management, package search)
    /// take it, or nothing.
    pub(crate) fn management_auth(&self) -> Auth<'static> {
        match self.inner.auth.credential() {
            Some(credential) => Auth::Header(direct_header(credential)),
            None => Auth::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        assert_eq!(Visibility::Public.as_str(), "public");
        assert_eq!(Visibility::Private.as_str(), "private");
        assert_eq!(Visibility::Organisation.as_str(), "org");
    }
}
