//! `agent pack` and `agent unpack`.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context as _;

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
    let summary =
        sentinel_workflows::unpack_file(&args.file, &target, Some(context.interrupted())).await?;
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
