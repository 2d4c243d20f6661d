//! References to packages in a registry, as written in a stack: `team/researcher:1.2.0`,
//! `registry.example.com/team/researcher@sha256:...`.

use std::fmt;
use std::str::FromStr;

use sentinel_oci::{Digest, RepositoryName, Tag};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a package reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reference:?} is not a valid reference: {reason}")]
pub struct PackageReferenceError {
    reference: String,
    reason: String,
}

/// A reference to a package: `[registry/]repository[:tag][@digest]`.
///
/// The first path component is a registry when it contains a `.` or a `:`, or is
/// `localhost`, the same rule Docker and oras use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageReference {
    registry: Option<String>,
    repository: RepositoryName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl PackageReference {
    /// The registry host (with port), when the reference names one.
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The repository path within the registry.
    pub fn repository(&self) -> &RepositoryName {
        &self.repository
    }

    /// The tag, when given.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, when given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

/// `host[:port]` where host is DNS-like (letters, digits, `.`, `-`).
fn is_valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0));
    host_ok && port_ok
}

impl FromStr for PackageReference {
    type Err = PackageReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| PackageReferenceError {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest
                    .parse::<Digest>()
                    .map_err(|e| error(&e.to_string()))?;
                (rest, Some(digest))
            }
            None => (text, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_valid_registry(first) {
                    return Err(error(
                        "the registry is not a host name with an optional port",
                    ));
                }
                (Some(first.to_owned()), remainder)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) => {
                let tag = tag.parse::<Tag>().map_err(|e| error(&e.to_string()))?;
                (repository, Some(tag))
            }
            None => (path, None),
        };
        let repository = repository
            .parse::<RepositoryName>()
            .map_err(|e| error(&e.to_string()))?;
        Ok(PackageReference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for PackageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{registry}/")?;
        }
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Serialize for PackageReference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PackageReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_the_reference_forms() {
        let short: PackageReference = "team/researcher:1.2.0".parse().unwrap();
        assert_eq!(short.registry(), None);
        assert_eq!(short.repository().as_str(), "team/researcher");
        assert_eq!(short.tag().unwrap().as_str(), "1.2.0");
        assert_eq!(short.digest(), None);

        let text = format!("registry.example.com/team/researcher@{DIGEST}");
        let pinned: PackageReference = text.parse().unwrap();
        assert_eq!(pinned.registry(), Some("registry.example.com"));
        assert_eq!(pinned.repository().as_str(), "team/researcher");
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.digest().unwrap().as_str(), DIGEST);
        assert_eq!(pinned.to_string(), text);

        let both: PackageReference = format!("localhost:5000/r:v1@{DIGEST}").parse().unwrap();
        assert_eq!(both.registry(), Some("localhost:5000"));
        assert_eq!(both.tag().unwrap().as_str(), "v1");
        assert_eq!(both.to_string(), format!("localhost:5000/r:v1@{DIGEST}"));

        let bare: PackageReference = "researcher".parse().unwrap();
        assert_eq!((bare.tag(), bare.digest()), (None, None));
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "Team/researcher:1",
            "team/researcher:",
            "team/researcher:bad/tag",
            "team//researcher",
            "team/researcher@sha256:123",
            "bad_host.com:99999/x:1",
            "-bad.com/x:1",
            "a b:1",
        ] {
            assert!(bad.parse::<PackageReference>().is_err(), "{bad}");
        }
    }
}
