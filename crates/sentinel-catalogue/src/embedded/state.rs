//! The catalogue in memory: every package with its versions, the search
//! index over each package's shown version, and what maps blobs to versions
//! and agents to the stacks naming them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

use super::key::Key;
use crate::search::{Indexed, SearchIndex, document, query_words};
use crate::{
    Day, Dependent, MemberRef, ModelRef, PackageSummary, PackageVersion, PackageVersions,
    SearchPage, SearchQuery, Sort, VersionInfo, Visible,
};

/// One catalogued manifest, as kept in memory.
#[derive(Clone, Debug)]
struct Entry {
    digest: Key,
    tag: Option<Box<str>>,
    package_digest: Key,
    created: Option<Box<str>>,
    pushed_at: u64,
    size: u64,
    members: Box<[MemberRef]>,
}

/// What a package shows: the metadata of one of its versions.
#[derive(Clone, Debug)]
struct Shown {
    version: Version,
    digest: Key,
    name: String,
    kind: PackageKind,
    description: Option<String>,
    author: Option<String>,
    capabilities: Vec<String>,
    tags: Vec<String>,
    model: Option<ModelRef>,
}

impl Shown {
    fn of(entry: &PackageVersion) -> Self {
        Shown {
            version: entry.version.clone(),
            digest: Key::of(&entry.digest),
            name: entry.name.clone(),
            kind: entry.kind,
            description: entry.description.clone(),
            author: entry.author.clone(),
            capabilities: entry.capabilities.clone(),
            tags: entry.tags.clone(),
            model: entry.model.clone(),
        }
    }
}

/// A repository's package.
struct Package {
    repository: RepositoryName,
    /// Each version's manifests, oldest push first.
    versions: BTreeMap<Version, Vec<Entry>>,
    shown: Shown,
    /// What searches compare, lowercased once when `shown` changes.
    folded: Folded,
    /// The words of `shown`, as indexed.
    words: Indexed,
    /// The last push of any version.
    updated: u64,
    /// Downloads of every version, all time.
    downloads: u64,
}

/// A package's searchable fields, lowercased.
#[derive(Default)]
struct Folded {
    name: Box<str>,
    /// The repository path's last component.
    last: Box<str>,
    capabilities: Box<[Box<str>]>,
    tags: Box<[Box<str>]>,
    author: Option<Box<str>>,
    /// `provider`, `name`, `provider/name`.
    model: Option<[Box<str>; 3]>,
}

impl Folded {
    fn of(repository: &RepositoryName, shown: &Shown) -> Self {
        let lower = |s: &String| s.to_lowercase().into_boxed_str();
        let path = repository.as_str();
        Folded {
            name: shown.name.to_lowercase().into_boxed_str(),
            last: path.rsplit('/').next().unwrap_or(path).into(),
            capabilities: shown.capabilities.iter().map(lower).collect(),
            tags: shown.tags.iter().map(lower).collect(),
            author: shown.author.as_ref().map(lower),
            model: shown.model.as_ref().map(|m| {
                let provider = m.provider.to_lowercase();
                let name = m.name.to_lowercase();
                let both = format!("{provider}/{name}");
                [provider.into(), name.into(), both.into()]
            }),
        }
    }
}

/// Downloads of one repository's versions (kept when versions go, so a
/// version pushed again keeps its count).
#[derive(Default)]
struct Downloads {
    per_version: HashMap<Version, u64>,
    per_day: BTreeMap<Day, u64>,
    total: u64,
}

/// A version whose entry must be read from storage to show it.
pub(super) struct Missing {
    pub(super) repository: RepositoryName,
    pub(super) digest: Digest,
}

/// The whole catalogue in memory.
#[derive(Default)]
pub(super) struct State {
    slots: Vec<Option<Package>>,
    free: Vec<u32>,
    by_repository: HashMap<RepositoryName, u32>,
    index: SearchIndex,
    /// A `.sntl` blob -> the packages (by slot) and versions it is the
    /// package of.
    blobs: HashMap<Key, Vec<(u32, Version)>>,
    /// An agent's repository path -> the stack versions naming it.
    dependents: HashMap<String, BTreeSet<(RepositoryName, Version, Digest)>>,
    deprecations: HashMap<RepositoryName, HashMap<Version, String>>,
    downloads: HashMap<RepositoryName, Downloads>,
}

impl State {
    fn package(&self, repository: &RepositoryName) -> Option<&Package> {
        let slot = *self.by_repository.get(repository)?;
        self.slots[slot as usize].as_ref()
    }

    /// Adds or replaces the entry of `entry.digest`. Returns a version to
    /// load when the shown version changed to one not in hand.
    pub(super) fn insert(&mut self, entry: &PackageVersion) -> Option<Missing> {
        self.remove(&entry.repository, &entry.digest);
        let slot = self.add(entry);
        self.reshow(slot, Some(entry))
    }

    /// Adds `entry`, known not to be held yet, without choosing what its
    /// package shows: loading adds every entry first, then shows each
    /// package once ([`State::unshown`]).
    pub(super) fn insert_unshown(&mut self, entry: &PackageVersion) {
        self.add(entry);
    }

    /// The entry each package should show but does not yet.
    pub(super) fn unshown(&self) -> Vec<Missing> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|package| {
                let deprecations = self.deprecations.get(&package.repository);
                let (_, newest) = shown_version(&package.versions, deprecations)?;
                (package.words.is_empty() || package.shown.digest != newest.digest).then(|| {
                    Missing {
                        repository: package.repository.clone(),
                        digest: newest.digest.digest(),
                    }
                })
            })
            .collect()
    }

    /// Adds `entry` to its package (created if new), the blob map and the
    /// dependents; returns the package's slot.
    fn add(&mut self, entry: &PackageVersion) -> u32 {
        let kept = Entry {
            digest: Key::of(&entry.digest),
            tag: entry.tag.as_deref().map(Into::into),
            package_digest: Key::of(&entry.package.digest),
            created: entry.created.as_deref().map(Into::into),
            pushed_at: entry.pushed_at,
            size: entry.package.size,
            members: entry.members.clone().into_boxed_slice(),
        };
        for member in &entry.members {
            self.dependents
                .entry(member.repository.clone())
                .or_default()
                .insert((
                    entry.repository.clone(),
                    entry.version.clone(),
                    entry.digest.clone(),
                ));
        }
        let slot = match self.by_repository.get(&entry.repository) {
            Some(slot) => *slot,
            None => {
                let downloads = self.downloads.get(&entry.repository).map_or(0, |d| d.total);
                let package = Package {
                    repository: entry.repository.clone(),
                    versions: BTreeMap::new(),
                    shown: Shown::of(entry),
                    folded: Folded::default(),
                    words: Indexed::default(),
                    updated: 0,
                    downloads,
                };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.slots[slot as usize] = Some(package);
                        slot
                    }
                    None => {
                        self.slots.push(Some(package));
                        (self.slots.len() - 1) as u32
                    }
                };
                self.by_repository.insert(entry.repository.clone(), slot);
                slot
            }
        };
        self.blobs
            .entry(kept.package_digest.clone())
            .or_default()
            .push((slot, entry.version.clone()));
        if let Some(package) = self.slots[slot as usize].as_mut() {
            package
                .versions
                .entry(entry.version.clone())
                .or_default()
                .push(kept);
            package.updated = package.updated.max(entry.pushed_at);
        }
        slot
    }

    /// Removes the entry of manifest `digest`: its version (`None` if there
    /// was no such entry), and a version to load when the shown version
    /// changed.
    pub(super) fn remove(
        &mut self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> (Option<Version>, Option<Missing>) {
        let Some(&slot) = self.by_repository.get(repository) else {
            return (None, None);
        };
        let Some(package) = self.slots[slot as usize].as_mut() else {
            return (None, None);
        };
        let key = Key::of(digest);
        let found = package.versions.iter().find_map(|(version, entries)| {
            entries
                .iter()
                .position(|e| e.digest == key)
                .map(|at| (version.clone(), at))
        });
        let Some((version, at)) = found else {
            return (None, None);
        };
        let entries = package.versions.get_mut(&version).expect("found above");
        let entry = entries.remove(at);
        if entries.is_empty() {
            package.versions.remove(&version);
        }
        package.updated = package
            .versions
            .values()
            .flatten()
            .map(|e| e.pushed_at)
            .max()
            .unwrap_or(0);
        if let Some(list) = self.blobs.get_mut(&entry.package_digest) {
            if let Some(at) = list.iter().position(|(s, v)| *s == slot && *v == version) {
                list.swap_remove(at);
            }
            if list.is_empty() {
                self.blobs.remove(&entry.package_digest);
            }
        }
        for member in &entry.members {
            if let Some(set) = self.dependents.get_mut(&member.repository) {
                set.remove(&(repository.clone(), version.clone(), digest.clone()));
                if set.is_empty() {
                    self.dependents.remove(&member.repository);
                }
            }
        }
        let package = self.slots[slot as usize].as_ref().expect("present above");
        if package.versions.is_empty() {
            let package = self.slots[slot as usize].take().expect("present above");
            self.index.remove(slot, &package.words);
            self.by_repository.remove(repository);
            self.free.push(slot);
            return (Some(version), None);
        }
        let missing = self.reshow(slot, None);
        (Some(version), missing)
    }

    /// Picks the version package `slot` shows and reindexes it if it
    /// changed, with `entry` (just recorded) at hand; otherwise says which
    /// entry to load.
    fn reshow(&mut self, slot: u32, entry: Option<&PackageVersion>) -> Option<Missing> {
        let package = self.slots[slot as usize].as_ref()?;
        let deprecations = self.deprecations.get(&package.repository);
        let (version, digest) = {
            let (version, newest) = shown_version(&package.versions, deprecations)?;
            (version.clone(), newest.digest.clone())
        };
        if package.shown.digest == digest && !package.words.is_empty() {
            return None;
        }
        match entry {
            Some(entry) if Key::of(&entry.digest) == digest && entry.version == version => {
                self.show(slot, Shown::of(entry));
                None
            }
            _ => Some(Missing {
                repository: package.repository.clone(),
                digest: digest.digest(),
            }),
        }
    }

    /// Shows `entry` (loaded after [`State::insert`] or [`State::remove`]
    /// asked for it) for its package, if it is still the one to show.
    pub(super) fn show_loaded(&mut self, entry: &PackageVersion) {
        if let Some(&slot) = self.by_repository.get(&entry.repository) {
            // If yet another entry is wanted, the state moved on meanwhile
            // and the change that moved it asked for that one.
            let _ = self.reshow(slot, Some(entry));
        }
    }

    fn show(&mut self, slot: u32, shown: Shown) {
        let Some(package) = self.slots[slot as usize].as_mut() else {
            return;
        };
        let names = [package.repository.as_str(), shown.name.as_str()];
        let labels = shown
            .capabilities
            .iter()
            .chain(&shown.tags)
            .map(String::as_str);
        let document = document(names, labels, shown.description.as_deref());
        package.folded = Folded::of(&package.repository, &shown);
        package.shown = shown;
        let old = std::mem::take(&mut package.words);
        self.index.remove(slot, &old);
        let indexed = self.index.insert(slot, &document);
        if let Some(package) = self.slots[slot as usize].as_mut() {
            package.words = indexed;
        }
    }

    /// Sets or lifts a deprecation; `false` if the package has no such version.
    pub(super) fn deprecate(
        &mut self,
        repository: &RepositoryName,
        version: &Version,
        message: Option<String>,
    ) -> (bool, Option<Missing>) {
        let Some(&slot) = self.by_repository.get(repository) else {
            return (false, None);
        };
        let exists = self
            .package(repository)
            .is_some_and(|p| p.versions.contains_key(version));
        if !exists {
            return (false, None);
        }
        self.set_deprecation(repository, version, message);
        (true, self.reshow(slot, None))
    }

    /// Records a deprecation as loaded from storage (no reshowing).
    pub(super) fn set_deprecation(
        &mut self,
        repository: &RepositoryName,
        version: &Version,
        message: Option<String>,
    ) {
        match message {
            Some(message) => {
                self.deprecations
                    .entry(repository.clone())
                    .or_default()
                    .insert(version.clone(), message);
            }
            None => {
                if let Some(map) = self.deprecations.get_mut(repository) {
                    map.remove(version);
                    if map.is_empty() {
                        self.deprecations.remove(repository);
                    }
                }
            }
        }
    }

    /// Adds `count` downloads of `version` on `day`.
    pub(super) fn add_downloads(
        &mut self,
        repository: &RepositoryName,
        version: &Version,
        day: Day,
        count: u64,
    ) {
        let downloads = self.downloads.entry(repository.clone()).or_default();
        *downloads.per_version.entry(version.clone()).or_default() += count;
        *downloads.per_day.entry(day).or_default() += count;
        downloads.total += count;
        if let Some(&slot) = self.by_repository.get(repository)
            && let Some(package) = self.slots[slot as usize].as_mut()
        {
            package.downloads += count;
        }
    }

    /// The version whose package blob `blob` is in `repository`.
    pub(super) fn package_blob(
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
    pub(super) fn entries(&self) -> Vec<(RepositoryName, Digest)> {
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
    pub(super) fn holding(
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
    pub(super) fn version_digest(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Option<Digest> {
        let entries = self.package(repository)?.versions.get(version)?;
        newest(entries).map(|e| e.digest.digest())
    }

    /// What the catalogue adds to a stored entry: nothing stored with it.
    pub(super) fn downloads_of(&self, repository: &RepositoryName, version: &Version) -> u64 {
        self.downloads
            .get(repository)
            .and_then(|d| d.per_version.get(version))
            .copied()
            .unwrap_or(0)
    }

    /// The deprecation message of a version, if deprecated.
    pub(super) fn deprecation(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Option<&String> {
        self.deprecations.get(repository)?.get(version)
    }

    pub(super) fn versions(&self, repository: &RepositoryName) -> Option<PackageVersions> {
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

    pub(super) fn search(&self, query: &SearchQuery, visible: Visible<'_>) -> SearchPage {
        let words = query_words(&query.text);
        let text = query.text.trim().to_lowercase();
        if words.is_empty() && !text.is_empty() {
            // Only punctuation: no word to match, so nothing matches.
            return SearchPage {
                packages: Vec::new(),
                total: 0,
            };
        }
        let lower = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
        let capability = lower(&query.capability);
        let tag = lower(&query.tag);
        let author = lower(&query.author);
        let model = lower(&query.model);
        let keep = |package: &Package| {
            let folded = &package.folded;
            query.kind.is_none_or(|k| k == package.shown.kind)
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
        // (package, tier, score): the tier only matters for relevance.
        let mut hits: Vec<(&Package, u8, u32)> = Vec::new();
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
        let total = hits.len();
        let order =
            |a: &(&Package, u8, u32), b: &(&Package, u8, u32)| match query.sort {
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

    pub(super) fn dependents(&self, repository: &RepositoryName) -> Vec<Dependent> {
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

    pub(super) fn popular(
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

/// The manifest pushed last among `entries`.
fn newest(entries: &[Entry]) -> Option<&Entry> {
    entries.iter().max_by_key(|e| e.pushed_at)
}

/// The version a package shows (its latest, else its highest) and its newest manifest.
fn shown_version<'a>(
    versions: &'a BTreeMap<Version, Vec<Entry>>,
    deprecations: Option<&HashMap<Version, String>>,
) -> Option<(&'a Version, &'a Entry)> {
    let latest = sentinel_package::versions::latest(versions.keys(), |v| {
        deprecations.is_some_and(|d| d.contains_key(v))
    });
    let version = latest.or_else(|| versions.keys().next_back())?;
    Some((version, newest(versions.get(version)?)?))
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
