//! `agent push`: pack (or take) a package, record it in the local store, and
//! push its blobs and manifest.

use std::path::{Path, PathBuf};

use sentinel_client::Visibility;
use sentinel_package::PackageKind;
use sentinel_workflows::PushRequest;

use crate::cli::{PushArgs, VisibilityArg};
use crate::commands::key::load_signing_key;
use crate::context::Context;
use crate::output::say;
use crate::progress::{Bars, human_size};
use crate::remote::Remote;

/// Runs `agent push`, or `agent stack push` (with `kind`, only that kind).
pub async fn run(
    context: &Context,
    args: PushArgs,
    kind: Option<PackageKind>,
) -> anyhow::Result<()> {
    let (reference, dir, positional_file) =
        split_positionals(args.reference.clone(), args.dir.clone());
    let sign_with = if args.sign {
        Some(load_signing_key(context, args.key.as_deref(), false)?)
    } else {
        None
    };
    let request = PushRequest {
        reference,
        dir,
        file: args.file.clone().or(positional_file),
        description: args.description.clone(),
        all_tags: args.all_tags,
        visibility: visibility(&args),
        kind,
        sign_with,
    };
    let target = context.target(&args.remote)?;
    let store = context.store()?;
    let registries = Remote::fixed(context, target);
    let progress = Bars::new(args.quiet);
    sentinel_workflows::push(&store, &registries, &request, &progress, |tagged, report| {
        if args.quiet {
            say!("{tagged}@{}", report.digest);
        } else {
            say!("pushed {tagged}");
            say!("digest: {}", report.digest);
            say!(
                "size:   {} ({} bytes in {} blobs; {} uploaded, {} mounted, {} already present)",
                human_size(report.total_bytes),
                report.total_bytes,
                report.blobs,
                human_size(report.uploaded_bytes),
                report.mounted,
                report.already_present
            );
        }
        if let Some(signature) = &report.signature
            && !args.quiet
        {
            say!("signed: {} (signature {})", signature.key_id, signature.signature);
        }
    })
    .await?;
    if let Some(visibility) = request.visibility
        && !args.quiet
    {
        say!("visibility: {}", visibility.as_str());
    }
    Ok(())
}

/// `--visibility`, or `--public`.
fn visibility(args: &PushArgs) -> Option<Visibility> {
    let chosen = if args.public {
        Some(VisibilityArg::Public)
    } else {
        args.visibility
    };
    chosen.map(|chosen| match chosen {
        VisibilityArg::Public => Visibility::Public,
        VisibilityArg::Private => Visibility::Private,
        VisibilityArg::Org => Visibility::Organisation,
    })
}

/// A lone positional that names an existing directory is DIR, and one that
/// names an existing file is the package file: `agent push ./my-agent` and
/// `agent push hello-0.1.0.agent.sntl` mean what they say, not a reference.
type Positionals = (Option<String>, Option<PathBuf>, Option<PathBuf>);

fn split_positionals(reference: Option<String>, dir: Option<PathBuf>) -> Positionals {
    match (reference, dir) {
        (Some(text), None) if Path::new(&text).is_dir() => (None, Some(PathBuf::from(text)), None),
        (Some(text), None) if Path::new(&text).is_file() => (None, None, Some(PathBuf::from(text))),
        (reference, Some(path)) if path.is_file() => (reference, None, Some(path)),
        (reference, dir) => (reference, dir, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_directory_or_file_argument_is_not_a_reference() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().to_str().unwrap().to_string();
        assert_eq!(
            split_positionals(Some(text.clone()), None),
            (None, Some(PathBuf::from(&text)), None)
        );
        let package = dir.path().join("hello-0.1.0.agent.sntl");
        std::fs::write(&package, b"SNTL").unwrap();
        let package_text = package.to_str().unwrap().to_string();
        assert_eq!(
            split_positionals(Some(package_text), None),
            (None, None, Some(package))
        );
        assert_eq!(
            split_positionals(Some("me/hello:1.0.0".into()), None),
            (Some("me/hello:1.0.0".into()), None, None)
        );
    }
}
