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

    /// One case a line: input, default registry, registry, API host,
    /// repository, tag, whether a digest was written, and the display form.
    /// `-` stands for none and `HEX` for the digest's hex.
    const CASES: &str = "
        alpine            -              docker.io       registry-1.docker.io  library/alpine  -     no  docker.io/library/alpine:latest
        alpine:3.20       -              docker.io       registry-1.docker.io  library/alpine  3.20  no  docker.io/library/alpine:3.20
        docker.io/alpine  -              docker.io       registry-1.docker.io  library/alpine  -     no  docker.io/library/alpine:latest
        index.docker.io/library/alpine  -  docker.io     registry-1.docker.io  library/alpine  -     no  docker.io/library/alpine:latest
        me/hello          -              docker.io       registry-1.docker.io  me/hello        -     no  docker.io/me/hello:latest
        localhost:5000/me/hello:0.1.0  -  localhost:5000  localhost:5000       me/hello        0.1.0 no  localhost:5000/me/hello:0.1.0
        localhost/hello   -              localhost       localhost             hello           -     no  localhost/hello:latest
        ghcr.io/org/team/tool:v1  -      ghcr.io         ghcr.io               org/team/tool   v1    no  ghcr.io/org/team/tool:v1
        127.0.0.1:5000/a  -              127.0.0.1:5000  127.0.0.1:5000        a               -     no  127.0.0.1:5000/a:latest
        [::1]:5000/a:t    -              [::1]:5000      [::1]:5000            a               t     no  [::1]:5000/a:t
        me/hello:0.1.0    localhost:5000  localhost:5000  localhost:5000       me/hello        0.1.0 no  localhost:5000/me/hello:0.1.0
        hello             http://127.0.0.1:5000  127.0.0.1:5000  127.0.0.1:5000  hello         -     no  127.0.0.1:5000/hello:latest
        hello             docker.io      docker.io       registry-1.docker.io  library/hello   -     no  docker.io/library/hello:latest
        registry.example.com/x  localhost:5000  registry.example.com  registry.example.com  x  -     no  registry.example.com/x:latest
        alpine@sha256:HEX  -             docker.io       registry-1.docker.io  library/alpine  -     yes docker.io/library/alpine@sha256:HEX
        localhost:5000/me/hello:0.1.0@sha256:HEX  -  localhost:5000  localhost:5000  me/hello  0.1.0  yes  localhost:5000/me/hello:0.1.0@sha256:HEX
    ";

    #[test]
    fn parses_and_normalises_references() {
        let none = |field: &str| Some(field.to_owned()).filter(|f| f != "-");
        for line in CASES.lines().filter(|line| !line.trim().is_empty()) {
            let line = line.replace("HEX", HEX);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [
                input,
                default,
                registry,
                api_host,
                repository,
                tag,
                digest,
                display,
            ] = fields[..]
            else {
                panic!("a case has eight fields: {line}");
            };
            let parsed = ResolvedReference::parse(input, none(default).as_deref())
                .unwrap_or_else(|error| panic!("{input}: {error}"));
            assert_eq!(parsed.registry(), registry, "{input}");
            assert_eq!(parsed.api_host(), api_host, "{input}");
            assert_eq!(parsed.repository(), repository, "{input}");
            assert_eq!(parsed.tag(), none(tag).as_deref(), "{input}");
            assert_eq!(parsed.digest().is_some(), digest == "yes", "{input}");
            assert_eq!(parsed.to_string(), display, "{input}");
            let reparsed = ResolvedReference::parse(&parsed.to_string(), None).unwrap();
            assert_eq!(reparsed.to_string(), display, "round trip of {input}");
        }
        assert_eq!(CASES.lines().filter(|l| !l.trim().is_empty()).count(), 16);
    }

    #[test]
    fn refuses_invalid_references() {
        // The grammar's verdicts are tested in sentinel-oci, where the one
        // parser lives; resolving adds the default registry's and the
        // Docker Hub name's own refusals.
        let error = ResolvedReference::parse("Alpine", None).unwrap_err();
        assert!(matches!(error, ImageReferenceError::Uppercase { .. }));
        assert!(error.to_string().contains("must be lowercase"), "{error}");
        assert!(ResolvedReference::parse("x", Some("ftp://host")).is_err());
        let long = "a".repeat(sentinel_oci::MAX_NAME_LEN - 2);
        assert!(matches!(
            ResolvedReference::parse(&long, None),
            Err(ImageReferenceError::Repository { .. })
        ));
        assert!(ResolvedReference::parse(&long, Some("localhost:5000")).is_ok());
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
