//! `/signature-policies`: which keys the registry trusts for which
//! repositories, and whether pulls need their signatures (admins only).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_signature::PublicKey;
use sentinel_trust::{PolicySource, RepositoryPattern, SignaturePolicy, TrustError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ManagementRequest, item_in, listed, no_content, no_endpoint, not_found, off_thread,
    pattern_to_set,
};
use crate::api::ApiError;
use crate::api::error::ManagementCode;

/// `PUT /signature-policies/<pattern>`, `POST /signature-policies`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    /// The pattern (`POST` only; `PUT` takes it from the path).
    repositories: Option<String>,
    #[serde(default)]
    require_signature: bool,
    /// SPKI PEM public keys.
    #[serde(default)]
    keys: Vec<String>,
}

/// A policy as listed.
fn policy_json(policy: &SignaturePolicy, source: PolicySource) -> Value {
    json!({
        "repositories": policy.repositories.to_string(),
        "require_signature": policy.require_signature,
        "keys": policy.keys.iter().map(|key| json!({
            "id": key.id(),
            "pem": key.to_pem(),
        })).collect::<Vec<_>>(),
        "source": source,
    })
}

/// The management API's answer to a policy error.
fn policy_error(error: TrustError) -> ApiError {
    let message = crate::describe(&error);
    let code = match error {
        TrustError::Pattern(_) | TrustError::Key { .. } | TrustError::NoKeys(_) => {
            ManagementCode::Invalid
        }
        TrustError::Unknown(_) => ManagementCode::NotFound,
        TrustError::Configured(_) => ManagementCode::Conflict,
        TrustError::Store { .. } | TrustError::Corrupt { .. } => ManagementCode::Internal,
    };
    ApiError::management(code, message)
}

impl ManagementRequest<'_> {
    /// `/signature-policies` and `/signature-policies/<pattern>` (the
    /// pattern may be percent-encoded: `acme%2F%2A`).
    pub(super) async fn signature_policies(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<Response, ApiError> {
        self.require_admin()?;
        let pattern = item_in(path, "signature-policies");
        match (method.clone(), pattern) {
            (Method::GET, None) => Ok(listed(
                "policies",
                self.registry
                    .signature_policies()
                    .iter()
                    .map(|(policy, source)| policy_json(policy, source)),
            )),
            (Method::GET, Some(pattern)) => {
                let pattern = parse_pattern(&pattern)?;
                let policies = self.registry.signature_policies();
                policies
                    .iter()
                    .find(|(policy, _)| policy.repositories == pattern)
                    .map(|(policy, source)| axum::Json(policy_json(policy, source)).into_response())
                    .ok_or_else(|| not_found(format!("no signature policy for {pattern}")))
            }
            (Method::PUT, Some(pattern)) => self.set_policy(Some(pattern)).await,
            (Method::POST, None) => self.set_policy(None).await,
            (Method::DELETE, Some(pattern)) => {
                let pattern = parse_pattern(&pattern)?;
                let registry = self.registry.clone();
                let removed = pattern.clone();
                off_thread(
                    move || registry.remove_signature_policy(&removed),
                    policy_error,
                )
                .await?;
                self.audit("signature-policy-remove", &pattern.to_string());
                Ok(no_content())
            }
            _ => Err(no_endpoint(method, path)),
        }
    }

    /// Sets a policy from the request body, for the pattern of the path
    /// (`PUT`) or of the body (`POST`).
    async fn set_policy(&self, from_path: Option<String>) -> Result<Response, ApiError> {
        let new: NewPolicy = self.json()?;
        let pattern = pattern_to_set(from_path, new.repositories, "policy")?;
        let pattern = parse_pattern(&pattern)?;
        let keys = new
            .keys
            .iter()
            .map(|pem| {
                PublicKey::from_pem(pem).map_err(|source| TrustError::Key {
                    what: pattern.to_string(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(policy_error)?;
        let policy = SignaturePolicy::new(pattern.clone(), new.require_signature, keys)
            .map_err(policy_error)?;
        let listed = policy_json(&policy, PolicySource::File);
        let registry = self.registry.clone();
        off_thread(move || registry.set_signature_policy(policy), policy_error).await?;
        self.audit("signature-policy-set", &pattern.to_string());
        Ok((StatusCode::OK, axum::Json(listed)).into_response())
    }
}

fn parse_pattern(text: &str) -> Result<RepositoryPattern, ApiError> {
    text.parse::<RepositoryPattern>()
        .map_err(|e| policy_error(TrustError::Pattern(e)))
}
