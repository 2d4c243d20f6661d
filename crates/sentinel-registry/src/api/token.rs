//! `GET /token` and `POST /token`: the Docker token flow.
//!
//! GET takes Basic credentials (a password or personal access token) or none
//! (an anonymous token), and `scope`, `service`, `offline_token` in the query.
//! POST is the OAuth2 form docker uses after `docker login`:
//! `grant_type=password` (with `username`, `password`) or
//! `grant_type=refresh_token` (with `refresh_token`), and `scope`, `service`,
//! `access_type=offline`. Either answers with a JWT whose `access` claim
//! grants, per scope, the actions both asked for and allowed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sentinel_auth::Principal;
use sentinel_oci::ErrorCode;
use sentinel_token::{IssuedToken, Scope};
use serde_json::json;

use super::App;
use super::error::{self, ApiError};
use crate::auth::authorization::grant;
use crate::auth::{Authenticator, Credentials, audit, credentials};
use crate::clock::rfc3339;

/// The most resources one token may name (docker asks for two or three).
const MAX_SCOPES: usize = 32;

/// The form or query of a token request: every value of each key.
struct Params(HashMap<String, Vec<String>>);

impl Params {
    fn parse(text: &[u8]) -> Params {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(text) {
            map.entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Params(map)
    }

    fn first(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

/// A token request, as read from the query (GET) or form (POST).
struct TokenRequest {
    /// Whether it is the OAuth2 form (POST), which echoes the scope.
    oauth: bool,
    /// What the caller presents: nothing (an anonymous token), a user name
    /// and a password or personal access token, or (in a POST form only)
    /// a refresh token as the bearer.
    credentials: Credentials,
    /// The `scope` values, split at spaces.
    scope_values: Vec<String>,
    /// Whether a refresh token is asked for.
    offline: bool,
}

/// `400` with the OCI envelope.
fn bad_request(message: String) -> ApiError {
    ApiError::new(ErrorCode::Unsupported, message).with_status(StatusCode::BAD_REQUEST)
}

/// Serves `/token`.
pub(crate) async fn token(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(auth) = app.auth.clone() else {
        return ApiError::new(
            ErrorCode::Unsupported,
            "authentication is off on this registry: no token is needed",
        )
        .with_status(StatusCode::NOT_FOUND)
        .into_response();
    };
    match issue(&app, &auth, &method, &uri, &headers, &body, peer.ip()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Parses the request, authenticates its caller, merges the scopes asked
/// for, grants what the caller may have of them and renders the token.
async fn issue(
    app: &App,
    auth: &Arc<Authenticator>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    client: IpAddr,
) -> Result<Response, ApiError> {
    let request = parse(auth, method, uri, headers, body)?;
    let principal = authenticate(auth, &request.credentials, headers, client).await?;
    if let Some(principal) = &principal {
        app.limits.charge_user(&principal.user)?;
    }
    let scopes = Scope::merge(
        Scope::parse_all(&request.scope_values).map_err(|error| bad_request(error.to_string()))?,
    );
    if scopes.len() > MAX_SCOPES {
        return Err(bad_request(format!(
            "{} scopes asked for at once; at most {MAX_SCOPES} are granted per token",
            scopes.len()
        )));
    }
    let principal = principal.as_ref();
    let access = grant(&auth.state(), principal, &scopes);
    let issued = auth
        .authority()
        .issue_access(
            principal.map_or("", |p| p.user.as_str()),
            access,
            principal.and_then(|p| p.token.as_ref().map(|t| t.id.clone())),
            principal.map(|p| p.generation),
        )
        .map_err(|error| ApiError::new(ErrorCode::Unknown, error.to_string()))?;
    let refresh_token = match (&request.credentials, principal) {
        // A refresh token is handed back as it is; a personal access token
        // is not one.
        (Credentials::Bearer(token), _) if !token.starts_with(sentinel_auth::TOKEN_PREFIX) => {
            Some(token.clone())
        }
        // Only a password login earns a refresh token: one from a personal
        // access token would outlive the token's revocation.
        (Credentials::Basic { .. }, Some(principal))
            if request.offline && principal.token.is_none() =>
        {
            Some(
                auth.authority()
                    .issue_refresh(&principal.user, principal.generation)
                    .map_err(|error| ApiError::new(ErrorCode::Unknown, error.to_string()))?,
            )
        }
        _ => None,
    };
    if let Some(principal) = principal {
        audit::record("login", &principal.user, client, None, None);
    }
    Ok(render(&request, &issued, refresh_token))
}

/// Reads a token request: a GET's query and `Authorization` header, or a
/// POST's OAuth2 form.
fn parse(
    auth: &Authenticator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenRequest, ApiError> {
    let (params, oauth) = match *method {
        Method::GET | Method::HEAD => (Params::parse(uri.query().unwrap_or("").as_bytes()), false),
        Method::POST => (Params::parse(body), true),
        _ => {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                format!("{method} is not supported on /token (use GET or POST)"),
            )
            .with_status(StatusCode::METHOD_NOT_ALLOWED));
        }
    };
    let credentials = if oauth {
        match params.first("grant_type") {
            Some("password") => Credentials::Basic {
                user: params.first("username").unwrap_or_default().to_owned(),
                secret: params.first("password").unwrap_or_default().to_owned(),
            },
            Some("refresh_token") => {
                Credentials::Bearer(params.first("refresh_token").unwrap_or_default().to_owned())
            }
            other => {
                return Err(bad_request(format!(
                    "unsupported grant_type {:?}: use password or refresh_token",
                    other.unwrap_or("")
                )));
            }
        }
    } else {
        match credentials(headers) {
            // A bare personal access token stands for its user.
            Ok(Credentials::Bearer(token)) if token.starts_with(sentinel_auth::TOKEN_PREFIX) => {
                Credentials::Bearer(token)
            }
            Ok(Credentials::Bearer(_)) => {
                return Err(bad_request(
                    "send Basic credentials, a personal access token (or nothing) to GET /token; refresh tokens go in a POST form"
                        .to_owned(),
                ));
            }
            Ok(credentials) => credentials,
            Err(malformed) => return Err(error::malformed(auth, headers, &malformed)),
        }
    };
    let scope_values = params
        .all("scope")
        .iter()
        .flat_map(|value| value.split(' '))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let offline = params.first("offline_token") == Some("true")
        || params.first("access_type") == Some("offline");
    Ok(TokenRequest {
        oauth,
        credentials,
        scope_values,
        offline,
    })
}

/// Checks what the caller presents: `None` for an anonymous token.
async fn authenticate(
    auth: &Arc<Authenticator>,
    credentials: &Credentials,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Option<Principal>, ApiError> {
    match credentials {
        Credentials::Nothing => Ok(None),
        Credentials::Basic { user, secret } => auth
            .login(user, secret, client)
            .await
            .map(Some)
            .map_err(|error| error::login_refused(auth, headers, error)),
        Credentials::Bearer(token) if token.starts_with(sentinel_auth::TOKEN_PREFIX) => auth
            .token_login(token, client)
            .await
            .map(Some)
            .map_err(|error| error::login_refused(auth, headers, error)),
        Credentials::Bearer(refresh) => {
            auth.verify_refresh(refresh, client)
                .map(Some)
                .map_err(|rejected| {
                    error::challenge(
                        auth,
                        headers,
                        &rejected.to_string(),
                        None,
                        Some("invalid_token"),
                    )
                })
        }
    }
}

/// The token response: the token (under both names docker and OAuth2
/// clients read), its lifetime, and the refresh token if one was earned.
fn render(request: &TokenRequest, issued: &IssuedToken, refresh_token: Option<String>) -> Response {
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": rfc3339(issued.issued_at),
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if request.oauth {
        body["scope"] = json!(request.scope_values.join(" "));
    }
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
