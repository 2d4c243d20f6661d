//! [`MetadataIndex`] on the redb tables.

use async_trait::async_trait;
use redb::ReadableTable;
use sentinel_oci::{Descriptor, Digest, RepositoryName, Tag};

use super::records::{
    ManifestRecord, backend, children, decode_manifest, decode_session, encode_manifest,
    encode_session, key, link, page_of, parse_digest, read_manifest, remove_tags_of,
};
use super::{
    BLOB_LINKS, BLOBS, MANIFEST_TAGS, MANIFESTS, REFERRERS, REPOSITORIES, RedbIndex, TAGS, UPLOADS,
};
use crate::{
    IndexError, ListedUpload, MetadataIndex, NewManifest, Page, PageRequest, StoredManifest,
    UploadSession,
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
}
