//! `agent configure immutable set|list|remove`: a registry's tag
//! immutability rules (administrators only).

use clap::{Args, Subcommand};
use sentinel_workflows::ImmutabilitySpec;

use super::{PatternArgs, client, print_structured};
use crate::cli::RegistryTarget;
use crate::context::Context;
use crate::output::{say, table};

/// `agent configure immutable ...`.
#[derive(Debug, Subcommand)]
pub enum ImmutableCommand {
    /// Make tags matching the tag patterns immutable in the repositories of
    /// a pattern (replacing its previous rule): once such a tag names a
    /// manifest, it is neither moved nor deleted, nor is that manifest.
    Set(ImmutableSetArgs),
    /// List the immutability rules.
    List(RegistryTarget),
    /// Remove the immutability rule of a pattern.
    Remove(PatternArgs),
}

/// Arguments of `agent configure immutable set`.
#[derive(Debug, Args)]
pub struct ImmutableSetArgs {
    /// NAME, NS/* or *.
    pub pattern: String,
    /// A tag pattern, `*` standing for any run of characters (`release-*`,
    /// `v*`); repeatable.
    #[arg(long = "tag", value_name = "TAG_PATTERN", required = true)]
    pub tags: Vec<String>,
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Runs an `agent configure immutable` subcommand.
pub async fn run(context: &Context, command: ImmutableCommand) -> anyhow::Result<()> {
    match command {
        ImmutableCommand::Set(args) => {
            let client = client(context, &args.target)?;
            let spec = ImmutabilitySpec {
                repositories: args.pattern,
                tags: args.tags,
                source: None,
            };
            let set = sentinel_workflows::set_immutability_rule(&client, &spec).await?;
            if !print_structured(args.target.format, &set)? {
                say!(
                    "tags {} of {} are now immutable",
                    set.tags.join(","),
                    set.repositories
                );
            }
            Ok(())
        }
        ImmutableCommand::List(target) => {
            let client = client(context, &target)?;
            let rules = sentinel_workflows::immutability_rules(&client).await?;
            if !print_structured(target.format, &rules)? {
                let rows: Vec<Vec<String>> = rules
                    .iter()
                    .map(|rule| {
                        vec![
                            rule.repositories.clone(),
                            rule.tags.join(","),
                            rule.source.clone().unwrap_or_else(|| "-".to_string()),
                        ]
                    })
                    .collect();
                table(&["REPOSITORIES", "TAGS", "SOURCE"], &rows);
            }
            Ok(())
        }
        ImmutableCommand::Remove(args) => {
            let client = client(context, &args.target)?;
            sentinel_workflows::remove_immutability_rule(&client, &args.pattern).await?;
            say!("removed the immutability rule of {}", args.pattern);
            Ok(())
        }
    }
}
