//! Copy: what a reference names, from one registry to another (any two,
//! or the same one), with everything it references and every referrer.
//!
//! The manifest graph is copied depth first: an index's child manifests and
//! an image manifest's blobs go before the manifest itself, and a manifest
//! before its referrers (signatures, SBOMs, ...), which are pushed with
//! [`RegistryClient::push_referrer`] so that the destination lists them
//! whether or not it has the referrers API. Tags are set last, once
//! everything they reference is on the destination.
//!
//! What the destination has is skipped: a blob its `HEAD` finds, a manifest
//! its `HEAD` finds (a referrer also has to be listed among its subject's
//! referrers there, or it is pushed again). Between two repositories of the
//! same registry a blob is mounted; otherwise it passes through memory (up to
//! [`IN_MEMORY_BLOB`]) or a temporary file, verified against its digest.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::{StreamExt as _, stream};
use sentinel_client::{
    ClientError, FetchedManifest, ReferrerIndexing, RegistryClient, ResolvedReference,
    TransferProgress as _,
};
use sentinel_oci::{Digest, ImageManifest, ParsedManifest};
use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::progress::{Progress, Transfer, short_digest};
use crate::registries::{self, Registries};

/// How deep the copied graph may nest below the manifest a tag names: index
/// children and referrers (a signature of a platform manifest of an index
/// is two levels down).
pub const MAX_DEPTH: usize = 8;
/// The most manifests (referrers included) one copy handles.
pub const MAX_MANIFESTS: usize = 10_000;
/// Blobs up to this size pass through memory; larger ones through a file.
pub const IN_MEMORY_BLOB: u64 = 4 * 1024 * 1024;
/// How many blobs of one manifest are copied at once.
const PARALLEL_BLOBS: usize = 4;

/// What to copy, and where.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// The source: `registry/repository[:tag][@digest]`, or with
    /// `all_tags` a repository alone.
    pub source: String,
    /// The destination: `registry/repository[:tag]`; without a tag it takes
    /// the source's.
    pub destination: String,
    /// Copy every tag of the source's repository.
    pub all_tags: bool,
}

/// What a copy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    /// The source repository.
    pub source: String,
    /// The destination repository.
    pub destination: String,
    /// Each manifest copied by tag or digest, in order.
    pub tags: Vec<CopiedTag>,
    /// Images, packages, indexes and their child manifests.
    pub manifests: Tally,
    /// Manifests with a subject (signatures, SBOMs, ...).
    pub referrers: Tally,
    /// Blobs (configs and layers).
    pub blobs: BlobTally,
    /// Referrers the destination did not index itself, added by the client
    /// to the referrers tag schema (`<alg>-<hex>` tags).
    pub indexed_by_client: usize,
}

/// One manifest named on the destination.
#[derive(Debug, Clone, Serialize)]
pub struct CopiedTag {
    /// The source reference.
    pub source: String,
    /// The destination reference.
    pub destination: String,
    /// The manifest's digest.
    pub digest: String,
    /// False when the destination's tag named this digest already (or,
    /// for a copy by digest, there is no tag to set).
    pub tagged: bool,
}

/// How many were copied and how many the destination had.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tally {
    /// Sent to the destination.
    pub copied: usize,
    /// Already on the destination.
    pub skipped: usize,
}

/// Blobs moved, mounted and skipped, with their bytes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BlobTally {
    /// Sent to the destination.
    pub copied: usize,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Mounted from the source repository (same registry): nothing sent.
    pub mounted: usize,
    /// Their bytes.
    pub mounted_bytes: u64,
    /// Already on the destination.
    pub skipped: usize,
    /// Their bytes.
    pub skipped_bytes: u64,
}

/// How one blob reached the destination.
enum BlobOutcome {
    Copied,
    Mounted,
    Skipped,
}

/// Copies what `request.source` names to `request.destination`.
pub async fn copy(
    registries: &dyn Registries,
    request: &CopyRequest,
    progress: &impl Progress,
) -> Result<CopyReport> {
    let source = registries::reference(registries, &request.source)?;
    let destination = registries::reference(registries, &request.destination)?;
    if destination.digest().is_some() {
        return Err(WorkflowError::Usage(format!(
            "the destination {} names a digest: give a repository, with a tag or without",
            request.destination
        )));
    }
    if request.all_tags && (source.tag().is_some() || source.digest().is_some()) {
        return Err(WorkflowError::Usage(format!(
            "--all-tags copies every tag of a repository: give the source {} without a tag or digest",
            request.source
        )));
    }
    if request.all_tags && destination.tag().is_some() {
        return Err(WorkflowError::Usage(format!(
            "--all-tags keeps each tag's name: give the destination {} without a tag",
            request.destination
        )));
    }
    let mut copier = Copier {
        source: registries::client(registries, &source)?,
        source_repo: source.repository().to_string(),
        target: registries::client(registries, &destination)?,
        target_repo: destination.repository().to_string(),
        same_registry: source.registry() == destination.registry(),
        progress,
        scratch: tempfile::tempdir().map_err(|source| WorkflowError::Open {
            path: std::env::temp_dir(),
            source,
        })?,
        manifests_done: HashSet::new(),
        blobs_done: HashSet::new(),
        listed: HashMap::new(),
        report: CopyReport {
            source: format!("{}/{}", source.registry(), source.repository()),
            destination: format!("{}/{}", destination.registry(), destination.repository()),
            ..CopyReport::default()
        },
    };
    let wanted = if request.all_tags {
        copier.tags_of_source(&source).await?
    } else {
        let tag = match (destination.tag(), source.tag(), source.digest()) {
            (Some(tag), _, _) | (None, Some(tag), _) => Some(tag.to_string()),
            (None, None, None) => Some(source.tag_or_latest().to_string()),
            (None, None, Some(_)) => None,
        };
        vec![(source.clone(), tag)]
    };
    let mut roots = Vec::new();
    for (reference, tag) in wanted {
        let manifest = copier
            .source
            .get_manifest(&copier.source_repo, &registries::wanted(&reference))
            .await
            .map_err(|source| WorkflowError::Copy {
                what: format!("cannot read {reference}"),
                source,
            })?;
        copier.copy_manifest(manifest.clone(), 0).await?;
        roots.push((reference, tag, manifest));
    }
    for (reference, tag, manifest) in roots {
        let (shown, tagged) = match &tag {
            Some(tag) => {
                let tagged = copier.set_tag(tag, &manifest).await?;
                (registries::with_tag(&destination, tag)?.to_string(), tagged)
            }
            None => (
                format!("{}@{}", copier.report.destination, manifest.digest),
                false,
            ),
        };
        copier.report.tags.push(CopiedTag {
            source: reference.to_string(),
            destination: shown,
            digest: manifest.digest.to_string(),
            tagged,
        });
    }
    Ok(copier.report)
}

/// A copy in progress between two repositories.
struct Copier<'p, P> {
    source: RegistryClient,
    source_repo: String,
    target: RegistryClient,
    target_repo: String,
    same_registry: bool,
    progress: &'p P,
    /// Where blobs too large for memory wait between download and upload.
    scratch: tempfile::TempDir,
    /// Manifests handled in this copy (reached again through another tag or index).
    manifests_done: HashSet<Digest>,
    /// Blobs handled in this copy.
    blobs_done: HashSet<Digest>,
    /// What the destination lists among the referrers of a subject.
    listed: HashMap<Digest, HashSet<Digest>>,
    report: CopyReport,
}

impl<P: Progress> Copier<'_, P> {
    /// Every tag of the source repository but the referrers tag schema's
    /// (`sha256-<hex>`), which travel with the manifests they index; sorted.
    async fn tags_of_source(
        &self,
        source: &ResolvedReference,
    ) -> Result<Vec<(ResolvedReference, Option<String>)>> {
        let mut tags = self
            .source
            .list_tags(&self.source_repo)
            .await
            .map_err(|error| self.reading(&format!("the tags of {}", self.report.source), error))?;
        tags.retain(|tag| !is_referrers_tag(tag));
        tags.sort();
        if tags.is_empty() {
            return Err(WorkflowError::NotFound(format!(
                "{} has no tags to copy",
                self.report.source
            )));
        }
        tags.into_iter()
            .map(|tag| Ok((registries::with_tag(source, &tag)?, Some(tag))))
            .collect()
    }

    /// Copies one manifest at `depth` below a tag: its children or blobs,
    /// itself, then its referrers.
    fn copy_manifest(
        &mut self,
        manifest: FetchedManifest,
        depth: usize,
    ) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !self.manifests_done.insert(manifest.digest.clone()) {
                return Ok(());
            }
            if self.manifests_done.len() > MAX_MANIFESTS {
                return Err(WorkflowError::LimitExceeded(format!(
                    "{} references more than {MAX_MANIFESTS} manifests; nothing was tagged",
                    self.report.source
                )));
            }
            let digest = manifest.digest.clone();
            let parsed = ParsedManifest::parse(Some(&manifest.media_type), &manifest.bytes)
                .map_err(|error| {
                    WorkflowError::Usage(format!(
                        "cannot copy {}@{digest}: {error}",
                        self.report.source
                    ))
                })?;
            let present = self
                .target
                .head_manifest(&self.target_repo, digest.as_str())
                .await
                .map_err(|error| self.writing(&format!("manifest {digest}"), error))?
                .is_some();
            if parsed.kind.is_index() {
                // Even when the index is there, its children may lack referrers.
                for child in &parsed.manifests {
                    let fetched = self.fetch(child).await?;
                    self.deeper(depth, &digest)?;
                    self.copy_manifest(fetched, depth + 1).await?;
                }
            } else if !present {
                self.copy_blobs(&manifest, &parsed).await?;
            }
            match &parsed.subject {
                Some(subject) => {
                    let listed = present && self.listed_on_target(subject).await?.contains(&digest);
                    if !listed {
                        let pushed = self
                            .target
                            .push_referrer(
                                &self.target_repo,
                                &manifest.media_type,
                                manifest.bytes.clone(),
                            )
                            .await
                            .map_err(|error| self.writing(&format!("referrer {digest}"), error))?;
                        if pushed.indexing == ReferrerIndexing::TagSchema {
                            self.report.indexed_by_client += 1;
                        }
                        self.listed
                            .entry(subject.clone())
                            .or_default()
                            .insert(digest.clone());
                    }
                    count(&mut self.report.referrers, present);
                }
                None => {
                    if !present {
                        self.target
                            .put_manifest(
                                &self.target_repo,
                                digest.as_str(),
                                &manifest.media_type,
                                manifest.bytes.clone(),
                            )
                            .await
                            .map_err(|error| self.writing(&format!("manifest {digest}"), error))?;
                    }
                    count(&mut self.report.manifests, present);
                }
            }
            self.copy_referrers(&digest, depth).await
        })
    }

    /// Copies the referrers of `digest`, found on the source.
    async fn copy_referrers(&mut self, digest: &Digest, depth: usize) -> Result<()> {
        let referrers = self
            .source
            .referrers(&self.source_repo, digest, None)
            .await
            .map_err(|error| self.reading(&format!("the referrers of {digest}"), error))?;
        for referrer in referrers {
            if self.manifests_done.contains(&referrer.digest) {
                continue;
            }
            // A referrers tag may name a manifest deleted since: nothing to copy.
            let fetched = match self
                .source
                .get_manifest(&self.source_repo, referrer.digest.as_str())
                .await
            {
                Ok(fetched) => fetched,
                Err(ClientError::NotFound { .. }) => continue,
                Err(error) => {
                    return Err(self.reading(&format!("referrer {}", referrer.digest), error));
                }
            };
            self.deeper(depth, digest)?;
            self.copy_manifest(fetched, depth + 1).await?;
        }
        Ok(())
    }

    /// Refuses to go below [`MAX_DEPTH`].
    fn deeper(&self, depth: usize, digest: &Digest) -> Result<()> {
        if depth + 1 > MAX_DEPTH {
            return Err(WorkflowError::LimitExceeded(format!(
                "the manifests below {}@{digest} nest deeper than {MAX_DEPTH} levels (index children and referrers); nothing was tagged",
                self.report.source
            )));
        }
        Ok(())
    }

    /// A manifest of the source, by digest.
    async fn fetch(&self, digest: &Digest) -> Result<FetchedManifest> {
        self.source
            .get_manifest(&self.source_repo, digest.as_str())
            .await
            .map_err(|error| self.reading(&format!("manifest {digest}"), error))
    }

    /// The digests the destination lists among `subject`'s referrers.
    async fn listed_on_target(&mut self, subject: &Digest) -> Result<&HashSet<Digest>> {
        if !self.listed.contains_key(subject) {
            let listed = self
                .target
                .referrers(&self.target_repo, subject, None)
                .await
                .map_err(|error| self.writing(&format!("the referrers of {subject}"), error))?
                .into_iter()
                .map(|descriptor| descriptor.digest)
                .collect();
            self.listed.insert(subject.clone(), listed);
        }
        Ok(&self.listed[subject])
    }

    /// Copies the blobs of an image manifest that this copy has not handled yet.
    async fn copy_blobs(
        &mut self,
        manifest: &FetchedManifest,
        parsed: &ParsedManifest,
    ) -> Result<()> {
        let sizes = blob_sizes(manifest, &self.report.source)?;
        let mut pending = Vec::new();
        for digest in &parsed.blobs {
            if self.blobs_done.insert(digest.clone()) {
                let size = sizes.get(digest).copied().unwrap_or(0);
                pending.push((digest.clone(), size));
            }
        }
        let this = &*self;
        let outcomes: Vec<Result<(u64, BlobOutcome)>> = stream::iter(pending)
            .map(|(digest, size)| async move {
                this.copy_blob(&digest, size)
                    .await
                    .map(|outcome| (size, outcome))
            })
            .buffer_unordered(PARALLEL_BLOBS)
            .collect()
            .await;
        for outcome in outcomes {
            let (size, outcome) = outcome?;
            let blobs = &mut self.report.blobs;
            match outcome {
                BlobOutcome::Copied => {
                    blobs.copied += 1;
                    blobs.copied_bytes += size;
                }
                BlobOutcome::Mounted => {
                    blobs.mounted += 1;
                    blobs.mounted_bytes += size;
                }
                BlobOutcome::Skipped => {
                    blobs.skipped += 1;
                    blobs.skipped_bytes += size;
                }
            }
        }
        Ok(())
    }

    /// Copies one blob: skipped when the destination has it, mounted within
    /// one registry, else downloaded (verified) and uploaded.
    async fn copy_blob(&self, digest: &Digest, size: u64) -> Result<BlobOutcome> {
        let what = format!("blob {digest}");
        let present = self
            .target
            .blob_exists(&self.target_repo, digest)
            .await
            .map_err(|error| self.writing(&what, error))?;
        if present.is_some() {
            return Ok(BlobOutcome::Skipped);
        }
        if self.same_registry
            && self.source_repo != self.target_repo
            && self
                .target
                .mount_blob(&self.target_repo, digest, &self.source_repo)
                .await
                .map_err(|error| self.writing(&what, error))?
        {
            return Ok(BlobOutcome::Mounted);
        }
        let transfer = self.progress.transfer(&short_digest(digest), size);
        if size <= IN_MEMORY_BLOB {
            let bytes: Bytes = self
                .source
                .pull_blob_bytes(&self.source_repo, digest, size)
                .await
                .map_err(|error| self.reading(&what, error))?;
            transfer.advanced(size);
            self.target
                .push_blob_bytes(&self.target_repo, digest, bytes)
                .await
                .map_err(|error| self.writing(&what, error))?;
        } else {
            let path = self.scratch.path().join(digest.hex());
            self.source
                .pull_blob_to_file(&self.source_repo, digest, Some(size), &path, &transfer)
                .await
                .map_err(|error| self.reading(&what, error))?;
            transfer.restarted_at(0);
            let pushed = self
                .target
                .push_blob_file(&self.target_repo, digest, size, &path, None, &transfer)
                .await
                .map_err(|error| self.writing(&what, error));
            remove_quietly(&path);
            pushed?;
        }
        transfer.finish_with("copied");
        Ok(BlobOutcome::Copied)
    }

    /// Names `manifest` with `tag` on the destination; false when the tag
    /// named it already.
    async fn set_tag(&self, tag: &str, manifest: &FetchedManifest) -> Result<bool> {
        let what = format!("tag {tag}");
        let current = self
            .target
            .head_manifest(&self.target_repo, tag)
            .await
            .map_err(|error| self.writing(&what, error))?;
        if current.is_some_and(|head| head.digest == manifest.digest) {
            return Ok(false);
        }
        self.target
            .put_manifest(
                &self.target_repo,
                tag,
                &manifest.media_type,
                manifest.bytes.clone(),
            )
            .await
            .map_err(|error| self.writing(&what, error))?;
        Ok(true)
    }

    /// A failure on the source side, naming what was read.
    fn reading(&self, what: &str, source: ClientError) -> WorkflowError {
        WorkflowError::Copy {
            what: format!("cannot read {what} from {}", self.report.source),
            source,
        }
    }

    /// A failure on the destination side, naming what was written.
    fn writing(&self, what: &str, source: ClientError) -> WorkflowError {
        WorkflowError::Copy {
            what: format!("cannot copy {what} to {}", self.report.destination),
            source,
        }
    }
}

/// Adds one to `copied`, or to `skipped` when the destination had it.
fn count(tally: &mut Tally, present: bool) {
    if present {
        tally.skipped += 1;
    } else {
        tally.copied += 1;
    }
}

/// The size of each blob an image manifest references, by digest.
fn blob_sizes(manifest: &FetchedManifest, source: &str) -> Result<HashMap<Digest, u64>> {
    let image: ImageManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|error| WorkflowError::Malformed {
            what: format!(
                "{source}@{} is not an image manifest with sized descriptors",
                manifest.digest
            ),
            source: error,
        })?;
    Ok(std::iter::once(&image.config)
        .chain(&image.layers)
        .map(|descriptor| (descriptor.digest.clone(), descriptor.size))
        .collect())
}

/// Whether `tag` has the shape of the referrers tag schema: `<alg>-<hex>`
/// with 64 lowercase hex digits.
fn is_referrers_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && hex.len() == 64
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Removes a scratch file; what stays goes with the scratch directory.
fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_tags_are_recognised() {
        let digest = Digest::sha256(b"x");
        assert!(is_referrers_tag(&format!("sha256-{}", digest.hex())));
        assert!(is_referrers_tag(&format!("sha512-{}", &"ab".repeat(32))));
        assert!(!is_referrers_tag("1.0.0"));
        assert!(!is_referrers_tag("v1-beta"));
        assert!(!is_referrers_tag(&format!(
            "sha256-{}",
            digest.hex().to_uppercase()
        )));
        assert!(!is_referrers_tag(&format!("-{}", digest.hex())));
    }
}
