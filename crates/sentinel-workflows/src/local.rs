//! Names in the local store: finding, tagging and removing them.

use std::collections::BTreeMap;

use sentinel_local_store::{Entry, GcReport, LocalStore};
use sentinel_oci::Digest;

use crate::error::{Result, WorkflowError};
use crate::registries::{self, Registries, tagged_or_latest};

/// Finds a store entry by name (as typed, or made canonical with the
/// default registry and tag) or by digest.
pub(crate) fn find_local(
    store: &LocalStore,
    registries: &dyn Registries,
    text: &str,
) -> Result<Option<Entry>> {
    if let Some(entry) = store.find(text)? {
        return Ok(Some(entry));
    }
    let default_registry = registries::default_registry(registries)?;
    let Ok(reference) = registries::parse_reference(text, default_registry.as_deref()) else {
        return Ok(None);
    };
    let canonical = tagged_or_latest(&reference)?.to_string();
    Ok(store.find(&canonical)?)
}

/// Gives the package `source` names another name, `target`; returns the
/// new name and the package's manifest digest.
pub fn tag(
    store: &LocalStore,
    registries: &dyn Registries,
    source: &str,
    target: &str,
) -> Result<(String, Digest)> {
    let entry = find_local(store, registries, source)?
        .ok_or_else(|| WorkflowError::NotFound(format!("{source} is not in the local store")))?;
    let reference = registries::reference(registries, target)?;
    if reference.digest().is_some() {
        return Err(WorkflowError::Usage(format!(
            "cannot name a package with a digest: {target}"
        )));
    }
    let name = tagged_or_latest(&reference)?.to_string();
    store.set_name(&name, &entry.digest, BTreeMap::new())?;
    Ok((name, entry.digest))
}

/// One step of [`remove`].
pub enum Removal {
    /// A name was removed; the package stays under its other names.
    Untagged(String),
    /// A package was removed with all its names.
    Removed {
        /// The package's manifest digest.
        digest: Digest,
        /// How many names it had.
        names: usize,
    },
    /// Blobs nothing references any more were deleted.
    Collected(GcReport),
}

/// Removes each of `texts` from the store (a name removes that name; a
/// digest removes the package and all its names), then the blobs nothing
/// uses; `on_removal` hears of each step as it happens. Fails, after
/// removing the rest, when some were not in the store.
pub fn remove(
    store: &LocalStore,
    registries: &dyn Registries,
    texts: &[String],
    mut on_removal: impl FnMut(Removal),
) -> Result<()> {
    let mut missing = Vec::new();
    for text in texts {
        match find_local(store, registries, text)? {
            Some(entry) => match &entry.name {
                Some(name) if !text.contains(entry.digest.hex()) => {
                    store.remove_name(name)?;
                    on_removal(Removal::Untagged(name.clone()));
                }
                _ => {
                    let names = store.remove_digest(&entry.digest)?;
                    on_removal(Removal::Removed {
                        digest: entry.digest,
                        names,
                    });
                }
            },
            None => missing.push(text.clone()),
        }
    }
    let report = store.garbage_collect()?;
    if report.blobs_removed > 0 {
        on_removal(Removal::Collected(report));
    }
    if !missing.is_empty() {
        return Err(WorkflowError::NotFound(format!(
            "not in the local store: {}",
            missing.join(", ")
        )));
    }
    Ok(())
}
