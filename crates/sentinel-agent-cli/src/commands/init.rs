//! `agent init`: a valid starting agent.yaml.

use std::io::Write;

use anyhow::Context as _;

use crate::cli::InitArgs;
use crate::exit::UsageError;
use crate::output::say;

/// Writes `agent.yaml` into the directory, refusing to overwrite one.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let name = match args.name {
        Some(name) => name,
        None => {
            let absolute = std::path::absolute(&args.dir)
                .with_context(|| format!("cannot resolve {}", args.dir.display()))?;
            name_from_directory(absolute.file_name().and_then(|name| name.to_str()))
        }
    };
    let path = args.dir.join("agent.yaml");
    let text = sentinel_package::starter_agent_yaml(&name);
    // The starter must itself be valid; a bad --name fails here, not at push.
    sentinel_package::Definition::parse(
        sentinel_package::PackageKind::Agent,
        "agent.yaml",
        text.as_bytes(),
    )
    .map_err(|error| UsageError(format!("cannot use the name {name:?}: {error}")))?;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UsageError(format!(
                "{} already exists; not overwriting it",
                path.display()
            ))
            .into());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    say!("created {} for agent {name:?}", path.display());
    say!(
        "next: edit it, then `agent push REGISTRY/NAMESPACE/{name}:0.1.0 {}`",
        args.dir.display()
    );
    Ok(())
}

/// A valid agent name from a directory name: lowercase, runs of other
/// characters become one `-`, and `my-agent` when nothing is left.
fn name_from_directory(directory: Option<&str>) -> String {
    let mut name = String::new();
    for character in directory.unwrap_or_default().chars() {
        let character = character.to_ascii_lowercase();
        if character.is_ascii_lowercase() || character.is_ascii_digit() {
            name.push(character);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "my-agent".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::name_from_directory;

    #[test]
    fn directory_names_become_valid_agent_names() {
        assert_eq!(
            name_from_directory(Some("Research Agent")),
            "research-agent"
        );
        assert_eq!(name_from_directory(Some("__x__y__")), "x-y");
        assert_eq!(name_from_directory(Some("!!!")), "my-agent");
        assert_eq!(name_from_directory(None), "my-agent");
    }
}
