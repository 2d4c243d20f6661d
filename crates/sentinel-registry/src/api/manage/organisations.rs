//! `/orgs`: organisations and their members.

use axum::response::{IntoResponse, Response};
use sentinel_auth::may_manage_organisation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::NewRole;
use super::{ManagementRequest, created, denied, no_content};
use crate::api::ApiError;
use crate::auth::now;

/// `POST /orgs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganisation {
    name: String,
    owner: Option<String>,
}

impl ManagementRequest<'_> {
    /// `GET /orgs`: the organisations the caller may see, each with its
    /// namespace's usage and quota.
    pub(super) async fn list_organisations(&self) -> Result<Response, ApiError> {
        let visible: Vec<(String, Value)> = {
            let state = self.users()?.state();
            let admin = self.is_admin();
            state
                .organisations
                .iter()
                .filter(|(_, org)| admin || org.members.contains_key(&self.caller.user))
                .map(|(name, org)| {
                    let listed =
                        json!({ "name": name, "members": org.members, "created": org.created });
                    (name.clone(), listed)
                })
                .collect()
        };
        let mut organisations = Vec::with_capacity(visible.len());
        for (name, mut listed) in visible {
            let usage = self
                .registry
                .namespace_usage(&name)
                .await
                .map_err(|error| {
                    ApiError::management(
                        crate::api::error::ManagementCode::Internal,
                        crate::describe(&error),
                    )
                })?;
            listed["usage"] = json!(usage.usage);
            listed["quota"] = json!(usage.quota);
            organisations.push(listed);
        }
        Ok(axum::Json(json!({ "organisations": organisations })).into_response())
    }

    pub(super) async fn create_organisation(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let new: NewOrganisation = self.json()?;
        let name = new.name.clone();
        self.update(move |state| state.create_organisation(&new.name, new.owner.as_deref(), now()))
            .await?;
        self.audit("org-create", &name);
        Ok(created(json!({ "name": name })))
    }

    pub(super) fn require_org_admin(&self, org: &str) -> Result<(), ApiError> {
        let state = self.users()?.state();
        // An organisation one may not manage answers the same whether or
        // not it exists.
        if may_manage_organisation(&state, self.caller, org) {
            Ok(())
        } else {
            Err(denied(format!(
                "only an administrator of organisation {org} may change its members"
            )))
        }
    }

    pub(super) async fn add_member(&self, org: &str, user: &str) -> Result<Response, ApiError> {
        self.require_org_admin(org)?;
        let new: NewRole = self.json()?;
        let (o, u) = (org.to_owned(), user.to_owned());
        self.update(move |state| state.add_member(&o, &u, new.role))
            .await?;
        self.audit("org-add-member", &format!("{org}: {user} as {}", new.role));
        Ok(no_content())
    }

    pub(super) async fn remove_member(&self, org: &str, user: &str) -> Result<Response, ApiError> {
        self.require_org_admin(org)?;
        let (o, u) = (org.to_owned(), user.to_owned());
        self.update(move |state| state.remove_member(&o, &u))
            .await?;
        self.audit("org-remove-member", &format!("{org}: {user}"));
        Ok(no_content())
    }
}
