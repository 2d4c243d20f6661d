//! `GET /search`: the packages matching a search, with facets and pages.
//!
//! It reads the same parameters as `/v1/packages/search` (`q`, `kind`,
//! `capability`, `author`, `tag`, `model`, `namespace`, `signed`, `sort`,
//! `cursor`, `limit`), checked the same way: a malformed one is a `400` page. The
//! facets count every match the visitor may see (with `signed=true`, every
//! signed match), not only the page shown.

use std::collections::HashMap;

use sentinel_catalogue::{
    Facets, MAX_CAPABILITY_FACETS, MAX_MODEL_FACETS, PackageSummary, SearchQuery, Sort,
};
use sentinel_oci::RepositoryName;
use sentinel_package::PackageKind;
use sentinel_ui::{FacetLink, SearchForm, SearchResultsPage};

use super::*;
use crate::api::packages::{cursor_at, read_search, signed_matches};

/// `GET /search`.
pub(super) async fn search(State(app): State<App>, visit: Visit) -> Response {
    let result = render(&app, &visit).await;
    visit.respond(&app, result)
}

async fn render(app: &App, visit: &Visit) -> Result<Response, PageError> {
    let (query, signed) = read_search(&visit.request).map_err(PageError::Invalid)?;
    let visible = |repository: &RepositoryName| visit.can_see(repository.as_str());
    let (found, total, facets) = if signed {
        let all = signed_matches(app, &query, &visible).await?;
        let facets = facets_of(all.iter().map(|(summary, _)| summary));
        let total = all.len();
        let page: Vec<PackageSummary> = all
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|(summary, _)| summary)
            .collect();
        (page, total, facets)
    } else {
        let faceted = app
            .registry
            .search_packages_faceted(&query, &visible)
            .await?;
        (faceted.page.packages, faceted.page.total, faceted.facets)
    };
    let mut form = form_of(&query, signed);
    if !form.namespace.is_empty() {
        form.without_namespace = url(&form, &[("namespace", None), ("cursor", None)]);
    }
    if visit
        .request
        .form_query("limit")
        .is_some_and(|l| !l.is_empty())
    {
        form.limit = query.limit.to_string();
    }
    let next = query.offset + found.len();
    let next = (next < total)
        .then(|| cursor_at(next))
        .flatten()
        .map(|cursor| url(&form, &[("cursor", Some(&cursor))]));
    let previous = (query.offset > 0).then(|| {
        let back = query.offset.saturating_sub(query.limit);
        let cursor = (back > 0).then(|| cursor_at(back)).flatten();
        url(&form, &[("cursor", cursor.as_deref())])
    });
    let kinds = facets
        .kinds
        .iter()
        .map(|(kind, count)| {
            let value = kind.to_string();
            let active = form.kind == value;
            let set = (!active).then_some(value.as_str());
            FacetLink {
                href: url(&form, &[("kind", set), ("cursor", None)]),
                value,
                count: format::count(*count as u64),
                active,
            }
        })
        .collect();
    let capabilities = links(&form, "capability", &form.capability, &facets.capabilities);
    let models = links(&form, "model", &form.model, &facets.models);
    let title = match (form.q.is_empty(), form.namespace.is_empty()) {
        (true, true) => "Packages".to_owned(),
        (true, false) => format!("Packages in {}", form.namespace),
        (false, true) => format!("Search: {}", form.q),
        (false, false) => format!("Search in {}: {}", form.namespace, form.q),
    };
    let mut layout = visit.layout(app, title);
    layout.query = form.q.clone();
    page(&SearchResultsPage {
        layout,
        results: package_cards(app, &found).await?,
        count: format::counted(total as u64, "package", "packages"),
        kinds,
        capabilities,
        models,
        next,
        previous,
        form,
    })
}

/// The links of a facet counted per lowercased value (`counts`), each
/// setting the filter `key`, or clearing it when `current` (the filter as
/// the visitor wrote it) is that value.
fn links(
    form: &SearchForm,
    key: &str,
    current: &str,
    counts: &[(String, usize)],
) -> Vec<FacetLink> {
    let current = current.to_lowercase();
    counts
        .iter()
        .map(|(value, count)| {
            let active = current == *value;
            let set = (!active).then_some(value.as_str());
            FacetLink {
                href: url(form, &[(key, set), ("cursor", None)]),
                value: value.clone(),
                count: format::count(*count as u64),
                active,
            }
        })
        .collect()
}

/// The form as `query` fills it in.
fn form_of(query: &SearchQuery, signed: bool) -> SearchForm {
    SearchForm {
        q: query.text.clone(),
        kind: query.kind.map(|k| k.to_string()).unwrap_or_default(),
        capability: query.capability.clone().unwrap_or_default(),
        author: query.author.clone().unwrap_or_default(),
        tag: query.tag.clone().unwrap_or_default(),
        model: query.model.clone().unwrap_or_default(),
        namespace: query.namespace.clone().unwrap_or_default(),
        without_namespace: String::new(),
        signed,
        sort: match query.sort {
            Sort::Relevance => "relevance",
            Sort::Downloads => "downloads",
            Sort::Updated => "updated",
            Sort::Name => "name",
        }
        .to_owned(),
        limit: String::new(),
    }
}

/// `/search` with the parameters of `form`, each of `changes` set (or
/// left out, for `None`); empty parameters are left out.
fn url(form: &SearchForm, changes: &[(&str, Option<&str>)]) -> String {
    let signed = if form.signed { "true" } else { "" };
    let sort = if form.sort == "relevance" {
        ""
    } else {
        form.sort.as_str()
    };
    let mut parameters: Vec<(&str, &str)> = vec![
        ("q", &form.q),
        ("kind", &form.kind),
        ("capability", &form.capability),
        ("author", &form.author),
        ("tag", &form.tag),
        ("model", &form.model),
        ("namespace", &form.namespace),
        ("signed", signed),
        ("sort", sort),
        ("limit", &form.limit),
    ];
    for (key, value) in changes {
        parameters.retain(|(k, _)| k != key);
        if let Some(value) = value {
            parameters.push((key, value));
        }
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in parameters {
        if !value.is_empty() {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        "/search".to_owned()
    } else {
        format!("/search?{query}")
    }
}

/// The facets of `matches`, as the catalogue counts them.
fn facets_of<'a>(matches: impl Iterator<Item = &'a PackageSummary>) -> Facets {
    let mut kinds = [0usize; 2];
    let mut capabilities: HashMap<String, usize> = HashMap::new();
    let mut models: HashMap<String, usize> = HashMap::new();
    for summary in matches {
        match summary.kind {
            PackageKind::Agent => kinds[0] += 1,
            PackageKind::Stack => kinds[1] += 1,
        }
        let mut own: Vec<String> = summary
            .capabilities
            .iter()
            .map(|c| c.to_lowercase())
            .collect();
        own.sort();
        own.dedup();
        for capability in own {
            *capabilities.entry(capability).or_default() += 1;
        }
        if let Some(model) = &summary.model {
            let both = format!("{}/{}", model.provider, model.name).to_lowercase();
            *models.entry(both).or_default() += 1;
        }
    }
    Facets {
        kinds: [PackageKind::Agent, PackageKind::Stack]
            .into_iter()
            .zip(kinds)
            .filter(|(_, n)| *n > 0)
            .collect(),
        capabilities: most(capabilities, MAX_CAPABILITY_FACETS),
        models: most(models, MAX_MODEL_FACETS),
    }
}

/// The `limit` values with the highest counts, most first, ties by value.
fn most(counts: HashMap<String, usize>, limit: usize) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| (std::cmp::Reverse(a.1), &a.0).cmp(&(std::cmp::Reverse(b.1), &b.0)));
    counts.truncate(limit);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_search_and_change_what_they_are_told() {
        let form = SearchForm {
            q: "web search & more".to_owned(),
            kind: "agent".to_owned(),
            sort: "relevance".to_owned(),
            ..SearchForm::default()
        };
        assert_eq!(
            url(&form, &[("capability", Some("pdf"))]),
            "/search?q=web+search+%26+more&kind=agent&capability=pdf"
        );
        assert_eq!(
            url(&form, &[("kind", None), ("cursor", Some("b206MjA"))]),
            "/search?q=web+search+%26+more&cursor=b206MjA"
        );
        assert_eq!(url(&SearchForm::default(), &[]), "/search");
    }
}
