//! `/users`: accounts and their passwords and roles.

use axum::response::{IntoResponse, Response};
use sentinel_auth::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ManagementRequest, created, no_content};
use crate::api::ApiError;
use crate::auth::now;

/// `POST /users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default = "default_role")]
    role: Role,
}

fn default_role() -> Role {
    Role::Publisher
}

/// `PUT /users/<name>/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

/// `PUT /users/<name>/role` and `PUT /orgs/<org>/members/<user>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    pub(super) role: Role,
}

impl ManagementRequest<'_> {
    pub(super) fn list_users(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let state = self.users()?.state();
        let users: Vec<Value> = state
            .users
            .iter()
            .map(|(name, user)| json!({ "name": name, "role": user.role, "created": user.created }))
            .collect();
        Ok(axum::Json(json!({ "users": users })).into_response())
    }

    pub(super) async fn add_user(&self) -> Result<Response, ApiError> {
        self.require_admin()?;
        let new: NewUser = self.json()?;
        let (name, role) = (new.name.clone(), new.role);
        self.update(move |state| state.add_user(&new.name, &new.password, new.role, now()))
            .await?;
        self.audit("user-add", &name);
        Ok(created(json!({ "name": name, "role": role })))
    }

    pub(super) async fn remove_user(&self, name: &str) -> Result<Response, ApiError> {
        self.require_admin()?;
        let target = name.to_owned();
        self.update(move |state| state.remove_user(&target).map(drop))
            .await?;
        self.audit("user-remove", name);
        Ok(no_content())
    }

    pub(super) async fn set_password(&self, name: &str) -> Result<Response, ApiError> {
        if name != self.caller.user || self.caller.token.is_some() || self.identity_token {
            self.require_admin()?;
        }
        let new: NewPassword = self.json()?;
        let target = name.to_owned();
        self.update(move |state| state.set_password(&target, &new.password))
            .await?;
        self.audit("user-password", name);
        Ok(no_content())
    }

    pub(super) async fn set_role(&self, name: &str) -> Result<Response, ApiError> {
        self.require_admin()?;
        let new: NewRole = self.json()?;
        let target = name.to_owned();
        self.update(move |state| state.set_role(&target, new.role))
            .await?;
        self.audit("user-role", name);
        Ok(no_content())
    }
}
