//! Docker token scopes: `repository:alice/app:pull,push`.

use std::fmt;

use crate::actions::Actions;
use crate::error::TokenError;

/// One scope a client asks a token for, in the Docker token grammar
/// `type[(class)]:name:action[,action...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The resource type, e.g. `repository` or `registry`; a `(class)`
    /// suffix is dropped.
    pub resource_type: String,
    /// The resource name, e.g. `alice/app` or `catalog`.
    pub name: String,
    /// The action names as asked for (`*` included, unknown names kept).
    pub actions: Vec<String>,
}

impl Scope {
    /// Parses one scope. The type runs to the first `:` and the actions
    /// start after the last one, so a name may itself hold a `:` (as a
    /// registry host with a port does).
    pub fn parse(text: &str) -> Result<Scope, TokenError> {
        let malformed =
            || TokenError::Scope(format!("{text:?} is not of the form type:name:actions"));
        let (type_text, rest) = text.split_once(':').ok_or_else(malformed)?;
        let (name, action_text) = rest.rsplit_once(':').ok_or_else(malformed)?;
        let resource_type = strip_class(type_text);
        if resource_type.is_empty() {
            return Err(TokenError::Scope(format!(
                "{text:?} names no resource type"
            )));
        }
        if name.is_empty() {
            return Err(TokenError::Scope(format!("{text:?} names no resource")));
        }
        let actions: Vec<String> = action_text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if actions.is_empty() {
            return Err(TokenError::Scope(format!("{text:?} names no actions")));
        }
        Ok(Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses the `scope` query values of a token request. Docker sends one
    /// value per scope; some clients send several in one value, separated by
    /// spaces. Both forms may be mixed.
    pub fn parse_all<S: AsRef<str>>(values: &[S]) -> Result<Vec<Scope>, TokenError> {
        values
            .iter()
            .flat_map(|value| value.as_ref().split_whitespace())
            .map(Scope::parse)
            .collect()
    }

    /// One scope per resource: the scopes naming the same type and name are
    /// merged into one holding all their actions (in the order asked), so
    /// that a token's size follows what it grants. The result is sorted by
    /// type, then name.
    pub fn merge(mut scopes: Vec<Scope>) -> Vec<Scope> {
        scopes.sort_by(|a, b| (&a.resource_type, &a.name).cmp(&(&b.resource_type, &b.name)));
        scopes.dedup_by(|later, earlier| {
            let same = later.resource_type == earlier.resource_type && later.name == earlier.name;
            if same {
                earlier.actions.append(&mut later.actions);
            }
            same
        });
        scopes
    }

    /// The known actions asked for (`*` means all; unknown names are dropped).
    pub fn requested_actions(&self) -> Actions {
        Actions::from_wire(&self.actions)
    }
}

/// `repository(plugin)` → `repository`.
fn strip_class(type_text: &str) -> &str {
    match type_text.find('(') {
        Some(open) if type_text.ends_with(')') => &type_text[..open],
        _ => type_text,
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource_type,
            self.name,
            self.actions.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(resource_type: &str, name: &str, actions: &[&str]) -> Scope {
        Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn parses_repository_scopes() {
        assert_eq!(
            Scope::parse("repository:alice/app:pull,push").unwrap(),
            scope("repository", "alice/app", &["pull", "push"])
        );
        assert_eq!(
            Scope::parse("repository:alice/app:pull")
                .unwrap()
                .requested_actions(),
            Actions::PULL
        );
    }

    #[test]
    fn drops_the_resource_class() {
        assert_eq!(
            Scope::parse("repository(plugin):x:pull").unwrap(),
            scope("repository", "x", &["pull"])
        );
    }

    #[test]
    fn parses_registry_wildcards() {
        let parsed = Scope::parse("registry:catalog:*").unwrap();
        assert_eq!(parsed, scope("registry", "catalog", &["*"]));
        assert_eq!(parsed.requested_actions(), Actions::ALL);
    }

    #[test]
    fn a_name_may_hold_a_colon() {
        assert_eq!(
            Scope::parse("repository:localhost:5000/app:pull,fly").unwrap(),
            scope("repository", "localhost:5000/app", &["pull", "fly"])
        );
    }

    #[test]
    fn refuses_malformed_scopes() {
        for bad in [
            "",
            "repository",
            "repository:app",
            ":app:pull",
            "(plugin):app:pull",
            "repository::pull",
            "repository:app:",
            "repository:app:,",
        ] {
            let err = Scope::parse(bad).unwrap_err();
            assert!(matches!(err, TokenError::Scope(_)), "{bad:?} gave {err}");
        }
    }

    #[test]
    fn parse_all_splits_values_on_spaces() {
        let values = vec![
            "repository:a/b:pull registry:catalog:*".to_owned(),
            "repository:c:push".to_owned(),
        ];
        let scopes = Scope::parse_all(&values).unwrap();
        assert_eq!(
            scopes,
            [
                scope("repository", "a/b", &["pull"]),
                scope("registry", "catalog", &["*"]),
                scope("repository", "c", &["push"]),
            ]
        );
        assert!(Scope::parse_all(&["repository:a:pull nonsense"]).is_err());
        assert!(Scope::parse_all::<String>(&[]).unwrap().is_empty());
    }

    #[test]
    fn display_renders_the_grammar() {
        let text = "repository:alice/app:pull,push";
        assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        assert_eq!(
            Scope::parse("repository(plugin):x:pull")
                .unwrap()
                .to_string(),
            "repository:x:pull"
        );
    }

    #[test]
    fn merging_keeps_one_scope_per_resource_with_every_action() {
        let merged = Scope::merge(vec![
            scope("repository", "b", &["pull"]),
            scope("repository", "a", &["push"]),
            scope("registry", "catalog", &["*"]),
            scope("repository", "b", &["push", "pull"]),
            scope("repository", "a", &["delete"]),
        ]);
        assert_eq!(
            merged,
            vec![
                scope("registry", "catalog", &["*"]),
                scope("repository", "a", &["push", "delete"]),
                scope("repository", "b", &["pull", "push", "pull"]),
            ]
        );
        assert_eq!(merged[2].requested_actions(), Actions::PULL_PUSH);
    }

    #[test]
    fn merging_tells_types_and_names_apart() {
        let merged = Scope::merge(vec![
            scope("repository", "catalog", &["pull"]),
            scope("registry", "catalog", &["*"]),
        ]);
        assert_eq!(merged.len(), 2);
        assert!(Scope::merge(Vec::new()).is_empty());
    }
}
