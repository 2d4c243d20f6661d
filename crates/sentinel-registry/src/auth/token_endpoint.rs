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
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use sentinel_auth::{AuthState, Principal, is_current, permitted};
use sentinel_oci::ErrorCode;
use sentinel_token::{AccessEntry, Actions, Scope};
use serde_json::json;

use super::credentials::{Presented, presented};
use super::{Gate, audit, now};
use crate::error::ApiError;
use crate::routes::App;

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

/// How the caller proved who they are.
enum Proof {
    /// Nothing: an anonymous token.
    Anonymous,
    /// A password (a refresh token may be issued) or a personal access token.
    Credentials(Principal),
    /// A refresh token from an earlier login.
    Refresh(Principal, String),
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
    let Some(gate) = app.gate.clone() else {
        return ApiError::new(
            ErrorCode::Unsupported,
            "authentication is off on this registry: no token is needed",
        )
        .with_status(axum::http::StatusCode::NOT_FOUND)
        .into_response();
    };
    match issue(&gate, &method, &uri, &headers, &body, peer).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue(
    gate: &Arc<Gate>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    let client = peer.ip();
    let (params, oauth) = match *method {
        Method::GET | Method::HEAD => (Params::parse(uri.query().unwrap_or("").as_bytes()), false),
        Method::POST => (Params::parse(body), true),
        _ => {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                format!("{method} is not supported on /token (use GET or POST)"),
            )
            .with_status(axum::http::StatusCode::METHOD_NOT_ALLOWED));
        }
    };
    let bad_request = |message: String| {
        ApiError::new(ErrorCode::Unsupported, message)
            .with_status(axum::http::StatusCode::BAD_REQUEST)
    };
    let proof = if oauth {
        match params.first("grant_type") {
            Some("password") => {
                let user = params.first("username").unwrap_or_default();
                let password = params.first("password").unwrap_or_default();
                Proof::Credentials(login(gate, user, password, headers, client).await?)
            }
            Some("refresh_token") => {
                let refresh = params.first("refresh_token").unwrap_or_default();
                Proof::Refresh(
                    refresh_login(gate, refresh, headers, client)?,
                    refresh.to_owned(),
                )
            }
            other => {
                return Err(bad_request(format!(
                    "unsupported grant_type {:?}: use password or refresh_token",
                    other.unwrap_or("")
                )));
            }
        }
    } else {
        match presented(headers) {
            Ok(Presented::Nothing) => Proof::Anonymous,
            Ok(Presented::Basic { user, secret }) => {
                Proof::Credentials(login(gate, &user, &secret, headers, client).await?)
            }
            Ok(Presented::Bearer(_)) => {
                return Err(bad_request(
                    "send Basic credentials (or none) to GET /token; refresh tokens go in a POST form"
                        .to_owned(),
                ));
            }
            Err(malformed) => return Err(gate.malformed(headers, &malformed)),
        }
    };
    let principal = match &proof {
        Proof::Anonymous => None,
        Proof::Credentials(principal) | Proof::Refresh(principal, _) => Some(principal),
    };
    if let Some(principal) = principal {
        gate.limits().charge_user(&principal.user)?;
    }

    let scope_values: Vec<String> = params
        .all("scope")
        .iter()
        .flat_map(|value| value.split(' '))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut scopes =
        Scope::parse_all(&scope_values).map_err(|error| bad_request(error.to_string()))?;
    // One entry per resource, so a token's size follows what it grants.
    scopes.sort_by(|a, b| (&a.resource_type, &a.name).cmp(&(&b.resource_type, &b.name)));
    scopes.dedup_by(|later, earlier| {
        let same = later.resource_type == earlier.resource_type && later.name == earlier.name;
        if same {
            earlier.actions.append(&mut later.actions);
        }
        same
    });
    if scopes.len() > MAX_SCOPES {
        return Err(bad_request(format!(
            "{} scopes asked for at once; at most {MAX_SCOPES} are granted per token",
            scopes.len()
        )));
    }
    let state = gate.state();
    let access = grant(&state, principal, &scopes);
    let subject = principal.map_or("", |p| p.user.as_str());
    let issued = gate
        .authority()
        .issue_access(
            subject,
            access,
            principal.and_then(|p| p.token.as_ref().map(|t| t.id.clone())),
            principal.map(|p| p.generation),
        )
        .map_err(|error| ApiError::new(ErrorCode::Unknown, error.to_string()))?;

    let offline = params.first("offline_token") == Some("true")
        || params.first("access_type") == Some("offline");
    let refresh_token = match &proof {
        Proof::Refresh(_, token) => Some(token.clone()),
        // Only a password login earns a refresh token: one from a personal
        // access token would outlive the token's revocation.
        Proof::Credentials(principal) if offline && principal.token.is_none() => Some(
            gate.authority()
                .issue_refresh(&principal.user, principal.generation)
                .map_err(|error| ApiError::new(ErrorCode::Unknown, error.to_string()))?,
        ),
        _ => None,
    };
    if let Some(principal) = principal {
        audit::record("login", &principal.user, client, None, None);
    }

    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": rfc3339(issued.issued_at),
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if oauth {
        body["scope"] = json!(scope_values.join(" "));
    }
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Checks a password or personal access token.
async fn login(
    gate: &Arc<Gate>,
    user: &str,
    secret: &str,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Principal, ApiError> {
    gate.login(user, secret, client)
        .await
        .map_err(|error| error.into_api_error(gate, headers))
}

/// Checks a refresh token: its signature, expiry, and that its user still
/// has the password it was issued under.
fn refresh_login(
    gate: &Gate,
    token: &str,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Principal, ApiError> {
    let refused = |reason: &str| {
        audit::login_failed("-", client, reason);
        gate.challenge(headers, reason, None, Some("invalid_token"))
    };
    let claims = gate
        .authority()
        .verify_refresh(token)
        .map_err(|_| refused("the refresh token is not valid: log in again"))?;
    let state = gate.state();
    let user = state
        .users
        .get(&claims.sub)
        .filter(|_| is_current(&state, &claims.sub, Some(claims.r#gen), None, now()))
        .ok_or_else(|| refused("the refresh token was revoked: log in again"))?;
    Ok(Principal {
        user: claims.sub.clone(),
        role: user.role,
        generation: user.generation,
        token: None,
    })
}

/// What a token may do: for each scope, the actions both asked for and
/// allowed now. The catalog is granted to everyone (its entries are filtered
/// per caller); other resource types are not granted.
fn grant(state: &AuthState, principal: Option<&Principal>, scopes: &[Scope]) -> Vec<AccessEntry> {
    let mut access: Vec<AccessEntry> = Vec::new();
    for scope in scopes {
        let granted = match (scope.resource_type.as_str(), scope.name.as_str()) {
            ("repository", name) if name.parse::<sentinel_oci::RepositoryName>().is_ok() => scope
                .requested_actions()
                .intersection(permitted(state, principal, name)),
            ("registry", "catalog") => Actions::ALL,
            _ => Actions::NONE,
        };
        if granted.is_empty() {
            continue;
        }
        let actions = if scope.resource_type == "registry" {
            vec!["*".to_owned()]
        } else {
            granted.to_wire()
        };
        access.push(AccessEntry {
            resource_type: scope.resource_type.clone(),
            name: scope.name.clone(),
            actions,
        });
    }
    access
}

/// A Unix time as RFC 3339 UTC (`2026-11-22T05:40:00Z`).
fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_325_000), "2026-11-22T05:23:20Z");
    }
}
