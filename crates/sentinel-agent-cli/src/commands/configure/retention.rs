//! `agent configure retention set|list|remove|run`: a registry's retention
//! policies, and applying them now (administrators only).

use clap::{Args, Subcommand};
use sentinel_workflows::{RetentionRun, RetentionSpec, RetiredVersion};

use super::{PatternArgs, client, print_structured};
use crate::cli::RegistryTarget;
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{say, table};

/// `agent configure retention ...`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Set the retention policy of a repository pattern (replacing its
    /// previous one); a version is kept when any rule keeps it.
    Set(RetentionSetArgs),
    /// List the retention policies.
    List(RegistryTarget),
    /// Remove the retention policy of a pattern.
    Remove(PatternArgs),
    /// Apply the retention policies now: delete the versions they do not
    /// keep (with --dry-run, only list them).
    Run(RetentionRunArgs),
}

/// Arguments of `agent configure retention set`.
#[derive(Debug, Args)]
pub struct RetentionSetArgs {
    /// NAME, NS/* or *.
    pub pattern: String,
    /// Keep the highest N versions (semver order).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep versions pushed in the last D days.
    #[arg(long, value_name = "D")]
    pub keep_days: Option<u32>,
    /// Keep versions matching a semver requirement (`>=1.0.0`, `^2`).
    #[arg(long, value_name = "REQ")]
    pub keep_matching: Option<String>,
    /// Do not keep agent versions just because a kept stack names them.
    #[arg(long)]
    pub no_keep_stack_members: bool,
    /// Do not keep versions just because a trusted key signed them.
    #[arg(long)]
    pub no_keep_signed: bool,
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent configure retention run`.
#[derive(Debug, Args)]
pub struct RetentionRunArgs {
    /// List what the policies would delete, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Runs an `agent configure retention` subcommand.
pub async fn run(context: &Context, command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Set(args) => {
            if args.keep_last.is_none() && args.keep_days.is_none() && args.keep_matching.is_none()
            {
                return Err(UsageError(
                    "say what to keep: --keep-last, --keep-days or --keep-matching".to_string(),
                )
                .into());
            }
            let client = client(context, &args.target)?;
            let spec = RetentionSpec {
                repositories: args.pattern,
                keep_last: args.keep_last,
                keep_days: args.keep_days,
                keep_matching: args.keep_matching,
                keep_stack_members: !args.no_keep_stack_members,
                keep_signed: !args.no_keep_signed,
                source: None,
            };
            let set = sentinel_workflows::set_retention_policy(&client, &spec).await?;
            if !print_structured(args.target.format, &set)? {
                say!("set the retention policy of {}", set.repositories);
            }
            Ok(())
        }
        RetentionCommand::List(target) => {
            let client = client(context, &target)?;
            let policies = sentinel_workflows::retention_policies(&client).await?;
            if !print_structured(target.format, &policies)? {
                let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
                let yes_no = |value: bool| if value { "yes" } else { "no" }.to_string();
                let rows: Vec<Vec<String>> = policies
                    .iter()
                    .map(|p| {
                        vec![
                            p.repositories.clone(),
                            optional(p.keep_last.map(|n| n.to_string())),
                            optional(p.keep_days.map(|n| n.to_string())),
                            optional(p.keep_matching.clone()),
                            yes_no(p.keep_stack_members),
                            yes_no(p.keep_signed),
                            optional(p.source.clone()),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "REPOSITORIES",
                        "LAST",
                        "DAYS",
                        "MATCHING",
                        "STACKS",
                        "SIGNED",
                        "SOURCE",
                    ],
                    &rows,
                );
            }
            Ok(())
        }
        RetentionCommand::Remove(args) => {
            let client = client(context, &args.target)?;
            sentinel_workflows::remove_retention_policy(&client, &args.pattern).await?;
            say!("removed the retention policy of {}", args.pattern);
            Ok(())
        }
        RetentionCommand::Run(args) => {
            let client = client(context, &args.target)?;
            let run = sentinel_workflows::run_retention(&client, args.dry_run).await?;
            if !print_structured(args.target.format, &run)? {
                print_run(&run);
            }
            if run.failed.is_empty() {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "retention could not delete {} of the {} versions it removes",
                    run.failed.len(),
                    run.failed.len() + run.removed.len()
                ))
            }
        }
    }
}

/// What a run removed (or would), then what it failed to remove.
fn print_run(run: &RetentionRun) {
    let removed = run.removed.len();
    let verb = if run.dry_run {
        "would remove"
    } else {
        "removed"
    };
    say!(
        "{verb} {removed} of {} versions ({} kept)",
        run.examined,
        run.kept
    );
    let row = |version: &RetiredVersion| {
        vec![
            version.repository.clone(),
            version.version.clone(),
            version.tag.clone().unwrap_or_else(|| "-".to_string()),
            version.pushed_at.clone(),
        ]
    };
    if removed > 0 {
        let rows: Vec<Vec<String>> = run.removed.iter().map(row).collect();
        table(&["REPOSITORY", "VERSION", "TAG", "PUSHED"], &rows);
    }
    if !run.failed.is_empty() {
        say!("could not delete {}:", run.failed.len());
        let rows: Vec<Vec<String>> = run
            .failed
            .iter()
            .map(|version| {
                let mut row = row(version);
                row.push(version.error.clone().unwrap_or_default());
                row
            })
            .collect();
        table(&["REPOSITORY", "VERSION", "TAG", "PUSHED", "ERROR"], &rows);
    }
}
