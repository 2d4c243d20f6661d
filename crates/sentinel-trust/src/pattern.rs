//! Repository patterns and how they rank.

use std::fmt;
use std::str::FromStr;

use sentinel_oci::RepositoryName;

/// Which repositories a policy covers:
///
/// - `*`: every repository;
/// - `acme/*`: every repository below `acme/`, at any depth (`acme/agent`,
///   `acme/team/agent`), but not `acme` itself;
/// - `acme/agent`: that repository only.
///
/// When several patterns match a repository, the most specific one wins
/// alone (nothing is merged): an exact name first, then the `NS/*` with the
/// longest `NS`, then `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepositoryPattern(Kind);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    All,
    /// The namespace with its trailing `/`.
    Below(String),
    Exact(String),
}

/// Why a repository pattern is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository pattern {pattern:?}: {reason} (use NAME, NS/* or *)")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RepositoryPattern {
    /// Whether the pattern covers `repository`.
    pub fn matches(&self, repository: &str) -> bool {
        match &self.0 {
            Kind::All => true,
            Kind::Below(prefix) => repository.starts_with(prefix.as_str()),
            Kind::Exact(name) => repository == name,
        }
    }

    /// How specific the pattern is: higher wins.
    pub fn specificity(&self) -> (u8, usize) {
        match &self.0 {
            Kind::All => (0, 0),
            Kind::Below(prefix) => (1, prefix.len()),
            Kind::Exact(name) => (2, name.len()),
        }
    }
}

impl FromStr for RepositoryPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, PatternError> {
        let invalid = |reason: String| PatternError {
            pattern: text.to_owned(),
            reason,
        };
        if text == "*" {
            return Ok(RepositoryPattern(Kind::All));
        }
        let (name, below) = match text.strip_suffix("/*") {
            Some(namespace) => (namespace, true),
            None => (text, false),
        };
        if name.contains('*') {
            return Err(invalid(
                "`*` may only be the whole pattern or end NS/*".into(),
            ));
        }
        name.parse::<RepositoryName>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(RepositoryPattern(if below {
            Kind::Below(format!("{name}/"))
        } else {
            Kind::Exact(name.to_owned())
        }))
    }
}

impl fmt::Display for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::All => f.write_str("*"),
            Kind::Below(prefix) => write!(f, "{prefix}*"),
            Kind::Exact(name) => f.write_str(name),
        }
    }
}

impl serde::Serialize for RepositoryPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RepositoryPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> RepositoryPattern {
        text.parse().unwrap()
    }

    #[test]
    fn forms_match_what_they_say() {
        assert!(pattern("*").matches("anything/at/all"));
        assert!(pattern("acme/*").matches("acme/agent"));
        assert!(pattern("acme/*").matches("acme/team/agent"));
        assert!(!pattern("acme/*").matches("acme"));
        assert!(!pattern("acme/*").matches("acmecorp/agent"));
        assert!(pattern("acme/agent").matches("acme/agent"));
        assert!(!pattern("acme/agent").matches("acme/agent2"));
        for text in ["*", "acme/*", "acme/agent", "a/b/*"] {
            assert_eq!(pattern(text).to_string(), text);
        }
    }

    #[test]
    fn exact_beats_longer_namespace_beats_shorter_beats_all() {
        let ranked = ["acme/team/agent", "acme/team/*", "acme/*", "*"];
        for pair in ranked.windows(2) {
            assert!(pattern(pair[0]).specificity() > pattern(pair[1]).specificity());
        }
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for text in ["", "acme*", "*/agent", "Acme/*", "acme/**", "acme/", "/*"] {
            let error = text.parse::<RepositoryPattern>().unwrap_err();
            assert!(error.to_string().contains("NS/*"), "{text}: {error}");
        }
    }
}
