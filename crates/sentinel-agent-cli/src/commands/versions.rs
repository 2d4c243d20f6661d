//! `agent versions`: a package's versions in a registry, newest first.

use sentinel_workflows::{VersionListing, VersionSource};

use crate::cli::{OutputFormat, VersionsArgs};
use crate::context::Context;
use crate::output::{say, say_raw, short_digest, table};
use crate::progress::human_size;
use crate::remote::Remote;

/// Runs `agent versions`.
pub async fn run(context: &Context, args: VersionsArgs) -> anyhow::Result<()> {
    let target = context.target(&args.remote)?;
    let candidates = Remote::pull_candidates(context, &args.reference, target);
    let listing = sentinel_workflows::versions(&candidates, &args.reference, args.all).await?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&listing.rows)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&listing.rows)?),
        OutputFormat::Table => print_table(&listing),
    }
    Ok(())
}

/// The columns the source has: the tag list knows versions and tags only.
fn print_table(listing: &VersionListing) {
    let notes = |latest: bool, deprecated: Option<&str>| {
        let mut notes = Vec::new();
        if latest {
            notes.push("latest".to_string());
        }
        if let Some(message) = deprecated {
            notes.push(format!("DEPRECATED: {message}"));
        }
        notes.join(", ")
    };
    let dash = || "-".to_string();
    match listing.source {
        VersionSource::PackageApi => {
            let rows: Vec<Vec<String>> = listing
                .rows
                .iter()
                .map(|row| {
                    vec![
                        row.version.clone().unwrap_or_else(dash),
                        row.tag.clone(),
                        row.digest.as_deref().map_or_else(dash, short_digest),
                        row.created.clone().unwrap_or_else(dash),
                        row.size.map_or_else(dash, human_size),
                        row.downloads.map_or_else(dash, |count| count.to_string()),
                        notes(row.latest, row.deprecated.as_deref()),
                    ]
                })
                .collect();
            let headers = [
                "VERSION",
                "TAG",
                "DIGEST",
                "CREATED",
                "SIZE",
                "DOWNLOADS",
                "NOTES",
            ];
            table(&headers, &rows);
        }
        VersionSource::TagList => {
            let rows: Vec<Vec<String>> = listing
                .rows
                .iter()
                .map(|row| {
                    vec![
                        row.version.clone().unwrap_or_else(dash),
                        row.tag.clone(),
                        notes(row.latest, None),
                    ]
                })
                .collect();
            table(&["VERSION", "TAG", "NOTES"], &rows);
        }
    }
}
