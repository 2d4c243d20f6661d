//! `agent search`: packages over the configured registries.

use sentinel_client::SearchQuery;
use sentinel_workflows::{SearchOutcome, SearchSource};

use crate::cli::{KindArg, OutputFormat, SearchArgs, SortArg};
use crate::context::Context;
use crate::output::{say, say_raw, table};
use crate::remote::Remote;

/// The most characters of a description shown in the table.
const DESCRIPTION_WIDTH: usize = 60;

/// Runs `agent search`.
pub async fn run(context: &Context, args: SearchArgs) -> anyhow::Result<()> {
    let query = SearchQuery {
        text: args.query.clone(),
        kind: args.kind.map(|kind| {
            match kind {
                KindArg::Agent => "agent",
                KindArg::Stack => "stack",
            }
            .to_owned()
        }),
        capability: args.capability.clone(),
        author: args.author.clone(),
        tag: args.tag.clone(),
        sort: Some(
            match args.sort {
                SortArg::Relevance => "relevance",
                SortArg::Downloads => "downloads",
                SortArg::Updated => "updated",
                SortArg::Name => "name",
            }
            .to_owned(),
        ),
        limit: Some(args.limit),
        signed: args.signed,
    };
    let target = context.target(&args.remote)?;
    let candidates = Remote::pull_candidates(context, "", target);
    let outcome = sentinel_workflows::search(&candidates, &query).await?;
    report_registries(&outcome);
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&outcome.rows)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&outcome.rows)?),
        OutputFormat::Table => print_table(&outcome),
    }
    Ok(())
}

/// One line on stderr for each registry that could not search.
fn report_registries(outcome: &SearchOutcome) {
    for (registry, source) in &outcome.registries {
        match source {
            SearchSource::PackageSearch => {}
            SearchSource::Catalog => eprintln!(
                "{registry} does not support search; listing the names in its catalog that match"
            ),
            SearchSource::Unsupported => eprintln!("{registry} does not support search"),
            SearchSource::Failed(error) => eprintln!("{registry} could not be searched: {error}"),
        }
    }
}

fn print_table(outcome: &SearchOutcome) {
    let several = outcome.registries.len() > 1;
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = outcome
        .rows
        .iter()
        .map(|row| {
            let name = if several {
                format!("{}/{}", row.registry, row.name)
            } else {
                row.name.clone()
            };
            let description: String = row
                .description
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(DESCRIPTION_WIDTH)
                .collect();
            vec![
                name,
                row.kind.clone().unwrap_or_else(dash),
                row.latest.clone().unwrap_or_else(dash),
                row.downloads.map_or_else(dash, |n| n.to_string()),
                row.capabilities.join(","),
                description,
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "KIND",
            "LATEST",
            "DOWNLOADS",
            "CAPABILITIES",
            "DESCRIPTION",
        ],
        &rows,
    );
}
