//! The management subcommands: `user`, `token`, `org`, `repo`, `policy`
//! (its `retention`, `immutable` and `quota` subcommands are in
//! `lifecycle_policy`) and `rate-limit`. All but the last change the users
//! file (or a policy file) in the data directory directly, under its lock;
//! a running server picks the change up within a quarter of a second.
//! `rate-limit` asks the running server through its admin socket.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use sentinel_auth::{Access, AuthState, AuthStore, Role, TokenScope, Visibility};
use sentinel_token::Actions;

use crate::DataArgs;

/// `sentinel-registry user ...`
#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user. The password is read from stdin with --password-stdin,
    /// else generated and printed once.
    Add {
        /// The user name (also their namespace: NAME/...).
        name: String,
        /// reader (pulls what is public or granted), publisher (also pushes
        /// to their namespace and grants), admin (everything).
        #[arg(long, default_value = "publisher")]
        role: Role,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List users and their roles.
    List(DataArgs),
    /// Remove a user, with their tokens, memberships and grants.
    Remove {
        /// The user name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a user's password (read from stdin with --password-stdin, else
    /// generated and printed once). Their tokens from logins stop working.
    Passwd {
        /// The user name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Change a user's role.
    Role {
        /// The user name.
        name: String,
        /// reader, publisher or admin.
        role: Role,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `sentinel-registry token ...`
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a personal access token for a user; it is printed once.
    Create {
        /// The user the token acts for.
        user: String,
        /// A label, e.g. ci.
        #[arg(long)]
        name: String,
        /// Limit the token to these repositories (repeatable): NAME exactly,
        /// NS/* below a namespace, * all [default: all].
        #[arg(long = "repository", value_name = "PATTERN")]
        repositories: Vec<String>,
        /// Limit the token to these actions: pull, push, delete [default: all].
        #[arg(long, value_name = "pull,push,...")]
        actions: Option<Actions>,
        /// Expire the token after this many days [default: never].
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u64>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List personal access tokens (of one user, or everyone's).
    List {
        /// Only this user's tokens.
        user: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token at once.
    Revoke {
        /// The token id (the part after `sntl_`, as `token list` shows it).
        id: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `sentinel-registry org ...`
#[derive(Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organisation, which owns the namespace NAME/.
    Create {
        /// The organisation name.
        name: String,
        /// A user who becomes its admin.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List organisations and their members.
    List(DataArgs),
    /// Add a member (or change their role): reader pulls the
    /// organisation's organisation-visible repositories, publisher pulls and
    /// pushes all of them, admin also deletes and manages members.
    AddMember {
        /// The organisation.
        org: String,
        /// The user.
        user: String,
        /// reader, publisher or admin.
        #[arg(long, default_value = "publisher")]
        role: Role,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove a member.
    RemoveMember {
        /// The organisation.
        org: String,
        /// The user.
        user: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `sentinel-registry repo ...`
#[derive(Subcommand)]
pub(crate) enum RepoCommand {
    /// Set who can pull a repository without a grant: public (everyone,
    /// anonymous included), private (the default), organisation (members of
    /// the organisation that owns its namespace).
    Visibility {
        /// The repository, e.g. acme/planner.
        name: String,
        /// public, private or organisation.
        visibility: Visibility,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Grant a user read, write or admin on a repository.
    Grant {
        /// The repository.
        name: String,
        /// The user.
        user: String,
        /// read (pull), write (pull, push) or admin (also delete and manage).
        access: Access,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Take back a user's grant on a repository.
    Revoke {
        /// The repository.
        name: String,
        /// The user.
        user: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Show a repository's visibility and grants.
    Show {
        /// The repository.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `sentinel-registry policy ...`
#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Set the signature policy of a repository pattern (replacing the
    /// pattern's previous policy): the keys the registry trusts and whether
    /// pulls need a signature by one of them.
    Set {
        /// NAME, NS/* (every repository below NS/) or *; the most specific
        /// pattern covering a repository is its policy.
        pattern: String,
        /// Refuse pulls (manifests and their blobs) that no trusted key has
        /// signed; pushers may still read what they push.
        #[arg(long)]
        require_signature: bool,
        /// A trusted public key file (SPKI PEM, as `agent key export`
        /// writes); repeatable.
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<std::path::PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the signature policies: those of the policy file and, with
    /// --config, those of the configuration file.
    List(DataArgs),
    /// Remove the signature policy of a pattern.
    Remove(PatternArgs),
    /// Retention policies: which package versions are kept.
    #[command(subcommand)]
    Retention(crate::lifecycle_policy::RetentionCommand),
    /// Tag immutability rules: tags that never move.
    #[command(subcommand)]
    Immutable(crate::lifecycle_policy::ImmutableCommand),
    /// Namespace quotas: how many bytes a user or organisation may hold.
    #[command(subcommand)]
    Quota(crate::lifecycle_policy::QuotaCommand),
}

/// The arguments of the `remove` subcommands of `policy`.
#[derive(clap::Args)]
pub(crate) struct PatternArgs {
    /// The pattern, exactly as set.
    pub(crate) pattern: String,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

/// The users file of the data directory that `data` names.
fn store(data: &DataArgs) -> anyhow::Result<AuthStore> {
    let settings = data.resolve()?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    Ok(AuthStore::new(&settings.data_dir))
}

/// The users file of the existing data directory that `data` names.
fn existing_store(data: &DataArgs) -> anyhow::Result<AuthStore> {
    Ok(AuthStore::new(&data.existing()?.data_dir))
}

fn change<T>(
    data: &DataArgs,
    f: impl FnOnce(&mut AuthState) -> Result<T, sentinel_auth::AuthError>,
) -> anyhow::Result<T> {
    Ok(store(data)?.update(f)?.0)
}

/// A password from stdin's first line, or a generated one (then printed).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        Ok((crate::secret_from_stdin("password")?, false))
    } else {
        Ok((sentinel_registry::generate_password()?, true))
    }
}

/// Now, in whole seconds since the Unix epoch, as the users file records it.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs a `user` subcommand.
pub(crate) fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            data,
        } => {
            let (password, generated) = password(password_stdin)?;
            let first = change(&data, |state| {
                let first = state.users.is_empty();
                state
                    .add_user(&name, &password, role, now())
                    .map(|()| first)
            })?;
            println!("added user {name} ({role})");
            if first {
                println!(
                    "the first user: authentication turns on at the server's next start (it is on whenever users exist, unless --auth=false); a server running without it now goes on without it until restarted"
                );
                if role != Role::Admin {
                    println!(
                        "there is no administrator yet: add one with --role admin to manage users, tokens and policies over HTTP"
                    );
                }
            }
            if generated {
                println!("password: {password}");
                println!("(shown only now: it is stored hashed)");
            }
        }
        UserCommand::List(data) => {
            let state = existing_store(&data)?.load()?;
            println!("{:<24} {:<10}", "USER", "ROLE");
            for (name, user) in &state.users {
                println!("{name:<24} {:<10}", user.role.to_string());
            }
        }
        UserCommand::Remove { name, data } => {
            data.existing()?;
            change(&data, |state| state.remove_user(&name).map(drop))?;
            println!("removed user {name}");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            data,
        } => {
            let (password, generated) = password(password_stdin)?;
            change(&data, |state| state.set_password(&name, &password))?;
            println!("changed the password of {name}");
            if generated {
                println!("password: {password}");
                println!("(shown only now: it is stored hashed)");
            }
        }
        UserCommand::Role { name, role, data } => {
            change(&data, |state| state.set_role(&name, role))?;
            println!("{name} is now {role}");
        }
    }
    Ok(())
}

/// Runs a `token` subcommand.
pub(crate) fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            user,
            name,
            repositories,
            actions,
            expires_in_days,
            data,
        } => {
            if actions.is_some_and(Actions::is_empty) {
                bail!("a token needs at least one action: pull, push or delete");
            }
            let scope = TokenScope {
                repositories,
                // Unrestricted is stored as the empty set.
                actions: actions.unwrap_or(Actions::NONE),
            };
            let expires = match expires_in_days {
                Some(days) => Some(
                    days.checked_mul(86_400)
                        .and_then(|seconds| now().checked_add(seconds))
                        .context("--expires-in-days is too large")?,
                ),
                None => None,
            };
            let (token, text) = change(&data, |state| {
                state.create_token(&user, &name, scope, expires, now())
            })?;
            println!("created token {} for {}", token.id, token.user);
            println!("{text}");
            println!("(shown only now: it is stored hashed)");
        }
        TokenCommand::List { user, data } => {
            let state = existing_store(&data)?.load()?;
            println!(
                "{:<14} {:<16} {:<16} {:<18} {:<12} EXPIRES",
                "ID", "USER", "NAME", "REPOSITORIES", "ACTIONS"
            );
            for token in state.tokens_of(user.as_deref()) {
                let repositories = if token.scope.repositories.is_empty() {
                    "*".to_owned()
                } else {
                    token.scope.repositories.join(",")
                };
                let actions = if token.scope.actions.is_empty() {
                    Actions::ALL
                } else {
                    token.scope.actions
                };
                let expires = token.expires.map_or_else(
                    || "never".to_owned(),
                    |at| format!("in {}d", at.saturating_sub(now()) / 86_400),
                );
                println!(
                    "{:<14} {:<16} {:<16} {:<18} {:<12} {expires}",
                    token.id,
                    token.user,
                    token.name,
                    repositories,
                    actions.to_string()
                );
            }
        }
        TokenCommand::Revoke { id, data } => {
            let id = id
                .trim_start_matches(sentinel_auth::TOKEN_PREFIX)
                .to_owned();
            data.existing()?;
            change(&data, |state| state.revoke_token(&id).map(drop))?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

/// Runs an `org` subcommand.
pub(crate) fn org(command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { name, owner, data } => {
            change(&data, |state| {
                state.create_organisation(&name, owner.as_deref(), now())
            })?;
            println!("created organisation {name}");
        }
        OrgCommand::List(data) => {
            let state = existing_store(&data)?.load()?;
            for (name, org) in &state.organisations {
                let members: Vec<String> = org
                    .members
                    .iter()
                    .map(|(user, role)| format!("{user} ({role})"))
                    .collect();
                println!("{name}: {}", members.join(", "));
            }
        }
        OrgCommand::AddMember {
            org,
            user,
            role,
            data,
        } => {
            change(&data, |state| state.add_member(&org, &user, role))?;
            println!("{user} is a {role} of {org}");
        }
        OrgCommand::RemoveMember { org, user, data } => {
            data.existing()?;
            change(&data, |state| state.remove_member(&org, &user))?;
            println!("removed {user} from {org}");
        }
    }
    Ok(())
}

/// Runs a `repo` subcommand.
pub(crate) fn repo(command: RepoCommand) -> anyhow::Result<()> {
    match command {
        RepoCommand::Visibility {
            name,
            visibility,
            data,
        } => {
            change(&data, |state| state.set_visibility(&name, visibility))?;
            println!("{name} is now {visibility}");
        }
        RepoCommand::Grant {
            name,
            user,
            access,
            data,
        } => {
            change(&data, |state| state.grant(&name, &user, access))?;
            println!("granted {user} {access} on {name}");
        }
        RepoCommand::Revoke { name, user, data } => {
            data.existing()?;
            change(&data, |state| state.revoke_grant(&name, &user))?;
            println!("revoked {user}'s grant on {name}");
        }
        RepoCommand::Show { name, data } => {
            let state = existing_store(&data)?.load()?;
            let policy = state.policy(&name);
            println!("{name}: {}", policy.visibility);
            for (user, access) in &policy.grants {
                println!("  {user}: {access}");
            }
        }
    }
    Ok(())
}

/// The signature policy file of the data directory of `settings`, and
/// the policies the configuration file (if given) sets.
fn policy_file(
    settings: sentinel_registry::Settings,
) -> anyhow::Result<(
    sentinel_trust::PolicyFile,
    Vec<sentinel_registry::ConfiguredPolicy>,
)> {
    Ok((
        sentinel_trust::PolicyFile::new(&settings.data_dir),
        settings.signature_policies,
    ))
}

/// Runs a `policy` subcommand.
pub(crate) fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    use sentinel_trust::{RepositoryPattern, SignaturePolicy, TrustError};
    let configured_error = |configured: &[sentinel_registry::ConfiguredPolicy],
                            pattern: &RepositoryPattern| {
        configured
            .iter()
            .any(|c| c.repositories == pattern.to_string())
            .then(|| TrustError::Configured(pattern.to_string()))
    };
    match command {
        PolicyCommand::Set {
            pattern,
            require_signature,
            keys,
            data,
        } => {
            let (file, configured) = policy_file(data.resolve()?)?;
            let pattern: RepositoryPattern = pattern.parse()?;
            if let Some(error) = configured_error(&configured, &pattern) {
                return Err(error.into());
            }
            let keys = keys
                .iter()
                .map(|path| sentinel_trust::read_key_file(path))
                .collect::<Result<Vec<_>, _>>()?;
            let policy = SignaturePolicy::new(pattern.clone(), require_signature, keys)?;
            let ids: Vec<String> = policy.key_ids().iter().map(ToString::to_string).collect();
            file.set(policy)?;
            println!(
                "{pattern}: {}; trusted keys: {}",
                if require_signature {
                    "signatures required"
                } else {
                    "signatures not required"
                },
                if ids.is_empty() {
                    "none".to_owned()
                } else {
                    ids.join(", ")
                }
            );
        }
        PolicyCommand::List(data) => {
            let (file, configured) = policy_file(data.existing()?)?;
            println!(
                "{:<32} {:<9} {:<14} KEYS",
                "REPOSITORIES", "REQUIRED", "SOURCE"
            );
            for policy in &configured {
                let keys: Vec<String> = policy
                    .keys
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect();
                println!(
                    "{:<32} {:<9} {:<14} {}",
                    policy.repositories,
                    if policy.require { "yes" } else { "no" },
                    "configuration",
                    keys.join(", ")
                );
            }
            for policy in file.load()? {
                let ids: Vec<String> = policy.key_ids().iter().map(ToString::to_string).collect();
                let overridden = configured
                    .iter()
                    .any(|c| c.repositories == policy.repositories.to_string());
                println!(
                    "{:<32} {:<9} {:<14} {}",
                    policy.repositories.to_string(),
                    if policy.require_signature {
                        "yes"
                    } else {
                        "no"
                    },
                    if overridden { "file (unused)" } else { "file" },
                    ids.join(", ")
                );
            }
        }
        PolicyCommand::Remove(PatternArgs { pattern, data }) => {
            let (file, configured) = policy_file(data.existing()?)?;
            let pattern: RepositoryPattern = pattern.parse()?;
            if let Some(error) = configured_error(&configured, &pattern) {
                return Err(error.into());
            }
            file.remove(&pattern)?;
            println!("removed the signature policy of {pattern}");
        }
        PolicyCommand::Retention(command) => crate::lifecycle_policy::retention(command)?,
        PolicyCommand::Immutable(command) => crate::lifecycle_policy::immutable(command)?,
        PolicyCommand::Quota(command) => crate::lifecycle_policy::quota(command)?,
    }
    Ok(())
}

/// `sentinel-registry rate-limit`: without a change, shows the limits.
#[derive(clap::Args)]
pub(crate) struct RateLimitArgs {
    /// Requests per minute (0: no limit).
    #[arg(long, value_name = "N")]
    requests_per_minute: Option<u32>,
    /// Requests at once before the rate holds them back (0: one second's worth).
    #[arg(long, value_name = "M")]
    burst_size: Option<u32>,
    /// Change only this limit: address or user [default: both].
    #[arg(long, value_parser = ["address", "user"])]
    per: Option<String>,
    /// Forget the changes and return to the limits of the settings.
    #[arg(long, conflicts_with_all = ["requests_per_minute", "burst_size", "per"])]
    reset: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Shows or changes the running server's rate limits through its admin socket.
pub(crate) async fn rate_limit(args: RateLimitArgs) -> anyhow::Result<()> {
    use axum::http::Method;
    use sentinel_registry::admin::{self, AdminError};

    let settings = args.data.resolve()?;
    let changes = args.requests_per_minute.is_some() || args.burst_size.is_some();
    let (method, body) = if args.reset {
        (Method::DELETE, None)
    } else if changes {
        let mut body = serde_json::Map::new();
        if let Some(rate) = args.requests_per_minute {
            body.insert("requests_per_minute".into(), rate.into());
        }
        if let Some(burst) = args.burst_size {
            body.insert("burst_size".into(), burst.into());
        }
        if let Some(per) = args.per {
            body.insert("per".into(), per.into());
        }
        (Method::PUT, Some(body.into()))
    } else if args.per.is_some() {
        bail!("--per needs --requests-per-minute, --burst-size or both");
    } else {
        (Method::GET, None)
    };
    let answer = admin::call(
        &settings.data_dir,
        method,
        "/api/v1/settings/rate-limit",
        body,
    )
    .await
    .map_err(|error| match error {
        AdminError::NotRunning(_) => anyhow::anyhow!(
            "{error}: the rate limits change only while the server runs; start it, or set \
             --rate-limit-per-address, --rate-limit-per-user and --rate-limit-burst"
        ),
        AdminError::Refused { message, .. } => anyhow::anyhow!("the server refused: {message}"),
        other => anyhow::Error::new(other),
    })?;
    let limit = |key: &str| {
        let rate = answer[key]["requests_per_minute"].as_u64().unwrap_or(0);
        let burst = answer[key]["burst_size"].as_u64().unwrap_or(0);
        if rate == 0 {
            "no limit".to_owned()
        } else {
            format!("{rate} requests per minute, bursts of {burst}")
        }
    };
    println!("per address: {}", limit("per_address"));
    println!("per user:    {}", limit("per_user"));
    println!(
        "source:      {}",
        answer["source"].as_str().unwrap_or("unknown")
    );
    Ok(())
}
