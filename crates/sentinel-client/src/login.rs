//! Checking credentials (`agent login`): the registry's challenge decides how,
//! and an OAuth2 password grant may yield an identity token worth keeping.

use std::time::SystemTime;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use sentinel_credentials::Credential;

use crate::auth::{self, Offered, TokenService};
use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::response::error_for_status;
use crate::scope::Scopes;
use crate::token::{MAX_TOKEN_RESPONSE, parse_token_response};
use crate::transport::{Auth, CLIENT_ID, Call, form_post};

/// The most of a refused password grant's body read to tell why it was refused.
const MAX_GRANT_ERROR: u64 = 64 * 1024;

/// What a successful login check yields.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginOutcome {
    /// A refresh token the registry issued for the password; keep it in place of
    /// the password (as a [`Credential::IdentityToken`]).
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOutcome")
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The answer to an OAuth2 password grant.
enum GrantOutcome {
    /// A token to verify with, and perhaps a refresh token to keep.
    Granted {
        token: String,
        refresh_token: Option<String>,
    },
    /// The token service does not do password grants: use the GET flow.
    Unsupported,
}

impl RegistryClient {
    /// Verifies the client's credential against the registry: `GET /v2/`, then
    /// the flow its challenge names. With a username and password on a token
    /// registry, tries the OAuth2 password grant first (falling back to a
    /// token `GET` with Basic); a refresh token it returns is handed back.
    pub async fn check_login(&self) -> Result<LoginOutcome, ClientError> {
        let registry = self.registry();
        let url = self.url("v2/")?;
        let response = self
            .execute(Call::idempotent(Method::GET, url, Auth::None))
            .await?;
        match response.status() {
            StatusCode::OK => return Ok(LoginOutcome::default()),
            StatusCode::UNAUTHORIZED => {}
            _ => return Err(error_for_status(registry, response, None).await),
        }
        let offered = Offered::read(response.headers());
        let credential = self
            .inner
            .auth
            .credential()
            .ok_or_else(|| ClientError::authentication_failed(registry))?;
        match (offered.bearer, credential) {
            (Some(_), Credential::Bearer { token }) => {
                self.verify_base(auth::bearer_header(token)).await?;
                Ok(LoginOutcome::default())
            }
            (Some((service, _)), Credential::Basic { username, password }) => {
                let (token, identity_token) =
                    match self.password_grant(&service, username, password).await? {
                        GrantOutcome::Granted {
                            token,
                            refresh_token,
                        } => (token, refresh_token),
                        GrantOutcome::Unsupported => (
                            self.fetch_token(&service, &Scopes::none()).await?.token,
                            None,
                        ),
                    };
                self.verify_base(auth::bearer_header(&token)).await?;
                Ok(LoginOutcome { identity_token })
            }
            (Some((service, _)), Credential::IdentityToken { .. }) => {
                let issued = self.fetch_token(&service, &Scopes::none()).await?;
                self.verify_base(auth::bearer_header(&issued.token)).await?;
                Ok(LoginOutcome {
                    identity_token: issued.refresh_token,
                })
            }
            (None, credential) if offered.basic => {
                self.verify_base(auth::direct_header(credential)).await?;
                Ok(LoginOutcome::default())
            }
            (None, _) => Err(ClientError::protocol(
                registry,
                "it answered 401 without a Basic or Bearer challenge",
            )),
        }
    }

    /// `GET /v2/` with `authorization`: anything but success is a failed login.
    async fn verify_base(&self, authorization: HeaderValue) -> Result<(), ClientError> {
        let registry = self.registry();
        let url = self.url("v2/")?;
        let response = self
            .execute(Call::idempotent(
                Method::GET,
                url,
                Auth::Header(authorization),
            ))
            .await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(ClientError::authentication_failed(registry))
            }
            _ => Err(error_for_status(registry, response, None).await),
        }
    }

    /// The OAuth2 password grant, asking for a refresh token (`access_type=offline`).
    async fn password_grant(
        &self,
        service: &TokenService,
        username: &str,
        password: &str,
    ) -> Result<GrantOutcome, ClientError> {
        let registry = self.registry();
        if service.realm.scheme() == "http" && self.inner.base.scheme() == "https" {
            return Err(ClientError::protocol(
                registry,
                "its token service is plain HTTP; refusing to send credentials there",
            ));
        }
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("username", username.to_owned()),
            ("password", password.to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("access_type", "offline".to_owned()),
        ];
        if let Some(name) = &service.service {
            form.push(("service", name.clone()));
        }
        let response = self
            .execute(form_post(service.realm.clone(), &form))
            .await?;
        match response.status() {
            StatusCode::OK => {
                let body = self
                    .read_body(response, MAX_TOKEN_RESPONSE, "the token service's answer")
                    .await?;
                let issued = parse_token_response(&body, SystemTime::now())
                    .map_err(|message| ClientError::protocol(registry, message))?;
                Ok(GrantOutcome::Granted {
                    token: issued.token,
                    refresh_token: issued.refresh_token,
                })
            }
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(GrantOutcome::Unsupported),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(ClientError::authentication_failed(registry))
            }
            StatusCode::BAD_REQUEST => {
                let body = self
                    .read_body(response, MAX_GRANT_ERROR, "the token service's answer")
                    .await
                    .unwrap_or_default();
                let body = String::from_utf8_lossy(&body);
                if body.contains("invalid_grant") || body.contains("invalid_client") {
                    Err(ClientError::authentication_failed(registry))
                } else {
                    // `unsupported_grant_type` and other refusals of the form: the GET flow decides.
                    Ok(GrantOutcome::Unsupported)
                }
            }
            _ => Err(error_for_status(registry, response, None).await),
        }
    }
}
