//! The behaviour every [`Catalogue`] implementation must have.
//!
//! An implementation's tests call [`run`] with a factory that makes a fresh,
//! empty catalogue (and a guard that keeps its backing resources alive); each
//! check runs on its own catalogue and panics with its name on failure.

use std::future::Future;

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

mod search;
mod usage;
mod versions;

use search::*;
use usage::*;
use versions::*;

use crate::{BlobRef, Catalogue, MemberRef, ModelRef, PackageVersion, SearchQuery, Sort, Visible};

fn repo(name: &str) -> RepositoryName {
    name.parse().expect("a valid repository name")
}

fn version(text: &str) -> Version {
    Version::parse(text).expect("a valid version")
}

const EVERYONE: Visible<'static> = &|_| true;

/// An agent entry; `seed` makes its digests unique.
fn agent(repository: &str, ver: &str, seed: &str) -> PackageVersion {
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_owned();
    PackageVersion {
        repository: repo(repository),
        digest: Digest::sha256(format!("manifest {repository} {ver} {seed}").as_bytes()),
        kind: PackageKind::Agent,
        name: name.clone(),
        version: version(ver),
        tag: Some(ver.to_owned()),
        description: Some(format!("{name} does things")),
        author: Some("Ada Lovelace <ada@example.com>".to_owned()),
        license: Some("Apache-2.0".to_owned()),
        source: None,
        capabilities: vec!["web-search".to_owned()],
        tags: vec!["demo".to_owned()],
        model: Some(ModelRef {
            provider: "anthropic".to_owned(),
            name: "claude".to_owned(),
        }),
        dependencies: Vec::new(),
        members: Vec::new(),
        ports: Vec::new(),
        config: BlobRef {
            digest: Digest::sha256(format!("config {repository} {ver} {seed}").as_bytes()),
            size: 100,
        },
        package: BlobRef {
            digest: Digest::sha256(format!("package {repository} {ver} {seed}").as_bytes()),
            size: 1000,
        },
        file_name: format!("{name}-{ver}.agent.sntl"),
        created: Some("2026-12-01T00:00:00Z".to_owned()),
        pushed_at: 1_000,
        pushed_by: Some("alice".to_owned()),
        readme: Some(format!("# {name}\n")),
        definition: serde_json::json!({"name": name, "version": ver}),
    }
}

fn with(mut entry: PackageVersion, change: impl FnOnce(&mut PackageVersion)) -> PackageVersion {
    change(&mut entry);
    entry
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        limit: 20,
        ..SearchQuery::default()
    }
}

fn names(page: &crate::SearchPage) -> Vec<String> {
    page.packages
        .iter()
        .map(|p| p.repository.to_string())
        .collect()
}

/// Runs every check, each on a fresh catalogue from `factory`.
pub async fn run<C, G, F, Fut>(factory: F)
where
    C: Catalogue,
    F: Fn() -> Fut,
    Fut: Future<Output = (C, G)>,
{
    macro_rules! check {
        ($name:ident) => {{
            let (catalogue, _guard) = factory().await;
            $name(&catalogue).await;
        }};
    }
    check!(versions_are_listed_newest_first_with_their_entry);
    check!(forgetting_removes_a_version_and_then_the_package);
    check!(the_newest_push_of_a_version_wins);
    check!(search_ranks_exact_then_prefix_then_terms);
    check!(search_filters_combine_and_pages_count);
    check!(search_shows_only_what_is_visible);
    check!(search_shows_the_latest_version);
    check!(search_facets_count_every_match);
    check!(search_facets_count_models);
    check!(search_keeps_a_namespace);
    check!(deprecated_versions_are_marked_and_not_shown);
    check!(a_deprecation_goes_with_the_last_manifest_of_its_version);
    check!(stacks_list_their_agents_dependents);
    check!(downloads_count_package_blobs_after_a_flush);
    check!(daily_downloads_sum_every_version_per_day);
    check!(entries_list_every_recorded_manifest);
    check!(a_version_deleted_and_pushed_again_starts_afresh);
    check!(the_generation_moves_with_every_change);
}
