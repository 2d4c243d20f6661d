//! `agent copy`: a package or image, with everything it references and its
//! referrers, from one registry to another.

use sentinel_workflows::{CopyReport, CopyRequest};

use crate::cli::{CopyArgs, OutputFormat};
use crate::context::Context;
use crate::output::{say, say_raw};
use crate::progress::{Bars, human_size};
use crate::remote::Remote;

/// Runs `agent copy`.
pub async fn run(context: &Context, args: CopyArgs) -> anyhow::Result<()> {
    let request = CopyRequest {
        source: args.source,
        destination: args.destination,
        all_tags: args.all_tags,
    };
    let registries = Remote::from_args(context, &args.remote);
    let progress = Bars::new(args.quiet || args.format != OutputFormat::Table);
    let report = sentinel_workflows::copy(&registries, &request, &progress).await?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&report)?),
        OutputFormat::Table if args.quiet => {
            for tag in &report.tags {
                say!("{}@{}", tag.destination, tag.digest);
            }
        }
        OutputFormat::Table => print_summary(&report),
    }
    Ok(())
}

fn print_summary(report: &CopyReport) {
    for tag in &report.tags {
        let note = if tag.tagged { "" } else { " (already there)" };
        say!("copied {} to {}{note}", tag.source, tag.destination);
        say!("digest: {}", tag.digest);
    }
    say!(
        "manifests: {} copied, {} already there",
        report.manifests.copied,
        report.manifests.skipped
    );
    say!(
        "referrers: {} copied, {} already there, {} indexed by the client in the referrers tag schema",
        report.referrers.copied,
        report.referrers.skipped,
        report.indexed_by_client
    );
    let blobs = &report.blobs;
    say!(
        "blobs:     {} copied ({}), {} mounted ({}), {} already there ({})",
        blobs.copied,
        human_size(blobs.copied_bytes),
        blobs.mounted,
        human_size(blobs.mounted_bytes),
        blobs.skipped,
        human_size(blobs.skipped_bytes)
    );
}
