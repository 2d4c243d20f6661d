//! `GET /v1/packages/search` and `GET /v1/packages/popular`, and the
//! query parameters they read (which the UI's search page reads too:
//! [`read_search`]).

use super::*;

/// What is wrong with a query parameter, for a `400`.
type Malformed = String;

/// A query parameter of at most `max` bytes.
fn bounded(request: &Request, key: &str, max: usize) -> Result<Option<String>, Malformed> {
    match request.form_query(key) {
        Some(value) if value.len() > max => Err(format!(
            "{key} is {} bytes long; at most {max} are accepted",
            value.len()
        )),
        Some(value) if value.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent or empty
/// (as an empty form field sends it, like every other filter).
fn limit(request: &Request) -> Result<usize, Malformed> {
    match request.form_query("limit").filter(|text| !text.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"
            )),
        },
    }
}

/// `kind`: `agent` or `stack`.
fn kind(request: &Request) -> Result<Option<PackageKind>, Malformed> {
    match request.form_query("kind").as_deref() {
        None | Some("") => Ok(None),
        Some("agent") => Ok(Some(PackageKind::Agent)),
        Some("stack") => Ok(Some(PackageKind::Stack)),
        Some(other) => Err(format!(
            "kind must be agent or stack, not {:?}",
            truncate(other)
        )),
    }
}

/// The offset a cursor stands for.
fn cursor(request: &Request) -> Result<usize, Malformed> {
    let Some(text) = request.form_query("cursor").filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    let malformed = || "the cursor is not one this registry gave out".to_owned();
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
fn signed_only(request: &Request) -> Result<bool, Malformed> {
    match request.form_query("signed").as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "signed must be true or false, not {:?}",
            truncate(other)
        )),
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

/// The search a request asks for (`q`, `kind`, `capability`, `tag`,
/// `author`, `model`, `sort`, `cursor`, `limit`) and whether it asks for
/// signed packages only (`signed`); what is wrong with it otherwise.
pub(crate) fn read_search(request: &Request) -> Result<(SearchQuery, bool), Malformed> {
    let text = bounded(request, "q", MAX_QUERY_BYTES)?.unwrap_or_default();
    let sort = match request.form_query("sort").as_deref() {
        None | Some("") | Some("relevance") => Sort::Relevance,
        Some("downloads") => Sort::Downloads,
        Some("updated") => Sort::Updated,
        Some("name") => Sort::Name,
        Some(other) => {
            return Err(format!(
                "sort must be relevance, downloads, updated or name, not {:?}",
                truncate(other)
            ));
        }
    };
    let query = SearchQuery {
        text,
        kind: kind(request)?,
        capability: bounded(request, "capability", MAX_FILTER_BYTES)?,
        tag: bounded(request, "tag", MAX_FILTER_BYTES)?,
        author: bounded(request, "author", MAX_FILTER_BYTES)?,
        model: bounded(request, "model", MAX_FILTER_BYTES)?,
        namespace: bounded(request, "namespace", MAX_FILTER_BYTES)?,
        sort,
        offset: cursor(request)?,
        limit: limit(request)?,
    };
    Ok((query, signed_only(request)?))
}

/// The cursor of the results from `offset` on, if a cursor may reach it.
pub(crate) fn cursor_at(offset: usize) -> Option<String> {
    (offset <= MAX_OFFSET).then(|| URL_SAFE_NO_PAD.encode(format!("o:{offset}")))
}

/// `GET /v1/packages/search`.
pub(super) async fn search(app: &App, request: &Request) -> Result<Response, ApiError> {
    let (query, signed) = read_search(request).map_err(invalid)?;
    let visible = |repository: &RepositoryName| request.can_see(repository.as_str());
    let (found, total) = if signed {
        let signed = signed_matches(app, &query, &visible).await?;
        let total = signed.len();
        let page = signed
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect();
        (page, total)
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
    let next_cursor = if next < total { cursor_at(next) } else { None };
    let packages: Vec<Value> = found
        .iter()
        .map(|(summary, signatures)| summary_json(summary, signatures))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "packages": packages, "total": total, "next_cursor": next_cursor }),
    ))
}

/// Every match of `query` (from the first, whatever its offset) whose
/// shown version a trusted key signed, with its signatures: every match is
/// looked at (the catalogue does not know signatures), a page of
/// [`MAX_LIMIT`] at a time, up to [`MAX_OFFSET`].
pub(crate) async fn signed_matches(
    app: &App,
    query: &SearchQuery,
    visible: sentinel_catalogue::Visible<'_>,
) -> Result<Vec<(PackageSummary, Vec<SignatureEntry>)>, RegistryError> {
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
    Ok(signed)
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
        .popular(
            days,
            kind(request).map_err(invalid)?,
            limit(request).map_err(invalid)?,
            &visible,
        )
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
