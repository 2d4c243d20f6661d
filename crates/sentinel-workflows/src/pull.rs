//! Pull: resolve a reference, download and verify the package into the
//! local store, name it there, and extract it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sentinel_client::{ClientError, FetchedManifest, RegistryClient, ResolvedReference};
use sentinel_durable::TempPath;
use sentinel_local_store::LocalStore;
use sentinel_oci::Digest;
use sentinel_package::oci::{PackageArtifact, parse_manifest};
use sentinel_package::{Definition, UnpackSummary};

use crate::error::{Result, WorkflowError};
use crate::progress::{Progress, Transfer, short_digest};
use crate::registries::{self, Registries, tagged_or_latest};
use crate::unpack::unpack_file;
use crate::versions::{Found, Resolution, resolve_requirement, split_requirement};
use sentinel_package::MAX_DEFINITION_BYTES;
use sentinel_package::versions::VersionRequirement;

/// Where a pulled package is extracted.
pub enum Extract {
    /// Not extracted: the package stays in the local store only.
    No,
    /// Into a new directory named after the package, in the current directory.
    NamedDirectory,
    /// Into this new directory.
    Into(PathBuf),
}

/// What a pull did.
pub struct PullReport {
    /// The reference pulled, with the registry it was found in.
    pub reference: ResolvedReference,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The package's definition.
    pub definition: Definition,
    /// The package file's size.
    pub package_size: u64,
    /// Where it was extracted and what was written there.
    pub extracted: Option<(PathBuf, UnpackSummary)>,
}

/// A package manifest found in a registry, ready to pull.
pub struct Resolved {
    reference: ResolvedReference,
    client: RegistryClient,
    manifest: FetchedManifest,
    view: PackageArtifact,
    resolution: Option<Resolution>,
}

/// Finds `text` in the first of `candidates` (registries tried in order)
/// that holds it (with more than one candidate, a miss moves on to the
/// next), and checks that it is a Sentinel package.
///
/// When what follows the last `:` of `text` is not a tag but a version
/// requirement (`team/planner:^1.2`), the highest matching version is
/// found instead: through Sentinel's package API, else the registry's tag
/// list; a registry without a match is a miss like a missing tag.
pub async fn resolve(candidates: &[impl Registries], text: &str) -> Result<Resolved> {
    let (reference, client, manifest, resolution) = match split_requirement(text)? {
        Some((base, requirement)) => {
            fetch_found(resolve_requirement(candidates, base, requirement).await?).await?
        }
        None => match find_manifest(candidates, text).await {
            Ok((reference, client, manifest)) => (reference, client, manifest, None),
            // No `latest` tag: the package's latest version, as npm reads a
            // name alone (agent push tags versions, not `latest`).
            Err(missing) if names_no_version(text) && is_not_found(&missing) => {
                let any: VersionRequirement = "*".parse().expect("* is a requirement");
                let found = resolve_requirement(candidates, text, any)
                    .await
                    .map_err(|_| missing)?;
                fetch_found(found).await?
            }
            Err(error) => return Err(error),
        },
    };
    let view = parse_manifest(&manifest.bytes).map_err(|error| {
        WorkflowError::Usage(format!("{reference} is not a Sentinel package: {error}"))
    })?;
    Ok(Resolved {
        reference,
        client,
        manifest,
        view,
        resolution,
    })
}

impl Resolved {
    /// The reference that will be pulled (for a requirement, with the
    /// chosen version's tag).
    pub fn reference(&self) -> &ResolvedReference {
        &self.reference
    }

    /// Whether it is an agent or a stack.
    pub fn kind(&self) -> sentinel_package::PackageKind {
        self.view.kind
    }

    /// The manifest found, with its verified digest.
    pub fn manifest(&self) -> &FetchedManifest {
        &self.manifest
    }

    /// The client of the registry it was found in.
    pub(crate) fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The requirement and the version it resolved to, when `text` held one.
    pub fn resolution(&self) -> Option<&Resolution> {
        self.resolution.as_ref()
    }

    /// Downloads and verifies the package into `store`, names it there
    /// (unless it was resolved by digest) and extracts it as `extract`
    /// says, stopping when `cancel` is set.
    pub async fn pull(
        self,
        store: &LocalStore,
        extract: Extract,
        cancel: Option<Arc<AtomicBool>>,
        progress: &impl Progress,
    ) -> Result<PullReport> {
        let Resolved {
            reference,
            client,
            manifest,
            view,
            resolution: _,
        } = self;
        let (definition_bytes, ()) = tokio::try_join!(
            fetch_definition(&client, store, &reference, &view),
            fetch_package(&client, store, &reference, &view, progress),
        )?;
        let definition =
            Definition::parse(view.kind, view.kind.definition_file(), &definition_bytes).map_err(
                |source| WorkflowError::InvalidDefinition {
                    reference: reference.to_string(),
                    source,
                },
            )?;
        let package_path = store.blob_path(&view.package.digest);
        let package = std::fs::File::open(&package_path).map_err(|source| WorkflowError::Open {
            path: package_path.clone(),
            source,
        })?;
        let contents = sentinel_package::read_package(std::io::BufReader::new(package))?;
        if contents.definition_bytes != definition_bytes {
            return Err(WorkflowError::Integrity(format!(
                "{reference}: the manifest's definition (config blob) differs from the one inside the package"
            )));
        }

        let manifest_digest = store.put_manifest(&manifest.bytes, &manifest.media_type)?;
        // A pull by digest names nothing: a tag written beside the digest is not
        // what the registry resolved, so it must not become a local name.
        if reference.digest().is_some() {
            store.add_unnamed(&manifest_digest)?;
        } else {
            let name = tagged_or_latest(&reference)?;
            store.set_name(&name.to_string(), &manifest_digest, BTreeMap::new())?;
        }

        // The package's digest was verified on the way in; the inventory (every
        // file's size and hash) is verified whenever it is extracted.
        let directory = match extract {
            Extract::No => None,
            Extract::NamedDirectory => Some(PathBuf::from(definition.name())),
            Extract::Into(directory) => Some(directory),
        };
        let extracted = match directory {
            Some(directory) => {
                let summary = unpack_file(&package_path, &directory, cancel).await?;
                Some((directory, summary))
            }
            None => None,
        };
        Ok(PullReport {
            reference,
            manifest_digest,
            definition,
            package_size: view.package.size,
            extracted,
        })
    }
}

/// The manifest of the version a requirement resolved to.
async fn fetch_found(
    found: Found,
) -> Result<(
    ResolvedReference,
    RegistryClient,
    FetchedManifest,
    Option<Resolution>,
)> {
    let manifest = found
        .client
        .get_manifest(found.reference.repository(), &found.manifest)
        .await?;
    Ok((
        found.reference,
        found.client,
        manifest,
        Some(found.resolution),
    ))
}

/// Whether `error` says the manifest is not there.
fn is_not_found(error: &WorkflowError) -> bool {
    matches!(
        error,
        WorkflowError::NotFound(_) | WorkflowError::Client(ClientError::NotFound { .. })
    )
}

/// Whether `text` names neither a tag nor a digest (`team/planner`).
fn names_no_version(text: &str) -> bool {
    let name_start = text.rfind('/').map_or(0, |slash| slash + 1);
    !text.contains('@') && !text[name_start..].contains(':')
}

/// Finds the manifest in the first candidate that holds it.
async fn find_manifest(
    candidates: &[impl Registries],
    text: &str,
) -> Result<(ResolvedReference, RegistryClient, FetchedManifest)> {
    // Every candidate's reference is parsed before any registry is asked.
    let references = candidates
        .iter()
        .map(|registries| Ok((registries::reference(registries, text)?, registries)))
        .collect::<Result<Vec<_>>>()?;
    let mut misses = Vec::new();
    let count = references.len();
    for (reference, registries) in references {
        let client = registries::client(registries, &reference)?;
        match client
            .get_manifest(reference.repository(), &registries::wanted(&reference))
            .await
        {
            Ok(manifest) => return Ok((reference, client, manifest)),
            Err(error @ ClientError::NotFound { .. }) if count > 1 => {
                misses.push(error.to_string())
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(WorkflowError::NotFound(format!(
        "{text} not found in any configured registry ({})",
        misses.join("; ")
    )))
}

/// The definition (config blob), from the store or the registry.
async fn fetch_definition(
    client: &RegistryClient,
    store: &LocalStore,
    reference: &ResolvedReference,
    view: &PackageArtifact,
) -> Result<Vec<u8>> {
    if store.blob_size(&view.config.digest)? == Some(view.config.size) {
        return Ok(store.read_blob(&view.config.digest, MAX_DEFINITION_BYTES)?);
    }
    let bytes = client
        .pull_blob_bytes(
            reference.repository(),
            &view.config.digest,
            MAX_DEFINITION_BYTES,
        )
        .await?;
    let stored = store.write_blob(&bytes)?;
    if stored != view.config.digest {
        return Err(WorkflowError::Integrity(format!(
            "the definition blob hashes to {stored}, not {}",
            view.config.digest
        )));
    }
    Ok(bytes.to_vec())
}

/// The package blob into the store, unless it is there already.
async fn fetch_package(
    client: &RegistryClient,
    store: &LocalStore,
    reference: &ResolvedReference,
    view: &PackageArtifact,
    progress: &impl Progress,
) -> Result<()> {
    let digest = &view.package.digest;
    if store.blob_size(digest)? == Some(view.package.size) {
        return Ok(());
    }
    let transfer = progress.transfer(&short_digest(digest), view.package.size);
    // Removed when dropped; adopting the file moves it into the store first.
    let scratch = TempPath::new(store.ingest_path());
    client
        .pull_blob_to_file(
            reference.repository(),
            digest,
            Some(view.package.size),
            scratch.path(),
            &transfer,
        )
        .await?;
    // The client hashed every byte on the way in and checked the digest.
    store.adopt_verified_file(scratch.path(), digest, view.package.size)?;
    transfer.finish_with("downloaded");
    Ok(())
}
