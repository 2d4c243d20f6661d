//! The catalogue in memory: every package with its versions, the search
//! index over each package's shown version, and what maps blobs to versions
//! and agents to the stacks naming them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

mod answers;

use super::key::Key;
use crate::search::{Indexed, SearchIndex, document};
use crate::{Day, MemberRef, ModelRef, PackageVersion};

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
    /// The distinct capabilities of `shown`, lowercased, as ids in
    /// [`State::capabilities`]: what facets count.
    capability_ids: Box<[u32]>,
    /// The model of `shown` as `provider/name`, lowercased, as an id in
    /// [`State::models`]: what facets count.
    model_id: Option<u32>,
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
    /// Every lowercased capability shown so far, by id (never shrinks: a
    /// facet counts ids in an array, not names in a map).
    capabilities: Names,
    /// Every lowercased `provider/name` model shown so far, by id (never
    /// shrinks, as `capabilities`).
    models: Names,
}

/// Lowercased names (capabilities, models), interned.
#[derive(Default)]
pub(super) struct Names {
    /// The name of each id.
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Names {
    /// The id of `name`, given one if it has none.
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// How many names there are.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// The name of `id`.
    pub(super) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
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
                    capability_ids: Box::default(),
                    model_id: None,
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
        let mut ids: Vec<u32> = package
            .folded
            .capabilities
            .iter()
            .map(|c| self.capabilities.intern(c))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        package.capability_ids = ids.into_boxed_slice();
        package.model_id = package
            .folded
            .model
            .as_ref()
            .map(|[_, _, both]| self.models.intern(both));
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
