//! `agent verify`: check the signatures of a reference, or of a package
//! file against its detached signature, and say which trusted keys signed.

use std::path::Path;

use sentinel_workflows::VerifyReport;

use crate::cli::{OutputFormat, VerifyArgs};
use crate::context::Context;
use crate::output::{say, say_raw, short_digest, table};
use crate::remote::Remote;

/// Runs `agent verify`: success only with at least one valid signature by
/// a trusted key; otherwise the reason, with its exit code.
pub async fn run(context: &Context, args: VerifyArgs) -> anyhow::Result<()> {
    let keys = args
        .key
        .iter()
        .map(|path| sentinel_workflows::read_public_key(path))
        .collect::<Result<Vec<_>, _>>()?;
    let report = if args.detached {
        let (keys, trusted) = if keys.is_empty() {
            return Err(crate::exit::UsageError(
                "verify --detached needs the trusted keys: give --key FILE".to_string(),
            )
            .into());
        } else {
            (keys, "trusted: the keys given with --key".to_string())
        };
        sentinel_workflows::verify_detached(
            Path::new(&args.target),
            args.signature.as_deref(),
            &keys,
            trusted,
        )?
    } else {
        let trust = context.trust()?.with_keys(keys);
        let registries = Remote::from_args(context, &args.remote);
        sentinel_workflows::verify(&registries, &args.target, &trust).await?
    };
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&report)?),
        OutputFormat::Table => print_table(&report),
    }
    Ok(())
}

/// `verified SUBJECT`, then one row per signature found.
fn print_table(report: &VerifyReport) {
    if report.subject.ends_with(report.digest.as_str()) {
        say!("verified {}", report.subject);
    } else {
        say!("verified {} ({})", report.subject, report.digest);
    }
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = report
        .signatures
        .iter()
        .map(|check| {
            vec![
                if check.key_ids.is_empty() {
                    dash()
                } else {
                    check.key_ids.join(",")
                },
                check.created.clone().unwrap_or_else(dash),
                check.verdict.as_str().to_string(),
                check
                    .artifact
                    .as_ref()
                    .map_or_else(dash, |digest| short_digest(digest.as_str())),
            ]
        })
        .collect();
    table(&["KEY ID", "SIGNED", "STATUS", "SIGNATURE"], &rows);
}
