//! `agent key ...`: signing keys in the configuration directory, and the
//! passphrase of an encrypted key.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use sentinel_signature::SigningKey;
use sentinel_workflows::{DEFAULT_KEY_NAME, KeyDirectory};
use zeroize::Zeroizing;

use crate::cli::{KeyCommand, KeyExportArgs, KeyGenerateArgs, KeyListArgs, OutputFormat};
use crate::context::Context;
use crate::exit::{LockedKey, UsageError};
use crate::output::{say, say_raw, table};

/// The environment variable holding a key's passphrase, for scripts.
pub const PASSPHRASE_VARIABLE: &str = "AGENT_KEY_PASSPHRASE";

/// Runs an `agent key` subcommand.
pub fn run(context: &Context, command: KeyCommand) -> anyhow::Result<()> {
    let keys = KeyDirectory::new(context.config_dir());
    match command {
        KeyCommand::Generate(args) => generate(&keys, args),
        KeyCommand::List(args) => list(&keys, args),
        KeyCommand::Export(args) => export(&keys, args),
    }
}

/// `agent key generate`.
fn generate(keys: &KeyDirectory, args: KeyGenerateArgs) -> anyhow::Result<()> {
    let passphrase = if args.passphrase_stdin {
        Some(read_stdin_passphrase()?)
    } else {
        from_environment()
    };
    let made = keys.generate(
        &args.name,
        passphrase.as_deref().map(String::as_str),
        args.force,
    )?;
    say!("generated key {}", made.name);
    say!("key id:  {}", made.key_id);
    say!(
        "private: {} ({})",
        made.private_path.display(),
        if made.encrypted {
            "encrypted"
        } else {
            "not encrypted"
        }
    );
    say!("public:  {}", made.public_path.display());
    Ok(())
}

/// `agent key list`.
fn list(keys: &KeyDirectory, args: KeyListArgs) -> anyhow::Result<()> {
    let entries = keys.list()?;
    match args.format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(&entries)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(&entries)?),
        OutputFormat::Table => {
            let dash = || "-".to_string();
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|entry| {
                    vec![
                        entry.name.clone(),
                        entry.key_id.as_ref().map_or_else(dash, ToString::to_string),
                        if entry.encrypted { "yes" } else { "no" }.to_string(),
                        entry.created.clone().unwrap_or_else(dash),
                    ]
                })
                .collect();
            table(&["NAME", "KEY ID", "ENCRYPTED", "CREATED"], &rows);
        }
    }
    Ok(())
}

/// `agent key export`.
fn export(keys: &KeyDirectory, args: KeyExportArgs) -> anyhow::Result<()> {
    let pem = keys.public_pem(&args.name)?;
    match args.output {
        Some(path) => std::fs::write(&path, pem.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => say_raw!("{pem}"),
    }
    Ok(())
}

/// The signing key `spec` names (default: the key named `default`),
/// asking for its passphrase only when it is encrypted: from standard
/// input with `passphrase_stdin`, else `AGENT_KEY_PASSPHRASE`, else a
/// prompt when standard input is a terminal.
pub fn load_signing_key(
    context: &Context,
    spec: Option<&str>,
    passphrase_stdin: bool,
) -> anyhow::Result<SigningKey> {
    let keys = KeyDirectory::new(context.config_dir());
    let spec = spec.unwrap_or(DEFAULT_KEY_NAME);
    let passphrase = if keys.is_encrypted(spec)? {
        if passphrase_stdin {
            Some(read_stdin_passphrase()?)
        } else if let Some(passphrase) = from_environment() {
            Some(passphrase)
        } else if std::io::stdin().is_terminal() {
            let prompt = format!("passphrase for key {spec}: ");
            Some(Zeroizing::new(
                rpassword::prompt_password(prompt).context("cannot read the passphrase")?,
            ))
        } else {
            return Err(LockedKey(format!(
                "the key {spec} is encrypted: give its passphrase with {PASSPHRASE_VARIABLE} or --passphrase-stdin"
            ))
            .into());
        }
    } else {
        None
    };
    Ok(keys.load_signing_key(spec, || passphrase)?)
}

/// `AGENT_KEY_PASSPHRASE`, when set and not empty.
fn from_environment() -> Option<Zeroizing<String>> {
    std::env::var(PASSPHRASE_VARIABLE)
        .ok()
        .filter(|value| !value.is_empty())
        .map(Zeroizing::new)
}

/// One line of standard input, without its line ending.
fn read_stdin_passphrase() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from standard input")?;
    let passphrase = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
    if passphrase.is_empty() {
        return Err(UsageError("the passphrase on standard input is empty".to_string()).into());
    }
    Ok(passphrase)
}
