//! `agent configure quota set|list|remove|usage`: a registry's namespace
//! quotas (administrators) and one namespace's usage (its own users too).

use clap::{Args, Subcommand};
use sentinel_workflows::NamespaceQuota;

use super::{client, print_structured};
use crate::cli::RegistryTarget;
use crate::context::Context;
use crate::output::{say, table};
use crate::progress::human_size;

/// `agent configure quota ...`.
#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set how many bytes of distinct blobs a namespace may hold.
    Set(QuotaSetArgs),
    /// List every namespace's usage and quota.
    List(RegistryTarget),
    /// Remove the quota of a namespace.
    Remove(NamespaceArgs),
    /// Show a namespace's usage and quota.
    Usage(NamespaceArgs),
}

/// Arguments of `agent configure quota set`.
#[derive(Debug, Args)]
pub struct QuotaSetArgs {
    /// The namespace (a user or an organisation).
    pub namespace: String,
    /// The quota: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB,
    /// GiB or TiB (`10GiB`).
    pub size: String,
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments naming a namespace.
#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// The namespace (a user or an organisation).
    pub namespace: String,
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// A namespace's figures as a table row.
fn row(figures: &NamespaceQuota) -> Vec<String> {
    vec![
        figures.namespace.clone(),
        human_size(figures.usage),
        figures.quota.map_or_else(|| "-".to_string(), human_size),
        figures.quota.filter(|quota| *quota > 0).map_or_else(
            || "-".to_string(),
            |quota| format!("{:.0}%", figures.usage as f64 * 100.0 / quota as f64),
        ),
    ]
}

const HEADERS: [&str; 4] = ["NAMESPACE", "USAGE", "QUOTA", "USED"];

/// Runs an `agent configure quota` subcommand.
pub async fn run(context: &Context, command: QuotaCommand) -> anyhow::Result<()> {
    match command {
        QuotaCommand::Set(args) => {
            let client = client(context, &args.target)?;
            let set = sentinel_workflows::set_quota(&client, &args.namespace, &args.size).await?;
            if !print_structured(args.target.format, &set)? {
                say!(
                    "{} may hold {}; it holds {}",
                    set.namespace,
                    set.quota.map_or_else(|| "-".to_string(), human_size),
                    human_size(set.usage)
                );
            }
            Ok(())
        }
        QuotaCommand::List(target) => {
            let client = client(context, &target)?;
            let quotas = sentinel_workflows::quotas(&client).await?;
            if !print_structured(target.format, &quotas)? {
                let rows: Vec<Vec<String>> = quotas.iter().map(row).collect();
                table(&HEADERS, &rows);
            }
            Ok(())
        }
        QuotaCommand::Remove(args) => {
            let client = client(context, &args.target)?;
            sentinel_workflows::remove_quota(&client, &args.namespace).await?;
            say!("removed the quota of {}", args.namespace);
            Ok(())
        }
        QuotaCommand::Usage(args) => {
            let client = client(context, &args.target)?;
            let usage = sentinel_workflows::namespace_usage(&client, &args.namespace).await?;
            if !print_structured(args.target.format, &usage)? {
                table(&HEADERS, &[row(&usage)]);
            }
            Ok(())
        }
    }
}
