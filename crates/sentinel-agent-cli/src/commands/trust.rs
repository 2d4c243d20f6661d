//! `agent trust ...`: the trust policy, `trust.yaml` in the configuration
//! directory.

use sentinel_signature::KeyId;
use sentinel_workflows::TrustFile;
use serde::Serialize;

use crate::cli::{OutputFormat, TrustAddArgs, TrustCommand, TrustListArgs, TrustRemoveArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{say, say_raw, table};

/// Runs an `agent trust` subcommand.
pub fn run(context: &Context, command: TrustCommand) -> anyhow::Result<()> {
    let mut file = TrustFile::load(context.config_dir())?;
    match command {
        TrustCommand::Add(args) => add(&mut file, args),
        TrustCommand::List(args) => list(&file, args),
        TrustCommand::Remove(args) => remove(&mut file, args),
    }
}

/// `agent trust add`.
fn add(file: &mut TrustFile, args: TrustAddArgs) -> anyhow::Result<()> {
    let key = sentinel_workflows::read_public_key(&args.key_file)?;
    let added = file.add(&args.scope, &key, args.require)?;
    file.save()?;
    let require = file
        .policy
        .scopes
        .iter()
        .find(|scope| scope.scope == args.scope)
        .is_some_and(|scope| scope.require);
    let verb = if added { "trusted" } else { "already trusted" };
    say!(
        "{verb}: {} in {} (require: {require})",
        key.id(),
        args.scope
    );
    Ok(())
}

/// A scope as `agent trust list` shows it.
#[derive(Serialize)]
struct ScopeRow {
    scope: String,
    require: bool,
    keys: Vec<String>,
}

/// `agent trust list`.
fn list(file: &TrustFile, args: TrustListArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for scope in &file.policy.scopes {
        let keys = file.keys_of(scope)?;
        rows.push(ScopeRow {
            scope: scope.scope.clone(),
            require: scope.require,
            keys: keys.iter().map(|key| key.id().to_string()).collect(),
        });
    }
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&rows)?),
        OutputFormat::Table => {
            let mut lines = Vec::new();
            for row in &rows {
                let require = if row.require { "yes" } else { "no" }.to_string();
                if row.keys.is_empty() {
                    lines.push(vec![row.scope.clone(), require.clone(), "-".to_string()]);
                }
                for key in &row.keys {
                    lines.push(vec![row.scope.clone(), require.clone(), key.clone()]);
                }
            }
            table(&["SCOPE", "REQUIRE", "KEY ID"], &lines);
        }
    }
    Ok(())
}

/// `agent trust remove`.
fn remove(file: &mut TrustFile, args: TrustRemoveArgs) -> anyhow::Result<()> {
    let key_id = args
        .key_id
        .as_deref()
        .map(|text| {
            text.parse::<KeyId>()
                .map_err(|error| UsageError(format!("invalid key id {text:?}: {error}")))
        })
        .transpose()?;
    file.remove(&args.scope, key_id.as_ref())?;
    file.save()?;
    match key_id {
        Some(key_id) => say!("removed {key_id} from {}", args.scope),
        None => say!("removed scope {}", args.scope),
    }
    Ok(())
}
