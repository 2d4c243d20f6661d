//! `agent search`: packages over the configured registries.

use sentinel_client::SearchQuery;
use sentinel_workflows::{SearchOutcome, SearchSource};

use crate::cli::{KindArg, OutputFormat, SearchArgs, SortArg};
use crate::config::Config;
use crate::context::{Context, Target};
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
    if searches_docker_hub(&target, context.config()) {
        eprintln!(
            "no registry is configured, so this searches docker.io: name one with --registry REGISTRY or set default_registry in the configuration"
        );
    }
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

/// Whether a search falls back to Docker Hub for want of a registry: no
/// `--registry`, `--profile` or `default_registry`, and no configured
/// registries. A name without a registry means Docker Hub, as docker says,
/// so a search with none configured is most likely a missing setting.
fn searches_docker_hub(target: &Target<'_>, config: &Config) -> bool {
    target.default_registry.is_none() && config.registries.is_empty()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_search_with_no_registry_at_all_falls_back_to_docker_hub() {
        let nowhere = Target {
            default_registry: None,
            profile: None,
        };
        assert!(searches_docker_hub(&nowhere, &Config::default()));
        let named = Target {
            default_registry: Some("localhost:5000".to_owned()),
            profile: None,
        };
        assert!(!searches_docker_hub(&named, &Config::default()));
        let configured: Config = serde_norway::from_str(
            "registries:\n  - url: http://localhost:5000\n    priority: 1\n",
        )
        .unwrap();
        assert!(!searches_docker_hub(&nowhere, &configured));
    }
}
