//! `/immutability-rules`: tag patterns whose tags never move (admins only).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_lifecycle::{ImmutabilityRule, LifecycleError, RuleSource, TagPattern};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ManagementRequest, lifecycle_error, listed, no_content, no_endpoint, not_found, pattern_in,
    pattern_to_set,
};
use crate::api::ApiError;

/// `PUT /immutability-rules/<pattern>`, `POST /immutability-rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRule {
    /// The pattern (`POST` only; `PUT` takes it from the path).
    repositories: Option<String>,
    tags: Vec<String>,
}

/// A rule as listed.
fn rule_json(rule: &ImmutabilityRule, source: RuleSource) -> Value {
    json!({
        "repositories": rule.repositories.to_string(),
        "tags": rule.tags.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "source": source,
    })
}

impl ManagementRequest<'_> {
    /// `/immutability-rules` and `/immutability-rules/<pattern>`.
    pub(super) async fn immutability_rules(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<Response, ApiError> {
        self.require_admin()?;
        let pattern = pattern_in(path, "immutability-rules")?;
        match (method.clone(), pattern) {
            (Method::GET, None) => Ok(listed(
                "rules",
                self.registry
                    .lifecycle()
                    .immutability()
                    .map(|(rule, source)| rule_json(rule, source)),
            )),
            (Method::GET, Some(pattern)) => {
                let lifecycle = self.registry.lifecycle();
                lifecycle
                    .immutability()
                    .find(|(rule, _)| rule.repositories == pattern)
                    .map(|(rule, source)| axum::Json(rule_json(rule, source)).into_response())
                    .ok_or_else(|| not_found(format!("no immutability rule for {pattern}")))
            }
            (Method::PUT, Some(pattern)) => self.set_immutability(Some(pattern.to_string())).await,
            (Method::POST, None) => self.set_immutability(None).await,
            (Method::DELETE, Some(pattern)) => {
                let registry = self.registry.clone();
                let removed = pattern.clone();
                self.blocking(move || registry.remove_immutability_rule(&removed))
                    .await?;
                self.audit("immutability-rule-remove", &pattern.to_string());
                Ok(no_content())
            }
            _ => Err(no_endpoint(method, path)),
        }
    }

    async fn set_immutability(&self, from_path: Option<String>) -> Result<Response, ApiError> {
        let new: NewRule = self.json()?;
        let pattern = pattern_to_set(from_path, new.repositories, "rule")?;
        let rule = ImmutabilityRule {
            repositories: pattern
                .parse()
                .map_err(|e| lifecycle_error(LifecycleError::Pattern(e)))?,
            tags: new
                .tags
                .iter()
                .map(|tag| tag.parse::<TagPattern>())
                .collect::<Result<_, _>>()
                .map_err(lifecycle_error)?,
        };
        rule.validate().map_err(lifecycle_error)?;
        let listed = rule_json(&rule, RuleSource::File);
        let registry = self.registry.clone();
        self.blocking(move || registry.set_immutability_rule(rule))
            .await?;
        self.audit("immutability-rule-set", &pattern);
        Ok((StatusCode::OK, axum::Json(listed)).into_response())
    }
}
