//! `agent stack ...`: stacks pushed, pulled with their agents, searched and listed.

use sentinel_package::PackageKind;
use sentinel_workflows::StackPullRequest;

use crate::cli::{KindArg, StackCommand, StackPullArgs};
use crate::context::Context;
use crate::output::say;
use crate::progress::{Bars, human_size};
use crate::remote::Remote;

/// Runs an `agent stack` subcommand.
pub async fn run(context: &Context, command: StackCommand) -> anyhow::Result<()> {
    match command {
        StackCommand::Push(args) => super::push::run(context, args, Some(PackageKind::Stack)).await,
        StackCommand::Pull(args) => pull(context, args).await,
        StackCommand::Search(mut args) => {
            args.kind = Some(KindArg::Stack);
            super::search::run(context, args).await
        }
        StackCommand::Versions(args) => super::versions::run(context, args).await,
    }
}

/// `agent stack pull`.
async fn pull(context: &Context, args: StackPullArgs) -> anyhow::Result<()> {
    let target = context.target(&args.remote)?;
    let candidates = Remote::pull_candidates(context, &args.reference, target);
    let trust = context.trust()?.always_verify(args.verify_signature);
    let store = context.store()?;
    let request = StackPullRequest {
        reference: args.reference.clone(),
        directory: args.directory.clone(),
        extract_agents: args.extract_agents,
        update: args.update,
    };
    let progress = Bars::new(args.quiet);
    let report = sentinel_workflows::pull_stack(
        &candidates,
        &store,
        &request,
        &trust,
        Some(context.interrupted()),
        &progress,
    )
    .await?;
    let stack = &report.stack;
    if args.quiet {
        say!("{}@{}", stack.reference, stack.manifest_digest);
        for member in report.lock.iter().flat_map(|lock| &lock.agents) {
            say!("{}@{}", member.resolved.reference, member.resolved.digest);
        }
        return Ok(());
    }
    say!("pulled {}", stack.reference);
    say!("digest: {}", stack.manifest_digest);
    say!(
        "stack:  {} {} ({})",
        stack.definition.name(),
        stack.definition.version(),
        human_size(stack.package_size)
    );
    if let Some(lock) = &report.lock {
        let how = if report.from_lock {
            "as locked"
        } else {
            "resolved"
        };
        for member in &lock.agents {
            say!(
                "agent:  {} = {} ({how} from {}; {})",
                member.name,
                member.resolved.reference,
                member.reference,
                member.resolved.digest
            );
        }
        say!(
            "into:   {} (agents under agents/, digests in {})",
            report.directory.display(),
            sentinel_workflows::LOCK_FILE
        );
    } else if !report.directory.as_os_str().is_empty() {
        say!("into:   {}", report.directory.display());
    }
    Ok(())
}
