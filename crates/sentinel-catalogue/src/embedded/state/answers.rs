//! What the catalogue in memory answers: searches, listings, lookups,
//! dependents and popularity. Read-only: every change is in the parent.

use std::cmp::Reverse;

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

use super::{Names, Package, State, newest};
use crate::embedded::key::Key;
use crate::search::query_words;
use crate::{
    Day, Dependent, FacetedPage, Facets, MAX_CAPABILITY_FACETS, MAX_DOWNLOAD_DAYS,
    MAX_MODEL_FACETS, PackageSummary, PackageVersions, SearchPage, SearchQuery, Sort, VersionInfo,
    Visible,
};

impl State {
    /// The version whose package blob `blob` is in `repository`.
    pub(in crate::embedded) fn package_blob(
        &self,
        repository: &RepositoryName,
        blob: &Digest,
    ) -> Option<&Version> {
        let slot = *self.by_repository.get(repository)?;
        self.blobs
            .get(&Key::of(blob))?
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, v)| v)
    }

    /// Every (repository, digest) held.
    pub(in crate::embedded) fn entries(&self) -> Vec<(RepositoryName, Digest)> {
        let mut all: Vec<(RepositoryName, Digest)> = self
            .slots
            .iter()
            .flatten()
            .flat_map(|p| {
                p.versions
                    .values()
                    .flatten()
                    .map(|e| (p.repository.clone(), e.digest.digest()))
            })
            .collect();
        all.sort();
        all
    }

    /// What `repository` holds, in brief, and the manifest of `version`.
    pub(in crate::embedded) fn holding(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Option<crate::Holding> {
        let package = self.package(repository)?;
        Some(crate::Holding {
            name: package.shown.name.clone(),
            kind: package.shown.kind,
            version: package
                .versions
                .get(version)
                .and_then(|entries| newest(entries))
                .map(|entry| entry.digest.digest()),
        })
    }

    /// The digest of the newest push of `version`.
    pub(in crate::embedded) fn version_digest(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Option<Digest> {
        let entries = self.package(repository)?.versions.get(version)?;
        newest(entries).map(|e| e.digest.digest())
    }

    /// What the catalogue adds to a stored entry: nothing stored with it.
    pub(in crate::embedded) fn downloads_of(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> u64 {
        self.downloads
            .get(repository)
            .and_then(|d| d.per_version.get(version))
            .copied()
            .unwrap_or(0)
    }

    /// The deprecation message of a version, if deprecated.
    pub(in crate::embedded) fn deprecation(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Option<&String> {
        self.deprecations.get(repository)?.get(version)
    }

    pub(in crate::embedded) fn versions(
        &self,
        repository: &RepositoryName,
    ) -> Option<PackageVersions> {
        let package = self.package(repository)?;
        let versions = package
            .versions
            .iter()
            .rev()
            .filter_map(|(version, entries)| {
                let entry = newest(entries)?;
                Some(VersionInfo {
                    version: version.clone(),
                    tag: entry.tag.as_deref().map(str::to_owned),
                    digest: entry.digest.digest(),
                    package_digest: entry.package_digest.digest(),
                    created: entry.created.as_deref().map(str::to_owned),
                    pushed_at: entry.pushed_at,
                    size: entry.size,
                    downloads: self.downloads_of(repository, version),
                    deprecated: self.deprecation(repository, version).cloned(),
                })
            })
            .collect();
        Some(PackageVersions {
            repository: repository.clone(),
            name: package.shown.name.clone(),
            kind: package.shown.kind,
            versions,
        })
    }

    fn summary(&self, package: &Package, downloads: u64) -> PackageSummary {
        let deprecations = self.deprecations.get(&package.repository);
        let latest = sentinel_package::versions::latest(package.versions.keys(), |v| {
            deprecations.is_some_and(|d| d.contains_key(v))
        })
        .cloned();
        let shown = &package.shown;
        PackageSummary {
            repository: package.repository.clone(),
            name: shown.name.clone(),
            kind: shown.kind,
            latest,
            shown: shown.version.clone(),
            description: shown.description.clone(),
            author: shown.author.clone(),
            capabilities: shown.capabilities.clone(),
            tags: shown.tags.clone(),
            model: shown.model.clone(),
            downloads,
            updated: package.updated,
        }
    }

    pub(in crate::embedded) fn search(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> SearchPage {
        let hits = self.matching(query, visible);
        self.page(query, hits)
    }

    /// [`State::search`] with the facets of every match, counted in the
    /// same pass over the matches.
    pub(in crate::embedded) fn search_faceted(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> FacetedPage {
        let hits = self.matching(query, visible);
        let facets = facets(&hits, &self.capabilities, &self.models);
        FacetedPage {
            page: self.page(query, hits),
            facets,
        }
    }

    /// Every package matching `query` that `visible` admits, as (package,
    /// tier, score): the tier only matters for relevance.
    fn matching<'a>(&'a self, query: &SearchQuery, visible: Visible<'_>) -> Vec<Hit<'a>> {
        let words = query_words(&query.text);
        let text = query.text.trim().to_lowercase();
        if words.is_empty() && !text.is_empty() {
            // Only punctuation: no word to match, so nothing matches.
            return Vec::new();
        }
        let lower = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
        let capability = lower(&query.capability);
        let tag = lower(&query.tag);
        let author = lower(&query.author);
        let model = lower(&query.model);
        let namespace = lower(&query.namespace);
        let keep = |package: &Package| {
            let folded = &package.folded;
            query.kind.is_none_or(|k| k == package.shown.kind)
                && namespace.as_deref().is_none_or(|ns| {
                    package
                        .repository
                        .as_str()
                        .strip_prefix(ns.trim_end_matches('/'))
                        .is_some_and(|rest| rest.starts_with('/'))
                })
                && capability
                    .as_deref()
                    .is_none_or(|c| folded.capabilities.iter().any(|x| &**x == c))
                && tag
                    .as_deref()
                    .is_none_or(|t| folded.tags.iter().any(|x| &**x == t))
                && author
                    .as_deref()
                    .is_none_or(|a| folded.author.as_deref().is_some_and(|x| x.contains(a)))
                && model.as_deref().is_none_or(|m| {
                    folded
                        .model
                        .as_ref()
                        .is_some_and(|names| names.iter().any(|x| &**x == m))
                })
                && visible(&package.repository)
        };
        let mut hits: Vec<Hit<'a>> = Vec::new();
        let mut consider = |slot: u32, score: u32| {
            if let Some(package) = self.slots[slot as usize].as_ref()
                && keep(package)
            {
                let tier = if query.sort == Sort::Relevance {
                    tier(package, &text)
                } else {
                    2
                };
                hits.push((package, tier, score));
            }
        };
        match self.index.matches(&words, self.slots.len()) {
            Some(matches) => {
                for (slot, score) in matches.hits {
                    consider(slot, score);
                }
            }
            None => {
                for slot in 0..self.slots.len() {
                    consider(slot as u32, 0);
                }
            }
        }
        hits
    }

    /// The page of `hits` that `query` asks for, in its order.
    fn page(&self, query: &SearchQuery, mut hits: Vec<Hit<'_>>) -> SearchPage {
        let total = hits.len();
        let order =
            |a: &Hit<'_>, b: &Hit<'_>| match query.sort {
                Sort::Relevance => (a.1, Reverse(a.2), Reverse(a.0.downloads), &a.0.repository)
                    .cmp(&(b.1, Reverse(b.2), Reverse(b.0.downloads), &b.0.repository)),
                Sort::Downloads => (Reverse(a.0.downloads), &a.0.repository)
                    .cmp(&(Reverse(b.0.downloads), &b.0.repository)),
                Sort::Updated => (Reverse(a.0.updated), &a.0.repository)
                    .cmp(&(Reverse(b.0.updated), &b.0.repository)),
                Sort::Name => a.0.repository.cmp(&b.0.repository),
            };
        // Only the page and what comes before it need ordering.
        let wanted = query.offset.saturating_add(query.limit);
        if wanted < hits.len() {
            hits.select_nth_unstable_by(wanted, order);
            hits.truncate(wanted);
        }
        hits.sort_unstable_by(order);
        let packages = hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|(package, _, _)| self.summary(package, package.downloads))
            .collect();
        SearchPage { packages, total }
    }

    /// Downloads of `repository` on each of the `days` days up to `today`,
    /// oldest first.
    pub(in crate::embedded) fn daily_downloads(
        &self,
        repository: &RepositoryName,
        days: u32,
        today: Day,
    ) -> Vec<(Day, u64)> {
        let days = days.min(MAX_DOWNLOAD_DAYS);
        if days == 0 {
            return Vec::new();
        }
        let first = today.saturating_sub(days - 1);
        let per_day = self.downloads.get(repository).map(|d| &d.per_day);
        (first..=today)
            .map(|day| {
                let count = per_day.and_then(|d| d.get(&day)).copied().unwrap_or(0);
                (day, count)
            })
            .collect()
    }

    pub(in crate::embedded) fn dependents(&self, repository: &RepositoryName) -> Vec<Dependent> {
        let Some(set) = self.dependents.get(repository.as_str()) else {
            return Vec::new();
        };
        set.iter()
            .filter_map(|(stack, version, digest)| {
                let package = self.package(stack)?;
                let entry = package
                    .versions
                    .get(version)?
                    .iter()
                    .find(|e| e.digest == Key::of(digest))?;
                let member = entry
                    .members
                    .iter()
                    .find(|m| m.repository == repository.as_str())?;
                Some(Dependent {
                    repository: stack.clone(),
                    name: package.shown.name.clone(),
                    version: version.clone(),
                    reference: member.reference.clone(),
                })
            })
            .collect()
    }

    pub(in crate::embedded) fn popular(
        &self,
        days: u32,
        today: Day,
        kind: Option<PackageKind>,
        limit: usize,
        visible: Visible<'_>,
    ) -> Vec<PackageSummary> {
        let first = today.saturating_sub(days.saturating_sub(1));
        let mut ranked: Vec<(u64, &Package)> = self
            .downloads
            .iter()
            .filter_map(|(repository, downloads)| {
                let count: u64 = downloads.per_day.range(first..=today).map(|(_, n)| n).sum();
                let package = self.package(repository)?;
                (count > 0 && kind.is_none_or(|k| k == package.shown.kind) && visible(repository))
                    .then_some((count, package))
            })
            .collect();
        ranked
            .sort_by(|a, b| (Reverse(a.0), &a.1.repository).cmp(&(Reverse(b.0), &b.1.repository)));
        ranked
            .into_iter()
            .take(limit)
            .map(|(count, package)| self.summary(package, count))
            .collect()
    }
}

/// A package a search matched, with its tier and score.
type Hit<'a> = (&'a Package, u8, u32);

/// How many of `hits` are of each kind, have each capability and name
/// each model: ids are counted in arrays, and only the top
/// [`MAX_CAPABILITY_FACETS`] capabilities and [`MAX_MODEL_FACETS`] models
/// named.
fn facets(hits: &[Hit<'_>], capabilities: &Names, models: &Names) -> Facets {
    let mut kinds = [0usize; 2];
    let mut per_capability = vec![0u32; capabilities.len()];
    let mut per_model = vec![0u32; models.len()];
    for (package, _, _) in hits {
        match package.shown.kind {
            PackageKind::Agent => kinds[0] += 1,
            PackageKind::Stack => kinds[1] += 1,
        }
        for id in package.capability_ids.iter() {
            if let Some(count) = per_capability.get_mut(*id as usize) {
                *count += 1;
            }
        }
        if let Some(count) = package
            .model_id
            .and_then(|id| per_model.get_mut(id as usize))
        {
            *count += 1;
        }
    }
    let kinds = [PackageKind::Agent, PackageKind::Stack]
        .into_iter()
        .zip(kinds)
        .filter(|(_, n)| *n > 0)
        .collect();
    Facets {
        kinds,
        capabilities: top(&per_capability, capabilities, MAX_CAPABILITY_FACETS),
        models: top(&per_model, models, MAX_MODEL_FACETS),
    }
}

/// The `most` names with the highest non-zero `counts` (by id), most
/// first, ties by name.
fn top(counts: &[u32], names: &Names, most: usize) -> Vec<(String, usize)> {
    let mut found: Vec<(u32, &str)> = (0u32..)
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(id, n)| (*n, names.name(id)))
        .collect();
    let by_count = |a: &(u32, &str), b: &(u32, &str)| (Reverse(a.0), a.1).cmp(&(Reverse(b.0), b.1));
    if found.len() > most {
        found.select_nth_unstable_by(most, by_count);
        found.truncate(most);
    }
    found.sort_unstable_by(by_count);
    found
        .into_iter()
        .map(|(n, name)| (name.to_owned(), n as usize))
        .collect()
}

/// 0 for an exact name, 1 for a name starting with the query, 2 otherwise
/// (`text` is lowercased; repository paths are lowercase already).
fn tier(package: &Package, text: &str) -> u8 {
    if text.is_empty() {
        return 2;
    }
    let repository = package.repository.as_str();
    let folded = &package.folded;
    if &*folded.name == text || repository == text || &*folded.last == text {
        0
    } else if folded.name.starts_with(text)
        || folded.last.starts_with(text)
        || repository.starts_with(text)
    {
        1
    } else {
        2
    }
}
