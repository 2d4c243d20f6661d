//! Image references as written: `[registry/][namespace/]name[:tag][@digest]`.
//!
//! This is the one parser of references and of their registry-host grammar.
//! It keeps what was written; a client that needs a registry for every
//! reference resolves the missing one (and Docker Hub's `library/`) on top.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, DigestError};
use crate::names::{NameError, RepositoryName, Tag};

mod host;
#[cfg(test)]
mod tests;

pub use host::{
    DOCKER_HUB, canonical_registry, looks_like_registry, registry_api_host, validate_registry_host,
};

/// Why a reference, registry or repository name is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageReferenceError {
    /// The reference is empty.
    #[error("the image reference is empty")]
    Empty,
    /// The reference's shape is wrong (an empty component, a stray `@` or `:`).
    #[error("invalid image reference {input:?}: {reason}")]
    Malformed {
        /// The reference as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The repository part contains uppercase letters.
    #[error(
        "invalid image reference {input:?}: repository names must be lowercase ({repository:?})"
    )]
    Uppercase {
        /// The reference as given.
        input: String,
        /// The offending repository name.
        repository: String,
    },
    /// The repository part breaks the OCI name grammar.
    #[error("invalid image reference {input:?}: {source}")]
    Repository {
        /// The reference as given.
        input: String,
        /// The grammar rule broken.
        source: NameError,
    },
    /// The tag breaks the OCI tag grammar.
    #[error("invalid image reference {input:?}: {source}")]
    Tag {
        /// The reference as given.
        input: String,
        /// The grammar rule broken.
        source: NameError,
    },
    /// The digest is malformed or of an unsupported algorithm.
    #[error("invalid image reference {input:?}: {source}")]
    Digest {
        /// The reference as given.
        input: String,
        /// Why the digest was refused.
        source: DigestError,
    },
    /// The registry host (or URL) is invalid.
    #[error("invalid registry {input:?}: {reason}")]
    Registry {
        /// The registry as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A reference as written, e.g. `registry.example.com/team/researcher:1.2.0`.
///
/// The first path component is a registry when it contains `.` or `:` or is
/// `localhost`; otherwise the reference names no registry. Nothing is
/// normalised: it displays as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    registry: Option<String>,
    repository: RepositoryName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageReference {
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

    /// Takes the reference apart: registry, repository, tag and digest.
    pub fn into_parts(self) -> (Option<String>, RepositoryName, Option<Tag>, Option<Digest>) {
        (self.registry, self.repository, self.tag, self.digest)
    }
}

impl FromStr for ImageReference {
    type Err = ImageReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(ImageReferenceError::Empty);
        }
        let malformed = |reason| ImageReferenceError::Malformed {
            input: input.to_owned(),
            reason,
        };
        if input.chars().any(char::is_whitespace) {
            return Err(malformed("it contains whitespace"));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((before, digest)) => {
                let digest =
                    digest
                        .parse::<Digest>()
                        .map_err(|source| ImageReferenceError::Digest {
                            input: input.to_owned(),
                            source,
                        })?;
                (before, Some(digest))
            }
            None => (input, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                let tag = parse_tag(input, &name_and_tag[colon + 1..])?;
                (&name_and_tag[..colon], Some(tag))
            }
            None => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(malformed("the repository name is missing"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if host::looks_like_registry(first) => {
                validate_registry_host(first).map_err(|reason| ImageReferenceError::Registry {
                    input: first.to_owned(),
                    reason,
                })?;
                (Some(first.to_owned()), rest)
            }
            _ => (None, name),
        };
        Ok(ImageReference {
            registry,
            repository: parse_repository(input, repository)?,
            tag,
            digest,
        })
    }
}

/// Validates `repository`, the repository part of the reference `input`
/// (the same string when a repository is given on its own).
pub fn parse_repository(
    input: &str,
    repository: &str,
) -> Result<RepositoryName, ImageReferenceError> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageReferenceError::Uppercase {
            input: input.to_owned(),
            repository: repository.to_owned(),
        });
    }
    repository
        .parse::<RepositoryName>()
        .map_err(|source| ImageReferenceError::Repository {
            input: input.to_owned(),
            source,
        })
}

/// Validates `tag`, the tag part of the reference `input`.
pub fn parse_tag(input: &str, tag: &str) -> Result<Tag, ImageReferenceError> {
    tag.parse::<Tag>()
        .map_err(|source| ImageReferenceError::Tag {
            input: input.to_owned(),
            source,
        })
}

impl fmt::Display for ImageReference {
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

impl Serialize for ImageReference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
