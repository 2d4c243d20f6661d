//! The registries a workflow reaches: the default registry and the
//! credentials that the configuration, the flags and the credential sources
//! give, behind the library's `Registries` trait.

use sentinel_client::{RegistryClient, ResolvedReference};
use sentinel_workflows::{BoxError, Registries};

use crate::cli::RemoteArgs;
use crate::context::{Context, Target};

/// The registries a workflow reaches, as the configuration, the flags and
/// the credential sources say.
pub struct Remote<'a> {
    context: &'a Context,
    target: Chosen<'a>,
}

/// How a [`Remote`] finds its target.
enum Chosen<'a> {
    /// From the flags, when first needed.
    Args(&'a RemoteArgs),
    /// Already chosen.
    Fixed(Target<'a>),
}

impl<'a> Remote<'a> {
    /// The registries of a command, from its `--registry` and `--profile`,
    /// worked out each time a workflow asks (so a bad `--profile` fails
    /// only a command that needs a registry).
    pub fn from_args(context: &'a Context, args: &'a RemoteArgs) -> Remote<'a> {
        Remote {
            context,
            target: Chosen::Args(args),
        }
    }

    /// The registries of `target`, already worked out.
    pub fn fixed(context: &'a Context, target: Target<'a>) -> Remote<'a> {
        Remote {
            context,
            target: Chosen::Fixed(target),
        }
    }

    /// Where `agent pull` looks for `text`: the registry it names, the
    /// default registry, or else the configured registries by priority.
    pub fn pull_candidates(
        context: &'a Context,
        text: &str,
        target: Target<'a>,
    ) -> Vec<Remote<'a>> {
        if names_registry(text)
            || target.default_registry.is_some()
            || context.config().registries.is_empty()
        {
            return vec![Remote::fixed(context, target)];
        }
        context
            .config()
            .registries_by_priority()
            .into_iter()
            .map(|entry| {
                // Each entry's URL (with its scheme) is the registry its client uses.
                Remote::fixed(
                    context,
                    Target {
                        default_registry: Some(entry.url.clone()),
                        profile: None,
                    },
                )
            })
            .collect()
    }

    fn target(&self) -> anyhow::Result<Target<'a>> {
        match &self.target {
            Chosen::Args(args) => self.context.target(args),
            Chosen::Fixed(target) => Ok(target.clone()),
        }
    }
}

/// Whether a reference's first component is a registry host, by docker's
/// rule (`sentinel_oci::looks_like_registry`).
pub(crate) fn names_registry(text: &str) -> bool {
    text.split_once('/')
        .is_some_and(|(first, _)| sentinel_oci::looks_like_registry(first))
}

impl Registries for Remote<'_> {
    fn default_registry(&self) -> Result<Option<String>, BoxError> {
        let target = self.target().map_err(Passed::boxed)?;
        Ok(target.default_registry)
    }

    fn client(&self, reference: &ResolvedReference) -> Result<RegistryClient, BoxError> {
        let target = self.target().map_err(Passed::boxed)?;
        self.context
            .client(reference, &target)
            .map_err(Passed::boxed)
    }
}

/// A CLI error passed through a workflow. Its source is the error it
/// carries, so the chain the exit code and the message are read from goes on
/// exactly as if the error had never left the CLI.
#[derive(Debug)]
struct Passed(anyhow::Error);

impl Passed {
    fn boxed(error: anyhow::Error) -> BoxError {
        Box::new(Passed(error))
    }
}

impl std::fmt::Display for Passed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl std::error::Error for Passed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;
    use sentinel_workflows::WorkflowError;

    #[test]
    fn an_error_passed_through_a_workflow_keeps_its_code_and_its_words() {
        let context = Context::empty();
        let remote = Remote::fixed(
            &context,
            Target {
                default_registry: Some("http://".to_string()),
                profile: None,
            },
        );
        let reference = ResolvedReference::parse("localhost:5000/me/hello:1", None).unwrap();
        let direct = remote
            .target()
            .and_then(|target| context.client(&reference, &target));
        let direct = direct.err().unwrap();
        let failure = Registries::client(&remote, &reference).err().unwrap();
        let passed = anyhow::Error::new(WorkflowError::Registries(failure));
        assert_eq!(exit::code_for(&direct), exit::USAGE);
        assert_eq!(exit::code_for(&passed), exit::USAGE);
        assert_eq!(exit::describe(&passed), exit::describe(&direct));
    }

    #[test]
    fn the_registry_component_is_recognised_like_docker_does() {
        assert!(names_registry("localhost:5000/me/hello:1.0.0"));
        assert!(names_registry("localhost/me/hello"));
        assert!(names_registry("ghcr.io/team/agent"));
        assert!(!names_registry("team/agent:1.0"));
        assert!(!names_registry("hello"));
    }
}
