//! `agent images`, `agent tag` and `agent rmi`: the local store.

use std::collections::BTreeMap;

use sentinel_layout::{Entry, LayoutStore};
use sentinel_package::Definition;
use sentinel_package::oci::parse_manifest;
use serde::Serialize;

use crate::cli::{ImagesArgs, OutputFormat, RmiArgs, TagArgs};
use crate::context::{Context, tagged_or_latest};
use crate::exit::{LocalNotFound, UsageError};
use crate::output::{say, say_raw};
use crate::progress::human_size;

const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// One line of `agent images`.
#[derive(Debug, Serialize)]
struct ImageRow {
    reference: Option<String>,
    digest: String,
    kind: Option<String>,
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    author: Option<String>,
    capabilities: Vec<String>,
    tags: Vec<String>,
    size: u64,
    created: Option<String>,
    media_type: String,
    artifact_type: Option<String>,
}

/// A `KEY=VALUE` filter of `agent images`.
#[derive(Debug, PartialEq)]
enum Filter {
    Name(String),
    Capability(String),
    Author(String),
    Tag(String),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter, UsageError> {
        let (key, value) = text.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "filter {text:?} is not KEY=VALUE (KEY: name, capability, author, tag)"
            ))
        })?;
        let value = value.to_string();
        match key {
            "name" => Ok(Filter::Name(value)),
            "capability" => Ok(Filter::Capability(value)),
            "author" => Ok(Filter::Author(value)),
            "tag" => Ok(Filter::Tag(value)),
            other => Err(UsageError(format!(
                "unknown filter key {other:?}: use name, capability, author or tag"
            ))),
        }
    }

    fn matches(&self, row: &ImageRow) -> bool {
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

/// Runs `agent images`.
pub fn images(context: &Context, args: ImagesArgs) -> anyhow::Result<()> {
    let filters = args
        .filter
        .iter()
        .map(|text| Filter::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let store = context.store()?;
    let mut rows = Vec::new();
    for entry in store.entries()? {
        let row = describe_entry(&store, &entry);
        let is_package = row.kind.is_some();
        if !args.all && (!is_package || row.reference.is_none()) {
            continue;
        }
        if filters.iter().all(|filter| filter.matches(&row)) {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a.reference.cmp(&b.reference).then(a.digest.cmp(&b.digest)));
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&rows)?),
        OutputFormat::Table => print_table(&rows),
    }
    Ok(())
}

fn describe_entry(store: &LayoutStore, entry: &Entry) -> ImageRow {
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
    let Ok(manifest) = store.read_blob(&entry.digest, MAX_MANIFEST_BYTES) else {
        return row;
    };
    let Ok(view) = parse_manifest(&manifest) else {
        return row;
    };
    row.size = view.package.size;
    row.created = view
        .annotations
        .get("org.opencontainers.image.created")
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

fn print_table(rows: &[ImageRow]) {
    let headers = ["REFERENCE", "KIND", "VERSION", "DIGEST", "SIZE", "CREATED"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            let hex = row.digest.split(':').nth(1).unwrap_or(&row.digest);
            [
                row.reference
                    .clone()
                    .unwrap_or_else(|| "<none>".to_string()),
                row.kind.clone().unwrap_or_else(|| "-".to_string()),
                row.version.clone().unwrap_or_else(|| "-".to_string()),
                hex[..hex.len().min(12)].to_string(),
                human_size(row.size),
                row.created.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    let print_line = |cells: &[&str]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   "));
            }
        }
        say!("{}", text.trim_end());
    };
    print_line(&headers);
    for line in &cells {
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        print_line(&line);
    }
}

/// Finds a store entry by name (as typed, or made canonical) or digest.
pub fn find_local(
    context: &Context,
    store: &LayoutStore,
    text: &str,
    remote: &crate::cli::RemoteArgs,
) -> anyhow::Result<Option<Entry>> {
    if let Some(entry) = store.find(text)? {
        return Ok(Some(entry));
    }
    let target = context.target(remote)?;
    let Ok(reference) = context.parse_reference(text, &target) else {
        return Ok(None);
    };
    let canonical = tagged_or_latest(&reference)?.to_string();
    Ok(store.find(&canonical)?)
}

/// Runs `agent tag`.
pub fn tag(context: &Context, args: TagArgs) -> anyhow::Result<()> {
    let store = context.store()?;
    let entry = find_local(context, &store, &args.source, &args.remote)?
        .ok_or_else(|| LocalNotFound(format!("{} is not in the local store", args.source)))?;
    let target = context.target(&args.remote)?;
    let reference = context.parse_reference(&args.target, &target)?;
    if reference.digest().is_some() {
        return Err(UsageError(format!(
            "cannot name a package with a digest: {}",
            args.target
        ))
        .into());
    }
    let name = tagged_or_latest(&reference)?.to_string();
    store.set_name(&name, &entry.digest, BTreeMap::new())?;
    say!("tagged {name} -> {}", entry.digest);
    Ok(())
}

/// Runs `agent rmi`.
pub fn rmi(context: &Context, args: RmiArgs) -> anyhow::Result<()> {
    let store = context.store()?;
    let mut missing = Vec::new();
    for text in &args.references {
        match find_local(context, &store, text, &args.remote)? {
            Some(entry) => match &entry.name {
                Some(name) if !text.contains(entry.digest.hex()) => {
                    store.remove_name(name)?;
                    say!("untagged {name}");
                }
                _ => {
                    let removed = store.remove_digest(&entry.digest)?;
                    say!("removed {} ({removed} names)", entry.digest);
                }
            },
            None => missing.push(text.clone()),
        }
    }
    let report = store.garbage_collect()?;
    if report.blobs_removed > 0 {
        say!(
            "deleted {} blobs ({})",
            report.blobs_removed,
            human_size(report.bytes_freed)
        );
    }
    if !missing.is_empty() {
        return Err(
            LocalNotFound(format!("not in the local store: {}", missing.join(", "))).into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse_unknown_keys() {
        assert_eq!(
            Filter::parse("name=hello").unwrap(),
            Filter::Name("hello".into())
        );
        assert_eq!(
            Filter::parse("capability=search").unwrap(),
            Filter::Capability("search".into())
        );
        assert!(
            Filter::parse("colour=red")
                .unwrap_err()
                .0
                .contains("colour")
        );
        assert!(Filter::parse("name").is_err());
    }

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
