//! The versions of a package in a registry, and version requirements
//! (`team/planner:^1.2`) resolved to one of them.
//!
//! A Sentinel registry answers from its package API
//! (`/v1/packages/{name}/versions`), with digests, sizes, downloads and
//! deprecations; any other registry from its tag list, where the tags that
//! are versions (`1.2.0`, `v1.2.0`, `1.2.0_build` for `1.2.0+build`) are
//! the versions.

use std::cmp::Ordering;

use semver::Version;
use sentinel_client::{
    ClientError, PackageVersions, RegistryClient, ResolvedReference, VersionsQuery,
};
use sentinel_oci::Digest;
use sentinel_package::versions::{self, VersionRequirement, tag_version, version_tag};
use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::registries::{self, Registries};

/// How many of the highest versions a failed resolution names.
const HIGHEST_SHOWN: usize = 3;

/// Where a registry's versions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionSource {
    /// Sentinel's package API: versions with digests, sizes, downloads, deprecations.
    PackageApi,
    /// The OCI tag list: versions and their tags only.
    TagList,
}

/// One version (or, when all tags are asked for, one tag that is not a
/// version) of a package. What the tag list cannot say is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    /// The semantic version; `None` for a tag that is not one (`latest`).
    pub version: Option<String>,
    /// The tag it is stored under.
    pub tag: String,
    /// Whether this is the package's latest version: the highest that is
    /// neither a pre-release nor deprecated.
    pub latest: bool,
    /// Its manifest's digest.
    pub digest: Option<String>,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// The package's size in bytes.
    pub size: Option<u64>,
    /// How often it was downloaded.
    pub downloads: Option<u64>,
    /// The deprecation message, when it is deprecated.
    pub deprecated: Option<String>,
}

/// The versions of one package in one registry, newest first.
#[derive(Debug, Clone)]
pub struct VersionListing {
    /// The repository, with the registry it was found in.
    pub repository: ResolvedReference,
    /// Where the versions came from.
    pub source: VersionSource,
    /// `agent` or `stack`, when the package API says.
    pub kind: Option<String>,
    /// The versions, newest first; then, when asked for, the other tags.
    pub rows: Vec<VersionRow>,
}

/// A version requirement, and the version it resolved to.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The requirement as written.
    pub requirement: VersionRequirement,
    /// The version chosen.
    pub version: Version,
    /// Where the versions came from.
    pub source: VersionSource,
}

/// Lists the versions of the package `text` names (`[registry/]name`, no
/// tag), from the first of `candidates` that holds it; with `all`, the tags
/// that are not versions follow the versions.
pub async fn versions(
    candidates: &[impl Registries],
    text: &str,
    all: bool,
) -> Result<VersionListing> {
    let references = references(candidates, text)?;
    if let Some((reference, _)) = references.first()
        && (reference.tag().is_some() || reference.digest().is_some())
    {
        return Err(WorkflowError::Usage(format!(
            "{text} names a tag or digest; give the package alone, e.g. {}",
            reference.repository()
        )));
    }
    let mut misses = Vec::new();
    let count = references.len();
    for (reference, registries) in references {
        let client = registries::client(registries, &reference)?;
        match known_versions(&client, reference.repository(), None).await {
            Ok(known) => return listing(&client, reference, known, all).await,
            Err(error @ ClientError::NotFound { .. }) if count > 1 => {
                misses.push(error.to_string())
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(not_in_any(text, &misses))
}

/// Splits `text` into a reference without a tag and a version requirement,
/// when what follows its last `:` (after its last `/`, so that a registry's
/// port is not taken for it) is not a valid tag: `team/planner:^1.2`,
/// `team/planner:>=1.0, <2.0`. `None` for a plain reference.
pub(crate) fn split_requirement(text: &str) -> Result<Option<(&str, VersionRequirement)>> {
    let Some((base, tail)) = versions::split_requirement(text) else {
        return Ok(None);
    };
    let requirement = tail
        .parse::<VersionRequirement>()
        .map_err(|error| WorkflowError::Usage(format!("cannot read {text:?}: {error}")))?;
    Ok(Some((base, requirement)))
}

/// What a requirement found in one registry.
pub(crate) struct Found {
    /// The reference with the chosen version's tag.
    pub reference: ResolvedReference,
    /// The manifest to fetch: the API's digest, else the tag.
    pub manifest: String,
    /// The client of the registry it was found in.
    pub client: RegistryClient,
    /// The requirement and its version.
    pub resolution: Resolution,
}

/// Resolves `requirement` for the package `base` names, in the first of
/// `candidates` that has a matching version.
pub(crate) async fn resolve_requirement(
    candidates: &[impl Registries],
    base: &str,
    requirement: VersionRequirement,
) -> Result<Found> {
    let references = references(candidates, base)?;
    let written = format!("{base}:{requirement}");
    let mut misses = Vec::new();
    let count = references.len();
    for (reference, registries) in references {
        let client = registries::client(registries, &reference)?;
        let repository = reference.repository().to_string();
        let known = match known_versions(&client, &repository, Some(&requirement)).await {
            Ok(known) => known,
            Err(error @ ClientError::NotFound { .. }) if count > 1 => {
                misses.push(error.to_string());
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        match known.resolve(&requirement) {
            Some((version, tag, digest)) => {
                let manifest = digest.map_or_else(|| tag.clone(), |digest| digest.to_string());
                return Ok(Found {
                    reference: registries::with_tag(&reference, &tag)?,
                    manifest,
                    client,
                    resolution: Resolution {
                        requirement,
                        version,
                        source: known.source(),
                    },
                });
            }
            None => misses.push(known.no_match(&reference, &requirement)),
        }
    }
    Err(match misses.as_slice() {
        [only] if count == 1 => WorkflowError::NotFound(only.clone()),
        _ => not_in_any(&written, &misses),
    })
}

/// Every candidate's reference, parsed before any registry is asked.
fn references<'a, R: Registries>(
    candidates: &'a [R],
    text: &str,
) -> Result<Vec<(ResolvedReference, &'a R)>> {
    candidates
        .iter()
        .map(|registries| Ok((registries::reference(registries, text)?, registries)))
        .collect()
}

fn not_in_any(text: &str, misses: &[String]) -> WorkflowError {
    WorkflowError::NotFound(format!(
        "{text} not found in any configured registry ({})",
        misses.join("; ")
    ))
}

/// A registry's versions of one package.
enum Known {
    /// From the package API; `resolved` answers the range asked for.
    Api(PackageVersions),
    /// From the tag list: every tag, the versions among them sorted.
    Tags {
        versions: Vec<(Version, String)>,
        others: Vec<String>,
    },
}

/// Asks the package API (with `requirement` as its range), and the tag list
/// where the registry has no package API.
async fn known_versions(
    client: &RegistryClient,
    repository: &str,
    requirement: Option<&VersionRequirement>,
) -> Result<Known, ClientError> {
    let range = requirement.map(ToString::to_string);
    let query = VersionsQuery {
        range: range.as_deref(),
        prerelease: false,
    };
    if let Some(api) = client.package_versions(repository, query).await? {
        return Ok(Known::Api(api));
    }
    Ok(Known::from_tags(client.list_tags(repository).await?))
}

/// The tags that are versions, newest first, and the others, sorted.
fn split_tags(tags: Vec<String>) -> (Vec<(Version, String)>, Vec<String>) {
    let (mut versions, mut others) = (Vec::new(), Vec::new());
    for tag in tags {
        match tag_version(&tag) {
            Some(version) => versions.push((version, tag)),
            None => others.push(tag),
        }
    }
    versions.sort_by(newest_first);
    others.sort();
    (versions, others)
}

/// Newest first; among equal versions, by tag.
fn newest_first(a: &(Version, String), b: &(Version, String)) -> Ordering {
    b.0.cmp_precedence(&a.0)
        .then_with(|| b.0.cmp(&a.0))
        .then_with(|| a.1.cmp(&b.1))
}

impl Known {
    fn from_tags(tags: Vec<String>) -> Known {
        let (versions, others) = split_tags(tags);
        Known::Tags { versions, others }
    }

    fn source(&self) -> VersionSource {
        match self {
            Known::Api(_) => VersionSource::PackageApi,
            Known::Tags { .. } => VersionSource::TagList,
        }
    }

    /// The version `requirement` resolves to, its tag, and its digest when known.
    fn resolve(
        &self,
        requirement: &VersionRequirement,
    ) -> Option<(Version, String, Option<Digest>)> {
        match self {
            Known::Api(api) => {
                let resolved = api.resolved.as_deref()?;
                let version = Version::parse(resolved).ok()?;
                let entry = api
                    .versions
                    .iter()
                    .find(|entry| Version::parse(&entry.version).ok().as_ref() == Some(&version));
                Some(match entry {
                    Some(entry) => (version, entry.tag.clone(), Some(entry.digest.clone())),
                    None => {
                        let tag = version_tag(&version);
                        (version, tag, None)
                    }
                })
            }
            Known::Tags { versions, .. } => {
                let chosen =
                    requirement.highest(versions.iter().map(|(v, _)| v), false, |_| false)?;
                // The version written as it is pushed, else the first tag naming it.
                let canonical = version_tag(chosen);
                let tag = versions
                    .iter()
                    .filter(|(version, _)| version == chosen)
                    .map(|(_, tag)| tag)
                    .find(|tag| **tag == canonical)
                    .or_else(|| {
                        versions
                            .iter()
                            .find(|(version, _)| version == chosen)
                            .map(|(_, tag)| tag)
                    })?;
                Some((chosen.clone(), tag.clone(), None))
            }
        }
    }

    /// The one line saying that nothing matched, with the highest versions seen.
    fn no_match(&self, reference: &ResolvedReference, requirement: &VersionRequirement) -> String {
        let mut highest: Vec<String> = match self {
            Known::Api(api) => api.versions.iter().map(|v| v.version.clone()).collect(),
            Known::Tags { versions, .. } => versions.iter().map(|(v, _)| v.to_string()).collect(),
        };
        highest.dedup();
        let seen = if highest.is_empty() {
            "it has no versions".to_string()
        } else {
            let shown = highest.len().min(HIGHEST_SHOWN);
            format!("highest: {}", highest[..shown].join(", "))
        };
        format!(
            "no version of {}/{} matches {requirement} ({seen})",
            reference.registry(),
            reference.repository()
        )
    }
}

/// The listing of what `known` holds; with `all` on the package API, the
/// tag list is read too, for the tags that are not versions.
async fn listing(
    client: &RegistryClient,
    repository: ResolvedReference,
    known: Known,
    all: bool,
) -> Result<VersionListing> {
    let source = known.source();
    let (kind, rows) = match known {
        Known::Api(api) => {
            let mut rows = api_rows(&api);
            if all {
                let listed: Vec<&str> = rows.iter().map(|row| row.tag.as_str()).collect();
                let (_, others) = split_tags(client.list_tags(repository.repository()).await?);
                let others: Vec<String> = others
                    .into_iter()
                    .filter(|tag| !listed.contains(&tag.as_str()))
                    .collect();
                rows.extend(others.into_iter().map(other_tag_row));
            }
            (Some(api.kind), rows)
        }
        Known::Tags { versions, others } => {
            let latest = versions::latest(versions.iter().map(|(v, _)| v), |_| false).cloned();
            let mut marked = false;
            let mut rows: Vec<VersionRow> = versions
                .into_iter()
                .map(|(version, tag)| {
                    let is_latest = !marked && latest.as_ref() == Some(&version);
                    marked |= is_latest;
                    VersionRow {
                        version: Some(version.to_string()),
                        tag,
                        latest: is_latest,
                        digest: None,
                        created: None,
                        size: None,
                        downloads: None,
                        deprecated: None,
                    }
                })
                .collect();
            if all {
                rows.extend(others.into_iter().map(other_tag_row));
            }
            (None, rows)
        }
    };
    Ok(VersionListing {
        repository,
        source,
        kind,
        rows,
    })
}

/// The package API's versions as rows, newest first (the API's order is
/// kept for versions that do not parse, after the rest).
fn api_rows(api: &PackageVersions) -> Vec<VersionRow> {
    let mut entries: Vec<_> = api.versions.iter().collect();
    entries.sort_by(
        |a, b| match (Version::parse(&a.version), Version::parse(&b.version)) {
            (Ok(a), Ok(b)) => b.cmp_precedence(&a).then_with(|| b.cmp(&a)),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => Ordering::Equal,
        },
    );
    entries
        .into_iter()
        .map(|entry| VersionRow {
            version: Some(entry.version.clone()),
            tag: entry.tag.clone(),
            latest: api.latest.as_deref() == Some(entry.version.as_str()),
            digest: Some(entry.digest.to_string()),
            created: Some(entry.created.clone()),
            size: Some(entry.size),
            downloads: Some(entry.downloads),
            deprecated: entry.deprecated.clone(),
        })
        .collect()
}

fn other_tag_row(tag: String) -> VersionRow {
    VersionRow {
        version: None,
        tag,
        latest: false,
        digest: None,
        created: None,
        size: None,
        downloads: None,
        deprecated: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requirement_is_what_follows_the_last_colon_when_it_is_no_tag() {
        let split = |text| {
            split_requirement(text)
                .unwrap()
                .map(|(base, requirement)| (base, requirement.to_string()))
        };
        assert_eq!(
            split("team/planner:^1.2"),
            Some(("team/planner", "^1.2".into()))
        );
        assert_eq!(
            split("team/planner:>=1.0, <2.0"),
            Some(("team/planner", ">=1.0, <2.0".into()))
        );
        assert_eq!(
            split("localhost:5000/team/planner:~1.4"),
            Some(("localhost:5000/team/planner", "~1.4".into()))
        );
        for plain in [
            "team/planner",
            "team/planner:1.2.0",
            "team/planner:latest",
            "localhost:5000/team/planner",
            "localhost:5000/team/planner:v1",
            "team/planner@sha256:abc",
        ] {
            assert_eq!(split(plain), None, "{plain}");
        }
        let refused = split_requirement("team/planner:^^1").unwrap_err();
        assert!(matches!(refused, WorkflowError::Usage(_)), "{refused}");
        assert!(
            refused.to_string().contains("not a version requirement"),
            "{refused}"
        );
    }

    #[test]
    fn tags_sort_newest_first_and_resolve() {
        let tags = [
            "latest",
            "1.2.0",
            "v1.10.0",
            "2.0.0-rc.1",
            "1.9.0",
            "stable",
            "1.2.0_build.1",
        ];
        let known = Known::from_tags(tags.iter().map(ToString::to_string).collect());
        let Known::Tags { versions, others } = &known else {
            panic!("a tag list");
        };
        let order: Vec<&str> = versions.iter().map(|(_, tag)| tag.as_str()).collect();
        assert_eq!(
            order,
            ["2.0.0-rc.1", "v1.10.0", "1.9.0", "1.2.0_build.1", "1.2.0"]
        );
        assert_eq!(others, &["latest", "stable"]);
        let requirement: VersionRequirement = "^1.2".parse().unwrap();
        let (version, tag, digest) = known.resolve(&requirement).unwrap();
        assert_eq!(
            (version.to_string().as_str(), tag.as_str(), digest),
            ("1.10.0", "v1.10.0", None)
        );
        let exact: VersionRequirement = "=1.9.0".parse().unwrap();
        assert_eq!(known.resolve(&exact).unwrap().1, "1.9.0");
        let none: VersionRequirement = "^3".parse().unwrap();
        assert!(known.resolve(&none).is_none());
        let reference = ResolvedReference::parse("localhost:5000/team/planner", None).unwrap();
        assert_eq!(
            known.no_match(&reference, &none),
            "no version of localhost:5000/team/planner matches ^3 (highest: 2.0.0-rc.1, 1.10.0, 1.9.0)"
        );
    }

    /// An answer of the package API, as its contract fixes it.
    fn api_answer(resolved: Option<&str>) -> PackageVersions {
        let entry = |version: &str, tag: &str, hex: char, deprecated: Option<&str>| {
            serde_json::json!({
                "version": version, "tag": tag,
                "digest": format!("sha256:{}", hex.to_string().repeat(64)),
                "created": "2026-12-01T10:00:00Z", "size": 1234, "downloads": 5,
                "deprecated": deprecated,
            })
        };
        serde_json::from_value(serde_json::json!({
            "name": "team/planner", "kind": "agent", "latest": "1.4.0", "resolved": resolved,
            "versions": [
                entry("1.4.0", "1.4.0", 'a', None),
                entry("2.0.0-rc.1", "2.0.0-rc.1", 'b', None),
                entry("1.5.0", "v1.5.0", 'c', Some("use 1.4.0")),
            ],
        }))
        .unwrap()
    }

    #[test]
    fn the_package_api_answers_sort_mark_and_resolve() {
        let rows = api_rows(&api_answer(None));
        let tags: Vec<&str> = rows.iter().map(|row| row.tag.as_str()).collect();
        assert_eq!(tags, ["2.0.0-rc.1", "v1.5.0", "1.4.0"]);
        assert!(rows[2].latest && !rows[0].latest && !rows[1].latest);
        assert_eq!(rows[1].deprecated.as_deref(), Some("use 1.4.0"));
        assert_eq!(rows[2].downloads, Some(5));

        let requirement: VersionRequirement = "^1.2".parse().unwrap();
        let known = Known::Api(api_answer(Some("1.4.0")));
        let (version, tag, digest) = known.resolve(&requirement).unwrap();
        assert_eq!(
            (version.to_string().as_str(), tag.as_str()),
            ("1.4.0", "1.4.0")
        );
        assert_eq!(
            digest.unwrap().to_string(),
            format!("sha256:{}", "a".repeat(64))
        );
        // The API found no match: nothing is chosen on this side either.
        assert!(Known::Api(api_answer(None)).resolve(&requirement).is_none());
    }
}
