//! `/tokens`: personal access tokens.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sentinel_auth::AuthError;
use sentinel_token::Actions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ManagementRequest, created, denied, invalid, no_content};
use crate::api::ApiError;
use crate::api::error::ManagementCode;
use crate::auth::personal_tokens::{self, TokenChangeError};

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

/// The management API's answer to a refused token change.
fn token_change_error(error: TokenChangeError) -> ApiError {
    match error {
        TokenChangeError::Invalid(message) => invalid(message),
        TokenChangeError::Auth(error) => ApiError::from(error),
        TokenChangeError::Unavailable => {
            ApiError::management(ManagementCode::Internal, "the change could not run")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
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
        let state = self.users()?.state();
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
        if self.identity_token && !self.is_admin() {
            return Err(denied(
                "a saved login (identity token) cannot create tokens: sign in with your password",
            ));
        }
        let scope = personal_tokens::scope(new.repositories.clone(), new.actions.as_deref())
            .map_err(token_change_error)?;
        let expires = personal_tokens::expiry(new.expires_in_days).map_err(token_change_error)?;
        let (token, text) = personal_tokens::create(
            self.users()?,
            &user,
            &new.name,
            scope,
            expires,
            &self.caller.user,
            self.client,
        )
        .await
        .map_err(token_change_error)?;
        let mut body = token_json(&token);
        body["token"] = json!(text);
        Ok(created(body))
    }

    pub(super) async fn revoke_token(&self, id: &str) -> Result<Response, ApiError> {
        let state = self.users()?.state();
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
        personal_tokens::revoke(self.users()?, id, &self.caller.user, self.client)
            .await
            .map_err(token_change_error)?;
        Ok(no_content())
    }
}
