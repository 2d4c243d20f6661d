//! `agent inspect`: a package's manifest, definition, digests, sizes and
//! referrers, from the local store or a registry.

use sentinel_workflows::{DescriptorView, Inspection};

use crate::cli::{InspectArgs, OutputFormat};
use crate::context::Context;
use crate::output::{say, say_raw};
use crate::progress::human_size;
use crate::remote::Remote;

/// Runs `agent inspect`.
pub async fn run(context: &Context, args: InspectArgs) -> anyhow::Result<()> {
    let store = if args.remote_only {
        None
    } else {
        Some(context.store()?)
    };
    let registries = Remote::from_args(context, &args.remote);
    let inspection =
        sentinel_workflows::inspect(store.as_ref(), &registries, &args.reference).await?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&inspection)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&inspection)?),
        OutputFormat::Table => print_summary(&inspection)?,
    }
    Ok(())
}

fn print_summary(inspection: &Inspection) -> anyhow::Result<()> {
    say!("reference:      {}", inspection.reference);
    say!("source:         {}", inspection.source);
    say!("digest:         {}", inspection.digest);
    say!("media type:     {}", inspection.media_type);
    if let Some(artifact_type) = &inspection.artifact_type {
        say!("artifact type:  {artifact_type}");
    }
    say!("manifest size:  {} bytes", inspection.size);
    if !inspection.annotations.is_empty() {
        say!("annotations:");
        for (key, value) in &inspection.annotations {
            say!("  {key}: {value}");
        }
    }
    if let Some(config) = &inspection.config {
        say!("config:");
        print_descriptor(config);
    }
    if !inspection.layers.is_empty() {
        say!("layers:");
        for layer in &inspection.layers {
            print_descriptor(layer);
        }
    }
    if !inspection.manifests.is_empty() {
        say!("manifests:");
        for manifest in &inspection.manifests {
            print_descriptor(manifest);
        }
    }
    if let Some(referrers) = &inspection.referrers {
        if referrers.is_empty() {
            say!("referrers:      none");
        } else {
            say!("referrers:");
            for referrer in referrers {
                print_descriptor(referrer);
            }
        }
    }
    if let Some(definition) = &inspection.definition {
        say!("definition:");
        for line in serde_norway::to_string(definition)?.lines() {
            say!("  {line}");
        }
    }
    Ok(())
}

fn print_descriptor(descriptor: &DescriptorView) {
    let title = descriptor
        .title()
        .map(|title| format!("  {title}"))
        .unwrap_or_default();
    let kind = descriptor
        .artifact_type
        .as_deref()
        .unwrap_or(&descriptor.media_type);
    say!(
        "  {}  {:>10}  {kind}{title}",
        descriptor.digest,
        human_size(descriptor.size)
    );
}
