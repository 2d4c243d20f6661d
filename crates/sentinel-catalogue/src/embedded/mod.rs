//! [`crate::Catalogue`] on a redb file, answered from memory.
//!
//! The file holds the entries (their summaries and, apart, their README and
//! definition), the deprecations and the daily download counts. At open,
//! everything but the READMEs and definitions is loaded into a [`State`]
//! that answers searches, listings and lookups without touching the file;
//! only [`crate::Catalogue::version`] reads it, for one entry.
//!
//! Writes go to the file first and then to memory, one at a time, so memory
//! always matches the file. Entries are committed without an fsync (redb's
//! `Durability::None`): they are derived data. Deprecations and downloads
//! are committed durably, which also makes every entry before them durable.
//! A file not closed by [`EmbeddedCatalogue::close`] opens with
//! [`Opened::clean`] false, and the registry then checks the entries
//! against its manifests.
//!
//! Downloads are counted in memory and written by [`crate::Catalogue::flush`],
//! which the registry calls every few seconds and at shutdown: a crash loses
//! the counts since the last flush.

mod key;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;
use serde::{Deserialize, Serialize};

use crate::{
    Catalogue, CatalogueError, Day, Dependent, FacetedPage, PackageSummary, PackageVersion,
    PackageVersions, SearchPage, SearchQuery, Visible,
};
use state::{Missing, State};

/// `(repository, manifest digest)` -> JSON entry without README and definition.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// `(repository, manifest digest)` -> JSON [`Document`].
const DOCUMENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("documents");
/// `(repository, version)` -> deprecation message.
const DEPRECATIONS: TableDefinition<(&str, &str), &str> = TableDefinition::new("deprecations");
/// `(repository, version, day)` -> downloads that day.
const DOWNLOADS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("downloads");
/// Settings of the file itself.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The [`META`] key present while the file was closed cleanly.
const CLEAN: &str = "closed-cleanly";

/// How much of the file redb keeps cached in memory.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The parts of an entry kept out of memory.
#[derive(Serialize, Deserialize)]
struct Document {
    readme: Option<String>,
    definition: serde_json::Value,
}

/// What [`EmbeddedCatalogue::open`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The file was closed by [`EmbeddedCatalogue::close`] (and has not been
    /// written since): its entries are complete. `false` for a new file or
    /// after a crash.
    pub clean: bool,
    /// The file did not exist: it was created empty by this open.
    pub created: bool,
    /// How many entries were loaded.
    pub entries: usize,
}

/// Downloads counted since the last flush: (repository, blob, day) -> count.
type Pending = HashMap<(RepositoryName, Digest, Day), u64>;

/// The most distinct (repository, blob, day) counted between two flushes;
/// beyond it, downloads are not counted until the next flush.
const MAX_PENDING: usize = 100_000;

/// The catalogue on a redb file.
#[derive(Clone)]
pub struct EmbeddedCatalogue {
    db: Arc<Database>,
    state: Arc<RwLock<State>>,
    /// Held by the one write in progress (on the blocking pool).
    writer: Arc<Mutex<()>>,
    pending: Arc<Mutex<Pending>>,
    /// Set by writes that are not yet durable; cleared by a flush.
    dirty: Arc<AtomicBool>,
    /// Bumped by every write, once memory has taken it.
    generation: Arc<AtomicU64>,
}

fn backend(error: impl Into<redb::Error>) -> CatalogueError {
    CatalogueError::Backend(Box::new(error.into()))
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> CatalogueError {
    CatalogueError::Corrupt(format!("{what}: {error}"))
}

fn join_failure(error: tokio::task::JoinError) -> CatalogueError {
    CatalogueError::Backend(Box::new(error))
}

impl EmbeddedCatalogue {
    /// Opens (or creates) the catalogue file at `path` and loads it.
    pub fn open(path: &Path) -> Result<(Self, Opened), CatalogueError> {
        let created = !path.exists();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        {
            txn.open_table(ENTRIES).map_err(backend)?;
            txn.open_table(DOCUMENTS).map_err(backend)?;
            txn.open_table(DEPRECATIONS).map_err(backend)?;
            txn.open_table(DOWNLOADS).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        let (state, mut opened) = load(&db)?;
        opened.created = created;
        // From here on the file is not clean until closed again.
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(META)
            .map_err(backend)?
            .remove(CLEAN)
            .map_err(backend)?;
        txn.commit().map_err(backend)?;
        let catalogue = EmbeddedCatalogue {
            db: Arc::new(db),
            state: Arc::new(RwLock::new(state)),
            writer: Arc::default(),
            pending: Arc::default(),
            dirty: Arc::default(),
            generation: Arc::default(),
        };
        Ok((catalogue, opened))
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` in one durable write transaction on the blocking pool,
    /// then applies what it returns to memory, with no other write between.
    async fn write<T, F>(&self, change: F) -> Result<T, CatalogueError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &mut State) -> Result<T, CatalogueError> + Send + 'static,
    {
        self.write_with(Durability::Immediate, change).await
    }

    async fn write_with<T, F>(&self, durability: Durability, change: F) -> Result<T, CatalogueError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &mut State) -> Result<T, CatalogueError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let state = Arc::clone(&self.state);
        let writer = Arc::clone(&self.writer);
        let generation = Arc::clone(&self.generation);
        let work = move || {
            let _one_at_a_time = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let mut txn = db.begin_write().map_err(backend)?;
            txn.set_durability(durability)
                .map_err(|e| CatalogueError::Backend(Box::new(e)))?;
            // Memory changes with the transaction; if the commit fails, it
            // is reloaded from the file.
            let mut guard = state.write().unwrap_or_else(PoisonError::into_inner);
            let result = change(&txn, &mut guard);
            match result {
                Ok(value) => match txn.commit() {
                    Ok(()) => {
                        generation.fetch_add(1, Ordering::Release);
                        Ok(value)
                    }
                    Err(error) => {
                        // Memory already took the change; reload it from the file.
                        drop(guard);
                        reload(&db, &state)?;
                        Err(backend(error))
                    }
                },
                Err(error) => {
                    drop(guard);
                    reload(&db, &state)?;
                    Err(error)
                }
            }
        };
        // A write without fsync takes well under a millisecond: on a
        // multi-threaded runtime it runs here (the worker hands its other
        // tasks on) rather than paying a trip to the blocking pool.
        let multi_threaded = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        if matches!(durability, Durability::None) && multi_threaded {
            tokio::task::block_in_place(work)
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(join_failure)?
        }
    }
}

/// Replaces memory with what the file holds (after a failed write).
fn reload(db: &Database, state: &RwLock<State>) -> Result<(), CatalogueError> {
    let (fresh, _) = load(db)?;
    *state.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    Ok(())
}

/// Reads the whole file into memory (without READMEs and definitions).
fn load(db: &Database) -> Result<(State, Opened), CatalogueError> {
    let txn = db.begin_read().map_err(backend)?;
    let clean = txn
        .open_table(META)
        .map_err(backend)?
        .get(CLEAN)
        .map_err(backend)?
        .is_some();
    let mut state = State::default();
    let deprecations = txn.open_table(DEPRECATIONS).map_err(backend)?;
    for row in deprecations.iter().map_err(backend)? {
        let (key, message) = row.map_err(backend)?;
        let (repository, version) = key.value();
        let repository: RepositoryName =
            repository.parse().map_err(|e| corrupt("deprecation", e))?;
        let version = Version::parse(version).map_err(|e| corrupt("deprecation", e))?;
        state.set_deprecation(&repository, &version, Some(message.value().to_owned()));
    }
    let mut entries = 0;
    let table = txn.open_table(ENTRIES).map_err(backend)?;
    for row in table.iter().map_err(backend)? {
        let (_, value) = row.map_err(backend)?;
        let entry: PackageVersion =
            serde_json::from_slice(value.value()).map_err(|e| corrupt("entry", e))?;
        state.insert_unshown(&entry);
        entries += 1;
    }
    // Every entry is in: now each package is shown (and indexed) once.
    for Missing { repository, digest } in state.unshown() {
        if let Some(value) = table
            .get((repository.as_str(), digest.as_str()))
            .map_err(backend)?
        {
            let entry: PackageVersion =
                serde_json::from_slice(value.value()).map_err(|e| corrupt("entry", e))?;
            state.show_loaded(&entry);
        }
    }
    let downloads = txn.open_table(DOWNLOADS).map_err(backend)?;
    for row in downloads.iter().map_err(backend)? {
        let (key, count) = row.map_err(backend)?;
        let (repository, version, day) = key.value();
        let repository: RepositoryName = repository.parse().map_err(|e| corrupt("downloads", e))?;
        let version = Version::parse(version).map_err(|e| corrupt("downloads", e))?;
        state.add_downloads(&repository, &version, day, count.value());
    }
    Ok((
        state,
        Opened {
            clean,
            created: false,
            entries,
        },
    ))
}

/// Reads the full entry of `digest` (summary and document).
fn read_entry(
    db: &Database,
    repository: &RepositoryName,
    digest: &Digest,
) -> Result<Option<PackageVersion>, CatalogueError> {
    let txn = db.begin_read().map_err(backend)?;
    let key = (repository.as_str(), digest.as_str());
    let Some(value) = txn
        .open_table(ENTRIES)
        .map_err(backend)?
        .get(key)
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let mut entry: PackageVersion =
        serde_json::from_slice(value.value()).map_err(|e| corrupt("entry", e))?;
    if let Some(value) = txn
        .open_table(DOCUMENTS)
        .map_err(backend)?
        .get(key)
        .map_err(backend)?
    {
        let document: Document =
            serde_json::from_slice(value.value()).map_err(|e| corrupt("document", e))?;
        entry.readme = document.readme;
        entry.definition = document.definition;
    }
    Ok(Some(entry))
}

/// Shows, for each package that asked, the entry it now shows (read from
/// the transaction, which holds the file as it will be committed).
fn show_missing(
    txn: &WriteTransaction,
    state: &mut State,
    missing: Option<Missing>,
) -> Result<(), CatalogueError> {
    let Some(Missing { repository, digest }) = missing else {
        return Ok(());
    };
    let table = txn.open_table(ENTRIES).map_err(backend)?;
    if let Some(value) = table
        .get((repository.as_str(), digest.as_str()))
        .map_err(backend)?
    {
        let entry: PackageVersion =
            serde_json::from_slice(value.value()).map_err(|e| corrupt("entry", e))?;
        state.show_loaded(&entry);
    }
    Ok(())
}

#[async_trait]
impl Catalogue for EmbeddedCatalogue {
    async fn record(&self, entry: PackageVersion) -> Result<(), CatalogueError> {
        self.dirty.store(true, Ordering::Release);
        self.write_with(Durability::None, move |txn, state| {
            let key = (entry.repository.as_str(), entry.digest.as_str());
            let document = Document {
                readme: entry.readme.clone(),
                definition: entry.definition.clone(),
            };
            let summary = PackageVersion {
                readme: None,
                definition: serde_json::Value::Null,
                ..entry.clone()
            };
            let summary = serde_json::to_vec(&summary).map_err(|e| corrupt("entry", e))?;
            let document = serde_json::to_vec(&document).map_err(|e| corrupt("document", e))?;
            txn.open_table(ENTRIES)
                .map_err(backend)?
                .insert(key, summary.as_slice())
                .map_err(backend)?;
            txn.open_table(DOCUMENTS)
                .map_err(backend)?
                .insert(key, document.as_slice())
                .map_err(backend)?;
            let missing = state.insert(&entry);
            show_missing(txn, state, missing)
        })
        .await
    }

    async fn forget(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, CatalogueError> {
        let repository = repository.clone();
        let digest = digest.clone();
        self.dirty.store(true, Ordering::Release);
        self.write_with(Durability::None, move |txn, state| {
            let key = (repository.as_str(), digest.as_str());
            let removed = txn
                .open_table(ENTRIES)
                .map_err(backend)?
                .remove(key)
                .map_err(backend)?
                .is_some();
            txn.open_table(DOCUMENTS)
                .map_err(backend)?
                .remove(key)
                .map_err(backend)?;
            let (version, missing) = state.remove(&repository, &digest);
            show_missing(txn, state, missing)?;
            // A version whose last manifest is gone loses its deprecation: a
            // version pushed again later starts afresh.
            if let Some(version) = version
                && state.version_digest(&repository, &version).is_none()
                && state.deprecation(&repository, &version).is_some()
            {
                state.set_deprecation(&repository, &version, None);
                let text = version.to_string();
                txn.open_table(DEPRECATIONS)
                    .map_err(backend)?
                    .remove((repository.as_str(), text.as_str()))
                    .map_err(backend)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn entries(&self) -> Result<Vec<(RepositoryName, Digest)>, CatalogueError> {
        Ok(self.read_state().entries())
    }

    async fn search(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<SearchPage, CatalogueError> {
        Ok(self.read_state().search(query, visible))
    }

    async fn search_faceted(
        &self,
        query: &SearchQuery,
        visible: Visible<'_>,
    ) -> Result<FacetedPage, CatalogueError> {
        Ok(self.read_state().search_faceted(query, visible))
    }

    async fn daily_downloads(
        &self,
        repository: &RepositoryName,
        days: u32,
        today: Day,
    ) -> Result<Vec<(Day, u64)>, CatalogueError> {
        Ok(self.read_state().daily_downloads(repository, days, today))
    }

    async fn versions(
        &self,
        repository: &RepositoryName,
    ) -> Result<Option<PackageVersions>, CatalogueError> {
        Ok(self.read_state().versions(repository))
    }

    async fn holding(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Result<Option<crate::Holding>, CatalogueError> {
        Ok(self.read_state().holding(repository, version))
    }

    async fn version(
        &self,
        repository: &RepositoryName,
        version: &Version,
    ) -> Result<Option<PackageVersion>, CatalogueError> {
        let Some(digest) = self.read_state().version_digest(repository, version) else {
            return Ok(None);
        };
        let db = Arc::clone(&self.db);
        let repository = repository.clone();
        tokio::task::spawn_blocking(move || read_entry(&db, &repository, &digest))
            .await
            .map_err(join_failure)?
    }

    async fn set_deprecation(
        &self,
        repository: &RepositoryName,
        version: &Version,
        message: Option<String>,
    ) -> Result<bool, CatalogueError> {
        let repository = repository.clone();
        let version = version.clone();
        self.write(move |txn, state| {
            let (found, missing) = state.deprecate(&repository, &version, message.clone());
            if !found {
                return Ok(false);
            }
            let mut table = txn.open_table(DEPRECATIONS).map_err(backend)?;
            let key = (repository.as_str(), version.to_string());
            match &message {
                Some(message) => table
                    .insert((key.0, key.1.as_str()), message.as_str())
                    .map_err(backend)?,
                None => table.remove((key.0, key.1.as_str())).map_err(backend)?,
            };
            drop(table);
            show_missing(txn, state, missing)?;
            Ok(true)
        })
        .await
    }

    async fn dependents(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Dependent>, CatalogueError> {
        Ok(self.read_state().dependents(repository))
    }

    async fn popular(
        &self,
        days: u32,
        today: Day,
        kind: Option<PackageKind>,
        limit: usize,
        visible: Visible<'_>,
    ) -> Result<Vec<PackageSummary>, CatalogueError> {
        Ok(self.read_state().popular(days, today, kind, limit, visible))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn count_download(&self, repository: &RepositoryName, blob: &Digest, day: Day) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (repository.clone(), blob.clone(), day);
        if let Some(count) = pending.get_mut(&key) {
            *count += 1;
        } else if pending.len() < MAX_PENDING {
            pending.insert(key, 1);
        }
    }

    async fn flush(&self) -> Result<(), CatalogueError> {
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let dirty = self.dirty.swap(false, Ordering::AcqRel);
        if taken.is_empty() && !dirty {
            // Nothing counted and nothing to make durable: no write, no sync.
            return Ok(());
        }
        let mut counted: HashMap<(RepositoryName, Version, Day), u64> = HashMap::new();
        {
            let state = self.read_state();
            for ((repository, blob, day), count) in taken {
                if let Some(version) = state.package_blob(&repository, &blob) {
                    *counted
                        .entry((repository, version.clone(), day))
                        .or_default() += count;
                }
            }
        }
        let written = self
            .write(move |txn, state| {
                let mut table = txn.open_table(DOWNLOADS).map_err(backend)?;
                for ((repository, version, day), count) in counted {
                    let version_text = version.to_string();
                    let key = (repository.as_str(), version_text.as_str(), day);
                    let before = table.get(key).map_err(backend)?.map_or(0, |v| v.value());
                    table.insert(key, before + count).map_err(backend)?;
                    state.add_downloads(&repository, &version, day, count);
                }
                Ok(())
            })
            .await;
        if written.is_err() {
            // The entries are still not durable; the next flush tries again.
            self.dirty.store(true, Ordering::Release);
        }
        written
    }

    async fn close(&self) -> Result<(), CatalogueError> {
        self.flush().await?;
        self.write(|txn, _| {
            txn.open_table(META)
                .map_err(backend)?
                .insert(CLEAN, &[][..])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
