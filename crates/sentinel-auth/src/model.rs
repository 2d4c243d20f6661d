//! The auth state: users, organisations, personal access tokens and
//! repository policies, as stored in `auth.json`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use sentinel_token::Actions;
use serde::{Deserialize, Serialize};

/// A user's registry-wide role.
///
/// Ordered by power: `Reader < Publisher < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May pull what they can see; never pushes or deletes.
    Reader,
    /// May also push and delete in their own namespace and where granted.
    Publisher,
    /// May do everything, everywhere, including managing users.
    Admin,
}

impl Role {
    /// The lowercase name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "reader" => Ok(Role::Reader),
            "publisher" => Ok(Role::Publisher),
            "admin" => Ok(Role::Admin),
            _ => Err(ParseValueError::new(
                "role",
                text,
                "reader, publisher or admin",
            )),
        }
    }
}

/// Text that names no role, visibility or access level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {text:?} (expected {expected})")]
pub struct ParseValueError {
    what: &'static str,
    text: String,
    expected: &'static str,
}

impl ParseValueError {
    fn new(what: &'static str, text: &str, expected: &'static str) -> Self {
        ParseValueError {
            what,
            text: text.to_owned(),
            expected,
        }
    }
}

/// A registry user. The name is the key of [`AuthState::users`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The registry-wide role.
    pub role: Role,
    /// The argon2id hash of the password, in PHC string format.
    pub password_hash: String,
    /// Bumped whenever the password or role changes; tokens issued under an
    /// older generation stop working.
    pub generation: u64,
    /// When the user was created, in unix seconds.
    pub created: u64,
}

/// An organisation, owning the namespace `<name>/`. The name is the key of
/// [`AuthState::organisations`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Organisation {
    /// Member user names and their role within the organisation.
    #[serde(default)]
    pub members: BTreeMap<String, Role>,
    /// When the organisation was created, in unix seconds.
    pub created: u64,
}

/// A personal access token. Only a hash of its secret is kept; the token
/// text is shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalToken {
    /// The public id: 12 lowercase hex characters, part of the token text.
    pub id: String,
    /// The user the token acts for.
    pub user: String,
    /// A label chosen by the user, e.g. `ci`.
    pub name: String,
    /// Lowercase hex sha256 of the secret part of the token text.
    pub secret_hash: String,
    /// What the token may do, within what its user may do.
    #[serde(default)]
    pub scope: TokenScope,
    /// When the token was created, in unix seconds.
    pub created: u64,
    /// When the token stops working, in unix seconds; `None` for never.
    #[serde(default)]
    pub expires: Option<u64>,
}

impl PersonalToken {
    /// Whether the token has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|expires| now >= expires)
    }
}

/// The restriction a personal access token places on its user's rights.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenScope {
    /// Repository patterns: `*` matches every repository, `ns/*` every
    /// repository below `ns/` (`ns/x`, `ns/x/y`), anything else exactly one
    /// repository. Empty means every repository.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// The actions allowed on matching repositories; empty means every action.
    #[serde(default, with = "actions_as_names")]
    pub actions: Actions,
}

impl TokenScope {
    /// The actions this scope leaves open on `repository`.
    pub fn allows(&self, repository: &str) -> Actions {
        let matches = self.repositories.is_empty()
            || self
                .repositories
                .iter()
                .any(|pattern| pattern_matches(pattern, repository));
        if matches {
            self.effective_actions()
        } else {
            Actions::NONE
        }
    }

    /// The actions this scope leaves open on every repository of
    /// `namespace` at once: only `*`, `<namespace>/*` or an empty list cover
    /// a whole namespace.
    pub(crate) fn allows_namespace(&self, namespace: &str) -> Actions {
        let covers = self.repositories.is_empty()
            || self
                .repositories
                .iter()
                .any(|pattern| pattern == "*" || pattern.strip_suffix("/*") == Some(namespace));
        if covers {
            self.effective_actions()
        } else {
            Actions::NONE
        }
    }

    fn effective_actions(&self) -> Actions {
        if self.actions.is_empty() {
            Actions::ALL
        } else {
            self.actions
        }
    }
}

/// Whether one token scope pattern matches `repository`.
fn pattern_matches(pattern: &str, repository: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(prefix) => repository
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty()),
        None => pattern == repository,
    }
}

/// Serialises [`Actions`] as a list of action names; reading refuses
/// unknown names, so a typo can never widen a scope to every action.
mod actions_as_names {
    use sentinel_token::{Action, Actions};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(actions: &Actions, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(actions.iter().map(Action::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Actions, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(Actions::NONE, |set, name| {
            if name == "*" {
                return Ok(Actions::ALL);
            }
            Action::from_wire(name)
                .map(|action| set | action.into())
                .ok_or_else(|| D::Error::custom(format!("unknown action {name:?}")))
        })
    }
}

/// Who may pull a repository without a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone, signed in or not, may pull.
    Public,
    /// Only the namespace owner, organisation publishers and admins, and
    /// grantees may pull.
    #[default]
    Private,
    /// Like private, and every member of the owning organisation may pull.
    #[serde(alias = "organization", alias = "org")]
    Organisation,
}

impl Visibility {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Organisation => "organisation",
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Visibility {
    type Err = ParseValueError;

    /// `public`, `private`, or `organisation` (also `organization`, `org`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "public" => Ok(Visibility::Public),
            "private" => Ok(Visibility::Private),
            "organisation" | "organization" | "org" => Ok(Visibility::Organisation),
            _ => Err(ParseValueError::new(
                "visibility",
                text,
                "public, private or organisation",
            )),
        }
    }
}

/// The level of a per-user grant on one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Pull.
    Read,
    /// Pull and push.
    Write,
    /// Pull, push and delete, and managing the repository's visibility and grants.
    Admin,
}

impl Access {
    /// The repository actions this level allows.
    pub fn actions(self) -> Actions {
        match self {
            Access::Read => Actions::PULL,
            Access::Write => Actions::PULL_PUSH,
            Access::Admin => Actions::ALL,
        }
    }

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = ParseValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            "admin" => Ok(Access::Admin),
            _ => Err(ParseValueError::new("access", text, "read, write or admin")),
        }
    }
}

/// The visibility of one repository and the users granted access to it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RepositoryPolicy {
    /// Who may pull without a grant.
    #[serde(default)]
    pub visibility: Visibility,
    /// User names and the access each is granted.
    #[serde(default)]
    pub grants: BTreeMap<String, Access>,
}

impl RepositoryPolicy {
    /// Whether this is the policy every repository has without an entry
    /// (private, no grants).
    pub fn is_default(&self) -> bool {
        self == &RepositoryPolicy::default()
    }
}

/// Everything the registry knows about identities and access.
///
/// On disk it is one JSON object with `"version": 1` beside these fields
/// (see [`crate::AuthStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthState {
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// Organisations by name.
    pub organisations: BTreeMap<String, Organisation>,
    /// Personal access tokens by id.
    pub tokens: BTreeMap<String, PersonalToken>,
    /// Repository policies by repository name; a repository without an
    /// entry is private with no grants.
    pub repositories: BTreeMap<String, RepositoryPolicy>,
    /// The last credential generation handed out, to any user. Generations
    /// come from this one counter, so a user re-created under a removed
    /// user's name never matches the tokens issued to the removed one.
    pub last_generation: u64,
}

impl AuthState {
    /// A credential generation never handed out before.
    pub(crate) fn next_generation(&mut self) -> u64 {
        let highest = self.users.values().map(|u| u.generation).max().unwrap_or(0);
        self.last_generation = self.last_generation.max(highest) + 1;
        self.last_generation
    }

    /// The policy of `repository` (the default policy if it has no entry).
    pub fn policy(&self, repository: &str) -> &RepositoryPolicy {
        static DEFAULT: RepositoryPolicy = RepositoryPolicy {
            visibility: Visibility::Private,
            grants: BTreeMap::new(),
        };
        self.repositories.get(repository).unwrap_or(&DEFAULT)
    }
}

/// The namespace of a repository: the text before its first `/`, if any.
pub fn namespace_of(repository: &str) -> Option<&str> {
    repository.split_once('/').map(|(namespace, _)| namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_patterns_match_exact_prefix_and_everything() {
        let scope = TokenScope {
            repositories: vec!["alice/*".into(), "team/app".into()],
            actions: Actions::PULL,
        };
        assert_eq!(scope.allows("alice/x"), Actions::PULL);
        assert_eq!(scope.allows("alice/x/y"), Actions::PULL);
        assert_eq!(scope.allows("alice"), Actions::NONE);
        assert_eq!(scope.allows("alicex/y"), Actions::NONE);
        assert_eq!(scope.allows("team/app"), Actions::PULL);
        assert_eq!(scope.allows("team/app2"), Actions::NONE);
        assert_eq!(TokenScope::default().allows("any/thing"), Actions::ALL);
        let star = TokenScope {
            repositories: vec!["*".into()],
            actions: Actions::NONE,
        };
        assert_eq!(star.allows("x"), Actions::ALL);
        assert_eq!(scope.allows_namespace("alice"), Actions::PULL);
        assert_eq!(scope.allows_namespace("team"), Actions::NONE);
    }

    #[test]
    fn enums_parse_and_display() {
        for role in [Role::Reader, Role::Publisher, Role::Admin] {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
        }
        assert!(Role::Reader < Role::Publisher && Role::Publisher < Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert_eq!(
            "org".parse::<Visibility>().unwrap(),
            Visibility::Organisation
        );
        assert_eq!(
            "organization".parse::<Visibility>().unwrap(),
            Visibility::Organisation
        );
        assert_eq!(Visibility::default(), Visibility::Private);
        assert_eq!(Visibility::Organisation.to_string(), "organisation");
        assert!("secret".parse::<Visibility>().is_err());
        assert_eq!(
            "write".parse::<Access>().unwrap().actions(),
            Actions::PULL_PUSH
        );
        assert_eq!(Access::Read.actions(), Actions::PULL);
        assert_eq!(Access::Admin.actions(), Actions::ALL);
    }

    #[test]
    fn wire_forms_are_lowercase_and_scope_actions_are_names() {
        let json = serde_json::to_value(TokenScope {
            repositories: vec!["a/*".into()],
            actions: Actions::PULL_PUSH,
        })
        .unwrap();
        assert_eq!(json["actions"], serde_json::json!(["pull", "push"]));
        let visibility: Visibility = serde_json::from_str("\"organization\"").unwrap();
        assert_eq!(visibility, Visibility::Organisation);
        assert_eq!(
            serde_json::to_string(&Role::Publisher).unwrap(),
            "\"publisher\""
        );
        let typo = serde_json::from_str::<TokenScope>(r#"{"actions":["pul"]}"#);
        assert!(
            typo.is_err(),
            "an unknown action must not read as every action"
        );
    }
}
