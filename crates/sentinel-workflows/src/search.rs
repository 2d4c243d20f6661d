//! Searching registries for packages: Sentinel's package search where a
//! registry has it, else the names of its open `/v2/_catalog` that contain
//! the query, else nothing but a note that it cannot search.

use std::collections::HashSet;

use sentinel_client::SearchQuery;
use serde::Serialize;

use crate::error::Result;
use crate::registries::{self, Registries};

/// A repository name used only to get a registry's client; never sent.
const ANY_REPOSITORY: &str = "sentinel/search";

/// The most names taken from a catalog.
const MAX_CATALOG_MATCHES: usize = 1000;

/// One package found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchRow {
    /// The registry it was found in (host[:port]).
    pub registry: String,
    /// The repository, e.g. `team/planner`.
    pub name: String,
    /// `agent` or `stack`, when the registry says.
    pub kind: Option<String>,
    /// The latest version, when the registry says.
    pub latest: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The author.
    pub author: Option<String>,
    /// The capabilities.
    pub capabilities: Vec<String>,
    /// The tags.
    pub tags: Vec<String>,
    /// Downloads, when the registry counts them.
    pub downloads: Option<u64>,
    /// When a version was last pushed (RFC 3339).
    pub updated: Option<String>,
}

/// How one registry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchSource {
    /// Sentinel's package search.
    PackageSearch,
    /// No package search; names from its open catalog.
    Catalog,
    /// No package search and no open catalog.
    Unsupported,
    /// The registry could not be asked (when several were); why.
    Failed(String),
}

/// What a search found, over every registry asked.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The packages, each registry's in its order, registries in priority
    /// order; a name found in two registries is listed once, from the first.
    pub rows: Vec<SearchRow>,
    /// How each registry answered, in the order asked.
    pub registries: Vec<(String, SearchSource)>,
    /// How many packages match in all, per registry with package search.
    pub total: u64,
}

/// Searches every one of `candidates` for `query` and merges the results.
pub async fn search(candidates: &[impl Registries], query: &SearchQuery) -> Result<SearchOutcome> {
    let mut outcome = SearchOutcome {
        rows: Vec::new(),
        registries: Vec::new(),
        total: 0,
    };
    let mut seen: HashSet<String> = HashSet::new();
    for registries in candidates {
        let reference = registries::reference(registries, ANY_REPOSITORY)?;
        let client = registries::client(registries, &reference)?;
        let host = reference.registry().to_string();
        let answer = match client.search_packages(query).await {
            Ok(answer) => answer,
            Err(error) if candidates.len() == 1 => return Err(error.into()),
            Err(error) => {
                outcome
                    .registries
                    .push((host, SearchSource::Failed(error.to_string())));
                continue;
            }
        };
        let (rows, source) = match answer {
            Some(results) => {
                outcome.total += results.total;
                let rows = results
                    .packages
                    .into_iter()
                    .map(|hit| SearchRow {
                        registry: host.clone(),
                        name: hit.name,
                        kind: Some(hit.kind),
                        latest: hit.latest,
                        description: hit.description,
                        author: hit.author,
                        capabilities: hit.capabilities,
                        tags: hit.tags,
                        downloads: Some(hit.downloads),
                        updated: hit.updated,
                    })
                    .collect();
                (rows, SearchSource::PackageSearch)
            }
            // A registry without package search knows nothing of signatures.
            None if query.signed => (Vec::new(), SearchSource::Unsupported),
            None => match client.catalog().await {
                Ok(names) => (catalog_rows(&host, names, query), SearchSource::Catalog),
                Err(_) => (Vec::new(), SearchSource::Unsupported),
            },
        };
        for row in rows {
            if seen.insert(row.name.clone()) {
                outcome.rows.push(row);
            }
        }
        outcome.registries.push((host, source));
    }
    Ok(outcome)
}

/// The catalog names that contain every word of the query, case-insensitively.
fn catalog_rows(host: &str, names: Vec<String>, query: &SearchQuery) -> Vec<SearchRow> {
    let words: Vec<String> = query
        .text
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let limit = query.limit.map_or(MAX_CATALOG_MATCHES, |n| n as usize);
    names
        .into_iter()
        .filter(|name| {
            let lower = name.to_lowercase();
            words.iter().all(|word| lower.contains(word.as_str()))
        })
        .take(limit.min(MAX_CATALOG_MATCHES))
        .map(|name| SearchRow {
            registry: host.to_owned(),
            name,
            kind: None,
            latest: None,
            description: None,
            author: None,
            capabilities: Vec::new(),
            tags: Vec::new(),
            downloads: None,
            updated: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_must_hold_every_word() {
        let names = vec![
            "team/pdf-summariser".to_owned(),
            "team/summariser".to_owned(),
            "other/PDF-tools".to_owned(),
        ];
        let query = SearchQuery {
            text: "pdf summ".to_owned(),
            ..SearchQuery::default()
        };
        let rows = catalog_rows("r.example", names.clone(), &query);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "team/pdf-summariser");
        let query = SearchQuery {
            text: "pdf".to_owned(),
            limit: Some(1),
            ..SearchQuery::default()
        };
        assert_eq!(catalog_rows("r.example", names, &query).len(), 1);
    }
}
