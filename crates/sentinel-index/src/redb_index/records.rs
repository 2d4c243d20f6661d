//! How the index lays out its keys and encodes its records.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use sentinel_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};

use super::{
    BLOB_LINKS, BLOBS, DELETING, LINK_TIMES, MANIFEST_TAGS, MANIFESTS, ORPHANED, REPOSITORIES,
    TAGS, usage,
};
use crate::{IndexError, Page, PageRequest, StoredManifest, UploadSession};

/// Joins key parts with `\0`.
pub(super) fn key(parts: &[&str]) -> String {
    parts.join("\0")
}

/// The half-open range of keys that start with `prefix` followed by `\0`.
pub(super) fn children(prefix: &[&str]) -> (String, String) {
    let base = key(prefix);
    (format!("{base}\0"), format!("{base}\u{1}"))
}

pub(super) fn backend(e: impl Into<redb::Error>) -> IndexError {
    match e.into() {
        // Keep the I/O error itself, so callers can see what the disk said.
        redb::Error::Io(io) => IndexError::Backend(Box::new(io)),
        other => IndexError::Backend(Box::new(other)),
    }
}

pub(super) fn parse_digest(text: &str) -> Result<Digest, IndexError> {
    text.parse()
        .map_err(|e: sentinel_oci::DigestError| IndexError::Corrupt(e.to_string()))
}

/// What the index keeps of a manifest besides its bytes.
#[derive(Serialize, Deserialize)]
pub(super) struct ManifestRecord {
    pub(super) media_type: String,
    pub(super) blobs: Vec<Digest>,
    pub(super) manifests: Vec<Digest>,
    pub(super) subject: Option<Digest>,
}

/// `[u32 big-endian length of the JSON record][JSON record][body]`.
pub(super) fn encode_manifest(record: &ManifestRecord, body: &[u8]) -> Vec<u8> {
    let meta = serde_json::to_vec(record).expect("a manifest record always serialises");
    let mut out = Vec::with_capacity(4 + meta.len() + body.len());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(body);
    out
}

pub(super) fn decode_manifest(bytes: &[u8]) -> Result<(ManifestRecord, &[u8]), IndexError> {
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

/// An upload session's record, as JSON: `id`, `repository`, `updated_at`
/// and the storage progress's fields (`offset`, `parts`, `hash_state`) side
/// by side, as the index has always stored it (the upload's state was
/// opaque bytes of this same JSON before it was a typed record).
pub(super) fn encode_session(session: &UploadSession) -> Vec<u8> {
    serde_json::to_vec(session).expect("an upload session always serialises")
}

/// The session from [`encode_session`]'s bytes.
pub(super) fn decode_session(id: &str, bytes: &[u8]) -> Result<UploadSession, IndexError> {
    serde_json::from_slice(bytes)
        .map_err(|e| IndexError::Corrupt(format!("upload session {id}: {e}")))
}

/// Manifest `digest` of `repository`, read in `txn`.
pub(super) fn read_manifest(
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
pub(super) fn page_of<V: redb::Value + 'static>(
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

/// Seconds since the Unix epoch, as the index stamps links and manifests.
pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records that `repo` holds blob `digest` (and the repository itself), as
/// of now; refused while the blob's bytes are being deleted. A new link
/// counts in its namespace's usage; with `limit`, one that would take the
/// namespace's usage over it is refused ([`IndexError::QuotaExceeded`]).
pub(super) fn link(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    size: u64,
    limit: Option<u64>,
) -> Result<(), IndexError> {
    if txn
        .open_table(DELETING)
        .map_err(backend)?
        .get(digest)
        .map_err(backend)?
        .is_some()
    {
        return Err(IndexError::BlobDeleting(parse_digest(digest)?));
    }
    let mut links = txn.open_table(BLOB_LINKS).map_err(backend)?;
    let link = key(&[repo, digest]);
    let is_new = links.get(link.as_str()).map_err(backend)?.is_none();
    if is_new {
        usage::check(txn, repo, digest, size, limit)?;
    }
    txn.open_table(ORPHANED)
        .map_err(backend)?
        .remove(digest)
        .map_err(backend)?;
    txn.open_table(LINK_TIMES)
        .map_err(backend)?
        .insert(link.as_str(), now_secs())
        .map_err(backend)?;
    txn.open_table(REPOSITORIES)
        .map_err(backend)?
        .insert(repo, ())
        .map_err(backend)?;
    links.insert(link.as_str(), size).map_err(backend)?;
    if is_new {
        let mut blobs = txn.open_table(BLOBS).map_err(backend)?;
        let holders = blobs
            .get(digest)
            .map_err(backend)?
            .map_or(0, |v| v.value().1);
        blobs.insert(digest, (size, holders + 1)).map_err(backend)?;
        usage::linked(txn, repo, digest, size)?;
    }
    Ok(())
}

/// Removes blob `digest` from `repo` (and from its namespace's usage, unless
/// another repository of the namespace holds it); `false` if it was not
/// there. A blob whose last link goes is orphaned: its bytes stay until
/// garbage collection deletes them.
pub(super) fn unlink(txn: &WriteTransaction, repo: &str, digest: &str) -> Result<bool, IndexError> {
    let link = key(&[repo, digest]);
    let mut links = txn.open_table(BLOB_LINKS).map_err(backend)?;
    let Some(linked_size) = links
        .remove(link.as_str())
        .map_err(backend)?
        .map(|v| v.value())
    else {
        return Ok(false);
    };
    txn.open_table(LINK_TIMES)
        .map_err(backend)?
        .remove(link.as_str())
        .map_err(backend)?;
    let mut blobs = txn.open_table(BLOBS).map_err(backend)?;
    let counted = blobs.get(digest).map_err(backend)?.map(|v| v.value());
    match counted {
        Some((size, links)) if links > 1 => {
            blobs.insert(digest, (size, links - 1)).map_err(backend)?;
        }
        counted => {
            blobs.remove(digest).map_err(backend)?;
            let size = counted.map_or(0, |(size, _)| size);
            txn.open_table(ORPHANED)
                .map_err(backend)?
                .insert(digest, (size, now_secs()))
                .map_err(backend)?;
        }
    }
    usage::unlinked(txn, repo, digest, linked_size)?;
    Ok(true)
}

/// Removes every `repo\0digest\0tag` entry of a manifest and the tags themselves.
pub(super) fn remove_tags_of(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
) -> Result<(), IndexError> {
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
