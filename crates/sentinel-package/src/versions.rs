//! Versions as tags and version requirements: which tags name versions, how a
//! version is written as a tag, and which version a requirement such as `^1.2`
//! resolves to.
//!
//! A requirement is Cargo's grammar (the `semver` crate): `^1.2`, `~1.4.0`,
//! `>=1.0, <2.0`, `1.x`, `*`, or an exact `=1.2.3`; a full version alone
//! (`1.2.3`) means exactly that version, as npm reads it. A pre-release matches
//! only a requirement that names a pre-release of the same major, minor and
//! patch, unless pre-releases are asked for.

use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};

/// The longest requirement accepted, in bytes: far above any real one, low
/// enough that parsing costs nothing.
pub const MAX_REQUIREMENT_LEN: usize = 256;

/// A parsed version requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRequirement {
    text: String,
    req: VersionReq,
}

/// Why a requirement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// Longer than [`MAX_REQUIREMENT_LEN`].
    #[error(
        "the version requirement is {0} bytes long; at most {MAX_REQUIREMENT_LEN} are accepted"
    )]
    TooLong(usize),
    /// Not a requirement.
    #[error(
        "{text:?} is not a version requirement ({reason}); write e.g. ^1.2, ~1.4.0, \">=1.0, <2.0\" or 1.x"
    )]
    Invalid {
        /// What was given.
        text: String,
        /// What the parser said.
        reason: String,
    },
}

impl FromStr for VersionRequirement {
    type Err = RequirementError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_REQUIREMENT_LEN {
            return Err(RequirementError::TooLong(text.len()));
        }
        let trimmed = text.trim();
        let invalid = |reason: String| RequirementError::Invalid {
            text: text.to_owned(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        // A full version alone means exactly that version (as npm reads
        // it), not Cargo's `^`.
        let req = match Version::parse(trimmed) {
            Ok(_) => VersionReq::parse(&format!("={trimmed}")),
            Err(_) => VersionReq::parse(trimmed),
        }
        .map_err(|e| invalid(e.to_string()))?;
        Ok(VersionRequirement {
            text: trimmed.to_owned(),
            req,
        })
    }
}

impl fmt::Display for VersionRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl VersionRequirement {
    /// Whether `version` satisfies the requirement. With `prerelease`, a
    /// pre-release is judged on its major, minor and patch as if it were not
    /// one; without, it matches only when the requirement names a
    /// pre-release of the same major, minor and patch.
    pub fn matches(&self, version: &Version, prerelease: bool) -> bool {
        if self.req.matches(version) {
            return true;
        }
        if prerelease && !version.pre.is_empty() {
            // `semver` admits a pre-release only through a comparator naming
            // a pre-release of the same major.minor.patch. Adding the lowest
            // such comparator (`>=M.m.p-0`, which every pre-release of
            // M.m.p satisfies) leaves only the other comparators' ranges to
            // decide: `^2` then admits 2.1.0-beta.1, while `^1.2` still
            // refuses 1.2.0-rc.1, which comes before 1.2.0.
            let mut widened = self.req.clone();
            widened.comparators.push(semver::Comparator {
                op: semver::Op::GreaterEq,
                major: version.major,
                minor: Some(version.minor),
                patch: Some(version.patch),
                pre: semver::Prerelease::new("0").expect("0 is a valid pre-release"),
            });
            // A partial bound (`^2.1`) is compared on major and minor only,
            // which would let 2.1.0-beta.1 in: a pre-release of a lower
            // bound comes before it, so it is refused.
            let below_a_bound = self.req.comparators.iter().any(|c| {
                matches!(
                    c.op,
                    semver::Op::Exact
                        | semver::Op::GreaterEq
                        | semver::Op::Tilde
                        | semver::Op::Caret
                        | semver::Op::Wildcard
                ) && c.pre.is_empty()
                    && (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0))
                        == (version.major, version.minor, version.patch)
            });
            return !below_a_bound && widened.matches(version);
        }
        false
    }

    /// The one version the requirement names exactly (`=1.2.3`, or a full
    /// version alone such as `1.2.3`), if it names one.
    pub fn exact(&self) -> Option<Version> {
        match self.req.comparators.as_slice() {
            [c] if c.op == semver::Op::Exact => Some(Version {
                major: c.major,
                minor: c.minor?,
                patch: c.patch?,
                pre: c.pre.clone(),
                build: semver::BuildMetadata::EMPTY,
            }),
            _ => None,
        }
    }

    /// The highest of `versions` that satisfies the requirement. A version
    /// named exactly is chosen even if `skip` would pass over it; otherwise
    /// versions for which `skip` is true (deprecated ones) are passed over.
    pub fn highest<'a, I>(
        &self,
        versions: I,
        prerelease: bool,
        skip: impl Fn(&Version) -> bool,
    ) -> Option<&'a Version>
    where
        I: IntoIterator<Item = &'a Version>,
    {
        let exact = self.exact();
        versions
            .into_iter()
            .filter(|v| self.matches(v, prerelease))
            .filter(|v| exact.as_ref().is_some_and(|e| cmp_precedence(e, v)) || !skip(v))
            .max_by(|a, b| a.cmp_precedence(b).then_with(|| a.cmp(b)))
    }
}

/// Whether two versions are the same version (build metadata ignored).
fn cmp_precedence(a: &Version, b: &Version) -> bool {
    a.cmp_precedence(b).is_eq()
}

/// Splits a reference that ends in a version requirement instead of a tag
/// (`team/planner:^1.2`, `host:5000/team/planner:>=1.0, <2.0`) into the
/// reference without it and the requirement's text. The requirement is what
/// follows the last `:` after the last `/` (so a registry's port is never
/// taken for it), when that is not a valid tag; `None` for a plain
/// reference, a reference with a digest, or one without a `:`.
pub fn split_requirement(text: &str) -> Option<(&str, &str)> {
    if text.contains('@') {
        return None;
    }
    let name_start = text.rfind('/').map_or(0, |slash| slash + 1);
    let colon = name_start + text[name_start..].rfind(':')?;
    let (base, tail) = (&text[..colon], &text[colon + 1..]);
    if tail.parse::<sentinel_oci::Tag>().is_ok() {
        return None;
    }
    Some((base, tail))
}

/// The tag a version is pushed under: the version, with `+` (which tags
/// cannot hold) written `_`, as docker and helm do.
pub fn version_tag(version: &Version) -> String {
    version.to_string().replace('+', "_")
}

/// The version a tag names, if it names one: a semantic version, optionally
/// with a leading `v`, with `_` read back as `+`.
pub fn tag_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Version::parse(&text.replacen('_', "+", 1)).ok()
}

/// The highest version that is not a pre-release and for which `skip` (deprecated)
/// is false: what `latest` means in a list of versions.
pub fn latest<'a, I>(versions: I, skip: impl Fn(&Version) -> bool) -> Option<&'a Version>
where
    I: IntoIterator<Item = &'a Version>,
{
    versions
        .into_iter()
        .filter(|v| v.pre.is_empty() && !skip(v))
        .max_by(|a, b| a.cmp_precedence(b).then_with(|| a.cmp(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<Version> {
        list.iter().map(|v| Version::parse(v).unwrap()).collect()
    }

    fn resolve(req: &str, list: &[&str], prerelease: bool) -> Option<String> {
        let all = versions(list);
        let req: VersionRequirement = req.parse().unwrap();
        req.highest(&all, prerelease, |_| false)
            .map(ToString::to_string)
    }

    const SET: &[&str] = &[
        "0.9.0",
        "1.0.0",
        "1.2.0",
        "1.2.5",
        "1.4.0",
        "1.4.7",
        "1.9.0",
        "2.0.0-rc.1",
        "2.0.0",
        "2.1.0-beta.1",
    ];

    #[test]
    fn resolves_the_common_forms() {
        assert_eq!(resolve("^1.2", SET, false).as_deref(), Some("1.9.0"));
        assert_eq!(resolve("~1.4.0", SET, false).as_deref(), Some("1.4.7"));
        assert_eq!(resolve(">=1.0, <2.0", SET, false).as_deref(), Some("1.9.0"));
        assert_eq!(resolve("1.x", SET, false).as_deref(), Some("1.9.0"));
        assert_eq!(resolve("*", SET, false).as_deref(), Some("2.0.0"));
        assert_eq!(resolve("=1.2.0", SET, false).as_deref(), Some("1.2.0"));
        assert_eq!(resolve("1.2.0", SET, false).as_deref(), Some("1.2.0"));
        assert_eq!(resolve("1.2", SET, false).as_deref(), Some("1.9.0"));
        assert_eq!(resolve("^3", SET, false), None);
    }

    #[test]
    fn pre_releases_only_when_named_or_asked_for() {
        assert_eq!(
            resolve(">=2.0.0-rc.1", SET, false).as_deref(),
            Some("2.0.0")
        );
        assert_eq!(
            resolve("=2.0.0-rc.1", SET, false).as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(resolve("^2", SET, false).as_deref(), Some("2.0.0"));
        assert_eq!(resolve("^2", SET, true).as_deref(), Some("2.1.0-beta.1"));
        assert_eq!(resolve("^2.1", &["2.0.0", "2.1.0-beta.1"], true), None);
        assert_eq!(resolve("^1.2", &["1.2.0-rc.1", "1.1.0"], true), None);
    }

    #[test]
    fn skipped_versions_are_passed_over_unless_named_exactly() {
        let all = versions(SET);
        let deprecated = Version::parse("1.9.0").unwrap();
        let skip = |v: &Version| *v == deprecated;
        let caret: VersionRequirement = "^1".parse().unwrap();
        assert_eq!(
            caret.highest(&all, false, skip).unwrap().to_string(),
            "1.4.7"
        );
        let exact: VersionRequirement = "=1.9.0".parse().unwrap();
        assert_eq!(
            exact.highest(&all, false, skip).unwrap().to_string(),
            "1.9.0"
        );
        assert_eq!(latest(&all, skip).unwrap().to_string(), "2.0.0");
        assert_eq!(latest(&all, |_| true), None);
    }

    #[test]
    fn refuses_what_is_not_a_requirement() {
        for bad in ["", "  ", "latest", "^^1", ">=1.0 <2.0 <3", "1.2.3.4", "a.b"] {
            assert!(bad.parse::<VersionRequirement>().is_err(), "{bad:?}");
        }
        let long = "1".repeat(MAX_REQUIREMENT_LEN + 1);
        assert_eq!(
            long.parse::<VersionRequirement>(),
            Err(RequirementError::TooLong(MAX_REQUIREMENT_LEN + 1))
        );
    }

    #[test]
    fn requirements_are_split_from_references() {
        assert_eq!(split_requirement("team/a:^1.2"), Some(("team/a", "^1.2")));
        assert_eq!(
            split_requirement("localhost:5000/team/a:>=1.0, <2.0"),
            Some(("localhost:5000/team/a", ">=1.0, <2.0"))
        );
        for plain in [
            "team/a",
            "team/a:1.2.0",
            "localhost:5000/team/a",
            "team/a@sha256:00",
            "a:1.x",
        ] {
            assert_eq!(split_requirement(plain), None, "{plain}");
        }
    }

    #[test]
    fn tags_and_versions_round_trip() {
        for text in ["1.2.3", "1.2.3-rc.1", "1.2.3+build.5", "0.0.1-alpha+x"] {
            let version = Version::parse(text).unwrap();
            assert_eq!(tag_version(&version_tag(&version)), Some(version));
        }
        assert_eq!(tag_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        for tag in ["latest", "stable", "1.2", "v", "main-1.2.3", "sha256-abc"] {
            assert_eq!(tag_version(tag), None, "{tag}");
        }
    }
}
