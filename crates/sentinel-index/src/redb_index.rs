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

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use sentinel_oci::{Digest, ReferrerDescriptor, RepositoryName, Tag};
use serde::{Deserialize, Serialize};

use crate::{IndexError, MetadataIndex, NewManifest, Page, PageRequest, StoredManifest};

/// Repository name -> nothing.
const REPOSITORIES: TableDefinition<&str, ()> = TableDefinition::new("repositories");
/// Digest -> (size, number of repositories holding it), for every blob at
/// least one repository holds.
const BLOBS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("blobs");
/// `repo\0digest` -> size.
const BLOB_LINKS: TableDefinition<&str, u64> = TableDefinition::new("blob_links");
/// `repo\0digest` -> encoded [`ManifestRecord`] and body.
const MANIFESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("manifests");
/// `repo\0tag` -> digest.
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
/// `repo\0digest\0tag` -> nothing: the tags of each manifest.
const MANIFEST_TAGS: TableDefinition<&str, ()> = TableDefinition::new("manifest_tags");
/// `repo\0subject\0referrer` -> JSON [`ReferrerDescriptor`].
const REFERRERS: TableDefinition<&str, &[u8]> = TableDefinition::new("referrers");
/// Upload id -> opaque state.
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");

/// Joins key parts with `\0`.
fn key(parts: &[&str]) -> String {
    parts.join("\0")
}

/// The half-open range of keys that start with `prefix` followed by `\0`.
fn children(prefix: &[&str]) -> (String, String) {
    let base = key(prefix);
    (format!("{base}\0"), format!("{base}\u{1}"))
}

fn backend(e: impl Into<redb::Error>) -> IndexError {
    match e.into() {
        // Keep the I/O error itself, so callers can see what the disk said.
        redb::Error::Io(io) => IndexError::Backend(Box::new(io)),
        other => IndexError::Backend(Box::new(other)),
    }
}

fn parse_digest(text: &str) -> Result<Digest, IndexError> {
    text.parse()
        .map_err(|e: sentinel_oci::DigestError| IndexError::Corrupt(e.to_string()))
}

/// What the index keeps of a manifest besides its bytes.
#[derive(Serialize, Deserialize)]
struct ManifestRecord {
    media_type: String,
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    subject: Option<Digest>,
}

/// `[u32 big-endian length of the JSON record][JSON record][body]`.
fn encode_manifest(record: &ManifestRecord, body: &[u8]) -> Vec<u8> {
    let meta = serde_json::to_vec(record).expect("a manifest record always serialises");
    let mut out = Vec::with_capacity(4 + meta.len() + body.len());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(body);
    out
}

fn decode_manifest(bytes: &[u8]) -> Result<(ManifestRecord, &[u8]), IndexError> {
    let corrupt = || IndexError::Corrupt("truncated manifest record".into());
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let meta = bytes.get(4..4 + len).ok_or_else(corrupt)?;
    let record: ManifestRecord =
        serde_json::from_slice(meta).map_err(|e| IndexError::Corrupt(e.to_string()))?;
    Ok((record, &bytes[4 + len..]))
}

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
    }
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
            with_tables(Database::create(&path).map_err(backend)?)
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
        let db = self.database().await?;
        let index = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = db.begin_write().map_err(backend).and_then(|txn| {
                let value = work(&txn)?;
                txn.commit().map_err(backend)?;
                Ok(value)
            });
            index.checked(&db, result)
        })
        .await
        .map_err(join_failure)?
    }
}

/// Manifest `digest` of `repository`, read in `txn`.
fn read_manifest(
    txn: &ReadTransaction,
    repository: &RepositoryName,
    digest: &Digest,
) -> Result<Option<StoredManifest>, IndexError> {
    let table = txn.open_table(MANIFESTS).map_err(backend)?;
    let Some(value) = table
        .get(key(&[repository.as_str(), digest.as_str()]).as_str())
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let (record, body) = decode_manifest(value.value())?;
    Ok(Some(StoredManifest {
        digest: digest.clone(),
        media_type: record.media_type,
        body: body.to_vec(),
    }))
}

/// Lists the last key part of every key under `prefix` in `table`, paged, in `txn`.
fn page_of<V: redb::Value + 'static>(
    txn: &ReadTransaction,
    table: TableDefinition<&str, V>,
    prefix: Option<&str>,
    page: &PageRequest,
) -> Result<Page, IndexError> {
    let table = txn.open_table(table).map_err(backend)?;
    let (start, end) = match prefix {
        Some(prefix) => children(&[prefix]),
        None => (String::new(), String::from("\u{10FFFF}")),
    };
    let skip_prefix = prefix.map_or(0, |p| p.len() + 1);
    let after = page
        .last
        .as_ref()
        .map(|last| format!("{}{last}", &start[..skip_prefix]));
    let lower = match &after {
        Some(after) => Bound::Excluded(after.as_str()),
        None => Bound::Included(start.as_str()),
    };
    let bounds: (Bound<&str>, Bound<&str>) = (lower, Bound::Excluded(end.as_str()));
    let range = table.range::<&str>(bounds).map_err(backend)?;
    let mut items = Vec::new();
    let mut more = false;
    for entry in range {
        let (k, _) = entry.map_err(backend)?;
        if items.len() == page.limit {
            more = true;
            break;
        }
        items.push(k.value()[skip_prefix..].to_owned());
    }
    Ok(Page { items, more })
}

/// Records that `repo` holds blob `digest` (and the repository itself).
fn link(txn: &WriteTransaction, repo: &str, digest: &str, size: u64) -> Result<(), IndexError> {
    txn.open_table(REPOSITORIES)
        .map_err(backend)?
        .insert(repo, ())
        .map_err(backend)?;
    let mut links = txn.open_table(BLOB_LINKS).map_err(backend)?;
    let is_new = links
        .insert(key(&[repo, digest]).as_str(), size)
        .map_err(backend)?
        .is_none();
    if is_new {
        let mut blobs = txn.open_table(BLOBS).map_err(backend)?;
        let holders = blobs
            .get(digest)
            .map_err(backend)?
            .map_or(0, |v| v.value().1);
        blobs.insert(digest, (size, holders + 1)).map_err(backend)?;
    }
    Ok(())
}

/// Removes every `repo\0digest\0tag` entry of a manifest and the tags themselves.
fn remove_tags_of(txn: &WriteTransaction, repo: &str, digest: &str) -> Result<(), IndexError> {
    let mut manifest_tags = txn.open_table(MANIFEST_TAGS).map_err(backend)?;
    let mut tags = txn.open_table(TAGS).map_err(backend)?;
    let (start, end) = children(&[repo, digest]);
    let skip = start.len();
    let doomed: Vec<String> = manifest_tags
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .map(|entry| entry.map(|(k, _)| k.value()[skip..].to_owned()))
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for tag in doomed {
        manifest_tags
            .remove(key(&[repo, digest, &tag]).as_str())
            .map_err(backend)?;
        tags.remove(key(&[repo, &tag]).as_str()).map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl MetadataIndex for RedbIndex {
    async fn blob(&self, digest: &Digest) -> Result<Option<u64>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(BLOBS).map_err(backend)?;
            Ok(table
                .get(digest.as_str())
                .map_err(backend)?
                .map(|v| v.value().0))
        })
        .await
    }

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        self.write(move |txn| link(txn, &repo, &digest, size)).await
    }

    async fn link_uploaded_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        upload: &str,
    ) -> Result<(), IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        let upload = upload.to_owned();
        self.write(move |txn| {
            link(txn, &repo, &digest, size)?;
            txn.open_table(UPLOADS)
                .map_err(backend)?
                .remove(upload.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn repository_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(BLOB_LINKS).map_err(backend)?;
            Ok(table
                .get(key(&[repository.as_str(), digest.as_str()]).as_str())
                .map_err(backend)?
                .map(|v| v.value()))
        })
        .await
    }

    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, IndexError> {
        let link = key(&[repository.as_str(), digest.as_str()]);
        let digest = digest.as_str().to_owned();
        self.write(move |txn| {
            let mut links = txn.open_table(BLOB_LINKS).map_err(backend)?;
            if links.remove(link.as_str()).map_err(backend)?.is_none() {
                return Ok(false);
            }
            let mut blobs = txn.open_table(BLOBS).map_err(backend)?;
            let counted = blobs
                .get(digest.as_str())
                .map_err(backend)?
                .map(|v| v.value());
            match counted {
                Some((size, links)) if links > 1 => {
                    blobs
                        .insert(digest.as_str(), (size, links - 1))
                        .map_err(backend)?;
                }
                _ => {
                    blobs.remove(digest.as_str()).map_err(backend)?;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn put_manifest(
        &self,
        repository: &RepositoryName,
        manifest: NewManifest,
        tag: Option<&Tag>,
    ) -> Result<(), IndexError> {
        let repo = repository.as_str().to_owned();
        let tag = tag.map(|t| t.as_str().to_owned());
        self.write(move |txn| {
            {
                let links = txn.open_table(BLOB_LINKS).map_err(backend)?;
                for blob in &manifest.blobs {
                    if links
                        .get(key(&[&repo, blob.as_str()]).as_str())
                        .map_err(backend)?
                        .is_none()
                    {
                        return Err(IndexError::MissingReference(blob.clone()));
                    }
                }
                let manifests = txn.open_table(MANIFESTS).map_err(backend)?;
                for child in &manifest.manifests {
                    if manifests
                        .get(key(&[&repo, child.as_str()]).as_str())
                        .map_err(backend)?
                        .is_none()
                    {
                        return Err(IndexError::MissingReference(child.clone()));
                    }
                }
            }
            let digest = manifest.digest.as_str();
            let record = ManifestRecord {
                media_type: manifest.media_type,
                blobs: manifest.blobs,
                manifests: manifest.manifests,
                subject: manifest
                    .subject
                    .as_ref()
                    .map(|(subject, _)| subject.clone()),
            };
            txn.open_table(REPOSITORIES)
                .map_err(backend)?
                .insert(repo.as_str(), ())
                .map_err(backend)?;
            txn.open_table(MANIFESTS)
                .map_err(backend)?
                .insert(
                    key(&[&repo, digest]).as_str(),
                    encode_manifest(&record, &manifest.body).as_slice(),
                )
                .map_err(backend)?;
            if let Some((subject, descriptor)) = &manifest.subject {
                let json = serde_json::to_vec(descriptor)
                    .map_err(|e| IndexError::Corrupt(e.to_string()))?;
                txn.open_table(REFERRERS)
                    .map_err(backend)?
                    .insert(
                        key(&[&repo, subject.as_str(), digest]).as_str(),
                        json.as_slice(),
                    )
                    .map_err(backend)?;
            }
            if let Some(tag) = tag {
                let mut tags = txn.open_table(TAGS).map_err(backend)?;
                let previous = tags
                    .insert(key(&[&repo, &tag]).as_str(), digest)
                    .map_err(backend)?
                    .map(|old| old.value().to_owned());
                drop(tags);
                let mut manifest_tags = txn.open_table(MANIFEST_TAGS).map_err(backend)?;
                if let Some(previous) = previous {
                    manifest_tags
                        .remove(key(&[&repo, &previous, &tag]).as_str())
                        .map_err(backend)?;
                }
                manifest_tags
                    .insert(key(&[&repo, digest, &tag]).as_str(), ())
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, IndexError> {
        self.read(|txn| read_manifest(txn, repository, digest))
            .await
    }

    async fn tagged_manifest(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, IndexError> {
        self.read(|txn| {
            let digest = {
                let tags = txn.open_table(TAGS).map_err(backend)?;
                let Some(digest) = tags
                    .get(key(&[repository.as_str(), tag.as_str()]).as_str())
                    .map_err(backend)?
                else {
                    return Ok(None);
                };
                parse_digest(digest.value())?
            };
            read_manifest(txn, repository, &digest)
        })
        .await
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        self.write(move |txn| {
            let removed = txn
                .open_table(MANIFESTS)
                .map_err(backend)?
                .remove(key(&[&repo, &digest]).as_str())
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            let Some(removed) = removed else {
                return Ok(false);
            };
            let (record, _) = decode_manifest(&removed)?;
            if let Some(subject) = record.subject {
                txn.open_table(REFERRERS)
                    .map_err(backend)?
                    .remove(key(&[&repo, subject.as_str(), &digest]).as_str())
                    .map_err(backend)?;
            }
            remove_tags_of(txn, &repo, &digest)?;
            Ok(true)
        })
        .await
    }

    async fn delete_tag(&self, repository: &RepositoryName, tag: &Tag) -> Result<bool, IndexError> {
        let repo = repository.as_str().to_owned();
        let tag = tag.as_str().to_owned();
        self.write(move |txn| {
            let removed = txn
                .open_table(TAGS)
                .map_err(backend)?
                .remove(key(&[&repo, &tag]).as_str())
                .map_err(backend)?
                .map(|v| v.value().to_owned());
            let Some(digest) = removed else {
                return Ok(false);
            };
            txn.open_table(MANIFEST_TAGS)
                .map_err(backend)?
                .remove(key(&[&repo, &digest, &tag]).as_str())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn tags(
        &self,
        repository: &RepositoryName,
        page: &PageRequest,
    ) -> Result<Option<Page>, IndexError> {
        self.read(|txn| {
            let repos = txn.open_table(REPOSITORIES).map_err(backend)?;
            if repos.get(repository.as_str()).map_err(backend)?.is_none() {
                return Ok(None);
            }
            page_of(txn, TAGS, Some(repository.as_str()), page).map(Some)
        })
        .await
    }

    async fn repository_blobs(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<(Digest, u64)>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(BLOB_LINKS).map_err(backend)?;
            let (start, end) = children(&[repository.as_str()]);
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (key, size) = entry.map_err(backend)?;
                out.push((parse_digest(&key.value()[start.len()..])?, size.value()));
            }
            Ok(out)
        })
        .await
    }

    async fn repository_manifests(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Digest>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(MANIFESTS).map_err(backend)?;
            let (start, end) = children(&[repository.as_str()]);
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (key, _) = entry.map_err(backend)?;
                out.push(parse_digest(&key.value()[start.len()..])?);
            }
            Ok(out)
        })
        .await
    }

    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(REFERRERS).map_err(backend)?;
            let (start, end) = children(&[repository.as_str(), subject.as_str()]);
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (_, value) = entry.map_err(backend)?;
                out.push(
                    serde_json::from_slice(value.value())
                        .map_err(|e| IndexError::Corrupt(e.to_string()))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn repositories(&self, page: &PageRequest) -> Result<Page, IndexError> {
        self.read(|txn| page_of(txn, REPOSITORIES, None, page))
            .await
    }

    async fn put_upload(&self, id: &str, state: &[u8]) -> Result<(), IndexError> {
        let id = id.to_owned();
        let state = state.to_vec();
        self.write(move |txn| {
            txn.open_table(UPLOADS)
                .map_err(backend)?
                .insert(id.as_str(), state.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<Vec<u8>>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(UPLOADS).map_err(backend)?;
            Ok(table.get(id).map_err(backend)?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool, IndexError> {
        let id = id.to_owned();
        self.write(move |txn| {
            Ok(txn
                .open_table(UPLOADS)
                .map_err(backend)?
                .remove(id.as_str())
                .map_err(backend)?
                .is_some())
        })
        .await
    }

    async fn uploads(&self) -> Result<Vec<(String, Vec<u8>)>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(UPLOADS).map_err(backend)?;
            let mut out = Vec::new();
            for entry in table.range::<&str>(..).map_err(backend)? {
                let (id, state) = entry.map_err(backend)?;
                out.push((id.value().to_owned(), state.value().to_vec()));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_records_round_trip() {
        let record = ManifestRecord {
            media_type: "m".into(),
            blobs: vec![Digest::sha256(b"a")],
            manifests: vec![],
            subject: None,
        };
        let encoded = encode_manifest(&record, b"{}");
        let (decoded, body) = decode_manifest(&encoded).unwrap();
        assert_eq!(decoded.media_type, "m");
        assert_eq!(body, b"{}");
        assert!(decode_manifest(&encoded[..3]).is_err());
    }

    #[tokio::test]
    async fn redb_index_passes_the_shared_suite() {
        crate::suite::run(|| async {
            let dir = tempfile::tempdir().unwrap();
            let index = RedbIndex::open(&dir.path().join("index.redb")).unwrap();
            (index, dir)
        })
        .await;
    }

    #[tokio::test]
    async fn committed_writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let repo: RepositoryName = "a/b".parse().unwrap();
        let digest = Digest::sha256(b"x");
        {
            let index = RedbIndex::open(&path).unwrap();
            index.link_blob(&repo, &digest, 1).await.unwrap();
        }
        let index = RedbIndex::open(&path).unwrap();
        assert_eq!(
            index.repository_blob(&repo, &digest).await.unwrap(),
            Some(1)
        );
    }

    /// A database file whose reads or writes can be made to fail, as a
    /// failing disk would.
    #[derive(Debug)]
    struct FaultyFile {
        file: redb::backends::FileBackend,
        faults: Arc<Faults>,
    }

    #[derive(Debug, Default)]
    struct Faults {
        reads: std::sync::atomic::AtomicBool,
        writes: std::sync::atomic::AtomicBool,
    }

    impl Faults {
        fn check(flag: &std::sync::atomic::AtomicBool, what: &str) -> std::io::Result<()> {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                Err(std::io::Error::other(format!("injected {what} failure")))
            } else {
                Ok(())
            }
        }
    }

    impl redb::StorageBackend for FaultyFile {
        fn len(&self) -> std::io::Result<u64> {
            self.file.len()
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            Faults::check(&self.faults.reads, "read")?;
            self.file.read(offset, out)
        }

        fn set_len(&self, len: u64) -> std::io::Result<()> {
            Faults::check(&self.faults.writes, "write")?;
            self.file.set_len(len)
        }

        fn sync_data(&self) -> std::io::Result<()> {
            Faults::check(&self.faults.writes, "write")?;
            self.file.sync_data()
        }

        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            Faults::check(&self.faults.writes, "write")?;
            self.file.write(offset, data)
        }

        fn close(&self) -> std::io::Result<()> {
            self.file.close()
        }
    }

    /// Every open of an index over a [`FaultyFile`]: the thread it ran on.
    type Opens = Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>;

    /// An index on `path` whose file fails on demand. It reads without a
    /// page cache, so every read reaches the file.
    fn faulty_index(path: &Path) -> (RedbIndex, Arc<Faults>, Opens) {
        let faults = Arc::new(Faults::default());
        let opens = Opens::default();
        let opener = {
            let path = path.to_path_buf();
            let faults = Arc::clone(&faults);
            let opens = Arc::clone(&opens);
            move || {
                opens.lock().unwrap().push(std::thread::current().id());
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(backend)?;
                let faulty = FaultyFile {
                    file: redb::backends::FileBackend::new(file).map_err(backend)?,
                    faults: Arc::clone(&faults),
                };
                let db = redb::Builder::new()
                    .set_cache_size(0)
                    .create_with_backend(faulty)
                    .map_err(backend)?;
                with_tables(db)
            }
        };
        let index = RedbIndex::with_opener(Arc::new(opener)).unwrap();
        (index, faults, opens)
    }

    #[tokio::test]
    async fn a_read_that_meets_an_io_error_reopens_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let repo: RepositoryName = "a/b".parse().unwrap();
        let digest = Digest::sha256(b"x");
        RedbIndex::open(&path)
            .unwrap()
            .link_blob(&repo, &digest, 1)
            .await
            .unwrap();
        let (index, faults, opens) = faulty_index(&path);

        // The disk fails once the transaction has begun: a table read meets it.
        let failed = index
            .read(|txn| {
                faults
                    .reads
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                let table = txn.open_table(BLOB_LINKS).map_err(backend)?;
                let link = key(&[repo.as_str(), digest.as_str()]);
                Ok(table.get(link.as_str()).map_err(backend)?.is_some())
            })
            .await;
        assert!(is_io_error(&failed.unwrap_err()));
        faults
            .reads
            .store(false, std::sync::atomic::Ordering::SeqCst);
        // The disk works again: so does the very next call, on a reopened handle.
        assert_eq!(
            index.repository_blob(&repo, &digest).await.unwrap(),
            Some(1)
        );
        assert_eq!(opens.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_database_is_reopened_once_and_off_the_async_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (index, faults, opens) = faulty_index(&dir.path().join("index.redb"));
        let repo: RepositoryName = "a/b".parse().unwrap();
        let digest = Digest::sha256(b"x");

        faults
            .writes
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(index.link_blob(&repo, &digest, 1).await.is_err());
        faults
            .writes
            .store(false, std::sync::atomic::Ordering::SeqCst);

        // Several readers find the handle gone at once: one reopen serves them all.
        let (a, b, c) = tokio::join!(
            index.blob(&digest),
            index.repository_blob(&repo, &digest),
            index.uploads()
        );
        assert_eq!(a.unwrap(), None);
        assert_eq!(b.unwrap(), None);
        assert!(c.unwrap().is_empty());
        index.link_blob(&repo, &digest, 1).await.unwrap();
        assert_eq!(index.blob(&digest).await.unwrap(), Some(1));

        let opens = opens.lock().unwrap();
        assert_eq!(opens.len(), 2, "one open at start, one reopen");
        // This test's runtime has one thread, this one: the reopen ran elsewhere.
        assert_ne!(opens[1], std::thread::current().id());
    }
}
