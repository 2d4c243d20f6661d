//! How a workflow reaches registries: the caller decides which registry a
//! short reference means and which credentials go with each registry.

use sentinel_client::{RegistryClient, RegistryLocation, ResolvedReference};

use crate::error::{BoxError, Result, WorkflowError};

/// The caller's view of the registries: the default registry for references
/// that name none, and a client with credentials for each registry.
pub trait Registries {
    /// The registry (host or URL, as the user wrote it) for references that
    /// name none; `None` leaves such references to the reference grammar.
    fn default_registry(&self) -> Result<Option<String>, BoxError>;

    /// A client for the registry `reference` names, with its credentials.
    fn client(&self, reference: &ResolvedReference) -> Result<RegistryClient, BoxError>;
}

impl<R: Registries + ?Sized> Registries for &R {
    fn default_registry(&self) -> Result<Option<String>, BoxError> {
        (**self).default_registry()
    }

    fn client(&self, reference: &ResolvedReference) -> Result<RegistryClient, BoxError> {
        (**self).client(reference)
    }
}

/// Parses `text` as a reference, with `default_registry` for a reference
/// that names no registry.
pub(crate) fn parse_reference(
    text: &str,
    default_registry: Option<&str>,
) -> Result<ResolvedReference> {
    let default_host = match default_registry {
        Some(registry) => Some(
            RegistryLocation::parse(registry)
                .map_err(|error| {
                    WorkflowError::Usage(format!("invalid registry {registry:?}: {error}"))
                })?
                .host()
                .to_string(),
        ),
        None => None,
    };
    ResolvedReference::parse(text, default_host.as_deref())
        .map_err(|error| WorkflowError::Usage(format!("invalid reference {text:?}: {error}")))
}

/// The caller's default registry, its error wrapped.
pub(crate) fn default_registry(registries: &dyn Registries) -> Result<Option<String>> {
    registries
        .default_registry()
        .map_err(WorkflowError::Registries)
}

/// `text` as a reference, with the caller's default registry.
pub(crate) fn reference(registries: &dyn Registries, text: &str) -> Result<ResolvedReference> {
    parse_reference(text, default_registry(registries)?.as_deref())
}

/// [`Registries::client`], its error wrapped.
pub(crate) fn client(
    registries: &dyn Registries,
    reference: &ResolvedReference,
) -> Result<RegistryClient> {
    registries
        .client(reference)
        .map_err(WorkflowError::Registries)
}

/// `reference` with `tag`, or a usage error naming the tag.
pub(crate) fn with_tag(reference: &ResolvedReference, tag: &str) -> Result<ResolvedReference> {
    reference
        .with_tag(tag)
        .map_err(|error| WorkflowError::Usage(format!("invalid tag {tag:?}: {error}")))
}

/// `reference` with its tag, or `latest` when it has none.
pub(crate) fn tagged_or_latest(reference: &ResolvedReference) -> Result<ResolvedReference> {
    with_tag(reference, reference.tag_or_latest())
}

/// What to ask the registry for: the reference's digest, else its tag.
pub(crate) fn wanted(reference: &ResolvedReference) -> String {
    match reference.digest() {
        Some(digest) => digest.to_string(),
        None => reference.tag_or_latest().to_string(),
    }
}
