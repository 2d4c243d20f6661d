//! The package API under `/v1/packages/`: search, versions, one version's
//! entry and file, publishing, deleting, deprecating, dependents and
//! popularity, over the package catalogue.
//!
//! It authenticates as `/v2/` does (bearer tokens, Basic, personal access
//! tokens) and answers only with what the caller may pull: a search lists
//! only visible packages, and a package's own endpoints need pull access (an
//! anonymous caller may read a public package without a token). Package
//! names are repository paths and may contain `/`, so paths are read from
//! the right. Errors are the usual envelope; a request that is malformed is
//! `400 INVALID`, an unknown package or version `404 NOT_FOUND`.
//!
//! This module reads the path and admits the caller; the handlers are in
//! `search` (search, popular) and `versions` (everything about one
//! package, and publishing).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use semver::Version;
use sentinel_catalogue::{Dependent, PackageSummary, PackageVersions, SearchQuery, Sort};
use sentinel_oci::{Reference, RepositoryName};
use sentinel_package::PackageKind;
use sentinel_token::Actions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::{ApiError, ManagementCode};
use super::oci::{self, Request, header_value};
use crate::auth::authorization::Requirement;
use crate::auth::{Caller, audit};
use crate::clock::rfc3339;
use crate::service::{PublishTarget, RegistryError, SignatureEntry, VersionChoice};

mod answers;
mod search;
mod versions;

pub(crate) use answers::Answers;
pub(crate) use search::{cursor_at, read_search, signed_matches};

use search::{popular, search};
use versions::{delete, dependents, deprecate, download, info, publish, versions};

/// The longest search text accepted, in bytes.
const MAX_QUERY_BYTES: usize = 1024;
/// The longest filter value accepted, in bytes.
const MAX_FILTER_BYTES: usize = 256;
/// Results per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;
/// The most results per page.
const MAX_LIMIT: usize = 100;
/// The furthest a cursor may reach into a result list.
const MAX_OFFSET: usize = 100_000;
/// The largest deprecation body read.
const MAX_DEPRECATION_BODY: usize = 16 * 1024;

/// An endpoint of the package API.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint<'a> {
    Search,
    Popular,
    Publish,
    Versions(&'a str),
    Dependents(&'a str),
    Info(&'a str, String),
    Deprecate(&'a str, String),
    Version(&'a str, String),
}

/// Reads the path after `/v1/packages/`, from the right.
fn parse(rest: &str) -> Option<Endpoint<'_>> {
    match rest {
        "search" => return Some(Endpoint::Search),
        "popular" => return Some(Endpoint::Popular),
        "publish" => return Some(Endpoint::Publish),
        _ => {}
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (head, last) = rest.rsplit_once('/')?;
    if head.is_empty() || last.is_empty() {
        return None;
    }
    Some(match last {
        "versions" => Endpoint::Versions(head),
        "dependents" => Endpoint::Dependents(head),
        "info" | "deprecate" => {
            let (name, version) = head.rsplit_once('/')?;
            if name.is_empty() || version.is_empty() {
                return None;
            }
            if last == "info" {
                Endpoint::Info(name, decode(version))
            } else {
                Endpoint::Deprecate(name, decode(version))
            }
        }
        version => Endpoint::Version(head, decode(version)),
    })
}

/// The kind of endpoint `rest` (the path after `/v1/packages/`) names, for
/// the metrics.
pub(crate) fn endpoint_kind(rest: &str) -> crate::metrics::Endpoint {
    use crate::metrics::Endpoint as Kind;
    match parse(rest) {
        Some(Endpoint::Search) => Kind::search,
        Some(Endpoint::Popular) => Kind::popular,
        Some(Endpoint::Publish) => Kind::publish,
        Some(Endpoint::Versions(_)) => Kind::versions,
        Some(Endpoint::Dependents(_)) => Kind::dependents,
        Some(Endpoint::Info(..)) => Kind::info,
        Some(Endpoint::Deprecate(..)) => Kind::deprecate,
        Some(Endpoint::Version(..)) => Kind::version,
        None => Kind::unknown,
    }
}

/// `400 INVALID` with `message`.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::Invalid, message)
}

/// `404 NOT_FOUND` with `message`.
fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::NotFound, message)
}

/// Routes every `/v1/packages/` request.
pub(crate) async fn dispatch(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (head, body) = request.into_parts();
    let request = Request::new(head, peer, app.auth.clone());
    match admit_and_route(&app, request, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// What a request needs from its caller; `None` for what anyone may ask.
fn requirement<'a>(endpoint: &Endpoint<'a>, method: &Method) -> Option<Requirement<'a>> {
    match (endpoint, method) {
        (Endpoint::Search | Endpoint::Popular, _) => None,
        (Endpoint::Publish, _) => Some(Requirement::SignedIn),
        (Endpoint::Version(name, _), &Method::DELETE) => {
            Some(Requirement::Repository(name, Actions::DELETE))
        }
        (Endpoint::Deprecate(name, _), _) => {
            Some(Requirement::Repository(name, Actions::PULL_PUSH))
        }
        (
            Endpoint::Versions(name)
            | Endpoint::Dependents(name)
            | Endpoint::Info(name, _)
            | Endpoint::Version(name, _),
            _,
        ) => Some(Requirement::Repository(name, Actions::PULL)),
    }
}

async fn admit_and_route(
    app: &App,
    mut request: Request,
    body: Body,
) -> Result<Response, ApiError> {
    let path = request.uri.path().to_owned();
    let rest = path.strip_prefix("/v1/packages/").unwrap_or("");
    let Some(endpoint) = parse(rest) else {
        return Err(not_found(format!("no such endpoint: {path}")));
    };
    if let Some(auth) = &app.auth {
        let caller = match oci::identify(app, auth, &request).await {
            Ok(caller) => caller,
            Err(refusal) => return Err(oci::refuse(refusal, &request, body).await),
        };
        request.caller = caller;
        if let Some(requirement) = requirement(&endpoint, &request.method) {
            // Anyone may read what they can see (a public package) without a token.
            let reading = matches!(request.method, Method::GET | Method::HEAD);
            let open = reading
                && matches!(request.caller, Caller::Anonymous)
                && matches!(requirement, Requirement::Repository(name, Actions::PULL) if request.can_see(name));
            if !open && let Err(refusal) = oci::check(auth, &request, &request.caller, requirement)
            {
                return Err(oci::refuse(refusal, &request, body).await);
            }
        }
    }
    route(app, &request, body, endpoint).await
}

async fn route(
    app: &App,
    request: &Request,
    body: Body,
    endpoint: Endpoint<'_>,
) -> Result<Response, ApiError> {
    let method = request.method.clone();
    match (endpoint, method) {
        (Endpoint::Search, Method::GET) => search(app, request).await,
        (Endpoint::Popular, Method::GET) => popular(app, request).await,
        (Endpoint::Publish, Method::PUT | Method::POST) => publish(app, request, body).await,
        (Endpoint::Versions(name), Method::GET) => versions(app, request, name).await,
        (Endpoint::Dependents(name), Method::GET) => dependents(app, request, name).await,
        (Endpoint::Info(name, version), Method::GET) => info(app, request, name, &version).await,
        (Endpoint::Version(name, version), Method::GET | Method::HEAD) => {
            download(app, request, name, &version).await
        }
        (Endpoint::Version(name, version), Method::DELETE) => {
            delete(app, request, name, &version).await
        }
        (Endpoint::Deprecate(name, version), Method::POST) => {
            deprecate(app, name, &version, Some(body)).await
        }
        (Endpoint::Deprecate(name, version), Method::DELETE) => {
            deprecate(app, name, &version, None).await
        }
        (_, method) => Err(ApiError::management(
            ManagementCode::Invalid,
            format!("{method} is not supported on this endpoint"),
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED)),
    }
}

/// A repository name from the path.
fn package_name(name: &str) -> Result<RepositoryName, ApiError> {
    name.parse().map_err(|e: sentinel_oci::NameError| {
        invalid(format!("{name:?} is not a package name: {e}"))
    })
}

/// At most 64 characters of `text`, for messages.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, axum::Json(value)).into_response()
}

#[cfg(test)]
mod tests;

/// A version's signatures as listed: who signed, when, and whether the
/// registry's policy trusts the key.
fn signatures_json(entries: &[SignatureEntry]) -> Value {
    entries
        .iter()
        .map(|entry| {
            json!({
                "key_id": entry.key_id,
                "created": entry.created,
                "trusted": entry.trusted,
            })
        })
        .collect()
}
