//! `/retention-policies`: which package versions the registry keeps, and
//! `/retention/run`: applying them now, or listing what they would delete
//! (admins only).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_lifecycle::{RetentionPolicy, RuleSource};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ManagementRequest, invalid, lifecycle_error, listed, no_content, no_endpoint, not_found,
    pattern_in, pattern_to_set,
};
use crate::api::ApiError;
use crate::api::error::ManagementCode;
use crate::service::{RetentionReport, RetiredVersion};

/// `PUT /retention-policies/<pattern>`, `POST /retention-policies`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    /// The pattern (`POST` only; `PUT` takes it from the path).
    repositories: Option<String>,
    keep_last: Option<u32>,
    keep_days: Option<u32>,
    keep_matching: Option<String>,
    keep_stack_members: Option<bool>,
    keep_signed: Option<bool>,
}

/// A policy as listed.
fn policy_json(policy: &RetentionPolicy, source: RuleSource) -> Value {
    json!({
        "repositories": policy.repositories.to_string(),
        "keep_last": policy.keep_last,
        "keep_days": policy.keep_days,
        "keep_matching": policy.keep_matching.as_ref().map(ToString::to_string),
        "keep_stack_members": policy.keep_stack_members,
        "keep_signed": policy.keep_signed,
        "source": source,
    })
}

fn retired_json(retired: &RetiredVersion) -> Value {
    json!({
        "repository": retired.repository.as_str(),
        "version": retired.version.to_string(),
        "digest": retired.digest,
        "tag": retired.tag,
        "pushed_at": crate::clock::rfc3339(retired.pushed_at),
    })
}

/// A retention report as answered.
fn report_json(report: &RetentionReport) -> Value {
    json!({
        "dry_run": report.dry_run,
        "examined": report.examined,
        "kept": report.kept,
        "removed": report.removed.iter().map(retired_json).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|(retired, reason)| {
            let mut entry = retired_json(retired);
            entry["error"] = json!(reason);
            entry
        }).collect::<Vec<_>>(),
    })
}

impl ManagementRequest<'_> {
    /// `/retention-policies` and `/retention-policies/<pattern>` (the
    /// pattern may be percent-encoded: `acme%2F%2A`).
    pub(super) async fn retention_policies(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<Response, ApiError> {
        self.require_admin()?;
        let pattern = pattern_in(path, "retention-policies")?;
        match (method.clone(), pattern) {
            (Method::GET, None) => Ok(listed(
                "policies",
                self.registry
                    .lifecycle()
                    .retention()
                    .map(|(policy, source)| policy_json(policy, source)),
            )),
            (Method::GET, Some(pattern)) => {
                let lifecycle = self.registry.lifecycle();
                lifecycle
                    .retention()
                    .find(|(policy, _)| policy.repositories == pattern)
                    .map(|(policy, source)| axum::Json(policy_json(policy, source)).into_response())
                    .ok_or_else(|| not_found(format!("no retention policy for {pattern}")))
            }
            (Method::PUT, Some(pattern)) => self.set_retention(Some(pattern.to_string())).await,
            (Method::POST, None) => self.set_retention(None).await,
            (Method::DELETE, Some(pattern)) => {
                let registry = self.registry.clone();
                let removed = pattern.clone();
                self.blocking(move || registry.remove_retention_policy(&removed))
                    .await?;
                self.audit("retention-policy-remove", &pattern.to_string());
                Ok(no_content())
            }
            _ => Err(no_endpoint(method, path)),
        }
    }

    /// Sets a policy from the request body, for the pattern of the path
    /// (`PUT`) or of the body (`POST`).
    async fn set_retention(&self, from_path: Option<String>) -> Result<Response, ApiError> {
        let new: NewPolicy = self.json()?;
        let pattern = pattern_to_set(from_path, new.repositories, "policy")?;
        let keep_matching = new
            .keep_matching
            .map(|text| {
                text.parse().map_err(|e| {
                    invalid(format!(
                        "keep_matching {text:?} is not a semver requirement: {e}"
                    ))
                })
            })
            .transpose()?;
        let policy = RetentionPolicy {
            repositories: pattern
                .parse()
                .map_err(|e| lifecycle_error(sentinel_lifecycle::LifecycleError::Pattern(e)))?,
            keep_last: new.keep_last,
            keep_days: new.keep_days,
            keep_matching,
            keep_stack_members: new.keep_stack_members.unwrap_or(true),
            keep_signed: new.keep_signed.unwrap_or(true),
        };
        policy.validate().map_err(lifecycle_error)?;
        let listed = policy_json(&policy, RuleSource::File);
        let registry = self.registry.clone();
        self.blocking(move || registry.set_retention_policy(policy))
            .await?;
        self.audit("retention-policy-set", &pattern);
        Ok((StatusCode::OK, axum::Json(listed)).into_response())
    }

    /// `POST /retention/run[?dry_run=true]`.
    pub(super) async fn run_retention(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let dry_run = match self.query("dry_run").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "dry_run must be true or false, not {other:?}"
                )));
            }
        };
        let report = self
            .registry
            .apply_retention(dry_run)
            .await
            .map_err(|error| {
                ApiError::management(ManagementCode::Internal, crate::describe(&error))
            })?;
        if !dry_run {
            self.audit(
                "retention-run",
                &format!("{} versions deleted", report.removed.len()),
            );
        }
        Ok(axum::Json(report_json(&report)).into_response())
    }
}
