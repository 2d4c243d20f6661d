//! Online garbage collection: repository by repository, a snapshot of what
//! looks unreferenced, then one short index transaction that checks it again
//! and deletes what still is; then the bytes of blobs no repository holds,
//! each in three steps (mark as deleting, delete, forget), and the upload
//! housekeeping. No lock is held across storage I/O, and nothing pushes or
//! pulls wait for, except the index's own write transactions. The protocol,
//! and why it is safe, is in docs/gc.md.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use sentinel_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};

use super::{
    ORPHANED_UPLOAD_GRACE, PageRequest, Registry, RegistryError, RetiredVersion, UPLOAD_EXPIRY, now,
};

/// How many repository names one page of the walk reads.
const REPOSITORY_PAGE: usize = 100;
/// How many blobs one deletion transaction marks (and one forgets): a
/// commit of one of them waits for the whole batch's bytes to go.
const DELETION_BATCH: usize = 64;

/// What a garbage collection run is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// Report what would go, deleting nothing.
    pub dry_run: bool,
    /// Manifests and blob links younger than this (pushed, linked or looked
    /// at more recently) are kept whatever references them.
    pub grace: Duration,
    /// Upload sessions idle for longer than this are abandoned, and
    /// reservations older than this (a commit that crashed) expire.
    pub upload_expiry: Duration,
    /// Upload bytes no session owns are deleted once unchanged this long.
    pub orphaned_upload_grace: Duration,
}

impl GcOptions {
    /// A run with grace period `grace` and the usual upload housekeeping.
    pub fn new(dry_run: bool, grace: Duration) -> Self {
        GcOptions {
            dry_run,
            grace,
            upload_expiry: UPLOAD_EXPIRY,
            orphaned_upload_grace: ORPHANED_UPLOAD_GRACE,
        }
    }
}

/// What a garbage collection run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// When the run started, in seconds since the Unix epoch.
    pub started_at: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Repositories looked at.
    pub repositories: u64,
    /// Manifests deleted: those of the retired versions, then those
    /// nothing references.
    pub manifests_deleted: u64,
    /// Blob links removed from repositories.
    pub blob_links_removed: u64,
    /// Blobs whose bytes were deleted from storage.
    pub blobs_deleted: u64,
    /// The bytes those blobs held.
    pub bytes_freed: u64,
    /// Idle upload sessions abandoned (with their bytes).
    pub uploads_expired: u64,
    /// Upload bytes that no session owned, deleted.
    pub orphaned_uploads_deleted: u64,
    /// Blob reservations of commits that never finished, dropped.
    pub reservations_expired: u64,
    /// Package versions the retention policies deleted just before (or,
    /// in a dry run, would delete), whose bytes this run frees; their
    /// manifests are counted in `manifests_deleted`.
    #[serde(default)]
    pub versions_retired: u64,
}

/// Shared by the clones of a [`Registry`]: one collection at a time, and the
/// last report.
#[derive(Default)]
pub(super) struct GcState {
    /// Held for the whole of a run.
    running: tokio::sync::Mutex<()>,
    /// The last run's report.
    last: std::sync::Mutex<Option<GcReport>>,
    /// When each blob or manifest was last touched (`kind\0repo\0digest`
    /// -> seconds): a look-up within a quarter grace period of the last
    /// one costs no index read at all.
    touched: std::sync::Mutex<HashMap<String, u64>>,
}

/// How many recent touches [`GcState`] remembers before it starts afresh.
const TOUCHED_MEMORY: usize = 65_536;

impl GcState {
    /// Whether `key` was touched less than `period` seconds before `now`.
    fn touched_within(&self, key: &str, now: u64, period: u64) -> bool {
        self.touched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|at| now.saturating_sub(*at) < period)
    }

    /// Remembers that `key` was touched at `now`.
    fn remember_touch(&self, key: String, now: u64) {
        let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
        if touched.len() >= TOUCHED_MEMORY {
            touched.clear();
        }
        touched.insert(key, now);
    }
}

/// Counts `n` into a report figure.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Registry {
    /// Runs garbage collection while the registry serves, after retention
    /// retired `retired` (deleted their manifests or, in a dry run, would
    /// have): the report counts them, and a dry run counts what the
    /// collection would free once their manifests were deleted. One run at
    /// a time (a second waits for the first).
    pub async fn collect_garbage(
        &self,
        options: GcOptions,
        retired: &[RetiredVersion],
    ) -> Result<GcReport, RegistryError> {
        let mut retired_in: HashMap<&str, Vec<Digest>> = HashMap::new();
        if options.dry_run {
            for version in retired {
                retired_in
                    .entry(version.repository.as_str())
                    .or_default()
                    .push(version.digest.clone());
            }
        }
        let _running = self.gc.running.lock().await;
        let started = Instant::now();
        let mut report = GcReport {
            dry_run: options.dry_run,
            started_at: now(),
            versions_retired: count(retired.len()),
            manifests_deleted: count(retired.len()),
            ..GcReport::default()
        };
        if !options.dry_run {
            self.finish_interrupted_deletions(&mut report).await?;
        }
        let mut would_orphan = Vec::new();
        let mut page = PageRequest {
            last: None,
            limit: REPOSITORY_PAGE,
        };
        loop {
            let names = self.index.repositories(&page).await?;
            for name in &names.items {
                let repository: RepositoryName = name
                    .parse()
                    .map_err(|e| RegistryError::Internal(format!("repository {name:?}: {e}")))?;
                report.repositories += 1;
                let retired = retired_in.get(name.as_str()).map_or(&[][..], Vec::as_slice);
                would_orphan.extend(
                    self.collect_repository(&repository, options, retired, &mut report)
                        .await?,
                );
            }
            if !names.more {
                break;
            }
            page.last = names.items.last().cloned();
        }
        if options.dry_run {
            for orphan in self.index.orphaned_blobs().await? {
                would_orphan.push((orphan.digest, orphan.size));
            }
            report.blobs_deleted = count(would_orphan.len());
            report.bytes_freed = would_orphan.iter().map(|(_, size)| size).sum();
        } else {
            report.uploads_expired = count(self.expire_uploads(options.upload_expiry).await?);
            report.orphaned_uploads_deleted = count(
                self.sweep_orphaned_uploads(options.orphaned_upload_grace)
                    .await?,
            );
            let cutoff = now().saturating_sub(options.upload_expiry.as_secs());
            report.reservations_expired = count(self.index.expire_reservations(cutoff).await?);
            self.delete_orphaned_blobs(&mut report).await?;
        }
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        *self.gc.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        Ok(report)
    }

    /// The grace period garbage collection uses unless told otherwise.
    pub fn gc_grace(&self) -> Duration {
        self.gc_grace
    }

    /// The report of the last garbage collection run since the server started.
    pub fn last_gc_report(&self) -> Option<GcReport> {
        self.gc
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Collects one repository: a snapshot, then the checking transaction
    /// (in a dry run, after deleting the manifests of `retired` in it).
    /// Returns the blobs (with sizes) whose last link went, or would go.
    async fn collect_repository(
        &self,
        repository: &RepositoryName,
        options: GcOptions,
        retired: &[Digest],
        report: &mut GcReport,
    ) -> Result<Vec<(Digest, u64)>, RegistryError> {
        let grace = options.grace.as_secs();
        let at = now();
        if options.dry_run && !retired.is_empty() {
            let collected = self
                .index
                .preview_collect(repository, retired, at, grace)
                .await?;
            report.manifests_deleted += count(collected.manifests.len());
            report.blob_links_removed += count(collected.blob_links.len());
            return Ok(collected.orphaned);
        }
        let candidates = self.index.gc_candidates(repository, at, grace).await?;
        if candidates.manifests.is_empty() && candidates.blobs.is_empty() {
            return Ok(Vec::new());
        }
        let collected = self
            .index
            .collect(repository, &candidates, at, grace, options.dry_run)
            .await?;
        report.manifests_deleted += count(collected.manifests.len());
        report.blob_links_removed += count(collected.blob_links.len());
        if !options.dry_run && !collected.manifests.is_empty() {
            for digest in &collected.manifests {
                self.uncatalogue(repository, digest).await;
            }
            self.signatures_changed(repository);
        }
        Ok(collected.orphaned)
    }

    /// Deletes the bytes of every orphaned blob that nothing reserved, a
    /// batch at a time.
    async fn delete_orphaned_blobs(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        let orphans: Vec<Digest> = self
            .index
            .orphaned_blobs()
            .await?
            .into_iter()
            .map(|orphan| orphan.digest)
            .collect();
        for batch in orphans.chunks(DELETION_BATCH) {
            let begun = self.index.begin_blob_deletions(batch).await?;
            self.delete_bytes(&begun, report).await?;
        }
        Ok(())
    }

    /// Finishes the deletions a crash interrupted: their bytes may remain.
    async fn finish_interrupted_deletions(
        &self,
        report: &mut GcReport,
    ) -> Result<(), RegistryError> {
        let deleting = self.index.deleting_blobs().await?;
        for batch in deleting.chunks(DELETION_BATCH) {
            self.delete_bytes(batch, report).await?;
        }
        Ok(())
    }

    /// Steps two and three of a deletion: the bytes of `blobs` go, then
    /// the index forgets them (so they can be uploaded again). The index
    /// forgets none of them unless all their bytes went: a failure leaves
    /// them marked, and the next run deletes them again.
    async fn delete_bytes(
        &self,
        blobs: &[(Digest, u64)],
        report: &mut GcReport,
    ) -> Result<(), RegistryError> {
        for (digest, size) in blobs {
            if self.blobs.delete(digest).await? {
                report.blobs_deleted += 1;
                report.bytes_freed += size;
            }
        }
        let digests: Vec<Digest> = blobs.iter().map(|(digest, _)| digest.clone()).collect();
        self.index.finish_blob_deletions(&digests).await?;
        Ok(())
    }

    /// Notes that a client looked at blob `digest` of `repository` (a push
    /// asks before uploading), so garbage collection keeps its link for at
    /// least half a grace period more: the link's time is renewed when older
    /// than a quarter of it, and a look-up less than a quarter after the
    /// last one (by this server) reads nothing. A failure is logged: it
    /// never fails the request (a push that then finds the blob gone is
    /// refused, never acknowledged).
    pub async fn touch_blob(&self, repository: &RepositoryName, digest: &Digest) {
        self.touch(Touched::Blob, repository, digest).await;
    }

    /// [`Registry::touch_blob`] for manifest `digest` of `repository`.
    pub async fn touch_manifest(&self, repository: &RepositoryName, digest: &Digest) {
        self.touch(Touched::Manifest, repository, digest).await;
    }

    /// [`Registry::touch_blob`] of either kind.
    async fn touch(&self, kind: Touched, repository: &RepositoryName, digest: &Digest) {
        let quarter = self.gc_grace.as_secs() / 4;
        let at = now();
        let key = format!("{}\0{repository}\0{digest}", kind as u8);
        if self.gc.touched_within(&key, at, quarter) {
            return;
        }
        let touched = match kind {
            Touched::Blob => self.index.touch_blob(repository, digest, at, quarter).await,
            Touched::Manifest => {
                self.index
                    .touch_manifest(repository, digest, at, quarter)
                    .await
            }
        };
        match touched {
            Ok(()) => self.gc.remember_touch(key, at),
            Err(error) => {
                tracing::warn!(%error, %repository, %digest, "could not note a look-up for garbage collection");
            }
        }
    }
}

/// What a look-up touched.
#[derive(Clone, Copy)]
enum Touched {
    Blob,
    Manifest,
}
