//! The access a request needs, as Docker token scopes (`repository:<name>:pull,push`).

use std::collections::{BTreeMap, BTreeSet};

/// A set of scopes, actions merged per resource and sorted: the key under which
/// a token is cached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Scopes(BTreeMap<String, BTreeSet<String>>);

impl Scopes {
    /// No scope (login checks).
    pub fn none() -> Scopes {
        Scopes::default()
    }

    /// Read access to `repository`.
    pub fn pull(repository: &str) -> Scopes {
        Scopes::none().with(&format!("repository:{repository}:pull"))
    }

    /// Read and write access to `repository`.
    pub fn push(repository: &str) -> Scopes {
        Scopes::none().with(&format!("repository:{repository}:pull,push"))
    }

    /// Delete access to `repository` (the action Distribution and Harbor check for `DELETE`).
    pub fn delete(repository: &str) -> Scopes {
        Scopes::none().with(&format!("repository:{repository}:delete"))
    }

    /// Write access to `to` and read access to `from`, in one token, for a cross-repository mount.
    pub fn mount(to: &str, from: &str) -> Scopes {
        Scopes::push(to).with(&format!("repository:{from}:pull"))
    }

    /// `actions` on `repository`, whatever they are (to learn which the token service grants).
    pub fn repository(repository: &str, actions: &[&str]) -> Scopes {
        Scopes::none().with(&format!("repository:{repository}:{}", actions.join(",")))
    }

    /// Read access to the catalog.
    pub fn catalog() -> Scopes {
        Scopes::none().with("registry:catalog:*")
    }

    /// Adds one scope `type:name:actions`, merging its actions into those already
    /// asked for the same resource. A scope without actions is kept as written.
    fn with(mut self, scope: &str) -> Scopes {
        let (resource, actions) = match scope.rsplit_once(':') {
            Some((resource, actions)) if resource.contains(':') => (resource, actions),
            _ => (scope, ""),
        };
        let entry = self.0.entry(resource.to_owned()).or_default();
        entry.extend(
            actions
                .split(',')
                .filter(|action| !action.is_empty())
                .map(str::to_owned),
        );
        self
    }

    /// These scopes plus the space-separated ones a challenge named.
    pub fn merged_with(&self, challenge_scopes: &str) -> Scopes {
        challenge_scopes
            .split_whitespace()
            .fold(self.clone(), |scopes, scope| scopes.with(scope))
    }

    /// The scopes as strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(resource, actions)| {
                if actions.is_empty() {
                    resource.clone()
                } else {
                    format!(
                        "{resource}:{}",
                        actions.iter().cloned().collect::<Vec<_>>().join(",")
                    )
                }
            })
            .collect()
    }

    /// The scopes joined by spaces (the OAuth2 form), empty when there are none.
    pub fn joined(&self) -> String {
        self.to_strings().join(" ")
    }

    /// Whether there is no scope at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_asks_both_repositories_in_one_set() {
        let scopes = Scopes::mount("team/b", "team/a");
        assert_eq!(
            scopes.to_strings(),
            ["repository:team/a:pull", "repository:team/b:pull,push"]
        );
        assert_eq!(
            scopes.joined(),
            "repository:team/a:pull repository:team/b:pull,push"
        );
    }

    #[test]
    fn merging_a_challenge_scope_unites_actions_per_resource() {
        let scopes = Scopes::pull("a").merged_with("repository:a:push  repository:b:pull");
        assert_eq!(
            scopes.to_strings(),
            ["repository:a:pull,push", "repository:b:pull"]
        );
        assert_eq!(
            Scopes::push("a").merged_with("repository:a:pull"),
            Scopes::push("a")
        );
        assert_eq!(Scopes::none().merged_with("odd").to_strings(), ["odd"]);
        assert!(Scopes::none().is_empty());
        assert_eq!(Scopes::catalog().joined(), "registry:catalog:*");
        assert_eq!(Scopes::delete("a").joined(), "repository:a:delete");
    }
}
