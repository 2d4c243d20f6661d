//! `agent login` and `agent logout`.

use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use sentinel_client::RegistryLocation;
use sentinel_credentials::{AgentCredentialStore, Credential, Environment};

use crate::cli::{LoginArgs, LogoutArgs, RemoteArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::say;

/// Runs `agent login`: checks the credentials against the registry, then
/// saves them (or the identity token the registry issued instead).
pub async fn login(context: &Context, args: LoginArgs) -> anyhow::Result<()> {
    let remote = RemoteArgs {
        registry: args.registry.clone(),
        profile: args.profile.clone(),
    };
    let registry = registry_argument(context, &remote)?;
    let location = RegistryLocation::parse(&registry)
        .map_err(|error| UsageError(format!("invalid registry {registry:?}: {error}")))?;
    let credential = credential_from_arguments(&args, location.host())?;
    let insecure = match &args.profile {
        Some(name) => context.config().profile(name)?.insecure,
        None => false,
    };
    let saved = sentinel_workflows::check_credential(&location, credential, insecure).await?;
    AgentCredentialStore::in_dir(context.config_dir()).save(location.host(), &saved)?;
    say!("Login succeeded for {}", location.host());
    Ok(())
}

/// The registry of a login or logout: the argument, the profile, the
/// configured default; else the user must name one.
fn registry_argument(context: &Context, remote: &RemoteArgs) -> anyhow::Result<String> {
    let target = context.target(remote)?;
    target.default_registry.ok_or_else(|| {
        UsageError(
            "name a registry: agent login REGISTRY (or set default_registry in the configuration)"
                .to_string(),
        )
        .into()
    })
}

/// The credential the user gave: a token, or a user name and a password
/// from standard input, the environment, or a prompt on a terminal.
fn credential_from_arguments(args: &LoginArgs, registry: &str) -> anyhow::Result<Credential> {
    let environment = Environment::from_process();
    if let Some(token) = &args.token {
        return Ok(Credential::Bearer {
            token: token.clone(),
        });
    }
    let username = match (&args.username, &environment.docker_username) {
        (Some(username), _) => username.clone(),
        (None, Some(username)) if !args.password_stdin => username.clone(),
        (None, _) if args.password_stdin => {
            return Err(UsageError("--password-stdin needs --username".to_string()).into());
        }
        (None, _) => {
            if let Some(token) = environment.registry_token.clone() {
                return Ok(Credential::Bearer { token });
            }
            prompt_line(&format!("Username for {registry}: "))?
        }
    };
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(password) = environment.docker_password.clone() {
        password
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Password for {username}@{registry}: "))
            .context("cannot read the password")?
    } else {
        return Err(UsageError(
            "no password: pass it with --password-stdin, or set DOCKER_PASSWORD".to_string(),
        )
        .into());
    };
    if password.is_empty() {
        return Err(UsageError("the password is empty".to_string()).into());
    }
    Ok(Credential::Basic { username, password })
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError("no user name: pass --username".to_string()).into());
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the user name")?;
    let line = line.trim().to_string();
    if line.is_empty() {
        return Err(UsageError("the user name is empty".to_string()).into());
    }
    Ok(line)
}

/// Runs `agent logout`.
pub fn logout(context: &Context, args: LogoutArgs) -> anyhow::Result<()> {
    let store = AgentCredentialStore::in_dir(context.config_dir());
    if args.all {
        let removed = store.erase_all()?;
        say!("Removed the credentials of {removed} registries");
        return Ok(());
    }
    let remote = RemoteArgs {
        registry: args.registry.clone(),
        profile: None,
    };
    let registry = registry_argument(context, &remote)?;
    let location = RegistryLocation::parse(&registry)
        .map_err(|error| UsageError(format!("invalid registry {registry:?}: {error}")))?;
    if store.erase(location.host())? {
        say!("Removed the credentials for {}", location.host());
    } else {
        say!("Not logged in to {}", location.host());
    }
    Ok(())
}
