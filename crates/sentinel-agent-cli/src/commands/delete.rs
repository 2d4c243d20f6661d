//! `agent delete`: a tag, or a manifest with every tag that names it, from
//! a registry, after saying what goes and asking (unless `--yes`).

use std::io::IsTerminal;

use anyhow::Context as _;
use sentinel_workflows::{Deleted, Deletion};

use crate::cli::{DeleteArgs, OutputFormat};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{say, say_raw};
use crate::remote::Remote;

/// Runs `agent delete`.
pub async fn run(context: &Context, args: DeleteArgs) -> anyhow::Result<()> {
    let registries = Remote::from_args(context, &args.remote);
    let deletion = Deletion::plan(&registries, &args.reference).await?;
    if !args.yes {
        confirm(&deletion)?;
    }
    let report = deletion.apply().await?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&report)?),
        OutputFormat::Table => match report.deleted {
            Deleted::Tag => say!(
                "deleted tag {} (it named {})",
                report.reference,
                report.digest
            ),
            Deleted::Manifest => say!("deleted manifest {} and its tags", report.reference),
        },
    }
    Ok(())
}

/// Asks on the terminal whether to go on; a script must say `--yes`.
fn confirm(deletion: &Deletion) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "not deleting {} without --yes: standard input is not a terminal to ask on",
            deletion.target()
        ))
        .into());
    }
    eprint!("Delete {}? [y/N] ", deletion.describe());
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        // Exit code 1: nothing was done, as asked, but not what the command says.
        Err(anyhow::anyhow!("{} was not deleted", deletion.target()))
    }
}
