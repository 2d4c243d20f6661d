//! Push: pack (or take) a package, record it in the local store, and send
//! its blobs and manifest to a registry.

mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::future::try_join_all;
use sentinel_client::{
    BlobPush, FetchedManifest, ManagementApi, RegistryClient, ResolvedReference, Visibility,
};
use sentinel_local_store::LocalStore;
use sentinel_oci::{Digest, MAX_MANIFEST_SIZE};
use sentinel_package::PackageKind;
use sentinel_package::oci::parse_manifest;
use sentinel_signature::SigningKey;

use crate::error::{Result, WorkflowError};
use crate::local::find_local;
use crate::manifest::{self, ManifestBlobs};
use crate::progress::{Progress, Transfer, short_digest};
use crate::registries::{self, Registries, tagged_or_latest, with_tag};
use crate::sign::{SignReport, sign_manifest};

/// What to push, and where.
#[derive(Debug, Default)]
pub struct PushRequest {
    /// The reference to push to; without one, the definition's name and
    /// version make it. Alone (no `dir` nor `file`), a name the local store
    /// holds is pushed as it is.
    pub reference: Option<String>,
    /// The directory to pack (the current directory when neither this nor
    /// `file` is given).
    pub dir: Option<PathBuf>,
    /// A package file to push as it is.
    pub file: Option<PathBuf>,
    /// Replaces the definition's description in the manifest.
    pub description: Option<String>,
    /// Also push every other tag the local store holds for the repository.
    pub all_tags: bool,
    /// After the push, set the repository's visibility through Sentinel's
    /// management API. The registry is asked first whether it has that API
    /// (with authentication on); if not, nothing is pushed.
    pub visibility: Option<Visibility>,
    /// Push only a package of this kind (`agent stack push`); another is
    /// refused before anything is sent.
    pub kind: Option<PackageKind>,
    /// After each manifest is pushed, sign its digest with this key and
    /// push the signature (`agent push --sign`).
    pub sign_with: Option<SigningKey>,
}

/// What a push of one manifest did.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The pushed manifest's digest.
    pub digest: Digest,
    /// The number of blobs the manifest references.
    pub blobs: usize,
    /// Their total size.
    pub total_bytes: u64,
    /// How many the registry already held.
    pub already_present: usize,
    /// How many were mounted from another repository.
    pub mounted: usize,
    /// The bytes sent.
    pub uploaded_bytes: u64,
    /// The signature pushed for the manifest, when asked to sign.
    pub signature: Option<SignReport>,
}

/// Runs a push: the package goes into `store` under the reference, then to
/// the registry with each tag (each distinct digest signed when
/// `sign_with` is set); `on_pushed` hears of each tag once pushed.
pub async fn push(
    store: &LocalStore,
    registries: &dyn Registries,
    request: &PushRequest,
    progress: &impl Progress,
    mut on_pushed: impl FnMut(&ResolvedReference, &PushReport),
) -> Result<()> {
    let (reference, manifest_digest) = match stored_entry(store, registries, request)? {
        Some(found) => found,
        None => record_package(store, registries, request)?,
    };
    if let Some(kind) = request.kind {
        require_kind(store, &reference, &manifest_digest, kind)?;
    }
    let tag = reference.tag_or_latest().to_string();

    let client = registries::client(registries, &reference)?;
    if request.visibility.is_some() {
        require_management_api(&client).await?;
    }
    let mut tags = vec![(tag.clone(), manifest_digest)];
    if request.all_tags {
        tags.extend(other_local_tags(store, &reference, &tag)?);
    }
    let mut signed = std::collections::BTreeSet::new();
    for (tag, digest) in &tags {
        let tagged = with_tag(&reference, tag)?;
        let mut report =
            push_manifest_from_store(&client, store, &tagged, digest, progress).await?;
        if let Some(key) = &request.sign_with
            && signed.insert(report.digest.clone())
        {
            let bytes = store.read_blob(&report.digest, MAX_MANIFEST_SIZE)?;
            let manifest = FetchedManifest {
                media_type: manifest::media_type(&bytes),
                bytes: Bytes::from(bytes),
                digest: report.digest.clone(),
            };
            report.signature = Some(sign_manifest(&client, &tagged, &manifest, key).await?);
        }
        on_pushed(&tagged, &report);
    }
    if let Some(visibility) = request.visibility {
        client
            .set_visibility(reference.repository(), visibility)
            .await
            .map_err(|source| WorkflowError::VisibilityNotSet {
                reference: reference.to_string(),
                visibility: visibility.as_str(),
                source,
            })?;
    }
    Ok(())
}

/// Refuses a package that is not of `kind`.
fn require_kind(
    store: &LocalStore,
    reference: &ResolvedReference,
    manifest: &Digest,
    kind: PackageKind,
) -> Result<()> {
    let bytes = store.read_blob(manifest, MAX_MANIFEST_SIZE)?;
    let found = parse_manifest(&bytes)
        .map_err(|error| {
            WorkflowError::Usage(format!("{reference} is not a Sentinel package: {error}"))
        })?
        .kind;
    if found == kind {
        return Ok(());
    }
    let command = match found {
        PackageKind::Agent => "agent push",
        PackageKind::Stack => "agent stack push",
    };
    Err(WorkflowError::Usage(format!(
        "{reference} is {} {found} package, not {} {kind}; push it with {command}; nothing was pushed",
        article(found),
        article(kind)
    )))
}

/// "an" before "agent", "a" before "stack".
fn article(kind: PackageKind) -> &'static str {
    match kind {
        PackageKind::Agent => "an",
        PackageKind::Stack => "a",
    }
}

/// Refuses, before anything is pushed, a registry where a visibility
/// cannot be set: one without Sentinel's management API, or a Sentinel
/// registry with authentication off.
async fn require_management_api(client: &RegistryClient) -> Result<()> {
    let registry = client.registry();
    match client.management_api().await? {
        ManagementApi::SignedIn { .. } => Ok(()),
        ManagementApi::AuthenticationOff => Err(WorkflowError::Usage(format!(
            "{registry} runs without authentication, so every repository is public and has no visibility to set; nothing was pushed"
        ))),
        ManagementApi::Absent => Err(WorkflowError::Usage(format!(
            "a visibility can be set only on a Sentinel registry with authentication, and {registry} has no Sentinel management API; nothing was pushed"
        ))),
    }
}

/// A reference alone, with neither a directory nor a file, pushes what the
/// local store holds under it, as `docker push` does, when it holds it.
fn stored_entry(
    store: &LocalStore,
    registries: &dyn Registries,
    request: &PushRequest,
) -> Result<Option<(ResolvedReference, Digest)>> {
    let Some(text) = &request.reference else {
        return Ok(None);
    };
    if request.dir.is_some() || request.file.is_some() {
        return Ok(None);
    }
    let Some(entry) = find_local(store, registries, text)? else {
        return Ok(None);
    };
    if request.description.is_some() {
        return Err(WorkflowError::Usage(
            "--description applies when packing: give the directory or --file to change it"
                .to_string(),
        ));
    }
    let reference = registries::reference(registries, text)?;
    Ok(Some((tagged_or_latest(&reference)?, entry.digest)))
}

/// Packs or imports the package into the store and names it there.
fn record_package(
    store: &LocalStore,
    registries: &dyn Registries,
    request: &PushRequest,
) -> Result<(ResolvedReference, Digest)> {
    let package = match &request.file {
        Some(file) => record::import_package(store, file)?,
        None => record::pack_into_store(store, request.dir.as_deref().unwrap_or(Path::new(".")))?,
    };
    let reference = match &request.reference {
        Some(text) => registries::reference(registries, text)?,
        None => {
            let text = format!(
                "{}:{}",
                package.definition.name(),
                package.definition.version()
            );
            registries::reference(registries, &text)
                .map_err(|error| WorkflowError::Unnamed(error.into()))?
        }
    };
    if reference.digest().is_some() {
        return Err(WorkflowError::Usage(format!(
            "cannot push to a digest reference {reference}: give a tag"
        )));
    }
    let tag = match reference.tag() {
        Some(tag) => tag.to_string(),
        None => record::sanitize_tag(&package.definition.version().to_string()),
    };
    // The registry would refuse it after the upload (and the store would
    // name a manifest no registry holds): say so before anything moves.
    let version = package.definition.version();
    if let Some(tagged) = sentinel_package::versions::tag_version(&tag)
        && tagged != *version
    {
        return Err(WorkflowError::Usage(format!(
            "tag {tag} is a version, but the package is version {version}: push it as {}, or change the version in its definition",
            sentinel_package::versions::version_tag(version)
        )));
    }
    let reference = with_tag(&reference, &tag)?;
    let manifest_digest = record::record_in_store(store, &package, request.description.as_deref())?;
    store.set_name(&reference.to_string(), &manifest_digest, BTreeMap::new())?;
    Ok((reference, manifest_digest))
}

/// Other names of the same registry and repository in the store, for
/// `all_tags`.
fn other_local_tags(
    store: &LocalStore,
    reference: &ResolvedReference,
    pushed_tag: &str,
) -> Result<Vec<(String, Digest)>> {
    let mut tags = Vec::new();
    for entry in store.entries()? {
        let Some(name) = entry.name else { continue };
        let Ok(other) = ResolvedReference::parse(&name, None) else {
            continue;
        };
        if other.registry() == reference.registry()
            && other.repository() == reference.repository()
            && let Some(tag) = other.tag()
            && tag != pushed_tag
        {
            tags.push((tag.to_string(), entry.digest));
        }
    }
    tags.sort();
    Ok(tags)
}

/// Pushes a manifest held in the store, and every blob it references that
/// the registry lacks, to `reference` (which carries the tag).
async fn push_manifest_from_store(
    client: &RegistryClient,
    store: &LocalStore,
    reference: &ResolvedReference,
    manifest_digest: &Digest,
    progress: &impl Progress,
) -> Result<PushReport> {
    let manifest = store.read_blob(manifest_digest, MAX_MANIFEST_SIZE)?;
    let blobs: ManifestBlobs =
        serde_json::from_slice(&manifest).map_err(|source| WorkflowError::Malformed {
            what: format!("the stored manifest {manifest_digest} is not an image manifest"),
            source,
        })?;
    let media_type = manifest::media_type(&manifest);
    let repository = reference.repository().to_string();
    let mount_sources = mount_sources(store, reference)?;
    let uploads = blobs.iter().map(|descriptor| {
        let path = store.blob_path(&descriptor.digest);
        let mount_from = mount_sources.get(&descriptor.digest).map(String::as_str);
        let transfer = progress.transfer(&short_digest(&descriptor.digest), descriptor.size);
        let repository = repository.as_str();
        async move {
            let outcome = client
                .push_blob_file(
                    repository,
                    &descriptor.digest,
                    descriptor.size,
                    &path,
                    mount_from,
                    &transfer,
                )
                .await?;
            transfer.finish_with(match outcome {
                BlobPush::AlreadyPresent => "already present",
                BlobPush::Mounted => "mounted",
                BlobPush::Uploaded { .. } => "uploaded",
            });
            Ok::<_, WorkflowError>((descriptor.size, outcome))
        }
    });
    let outcomes = try_join_all(uploads).await?;
    let digest = client
        .put_manifest(
            &repository,
            reference.tag_or_latest(),
            &media_type,
            Bytes::from(manifest),
        )
        .await?;
    let mut report = PushReport {
        digest,
        blobs: outcomes.len(),
        total_bytes: 0,
        already_present: 0,
        mounted: 0,
        uploaded_bytes: 0,
        signature: None,
    };
    for (size, outcome) in outcomes {
        report.total_bytes += size;
        match outcome {
            BlobPush::AlreadyPresent => report.already_present += 1,
            BlobPush::Mounted => report.mounted += 1,
            BlobPush::Uploaded { .. } => report.uploaded_bytes += size,
        }
    }
    Ok(report)
}

/// For each blob, another repository of the same registry known (from the
/// store's names) to hold it: a cross-repository mount saves the upload.
fn mount_sources(
    store: &LocalStore,
    reference: &ResolvedReference,
) -> Result<BTreeMap<Digest, String>> {
    let mut sources = BTreeMap::new();
    for entry in store.entries()? {
        let Some(name) = entry.name else { continue };
        let Ok(other) = ResolvedReference::parse(&name, None) else {
            continue;
        };
        if other.registry() != reference.registry() || other.repository() == reference.repository()
        {
            continue;
        }
        let Ok(manifest) = store.read_blob(&entry.digest, MAX_MANIFEST_SIZE) else {
            continue;
        };
        let Ok(blobs) = serde_json::from_slice::<ManifestBlobs>(&manifest) else {
            continue;
        };
        for descriptor in blobs.iter() {
            sources
                .entry(descriptor.digest.clone())
                .or_insert_with(|| other.repository().to_string());
        }
    }
    Ok(sources)
}
