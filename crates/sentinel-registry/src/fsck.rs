//! `sentinel-registry fsck`: a store-wide consistency check.
//!
//! Every blob some repository holds is read back and hashed; every manifest
//! is re-hashed and re-parsed, and its references looked up; every tag is
//! resolved; every upload session's parts are looked for, and upload bytes
//! that no session owns are reported. Run it while the server is stopped (the
//! index file is locked by a running server).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use sentinel_oci::{Digest, Digester, ParsedManifest, Reference, RepositoryName};

use crate::service::{PageRequest, Registry, RegistryError, StoredManifest, UploadSession};

/// Entries read per page when walking repositories and tags.
const PAGE: usize = 1000;

/// Why `fsck` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The data could not be opened (a running server holds the index, for one).
    #[error(transparent)]
    Open(#[from] crate::StartError),
    /// Reading the index or storage failed midway.
    #[error("the check could not finish")]
    Check(#[source] RegistryError),
}

/// Checks every blob, manifest, tag and upload session in the data named by
/// `settings`. The server must be stopped: a running server holds the index.
pub async fn fsck(settings: &crate::Settings) -> Result<FsckReport, FsckError> {
    let (registry, _, _, _) = crate::server::open(settings)?;
    check(&registry).await.map_err(FsckError::Check)
}

/// What `fsck` found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Repositories walked.
    pub repositories: usize,
    /// Distinct blobs read back and hashed.
    pub blobs: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Manifests re-hashed and re-parsed.
    pub manifests: usize,
    /// Tags resolved.
    pub tags: usize,
    /// Upload sessions checked.
    pub uploads: usize,
    /// Damage: content that does not match its digest, missing or unreadable
    /// objects, undecodable records. Each one is a line for the operator.
    pub errors: Vec<String>,
    /// Not damage, but worth knowing: manifests that reference blobs deleted
    /// from their repository (a blob `DELETE` is allowed to do that).
    pub warnings: Vec<String>,
    /// Ids of uploads whose bytes are in storage but that no session owns:
    /// left by a crash, or by a failure whose cleanup failed too. Neither
    /// damage nor a warning (nothing refers to them); the server deletes them
    /// once they have not changed for [`crate::ORPHANED_UPLOAD_GRACE`].
    pub orphaned_uploads: Vec<String>,
    /// Blobs no repository holds any more whose bytes the next garbage
    /// collection deletes (not damage: see docs/gc.md), and their bytes.
    pub uncollected_blobs: (usize, u64),
}

impl FsckReport {
    /// Whether no damage was found.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for FsckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        for error in &self.errors {
            writeln!(f, "error: {error}")?;
        }
        for id in &self.orphaned_uploads {
            writeln!(
                f,
                "note: upload {id}: bytes in storage that no upload session owns; the server deletes them after {} minutes without change",
                crate::ORPHANED_UPLOAD_GRACE.as_secs() / 60
            )?;
        }
        if self.uncollected_blobs.0 > 0 {
            writeln!(
                f,
                "note: {} blobs ({} bytes) are held by no repository; the next garbage collection deletes their bytes",
                self.uncollected_blobs.0, self.uncollected_blobs.1
            )?;
        }
        write!(
            f,
            "checked {} repositories, {} blobs ({} bytes hashed), {} manifests, {} tags, {} upload sessions, {} orphaned uploads: {} errors, {} warnings",
            self.repositories,
            self.blobs,
            self.bytes,
            self.manifests,
            self.tags,
            self.uploads,
            self.orphaned_uploads.len(),
            self.errors.len(),
            self.warnings.len()
        )
    }
}

/// Walks `registry` and reports what does not hold together.
pub(crate) async fn check(registry: &Registry) -> Result<FsckReport, RegistryError> {
    let mut report = FsckReport::default();
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut last = None;
    loop {
        let page = registry.catalog(&PageRequest { last, limit: PAGE }).await?;
        for name in &page.items {
            let Ok(repository) = name.parse::<RepositoryName>() else {
                report
                    .errors
                    .push(format!("repository {name:?}: invalid name in the index"));
                continue;
            };
            report.repositories += 1;
            check_repository(registry, &repository, &mut blobs, &mut report).await?;
        }
        if !page.more {
            break;
        }
        last = page.items.last().cloned();
    }
    for (digest, size) in &blobs {
        check_blob(registry, digest, *size, &mut report).await;
    }
    for listed in registry.upload_sessions().await? {
        report.uploads += 1;
        match &listed.session {
            Some(session) => check_upload(registry, session, &mut report).await?,
            None => report
                .errors
                .push(format!("upload {}: undecodable session state", listed.id)),
        }
    }
    // The server is stopped: no push is writing, so every orphan counts.
    let uncollected = registry.uncollected_blobs().await?;
    report.uncollected_blobs = (
        uncollected.len(),
        uncollected.iter().map(|(_, size)| size).sum(),
    );
    report.orphaned_uploads = registry
        .orphaned_uploads(Duration::ZERO)
        .await?
        .into_iter()
        .map(|orphan| orphan.id)
        .collect();
    Ok(report)
}

/// The manifest a lookup found, `None` if there is none.
fn found(
    lookup: Result<StoredManifest, RegistryError>,
) -> Result<Option<StoredManifest>, RegistryError> {
    match lookup {
        Ok(manifest) => Ok(Some(manifest)),
        Err(RegistryError::ManifestUnknown(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn check_repository(
    registry: &Registry,
    repository: &RepositoryName,
    blobs: &mut BTreeMap<Digest, u64>,
    report: &mut FsckReport,
) -> Result<(), RegistryError> {
    let held = registry.held_blobs(repository).await?;
    for (digest, size) in &held {
        if let Some(other) = blobs.insert(digest.clone(), *size)
            && other != *size
        {
            report.errors.push(format!(
                "blob {digest}: recorded as {size} bytes in {repository} but {other} elsewhere"
            ));
        }
    }
    let held: HashSet<&Digest> = held.iter().map(|(digest, _)| digest).collect();
    let manifests = registry.manifest_digests(repository).await?;
    let present: HashSet<&Digest> = manifests.iter().collect();
    for digest in &manifests {
        report.manifests += 1;
        let Some(manifest) = found(
            registry
                .manifest(repository, &Reference::Digest(digest.clone()))
                .await,
        )?
        else {
            report.errors.push(format!(
                "manifest {repository}@{digest}: listed but unreadable"
            ));
            continue;
        };
        let actual = Digest::of(digest.algorithm(), &manifest.body);
        if &actual != digest {
            report.errors.push(format!(
                "manifest {repository}@{digest}: its bytes hash to {actual}"
            ));
            continue;
        }
        let parsed = match ParsedManifest::parse(Some(&manifest.media_type), &manifest.body) {
            Ok(parsed) => parsed,
            Err(e) => {
                report
                    .errors
                    .push(format!("manifest {repository}@{digest}: {e}"));
                continue;
            }
        };
        for blob in &parsed.blobs {
            if !held.contains(blob) {
                report.warnings.push(format!(
                    "manifest {repository}@{digest} references blob {blob}, which {repository} no longer holds"
                ));
            }
        }
        for child in &parsed.manifests {
            if !present.contains(child) {
                report.warnings.push(format!(
                    "manifest {repository}@{digest} references manifest {child}, which {repository} no longer holds"
                ));
            }
        }
    }
    let mut last = None;
    loop {
        let page = match registry
            .tags(repository, &PageRequest { last, limit: PAGE })
            .await
        {
            Ok(page) => page,
            Err(RegistryError::NameUnknown(_)) => break,
            Err(e) => return Err(e),
        };
        for tag in &page.items {
            report.tags += 1;
            let resolved = match tag.parse() {
                Ok(tag) => found(registry.manifest(repository, &Reference::Tag(tag)).await)?,
                Err(_) => None,
            };
            if resolved.is_none() {
                report
                    .errors
                    .push(format!("tag {repository}:{tag}: points at no manifest"));
            }
        }
        if !page.more {
            break;
        }
        last = page.items.last().cloned();
    }
    Ok(())
}

async fn check_blob(registry: &Registry, digest: &Digest, size: u64, report: &mut FsckReport) {
    report.blobs += 1;
    let mut stream = match registry.read_stored_blob(digest).await {
        Ok(stream) => stream,
        Err(e) => {
            report
                .errors
                .push(format!("blob {digest}: {}", crate::describe(&e)));
            return;
        }
    };
    let mut hasher = Digester::new(digest.algorithm());
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                hasher.update(&chunk);
                read += chunk.len() as u64;
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("blob {digest}: read failed: {e}"));
                return;
            }
        }
    }
    report.bytes += read;
    let actual = hasher.finish();
    if read != size {
        report.errors.push(format!(
            "blob {digest}: {read} bytes stored, {size} recorded"
        ));
    }
    if &actual != digest {
        report
            .errors
            .push(format!("blob {digest}: its bytes hash to {actual}"));
    }
}

async fn check_upload(
    registry: &Registry,
    session: &UploadSession,
    report: &mut FsckReport,
) -> Result<(), RegistryError> {
    let id = &session.id;
    let state = &session.progress;
    if state.parts.iter().sum::<u64>() != state.offset {
        report.errors.push(format!(
            "upload {id}: parts add up to {} bytes, offset says {}",
            state.parts.iter().sum::<u64>(),
            state.offset
        ));
    }
    for problem in registry.check_upload_bytes(session).await? {
        report.errors.push(format!("upload {id}: {problem}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_awaiting_collection_are_noted_but_are_no_damage() {
        let dir = tempfile::tempdir().unwrap();
        let registry = crate::service::tests::registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        let digest = Digest::sha256(b"orphan");
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"orphan"),
        )]);
        registry
            .put_blob(&repository, &digest, None, body)
            .await
            .unwrap();
        registry.delete_blob(&repository, &digest).await.unwrap();
        let report = check(&registry).await.unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.uncollected_blobs, (1, 6));
        assert!(
            report
                .to_string()
                .contains("1 blobs (6 bytes) are held by no repository")
        );
    }

    #[tokio::test]
    async fn upload_bytes_no_session_owns_are_reported_but_are_no_damage() {
        let dir = tempfile::tempdir().unwrap();
        let registry = crate::service::tests::registry(dir.path());
        let repository: RepositoryName = "a/b".parse().unwrap();
        let session = registry.start_upload(&repository).await.unwrap();
        let chunk =
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x"))]);
        registry
            .append(&repository, &session.id, Some(0), Some(1), chunk)
            .await
            .unwrap();
        let uploads = dir.path().join("storage/uploads");
        std::fs::write(uploads.join("left-behind"), b"bytes").unwrap();
        let report = check(&registry).await.unwrap();
        assert!(report.is_clean(), "{report}");
        assert!(report.warnings.is_empty(), "{report}");
        assert_eq!(report.orphaned_uploads, vec!["left-behind".to_owned()]);
        let text = report.to_string();
        assert!(text.contains("note: upload left-behind: "), "{text}");
        assert!(
            text.ends_with("1 upload sessions, 1 orphaned uploads: 0 errors, 0 warnings"),
            "{text}"
        );
    }
}
