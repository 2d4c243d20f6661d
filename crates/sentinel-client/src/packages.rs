//! Sentinel's package API (`/v1/packages/`): the versions of a package,
//! when the registry has the API. Any registry without it (Distribution,
//! Docker Hub, ...) answers something else, and the caller falls back to
//! the OCI tag list.

use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Method, StatusCode};
use sentinel_oci::Digest;
use serde::Deserialize;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::reference::parse_repository;
use crate::response::error_for_status;
use crate::scope::Scopes;
use crate::transport::{Auth, Call};

/// The largest versions answer read (a package with many thousands of
/// versions stays far below it).
const MAX_VERSIONS_BODY: u64 = 16 * 1024 * 1024;

/// `GET /v1/packages/{name}/versions`: a package's versions, newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageVersions {
    /// The repository, e.g. `team/planner`.
    pub name: String,
    /// `agent` or `stack`.
    pub kind: String,
    /// The highest version that is neither a pre-release nor deprecated.
    pub latest: Option<String>,
    /// The highest version matching the requested range, when one was asked for.
    pub resolved: Option<String>,
    /// Every version, newest first.
    pub versions: Vec<PackageVersion>,
}

/// One version of a package, as the package API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageVersion {
    /// The semantic version.
    pub version: String,
    /// The tag it is stored under.
    pub tag: String,
    /// Its manifest's digest.
    pub digest: Digest,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The package's size in bytes.
    pub size: u64,
    /// How often it was downloaded.
    pub downloads: u64,
    /// The deprecation message, when it is deprecated.
    pub deprecated: Option<String>,
}

/// `GET /v1/packages/search`: a page of packages.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResults {
    /// The packages of this page.
    pub packages: Vec<PackageHit>,
    /// How many packages match in all.
    pub total: u64,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// A package a search found: its latest version's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageHit {
    /// The repository, e.g. `team/planner`.
    pub name: String,
    /// `agent` or `stack`.
    pub kind: String,
    /// The highest version that is neither a pre-release nor deprecated.
    pub latest: Option<String>,
    /// The version whose metadata is shown.
    pub version: String,
    /// Its description.
    pub description: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// Its capabilities.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Downloads of every version.
    #[serde(default)]
    pub downloads: u64,
    /// When a version was last pushed (RFC 3339).
    pub updated: Option<String>,
}

/// What to search for: the query parameters of `/v1/packages/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Words matched against names, descriptions, tags and capabilities.
    pub text: String,
    /// `agent` or `stack`.
    pub kind: Option<String>,
    /// A capability the package must have.
    pub capability: Option<String>,
    /// An author the package's author must contain.
    pub author: Option<String>,
    /// A tag the package must have.
    pub tag: Option<String>,
    /// `relevance`, `downloads`, `updated` or `name`.
    pub sort: Option<String>,
    /// Results per page (1 to 100).
    pub limit: Option<u32>,
    /// Only packages whose shown version a key the registry trusts signed
    /// (`signed=true`).
    pub signed: bool,
}

/// What to ask the versions endpoint for.
#[derive(Debug, Clone, Copy, Default)]
pub struct VersionsQuery<'a> {
    /// A semver requirement (`^1.2`); the answer's `resolved` is its highest match.
    pub range: Option<&'a str>,
    /// Let pre-releases match the range.
    pub prerelease: bool,
}

impl RegistryClient {
    /// The versions of the package in `repo` from Sentinel's package API,
    /// authenticated as `/v2/` is (pull access to `repo`). `Ok(None)` means
    /// the registry has no package API for it: any answer other than a 200
    /// with the API's JSON (a 404, a 401 the auth flow cannot answer, a body
    /// that is not that JSON). Only failures that a fallback to the tag list
    /// would meet too are errors: the registry cannot be reached, or it
    /// rate-limits.
    pub async fn package_versions(
        &self,
        repo: &str,
        query: VersionsQuery<'_>,
    ) -> Result<Option<PackageVersions>, ClientError> {
        let repository = parse_repository(repo)?;
        let mut url = self.url(&format!("v1/packages/{repository}/versions"))?;
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(range) = query.range {
                pairs.append_pair("range", range);
            }
            if query.prerelease {
                pairs.append_pair("prerelease", "true");
            }
        }
        let scopes = Scopes::pull(repo);
        let call = Call::idempotent(Method::GET, url, Auth::Scoped(&scopes))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.execute(call).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(error_for_status(self.registry(), response, None).await);
            }
            _ => return Ok(None),
        }
        let what = format!("the versions of {repository}");
        let body = match self.read_body(response, MAX_VERSIONS_BODY, &what).await {
            Ok(body) => body,
            Err(error @ ClientError::Connect { .. }) => return Err(error),
            Err(_) => return Ok(None),
        };
        Ok(serde_json::from_slice::<PackageVersions>(&body).ok())
    }
}

impl RegistryClient {
    /// Searches Sentinel's package API, with the saved credential (so that
    /// private packages the user may see are found). `Ok(None)` means the
    /// registry has no package search: any answer other than a 200 with the
    /// API's JSON. A malformed query is refused by the registry with 400,
    /// which is [`ClientError`] too.
    pub async fn search_packages(
        &self,
        query: &SearchQuery,
    ) -> Result<Option<SearchResults>, ClientError> {
        let mut url = self.url("v1/packages/search")?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("q", &query.text);
            let optional = [
                ("kind", query.kind.as_deref()),
                ("capability", query.capability.as_deref()),
                ("author", query.author.as_deref()),
                ("tag", query.tag.as_deref()),
                ("sort", query.sort.as_deref()),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    pairs.append_pair(key, value);
                }
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
            if query.signed {
                pairs.append_pair("signed", "true");
            }
        }
        let call = Call::idempotent(Method::GET, url, self.management_auth())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.execute(call).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::TOO_MANY_REQUESTS
                if is_sentinel_error(&response) =>
            {
                return Err(error_for_status(self.registry(), response, None).await);
            }
            _ => return Ok(None),
        }
        let body = match self
            .read_body(response, MAX_VERSIONS_BODY, "the search results")
            .await
        {
            Ok(body) => body,
            Err(error @ ClientError::Connect { .. }) => return Err(error),
            Err(_) => return Ok(None),
        };
        Ok(serde_json::from_slice::<SearchResults>(&body).ok())
    }
}

/// Whether an error answer is JSON (the package API's envelope), not some
/// other server's page.
fn is_sentinel_error(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_search_results() {
        let body = br#"{"packages":[{"name":"team/planner","package":"planner","kind":"agent",
            "latest":"1.1.0","version":"1.1.0","description":"Plans","author":null,
            "capabilities":["chat"],"tags":[],"model":null,"downloads":3,
            "updated":"2026-12-07T00:36:42Z"}],"total":1,"next_cursor":null}"#;
        let results: SearchResults = serde_json::from_slice(body).unwrap();
        assert_eq!(results.total, 1);
        assert_eq!(results.packages[0].name, "team/planner");
        assert_eq!(results.packages[0].downloads, 3);
    }

    #[test]
    fn reads_the_contract() {
        let body = br#"{"name":"team/planner","kind":"agent","latest":"1.4.0","resolved":null,
            "versions":[{"version":"1.4.0","tag":"1.4.0",
            "digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "created":"2026-12-01T10:00:00Z","size":1234,"downloads":5,"deprecated":null}]}"#;
        let versions: PackageVersions = serde_json::from_slice(body).unwrap();
        assert_eq!(versions.latest.as_deref(), Some("1.4.0"));
        assert_eq!(versions.resolved, None);
        assert_eq!(versions.versions[0].downloads, 5);
        assert!(serde_json::from_slice::<PackageVersions>(b"<html>").is_err());
    }
}
