//! [`MetadataIndex`] on the redb tables.

use async_trait::async_trait;
use redb::ReadableTable;
use sentinel_oci::{Descriptor, Digest, RepositoryName, Tag};

use super::collect;
use super::records::{
    ManifestRecord, backend, children, decode_manifest, decode_session, encode_manifest,
    encode_session, key, link, page_of, parse_digest, read_manifest, remove_tags_of, unlink,
};
use super::{
    BLOB_LINKS, BLOBS, DELETING, LINK_TIMES, MANIFEST_TAGS, MANIFEST_TIMES, MANIFESTS, REFERRERS,
    REPOSITORIES, RedbIndex, TAGS, UPLOADS, outbox, usage,
};
use crate::{
    Collected, GcCandidates, IndexError, ListedUpload, MetadataIndex, NewManifest, OrphanedBlob,
    Page, PageRequest, StoredManifest, UploadSession,
};

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
        limit: Option<u64>,
    ) -> Result<(), IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        self.write(move |txn| link(txn, &repo, &digest, size, limit))
            .await
    }

    async fn link_uploaded_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        upload: &str,
        limit: Option<u64>,
    ) -> Result<(), IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        let upload = upload.to_owned();
        self.write(move |txn| {
            link(txn, &repo, &digest, size, limit)?;
            collect::release(txn, &digest, &upload)?;
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
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        self.write(move |txn| unlink(txn, &repo, &digest)).await
    }

    async fn namespace_usage(&self, namespace: &str) -> Result<u64, IndexError> {
        self.read(|txn| usage::usage_of(txn, namespace)).await
    }

    async fn namespace_usages(&self) -> Result<Vec<(String, u64)>, IndexError> {
        self.read(usage::all_usage).await
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
            collect::record_manifest(txn, &repo, digest, &record)?;
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
            outbox::append(txn, &manifest.events)?;
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
        events: Vec<Vec<u8>>,
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
            collect::forget_manifest(txn, &repo, &digest, &record)?;
            if let Some(subject) = record.subject {
                txn.open_table(REFERRERS)
                    .map_err(backend)?
                    .remove(key(&[&repo, subject.as_str(), &digest]).as_str())
                    .map_err(backend)?;
            }
            remove_tags_of(txn, &repo, &digest)?;
            outbox::append(txn, &events)?;
            Ok(true)
        })
        .await
    }

    async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        events: Vec<Vec<u8>>,
    ) -> Result<bool, IndexError> {
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
            outbox::append(txn, &events)?;
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

    async fn manifest_tags(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<Tag>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(MANIFEST_TAGS).map_err(backend)?;
            let (start, end) = children(&[repository.as_str(), digest.as_str()]);
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (key, _) = entry.map_err(backend)?;
                let tag = &key.value()[start.len()..];
                out.push(
                    tag.parse()
                        .map_err(|e: sentinel_oci::NameError| IndexError::Corrupt(e.to_string()))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, IndexError> {
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

    async fn put_upload(&self, session: &UploadSession) -> Result<(), IndexError> {
        self.put_upload_record(session.id.clone(), encode_session(session))
            .await
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadSession>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(UPLOADS).map_err(backend)?;
            let Some(record) = table.get(id).map_err(backend)? else {
                return Ok(None);
            };
            decode_session(id, record.value()).map(Some)
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

    async fn uploads(&self) -> Result<Vec<ListedUpload>, IndexError> {
        self.read(|txn| {
            let table = txn.open_table(UPLOADS).map_err(backend)?;
            let mut out = Vec::new();
            for entry in table.range::<&str>(..).map_err(backend)? {
                let (id, record) = entry.map_err(backend)?;
                let id = id.value().to_owned();
                let session = decode_session(&id, record.value()).ok();
                out.push(ListedUpload { id, session });
            }
            Ok(out)
        })
        .await
    }

    async fn mount_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
        limit: Option<u64>,
    ) -> Result<Option<u64>, IndexError> {
        let repo = repository.as_str().to_owned();
        let digest = digest.as_str().to_owned();
        let from = from.map(|f| f.as_str().to_owned());
        self.write(move |txn| collect::mount(txn, &repo, &digest, from.as_deref(), limit))
            .await
    }

    async fn touch_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        now: u64,
        max_age: u64,
    ) -> Result<(), IndexError> {
        self.touch(BLOB_LINKS, LINK_TIMES, repository, digest, now, max_age)
            .await
    }

    async fn touch_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        now: u64,
        max_age: u64,
    ) -> Result<(), IndexError> {
        self.touch(MANIFESTS, MANIFEST_TIMES, repository, digest, now, max_age)
            .await
    }

    async fn gc_candidates(
        &self,
        repository: &RepositoryName,
        now: u64,
        grace: u64,
    ) -> Result<GcCandidates, IndexError> {
        let cutoff = now.saturating_sub(grace);
        self.read(|txn| collect::candidates(txn, repository.as_str(), cutoff))
            .await
    }

    async fn collect(
        &self,
        repository: &RepositoryName,
        candidates: &GcCandidates,
        now: u64,
        grace: u64,
        dry_run: bool,
    ) -> Result<Collected, IndexError> {
        let repo = repository.as_str().to_owned();
        let candidates = candidates.clone();
        let cutoff = now.saturating_sub(grace);
        self.write_or_abort(!dry_run, move |txn| {
            collect::collect(txn, &repo, &candidates, cutoff)
        })
        .await
    }

    async fn preview_collect(
        &self,
        repository: &RepositoryName,
        retired: &[Digest],
        now: u64,
        grace: u64,
    ) -> Result<Collected, IndexError> {
        let repo = repository.as_str().to_owned();
        let retired = retired.to_vec();
        let cutoff = now.saturating_sub(grace);
        self.write_or_abort(false, move |txn| {
            collect::preview(txn, &repo, &retired, cutoff)
        })
        .await
    }

    async fn reserve_blob(
        &self,
        digest: &Digest,
        upload: &str,
        now: u64,
    ) -> Result<bool, IndexError> {
        let digest = digest.as_str().to_owned();
        let upload = upload.to_owned();
        self.write(move |txn| collect::reserve(txn, &digest, &upload, now))
            .await
    }

    async fn release_blob(&self, digest: &Digest, upload: &str) -> Result<(), IndexError> {
        let digest = digest.as_str().to_owned();
        let upload = upload.to_owned();
        self.write(move |txn| collect::release(txn, &digest, &upload))
            .await
    }

    async fn expire_reservations(&self, cutoff: u64) -> Result<usize, IndexError> {
        self.write(move |txn| collect::expire_reservations(txn, cutoff))
            .await
    }

    async fn orphaned_blobs(&self) -> Result<Vec<OrphanedBlob>, IndexError> {
        self.read(collect::orphaned).await
    }

    async fn begin_blob_deletions(
        &self,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, u64)>, IndexError> {
        let digests = digests.to_vec();
        self.write(move |txn| {
            let mut begun = Vec::new();
            for digest in digests {
                if let Some(size) = collect::begin_deletion(txn, digest.as_str())? {
                    begun.push((digest, size));
                }
            }
            Ok(begun)
        })
        .await
    }

    async fn finish_blob_deletions(&self, digests: &[Digest]) -> Result<(), IndexError> {
        let digests = digests.to_vec();
        self.write(move |txn| {
            let mut deleting = txn.open_table(DELETING).map_err(backend)?;
            for digest in &digests {
                deleting.remove(digest.as_str()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn deleting_blobs(&self) -> Result<Vec<(Digest, u64)>, IndexError> {
        self.read(collect::deleting).await
    }
}
