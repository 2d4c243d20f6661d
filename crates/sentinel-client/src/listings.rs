//! Listings: tags and the catalog (following `Link` pagination), and referrers
//! (with the tag-schema fallback for registries without the referrers API).

use std::collections::HashSet;

use reqwest::header::{ACCEPT, HeaderValue, LINK};
use reqwest::{Method, StatusCode};
use sentinel_oci::{Descriptor, Digest, media_types};
use serde::Deserialize;
use url::Url;

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::reference::parse_repository;
use crate::response::{error_for_status, header};
use crate::scope::Scopes;
use crate::transport::{Auth, Call};

/// The largest listing page read.
const MAX_PAGE_SIZE: u64 = 16 * 1024 * 1024;
/// The most pages followed for one listing (a guard against a `Link` loop).
const MAX_PAGES: usize = 10_000;
/// The header a registry sets when it applied the `artifactType` filter itself.
const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl RegistryClient {
    /// Every tag of `repo`, following `Link` pagination.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, ClientError> {
        let repository = parse_repository(repo)?;
        let url = self.repository_url(repo, "tags/list")?;
        let pages = self
            .paginate(
                url,
                &Scopes::pull(repo),
                &format!("repository {repository}"),
            )
            .await?;
        let mut tags = Vec::new();
        for page in pages {
            let list: TagList = serde_json::from_slice(&page).map_err(|_| {
                ClientError::protocol(
                    self.registry(),
                    format!("its tag list of {repository} is malformed"),
                )
            })?;
            tags.extend(list.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    /// Every repository in the registry's catalog, following `Link` pagination.
    pub async fn catalog(&self) -> Result<Vec<String>, ClientError> {
        let url = self.url("v2/_catalog")?;
        let pages = self
            .paginate(url, &Scopes::catalog(), "the catalog")
            .await?;
        let mut repositories = Vec::new();
        for page in pages {
            let catalog: Catalog = serde_json::from_slice(&page)
                .map_err(|_| ClientError::protocol(self.registry(), "its catalog is malformed"))?;
            repositories.extend(catalog.repositories.unwrap_or_default());
        }
        Ok(repositories)
    }

    /// The manifests whose `subject` is `digest`, optionally only those of
    /// `artifact_type`. Uses the referrers API, or the `<alg>-<hex>` tag where
    /// the registry does not have it (404).
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, ClientError> {
        let registry = self.registry();
        let mut url = self.repository_url(repo, &format!("referrers/{digest}"))?;
        if let Some(artifact_type) = artifact_type {
            url.query_pairs_mut()
                .append_pair("artifactType", artifact_type);
        }
        let scopes = Scopes::pull(repo);
        let call = Call::idempotent(Method::GET, url, Auth::Scoped(&scopes))
            .header(ACCEPT, HeaderValue::from_static(media_types::OCI_INDEX));
        let response = self.execute(call).await?;
        let (referrers, filtered) = match response.status() {
            StatusCode::OK => {
                let filtered = header(response.headers(), OCI_FILTERS_APPLIED)
                    .is_some_and(|applied| applied.split(',').any(|f| f.trim() == "artifactType"));
                let what = format!("the referrers of {repo}@{digest}");
                let body = self.read_body(response, MAX_PAGE_SIZE, &what).await?;
                (parse_index(registry, &body, &what)?, filtered)
            }
            StatusCode::NOT_FOUND => (self.referrers_by_tag(repo, digest).await?, false),
            _ => return Err(error_for_status(registry, response, None).await),
        };
        Ok(match artifact_type {
            Some(wanted) if !filtered => referrers
                .into_iter()
                .filter(|referrer| referrer.artifact_type.as_deref() == Some(wanted))
                .collect(),
            _ => referrers,
        })
    }

    /// The referrers index stored under the fallback tag, or none when the tag does not exist.
    async fn referrers_by_tag(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Vec<Descriptor>, ClientError> {
        let tag = fallback_tag(digest);
        match self.get_manifest(repo, &tag).await {
            Ok(manifest) => parse_index(self.registry(), &manifest.bytes, &format!("{repo}:{tag}")),
            Err(ClientError::NotFound { .. }) => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// Reads every page of a listing, starting at `url` (asking for the
    /// client's page size, if it has one) and following `Link: <..>; rel="next"`.
    async fn paginate(
        &self,
        url: Url,
        scopes: &Scopes,
        what: &str,
    ) -> Result<Vec<bytes::Bytes>, ClientError> {
        let registry = self.registry();
        let mut url = url;
        if let Some(size) = self.inner.page_size {
            url.query_pairs_mut().append_pair("n", &size.to_string());
        }
        let mut pages = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) || seen.len() > MAX_PAGES {
                return Err(ClientError::protocol(
                    registry,
                    format!("its pages of {what} loop"),
                ));
            }
            let response = self
                .execute(Call::idempotent(
                    Method::GET,
                    url.clone(),
                    Auth::Scoped(scopes),
                ))
                .await?;
            if response.status() != StatusCode::OK {
                return Err(error_for_status(registry, response, Some(what.to_owned())).await);
            }
            next = response
                .headers()
                .get_all(LINK)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .find_map(next_link)
                .and_then(|target| url.join(&target).ok());
            pages.push(self.read_body(response, MAX_PAGE_SIZE, what).await?);
        }
        Ok(pages)
    }
}

fn parse_index(registry: &str, body: &[u8], what: &str) -> Result<Vec<Descriptor>, ClientError> {
    serde_json::from_slice::<Index>(body)
        .map(|index| index.manifests)
        .map_err(|_| ClientError::protocol(registry, format!("{what} is not a valid image index")))
}

/// The referrers tag schema: `<alg>-<hex>`, alg cut to 32 and hex to 64 characters.
pub(crate) fn fallback_tag(digest: &Digest) -> String {
    let algorithm = digest.algorithm().as_str();
    let hex = digest.hex();
    format!(
        "{}-{}",
        &algorithm[..algorithm.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

/// The target of the `rel="next"` link in one `Link` header value.
fn next_link(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|param| {
            param.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &rest[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#).as_deref(),
            Some("https://x/next")
        );
        assert_eq!(next_link(r#"<https://x/prev>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn fallback_tag_schema() {
        let digest = Digest::sha256(b"x");
        assert_eq!(fallback_tag(&digest), format!("sha256-{}", digest.hex()));
        let long = Digest::of(sentinel_oci::DigestAlgorithm::Sha512, b"x");
        assert_eq!(fallback_tag(&long), format!("sha512-{}", &long.hex()[..64]));
    }
}
