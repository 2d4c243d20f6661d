//! The web UI: server-rendered pages over the catalogue and the index, with
//! the same access rules as the APIs.
//!
//! | Path | Module | Page |
//! |------|--------|------|
//! | `/` | [`home`] | search box, most downloaded, recently updated, totals |
//! | `/search` | [`search`] | results with filters, sorts, facets and pages |
//! | `/packages/{name}[/{version}]` | [`package`] | README, facts, versions, signatures, downloads, pull commands |
//! | `/packages/{name}/{version}/files[/{path}]`, `.../raw/{path}` | [`files`] | a version's files; one shown; an image as it is |
//! | `/assets/{file}` | here | the embedded stylesheet, script and icon |
//! | `/sign-in` (GET, POST), `/sign-out` (POST) | [`sign_in`] | the sign-in form; opening and ending a session ([`session`]) |
//! | `/settings`, `/settings/tokens[/{id}/revoke]` (POST) | [`settings`] | the signed-in user's personal access tokens: list, create, revoke |
//! | `/repositories`, `/repositories/{name}` | [`repositories`] | the repositories the visitor may see; one's tags, platforms, sizes, referrers |
//!
//! A page's handler reads who is visiting ([`Visit`]), asks the
//! [`Registry`](crate::service::Registry) service, fills a view model of
//! `sentinel_ui` and renders it; it never reaches the stores itself. Every
//! answer carries the security headers of [`security_headers`] (a
//! Content-Security-Policy that allows no inline script, no framing, no
//! sniffing). The UI is on unless `--ui=false`.

mod files;
mod home;
mod package;
mod repositories;
mod search;
pub(crate) mod session;
mod settings;
mod sign_in;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sentinel_catalogue::PackageSummary;
use sentinel_ui::{ErrorPage, Layout, Moment, PackageCard, format};

use super::App;
use super::oci::Request;
use crate::auth::Caller;
use crate::service::RegistryError;

/// The Content-Security-Policy of every page: scripts, styles, images and
/// forms from this origin only, no inline script or style, no plugins, and
/// no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes, for [`super::router`].
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(search::search))
        .route("/packages/{*path}", get(package::package))
        .route("/assets/{file}", get(asset))
        .route("/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::sign_out).merge(to("/")))
        .route("/settings", get(settings::settings))
        .route("/settings/tokens", post(settings::create))
        .route("/settings/tokens/{id}/revoke", post(settings::revoke))
        .route("/repositories", get(repositories::list))
        .route("/repositories/{*name}", get(repositories::repository))
        // Where people land by trimming a URL: the page they meant.
        .route("/packages", to("/search"))
        .route("/packages/", to("/search"))
        .route("/search/", to("/search"))
        .route("/repositories/", to("/repositories"))
        .layer(axum::middleware::from_fn(security_headers))
}

/// A handler that sends the visitor to `path` (`303 See Other`: a GET of
/// `/sign-out` ends nothing, it shows the home page).
fn to(path: &'static str) -> axum::routing::MethodRouter<App> {
    get(move || async move { axum::response::Redirect::to(path) })
}

/// Whether `path` is one of the UI's pages (for the metrics' labels).
pub(crate) fn is_page(path: &str) -> bool {
    const PAGES: [&str; 6] = [
        "/search",
        "/packages",
        "/repositories",
        "/sign-in",
        "/sign-out",
        "/settings",
    ];
    path == "/"
        || PAGES.iter().any(|page| {
            path.strip_prefix(page)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Adds the security headers to every UI answer, and `Cache-Control:
/// no-cache` to pages (which differ by who is signed in) unless the
/// handler set its own.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A file served as it is comes with a stricter policy of its own.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    response
}

/// `GET /assets/{file}`: an embedded file, cached for a year (its name
/// changes with its content).
async fn asset(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    match sentinel_ui::assets().find(&path) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Who is visiting a page: the request (for access checks) and, when
/// someone is signed in, their name and the session's CSRF token.
pub(crate) struct Visit {
    /// The request, its caller identified.
    pub request: Request,
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// The session's CSRF token (empty without a session).
    pub csrf: String,
}

/// A page handler's visitor comes as an extractor, before the body: the
/// request's head is copied (the method, URI and headers; extensions stay
/// with the request).
impl FromRequestParts<App> for Visit {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<Visit, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let (mut head, ()) = axum::http::Request::new(()).into_parts();
        head.method = parts.method.clone();
        head.uri = parts.uri.clone();
        head.version = parts.version;
        head.headers = parts.headers.clone();
        Ok(Visit::new(app, head, peer))
    }
}

impl Visit {
    /// Reads who sent `request`: the user of its session cookie, if it
    /// names a session still open (see [`session`]), else nobody.
    fn new(app: &App, head: axum::http::request::Parts, peer: SocketAddr) -> Visit {
        let signed_in = session::signed_in(app, &head.headers);
        let mut request = Request::new(head, peer, app.auth.clone());
        let Some(signed_in) = signed_in else {
            return Visit {
                request,
                user: None,
                csrf: String::new(),
            };
        };
        let user = signed_in.principal.user.clone();
        request.caller = Caller::User(signed_in.principal);
        Visit {
            request,
            user: Some(user),
            csrf: signed_in.csrf,
        }
    }

    /// The frame of a page titled `title` for this visitor.
    pub(crate) fn layout(&self, app: &App, title: impl Into<String>) -> Layout {
        let mut layout = Layout::new(title, app.auth.is_some());
        layout.user = self.user.clone();
        layout.csrf = self.csrf.clone();
        // Signing in from a page comes back to it.
        let here = self
            .request
            .uri
            .path_and_query()
            .map_or("/", |here| here.as_str());
        if here != "/" && !here.starts_with("/sign-in") {
            layout.sign_in_href = format!(
                "/sign-in?next={}",
                percent_encoding::utf8_percent_encode(here, percent_encoding::NON_ALPHANUMERIC)
            );
        }
        layout
    }

    /// Whether the visitor may see `repository`.
    pub(crate) fn can_see(&self, repository: &str) -> bool {
        self.request.can_see(repository)
    }

    /// The answer for a page's result: the page, or an error page in this
    /// visitor's frame.
    pub(crate) fn respond(&self, app: &App, result: Result<Response, PageError>) -> Response {
        match result {
            Ok(response) => response,
            Err(error) => {
                let (status, message) = error.status_and_message();
                let page = ErrorPage {
                    layout: self.layout(app, status.canonical_reason().unwrap_or("Error")),
                    status: status.as_u16(),
                    message,
                };
                match sentinel_ui::render(&page) {
                    Ok(html) => (status, Html(html)).into_response(),
                    Err(error) => {
                        tracing::error!(%error, "cannot render the error page");
                        (status, "error").into_response()
                    }
                }
            }
        }
    }
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// 404: nothing there, or nothing the visitor may see (the two look the
    /// same, so names of private packages do not leak).
    NotFound(String),
    /// 400: the request is malformed (a bad filter).
    Invalid(String),
    /// 403: a form without its CSRF token, or sent from another site;
    /// nothing changed.
    Forbidden(String),
    /// 429: the registry holds as much for this visitor, or for everyone,
    /// as it may at once; trying again shortly works.
    Busy(String),
    /// 500: the registry failed; logged, and the visitor is told little.
    Internal(String),
}

impl PageError {
    fn status_and_message(self) -> (StatusCode, String) {
        match self {
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            PageError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            PageError::Busy(message) => (StatusCode::TOO_MANY_REQUESTS, message),
            PageError::Internal(message) => {
                tracing::error!(error = %message, "a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The registry could not show this page; the error is in its log.".to_owned(),
                )
            }
        }
    }
}

impl From<RegistryError> for PageError {
    fn from(error: RegistryError) -> Self {
        PageError::Internal(error.to_string())
    }
}

impl From<sentinel_ui::RenderError> for PageError {
    fn from(error: sentinel_ui::RenderError) -> Self {
        PageError::Internal(error.to_string())
    }
}

/// A rendered page as a `200`.
pub(crate) fn page(page: &impl askama::Template) -> Result<Response, PageError> {
    Ok(Html(sentinel_ui::render(page)?).into_response())
}

/// `then` (seconds since the Unix epoch) as the pages show a moment: how
/// long before `now`, with the exact UTC time.
pub(crate) fn moment(now: u64, then: u64) -> Moment {
    Moment {
        ago: format::ago(now, then),
        utc: crate::clock::rfc3339(then),
    }
}

/// Cards for packages a search or listing found: each with whether a key
/// the registry trusts signed the version shown.
pub(crate) async fn package_cards(
    app: &App,
    found: &[PackageSummary],
) -> Result<Vec<PackageCard>, PageError> {
    let now = crate::clock::now();
    let mut cards = Vec::with_capacity(found.len());
    for summary in found {
        let signatures = app
            .registry
            .version_signatures(&summary.repository, &summary.shown)
            .await?;
        cards.push(PackageCard {
            repository: summary.repository.as_str().to_owned(),
            name: summary.name.clone(),
            kind: summary.kind.to_string(),
            version: summary.shown.to_string(),
            description: summary.description.clone(),
            capabilities: summary.capabilities.clone(),
            downloads: format::counted(summary.downloads, "download", "downloads"),
            updated: moment(now, summary.updated),
            signed: signatures.iter().any(|s| s.trusted),
        });
    }
    Ok(cards)
}
