//! `agent pull`: resolve, download and verify a package, keep it in the
//! local store, and extract it.

use sentinel_workflows::Extract;

use crate::cli::PullArgs;
use crate::context::Context;
use crate::output::say;
use crate::progress::{Bars, human_size};
use crate::remote::Remote;

/// Runs `agent pull`.
pub async fn run(context: &Context, args: PullArgs) -> anyhow::Result<()> {
    let target = context.target(&args.remote)?;
    let candidates = Remote::pull_candidates(context, &args.reference, target);
    let resolved = sentinel_workflows::resolve(&candidates, &args.reference).await?;
    if let Some(resolution) = resolved.resolution()
        && !args.quiet
    {
        say!("Resolved {} to {}", args.reference, resolution.version);
    }
    let trust = context.trust()?.always_verify(args.verify_signature);
    // Verified before the store is opened: a refusal leaves it untouched.
    if trust.must_verify(resolved.reference()) {
        let report = resolved.verify_signatures(&trust).await?;
        if !args.quiet {
            for check in report.valid() {
                say!(
                    "verified: signed by {} at {}",
                    check.key_ids.join(", "),
                    check.created.as_deref().unwrap_or("-")
                );
            }
        }
    }
    let store = context.store()?;
    let extract = match args.directory {
        _ if args.no_extract => Extract::No,
        Some(directory) => Extract::Into(directory),
        None => Extract::NamedDirectory,
    };
    let progress = Bars::new(args.quiet);
    let pulled = resolved
        .pull(&store, extract, Some(context.interrupted()), &progress)
        .await?;
    let reference = &pulled.reference;
    let manifest_digest = &pulled.manifest_digest;
    let definition = &pulled.definition;
    if args.quiet {
        say!("{reference}@{manifest_digest}");
    } else {
        say!("pulled {reference}");
        say!("digest: {manifest_digest}");
        say!(
            "{}:  {} {} ({})",
            definition.kind().as_str(),
            definition.name(),
            definition.version(),
            human_size(pulled.package_size)
        );
        if let Some((directory, summary)) = &pulled.extracted {
            say!(
                "files:  {} extracted into {}",
                summary.files,
                directory.display()
            );
        }
    }
    Ok(())
}
