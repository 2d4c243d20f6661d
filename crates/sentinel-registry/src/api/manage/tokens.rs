//! `/tokens`: personal access tokens.

use axum::response::{IntoResponse, Response};
use sentinel_auth::{AuthError, TokenScope};
use sentinel_token::Actions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ManagementRequest, created, denied, invalid, no_content};
use crate::api::ApiError;
use crate::auth::now;

/// `POST /tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// For another user (admins only).
    user: Option<String>,
    #[serde(default)]
    repositories: Vec<String>,
    /// `pull,push`; absent: every action.
    actions: Option<String>,
    expires_in_days: Option<u64>,
}

/// A token's listing (never its secret or hash).
fn token_json(token: &sentinel_auth::PersonalToken) -> Value {
    json!({
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "repositories": token.scope.repositories,
        "actions": if token.scope.actions.is_empty() { Actions::ALL } else { token.scope.actions }.to_string(),
        "created": token.created,
        "expires": token.expires,
    })
}

impl ManagementRequest<'_> {
    /// Whether the caller signed in with a personal access token limited to
    /// some repositories or actions.
    pub(super) fn is_restricted_token(&self) -> bool {
        self.caller.token.as_ref().is_some_and(|token| {
            !token.scope.repositories.is_empty() || !token.scope.actions.is_empty()
        })
    }

    pub(super) fn list_tokens(&self) -> Result<Response, ApiError> {
        if self.is_restricted_token() {
            return Err(denied(
                "a restricted access token cannot list tokens: sign in with your password",
            ));
        }
        let user = self
            .query("user")
            .unwrap_or_else(|| self.caller.user.clone());
        if user != self.caller.user {
            self.require_admin()?;
        }
        let state = self.auth.state();
        let tokens: Vec<Value> = state
            .tokens_of(Some(&user))
            .into_iter()
            .map(token_json)
            .collect();
        Ok(axum::Json(json!({ "tokens": tokens })).into_response())
    }

    pub(super) async fn create_token(&self) -> Result<Response, ApiError> {
        let new: NewToken = self.json()?;
        let user = new.user.clone().unwrap_or_else(|| self.caller.user.clone());
        if user != self.caller.user {
            self.require_admin()?;
        }
        if self.caller.token.is_some() && !self.is_admin() {
            return Err(denied(
                "a personal access token cannot create tokens: sign in with your password",
            ));
        }
        let actions = match &new.actions {
            Some(text) => match text.parse::<Actions>() {
                Ok(actions) if actions.is_empty() => {
                    return Err(invalid(
                        "a token needs at least one action: pull, push or delete",
                    ));
                }
                Ok(actions) => actions,
                Err(error) => return Err(invalid(error.to_string())),
            },
            // Unrestricted (stored as the empty set, which means every action).
            None => Actions::NONE,
        };
        let scope = TokenScope {
            repositories: new.repositories.clone(),
            actions,
        };
        let expires = match new.expires_in_days {
            Some(days) => Some(
                days.checked_mul(86_400)
                    .and_then(|seconds| now().checked_add(seconds))
                    .ok_or_else(|| invalid("expires_in_days is too large"))?,
            ),
            None => None,
        };
        let owner = user.clone();
        let name = new.name.clone();
        let (token, text) = self
            .update(move |state| state.create_token(&owner, &name, scope, expires, now()))
            .await?;
        self.audit("token-create", &format!("{} ({})", token.id, token.user));
        let mut body = token_json(&token);
        body["token"] = json!(text);
        Ok(created(body))
    }

    pub(super) async fn revoke_token(&self, id: &str) -> Result<Response, ApiError> {
        let state = self.auth.state();
        let owner = state.tokens.get(id).map(|t| t.user.clone());
        let itself = self.caller.token.as_ref().is_some_and(|t| t.id == id);
        match owner {
            // A restricted token may revoke only itself.
            Some(_) if self.is_restricted_token() && !itself => {
                return Err(denied(
                    "a restricted access token can revoke only itself: sign in with your password",
                ));
            }
            Some(owner) if owner == self.caller.user || self.is_admin() => {}
            // Someone else's token answers like a missing one.
            _ => {
                return Err(ApiError::from(AuthError::UnknownToken(id.to_owned())));
            }
        }
        let target = id.to_owned();
        self.update(move |state| state.revoke_token(&target).map(drop))
            .await?;
        self.audit("token-revoke", id);
        Ok(no_content())
    }
}
