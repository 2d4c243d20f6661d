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
use sentinel_package::versions::version_tag;
use sentinel_token::Actions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::{ApiError, ManagementCode};
use super::oci::{self, Request, header_value};
use crate::auth::authorization::Requirement;
use crate::auth::{Caller, audit};
use crate::clock::rfc3339;
use crate::service::{PublishTarget, VersionChoice};

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
    let request = Request {
        method: head.method,
        version: head.version,
        uri: head.uri,
        headers: head.headers,
        client: peer.ip(),
        caller: Caller::Anonymous,
        auth: app.auth.clone(),
    };
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

/// A query parameter of at most `max` bytes.
fn bounded(request: &Request, key: &str, max: usize) -> Result<Option<String>, ApiError> {
    match request.query(key) {
        Some(value) if value.len() > max => Err(invalid(format!(
            "{key} is {} bytes long; at most {max} are accepted",
            value.len()
        ))),
        Some(value) if value.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
fn limit(request: &Request) -> Result<usize, ApiError> {
    match request.query("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"
            ))),
        },
    }
}

/// `kind`: `agent` or `stack`.
fn kind(request: &Request) -> Result<Option<PackageKind>, ApiError> {
    match request.query("kind").as_deref() {
        None | Some("") => Ok(None),
        Some("agent") => Ok(Some(PackageKind::Agent)),
        Some("stack") => Ok(Some(PackageKind::Stack)),
        Some(other) => Err(invalid(format!(
            "kind must be agent or stack, not {:?}",
            truncate(other)
        ))),
    }
}

/// At most 64 characters of `text`, for messages.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The offset a cursor stands for.
fn cursor(request: &Request) -> Result<usize, ApiError> {
    let Some(text) = request.query("cursor").filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    let malformed = || invalid("the cursor is not one this registry gave out");
    let bytes = URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| malformed())?;
    let offset = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.strip_prefix("o:"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n <= MAX_OFFSET)
        .ok_or_else(malformed)?;
    Ok(offset)
}

fn summary_json(summary: &PackageSummary) -> Value {
    json!({
        "name": summary.repository.as_str(),
        "package": summary.name,
        "kind": summary.kind,
        "latest": summary.latest.as_ref().map(ToString::to_string),
        "version": summary.shown.to_string(),
        "description": summary.description,
        "author": summary.author,
        "capabilities": summary.capabilities,
        "tags": summary.tags,
        "model": summary.model.as_ref().map(|m| format!("{}/{}", m.provider, m.name)),
        "downloads": summary.downloads,
        "updated": rfc3339(summary.updated),
    })
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// `GET /v1/packages/search`.
async fn search(app: &App, request: &Request) -> Result<Response, ApiError> {
    let text = bounded(request, "q", MAX_QUERY_BYTES)?.unwrap_or_default();
    let sort = match request.query("sort").as_deref() {
        None | Some("") | Some("relevance") => Sort::Relevance,
        Some("downloads") => Sort::Downloads,
        Some("updated") => Sort::Updated,
        Some("name") => Sort::Name,
        Some(other) => {
            return Err(invalid(format!(
                "sort must be relevance, downloads, updated or name, not {:?}",
                truncate(other)
            )));
        }
    };
    let query = SearchQuery {
        text,
        kind: kind(request)?,
        capability: bounded(request, "capability", MAX_FILTER_BYTES)?,
        tag: bounded(request, "tag", MAX_FILTER_BYTES)?,
        author: bounded(request, "author", MAX_FILTER_BYTES)?,
        model: bounded(request, "model", MAX_FILTER_BYTES)?,
        sort,
        offset: cursor(request)?,
        limit: limit(request)?,
    };
    let visible = |repository: &RepositoryName| request.can_see(repository.as_str());
    let page = app.registry.search_packages(&query, &visible).await?;
    let next = query.offset + page.packages.len();
    let next_cursor = (next < page.total && next <= MAX_OFFSET)
        .then(|| URL_SAFE_NO_PAD.encode(format!("o:{next}")));
    let packages: Vec<Value> = page.packages.iter().map(summary_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "packages": packages, "total": page.total, "next_cursor": next_cursor }),
    ))
}

/// `GET /v1/packages/popular`.
async fn popular(app: &App, request: &Request) -> Result<Response, ApiError> {
    let (period, days) = match request.query("period").as_deref() {
        None | Some("") | Some("7d") => ("7d", 7),
        Some("30d") => ("30d", 30),
        Some(other) => {
            return Err(invalid(format!(
                "period must be 7d or 30d, not {:?}",
                truncate(other)
            )));
        }
    };
    let visible = |repository: &RepositoryName| request.can_see(repository.as_str());
    let found = app
        .registry
        .popular(days, kind(request)?, limit(request)?, &visible)
        .await?;
    let packages: Vec<Value> = found.iter().map(summary_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "period": period, "packages": packages }),
    ))
}

/// The versions of a package, or 404.
async fn known_versions(
    app: &App,
    repository: &RepositoryName,
) -> Result<PackageVersions, ApiError> {
    app.registry
        .package_versions(repository)
        .await?
        .ok_or_else(|| not_found(format!("no package is stored in {repository}")))
}

/// `prerelease`: `true` or `false`.
fn prerelease(request: &Request) -> Result<bool, ApiError> {
    match request.query("prerelease").as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(format!(
            "prerelease must be true or false, not {:?}",
            truncate(other)
        ))),
    }
}

/// `GET /v1/packages/{name}/versions[?range=REQ][&prerelease=true]`.
async fn versions(app: &App, request: &Request, name: &str) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let range = match request.query("range").filter(|r| !r.is_empty()) {
        Some(text) => Some(
            text.parse::<sentinel_package::versions::VersionRequirement>()
                .map_err(|e| invalid(e.to_string()))?,
        ),
        None => None,
    };
    let prerelease = prerelease(request)?;
    let versions = known_versions(app, &repository).await?;
    let latest = VersionChoice::Latest.resolve(&versions, false);
    let resolved = range
        .clone()
        .and_then(|r| VersionChoice::Requirement(r).resolve(&versions, prerelease));
    let rows: Vec<Value> = versions
        .versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version.to_string(),
                "tag": v.tag.clone().unwrap_or_else(|| version_tag(&v.version)),
                "digest": v.digest,
                "created": v.created.clone().unwrap_or_else(|| rfc3339(v.pushed_at)),
                "size": v.size,
                "downloads": v.downloads,
                "deprecated": v.deprecated,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": repository.as_str(),
            "kind": versions.kind,
            "latest": latest.map(|v| v.to_string()),
            "resolved": resolved.map(|v| v.to_string()),
            "versions": rows,
        }),
    ))
}

/// The version `text` names (`latest`, an exact version or a range).
async fn resolve(
    app: &App,
    repository: &RepositoryName,
    text: &str,
) -> Result<(PackageVersions, Version), ApiError> {
    let choice: VersionChoice = text
        .parse()
        .map_err(|e: sentinel_package::versions::RequirementError| invalid(e.to_string()))?;
    let versions = known_versions(app, repository).await?;
    let version = choice
        .resolve(&versions, false)
        .ok_or_else(|| not_found(format!("no version of {repository} matches {text}")))?;
    Ok((versions, version))
}

/// An exact version from the path.
fn exact(text: &str) -> Result<Version, ApiError> {
    Version::parse(text).map_err(|e| {
        invalid(format!(
            "{:?} is not an exact version ({e}); name the version, e.g. 1.2.0",
            truncate(text)
        ))
    })
}

/// `GET /v1/packages/{name}/{version}/info`; its dependents are only the
/// stacks the caller may pull.
async fn info(app: &App, request: &Request, name: &str, text: &str) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let (versions, version) = resolve(app, &repository, text).await?;
    let entry = app
        .registry
        .package_version(&repository, &version)
        .await?
        .ok_or_else(|| not_found(format!("{repository} {version} is gone")))?;
    let listed = versions.versions.iter().find(|v| v.version == version);
    let dependents: Vec<Value> = match entry.kind {
        PackageKind::Agent => app
            .registry
            .dependents(&repository)
            .await?
            .iter()
            .filter(|d| request.can_see(d.repository.as_str()))
            .map(dependent_json)
            .collect(),
        PackageKind::Stack => Vec::new(),
    };
    let mut value = serde_json::to_value(&entry).map_err(|e| {
        ApiError::management(
            ManagementCode::Internal,
            format!("cannot encode the entry: {e}"),
        )
    })?;
    if let Some(object) = value.as_object_mut() {
        object.insert("name".to_owned(), json!(repository.as_str()));
        object.insert("package".to_owned(), json!(entry.name));
        object.remove("repository");
        object.insert("pushed_at".to_owned(), json!(rfc3339(entry.pushed_at)));
        object.insert(
            "downloads".to_owned(),
            json!(listed.map_or(0, |v| v.downloads)),
        );
        object.insert(
            "deprecated".to_owned(),
            json!(listed.and_then(|v| v.deprecated.clone())),
        );
        object.insert("dependents".to_owned(), json!(dependents));
        object.insert(
            "tag".to_owned(),
            json!(entry.tag.clone().unwrap_or_else(|| version_tag(&version))),
        );
    }
    Ok(json_response(StatusCode::OK, &value))
}

/// `GET`/`HEAD /v1/packages/{name}/{version}`: the `.sntl` file.
async fn download(
    app: &App,
    request: &Request,
    name: &str,
    text: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let (_, version) = resolve(app, &repository, text).await?;
    let entry = app
        .registry
        .package_version(&repository, &version)
        .await?
        .ok_or_else(|| not_found(format!("{repository} {version} is gone")))?;
    let mut response = oci::blobs::serve_blob(
        &app.registry,
        request,
        &repository,
        &entry.package.digest,
        entry.kind.layer_media_type(),
    )
    .await?;
    let file_name: String = entry
        .file_name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename=\"{file_name}\"")),
    );
    Ok(response)
}

/// `DELETE /v1/packages/{name}/{version}`: the version's manifest and tags.
async fn delete(
    app: &App,
    request: &Request,
    name: &str,
    text: &str,
) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let version = exact(text)?;
    let versions = known_versions(app, &repository).await?;
    let Some(listed) = versions.versions.iter().find(|v| v.version == version) else {
        return Err(not_found(format!("{repository} has no version {version}")));
    };
    let digest = listed.digest.clone();
    app.registry
        .delete_manifest(&repository, &Reference::Digest(digest.clone()))
        .await?;
    audit::record(
        "delete",
        request.caller.user(),
        request.client,
        Some(repository.as_str()),
        Some(digest.as_str()),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/packages/{name}/{version}/deprecate` `{"message"}` (with a
/// body) or `DELETE` (without).
async fn deprecate(
    app: &App,
    name: &str,
    text: &str,
    body: Option<Body>,
) -> Result<Response, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Deprecation {
        message: Option<String>,
    }
    let repository = package_name(name)?;
    let version = exact(text)?;
    let message = match body {
        None => None,
        Some(body) => {
            let bytes = axum::body::to_bytes(body, MAX_DEPRECATION_BODY)
                .await
                .map_err(|_| {
                    invalid(format!(
                        "the body must be JSON of at most {MAX_DEPRECATION_BODY} bytes"
                    ))
                })?;
            let parsed: Deprecation = if bytes.is_empty() {
                Deprecation::default()
            } else {
                serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(format!("the body must be {{\"message\": \"...\"}}: {e}"))
                })?
            };
            Some(
                parsed
                    .message
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "deprecated".to_owned()),
            )
        }
    };
    let deprecated = message.is_some();
    if !app
        .registry
        .deprecate(&repository, &version, message.clone())
        .await?
    {
        return Err(not_found(format!("{repository} has no version {version}")));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": repository.as_str(),
            "version": version.to_string(),
            "deprecated": if deprecated { json!(message) } else { Value::Null },
        }),
    ))
}

/// A stack version naming an agent, as listed.
fn dependent_json(dependent: &Dependent) -> Value {
    json!({
        "name": dependent.repository.as_str(),
        "package": dependent.name,
        "version": dependent.version.to_string(),
        "reference": dependent.reference,
    })
}

/// `GET /v1/packages/{name}/dependents`.
async fn dependents(app: &App, request: &Request, name: &str) -> Result<Response, ApiError> {
    let repository = package_name(name)?;
    let found = app.registry.dependents(&repository).await?;
    let listed: Vec<Value> = found
        .iter()
        .filter(|d| request.can_see(d.repository.as_str()))
        .map(dependent_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "name": repository.as_str(), "dependents": listed }),
    ))
}

/// `PUT /v1/packages/publish[?repository=NS/NAME]`: the body is a `.sntl` file.
async fn publish(app: &App, request: &Request, body: Body) -> Result<Response, ApiError> {
    let target = match request.query("repository").filter(|r| !r.is_empty()) {
        Some(name) => PublishTarget::Repository(package_name(&name)?),
        None => {
            let user = request.caller.user();
            PublishTarget::Namespace((!user.is_empty()).then(|| user.to_owned()))
        }
    };
    let may_push = |repository: &RepositoryName| match &app.auth {
        None => true,
        Some(auth) => oci::check(
            auth,
            request,
            &request.caller,
            Requirement::Repository(repository.as_str(), Actions::PULL_PUSH),
        )
        .is_ok(),
    };
    let user = request.caller.user();
    let pushed_by = (!user.is_empty()).then_some(user);
    let published = app
        .registry
        .publish(body.into_data_stream(), target, may_push, pushed_by)
        .await?;
    let reference = format!("{}:{}", published.repository, published.tag);
    audit::record(
        "push",
        user,
        request.client,
        Some(published.repository.as_str()),
        Some(published.tag.as_str()),
    );
    let mut response = json_response(
        StatusCode::CREATED,
        &json!({
            "name": published.repository.as_str(),
            "package": published.name,
            "version": published.version.to_string(),
            "digest": published.digest,
            "reference": reference,
        }),
    );
    response.headers_mut().insert(
        header::LOCATION,
        header_value(&format!(
            "/v1/packages/{}/{}/info",
            published.repository, published.version
        )),
    );
    response.headers_mut().insert(
        "Docker-Content-Digest",
        HeaderValue::from_str(published.digest.as_str()).unwrap_or(HeaderValue::from_static("")),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_from_the_right() {
        assert_eq!(parse("search"), Some(Endpoint::Search));
        assert_eq!(parse("popular"), Some(Endpoint::Popular));
        assert_eq!(parse("publish"), Some(Endpoint::Publish));
        assert_eq!(parse("team/a/versions"), Some(Endpoint::Versions("team/a")));
        assert_eq!(parse("search/versions"), Some(Endpoint::Versions("search")));
        assert_eq!(parse("a/dependents"), Some(Endpoint::Dependents("a")));
        assert_eq!(
            parse("team/a/%5E1.2/info"),
            Some(Endpoint::Info("team/a", "^1.2".to_owned()))
        );
        assert_eq!(
            parse("team/a/1.0.0/deprecate"),
            Some(Endpoint::Deprecate("team/a", "1.0.0".to_owned()))
        );
        assert_eq!(
            parse("team/a/latest"),
            Some(Endpoint::Version("team/a", "latest".to_owned()))
        );
        for bad in ["", "x", "/versions", "a/", "info", "a/info", "/1.0/info"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
