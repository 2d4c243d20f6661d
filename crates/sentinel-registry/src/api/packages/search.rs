//! `GET /v1/packages/search` and `GET /v1/packages/popular`, and the
//! query parameters they read.

use super::*;

/// A query parameter of at most `max` bytes.
fn bounded(request: &Request, key: &str, max: usize) -> Result<Option<String>, ApiError> {
    match request.form_query(key) {
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
    match request.form_query("limit") {
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
    match request.form_query("kind").as_deref() {
        None | Some("") => Ok(None),
        Some("agent") => Ok(Some(PackageKind::Agent)),
        Some("stack") => Ok(Some(PackageKind::Stack)),
        Some(other) => Err(invalid(format!(
            "kind must be agent or stack, not {:?}",
            truncate(other)
        ))),
    }
}

/// The offset a cursor stands for.
fn cursor(request: &Request) -> Result<usize, ApiError> {
    let Some(text) = request.form_query("cursor").filter(|c| !c.is_empty()) else {
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

/// `signed`: `true` keeps packages whose shown version a trusted key signed.
fn signed_only(request: &Request) -> Result<bool, ApiError> {
    match request.form_query("signed").as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(format!(
            "signed must be true or false, not {:?}",
            truncate(other)
        ))),
    }
}

fn summary_json(summary: &PackageSummary, signatures: &[SignatureEntry]) -> Value {
    json!({
        "signatures": signatures_json(signatures),
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

/// `GET /v1/packages/search`.
pub(super) async fn search(app: &App, request: &Request) -> Result<Response, ApiError> {
    let text = bounded(request, "q", MAX_QUERY_BYTES)?.unwrap_or_default();
    let sort = match request.form_query("sort").as_deref() {
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
    let (found, total) = if signed_only(request)? {
        signed_matches(app, &query, &visible).await?
    } else {
        let page = app.registry.search_packages(&query, &visible).await?;
        let mut found = Vec::with_capacity(page.packages.len());
        for summary in page.packages {
            let signatures = app
                .registry
                .version_signatures(&summary.repository, &summary.shown)
                .await?;
            found.push((summary, signatures));
        }
        (found, page.total)
    };
    let next = query.offset + found.len();
    let next_cursor =
        (next < total && next <= MAX_OFFSET).then(|| URL_SAFE_NO_PAD.encode(format!("o:{next}")));
    let packages: Vec<Value> = found
        .iter()
        .map(|(summary, signatures)| summary_json(summary, signatures))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "packages": packages, "total": total, "next_cursor": next_cursor }),
    ))
}

/// A page of the matches of `query` whose shown version a trusted key
/// signed, and how many there are: every match is looked at (the catalogue
/// does not know signatures), a page of [`MAX_LIMIT`] at a time.
async fn signed_matches(
    app: &App,
    query: &SearchQuery,
    visible: sentinel_catalogue::Visible<'_>,
) -> Result<(Vec<(PackageSummary, Vec<SignatureEntry>)>, usize), ApiError> {
    let mut signed = Vec::new();
    let mut all = SearchQuery {
        offset: 0,
        limit: MAX_LIMIT,
        ..query.clone()
    };
    loop {
        let page = app.registry.search_packages(&all, visible).await?;
        let seen = page.packages.len();
        for summary in page.packages {
            let signatures = app
                .registry
                .version_signatures(&summary.repository, &summary.shown)
                .await?;
            if signatures.iter().any(|s| s.trusted) {
                signed.push((summary, signatures));
            }
        }
        all.offset += seen;
        if seen == 0 || all.offset >= page.total || all.offset > MAX_OFFSET {
            break;
        }
    }
    let total = signed.len();
    let page = signed
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    Ok((page, total))
}

/// `GET /v1/packages/popular`.
pub(super) async fn popular(app: &App, request: &Request) -> Result<Response, ApiError> {
    let (period, days) = match request.form_query("period").as_deref() {
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
    let mut packages: Vec<Value> = Vec::with_capacity(found.len());
    for summary in &found {
        let signatures = app
            .registry
            .version_signatures(&summary.repository, &summary.shown)
            .await?;
        packages.push(summary_json(summary, &signatures));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "period": period, "packages": packages }),
    ))
}
