//! `/repositories/<name>`: a repository's visibility and grants.

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use sentinel_auth::{Access, Visibility, may_administer};
use serde::Deserialize;
use serde_json::json;

use super::{ManagementRequest, denied, no_content, no_endpoint};
use crate::api::ApiError;

/// `PUT /repositories/<name>/visibility`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVisibility {
    visibility: Visibility,
}

/// `PUT /repositories/<name>/grants/<user>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGrant {
    access: Access,
}

/// Which part of a repository's settings a path names.
enum RepositorySetting<'a> {
    Policy,
    Visibility,
    Grant(&'a str),
}

impl ManagementRequest<'_> {
    /// `/repositories/<name>`, `/repositories/<name>/visibility`,
    /// `/repositories/<name>/grants/<user>` (names contain `/`, so the path
    /// is read from the right).
    pub(super) async fn repository(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<Response, ApiError> {
        let rest = path.strip_prefix("repositories/").unwrap_or(path);
        let (name, tail) = if let Some(name) = rest.strip_suffix("/visibility") {
            (name, RepositorySetting::Visibility)
        } else if let Some((name, user)) = rest.rsplit_once("/grants/") {
            (name, RepositorySetting::Grant(user))
        } else {
            (rest, RepositorySetting::Policy)
        };
        let state = self.users()?.state();
        if !may_administer(&state, self.caller, name) {
            // The same answer whether or not the repository exists.
            return Err(denied(format!(
                "only an administrator of repository {name} may see or change its settings"
            )));
        }
        let repository = name.to_owned();
        match (method.clone(), tail) {
            (Method::GET, RepositorySetting::Policy) => {
                let policy = state.policy(name);
                Ok(axum::Json(json!({
                    "name": name,
                    "visibility": policy.visibility,
                    "grants": policy.grants,
                }))
                .into_response())
            }
            (Method::PUT, RepositorySetting::Visibility) => {
                let new: NewVisibility = self.json()?;
                self.update(move |state| state.set_visibility(&repository, new.visibility))
                    .await?;
                self.audit(
                    "repo-visibility",
                    &format!("{name}: {}", new.visibility.as_str()),
                );
                Ok(no_content())
            }
            (Method::PUT, RepositorySetting::Grant(user)) => {
                let new: NewGrant = self.json()?;
                let target = user.to_owned();
                self.update(move |state| state.grant(&repository, &target, new.access))
                    .await?;
                self.audit(
                    "repo-grant",
                    &format!("{name}: {user} {}", new.access.as_str()),
                );
                Ok(no_content())
            }
            (Method::DELETE, RepositorySetting::Grant(user)) => {
                let target = user.to_owned();
                self.update(move |state| state.revoke_grant(&repository, &target))
                    .await?;
                self.audit("repo-revoke", &format!("{name}: {user}"));
                Ok(no_content())
            }
            _ => Err(no_endpoint(method, path)),
        }
    }
}
