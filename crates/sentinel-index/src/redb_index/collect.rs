//! Garbage collection in the index: link and push times, the reverse
//! references that make "is this still referenced?" one range probe, the
//! per-repository collection transaction, and the orphaned -> deleting
//! life of a blob's bytes with the reservations that uploads hold against
//! it. docs/gc.md explains the protocol and why it is safe.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use sentinel_oci::{Digest, RepositoryName};

use super::records::{
    ManifestRecord, backend, children, decode_manifest, key, link, now_secs, parse_digest,
    remove_tags_of, unlink,
};
use super::{
    BLOB_LINKS, BLOB_REFS, BLOBS, CHILD_REFS, DELETING, LINK_TIMES, MANIFEST_TAGS, MANIFEST_TIMES,
    MANIFESTS, ORPHANED, REFERRERS, RESERVATIONS, RedbIndex, SCHEMA,
};
use crate::{Collected, GcCandidates, IndexError, OrphanedBlob};

/// The [`SCHEMA`] key of the reverse reference tables.
const REVERSE_REFS: &str = "reverse_refs";

/// Builds the reverse references of every manifest, once, for an index
/// written before they existed.
pub(super) fn upgrade(txn: &WriteTransaction) -> Result<(), IndexError> {
    let mut schema = txn.open_table(SCHEMA).map_err(backend)?;
    if schema.get(REVERSE_REFS).map_err(backend)?.is_some() {
        return Ok(());
    }
    let stored: Vec<(String, Vec<u8>)> = {
        let manifests = txn.open_table(MANIFESTS).map_err(backend)?;
        manifests
            .range::<&str>(..)
            .map_err(backend)?
            .map(|entry| entry.map(|(k, v)| (k.value().to_owned(), v.value().to_vec())))
            .collect::<Result<_, _>>()
            .map_err(backend)?
    };
    for (manifest_key, bytes) in stored {
        let (record, _) = decode_manifest(&bytes)?;
        let Some((repo, digest)) = manifest_key.split_once('\0') else {
            return Err(IndexError::Corrupt(format!(
                "manifest key {manifest_key:?}"
            )));
        };
        insert_refs(txn, repo, digest, &record)?;
    }
    schema.insert(REVERSE_REFS, 1).map_err(backend)?;
    Ok(())
}

/// Adds the reverse references of manifest `digest` of `repo`.
fn insert_refs(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    record: &ManifestRecord,
) -> Result<(), IndexError> {
    let mut blob_refs = txn.open_table(BLOB_REFS).map_err(backend)?;
    for blob in &record.blobs {
        blob_refs
            .insert(key(&[repo, blob.as_str(), digest]).as_str(), ())
            .map_err(backend)?;
    }
    let mut child_refs = txn.open_table(CHILD_REFS).map_err(backend)?;
    for child in &record.manifests {
        child_refs
            .insert(key(&[repo, child.as_str(), digest]).as_str(), ())
            .map_err(backend)?;
    }
    Ok(())
}

/// Records what a manifest just stored references, and that it was pushed now.
pub(super) fn record_manifest(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    record: &ManifestRecord,
) -> Result<(), IndexError> {
    insert_refs(txn, repo, digest, record)?;
    txn.open_table(MANIFEST_TIMES)
        .map_err(backend)?
        .insert(key(&[repo, digest]).as_str(), now_secs())
        .map_err(backend)?;
    Ok(())
}

/// Removes what [`record_manifest`] recorded of a manifest being deleted.
pub(super) fn forget_manifest(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    record: &ManifestRecord,
) -> Result<(), IndexError> {
    let mut blob_refs = txn.open_table(BLOB_REFS).map_err(backend)?;
    for blob in &record.blobs {
        blob_refs
            .remove(key(&[repo, blob.as_str(), digest]).as_str())
            .map_err(backend)?;
    }
    let mut child_refs = txn.open_table(CHILD_REFS).map_err(backend)?;
    for child in &record.manifests {
        child_refs
            .remove(key(&[repo, child.as_str(), digest]).as_str())
            .map_err(backend)?;
    }
    txn.open_table(MANIFEST_TIMES)
        .map_err(backend)?
        .remove(key(&[repo, digest]).as_str())
        .map_err(backend)?;
    Ok(())
}

/// The last key part of every key under `prefix` in `table`.
fn under<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static str, V>,
    prefix: &[&str],
) -> Result<Vec<String>, IndexError> {
    let (start, end) = children(prefix);
    table
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .map(|entry| entry.map(|(k, _)| k.value()[start.len()..].to_owned()))
        .collect::<Result<_, _>>()
        .map_err(backend)
}

/// Whether `table` holds any key under `prefix`.
fn any_under<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static str, V>,
    prefix: &[&str],
) -> Result<bool, IndexError> {
    let (start, end) = children(prefix);
    Ok(table
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .next()
        .is_some())
}

/// The time `table` records for `entry`; 0 (old) if none.
fn time_of(table: &impl ReadableTable<&'static str, u64>, entry: &str) -> Result<u64, IndexError> {
    Ok(table.get(entry).map_err(backend)?.map_or(0, |v| v.value()))
}

/// The snapshot of [`crate::MetadataIndex::gc_candidates`] in a read or a
/// write transaction `$txn`: `$cutoff` is `now - grace`; anything stamped
/// after it is young.
macro_rules! find_candidates {
    ($txn:expr, $repo:expr, $cutoff:expr) => {{
        let (txn, repo, cutoff): (_, &str, u64) = ($txn, $repo, $cutoff);
        let manifests = txn.open_table(MANIFESTS).map_err(backend)?;
        let times = txn.open_table(MANIFEST_TIMES).map_err(backend)?;
        let tags = txn.open_table(MANIFEST_TAGS).map_err(backend)?;
        let referrers = txn.open_table(REFERRERS).map_err(backend)?;
        let (start, end) = children(&[repo]);
        let mut records: BTreeMap<String, ManifestRecord> = BTreeMap::new();
        let mut kept: Vec<String> = Vec::new();
        for entry in manifests
            .range(start.as_str()..end.as_str())
            .map_err(backend)?
        {
            let (k, v) = entry.map_err(backend)?;
            let digest = k.value()[start.len()..].to_owned();
            let (record, _) = decode_manifest(v.value())?;
            if any_under(&tags, &[repo, &digest])? || time_of(&times, k.value())? > cutoff {
                kept.push(digest.clone());
            }
            records.insert(digest, record);
        }
        // The closure of the roots: children, subjects and referrers of
        // anything kept are kept.
        let mut seen: HashSet<String> = kept.iter().cloned().collect();
        while let Some(digest) = kept.pop() {
            let mut next: Vec<String> = under(&referrers, &[repo, &digest])?;
            if let Some(record) = records.get(&digest) {
                next.extend(record.manifests.iter().map(|d| d.as_str().to_owned()));
                next.extend(record.subject.iter().map(|d| d.as_str().to_owned()));
            }
            for digest in next {
                if records.contains_key(&digest) && seen.insert(digest.clone()) {
                    kept.push(digest);
                }
            }
        }
        let doomed: Vec<&String> = records.keys().filter(|d| !seen.contains(*d)).collect();
        let links = txn.open_table(BLOB_LINKS).map_err(backend)?;
        let link_times = txn.open_table(LINK_TIMES).map_err(backend)?;
        let blob_refs = txn.open_table(BLOB_REFS).map_err(backend)?;
        let mut blobs = Vec::new();
        for entry in links.range(start.as_str()..end.as_str()).map_err(backend)? {
            let (k, _) = entry.map_err(backend)?;
            let digest = &k.value()[start.len()..];
            if time_of(&link_times, k.value())? > cutoff {
                continue;
            }
            let referenced_by = under(&blob_refs, &[repo, digest])?;
            if referenced_by.iter().all(|m| !seen.contains(m)) {
                blobs.push(parse_digest(digest)?);
            }
        }
        GcCandidates {
            manifests: doomed
                .into_iter()
                .map(|d| parse_digest(d))
                .collect::<Result<_, _>>()?,
            blobs,
        }
    }};
}

/// The snapshot of [`crate::MetadataIndex::gc_candidates`]: `cutoff` is
/// `now - grace`; anything stamped after it is young.
pub(super) fn candidates(
    txn: &ReadTransaction,
    repo: &str,
    cutoff: u64,
) -> Result<GcCandidates, IndexError> {
    Ok(find_candidates!(txn, repo, cutoff))
}

/// [`crate::MetadataIndex::preview_collect`] in `txn` (which the caller
/// aborts): deletes the `retired` manifests of `repo`, takes the snapshot
/// and collects it.
pub(super) fn preview(
    txn: &WriteTransaction,
    repo: &str,
    retired: &[Digest],
    cutoff: u64,
) -> Result<Collected, IndexError> {
    for digest in retired {
        delete_manifest(txn, repo, digest.as_str())?;
    }
    let candidates = find_candidates!(txn, repo, cutoff);
    collect(txn, repo, &candidates, cutoff)
}

/// Whether candidate `digest` is kept by something outside `set`: a
/// parent, a referrer, or its subject (if stored).
fn kept_from_outside(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    set: &BTreeSet<String>,
) -> Result<bool, IndexError> {
    let outside = |found: Vec<String>| found.iter().any(|d| !set.contains(d));
    if outside(under(
        &txn.open_table(CHILD_REFS).map_err(backend)?,
        &[repo, digest],
    )?) || outside(under(
        &txn.open_table(REFERRERS).map_err(backend)?,
        &[repo, digest],
    )?) {
        return Ok(true);
    }
    let manifests = txn.open_table(MANIFESTS).map_err(backend)?;
    let Some(bytes) = manifests
        .get(key(&[repo, digest]).as_str())
        .map_err(backend)?
    else {
        return Ok(false);
    };
    let (record, _) = decode_manifest(bytes.value())?;
    Ok(match record.subject {
        Some(subject) => {
            !set.contains(subject.as_str())
                && manifests
                    .get(key(&[repo, subject.as_str()]).as_str())
                    .map_err(backend)?
                    .is_some()
        }
        None => false,
    })
}

/// Deletes manifest `digest` of `repo` with its tags, its referrer entry and
/// its reverse references.
fn delete_manifest(txn: &WriteTransaction, repo: &str, digest: &str) -> Result<bool, IndexError> {
    let removed = txn
        .open_table(MANIFESTS)
        .map_err(backend)?
        .remove(key(&[repo, digest]).as_str())
        .map_err(backend)?
        .map(|v| v.value().to_vec());
    let Some(removed) = removed else {
        return Ok(false);
    };
    let (record, _) = decode_manifest(&removed)?;
    forget_manifest(txn, repo, digest, &record)?;
    if let Some(subject) = &record.subject {
        txn.open_table(REFERRERS)
            .map_err(backend)?
            .remove(key(&[repo, subject.as_str(), digest]).as_str())
            .map_err(backend)?;
    }
    remove_tags_of(txn, repo, digest)?;
    Ok(true)
}

/// The collection transaction of [`crate::MetadataIndex::collect`].
pub(super) fn collect(
    txn: &WriteTransaction,
    repo: &str,
    candidates: &GcCandidates,
    cutoff: u64,
) -> Result<Collected, IndexError> {
    // What is still an old, untagged manifest now.
    let mut set = BTreeSet::new();
    {
        let manifests = txn.open_table(MANIFESTS).map_err(backend)?;
        let times = txn.open_table(MANIFEST_TIMES).map_err(backend)?;
        let tags = txn.open_table(MANIFEST_TAGS).map_err(backend)?;
        for digest in &candidates.manifests {
            let entry = key(&[repo, digest.as_str()]);
            if manifests.get(entry.as_str()).map_err(backend)?.is_some()
                && time_of(&times, &entry)? <= cutoff
                && !any_under(&tags, &[repo, digest.as_str()])?
            {
                set.insert(digest.as_str().to_owned());
            }
        }
    }
    // Whatever something outside the set keeps, stays (and may keep more).
    loop {
        let mut dropped = Vec::new();
        for digest in &set {
            if kept_from_outside(txn, repo, digest, &set)? {
                dropped.push(digest.clone());
            }
        }
        if dropped.is_empty() {
            break;
        }
        for digest in dropped {
            set.remove(&digest);
        }
    }
    let mut collected = Collected::default();
    for digest in &set {
        if delete_manifest(txn, repo, digest)? {
            collected.manifests.push(parse_digest(digest)?);
        }
    }
    for digest in &candidates.blobs {
        let entry = key(&[repo, digest.as_str()]);
        let size = {
            let links = txn.open_table(BLOB_LINKS).map_err(backend)?;
            let Some(size) = links
                .get(entry.as_str())
                .map_err(backend)?
                .map(|v| v.value())
            else {
                continue;
            };
            size
        };
        if time_of(&txn.open_table(LINK_TIMES).map_err(backend)?, &entry)? > cutoff
            || any_under(
                &txn.open_table(BLOB_REFS).map_err(backend)?,
                &[repo, digest.as_str()],
            )?
        {
            continue;
        }
        if unlink(txn, repo, digest.as_str())? {
            collected.blob_links.push((digest.clone(), size));
            let held = txn
                .open_table(BLOBS)
                .map_err(backend)?
                .get(digest.as_str())
                .map_err(backend)?
                .is_some();
            if !held {
                collected.orphaned.push((digest.clone(), size));
            }
        }
    }
    Ok(collected)
}

/// [`crate::MetadataIndex::mount_blob`] in `txn`.
pub(super) fn mount(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    from: Option<&str>,
    limit: Option<u64>,
) -> Result<Option<u64>, IndexError> {
    let size = match from {
        Some(from) => txn
            .open_table(BLOB_LINKS)
            .map_err(backend)?
            .get(key(&[from, digest]).as_str())
            .map_err(backend)?
            .map(|v| v.value()),
        None => txn
            .open_table(BLOBS)
            .map_err(backend)?
            .get(digest)
            .map_err(backend)?
            .map(|v| v.value().0),
    };
    let Some(size) = size else {
        return Ok(None);
    };
    link(txn, repo, digest, size, limit)?;
    Ok(Some(size))
}

/// [`crate::MetadataIndex::reserve_blob`] in `txn`.
pub(super) fn reserve(
    txn: &WriteTransaction,
    digest: &str,
    upload: &str,
    now: u64,
) -> Result<bool, IndexError> {
    if txn
        .open_table(DELETING)
        .map_err(backend)?
        .get(digest)
        .map_err(backend)?
        .is_some()
    {
        return Ok(false);
    }
    txn.open_table(RESERVATIONS)
        .map_err(backend)?
        .insert(key(&[digest, upload]).as_str(), now)
        .map_err(backend)?;
    Ok(true)
}

/// Drops the reservation of `digest` by `upload`, and orphans the digest if
/// nothing else holds it (its bytes may have been committed).
pub(super) fn release(
    txn: &WriteTransaction,
    digest: &str,
    upload: &str,
) -> Result<(), IndexError> {
    let removed = txn
        .open_table(RESERVATIONS)
        .map_err(backend)?
        .remove(key(&[digest, upload]).as_str())
        .map_err(backend)?
        .is_some();
    if removed {
        orphan_if_unheld(txn, digest)?;
    }
    Ok(())
}

/// Orphans `digest` (size unknown) if no repository holds it, no
/// reservation covers it, and it is not orphaned or being deleted already.
fn orphan_if_unheld(txn: &WriteTransaction, digest: &str) -> Result<(), IndexError> {
    let held = txn
        .open_table(BLOBS)
        .map_err(backend)?
        .get(digest)
        .map_err(backend)?
        .is_some()
        || txn
            .open_table(DELETING)
            .map_err(backend)?
            .get(digest)
            .map_err(backend)?
            .is_some()
        || any_under(&txn.open_table(RESERVATIONS).map_err(backend)?, &[digest])?;
    let mut orphaned = txn.open_table(ORPHANED).map_err(backend)?;
    if !held && orphaned.get(digest).map_err(backend)?.is_none() {
        orphaned.insert(digest, (0, now_secs())).map_err(backend)?;
    }
    Ok(())
}

/// [`crate::MetadataIndex::expire_reservations`] in `txn`.
pub(super) fn expire_reservations(
    txn: &WriteTransaction,
    cutoff: u64,
) -> Result<usize, IndexError> {
    let stale: Vec<String> = {
        let table = txn.open_table(RESERVATIONS).map_err(backend)?;
        let mut stale = Vec::new();
        for entry in table.range::<&str>(..).map_err(backend)? {
            let (k, since) = entry.map_err(backend)?;
            if since.value() < cutoff {
                stale.push(k.value().to_owned());
            }
        }
        stale
    };
    for entry in &stale {
        let Some((digest, upload)) = entry.split_once('\0') else {
            return Err(IndexError::Corrupt(format!("reservation key {entry:?}")));
        };
        release(txn, digest, upload)?;
    }
    Ok(stale.len())
}

/// Every orphaned blob.
pub(super) fn orphaned(txn: &ReadTransaction) -> Result<Vec<OrphanedBlob>, IndexError> {
    let table = txn.open_table(ORPHANED).map_err(backend)?;
    let mut out = Vec::new();
    for entry in table.range::<&str>(..).map_err(backend)? {
        let (digest, value) = entry.map_err(backend)?;
        let (size, since) = value.value();
        out.push(OrphanedBlob {
            digest: parse_digest(digest.value())?,
            size,
            since,
        });
    }
    Ok(out)
}

/// Every blob being deleted, with its size.
pub(super) fn deleting(txn: &ReadTransaction) -> Result<Vec<(Digest, u64)>, IndexError> {
    let table = txn.open_table(DELETING).map_err(backend)?;
    let mut out = Vec::new();
    for entry in table.range::<&str>(..).map_err(backend)? {
        let (digest, size) = entry.map_err(backend)?;
        out.push((parse_digest(digest.value())?, size.value()));
    }
    Ok(out)
}

/// One blob of [`crate::MetadataIndex::begin_blob_deletions`], in `txn`.
pub(super) fn begin_deletion(
    txn: &WriteTransaction,
    digest: &str,
) -> Result<Option<u64>, IndexError> {
    let Some((size, _)) = txn
        .open_table(ORPHANED)
        .map_err(backend)?
        .get(digest)
        .map_err(backend)?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    let held = txn
        .open_table(BLOBS)
        .map_err(backend)?
        .get(digest)
        .map_err(backend)?
        .is_some();
    if held {
        // Linked again since: not an orphan (linking clears this already).
        txn.open_table(ORPHANED)
            .map_err(backend)?
            .remove(digest)
            .map_err(backend)?;
        return Ok(None);
    }
    if any_under(&txn.open_table(RESERVATIONS).map_err(backend)?, &[digest])? {
        return Ok(None);
    }
    txn.open_table(ORPHANED)
        .map_err(backend)?
        .remove(digest)
        .map_err(backend)?;
    txn.open_table(DELETING)
        .map_err(backend)?
        .insert(digest, size)
        .map_err(backend)?;
    Ok(Some(size))
}

impl RedbIndex {
    /// Refreshes the time in `times` of entry `repository\0digest` of
    /// `table` if it is older than `max_age` at `now`: a read, and a write
    /// only when the time is stale.
    pub(super) async fn touch<V: redb::Value + Send + Sync + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, V>,
        times: TableDefinition<'static, &'static str, u64>,
        repository: &RepositoryName,
        digest: &Digest,
        now: u64,
        max_age: u64,
    ) -> Result<(), IndexError> {
        let entry = key(&[repository.as_str(), digest.as_str()]);
        let needed = self
            .read(|txn| {
                if txn
                    .open_table(table)
                    .map_err(backend)?
                    .get(entry.as_str())
                    .map_err(backend)?
                    .is_none()
                {
                    return Ok(false);
                }
                let times = txn.open_table(times).map_err(backend)?;
                Ok(time_of(&times, &entry)? < now.saturating_sub(max_age))
            })
            .await?;
        if !needed {
            return Ok(());
        }
        self.write(move |txn| {
            let present = txn
                .open_table(table)
                .map_err(backend)?
                .get(entry.as_str())
                .map_err(backend)?
                .is_some();
            let mut times = txn.open_table(times).map_err(backend)?;
            if present && time_of(&times, &entry)? < now {
                times.insert(entry.as_str(), now).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}
