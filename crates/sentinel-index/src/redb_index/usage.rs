//! What each namespace stores, kept in step with the blob links.
//!
//! A namespace is the first component of a repository name (`acme` for
//! `acme/team/agent`, the name itself for `agent`). Its usage is the size
//! of the distinct blobs its repositories hold: a blob linked in two
//! repositories of one namespace counts once. Two tables keep it, changed
//! in the same transaction as the link they follow:
//!
//! - `ns\0digest` -> how many repositories of `ns` link the blob;
//! - `ns` -> the bytes of the blobs `ns` holds.
//!
//! An index written before these tables existed gets them built once, on
//! open, from its blob links; the index's `schema` table records that
//! they are.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::records::{backend, key};
use super::{BLOB_LINKS, SCHEMA};
use crate::IndexError;

/// `ns\0digest` -> number of repositories of `ns` linking the blob.
pub(super) const NAMESPACE_BLOBS: TableDefinition<&str, u64> =
    TableDefinition::new("namespace_blobs");
/// `ns` -> bytes of the distinct blobs `ns` holds.
pub(super) const NAMESPACE_USAGE: TableDefinition<&str, u64> =
    TableDefinition::new("namespace_usage");

/// The key of [`SCHEMA`] saying the usage tables are built.
pub(super) const USAGE_SCHEMA: &str = "namespace-usage";
/// The version of the usage tables this build keeps.
const USAGE_VERSION: u64 = 1;

/// The namespace of repository `repo`: its first path component.
pub(super) fn namespace(repo: &str) -> &str {
    repo.split_once('/').map_or(repo, |(first, _)| first)
}

/// Refuses to link blob `digest` of `size` bytes into `repo` when that
/// would take its namespace over `limit`; a blob the namespace holds
/// already costs nothing.
pub(super) fn check(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    size: u64,
    limit: Option<u64>,
) -> Result<(), IndexError> {
    let Some(quota) = limit else {
        return Ok(());
    };
    let ns = namespace(repo);
    let held = txn
        .open_table(NAMESPACE_BLOBS)
        .map_err(backend)?
        .get(key(&[ns, digest]).as_str())
        .map_err(backend)?
        .is_some();
    if held {
        return Ok(());
    }
    let usage = txn
        .open_table(NAMESPACE_USAGE)
        .map_err(backend)?
        .get(ns)
        .map_err(backend)?
        .map_or(0, |v| v.value());
    if usage.saturating_add(size) > quota {
        return Err(IndexError::QuotaExceeded {
            namespace: ns.to_owned(),
            quota,
            usage,
            size,
        });
    }
    Ok(())
}

/// Counts a new link of blob `digest` (`size` bytes) into `repo`.
pub(super) fn linked(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    size: u64,
) -> Result<(), IndexError> {
    let ns = namespace(repo);
    let mut blobs = txn.open_table(NAMESPACE_BLOBS).map_err(backend)?;
    let entry = key(&[ns, digest]);
    let holders = blobs
        .get(entry.as_str())
        .map_err(backend)?
        .map_or(0, |v| v.value());
    blobs.insert(entry.as_str(), holders + 1).map_err(backend)?;
    if holders == 0 {
        let mut usage = txn.open_table(NAMESPACE_USAGE).map_err(backend)?;
        let bytes = usage.get(ns).map_err(backend)?.map_or(0, |v| v.value());
        usage.insert(ns, bytes + size).map_err(backend)?;
    }
    Ok(())
}

/// Counts the removal of the link of blob `digest` (`size` bytes) from `repo`.
pub(super) fn unlinked(
    txn: &WriteTransaction,
    repo: &str,
    digest: &str,
    size: u64,
) -> Result<(), IndexError> {
    let ns = namespace(repo);
    let mut blobs = txn.open_table(NAMESPACE_BLOBS).map_err(backend)?;
    let entry = key(&[ns, digest]);
    let holders = blobs
        .get(entry.as_str())
        .map_err(backend)?
        .map_or(0, |v| v.value());
    if holders > 1 {
        blobs.insert(entry.as_str(), holders - 1).map_err(backend)?;
        return Ok(());
    }
    blobs.remove(entry.as_str()).map_err(backend)?;
    let mut usage = txn.open_table(NAMESPACE_USAGE).map_err(backend)?;
    let bytes = usage.get(ns).map_err(backend)?.map_or(0, |v| v.value());
    match bytes.saturating_sub(size) {
        0 => usage.remove(ns).map_err(backend)?,
        left => usage.insert(ns, left).map_err(backend)?,
    };
    Ok(())
}

/// Builds the usage tables from the blob links, unless they are built.
pub(super) fn build_once(txn: &WriteTransaction) -> Result<(), IndexError> {
    let mut schema = txn.open_table(SCHEMA).map_err(backend)?;
    if schema
        .get(USAGE_SCHEMA)
        .map_err(backend)?
        .is_some_and(|v| v.value() == USAGE_VERSION)
    {
        return Ok(());
    }
    txn.delete_table(NAMESPACE_BLOBS).map_err(backend)?;
    txn.delete_table(NAMESPACE_USAGE).map_err(backend)?;
    txn.open_table(NAMESPACE_BLOBS).map_err(backend)?;
    txn.open_table(NAMESPACE_USAGE).map_err(backend)?;
    let links: Vec<(String, u64)> = txn
        .open_table(BLOB_LINKS)
        .map_err(backend)?
        .range::<&str>(..)
        .map_err(backend)?
        .map(|entry| entry.map(|(k, v)| (k.value().to_owned(), v.value())))
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for (link, size) in links {
        let (repo, digest) = link
            .split_once('\0')
            .ok_or_else(|| IndexError::Corrupt(format!("blob link {link:?} has no digest")))?;
        linked(txn, repo, digest, size)?;
    }
    schema
        .insert(USAGE_SCHEMA, USAGE_VERSION)
        .map_err(backend)?;
    Ok(())
}

/// The bytes namespace `ns` holds.
pub(super) fn usage_of(txn: &ReadTransaction, ns: &str) -> Result<u64, IndexError> {
    Ok(txn
        .open_table(NAMESPACE_USAGE)
        .map_err(backend)?
        .get(ns)
        .map_err(backend)?
        .map_or(0, |v| v.value()))
}

/// Every namespace holding at least one blob, with its bytes, in name order.
pub(super) fn all_usage(txn: &ReadTransaction) -> Result<Vec<(String, u64)>, IndexError> {
    txn.open_table(NAMESPACE_USAGE)
        .map_err(backend)?
        .range::<&str>(..)
        .map_err(backend)?
        .map(|entry| {
            entry
                .map(|(k, v)| (k.value().to_owned(), v.value()))
                .map_err(backend)
        })
        .collect()
}
