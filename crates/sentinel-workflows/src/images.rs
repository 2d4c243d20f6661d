//! The packages in the local store, described and filtered.

use sentinel_local_store::{Entry, LocalStore};
use sentinel_oci::MAX_MANIFEST_SIZE;
use sentinel_package::Definition;
use sentinel_package::oci::parse_manifest;
use serde::Serialize;

use crate::error::Result;
use sentinel_package::MAX_DEFINITION_BYTES;

/// One package (or other manifest) in the local store.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    /// The name it is stored under, if any.
    pub reference: Option<String>,
    /// The manifest's digest.
    pub digest: String,
    /// `agent` or `stack`, for a Sentinel package.
    pub kind: Option<String>,
    /// The definition's name.
    pub name: Option<String>,
    /// The definition's version.
    pub version: Option<String>,
    /// The definition's description.
    pub description: Option<String>,
    /// The definition's author.
    pub author: Option<String>,
    /// The definition's capabilities.
    pub capabilities: Vec<String>,
    /// The definition's tags (keywords, not registry tags).
    pub tags: Vec<String>,
    /// The package's size (the manifest's, for anything else).
    pub size: u64,
    /// The manifest's `created` annotation.
    pub created: Option<String>,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's artifact type.
    pub artifact_type: Option<String>,
}

/// A condition on the packages listed.
#[derive(Debug, PartialEq)]
pub enum Filter {
    /// The definition's name, or the last component of the stored name's repository, or all of it.
    Name(String),
    /// One of the definition's capabilities.
    Capability(String),
    /// Part of the author, in any case.
    Author(String),
    /// One of the definition's tags.
    Tag(String),
}

impl Filter {
    /// Whether `row` passes.
    pub fn matches(&self, row: &ImageRow) -> bool {
        match self {
            Filter::Name(name) => {
                row.name.as_deref() == Some(name.as_str())
                    || row.reference.as_deref().is_some_and(|reference| {
                        repository_of(reference).is_some_and(|repository| {
                            repository == name || repository.rsplit('/').next() == Some(name)
                        })
                    })
            }
            Filter::Capability(capability) => row.capabilities.iter().any(|c| c == capability),
            Filter::Author(author) => row
                .author
                .as_deref()
                .is_some_and(|value| value.to_lowercase().contains(&author.to_lowercase())),
            Filter::Tag(tag) => row.tags.iter().any(|t| t == tag),
        }
    }
}

/// The repository part of a stored name (`host/ns/name:tag` -> `ns/name`).
fn repository_of(reference: &str) -> Option<&str> {
    let without_digest = reference.split('@').next()?;
    let (_, rest) = without_digest.split_once('/')?;
    match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => Some(&rest[..colon]),
        _ => Some(rest),
    }
}

/// The named packages in the store that pass every filter (with `all`,
/// unnamed entries and manifests that are not packages too), by name then
/// digest.
pub fn list(store: &LocalStore, all: bool, filters: &[Filter]) -> Result<Vec<ImageRow>> {
    let mut rows = Vec::new();
    for entry in store.entries()? {
        let row = describe_entry(store, &entry);
        let is_package = row.kind.is_some();
        if !all && (!is_package || row.reference.is_none()) {
            continue;
        }
        if filters.iter().all(|filter| filter.matches(&row)) {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a.reference.cmp(&b.reference).then(a.digest.cmp(&b.digest)));
    Ok(rows)
}

/// What the store says of an entry; the package's fields stay empty when
/// its manifest or definition cannot be read.
fn describe_entry(store: &LocalStore, entry: &Entry) -> ImageRow {
    let mut row = ImageRow {
        reference: entry.name.clone(),
        digest: entry.digest.to_string(),
        kind: None,
        name: None,
        version: None,
        description: None,
        author: None,
        capabilities: Vec::new(),
        tags: Vec::new(),
        size: entry.size,
        created: None,
        media_type: entry.media_type.clone(),
        artifact_type: entry.artifact_type.clone(),
    };
    let Ok(manifest) = store.read_blob(&entry.digest, MAX_MANIFEST_SIZE) else {
        return row;
    };
    let Ok(view) = parse_manifest(&manifest) else {
        return row;
    };
    row.size = view.package.size;
    row.created = view
        .annotations
        .get(sentinel_oci::annotations::CREATED)
        .cloned();
    let Ok(bytes) = store.read_blob(&view.config.digest, MAX_DEFINITION_BYTES) else {
        return row;
    };
    let Ok(definition) = Definition::parse(view.kind, view.kind.definition_file(), &bytes) else {
        return row;
    };
    row.kind = Some(view.kind.as_str().to_string());
    row.name = Some(definition.name().to_string());
    row.version = Some(definition.version().to_string());
    row.description = definition.description().map(str::to_string);
    row.author = definition.author().map(str::to_string);
    row.capabilities = definition.capabilities().to_vec();
    row.tags = definition.tags().to_vec();
    row
}

#[cfg(test)]
mod tests {
    use super::repository_of;

    #[test]
    fn the_repository_is_read_out_of_a_stored_name() {
        assert_eq!(
            repository_of("localhost:5000/me/hello:0.1.0"),
            Some("me/hello")
        );
        assert_eq!(repository_of("ghcr.io/team/agent"), Some("team/agent"));
        assert_eq!(
            repository_of("localhost:5000/me/hello@sha256:abc"),
            Some("me/hello")
        );
    }
}
