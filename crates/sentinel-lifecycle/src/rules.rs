//! The rules, and the set of them in force.

use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};
use sentinel_trust::RepositoryPattern;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::LifecycleError;

/// The namespace of a repository: the first component of its name
/// (`acme` for `acme/team/agent`, `agent` for `agent`).
pub fn namespace_of(repository: &str) -> &str {
    repository
        .split_once('/')
        .map_or(repository, |(first, _)| first)
}

/// A tag pattern: a tag in which `*` stands for any run of characters
/// (`release-*`, `v*`, `*-stable`, `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagPattern(String);

impl TagPattern {
    /// Whether `tag` matches the pattern.
    pub fn matches(&self, tag: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = tag.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl FromStr for TagPattern {
    type Err = LifecycleError;

    fn from_str(text: &str) -> Result<Self, LifecycleError> {
        let valid = !text.is_empty()
            && text.len() <= 128
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*'));
        if valid {
            Ok(TagPattern(text.to_owned()))
        } else {
            Err(LifecycleError::Invalid(format!(
                "invalid tag pattern {text:?}: use tag characters (letters, digits, _ . -) and * for any run of them"
            )))
        }
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TagPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TagPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn yes() -> bool {
    true
}

/// Which package versions of the repositories of a pattern to keep; the
/// others go when retention runs. A version is kept when any rule keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetentionPolicy {
    /// The repositories covered.
    pub repositories: RepositoryPattern,
    /// Keep the highest `N` versions (semver order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep versions pushed in the last `D` days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
    /// Keep versions matching this semver requirement (`>=1.0.0`, `^2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_matching: Option<VersionReq>,
    /// Keep the agent versions a kept stack version names among its members.
    #[serde(default = "yes")]
    pub keep_stack_members: bool,
    /// Keep versions a key trusted by the repository's signature policy signed.
    #[serde(default = "yes")]
    pub keep_signed: bool,
}

impl RetentionPolicy {
    /// Refuses a policy with no rule saying what to keep, which would
    /// delete every version it covers.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        if self.keep_last.is_none() && self.keep_days.is_none() && self.keep_matching.is_none() {
            return Err(LifecycleError::Invalid(format!(
                "the retention policy for {} keeps nothing: give keep-last, keep-days or keep-matching",
                self.repositories
            )));
        }
        Ok(())
    }

    /// Whether the requirement keeps `version`.
    pub fn matching_keeps(&self, version: &Version) -> bool {
        self.keep_matching
            .as_ref()
            .is_some_and(|req| req.matches(version))
    }
}

/// Tags that never move: in the repositories of a pattern, a tag matching
/// one of `tags`, once it names a manifest, cannot be moved to another or
/// deleted, nor can the manifest it names be deleted by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImmutabilityRule {
    /// The repositories covered.
    pub repositories: RepositoryPattern,
    /// The tag patterns whose tags are immutable.
    pub tags: Vec<TagPattern>,
}

impl ImmutabilityRule {
    /// Refuses a rule without tag patterns.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        if self.tags.is_empty() {
            return Err(LifecycleError::Invalid(format!(
                "the immutability rule for {} names no tag pattern",
                self.repositories
            )));
        }
        Ok(())
    }

    /// The first of the rule's patterns that `tag` matches.
    pub fn pattern_for(&self, tag: &str) -> Option<&TagPattern> {
        self.tags.iter().find(|pattern| pattern.matches(tag))
    }
}

/// How many bytes of distinct blobs a namespace may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Quota {
    /// The namespace: a user or an organisation, the first component of
    /// its repositories' names.
    pub namespace: String,
    /// The limit, in bytes (`10737418240`, or `"10GiB"` in a file).
    #[serde(deserialize_with = "bytes_or_text")]
    pub bytes: u64,
}

impl Quota {
    /// Refuses a namespace that is no repository name's first component.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        let ns = &self.namespace;
        let valid = !ns.is_empty()
            && ns.len() <= 255
            && !ns.starts_with(['.', '_', '-'])
            && !ns.ends_with(['.', '_', '-'])
            && ns.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if valid {
            Ok(())
        } else {
            Err(LifecycleError::Invalid(format!(
                "invalid namespace {ns:?}: give the first component of a repository name (lowercase letters, digits, . _ -)"
            )))
        }
    }
}

fn bytes_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Bytes(bytes) => Ok(bytes),
        Size::Text(text) => parse_size(&text).map_err(serde::de::Error::custom),
    }
}

/// Reads a size: a number of bytes, optionally followed by a unit (`B`,
/// `KB`, `MB`, `GB`, `TB` in powers of 1000, `KiB`, `MiB`, `GiB`, `TiB` in
/// powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, LifecycleError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(size_error(text)),
    };
    let number: f64 = number.parse().map_err(|_| size_error(text))?;
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(size_error(text));
    }
    Ok(bytes.round() as u64)
}

fn size_error(text: &str) -> LifecycleError {
    LifecycleError::Invalid(format!(
        "invalid size {text:?}: give bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
    ))
}

/// `bytes` for people: `512 B`, `1.5 KiB`, `10.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A set of rules: what the configuration sets, or the policy file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Rules {
    /// Retention policies.
    #[serde(default)]
    pub retention: Vec<RetentionPolicy>,
    /// Tag immutability rules.
    #[serde(default)]
    pub immutable_tags: Vec<ImmutabilityRule>,
    /// Namespace quotas.
    #[serde(default)]
    pub quotas: Vec<Quota>,
}

impl Rules {
    /// Checks every rule.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        self.retention
            .iter()
            .try_for_each(RetentionPolicy::validate)?;
        self.immutable_tags
            .iter()
            .try_for_each(ImmutabilityRule::validate)?;
        self.quotas.iter().try_for_each(Quota::validate)
    }
}

/// Where a rule in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSource {
    /// The TOML configuration: fixed while the server runs; it wins over
    /// the policy file for the same pattern or namespace.
    Configuration,
    /// The policy file (`policy ...`, the management API).
    File,
}

/// The rules in force; patterned rules most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    retention: Vec<(RetentionPolicy, RuleSource)>,
    immutability: Vec<(ImmutabilityRule, RuleSource)>,
    quotas: Vec<(Quota, RuleSource)>,
}

/// `configured` then `file`, keeping the first rule of each key.
fn merged<T>(configured: Vec<T>, file: Vec<T>, key: impl Fn(&T) -> String) -> Vec<(T, RuleSource)> {
    let mut out: Vec<(T, RuleSource)> = Vec::new();
    let tagged = configured
        .into_iter()
        .map(|rule| (rule, RuleSource::Configuration))
        .chain(file.into_iter().map(|rule| (rule, RuleSource::File)));
    for (rule, source) in tagged {
        if !out.iter().any(|(held, _)| key(held) == key(&rule)) {
            out.push((rule, source));
        }
    }
    out
}

/// Sorts patterned rules most specific first, then by pattern.
fn by_specificity<T>(rules: &mut [(T, RuleSource)], pattern: impl Fn(&T) -> &RepositoryPattern) {
    rules.sort_by(|(a, _), (b, _)| {
        let (a, b) = (pattern(a), pattern(b));
        b.specificity()
            .cmp(&a.specificity())
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
}

impl Lifecycle {
    /// The rules of the configuration and of the policy file; for a pattern
    /// or namespace in both, the configuration's.
    pub fn new(configured: Rules, file: Rules) -> Lifecycle {
        let mut retention = merged(configured.retention, file.retention, |r| {
            r.repositories.to_string()
        });
        by_specificity(&mut retention, |r| &r.repositories);
        let mut immutability = merged(configured.immutable_tags, file.immutable_tags, |r| {
            r.repositories.to_string()
        });
        by_specificity(&mut immutability, |r| &r.repositories);
        let mut quotas = merged(configured.quotas, file.quotas, |q| q.namespace.clone());
        quotas.sort_by(|(a, _), (b, _)| a.namespace.cmp(&b.namespace));
        Lifecycle {
            retention,
            immutability,
            quotas,
        }
    }

    /// The retention policy covering `repository`: the most specific match.
    pub fn retention_for(&self, repository: &str) -> Option<&RetentionPolicy> {
        self.retention
            .iter()
            .map(|(policy, _)| policy)
            .find(|policy| policy.repositories.matches(repository))
    }

    /// The immutability rule covering `repository` (the most specific
    /// match) and the pattern of it that `tag` matches, if `tag` is immutable.
    pub fn immutable_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Option<(&ImmutabilityRule, &TagPattern)> {
        let rule = self
            .immutability
            .iter()
            .map(|(rule, _)| rule)
            .find(|rule| rule.repositories.matches(repository))?;
        rule.pattern_for(tag).map(|pattern| (rule, pattern))
    }

    /// The quota of `namespace`, in bytes.
    pub fn quota(&self, namespace: &str) -> Option<u64> {
        self.quotas
            .iter()
            .find(|(quota, _)| quota.namespace == namespace)
            .map(|(quota, _)| quota.bytes)
    }

    /// Every retention policy with its source, most specific first.
    pub fn retention(&self) -> impl Iterator<Item = (&RetentionPolicy, RuleSource)> {
        self.retention.iter().map(|(rule, source)| (rule, *source))
    }

    /// Every immutability rule with its source, most specific first.
    pub fn immutability(&self) -> impl Iterator<Item = (&ImmutabilityRule, RuleSource)> {
        self.immutability
            .iter()
            .map(|(rule, source)| (rule, *source))
    }

    /// Every quota with its source, by namespace.
    pub fn quotas(&self) -> impl Iterator<Item = (&Quota, RuleSource)> {
        self.quotas.iter().map(|(rule, source)| (rule, *source))
    }

    /// Whether the configuration sets the retention policy of `pattern`.
    pub fn configured_retention(&self, pattern: &RepositoryPattern) -> bool {
        self.retention().any(|(rule, source)| {
            source == RuleSource::Configuration && rule.repositories == *pattern
        })
    }

    /// Whether the configuration sets the immutability rule of `pattern`.
    pub fn configured_immutability(&self, pattern: &RepositoryPattern) -> bool {
        self.immutability().any(|(rule, source)| {
            source == RuleSource::Configuration && rule.repositories == *pattern
        })
    }

    /// Whether the configuration sets the quota of `namespace`.
    pub fn configured_quota(&self, namespace: &str) -> bool {
        self.quotas().any(|(rule, source)| {
            source == RuleSource::Configuration && rule.namespace == namespace
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> TagPattern {
        text.parse().unwrap()
    }

    #[test]
    fn tag_patterns_glob_with_stars() {
        assert!(tags("release-*").matches("release-1"));
        assert!(tags("release-*").matches("release-"));
        assert!(!tags("release-*").matches("prerelease-1"));
        assert!(tags("v*").matches("v1.2.3"));
        assert!(tags("*-stable").matches("2024-stable"));
        assert!(!tags("*-stable").matches("stable"));
        assert!(tags("a*b*c").matches("aXbYc"));
        assert!(!tags("a*b*c").matches("aXcYb"));
        assert!(tags("latest").matches("latest"));
        assert!(!tags("latest").matches("latest2"));
        assert!(tags("*").matches("anything"));
        for bad in ["", "a/b", "a b", "tag:x"] {
            assert!(bad.parse::<TagPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_specific_rule_applies_and_the_configuration_wins() {
        let rule = |pattern: &str, tag: &str| ImmutabilityRule {
            repositories: pattern.parse().unwrap(),
            tags: vec![tags(tag)],
        };
        let lifecycle = Lifecycle::new(
            Rules {
                immutable_tags: vec![rule("acme/*", "release-*")],
                quotas: vec![Quota {
                    namespace: "acme".into(),
                    bytes: 10,
                }],
                ..Rules::default()
            },
            Rules {
                immutable_tags: vec![
                    rule("acme/*", "v*"),
                    rule("acme/special", "gold"),
                    rule("*", "v*"),
                ],
                quotas: vec![Quota {
                    namespace: "acme".into(),
                    bytes: 99,
                }],
                ..Rules::default()
            },
        );
        assert!(lifecycle.immutable_tag("acme/x", "release-1").is_some());
        assert!(lifecycle.immutable_tag("acme/x", "v1").is_none());
        assert!(lifecycle.immutable_tag("acme/special", "gold").is_some());
        assert!(
            lifecycle
                .immutable_tag("acme/special", "release-1")
                .is_none()
        );
        assert!(lifecycle.immutable_tag("other/x", "v1").is_some());
        assert_eq!(lifecycle.quota("acme"), Some(10));
        assert_eq!(lifecycle.quota("other"), None);
        assert!(lifecycle.configured_quota("acme"));
        assert!(lifecycle.configured_immutability(&"acme/*".parse().unwrap()));
        assert!(!lifecycle.configured_immutability(&"*".parse().unwrap()));
    }

    #[test]
    fn sizes_read_and_print() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(10 << 30), "10.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn malformed_rules_are_refused() {
        let keeps_nothing = RetentionPolicy {
            repositories: "acme/*".parse().unwrap(),
            keep_last: None,
            keep_days: None,
            keep_matching: None,
            keep_stack_members: true,
            keep_signed: true,
        };
        assert!(
            keeps_nothing
                .validate()
                .unwrap_err()
                .to_string()
                .contains("keeps nothing")
        );
        let no_tags = ImmutabilityRule {
            repositories: "acme/*".parse().unwrap(),
            tags: vec![],
        };
        assert!(no_tags.validate().is_err());
        for bad in ["", "Acme", "a/b", "-x"] {
            let quota = Quota {
                namespace: bad.into(),
                bytes: 1,
            };
            assert!(quota.validate().is_err(), "{bad}");
        }
        assert_eq!(namespace_of("acme/team/agent"), "acme");
        assert_eq!(namespace_of("agent"), "agent");
    }
}
