//! `/repositories` and `/repositories/{name}`: every repository the
//! visitor may see (packages, plain images, other artifacts), and one
//! repository's tags with their digests, media types, sizes, the platforms
//! of image indexes, and the referrers of their manifests.

use std::collections::HashSet;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sentinel_oci::{Digest, Reference, RepositoryName, Tag, media_types};
use sentinel_ui::{
    PlatformChip, ReferrerRow, RepositoriesPage, RepositoryPage, RepositoryRow, TagRow,
};
use serde_json::Value;

use super::*;
use crate::service::{Page, PageRequest, StoredManifest};

/// Repositories on a page of the list.
const REPOSITORIES_PER_PAGE: usize = 50;

/// Repository names read from the index at a time while looking for the
/// visible ones.
const CATALOG_CHUNK: usize = 500;

/// Tags counted per repository in the list before it says `1,000+`.
const TAG_COUNT_BOUND: usize = 1_000;

/// Tags on a page of a repository.
const TAGS_PER_PAGE: usize = 100;

/// The most platforms whose images are read for their sizes, on one page
/// (of up to [`TAGS_PER_PAGE`] tags), so that a page of many-platform
/// indexes stays quick.
const MAX_SIZED_PLATFORMS: usize = 256;

/// The answer for a repository that does not exist or may not be seen
/// (the two look the same).
fn no_such_repository() -> PageError {
    PageError::NotFound("No such repository, or you may not see it.".to_owned())
}

/// `text` for a query string.
fn encoded(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// `GET /repositories?last=`.
pub(super) async fn list(State(app): State<App>, visit: Visit) -> Response {
    let result = render_list(&app, &visit).await;
    visit.respond(&app, result)
}

/// The next page of repository names the visitor may see, after `last`.
async fn visible_page(app: &App, visit: &Visit, last: Option<String>) -> Result<Page, PageError> {
    let mut visible = Page::default();
    let mut after = last;
    loop {
        let page = app
            .registry
            .catalog(&PageRequest {
                last: after.clone(),
                limit: CATALOG_CHUNK,
            })
            .await?;
        for name in &page.items {
            if !visit.can_see(name) {
                continue;
            }
            if visible.items.len() == REPOSITORIES_PER_PAGE {
                visible.more = true;
                return Ok(visible);
            }
            visible.items.push(name.clone());
        }
        if !page.more || page.items.is_empty() {
            return Ok(visible);
        }
        after = page.items.last().cloned();
    }
}

async fn render_list(app: &App, visit: &Visit) -> Result<Response, PageError> {
    let last = visit.request.query("last").filter(|last| !last.is_empty());
    let first = last.is_some().then(|| "/repositories".to_owned());
    let page = visible_page(app, visit, last).await?;
    let mut repositories = Vec::with_capacity(page.items.len());
    for name in &page.items {
        let Ok(repository) = name.parse::<RepositoryName>() else {
            continue;
        };
        let (tags, more) = match app.registry.tag_count(&repository, TAG_COUNT_BOUND).await {
            Ok(counted) => counted,
            // Emptied since it was listed.
            Err(RegistryError::NameUnknown(_)) => (0, false),
            Err(error) => return Err(error.into()),
        };
        let package = app.registry.package_held(&repository).await?;
        repositories.push(RepositoryRow {
            name: name.clone(),
            tags: if more {
                format!("{}+ tags", format::count(tags as u64))
            } else {
                format::counted(tags as u64, "tag", "tags")
            },
            package: package.map(|holding| holding.kind.to_string()),
        });
    }
    let next = match page.items.last() {
        Some(last) if page.more => Some(format!("/repositories?last={}", encoded(last))),
        _ => None,
    };
    super::page(&RepositoriesPage {
        layout: visit.layout(app, "Repositories"),
        repositories,
        next,
        first,
    })
}

/// `GET /repositories/{name}?last=`.
pub(super) async fn repository(
    State(app): State<App>,
    Path(name): Path<String>,
    visit: Visit,
) -> Response {
    let result = render_repository(&app, &visit, &name).await;
    visit.respond(&app, result)
}

/// What a manifest's JSON says about it, read leniently: whatever is
/// missing or malformed is left out.
struct Described {
    size: u64,
    platforms: Vec<Platform>,
    artifact_type: Option<String>,
}

/// One platform an image index lists.
struct Platform {
    /// `os/architecture[/variant]`.
    name: String,
    /// The manifest for it, when the index names a valid digest.
    digest: Option<Digest>,
    /// The manifest's size as the index lists it.
    listed_size: u64,
}

/// The sizes of the descriptors in `list`, summed.
fn sizes(list: &Value) -> u64 {
    list.as_array().map_or(0, |list| {
        list.iter().filter_map(|d| d["size"].as_u64()).sum()
    })
}

/// A manifest's size with its config and layers (an index's: with the
/// manifests it lists), the platforms an index lists, and its artifact
/// type (or its config's media type when that is not an image's).
fn describe(stored: &StoredManifest) -> Described {
    let value: Value = serde_json::from_slice(&stored.body).unwrap_or(Value::Null);
    let size = (stored.body.len() as u64)
        .saturating_add(value["config"]["size"].as_u64().unwrap_or(0))
        .saturating_add(sizes(&value["layers"]))
        .saturating_add(sizes(&value["blobs"]))
        .saturating_add(sizes(&value["manifests"]));
    let mut platforms: Vec<Platform> = Vec::new();
    for entry in value["manifests"].as_array().into_iter().flatten() {
        let platform = &entry["platform"];
        let (Some(os), Some(architecture)) =
            (platform["os"].as_str(), platform["architecture"].as_str())
        else {
            continue;
        };
        if os == "unknown" && architecture == "unknown" {
            // An attestation manifest, not a platform.
            continue;
        }
        let mut text = format!("{os}/{architecture}");
        if let Some(variant) = platform["variant"].as_str().filter(|v| !v.is_empty()) {
            text.push('/');
            text.push_str(variant);
        }
        if !platforms.iter().any(|known| known.name == text) {
            platforms.push(Platform {
                name: text,
                digest: entry["digest"].as_str().and_then(|d| d.parse().ok()),
                listed_size: entry["size"].as_u64().unwrap_or(0),
            });
        }
    }
    let image_configs = [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.empty.v1+json",
    ];
    let artifact_type = value["artifactType"]
        .as_str()
        .or_else(|| {
            value["config"]["mediaType"]
                .as_str()
                .filter(|t| !image_configs.contains(t))
        })
        .map(str::to_owned);
    Described {
        size,
        platforms,
        artifact_type,
    }
}

/// The chips of an index's platforms, each with its image's size (its
/// manifest with config and layers) when the manifest is here; an index's
/// size in `described` then counts those images rather than only the
/// manifests' own bytes. Reads at most `sizes_left` manifests, and counts
/// them off.
async fn platform_chips(
    app: &App,
    repository: &RepositoryName,
    described: &mut Described,
    sizes_left: &mut usize,
) -> Result<Vec<PlatformChip>, PageError> {
    let mut chips = Vec::with_capacity(described.platforms.len());
    for platform in &described.platforms {
        let mut size = None;
        if let Some(digest) = platform.digest.as_ref().filter(|_| *sizes_left > 0) {
            *sizes_left -= 1;
            match app
                .registry
                .manifest(repository, &Reference::Digest(digest.clone()))
                .await
            {
                Ok(child) => {
                    let image = describe(&child).size;
                    // The index counted the manifest as it lists it.
                    described.size = described
                        .size
                        .saturating_sub(platform.listed_size)
                        .saturating_add(image);
                    size = Some(format::bytes(image));
                }
                Err(RegistryError::ManifestUnknown(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        chips.push(PlatformChip {
            name: platform.name.clone(),
            size,
        });
    }
    Ok(chips)
}

/// Where a tag stands on the page: `latest`, then versions (`1.2.0`,
/// `v1.2.0`) newest first, then every other tag by name.
fn tag_order(name: &str) -> (u8, std::cmp::Reverse<Option<semver::Version>>, String) {
    if name == "latest" {
        return (0, std::cmp::Reverse(None), String::new());
    }
    match semver::Version::parse(name.strip_prefix('v').unwrap_or(name)) {
        Ok(version) => (1, std::cmp::Reverse(Some(version)), name.to_owned()),
        Err(_) => (2, std::cmp::Reverse(None), name.to_owned()),
    }
}

/// `sha256:0123456789ab`: a digest cut to its first 12 hex digits.
fn short(digest: &Digest) -> String {
    let text = digest.to_string();
    match text.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(12)]),
        None => text,
    }
}

async fn render_repository(app: &App, visit: &Visit, name: &str) -> Result<Response, PageError> {
    if !visit.can_see(name) {
        return Err(no_such_repository());
    }
    let repository: RepositoryName = name.parse().map_err(|_| no_such_repository())?;
    let last = visit.request.query("last").filter(|last| !last.is_empty());
    let first = last
        .is_some()
        .then(|| format!("/repositories/{repository}"));
    let page = match app
        .registry
        .tags(
            &repository,
            &PageRequest {
                last,
                limit: TAGS_PER_PAGE,
            },
        )
        .await
    {
        Ok(page) => page,
        Err(RegistryError::NameUnknown(_)) => return Err(no_such_repository()),
        Err(error) => return Err(error.into()),
    };
    let mut tags = Vec::with_capacity(page.items.len());
    // Each manifest once, with the tags naming it, in the order first met.
    let mut subjects: Vec<(Digest, Vec<String>)> = Vec::new();
    let mut sizes_left = MAX_SIZED_PLATFORMS;
    for tag_name in &page.items {
        let Ok(tag) = tag_name.parse::<Tag>() else {
            continue;
        };
        let stored = match app
            .registry
            .manifest(&repository, &Reference::Tag(tag))
            .await
        {
            Ok(stored) => stored,
            // Deleted since the tags were listed.
            Err(RegistryError::ManifestUnknown(_)) => continue,
            Err(error) => return Err(error.into()),
        };
        let mut described = describe(&stored);
        let platforms = platform_chips(app, &repository, &mut described, &mut sizes_left).await?;
        match subjects.iter_mut().find(|(d, _)| *d == stored.digest) {
            Some((_, names)) => names.push(tag_name.clone()),
            None => subjects.push((stored.digest.clone(), vec![tag_name.clone()])),
        }
        tags.push(TagRow {
            name: tag_name.clone(),
            digest: stored.digest.to_string(),
            short_digest: short(&stored.digest),
            media_type: stored.media_type.clone(),
            size: format::bytes(described.size),
            platforms,
            artifact_type: described.artifact_type,
        });
    }
    // `latest` first, then versions newest first, then the other tags by
    // name (within this page: pages follow the index's order by name).
    tags.sort_by_cached_key(|tag| tag_order(&tag.name));
    let mut referrers = Vec::new();
    let mut seen = HashSet::new();
    for (subject, names) in &subjects {
        for referrer in app.registry.referrers(&repository, subject, None).await? {
            if !seen.insert((subject.clone(), referrer.digest.clone())) {
                continue;
            }
            referrers.push(ReferrerRow {
                subject: names.join(", "),
                artifact_type: referrer
                    .artifact_type
                    .clone()
                    .unwrap_or_else(|| referrer.media_type.clone()),
                short_digest: short(&referrer.digest),
                digest: referrer.digest.to_string(),
            });
        }
    }
    let package = app
        .registry
        .package_held(&repository)
        .await?
        .map(|_| format!("/packages/{repository}"));
    let host = crate::host::registry_host(app.registry.public_host(), &visit.request.headers);
    let pull = tags.first().map(|tag| {
        if package.is_some() {
            return format!("agent pull {host}/{repository}:{}", tag.name);
        }
        let tool = match tag.media_type.as_str() {
            media_types::OCI_INDEX
            | media_types::DOCKER_MANIFEST
            | media_types::DOCKER_MANIFEST_LIST
                if tag.artifact_type.is_none() =>
            {
                "docker"
            }
            media_types::OCI_MANIFEST if tag.artifact_type.is_none() => "docker",
            _ => "oras",
        };
        format!("{tool} pull {host}/{repository}:{}", tag.name)
    });
    let next = match page.items.last() {
        Some(last) if page.more => {
            Some(format!("/repositories/{repository}?last={}", encoded(last)))
        }
        _ => None,
    };
    super::page(&RepositoryPage {
        layout: visit.layout(app, repository.as_str()),
        name: repository.as_str().to_owned(),
        package,
        tags,
        referrers,
        pull,
        next,
        first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_latest_then_newest_version_then_by_name() {
        let mut names = vec![
            "main", "1.10.0", "latest", "1.2.0", "v1.9.0", "dev", "1.100.0",
        ];
        names.sort_by_cached_key(|name| tag_order(name));
        assert_eq!(
            names,
            [
                "latest", "1.100.0", "1.10.0", "v1.9.0", "1.2.0", "dev", "main"
            ]
        );
    }

    fn stored(body: &str) -> StoredManifest {
        StoredManifest {
            digest: Digest::sha256(body.as_bytes()),
            media_type: media_types::OCI_INDEX.to_owned(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_index_lists_its_platforms_and_sizes() {
        let body = r#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:00","size":100,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"m","digest":"sha256:01","size":200,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:02","size":5,"platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let described = describe(&stored(body));
        let names: Vec<&str> = described
            .platforms
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8"]);
        // "sha256:00" is no valid digest: no manifest to read for its size.
        assert!(described.platforms.iter().all(|p| p.digest.is_none()));
        assert_eq!(described.platforms[1].listed_size, 200);
        assert_eq!(described.size, body.len() as u64 + 305);
        assert_eq!(described.artifact_type, None);
    }

    #[test]
    fn a_manifest_counts_its_config_and_layers() {
        let body = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.sentinel.package.v1+json","size":10},
            "layers":[{"size":1000},{"size":24}]}"#;
        let described = describe(&stored(body));
        assert_eq!(described.size, body.len() as u64 + 1034);
        assert!(described.platforms.is_empty());
        assert_eq!(
            described.artifact_type.as_deref(),
            Some("application/vnd.sentinel.package.v1+json")
        );
        assert_eq!(describe(&stored("not json")).size, 8);
    }
}
