//! `agent configure visibility REF public|private|org`: who may pull a repository.

use sentinel_client::Visibility;

use super::repository_remote;
use crate::cli::{VisibilityArg, VisibilityArgs};
use crate::commands::registry::print_structured;
use crate::context::Context;
use crate::output::say;

/// Runs `agent configure visibility`.
pub async fn run(context: &Context, args: VisibilityArgs) -> anyhow::Result<()> {
    let remote = repository_remote(context, &args.reference, &args.remote)?;
    let visibility = match args.visibility {
        VisibilityArg::Public => Visibility::Public,
        VisibilityArg::Private => Visibility::Private,
        VisibilityArg::Org => Visibility::Organisation,
    };
    let settings = sentinel_workflows::set_visibility(&remote, &args.reference, visibility).await?;
    if !print_structured(args.format, &settings)? {
        say!("{} is now {}", settings.name, settings.visibility);
    }
    Ok(())
}
