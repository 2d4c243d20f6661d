//! The OCI Distribution API under `/v2/`: one entry point reads the path,
//! checks who may do what, and hands the request to the handler of its
//! endpoint, one file per resource. Handlers translate between HTTP and the
//! [`Registry`] service and nothing else.

pub(crate) mod blobs;
pub(crate) mod in_flight;
mod listings;
mod manifests;
mod path;
mod uploads;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use sentinel_oci::{Digest, ErrorCode, RepositoryName};
use sentinel_token::Actions;

use super::App;
use super::error::{self, ApiError};
use crate::auth::authorization::{self, Requirement};
use crate::auth::{Authenticator, Caller, audit};
use path::Endpoint;

/// `Docker-Content-Digest`.
pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");
/// `Docker-Upload-UUID`.
pub(crate) const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// `OCI-Subject`.
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Filters-Applied`.
pub(crate) const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// A request's method, URI and headers, who sent it and from where (the
/// body travels separately, as it is consumed by the handlers that need it).
pub(crate) struct Request {
    pub method: Method,
    pub version: Version,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub client: IpAddr,
    pub caller: Caller,
    /// Authentication; `None` when it is off (everything is allowed).
    pub auth: Option<Arc<Authenticator>>,
}

impl Request {
    /// A request's head, from `peer`, with nobody identified yet.
    pub fn new(
        head: axum::http::request::Parts,
        peer: SocketAddr,
        auth: Option<Arc<Authenticator>>,
    ) -> Self {
        Request {
            method: head.method,
            version: head.version,
            uri: head.uri,
            headers: head.headers,
            client: peer.ip(),
            caller: Caller::Anonymous,
            auth,
        }
    }

    /// The percent-decoded value of query parameter `key`, if present. A `+`
    /// stays a `+` (media types such as `application/vnd.x+json` contain it);
    /// clients encode spaces as `%20`.
    pub fn query(&self, key: &str) -> Option<String> {
        self.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode_str(k).decode_utf8_lossy() == key)
                .then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
        })
    }

    /// Query parameter `key` read as an HTML form writes it: `+` is a space
    /// (the package API's `q=web+search`, `range=>=1.0,+<2.0`).
    pub fn form_query(&self, key: &str) -> Option<String> {
        self.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k) == key).then(|| decode(v))
        })
    }

    /// Whether the caller may see `repository` (catalog entries).
    pub fn can_see(&self, repository: &str) -> bool {
        self.auth
            .as_ref()
            .is_none_or(|auth| authorization::can_see(auth.shared(), &self.caller, repository))
    }

    /// Whether this request may pull from `repository` (a mount's source).
    /// With authentication on, a mount must name its source.
    pub fn may_mount_from(&self, repository: Option<&str>) -> bool {
        match (&self.auth, repository) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(auth), Some(repository)) => {
                authorization::may_pull(auth.shared(), &self.caller, repository)
            }
        }
    }

    /// Whether the caller may push to `repository`, and so read what it
    /// must sign under a signature policy. With authentication off nobody
    /// is known, so the policy applies to every read.
    pub fn may_push(&self, repository: &str) -> bool {
        self.auth
            .as_ref()
            .is_some_and(|auth| authorization::may_push(auth.shared(), &self.caller, repository))
    }

    /// A request header as text.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Parses a repository name from the path.
pub(crate) fn repository(name: &str) -> Result<RepositoryName, ApiError> {
    name.parse().map_err(|e: sentinel_oci::NameError| {
        ApiError::new(ErrorCode::NameInvalid, e.to_string())
            .with_detail(serde_json::json!({ "name": name }))
    })
}

/// Parses a digest from the path or query.
pub(crate) fn digest(text: &str) -> Result<Digest, ApiError> {
    Ok(text.parse::<Digest>()?)
}

/// A header value from text that is known to be valid (digests, paths, numbers).
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An empty response with `status` and `headers`, and `Content-Length: 0`.
pub(crate) fn empty(
    status: StatusCode,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
) -> Response {
    let mut response = (status, Body::empty()).into_response();
    let map = response.headers_mut();
    map.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    for (name, value) in headers {
        map.insert(name, value);
    }
    response
}

/// The kind of endpoint `path` (under `/v2`) names, for the metrics.
pub(crate) fn endpoint_kind(path: &str) -> crate::metrics::Endpoint {
    use crate::metrics::Endpoint as Kind;
    match path::parse(path) {
        Some(Endpoint::Base) => Kind::base,
        Some(Endpoint::Catalog) => Kind::catalog,
        Some(Endpoint::Tags(_)) => Kind::tags,
        Some(Endpoint::Manifest(..)) => Kind::manifest,
        Some(Endpoint::Blob(..)) => Kind::blob,
        Some(Endpoint::UploadStart(_) | Endpoint::UploadSession(..)) => Kind::upload,
        Some(Endpoint::Referrers(..)) => Kind::referrers,
        None => Kind::unknown,
    }
}

/// The answer for a path that names no endpoint of the API.
pub(crate) fn no_such_endpoint(path: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Unsupported,
        format!("no such endpoint: {path} (the API lives under /v2/)"),
    )
    .with_status(StatusCode::NOT_FOUND)
}

fn unsupported(method: &Method) -> ApiError {
    ApiError::new(
        ErrorCode::Unsupported,
        format!("{method} is not supported on this endpoint"),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Routes every `/v2/` request. The request is taken apart, not copied:
/// its head and body go their own ways.
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

/// The most of a refused request's body that is read (and dropped) so that
/// the connection stays usable; a larger body closes the connection instead.
const DRAINED_BODY_LIMIT: u64 = 256 * 1024;
/// How long a refused request's body may take to arrive.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers a request refused before its body was read. Clients retry a
/// refused request on the same connection (with credentials this time), so a
/// small body is read first, as HTTP/1.1 needs to reuse the connection; a
/// larger or unknown body is left to [`refuse_unread`], so the client still
/// reads the answer.
pub(crate) async fn refuse(refusal: ApiError, request: &Request, body: Body) -> ApiError {
    let headers = &request.headers;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(0) => refusal,
        None if !headers.contains_key(header::TRANSFER_ENCODING) => refusal,
        Some(length) if length <= DRAINED_BODY_LIMIT => {
            let limit = usize::try_from(DRAINED_BODY_LIMIT).unwrap_or(usize::MAX);
            let drained =
                tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, limit)).await;
            if matches!(drained, Ok(Ok(_))) {
                refusal
            } else {
                refusal.with_header(header::CONNECTION, HeaderValue::from_static("close"))
            }
        }
        _ => refuse_unread(refusal, request, body, false),
    }
}

/// How long the rest of a refused request's body is read and thrown away
/// after the answer, so that the client, still sending, reads the answer
/// rather than a reset connection.
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers `refusal` without reading the rest of `body` first. Over HTTP/2
/// the body is dropped (the stream is reset once the answer is out). Over
/// HTTP/1.1 the answer closes the connection, and the body is read and
/// dropped for a little while on its own task, unless the client waits for
/// `100 Continue` before sending it and none of it was read (`started`):
/// then it is never asked for.
pub(crate) fn refuse_unread(
    refusal: ApiError,
    request: &Request,
    body: Body,
    started: bool,
) -> ApiError {
    if request.version >= Version::HTTP_2 {
        return refusal;
    }
    let expects_continue = !started
        && request
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue {
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            let _ = tokio::time::timeout(LINGER, async {
                while let Some(Ok(_)) = futures_util::StreamExt::next(&mut stream).await {}
            })
            .await;
        });
    }
    refusal.with_header(header::CONNECTION, HeaderValue::from_static("close"))
}

/// Whether the request carries blob bytes (and so takes an upload slot).
fn carries_blob(endpoint: &Endpoint<'_>, request: &Request) -> bool {
    match (endpoint, &request.method) {
        // A mount that cannot be made becomes an upload of the body.
        (Endpoint::UploadStart(_), &Method::POST) => request.query("digest").is_some(),
        (Endpoint::UploadSession(..), &Method::PATCH | &Method::PUT) => true,
        _ => false,
    }
}

/// What `endpoint` needs from the caller of `method`.
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
        Endpoint::UploadStart(name) | Endpoint::UploadSession(name, _) => {
            Requirement::Repository(name, Actions::PULL_PUSH)
        }
    }
}

/// Authenticates a request and charges it to its user.
pub(crate) async fn identify(
    app: &App,
    auth: &Arc<Authenticator>,
    request: &Request,
) -> Result<Caller, ApiError> {
    let headers = &request.headers;
    let caller = auth
        .identify(headers, request.client)
        .await
        .map_err(|error| error::unidentified(auth, headers, error))?;
    if !caller.user().is_empty() {
        app.limits.charge_user(caller.user())?;
    }
    Ok(caller)
}

/// Checks that `caller` may do what `requirement` says.
pub(crate) fn check(
    auth: &Arc<Authenticator>,
    request: &Request,
    caller: &Caller,
    requirement: Requirement<'_>,
) -> Result<(), ApiError> {
    authorization::authorize(auth.shared(), caller, requirement)
        .map_err(|error| error::not_allowed(auth, &request.headers, error))
}

/// Authenticates a request, charges it to its user, and checks that it may
/// do what its endpoint does.
async fn admit(
    app: &App,
    auth: &Arc<Authenticator>,
    request: &Request,
    endpoint: &Endpoint<'_>,
) -> Result<Caller, ApiError> {
    let caller = identify(app, auth, request).await?;
    check(
        auth,
        request,
        &caller,
        requirement(endpoint, &request.method),
    )?;
    Ok(caller)
}

/// Checks who may do what, routes, and records pushes, pulls and deletes.
async fn admit_and_route(
    app: &App,
    mut request: Request,
    body: Body,
) -> Result<Response, ApiError> {
    let path = request.uri.path().to_owned();
    let Some(endpoint) = path::parse(&path) else {
        return Err(no_such_endpoint(&path));
    };
    if let Some(auth) = &app.auth {
        match admit(app, auth, &request, &endpoint).await {
            Ok(caller) => request.caller = caller,
            Err(refusal) => return Err(refuse(refusal, &request, body).await),
        }
    }
    let (user, client, method) = (
        request.caller.user().to_owned(),
        request.client,
        request.method.clone(),
    );
    let _upload_slot = if carries_blob(&endpoint, &request) {
        match app.in_flight.upload(client, &user) {
            Ok(slot) => Some(slot),
            Err(refusal) => return Err(refuse(refusal, &request, body).await),
        }
    } else {
        None
    };
    let response = route(app, request, body, endpoint.clone()).await?;
    if response.status().is_success() {
        let action = match (&endpoint, &method) {
            (Endpoint::Manifest(..), &Method::GET) => Some("pull"),
            (Endpoint::Manifest(..), &Method::PUT) => Some("push"),
            (Endpoint::Manifest(..) | Endpoint::Blob(..), &Method::DELETE) => Some("delete"),
            _ => None,
        };
        if let (
            Some(action),
            Endpoint::Manifest(name, reference) | Endpoint::Blob(name, reference),
        ) = (action, &endpoint)
        {
            audit::record(action, &user, client, Some(name), Some(reference));
        }
    }
    Ok(response)
}

/// The `/v2/` route table: the handler of each endpoint and method (the
/// endpoints themselves are read from the path by [`path::parse`]).
async fn route(
    app: &App,
    request: Request,
    body: Body,
    endpoint: Endpoint<'_>,
) -> Result<Response, ApiError> {
    let registry = &app.registry;
    let method = request.method.clone();
    match (endpoint, method) {
        (Endpoint::Base, Method::GET | Method::HEAD) => {
            Ok(axum::Json(serde_json::json!({})).into_response())
        }
        (Endpoint::Catalog, Method::GET | Method::HEAD) => {
            listings::catalog(registry, &request).await
        }
        (Endpoint::Tags(name), Method::GET | Method::HEAD) => {
            listings::tags(registry, &request, name).await
        }
        (Endpoint::Referrers(name, subject), Method::GET | Method::HEAD) => {
            listings::referrers(registry, &request, name, subject).await
        }
        (Endpoint::Manifest(name, reference), Method::GET | Method::HEAD) => {
            manifests::get(registry, &request, name, reference).await
        }
        (Endpoint::Manifest(name, reference), Method::PUT) => {
            manifests::put(registry, &app.in_flight, &request, body, name, reference).await
        }
        (Endpoint::Manifest(name, reference), Method::DELETE) => {
            manifests::delete(registry, &request, name, reference).await
        }
        (Endpoint::Blob(name, digest), Method::GET | Method::HEAD) => {
            blobs::get(registry, &request, name, digest).await
        }
        (Endpoint::Blob(name, digest), Method::DELETE) => {
            blobs::delete(registry, name, digest).await
        }
        (Endpoint::UploadStart(name), Method::POST) => {
            uploads::start(registry, &request, body, name).await
        }
        (Endpoint::UploadSession(name, id), Method::GET) => {
            uploads::status(registry, name, id).await
        }
        (Endpoint::UploadSession(name, id), Method::PATCH) => {
            uploads::patch(registry, &request, body, name, id).await
        }
        (Endpoint::UploadSession(name, id), Method::PUT) => {
            uploads::put(registry, &request, body, name, id).await
        }
        (Endpoint::UploadSession(name, id), Method::DELETE) => {
            uploads::cancel(registry, name, id).await
        }
        (_, method) => Err(unsupported(&method)),
    }
}
