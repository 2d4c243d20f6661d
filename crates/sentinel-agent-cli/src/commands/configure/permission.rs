//! `agent configure permission add|remove|list REF`: a repository's grants.

use sentinel_client::{Access, RepositorySettings};

use super::repository_remote;
use crate::cli::{PermissionArg, PermissionCommand, RepositoryTarget};
use crate::commands::registry::{fields, print_structured};
use crate::context::Context;
use crate::output::{say, table};

/// Runs an `agent configure permission` subcommand.
pub async fn run(context: &Context, command: PermissionCommand) -> anyhow::Result<()> {
    match command {
        PermissionCommand::Add(args) => {
            let remote = repository_remote(context, &args.target.reference, &args.target.remote)?;
            let access = access(args.permission);
            let settings =
                sentinel_workflows::grant(&remote, &args.target.reference, &args.user, access)
                    .await?;
            if !print_structured(args.target.format, &settings)? {
                say!(
                    "granted {} on {} to {}",
                    access.as_str(),
                    settings.name,
                    args.user
                );
            }
        }
        PermissionCommand::Remove(args) => {
            let remote = repository_remote(context, &args.target.reference, &args.target.remote)?;
            let settings = sentinel_workflows::revoke(
                &remote,
                &args.target.reference,
                &args.user,
                args.permission.map(access),
            )
            .await?;
            if !print_structured(args.target.format, &settings)? {
                say!("removed the grant of {} on {}", args.user, settings.name);
            }
        }
        PermissionCommand::List(args) => list(context, &args.target).await?,
    }
    Ok(())
}

async fn list(context: &Context, target: &RepositoryTarget) -> anyhow::Result<()> {
    let remote = repository_remote(context, &target.reference, &target.remote)?;
    let settings = sentinel_workflows::repository_settings(&remote, &target.reference).await?;
    if !print_structured(target.format, &settings)? {
        print_settings(&settings);
    }
    Ok(())
}

fn print_settings(settings: &RepositorySettings) {
    fields(&[
        ("repository", settings.name.clone()),
        ("visibility", settings.visibility.clone()),
    ]);
    if settings.grants.is_empty() {
        say!("no grants");
        return;
    }
    let rows: Vec<Vec<String>> = settings
        .grants
        .iter()
        .map(|(user, access)| vec![user.clone(), access.clone()])
        .collect();
    table(&["USER", "PERMISSION"], &rows);
}

fn access(permission: PermissionArg) -> Access {
    match permission {
        PermissionArg::Read => Access::Read,
        PermissionArg::Write => Access::Write,
        PermissionArg::Admin => Access::Admin,
    }
}
