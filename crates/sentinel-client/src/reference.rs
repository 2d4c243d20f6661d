//! Image references resolved to a registry: `[registry/][namespace/]name[:tag][@digest]`,
//! normalised the way docker does.
//!
//! The grammar is `sentinel-oci`'s [`sentinel_oci::ImageReference`]; this
//! module adds the registry a reference lives on when it names none, and
//! Docker Hub's `library/` namespace.

use std::fmt;

use sentinel_oci::{
    DOCKER_HUB, Digest, ImageReferenceError, RepositoryName, Tag, canonical_registry,
    registry_api_host,
};

use crate::location::RegistryLocation;

/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference resolved to its registry, such as
/// `docker.io/library/alpine:3.20`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedReference {
    registry: String,
    repository: RepositoryName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ResolvedReference {
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
    ) -> Result<ResolvedReference, ImageReferenceError> {
        let written: sentinel_oci::ImageReference = input.parse()?;
        let (registry, repository, tag, digest) = written.into_parts();
        let registry = match (registry, default_registry) {
            (Some(written), _) => canonical_registry(&written),
            (None, Some(default)) => RegistryLocation::parse(default)?.host().to_owned(),
            (None, None) => DOCKER_HUB.to_owned(),
        };
        let repository = if registry == DOCKER_HUB && !repository.as_str().contains('/') {
            sentinel_oci::parse_repository(input, &format!("library/{repository}"))?
        } else {
            repository
        };
        Ok(ResolvedReference {
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
        registry_api_host(&self.registry)
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
    pub fn with_tag(&self, tag: &str) -> Result<ResolvedReference, ImageReferenceError> {
        Ok(ResolvedReference {
            tag: Some(sentinel_oci::parse_tag(tag, tag)?),
            digest: None,
            ..self.clone()
        })
    }

    /// The same reference pinned to `digest` (the tag, if any, is kept for display).
    pub fn with_digest(&self, digest: Digest) -> ResolvedReference {
        ResolvedReference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ResolvedReference {
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
pub(crate) fn parse_repository(repository: &str) -> Result<RepositoryName, ImageReferenceError> {
    sentinel_oci::parse_repository(repository, repository)
}

/// Validates the `<reference>` of a manifest URL: a tag, or a digest when it contains `:`.
pub(crate) fn parse_manifest_reference(
    reference: &str,
) -> Result<sentinel_oci::Reference, ImageReferenceError> {
    reference
        .parse::<sentinel_oci::Reference>()
        .map_err(|error| match error {
            sentinel_oci::ReferenceError::Digest(source) => ImageReferenceError::Digest {
                input: reference.to_owned(),
                source,
            },
            sentinel_oci::ReferenceError::Tag(source) => ImageReferenceError::Tag {
                input: reference.to_owned(),
                source,
            },
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
            let parsed = ResolvedReference::parse(input, default)
                .unwrap_or_else(|error| panic!("{input}: {error}"));
            assert_eq!(parsed.registry(), registry, "{input}");
            assert_eq!(parsed.api_host(), api_host, "{input}");
            assert_eq!(parsed.repository(), repository, "{input}");
            assert_eq!(parsed.tag(), tag, "{input}");
            assert_eq!(parsed.digest().is_some(), digest, "{input}");
            assert_eq!(parsed.to_string(), display, "{input}");
            let reparsed = ResolvedReference::parse(&parsed.to_string(), None).unwrap();
            assert_eq!(reparsed.to_string(), display, "round trip of {input}");
        }
    }

    #[test]
    fn refuses_invalid_references() {
        type IsExpected = fn(&ImageReferenceError) -> bool;
        let cases: &[(&str, IsExpected)] = &[
            ("", |e| matches!(e, ImageReferenceError::Empty)),
            ("Alpine", |e| {
                matches!(e, ImageReferenceError::Uppercase { .. })
            }),
            ("localhost:5000/Me/hello", |e| {
                matches!(e, ImageReferenceError::Uppercase { .. })
            }),
            ("me/hello:", |e| {
                matches!(e, ImageReferenceError::Tag { .. })
            }),
            ("me/hello:-x", |e| {
                matches!(e, ImageReferenceError::Tag { .. })
            }),
            ("me/hello@sha256:abc", |e| {
                matches!(e, ImageReferenceError::Digest { .. })
            }),
            ("me/hello@md5:abc", |e| {
                matches!(e, ImageReferenceError::Digest { .. })
            }),
            ("me//hello", |e| {
                matches!(e, ImageReferenceError::Repository { .. })
            }),
            ("me/hello/", |e| {
                matches!(e, ImageReferenceError::Repository { .. })
            }),
            ("localhost:5000/", |e| {
                matches!(e, ImageReferenceError::Repository { .. })
            }),
            (":tag", |e| {
                matches!(e, ImageReferenceError::Malformed { .. })
            }),
            ("my image", |e| {
                matches!(e, ImageReferenceError::Malformed { .. })
            }),
            ("host:notaport/x", |e| {
                matches!(e, ImageReferenceError::Registry { .. })
            }),
            ("a_-b", |e| {
                matches!(e, ImageReferenceError::Repository { .. })
            }),
        ];
        for (input, expected) in cases {
            let error = ResolvedReference::parse(input, None).expect_err(input);
            assert!(expected(&error), "{input:?} gave {error:?}");
        }
        let error = ResolvedReference::parse("Alpine", None).unwrap_err();
        assert!(error.to_string().contains("must be lowercase"), "{error}");
        assert!(ResolvedReference::parse("x", Some("ftp://host")).is_err());
    }

    #[test]
    fn accessors_and_builders() {
        let reference = ResolvedReference::parse("localhost:5000/me/hello", None).unwrap();
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
