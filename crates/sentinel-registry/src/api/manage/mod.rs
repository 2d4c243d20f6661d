//! The management API under `/api/v1/`: users, personal access tokens,
//! organisations and repository settings, as JSON. Callers authenticate with
//! Basic credentials (a password or personal access token) or
//! `Authorization: Bearer <personal access token>`, and are authorised like
//! the `sentinel-registry` subcommands' users would be: admins manage users
//! and organisations, organisation admins their members, repository admins
//! (namespace owners, organisation admins, admin grants) their repository's
//! visibility and grants, and everyone their own password and tokens.
//!
//! Errors are `{"errors":[{"code","message"}]}` with the codes
//! `UNAUTHORIZED`, `DENIED`, `NOT_FOUND`, `CONFLICT`, `INVALID`,
//! `TOOMANYREQUESTS` and `INTERNAL` (an [`ApiError`] built with
//! [`ApiError::management`]).
//!
//! This file authenticates and routes; the handlers are in one file per
//! resource: [`users`], [`tokens`], [`organisations`], [`repositories`],
//! [`signature_policies`], and [`logs`] (the log events and audit trail kept
//! in memory).

mod logs;
mod organisations;
mod repositories;
mod signature_policies;
mod tokens;
mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use sentinel_auth::{AuthError, AuthState, Principal, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::{self, ApiError, ManagementCode};
use crate::auth::{Authenticator, Credentials, audit, credentials};

fn denied(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::Denied, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::Invalid, message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::NotFound, message)
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::management(ManagementCode::Unauthorized, message)
}

/// Serves `/api/v1/...`.
pub(crate) async fn dispatch(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(auth) = app.auth.clone() else {
        return not_found(
            "authentication is off on this registry, so there is nothing to manage: start it with --auth",
        )
        .into_response();
    };
    let client = peer.ip();
    let result = async {
        let caller = authenticate(&auth, &headers, client).await?;
        app.limits.charge_user(&caller.user).map_err(|_| {
            ApiError::management(
                ManagementCode::TooManyRequests,
                "too many requests for this user",
            )
        })?;
        let path = uri
            .path()
            .strip_prefix("/api/v1/")
            .unwrap_or_default()
            .to_owned();
        let request = ManagementRequest {
            auth: &auth,
            registry: &app.registry,
            events: &app.events,
            caller: &caller,
            client,
            method: &method,
            query: uri.query().unwrap_or(""),
            body: &body,
        };
        request.route(&path).await
    }
    .await;
    match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Checks the caller's Basic credentials or bearer personal access token.
pub(crate) async fn authenticate(
    auth: &Arc<Authenticator>,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Principal, ApiError> {
    match credentials(headers) {
        Ok(Credentials::Basic { user, secret }) => auth
            .login(&user, &secret, client)
            .await
            .map_err(error::management_login_refused),
        Ok(Credentials::Bearer(token)) => auth
            .token_login(&token, client)
            .await
            .map_err(error::management_login_refused),
        Ok(Credentials::Nothing) => Err(unauthorized(
            "authentication required: send Basic credentials or a personal access token",
        )),
        Err(malformed) => Err(unauthorized(malformed.to_string())),
    }
}

/// One management request, from a signed-in caller.
struct ManagementRequest<'a> {
    auth: &'a Arc<Authenticator>,
    registry: &'a crate::service::Registry,
    events: &'a crate::event_log::EventLog,
    caller: &'a Principal,
    client: IpAddr,
    method: &'a Method,
    query: &'a str,
    body: &'a [u8],
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

impl ManagementRequest<'_> {
    fn is_admin(&self) -> bool {
        // A personal access token acts as an admin only when unrestricted.
        self.caller.role == Role::Admin
            && self.caller.token.as_ref().is_none_or(|token| {
                token.scope.repositories.is_empty() && token.scope.actions.is_empty()
            })
    }

    fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(denied("only an administrator may do this"))
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(self.body)
            .map_err(|error| invalid(format!("invalid request body: {error}")))
    }

    fn query(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    fn audit(&self, action: &str, target: &str) {
        audit::record(action, &self.caller.user, self.client, None, Some(target));
    }

    /// Applies `change` to the stored state off the async threads (it may
    /// hash a password and always syncs the file).
    async fn update<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut AuthState) -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let auth = Arc::clone(self.auth);
        tokio::task::spawn_blocking(move || auth.shared().update(change))
            .await
            .map_err(|_| {
                ApiError::management(ManagementCode::Internal, "the change could not run")
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
            })?
            .map_err(ApiError::from)
    }

    async fn route(&self, path: &str) -> Result<Response, ApiError> {
        let segments: Vec<&str> = path.split('/').collect();
        let method = self.method.clone();
        match (method, segments.as_slice()) {
            (Method::GET, ["whoami"]) => Ok(axum::Json(json!({
                "user": self.caller.user,
                "role": self.caller.role,
                "token": self.caller.token.as_ref().map(|t| &t.id),
            }))
            .into_response()),
            (Method::GET, ["users"]) => self.list_users(),
            (Method::POST, ["users"]) => self.add_user().await,
            (Method::DELETE, ["users", name]) => self.remove_user(name).await,
            (Method::PUT, ["users", name, "password"]) => self.set_password(name).await,
            (Method::PUT, ["users", name, "role"]) => self.set_role(name).await,
            (Method::GET, ["tokens"]) => self.list_tokens(),
            (Method::POST, ["tokens"]) => self.create_token().await,
            (Method::DELETE, ["tokens", id]) => self.revoke_token(id).await,
            (Method::GET, ["orgs"]) => self.list_organisations(),
            (Method::POST, ["orgs"]) => self.create_organisation().await,
            (Method::PUT, ["orgs", org, "members", user]) => self.add_member(org, user).await,
            (Method::DELETE, ["orgs", org, "members", user]) => self.remove_member(org, user).await,
            (Method::GET, ["logs"]) => self.logs(),
            (Method::GET, ["audit"]) => self.audit_trail(),
            (method, ["repositories", ..]) => self.repository(&method, path).await,
            (method, ["signature-policies", ..]) => self.signature_policies(&method, path).await,
            _ => Err(not_found(format!(
                "no such management endpoint: {} /api/v1/{path}",
                self.method
            ))),
        }
    }
}
