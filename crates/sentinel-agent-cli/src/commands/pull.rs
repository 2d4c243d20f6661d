//! `agent pull`: resolve, download and verify a package, keep it in the
//! local store, and extract it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use sentinel_client::{ClientError, FetchedManifest, ImageReference, RegistryClient};
use sentinel_layout::LayoutStore;
use sentinel_package::Definition;
use sentinel_package::oci::{PackageManifestView, parse_manifest};

use crate::cli::PullArgs;
use crate::commands::pack::unpack_file;
use crate::commands::push::{TempPath, short_digest};
use crate::context::{Context, Target, tagged_or_latest};
use crate::exit::{IntegrityError, UsageError};
use crate::output::say;
use crate::progress::{Progress, human_size};

/// The largest definition (config blob) accepted.
const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// Runs `agent pull`.
pub async fn run(context: &Context, args: PullArgs) -> anyhow::Result<()> {
    let target = context.target(&args.remote)?;
    let (reference, client, manifest) = resolve(context, &args.reference, &target).await?;
    let view = parse_manifest(&manifest.bytes)
        .map_err(|error| UsageError(format!("{reference} is not a Sentinel package: {error}")))?;
    let store = context.store()?;
    let progress = Progress::new(args.quiet);
    let (definition_bytes, ()) = tokio::try_join!(
        fetch_definition(&client, &store, &reference, &view),
        fetch_package(&client, &store, &reference, &view, &progress),
    )?;
    let definition = Definition::parse(view.kind, view.kind.definition_file(), &definition_bytes)
        .with_context(|| format!("the definition in {reference} is invalid"))?;
    let package_path = store.blob_path(&view.package.digest);
    let contents = sentinel_package::read_package(std::io::BufReader::new(
        std::fs::File::open(&package_path)
            .with_context(|| format!("cannot open {}", package_path.display()))?,
    ))?;
    if contents.definition_bytes != definition_bytes {
        return Err(IntegrityError(format!(
            "{reference}: the manifest's definition (config blob) differs from the one inside the package"
        ))
        .into());
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
    let extracted = if args.no_extract {
        None
    } else {
        let directory = args
            .directory
            .unwrap_or_else(|| PathBuf::from(definition.name()));
        let summary = unpack_file(context, &package_path, &directory).await?;
        Some((directory, summary))
    };
    if args.quiet {
        say!("{reference}@{manifest_digest}");
    } else {
        say!("pulled {reference}");
        say!("digest: {manifest_digest}");
        say!(
            "{}:  {} {} ({})",
            definition.kind().as_str(),
            definition.name(),
            definition.version(),
            human_size(view.package.size)
        );
        if let Some((directory, summary)) = extracted {
            say!(
                "files:  {} extracted into {}",
                summary.files,
                directory.display()
            );
        }
    }
    Ok(())
}

/// Finds the manifest: in the registry the reference names, or else in the
/// configured registries by priority.
async fn resolve(
    context: &Context,
    text: &str,
    target: &Target<'_>,
) -> anyhow::Result<(ImageReference, RegistryClient, FetchedManifest)> {
    let names_registry = names_registry(text);
    let candidates: Vec<(ImageReference, Target<'_>)> = if names_registry
        || target.default_registry.is_some()
        || context.config().registries.is_empty()
    {
        let own = Target {
            default_registry: target.default_registry.clone(),
            profile: target.profile,
        };
        vec![(context.parse_reference(text, target)?, own)]
    } else {
        let mut candidates = Vec::new();
        for entry in context.config().registries_by_priority() {
            // Each entry's URL (with its scheme) is the registry its client uses.
            let scoped = Target {
                default_registry: Some(entry.url.clone()),
                profile: None,
            };
            candidates.push((context.parse_reference(text, &scoped)?, scoped));
        }
        candidates
    };
    let mut misses = Vec::new();
    let count = candidates.len();
    for (reference, scoped) in candidates {
        let client = context.client(&reference, &scoped)?;
        let wanted = match reference.digest() {
            Some(digest) => digest.to_string(),
            None => reference.tag_or_latest().to_string(),
        };
        match client.get_manifest(reference.repository(), &wanted).await {
            Ok(manifest) => return Ok((reference, client, manifest)),
            Err(error @ ClientError::NotFound { .. }) if count > 1 => {
                misses.push(error.to_string())
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(crate::exit::LocalNotFound(format!(
        "{text} not found in any configured registry ({})",
        misses.join("; ")
    ))
    .into())
}

/// Whether a reference's first component is a registry host, by docker's
/// rule: it holds a `.` or a `:`, or is `localhost`.
fn names_registry(text: &str) -> bool {
    match text.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

/// The definition (config blob), from the store or the registry.
async fn fetch_definition(
    client: &RegistryClient,
    store: &LayoutStore,
    reference: &ImageReference,
    view: &PackageManifestView,
) -> anyhow::Result<Vec<u8>> {
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
        return Err(IntegrityError(format!(
            "the definition blob hashes to {stored}, not {}",
            view.config.digest
        ))
        .into());
    }
    Ok(bytes.to_vec())
}

/// The package blob into the store, unless it is there already.
async fn fetch_package(
    client: &RegistryClient,
    store: &LayoutStore,
    reference: &ImageReference,
    view: &PackageManifestView,
    progress: &Progress,
) -> anyhow::Result<()> {
    let digest = &view.package.digest;
    if store.blob_size(digest)? == Some(view.package.size) {
        return Ok(());
    }
    let bar = progress.bar(&short_digest(digest), view.package.size);
    let temp = TempPath(store.ingest_path());
    client
        .pull_blob_to_file(
            reference.repository(),
            digest,
            Some(view.package.size),
            &temp.0,
            &bar,
        )
        .await?;
    // The client hashed every byte on the way in and checked the digest.
    store.adopt_verified_file(&temp.0, digest, view.package.size)?;
    bar.finish_with("downloaded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::names_registry;

    #[test]
    fn the_registry_component_is_recognised_like_docker_does() {
        assert!(names_registry("localhost:5000/me/hello:1.0.0"));
        assert!(names_registry("localhost/me/hello"));
        assert!(names_registry("ghcr.io/team/agent"));
        assert!(!names_registry("team/agent:1.0"));
        assert!(!names_registry("hello"));
    }
}
