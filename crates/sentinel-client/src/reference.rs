//! Image references: `[registry/][namespace/]name[:tag][@digest]`, normalised the way docker does.

use std::fmt;

use sentinel_oci::{Digest, DigestError, NameError, RepositoryName, Tag};

use crate::location::{self, DOCKER_HUB, RegistryLocation};

/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference, registry or repository name is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
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

impl ReferenceError {
    pub(crate) fn registry(input: &str, reason: &'static str) -> Self {
        ReferenceError::Registry {
            input: input.to_owned(),
            reason,
        }
    }

    fn malformed(input: &str, reason: &'static str) -> Self {
        ReferenceError::Malformed {
            input: input.to_owned(),
            reason,
        }
    }
}

/// A parsed, normalised image reference such as `docker.io/library/alpine:3.20`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    registry: String,
    repository: RepositoryName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageReference {
    /// Parses `[registry/][namespace/]name[:tag][@digest]`.
    ///
    /// The first path component is a registry when it contains `.` or `:` or
    /// is `localhost`; otherwise the reference lives on `default_registry`
    /// (which may carry an `http://` or `https://` prefix, ignored here: keep a
    /// [`RegistryLocation`] for the scheme), or on `docker.io` when there is
    /// none. On Docker Hub a one-component name gains `library/`.
    pub fn parse(
        input: &str,
        default_registry: Option<&str>,
    ) -> Result<ImageReference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if input.chars().any(char::is_whitespace) {
            return Err(ReferenceError::malformed(input, "it contains whitespace"));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((before, digest)) => {
                let digest = digest
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
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
                let tag = name_and_tag[colon + 1..].parse::<Tag>().map_err(|source| {
                    ReferenceError::Tag {
                        input: input.to_owned(),
                        source,
                    }
                })?;
                (&name_and_tag[..colon], Some(tag))
            }
            None => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::malformed(
                input,
                "the repository name is missing",
            ));
        }
        let (registry, remainder) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                location::validate_host(first)
                    .map_err(|reason| ReferenceError::registry(first, reason))?;
                (location::canonical_registry(first), rest)
            }
            _ => {
                let registry = match default_registry {
                    Some(default) => RegistryLocation::parse(default)?.host().to_owned(),
                    None => DOCKER_HUB.to_owned(),
                };
                (registry, name)
            }
        };
        let repository = if registry == DOCKER_HUB && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_owned()
        };
        let repository = parse_repository_for(input, &repository)?;
        Ok(ImageReference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry's canonical name as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host the registry API answers on (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        location::api_host(&self.registry)
    }

    /// The registry as a location (scheme chosen by the usual rules).
    pub fn location(&self) -> RegistryLocation {
        RegistryLocation::from_validated(&self.registry)
    }

    /// The repository, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        self.repository.as_str()
    }

    /// The tag, if one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_ref().map(Tag::as_str)
    }

    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, or `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag().unwrap_or(DEFAULT_TAG)
    }

    /// What to put in a manifest URL: the digest if there is one, else the tag (or `latest`).
    pub fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(digest) => digest.to_string(),
            None => self.tag_or_latest().to_owned(),
        }
    }

    /// The same repository with `tag` and no digest (a digest belongs to the old tag).
    pub fn with_tag(&self, tag: &str) -> Result<ImageReference, ReferenceError> {
        let tag = tag.parse::<Tag>().map_err(|source| ReferenceError::Tag {
            input: tag.to_owned(),
            source,
        })?;
        Ok(ImageReference {
            tag: Some(tag),
            digest: None,
            ..self.clone()
        })
    }

    /// The same reference pinned to `digest` (the tag, if any, is kept for display).
    pub fn with_digest(&self, digest: Digest) -> ImageReference {
        ImageReference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (Some(tag), _) => write!(f, ":{tag}")?,
            (None, None) => write!(f, ":{DEFAULT_TAG}")?,
            (None, Some(_)) => {}
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Validates a repository name given to a client method (`repo` arguments).
pub(crate) fn parse_repository(repository: &str) -> Result<RepositoryName, ReferenceError> {
    parse_repository_for(repository, repository)
}

/// Validates the `<reference>` of a manifest URL: a tag, or a digest when it contains `:`.
pub(crate) fn parse_manifest_reference(
    reference: &str,
) -> Result<sentinel_oci::Reference, ReferenceError> {
    reference
        .parse::<sentinel_oci::Reference>()
        .map_err(|error| match error {
            sentinel_oci::ReferenceError::Digest(source) => ReferenceError::Digest {
                input: reference.to_owned(),
                source,
            },
            sentinel_oci::ReferenceError::Tag(source) => ReferenceError::Tag {
                input: reference.to_owned(),
                source,
            },
        })
}

fn parse_repository_for(input: &str, repository: &str) -> Result<RepositoryName, ReferenceError> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            input: input.to_owned(),
            repository: repository.to_owned(),
        });
    }
    repository
        .parse::<RepositoryName>()
        .map_err(|source| ReferenceError::Repository {
            input: input.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// input, default registry, registry, API host, repository, tag, has digest, display.
    type Case = (
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        bool,
        &'static str,
    );

    #[test]
    fn parses_and_normalises_references() {
        let digested = Box::leak(format!("alpine@sha256:{HEX}").into_boxed_str());
        let tagged_digested =
            Box::leak(format!("localhost:5000/me/hello:0.1.0@sha256:{HEX}").into_boxed_str());
        let cases: [Case; 16] = [
            (
                "alpine",
                None,
                "docker.io",
                "registry-1.docker.io",
                "library/alpine",
                None,
                false,
                "docker.io/library/alpine:latest",
            ),
            (
                "alpine:3.20",
                None,
                "docker.io",
                "registry-1.docker.io",
                "library/alpine",
                Some("3.20"),
                false,
                "docker.io/library/alpine:3.20",
            ),
            (
                "docker.io/alpine",
                None,
                "docker.io",
                "registry-1.docker.io",
                "library/alpine",
                None,
                false,
                "docker.io/library/alpine:latest",
            ),
            (
                "index.docker.io/library/alpine",
                None,
                "docker.io",
                "registry-1.docker.io",
                "library/alpine",
                None,
                false,
                "docker.io/library/alpine:latest",
            ),
            (
                "me/hello",
                None,
                "docker.io",
                "registry-1.docker.io",
                "me/hello",
                None,
                false,
                "docker.io/me/hello:latest",
            ),
            (
                "localhost:5000/me/hello:0.1.0",
                None,
                "localhost:5000",
                "localhost:5000",
                "me/hello",
                Some("0.1.0"),
                false,
                "localhost:5000/me/hello:0.1.0",
            ),
            (
                "localhost/hello",
                None,
                "localhost",
                "localhost",
                "hello",
                None,
                false,
                "localhost/hello:latest",
            ),
            (
                "ghcr.io/org/team/tool:v1",
                None,
                "ghcr.io",
                "ghcr.io",
                "org/team/tool",
                Some("v1"),
                false,
                "ghcr.io/org/team/tool:v1",
            ),
            (
                "127.0.0.1:5000/a",
                None,
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "a",
                None,
                false,
                "127.0.0.1:5000/a:latest",
            ),
            (
                "[::1]:5000/a:t",
                None,
                "[::1]:5000",
                "[::1]:5000",
                "a",
                Some("t"),
                false,
                "[::1]:5000/a:t",
            ),
            (
                "me/hello:0.1.0",
                Some("localhost:5000"),
                "localhost:5000",
                "localhost:5000",
                "me/hello",
                Some("0.1.0"),
                false,
                "localhost:5000/me/hello:0.1.0",
            ),
            (
                "hello",
                Some("http://127.0.0.1:5000"),
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "hello",
                None,
                false,
                "127.0.0.1:5000/hello:latest",
            ),
            (
                "hello",
                Some("docker.io"),
                "docker.io",
                "registry-1.docker.io",
                "library/hello",
                None,
                false,
                "docker.io/library/hello:latest",
            ),
            (
                "registry.example.com/x",
                Some("localhost:5000"),
                "registry.example.com",
                "registry.example.com",
                "x",
                None,
                false,
                "registry.example.com/x:latest",
            ),
            (
                digested,
                None,
                "docker.io",
                "registry-1.docker.io",
                "library/alpine",
                None,
                true,
                "docker.io/library/alpine@sha256:HEX",
            ),
            (
                tagged_digested,
                None,
                "localhost:5000",
                "localhost:5000",
                "me/hello",
                Some("0.1.0"),
                true,
                "localhost:5000/me/hello:0.1.0@sha256:HEX",
            ),
        ];
        for (input, default, registry, api_host, repository, tag, digest, display) in cases {
            let display = display.replace("HEX", HEX);
            let parsed = ImageReference::parse(input, default)
                .unwrap_or_else(|error| panic!("{input}: {error}"));
            assert_eq!(parsed.registry(), registry, "{input}");
            assert_eq!(parsed.api_host(), api_host, "{input}");
            assert_eq!(parsed.repository(), repository, "{input}");
            assert_eq!(parsed.tag(), tag, "{input}");
            assert_eq!(parsed.digest().is_some(), digest, "{input}");
            assert_eq!(parsed.to_string(), display, "{input}");
            let reparsed = ImageReference::parse(&parsed.to_string(), None).unwrap();
            assert_eq!(reparsed.to_string(), display, "round trip of {input}");
        }
    }

    #[test]
    fn refuses_invalid_references() {
        type IsExpected = fn(&ReferenceError) -> bool;
        let cases: &[(&str, IsExpected)] = &[
            ("", |e| matches!(e, ReferenceError::Empty)),
            ("Alpine", |e| matches!(e, ReferenceError::Uppercase { .. })),
            ("localhost:5000/Me/hello", |e| {
                matches!(e, ReferenceError::Uppercase { .. })
            }),
            ("me/hello:", |e| matches!(e, ReferenceError::Tag { .. })),
            ("me/hello:-x", |e| matches!(e, ReferenceError::Tag { .. })),
            ("me/hello@sha256:abc", |e| {
                matches!(e, ReferenceError::Digest { .. })
            }),
            ("me/hello@md5:abc", |e| {
                matches!(e, ReferenceError::Digest { .. })
            }),
            ("me//hello", |e| {
                matches!(e, ReferenceError::Repository { .. })
            }),
            ("me/hello/", |e| {
                matches!(e, ReferenceError::Repository { .. })
            }),
            ("localhost:5000/", |e| {
                matches!(e, ReferenceError::Repository { .. })
            }),
            (":tag", |e| matches!(e, ReferenceError::Malformed { .. })),
            ("my image", |e| {
                matches!(e, ReferenceError::Malformed { .. })
            }),
            ("host:notaport/x", |e| {
                matches!(e, ReferenceError::Registry { .. })
            }),
            ("a_-b", |e| matches!(e, ReferenceError::Repository { .. })),
        ];
        for (input, expected) in cases {
            let error = ImageReference::parse(input, None).expect_err(input);
            assert!(expected(&error), "{input:?} gave {error:?}");
        }
        let error = ImageReference::parse("Alpine", None).unwrap_err();
        assert!(error.to_string().contains("must be lowercase"), "{error}");
        assert!(ImageReference::parse("x", Some("ftp://host")).is_err());
    }

    #[test]
    fn accessors_and_builders() {
        let reference = ImageReference::parse("localhost:5000/me/hello", None).unwrap();
        assert_eq!(reference.tag(), None);
        assert_eq!(reference.tag_or_latest(), "latest");
        assert_eq!(reference.manifest_reference(), "latest");
        let tagged = reference.with_tag("0.2.0").unwrap();
        assert_eq!(tagged.to_string(), "localhost:5000/me/hello:0.2.0");
        let digest: Digest = format!("sha256:{HEX}").parse().unwrap();
        let pinned = tagged.with_digest(digest.clone());
        assert_eq!(pinned.digest(), Some(&digest));
        assert_eq!(pinned.manifest_reference(), digest.to_string());
        assert_eq!(pinned.with_tag("x").unwrap().digest(), None);
        assert!(reference.with_tag("bad tag").is_err());
        assert_eq!(reference.location().host(), "localhost:5000");
    }
}
