//! `agent pack` and `agent unpack`.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sentinel_package::{UnpackOptions, UnpackSummary};

use crate::cli::{PackArgs, UnpackArgs};
use crate::context::Context;
use crate::output::say;
use crate::progress::human_size;

/// Packs a directory into a reproducible `.sntl` file.
pub fn pack(args: PackArgs) -> anyhow::Result<()> {
    let source = sentinel_package::load_dir(&args.dir)?;
    let output = match args.output {
        Some(output) => output,
        None => PathBuf::from(sentinel_package::default_file_name(&source.definition)),
    };
    let summary = sentinel_package::pack_to_file(&args.dir, &output)?;
    say!(
        "packed {} {} {} ({} files)",
        summary.kind.as_str(),
        summary.definition.name(),
        summary.definition.version(),
        summary.files
    );
    say!("file:   {}", output.display());
    say!("digest: {}", summary.digest);
    say!(
        "size:   {} ({} bytes)",
        human_size(summary.size),
        summary.size
    );
    Ok(())
}

/// Unpacks a `.sntl` file into a new directory, verifying every file.
pub async fn unpack(context: &Context, args: UnpackArgs) -> anyhow::Result<()> {
    let target = match args.directory {
        Some(directory) => directory,
        None => {
            let file = File::open(&args.file)
                .with_context(|| format!("cannot open {}", args.file.display()))?;
            let contents = sentinel_package::read_package(file)?;
            PathBuf::from(contents.definition.name())
        }
    };
    let summary = unpack_file(context, &args.file, &target).await?;
    say!(
        "unpacked {} {} {} into {} ({} files, {})",
        summary.kind.as_str(),
        summary.definition.name(),
        summary.definition.version(),
        target.display(),
        summary.files,
        human_size(summary.bytes)
    );
    Ok(())
}

/// Unpacks `file` into `target` on a blocking thread that stops, and removes
/// its partial output, when the user presses Ctrl-C.
pub async fn unpack_file(
    context: &Context,
    file: &Path,
    target: &Path,
) -> anyhow::Result<UnpackSummary> {
    let reader = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let target = target.to_path_buf();
    let options = UnpackOptions {
        cancel: Some(context.interrupted()),
        ..UnpackOptions::default()
    };
    let summary = tokio::task::spawn_blocking(move || {
        sentinel_package::unpack(std::io::BufReader::new(reader), &target, &options)
    })
    .await
    .context("the unpacking thread failed")??;
    Ok(summary)
}
