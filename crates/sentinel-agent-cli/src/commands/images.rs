//! `agent images`, `agent tag` and `agent rmi`: the local store.

use sentinel_workflows::{Filter, ImageRow, Removal};

use crate::cli::{ImagesArgs, OutputFormat, RmiArgs, TagArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{say, say_raw, short_digest, table};
use crate::progress::human_size;
use crate::remote::Remote;

/// A `KEY=VALUE` filter of `agent images`.
fn parse_filter(text: &str) -> Result<Filter, UsageError> {
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

/// Runs `agent images`.
pub fn images(context: &Context, args: ImagesArgs) -> anyhow::Result<()> {
    let filters = args
        .filter
        .iter()
        .map(|text| parse_filter(text))
        .collect::<Result<Vec<_>, _>>()?;
    let store = context.store()?;
    let rows = sentinel_workflows::list(&store, args.all, &filters)?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&rows)?),
        OutputFormat::Table => print_table(&rows),
    }
    Ok(())
}

fn print_table(rows: &[ImageRow]) {
    let headers = ["REFERENCE", "KIND", "VERSION", "DIGEST", "SIZE", "CREATED"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.reference
                    .clone()
                    .unwrap_or_else(|| "<none>".to_string()),
                row.kind.clone().unwrap_or_else(|| "-".to_string()),
                row.version.clone().unwrap_or_else(|| "-".to_string()),
                short_digest(&row.digest),
                human_size(row.size),
                row.created.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    table(&headers, &cells);
}

/// Runs `agent tag`.
pub fn tag(context: &Context, args: TagArgs) -> anyhow::Result<()> {
    let store = context.store()?;
    let registries = Remote::from_args(context, &args.remote);
    let (name, digest) = sentinel_workflows::tag(&store, &registries, &args.source, &args.target)?;
    say!("tagged {name} -> {digest}");
    Ok(())
}

/// Runs `agent rmi`.
pub fn rmi(context: &Context, args: RmiArgs) -> anyhow::Result<()> {
    let store = context.store()?;
    let registries = Remote::from_args(context, &args.remote);
    sentinel_workflows::remove(
        &store,
        &registries,
        &args.references,
        |removal| match removal {
            Removal::Untagged(name) => say!("untagged {name}"),
            Removal::Removed { digest, names } => say!("removed {digest} ({names} names)"),
            Removal::Collected(report) => say!(
                "deleted {} blobs ({})",
                report.blobs_removed,
                human_size(report.bytes_freed)
            ),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse_unknown_keys() {
        assert_eq!(
            parse_filter("name=hello").unwrap(),
            Filter::Name("hello".into())
        );
        assert_eq!(
            parse_filter("capability=search").unwrap(),
            Filter::Capability("search".into())
        );
        assert!(parse_filter("colour=red").unwrap_err().0.contains("colour"));
        assert!(parse_filter("name").is_err());
    }
}
