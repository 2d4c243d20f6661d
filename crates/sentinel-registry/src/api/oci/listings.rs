//! Listings: tags, the catalog, and referrers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sentinel_oci::media_types;
use serde_json::json;

use super::{OCI_FILTERS_APPLIED, Request, digest, header_value, repository};
use crate::api::ApiError;
use crate::service::{Page, PageRequest, Registry};

/// The most entries one listing page returns, whatever `n` asks for.
const MAX_PAGE: usize = 10_000;

/// The page a request asks for: `n` entries after `last`. Without `n`, all
/// entries (up to [`MAX_PAGE`], with a `Link` to the rest).
fn page_request(request: &Request) -> PageRequest {
    let limit = request
        .query("n")
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(MAX_PAGE, |n| n.min(MAX_PAGE));
    PageRequest {
        last: request.query("last"),
        limit,
    }
}

/// A JSON listing, with a `Link` to the next page when there is one.
fn listing(path: &str, page: &Page, limit: usize, body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    if page.more
        && let Some(last) = page.items.last()
    {
        let last = utf8_percent_encode(last, NON_ALPHANUMERIC);
        let query = format!("n={limit}&last={last}");
        response.headers_mut().insert(
            header::LINK,
            header_value(&format!("<{path}?{query}>; rel=\"next\"")),
        );
    }
    response
}

/// `GET /v2/<name>/tags/list?n=&last=`.
pub(crate) async fn tags(
    registry: &Registry,
    request: &Request,
    name: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let wanted = page_request(request);
    let page = registry.tags(&repository, &wanted).await?;
    let body = json!({ "name": repository.as_str(), "tags": page.items });
    Ok(listing(
        &format!("/v2/{repository}/tags/list"),
        &page,
        wanted.limit,
        body,
    ))
}

/// `GET /v2/_catalog?n=&last=`: the repositories the caller may see.
pub(crate) async fn catalog(registry: &Registry, request: &Request) -> Result<Response, ApiError> {
    let wanted = page_request(request);
    let mut visible = Page::default();
    let mut after = wanted.last.clone();
    'pages: loop {
        let page = registry
            .catalog(&PageRequest {
                last: after.clone(),
                limit: wanted.limit,
            })
            .await?;
        for name in &page.items {
            if !request.can_see(name) {
                continue;
            }
            if visible.items.len() == wanted.limit {
                // The page is full and a visible entry remains.
                visible.more = true;
                break 'pages;
            }
            visible.items.push(name.clone());
        }
        if !page.more || page.items.is_empty() {
            break;
        }
        after = page.items.last().cloned();
    }
    let body = json!({ "repositories": visible.items });
    Ok(listing("/v2/_catalog", &visible, wanted.limit, body))
}

/// `GET /v2/<name>/referrers/<digest>?artifactType=`: an image index of the
/// manifests whose subject is `<digest>`.
pub(crate) async fn referrers(
    registry: &Registry,
    request: &Request,
    name: &str,
    subject: &str,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let subject = digest(subject)?;
    let artifact_type = request.query("artifactType").filter(|t| !t.is_empty());
    let referrers = registry
        .referrers(&repository, &subject, artifact_type.as_deref())
        .await?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": referrers,
    });
    let mut response = (StatusCode::OK, axum::Json(index)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_types::OCI_INDEX),
    );
    if artifact_type.is_some() {
        headers.insert(
            OCI_FILTERS_APPLIED,
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}
