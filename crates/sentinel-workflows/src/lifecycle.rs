//! `agent configure retention|immutable|quota`: a Sentinel registry's
//! retention policies (and runs of them), tag immutability rules and
//! namespace quotas, through its management API (admins change them; a
//! namespace's own users read its usage). Refusals mean what
//! [`management`](crate::management) says.
//!
//! What the registry would refuse as malformed (a size, a namespace, a
//! repository pattern, a semver requirement) is refused first, as the
//! registry would, with `sentinel-lifecycle`'s parsers: a usage error
//! naming the value as given, and nothing sent.

use sentinel_client::{Method, RegistryClient};
use sentinel_lifecycle::{
    ImmutabilityRule, LifecycleError, Quota, RepositoryPattern, RetentionPolicy, TagPattern,
    parse_size,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkflowError};
use crate::management::{Purpose, explained};

/// The retention policies, as `sentinel-registry policy retention` changes them.
const RETENTION: Purpose = Purpose {
    doing: "manage retention policies",
    on_server: "policy retention",
};

/// Running retention, as `sentinel-registry gc` does first on the server.
const RETENTION_RUN: Purpose = Purpose {
    doing: "run retention",
    on_server: "gc",
};

/// The immutability rules, as `sentinel-registry policy immutable` changes them.
const IMMUTABILITY: Purpose = Purpose {
    doing: "manage immutability rules",
    on_server: "policy immutable",
};

/// The quotas, as `sentinel-registry policy quota` changes them.
const QUOTAS: Purpose = Purpose {
    doing: "manage quotas",
    on_server: "policy quota",
};

/// A retention policy, as the management API lists and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSpec {
    /// The repository pattern (`NAME`, `NS/*`, `*`).
    pub repositories: String,
    /// Keep the highest N versions.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep versions pushed in the last D days.
    #[serde(default)]
    pub keep_days: Option<u32>,
    /// Keep versions matching this semver requirement.
    #[serde(default)]
    pub keep_matching: Option<String>,
    /// Keep agent versions a kept stack version names.
    #[serde(default = "yes")]
    pub keep_stack_members: bool,
    /// Keep versions a trusted key signed.
    #[serde(default = "yes")]
    pub keep_signed: bool,
    /// Where the policy comes from (`configuration` or `file`), as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn yes() -> bool {
    true
}

/// A tag immutability rule, as the management API lists and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImmutabilitySpec {
    /// The repository pattern (`NAME`, `NS/*`, `*`).
    pub repositories: String,
    /// The tag patterns whose tags never move (`release-*`, `v*`).
    pub tags: Vec<String>,
    /// Where the rule comes from (`configuration` or `file`), as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a retention run deleted, or would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRun {
    /// Whether nothing was deleted (a dry run).
    pub dry_run: bool,
    /// The versions some policy covers.
    pub examined: u64,
    /// The versions kept.
    pub kept: u64,
    /// The versions deleted, or that a run would delete.
    pub removed: Vec<RetiredVersion>,
    /// The versions whose deletion failed, each with its `error`.
    #[serde(default)]
    pub failed: Vec<RetiredVersion>,
}

/// A package version a retention run deleted (or would, or failed to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredVersion {
    /// The repository.
    pub repository: String,
    /// The version.
    pub version: String,
    /// Its manifest's digest.
    pub digest: String,
    /// The tag it was pushed under, if any.
    #[serde(default)]
    pub tag: Option<String>,
    /// When it was pushed (RFC 3339).
    pub pushed_at: String,
    /// Why its deletion failed, for a failed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A namespace's usage and quota, as the management API answers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceQuota {
    /// The namespace.
    pub namespace: String,
    /// The bytes of distinct blobs it holds.
    pub usage: u64,
    /// Its quota in bytes, if it has one.
    #[serde(default)]
    pub quota: Option<u64>,
    /// Where the quota comes from (`configuration` or `file`).
    #[serde(default)]
    pub source: Option<String>,
}

/// Percent-encodes a pattern or namespace for a path segment (`acme/*`
/// becomes `acme%2F%2A`).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A malformed rule, as a usage error.
fn malformed(error: LifecycleError) -> WorkflowError {
    WorkflowError::Usage(error.to_string())
}

/// Checks `text` as a repository pattern (`NAME`, `NS/*`, `*`).
fn pattern(text: &str) -> Result<RepositoryPattern> {
    text.parse()
        .map_err(|error| malformed(LifecycleError::Pattern(error)))
}

/// Checks `namespace` as a quota's namespace (a repository name's first
/// component).
fn namespace(namespace: &str) -> Result<()> {
    let quota = Quota {
        namespace: namespace.to_owned(),
        bytes: 0,
    };
    quota.validate().map_err(malformed)
}

/// Sends `method` to `/api/v1/{path}` (about `what`) with `body`, for
/// `purpose`: the JSON answer, or the error the refusal means.
async fn call(
    client: &RegistryClient,
    method: Method,
    path: &str,
    what: &str,
    body: Option<serde_json::Value>,
    purpose: Purpose,
) -> Result<serde_json::Value> {
    match client.management_json(method, path, what, body).await {
        Ok(answer) => Ok(answer),
        Err(error) => Err(explained(client, error, purpose).await),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(
    client: &RegistryClient,
    value: serde_json::Value,
) -> Result<T> {
    serde_json::from_value(value).map_err(|error| {
        WorkflowError::Unsupported(format!(
            "{} answered the management API with something unexpected: {error}",
            client.registry()
        ))
    })
}

/// The retention policies in force.
pub async fn retention_policies(client: &RegistryClient) -> Result<Vec<RetentionSpec>> {
    #[derive(Deserialize)]
    struct Listed {
        policies: Vec<RetentionSpec>,
    }
    let answer = call(
        client,
        Method::GET,
        "retention-policies",
        "the retention policies",
        None,
        RETENTION,
    )
    .await?;
    Ok(decode::<Listed>(client, answer)?.policies)
}

/// Sets (adds or replaces) the retention policy of `spec.repositories`,
/// once it is one the registry takes (a pattern, a semver requirement,
/// something to keep).
pub async fn set_retention_policy(
    client: &RegistryClient,
    spec: &RetentionSpec,
) -> Result<RetentionSpec> {
    let keep_matching = spec
        .keep_matching
        .as_deref()
        .map(|text| {
            text.parse::<semver::VersionReq>().map_err(|error| {
                WorkflowError::Usage(format!(
                    "--keep-matching {text:?} is not a semver requirement (>=1.0.0, ^2): {error}"
                ))
            })
        })
        .transpose()?;
    let policy = RetentionPolicy {
        repositories: pattern(&spec.repositories)?,
        keep_last: spec.keep_last,
        keep_days: spec.keep_days,
        keep_matching,
        keep_stack_members: spec.keep_stack_members,
        keep_signed: spec.keep_signed,
    };
    policy.validate().map_err(malformed)?;
    let body = serde_json::json!({
        "keep_last": spec.keep_last,
        "keep_days": spec.keep_days,
        "keep_matching": spec.keep_matching,
        "keep_stack_members": spec.keep_stack_members,
        "keep_signed": spec.keep_signed,
    });
    let path = format!("retention-policies/{}", segment(&spec.repositories));
    let answer = call(
        client,
        Method::PUT,
        &path,
        "the retention policies",
        Some(body),
        RETENTION,
    )
    .await?;
    decode(client, answer)
}

/// Removes the retention policy of `pattern`.
pub async fn remove_retention_policy(client: &RegistryClient, pattern: &str) -> Result<()> {
    self::pattern(pattern)?;
    let path = format!("retention-policies/{}", segment(pattern));
    let what = format!("retention policy for {pattern}");
    call(client, Method::DELETE, &path, &what, None, RETENTION).await?;
    Ok(())
}

/// Applies the retention policies now, or with `dry_run` only lists what
/// they would delete (`POST /api/v1/retention/run`).
pub async fn run_retention(client: &RegistryClient, dry_run: bool) -> Result<RetentionRun> {
    let path = if dry_run {
        "retention/run?dry_run=true"
    } else {
        "retention/run"
    };
    let answer = call(
        client,
        Method::POST,
        path,
        "the retention run",
        None,
        RETENTION_RUN,
    )
    .await?;
    decode(client, answer)
}

/// The tag immutability rules in force.
pub async fn immutability_rules(client: &RegistryClient) -> Result<Vec<ImmutabilitySpec>> {
    #[derive(Deserialize)]
    struct Listed {
        rules: Vec<ImmutabilitySpec>,
    }
    let answer = call(
        client,
        Method::GET,
        "immutability-rules",
        "the immutability rules",
        None,
        IMMUTABILITY,
    )
    .await?;
    Ok(decode::<Listed>(client, answer)?.rules)
}

/// Sets (adds or replaces) the immutability rule of `spec.repositories`,
/// once its pattern and tag patterns are ones the registry takes.
pub async fn set_immutability_rule(
    client: &RegistryClient,
    spec: &ImmutabilitySpec,
) -> Result<ImmutabilitySpec> {
    let rule = ImmutabilityRule {
        repositories: pattern(&spec.repositories)?,
        tags: spec
            .tags
            .iter()
            .map(|tag| tag.parse::<TagPattern>())
            .collect::<std::result::Result<_, _>>()
            .map_err(malformed)?,
    };
    rule.validate().map_err(malformed)?;
    let path = format!("immutability-rules/{}", segment(&spec.repositories));
    let body = serde_json::json!({ "tags": spec.tags });
    let answer = call(
        client,
        Method::PUT,
        &path,
        "the immutability rules",
        Some(body),
        IMMUTABILITY,
    )
    .await?;
    decode(client, answer)
}

/// Removes the immutability rule of `pattern`.
pub async fn remove_immutability_rule(client: &RegistryClient, pattern: &str) -> Result<()> {
    self::pattern(pattern)?;
    let path = format!("immutability-rules/{}", segment(pattern));
    let what = format!("immutability rule for {pattern}");
    call(client, Method::DELETE, &path, &what, None, IMMUTABILITY).await?;
    Ok(())
}

/// Every namespace with usage or a quota.
pub async fn quotas(client: &RegistryClient) -> Result<Vec<NamespaceQuota>> {
    #[derive(Deserialize)]
    struct Listed {
        quotas: Vec<NamespaceQuota>,
    }
    let answer = call(client, Method::GET, "quotas", "the quotas", None, QUOTAS).await?;
    Ok(decode::<Listed>(client, answer)?.quotas)
}

/// Sets the quota of `namespace` to `size` (bytes, or `10GiB`).
pub async fn set_quota(
    client: &RegistryClient,
    namespace: &str,
    size: &str,
) -> Result<NamespaceQuota> {
    self::namespace(namespace)?;
    let bytes = parse_size(size).map_err(malformed)?;
    let path = format!("quotas/{}", segment(namespace));
    let answer = call(
        client,
        Method::PUT,
        &path,
        "the quotas",
        Some(serde_json::json!({ "bytes": bytes })),
        QUOTAS,
    )
    .await?;
    decode(client, answer)
}

/// Removes the quota of `namespace`.
pub async fn remove_quota(client: &RegistryClient, namespace: &str) -> Result<()> {
    self::namespace(namespace)?;
    let path = format!("quotas/{}", segment(namespace));
    let what = format!("quota for {namespace}");
    call(client, Method::DELETE, &path, &what, None, QUOTAS).await?;
    Ok(())
}

/// The usage and quota of `namespace`.
pub async fn namespace_usage(client: &RegistryClient, namespace: &str) -> Result<NamespaceQuota> {
    self::namespace(namespace)?;
    let path = format!("namespaces/{}/usage", segment(namespace));
    let what = format!("namespace {namespace}");
    let answer = call(client, Method::GET, &path, &what, None, QUOTAS).await?;
    decode(client, answer)
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn patterns_are_encoded_as_one_segment() {
        assert_eq!(segment("acme/*"), "acme%2F%2A");
        assert_eq!(segment("team-1.x_y"), "team-1.x_y");
    }
}
