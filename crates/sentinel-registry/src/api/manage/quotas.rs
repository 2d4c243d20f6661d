//! `/quotas`: how many bytes each namespace may hold and holds (admins),
//! and `/namespaces/<ns>/usage`: one namespace's usage (its owner, the
//! members of the organisation it is, admins).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_lifecycle::{Quota, RuleSource, parse_size};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ManagementRequest, denied, invalid, lifecycle_error, no_content, no_endpoint, not_found,
};
use crate::api::ApiError;
use crate::api::error::ManagementCode;
use crate::service::NamespaceUsage;

/// `PUT /quotas/<namespace>`: `{"bytes": 10737418240}` or `{"bytes": "10GiB"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewQuota {
    bytes: Size,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// A namespace's usage as answered.
pub(super) fn usage_json(usage: &NamespaceUsage, source: Option<RuleSource>) -> Value {
    json!({
        "namespace": usage.namespace,
        "usage": usage.usage,
        "quota": usage.quota,
        "source": source,
    })
}

impl ManagementRequest<'_> {
    /// `/quotas` and `/quotas/<namespace>`.
    pub(super) async fn quotas(&self, method: &Method, path: &str) -> Result<Response, ApiError> {
        self.require_admin()?;
        let namespace = path
            .strip_prefix("quotas")
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|rest| !rest.is_empty());
        let internal = |error: crate::service::RegistryError| {
            ApiError::management(ManagementCode::Internal, crate::describe(&error))
        };
        let source_of = |namespace: &str| {
            self.registry
                .lifecycle()
                .quotas()
                .find(|(quota, _)| quota.namespace == namespace)
                .map(|(_, source)| source)
        };
        match (method.clone(), namespace) {
            (Method::GET, None) => {
                let usages = self.registry.namespace_usages().await.map_err(internal)?;
                let listed: Vec<Value> = usages
                    .iter()
                    .map(|usage| usage_json(usage, source_of(&usage.namespace)))
                    .collect();
                Ok(axum::Json(json!({ "quotas": listed })).into_response())
            }
            (Method::GET, Some(namespace)) => {
                let usage = self
                    .registry
                    .namespace_usage(namespace)
                    .await
                    .map_err(internal)?;
                match usage.quota {
                    Some(_) => {
                        Ok(axum::Json(usage_json(&usage, source_of(namespace))).into_response())
                    }
                    None => Err(not_found(format!("no quota for {namespace}"))),
                }
            }
            (Method::PUT, Some(namespace)) => {
                let new: NewQuota = self.json()?;
                let bytes = match new.bytes {
                    Size::Bytes(bytes) => bytes,
                    Size::Text(text) => parse_size(&text).map_err(lifecycle_error)?,
                };
                let quota = Quota {
                    namespace: namespace.to_owned(),
                    bytes,
                };
                quota.validate().map_err(lifecycle_error)?;
                let registry = self.registry.clone();
                self.blocking(move || registry.set_quota(quota)).await?;
                self.audit("quota-set", &format!("{namespace}: {bytes} bytes"));
                let usage = self
                    .registry
                    .namespace_usage(namespace)
                    .await
                    .map_err(internal)?;
                Ok((
                    StatusCode::OK,
                    axum::Json(usage_json(&usage, Some(RuleSource::File))),
                )
                    .into_response())
            }
            (Method::DELETE, Some(namespace)) => {
                let registry = self.registry.clone();
                let removed = namespace.to_owned();
                self.blocking(move || registry.remove_quota(&removed))
                    .await?;
                self.audit("quota-remove", namespace);
                Ok(no_content())
            }
            (Method::PUT, None) => Err(invalid(
                "name the namespace: PUT /api/v1/quotas/<namespace>",
            )),
            _ => Err(no_endpoint(method, path)),
        }
    }

    /// Whether the caller may see `namespace`'s usage: an admin, the user
    /// it is, or a member of the organisation it is.
    fn may_see_namespace(&self, namespace: &str) -> bool {
        if self.is_admin() || self.caller.user == namespace {
            return true;
        }
        self.auth.is_some_and(|auth| {
            auth.state()
                .organisations
                .get(namespace)
                .is_some_and(|org| org.members.contains_key(&self.caller.user))
        })
    }

    /// `GET /namespaces/<ns>/usage`.
    pub(super) async fn namespace_usage(&self, namespace: &str) -> Result<Response, ApiError> {
        if !self.may_see_namespace(namespace) {
            return Err(denied(format!(
                "only {namespace} itself, its organisation's members or an administrator may see its usage"
            )));
        }
        let usage = self
            .registry
            .namespace_usage(namespace)
            .await
            .map_err(|error| {
                ApiError::management(ManagementCode::Internal, crate::describe(&error))
            })?;
        let source = self
            .registry
            .lifecycle()
            .quotas()
            .find(|(quota, _)| quota.namespace == namespace)
            .map(|(_, source)| source);
        Ok(axum::Json(usage_json(&usage, source)).into_response())
    }
}
