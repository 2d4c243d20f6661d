//! `agent sign`: sign what a reference names and push the signature, or
//! sign a package file into a detached signature file.

use std::path::Path;

use crate::cli::{OutputFormat, SignArgs};
use crate::commands::key::load_signing_key;
use crate::context::Context;
use crate::output::{say, say_raw};
use crate::remote::Remote;

/// Runs `agent sign`.
pub async fn run(context: &Context, args: SignArgs) -> anyhow::Result<()> {
    let key = load_signing_key(context, args.key.as_deref(), args.passphrase_stdin)?;
    if args.detached {
        let report = sentinel_workflows::sign_detached(
            Path::new(&args.target),
            args.output.as_deref(),
            &key,
        )?;
        match args.format {
            OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&report)?),
            OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&report)?),
            OutputFormat::Table => {
                say!("signed {}", report.file.display());
                say!("digest:    {}", report.digest);
                say!("key:       {}", report.key_id);
                say!("signature: {}", report.signature.display());
            }
        }
        return Ok(());
    }
    let registries = Remote::from_args(context, &args.remote);
    let report = sentinel_workflows::sign(&registries, &args.target, &key).await?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&report)?),
        OutputFormat::Table => {
            say!("signed {}", report.subject);
            say!("key:       {}", report.key_id);
            say!("created:   {}", report.created);
            say!("signature: {}", report.signature);
        }
    }
    Ok(())
}
