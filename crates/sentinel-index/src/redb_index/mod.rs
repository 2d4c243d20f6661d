//! [`MetadataIndex`] on an embedded redb database file.
//!
//! Keys are strings whose parts are joined by `\0` (no repository name, tag or
//! digest can contain it), so "everything under a repository" or "every
//! referrer of a subject" is one ordered range scan. Writes run on Tokio's
//! blocking pool and commit with redb's default, immediate durability: when a
//! method returns, the change is on disk.
//!
//! redb refuses all further work on a database handle that met an I/O error
//! (a full disk, say), whether in a write or a read. Any operation that meets
//! one drops the shared handle; the next operation reopens the file, on the
//! blocking pool and once however many callers are waiting for it, so the
//! index recovers by itself once the cause is gone.

mod collect;
mod metadata;
mod outbox;
mod records;
#[cfg(test)]
mod tests;
mod usage;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use redb::{Database, ReadTransaction, ReadableDatabase, TableDefinition, WriteTransaction};

use crate::IndexError;
use records::backend;

/// Repository name -> nothing.
const REPOSITORIES: TableDefinition<&str, ()> = TableDefinition::new("repositories");
/// Digest -> (size, number of repositories holding it), for every blob at
/// least one repository holds.
const BLOBS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("blobs");
/// `repo\0digest` -> size.
const BLOB_LINKS: TableDefinition<&str, u64> = TableDefinition::new("blob_links");
/// `repo\0digest` -> encoded [`records::ManifestRecord`] and body.
const MANIFESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("manifests");
/// `repo\0tag` -> digest.
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
/// `repo\0digest\0tag` -> nothing: the tags of each manifest.
const MANIFEST_TAGS: TableDefinition<&str, ()> = TableDefinition::new("manifest_tags");
/// `repo\0subject\0referrer` -> JSON [`sentinel_oci::Descriptor`].
const REFERRERS: TableDefinition<&str, &[u8]> = TableDefinition::new("referrers");
/// Upload id -> JSON [`crate::UploadSession`].
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");

/// `repo\0digest` -> when the link was made or last touched (seconds since
/// the Unix epoch); a link without an entry counts as old.
const LINK_TIMES: TableDefinition<&str, u64> = TableDefinition::new("link_times");
/// `repo\0digest` -> when the manifest was pushed or last touched; a
/// manifest without an entry counts as old.
const MANIFEST_TIMES: TableDefinition<&str, u64> = TableDefinition::new("manifest_times");
/// `repo\0blob\0manifest` -> nothing: which manifests reference each blob.
const BLOB_REFS: TableDefinition<&str, ()> = TableDefinition::new("blob_refs");
/// `repo\0child\0parent` -> nothing: which manifests list each child manifest.
const CHILD_REFS: TableDefinition<&str, ()> = TableDefinition::new("child_refs");
/// Digest -> (size, since when): blobs no repository holds whose bytes are
/// still stored.
const ORPHANED: TableDefinition<&str, (u64, u64)> = TableDefinition::new("orphaned");
/// Digest -> size: orphaned blobs whose bytes are being deleted.
const DELETING: TableDefinition<&str, u64> = TableDefinition::new("deleting");
/// `digest\0upload` -> since when: uploads about to commit a blob's bytes.
const RESERVATIONS: TableDefinition<&str, u64> = TableDefinition::new("reservations");
/// Name -> version of a derived table, built once for an index written by
/// an older version.
const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");

/// How much of the file redb keeps cached in memory. Its default (1 GiB)
/// let a registry that took 100,000 pushes hold 600 MiB; the operating
/// system's page cache keeps the file's hot pages anyway.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Opens the database afresh: the file at the index's path (tests open it
/// over a backend that can be made to fail).
type Opener = dyn Fn() -> Result<Database, IndexError> + Send + Sync;

/// The metadata index on a redb file.
///
/// redb refuses all further work on a database handle that met an I/O error
/// (a full disk, say) until it is reopened; this index drops such a handle
/// and reopens the file on the next operation, so the registry recovers by
/// itself once the cause is gone.
#[derive(Clone)]
pub struct RedbIndex {
    open: Arc<Opener>,
    /// The handle in use; `None` after an I/O error, until reopened. The lock
    /// is only ever held to read or swap the pointer, never during I/O.
    db: Arc<RwLock<Option<Arc<Database>>>>,
    /// Held (asynchronously) by the one caller reopening the file, so others
    /// wait for its handle instead of racing it for the file's lock.
    reopening: Arc<tokio::sync::Mutex<()>>,
    /// When the outbox's bookkeeping last committed durably (see `outbox`).
    outbox_synced: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// Makes sure every table exists in a freshly opened `db`.
fn with_tables(db: Database) -> Result<Database, IndexError> {
    let txn = db.begin_write().map_err(backend)?;
    {
        txn.open_table(REPOSITORIES).map_err(backend)?;
        txn.open_table(BLOBS).map_err(backend)?;
        txn.open_table(BLOB_LINKS).map_err(backend)?;
        txn.open_table(MANIFESTS).map_err(backend)?;
        txn.open_table(TAGS).map_err(backend)?;
        txn.open_table(MANIFEST_TAGS).map_err(backend)?;
        txn.open_table(REFERRERS).map_err(backend)?;
        txn.open_table(UPLOADS).map_err(backend)?;
        txn.open_table(LINK_TIMES).map_err(backend)?;
        txn.open_table(MANIFEST_TIMES).map_err(backend)?;
        txn.open_table(BLOB_REFS).map_err(backend)?;
        txn.open_table(CHILD_REFS).map_err(backend)?;
        txn.open_table(ORPHANED).map_err(backend)?;
        txn.open_table(DELETING).map_err(backend)?;
        txn.open_table(RESERVATIONS).map_err(backend)?;
        outbox::create_tables(&txn)?;
        txn.open_table(usage::NAMESPACE_BLOBS).map_err(backend)?;
        txn.open_table(usage::NAMESPACE_USAGE).map_err(backend)?;
    }
    collect::upgrade(&txn)?;
    usage::build_once(&txn)?;
    txn.commit().map_err(backend)?;
    Ok(db)
}

/// Whether `error` came from the disk, which leaves a redb handle unusable.
fn is_io_error(error: &IndexError) -> bool {
    match error {
        IndexError::Backend(source) => {
            source.is::<std::io::Error>()
                || matches!(
                    source.downcast_ref::<redb::Error>(),
                    Some(redb::Error::PreviousIo)
                )
        }
        _ => false,
    }
}

/// A task of the blocking pool that panicked or was cancelled.
fn join_failure(error: tokio::task::JoinError) -> IndexError {
    IndexError::Backend(Box::new(error))
}

impl RedbIndex {
    /// Opens (or creates) the index file at `path`.
    ///
    /// redb recovers from an interrupted write on open, so a file left by a
    /// killed process opens with every committed transaction and nothing else.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let path = path.to_path_buf();
        Self::with_opener(Arc::new(move || {
            let db = Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(&path)
                .map_err(backend)?;
            with_tables(db)
        }))
    }

    /// An index over the databases `open` returns: one now, and another each
    /// time the one in use met an I/O error.
    fn with_opener(open: Arc<Opener>) -> Result<Self, IndexError> {
        let db = open()?;
        Ok(RedbIndex {
            open,
            db: Arc::new(RwLock::new(Some(Arc::new(db)))),
            reopening: Arc::default(),
            outbox_synced: Arc::default(),
        })
    }

    /// The handle in use, if there is one.
    fn current(&self) -> Option<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The open database, reopening the file if the last handle was dropped.
    ///
    /// The reopen (file I/O, an fsync) runs on the blocking pool, never on an
    /// async worker, and no lock is held while waiting for it. It completes
    /// and installs its handle even if this caller is dropped meanwhile.
    async fn database(&self) -> Result<Arc<Database>, IndexError> {
        if let Some(db) = self.current() {
            return Ok(db);
        }
        let reopening = Arc::clone(&self.reopening).lock_owned().await;
        if let Some(db) = self.current() {
            return Ok(db);
        }
        let index = self.clone();
        tokio::task::spawn_blocking(move || {
            let _reopening = reopening;
            let db = Arc::new((index.open)()?);
            *index.db.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&db));
            Ok(db)
        })
        .await
        .map_err(join_failure)?
    }

    /// Passes `result` through; if it is an I/O error, drops the handle that
    /// produced it so the next operation reopens the file.
    fn checked<T>(
        &self,
        used: &Arc<Database>,
        result: Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        if let Err(error) = &result
            && is_io_error(error)
        {
            let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
            if slot.as_ref().is_some_and(|db| Arc::ptr_eq(db, used)) {
                *slot = None;
            }
        }
        result
    }

    /// Runs `work` in one read transaction. An I/O error anywhere in it (when
    /// beginning, opening a table, reading a page) drops the handle, so the
    /// next call reopens the file.
    async fn read<T>(
        &self,
        work: impl FnOnce(&ReadTransaction) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let db = self.database().await?;
        let result = db.begin_read().map_err(backend).and_then(|txn| work(&txn));
        self.checked(&db, result)
    }

    /// Runs `work` in one write transaction on the blocking pool and commits it.
    async fn write<T, F>(&self, work: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, IndexError> + Send + 'static,
    {
        self.write_or_abort(true, work).await
    }

    /// Runs `work` in one write transaction on the blocking pool, then
    /// commits it if `commit`, else aborts it (a dry run).
    async fn write_or_abort<T, F>(&self, commit: bool, work: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, IndexError> + Send + 'static,
    {
        let db = self.database().await?;
        let index = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = db.begin_write().map_err(backend).and_then(|txn| {
                let value = work(&txn)?;
                if commit {
                    txn.commit().map_err(backend)?;
                } else {
                    txn.abort().map_err(backend)?;
                }
                Ok(value)
            });
            index.checked(&db, result)
        })
        .await
        .map_err(join_failure)?
    }

    /// Creates or replaces the `record` of upload session `id`.
    async fn put_upload_record(&self, id: String, record: Vec<u8>) -> Result<(), IndexError> {
        self.write(move |txn| {
            txn.open_table(UPLOADS)
                .map_err(backend)?
                .insert(id.as_str(), record.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// Stores `bytes`, as they are, as the record of upload session `id`:
    /// what a data directory written by an older version, or damaged, may
    /// hold. For tests of what reads such records.
    #[cfg(any(test, feature = "test-suite"))]
    pub async fn put_upload_record_bytes(&self, id: &str, bytes: &[u8]) -> Result<(), IndexError> {
        self.put_upload_record(id.to_owned(), bytes.to_vec()).await
    }
}
