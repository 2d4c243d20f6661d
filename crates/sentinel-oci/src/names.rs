//! Repository names, tags and the `<reference>` of a manifest URL.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The longest repository name accepted, in bytes.
///
/// The spec lets registries cap names; 255 matches what Docker and
/// Distribution allow for `host/name` as a whole, so every name accepted here
/// can be pulled by those clients.
pub const MAX_NAME_LEN: usize = 255;

/// Why a repository name or tag is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The repository name breaks the spec's grammar.
    #[error(
        "invalid repository name {0:?}: use lowercase letters and digits, separated by '.', '_', '__', '-' or '/'"
    )]
    InvalidName(String),
    /// The repository name is longer than [`MAX_NAME_LEN`].
    #[error("repository name is {0} bytes long; the limit is {MAX_NAME_LEN}")]
    NameTooLong(usize),
    /// The tag breaks the spec's grammar.
    #[error(
        "invalid tag {0:?}: a tag is 1 to 128 characters of [A-Za-z0-9_.-] and does not start with '.' or '-'"
    )]
    InvalidTag(String),
}

/// A repository name, e.g. `team/research-agent`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[sep_start..i];
        let valid_separator = matches!(separator, "." | "_" | "__")
            || (!separator.is_empty() && separator.bytes().all(|b| b == b'-'));
        if !valid_separator {
            return false;
        }
    }
}

impl FromStr for RepositoryName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(s.len()));
        }
        if s.split('/').all(is_valid_component) {
            Ok(RepositoryName(s.to_owned()))
        } else {
            Err(NameError::InvalidName(s.to_owned()))
        }
    }
}

impl serde::Serialize for RepositoryName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RepositoryName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let valid = (1..=128).contains(&bytes.len())
            && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if valid {
            Ok(Tag(s.to_owned()))
        } else {
            Err(NameError::InvalidTag(s.to_owned()))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A mutable tag.
    Tag(Tag),
    /// An immutable content digest.
    Digest(Digest),
}

/// Why a manifest reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// It contains `:`, so it is meant as a digest, and is not a valid one.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// It is meant as a tag and is not a valid one.
    #[error(transparent)]
    Tag(#[from] NameError),
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_repository_names() {
        for name in [
            "a",
            "library/ubuntu",
            "team/research-agent",
            "a.b_c__d---e/f0/9z",
            "foo-bar/baz.qux",
        ] {
            assert!(name.parse::<RepositoryName>().is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_repository_names() {
        for name in [
            "", "Upper", "a/../b", "..", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a_-b",
            "a%2Fb", "a b", "ä",
        ] {
            assert!(name.parse::<RepositoryName>().is_err(), "{name}");
        }
    }

    #[test]
    fn caps_repository_name_length() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            long.parse::<RepositoryName>(),
            Err(NameError::NameTooLong(MAX_NAME_LEN + 1))
        );
        assert!("a".repeat(MAX_NAME_LEN).parse::<RepositoryName>().is_ok());
    }

    #[test]
    fn tag_grammar() {
        for tag in ["latest", "v1.2.3", "_x", "A-b.C_d", &"t".repeat(128)] {
            assert!(tag.parse::<Tag>().is_ok(), "{tag}");
        }
        for tag in ["", ".x", "-x", "a/b", "a:b", &"t".repeat(129)] {
            assert!(tag.parse::<Tag>().is_err(), "{tag}");
        }
    }

    #[test]
    fn reference_is_a_digest_when_it_has_a_colon() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(matches!(digest.parse(), Ok(Reference::Digest(_))));
        assert!(matches!("v1".parse(), Ok(Reference::Tag(_))));
        assert!(matches!(
            "sha256:xyz".parse::<Reference>(),
            Err(ReferenceError::Digest(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn name_parsing_never_panics(s in ".{0,300}") {
            let _ = s.parse::<RepositoryName>();
            let _ = s.parse::<Tag>();
        }

        #[test]
        fn generated_valid_names_parse(name in "[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,3}(/[a-z0-9]{1,8}){0,3}") {
            proptest::prop_assert!(name.parse::<RepositoryName>().is_ok());
        }
    }
}
