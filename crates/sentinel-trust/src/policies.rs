//! A policy, and the set of policies in force.

use sentinel_signature::{KeyId, PublicKey};

use crate::{RepositoryPattern, TrustError};

/// What the registry trusts for the repositories of one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// The repositories covered.
    pub repositories: RepositoryPattern,
    /// Whether a pull needs a signature by one of `keys`.
    pub require_signature: bool,
    /// The public keys whose signatures count.
    pub keys: Vec<PublicKey>,
}

impl SignaturePolicy {
    /// A policy for `repositories`; one that requires signatures must
    /// trust at least one key. Keys given twice are kept once.
    pub fn new(
        repositories: RepositoryPattern,
        require_signature: bool,
        mut keys: Vec<PublicKey>,
    ) -> Result<SignaturePolicy, TrustError> {
        let mut seen = std::collections::HashSet::new();
        keys.retain(|key| seen.insert(key.id().clone()));
        if require_signature && keys.is_empty() {
            return Err(TrustError::NoKeys(repositories.to_string()));
        }
        Ok(SignaturePolicy {
            repositories,
            require_signature,
            keys,
        })
    }

    /// The ids of the trusted keys.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|key| key.id().clone()).collect()
    }
}

/// Where a policy in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// The TOML configuration: fixed while the server runs, and it wins
    /// over the policy file for the same pattern.
    Configuration,
    /// The policy file (`policy set`, the management API).
    File,
}

/// The policies in force, most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    entries: Vec<(SignaturePolicy, PolicySource)>,
}

impl Policies {
    /// The policies of the configuration and of the policy file; for a
    /// pattern in both, the configuration's.
    pub fn new(configured: Vec<SignaturePolicy>, file: Vec<SignaturePolicy>) -> Policies {
        let mut entries: Vec<(SignaturePolicy, PolicySource)> = Vec::new();
        for (policy, source) in configured
            .into_iter()
            .map(|p| (p, PolicySource::Configuration))
            .chain(file.into_iter().map(|p| (p, PolicySource::File)))
        {
            if !entries
                .iter()
                .any(|(held, _)| held.repositories == policy.repositories)
            {
                entries.push((policy, source));
            }
        }
        entries.sort_by(|(a, _), (b, _)| {
            b.repositories
                .specificity()
                .cmp(&a.repositories.specificity())
                .then_with(|| a.repositories.to_string().cmp(&b.repositories.to_string()))
        });
        Policies { entries }
    }

    /// The one policy that covers `repository`: the most specific match.
    pub fn covering(&self, repository: &str) -> Option<&SignaturePolicy> {
        self.entries
            .iter()
            .find(|(policy, _)| policy.repositories.matches(repository))
            .map(|(policy, _)| policy)
    }

    /// Every policy with where it comes from, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = (&SignaturePolicy, PolicySource)> {
        self.entries
            .iter()
            .map(|(policy, source)| (policy, *source))
    }

    /// Whether the configuration sets the policy of `pattern`.
    pub fn configured(&self, pattern: &RepositoryPattern) -> bool {
        self.entries.iter().any(|(policy, source)| {
            *source == PolicySource::Configuration && policy.repositories == *pattern
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_signature::SigningKey;

    fn policy(pattern: &str, require: bool) -> SignaturePolicy {
        SignaturePolicy::new(
            pattern.parse().unwrap(),
            require,
            vec![SigningKey::generate().public_key()],
        )
        .unwrap()
    }

    #[test]
    fn the_most_specific_policy_covers_a_repository() {
        let policies = Policies::new(
            vec![],
            vec![
                policy("*", false),
                policy("acme/*", true),
                policy("acme/team/*", false),
                policy("acme/team/agent", true),
            ],
        );
        let pattern = |repo: &str| policies.covering(repo).unwrap().repositories.to_string();
        assert_eq!(pattern("other/x"), "*");
        assert_eq!(pattern("acme/x"), "acme/*");
        assert_eq!(pattern("acme/team/x"), "acme/team/*");
        assert_eq!(pattern("acme/team/agent"), "acme/team/agent");
        assert!(Policies::default().covering("acme/x").is_none());
    }

    #[test]
    fn the_configuration_wins_over_the_file() {
        let configured = policy("acme/*", true);
        let policies = Policies::new(vec![configured.clone()], vec![policy("acme/*", false)]);
        assert_eq!(policies.covering("acme/x"), Some(&configured));
        assert!(policies.configured(&"acme/*".parse().unwrap()));
        assert_eq!(policies.iter().count(), 1);
    }

    #[test]
    fn requiring_signatures_needs_a_key() {
        let error = SignaturePolicy::new("acme/*".parse().unwrap(), true, vec![]).unwrap_err();
        assert!(error.to_string().contains("at least one trusted key"));
        let key = SigningKey::generate().public_key();
        let policy =
            SignaturePolicy::new("acme/*".parse().unwrap(), false, vec![key.clone(), key]).unwrap();
        assert_eq!(policy.keys.len(), 1);
    }
}
