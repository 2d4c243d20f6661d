//! The actions a token may grant on a resource (`pull`, `push`, `delete`).

use std::fmt;
use std::ops::BitOr;
use std::str::FromStr;

/// One action on a repository, as named in Docker token scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    /// Every action, in wire order.
    pub const EVERY: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    /// The name used in scopes and access claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }

    /// The action named `name`, if it is one.
    pub fn from_wire(name: &str) -> Option<Action> {
        Action::EVERY.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Action`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(u8);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);
    /// Pull only.
    pub const PULL: Actions = Actions(1);
    /// Push only.
    pub const PUSH: Actions = Actions(2);
    /// Delete only.
    pub const DELETE: Actions = Actions(4);
    /// Pull and push.
    pub const PULL_PUSH: Actions = Actions(3);
    /// Every action.
    pub const ALL: Actions = Actions(7);

    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Actions in either set.
    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    /// Actions in both sets.
    pub fn intersection(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    /// The set without `other`'s actions.
    pub fn without(self, other: Actions) -> Actions {
        Actions(self.0 & !other.0)
    }

    /// The actions in wire order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::EVERY.into_iter().filter(move |a| self.contains(*a))
    }

    /// The actions named in a scope or claim: `*` means every action;
    /// names that are not actions are ignored (a token never grants them).
    pub fn from_wire<S: AsRef<str>>(names: &[S]) -> Actions {
        names
            .iter()
            .fold(Actions::NONE, |set, name| match name.as_ref() {
                "*" => Actions::ALL,
                other => Action::from_wire(other).map_or(set, |a| set | a.into()),
            })
    }

    /// The action names, in wire order.
    pub fn to_wire(self) -> Vec<String> {
        self.iter().map(|a| a.as_str().to_owned()).collect()
    }
}

impl From<Action> for Actions {
    fn from(action: Action) -> Self {
        Actions(action.bit())
    }
}

impl BitOr for Actions {
    type Output = Actions;
    fn bitor(self, other: Actions) -> Actions {
        self.union(other)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// Text that names no action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?} (expected pull, push, delete, `*` or all)")]
pub struct UnknownAction(pub String);

impl FromStr for Actions {
    type Err = UnknownAction;

    /// `pull,push`, `*`, `all` or `none`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut set = Actions::NONE;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            set = set
                | match name {
                    "*" | "all" => Actions::ALL,
                    "none" => Actions::NONE,
                    other => Action::from_wire(other)
                        .ok_or_else(|| UnknownAction(other.to_owned()))?
                        .into(),
                };
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let set: Actions = "push,pull".parse().unwrap();
        assert_eq!(set, Actions::PULL_PUSH);
        assert_eq!(set.to_string(), "pull,push");
        assert_eq!("*".parse::<Actions>().unwrap(), Actions::ALL);
        assert_eq!(
            "all".parse::<Actions>().unwrap().to_string(),
            "pull,push,delete"
        );
        assert_eq!(Actions::NONE.to_string(), "none");
        assert!("pull,fly".parse::<Actions>().is_err());
    }

    #[test]
    fn wire_names_ignore_unknown_actions() {
        assert_eq!(Actions::from_wire(&["pull", "fly"]), Actions::PULL);
        assert_eq!(Actions::from_wire(&["*"]), Actions::ALL);
        assert_eq!(Actions::ALL.to_wire(), ["pull", "push", "delete"]);
        assert!(Actions::PULL_PUSH.without(Actions::PUSH) == Actions::PULL);
    }
}
