//! The management API under `/api/v1/`: users, personal access tokens,
//! organisations and repository settings, as JSON. Callers authenticate with
//! Basic credentials (a password or personal access token) or
//! `Authorization: Bearer <personal access token>`, and are authorised like
//! the `sentinel-registry` subcommands' users would be: admins manage users
//! and organisations, organisation admins their members, repository admins
//! (namespace owners, organisation admins, admin grants) their repository's
//! visibility and grants, admins the server's rate limits, and everyone
//! their own password and tokens.
//!
//! Errors are `{"errors":[{"code","message"}]}` with the codes
//! `UNAUTHORIZED`, `DENIED`, `NOT_FOUND`, `CONFLICT`, `INVALID`,
//! `TOOMANYREQUESTS` and `INTERNAL` (an [`ApiError`] built with
//! [`ApiError::management`]).
//!
//! This file authenticates and routes; the handlers are in one file per
//! resource: [`users`], [`tokens`], [`organisations`], [`repositories`],
//! [`signature_policies`], [`webhooks`], [`settings`] (the request rate
//! limits, changed while the server runs), [`gc`] (garbage collection),
//! [`retention`] (retention policies and runs), [`immutability_rules`],
//! [`quotas`] (quotas and namespace usage), and [`logs`] (the log events
//! and audit trail kept in memory).

mod gc;
mod immutability_rules;
mod logs;
mod organisations;
mod quotas;
mod repositories;
mod retention;
mod settings;
mod signature_policies;
mod tokens;
mod users;
mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use sentinel_auth::{AuthError, AuthState, Principal, Role};
use sentinel_lifecycle::{LifecycleError, RepositoryPattern};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::error::{self, ApiError, ManagementCode};
use crate::auth::authentication::looks_like_jwt;
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

/// The management API's answer to a lifecycle rule error.
fn lifecycle_error(error: LifecycleError) -> ApiError {
    let message = crate::describe(&error);
    let code = match error {
        LifecycleError::Pattern(_) | LifecycleError::Invalid(_) => ManagementCode::Invalid,
        LifecycleError::Unknown { .. } => ManagementCode::NotFound,
        LifecycleError::Configured { .. } => ManagementCode::Conflict,
        LifecycleError::Store { .. } | LifecycleError::Corrupt { .. } => ManagementCode::Internal,
    };
    ApiError::management(code, message)
}

/// The answer to a request for an endpoint there is not.
fn no_endpoint(method: &Method, path: &str) -> ApiError {
    not_found(format!(
        "no such management endpoint: {method} /api/v1/{path}"
    ))
}

/// What follows `prefix/` in `path`, percent-decoded (`acme%2F%2A`);
/// `None` for the collection itself.
fn item_in(path: &str, prefix: &str) -> Option<String> {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(|rest| percent_decode_str(rest).decode_utf8_lossy().into_owned())
        .filter(|rest| !rest.is_empty())
}

/// The lifecycle rule's repository pattern after `prefix/` in `path` (see
/// [`item_in`]).
fn pattern_in(path: &str, prefix: &str) -> Result<Option<RepositoryPattern>, ApiError> {
    item_in(path, prefix)
        .map(|text| {
            text.parse::<RepositoryPattern>()
                .map_err(|e| lifecycle_error(LifecycleError::Pattern(e)))
        })
        .transpose()
}

/// The pattern a `PUT` names in its path (`from_path`), or a `POST` in its
/// body's `repositories`, for the `what` (policy, rule) it sets.
fn pattern_to_set(
    from_path: Option<String>,
    from_body: Option<String>,
    what: &str,
) -> Result<String, ApiError> {
    match (from_path, from_body) {
        (Some(path), Some(body)) if path != body => Err(invalid(format!(
            "the path names {path} but the body {body}"
        ))),
        (Some(pattern), _) | (None, Some(pattern)) => Ok(pattern),
        (None, None) => Err(invalid(format!("give the repositories the {what} covers"))),
    }
}

/// The answer to `GET` on a list of rules: `{"<key>": [...]}`.
fn listed(key: &str, rules: impl Iterator<Item = Value>) -> Response {
    axum::Json(json!({ key: rules.collect::<Vec<_>>() })).into_response()
}

/// Runs `change` off the async threads (it writes and syncs a file),
/// `error` answering its failure.
async fn off_thread<T: Send + 'static, E: Send + 'static>(
    change: impl FnOnce() -> Result<T, E> + Send + 'static,
    error: impl FnOnce(E) -> ApiError,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(change)
        .await
        .map_err(|_| ApiError::management(ManagementCode::Internal, "the change could not run"))?
        .map_err(error)
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
            "authentication is off on this registry, so there is nothing to manage over HTTP: start it with --auth, or use the sentinel-registry subcommands on the server's machine",
        )
        .into_response();
    };
    let client = peer.ip();
    let result = async {
        let caller = authenticate(&auth, &headers, client).await?;
        let identity_token = matches!(
            credentials(&headers),
            Ok(Credentials::Basic { secret, .. }) if looks_like_jwt(&secret)
        );
        app.limits.charge_user(&caller.user).map_err(|_| {
            ApiError::management(
                ManagementCode::TooManyRequests,
                "too many requests for this user",
            )
        })?;
        serve(&app, &caller, identity_token, client, &method, &uri, &body).await
    }
    .await;
    match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The caller of every request on the admin socket, as the audit trail names
/// it (not a valid user name, so no user can be mistaken for it).
pub(crate) const LOCAL_ADMINISTRATOR: &str = "@admin-socket";

/// Serves `/api/v1/...` on the admin socket (see `crate::admin`): whoever
/// may open the socket is the local administrator, with or without `--auth`.
pub(crate) async fn dispatch_local(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let caller = Principal {
        user: LOCAL_ADMINISTRATOR.to_owned(),
        role: Role::Admin,
        generation: 0,
        token: None,
    };
    let client = IpAddr::from([127, 0, 0, 1]);
    match serve(&app, &caller, false, client, &method, &uri, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Answers one request from `caller`, already authenticated (with the
/// identity token a login saved, if `identity_token`).
async fn serve(
    app: &App,
    caller: &Principal,
    identity_token: bool,
    client: IpAddr,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<Response, ApiError> {
    let path = uri
        .path()
        .strip_prefix("/api/v1/")
        .unwrap_or_default()
        .to_owned();
    let request = ManagementRequest {
        auth: app.auth.as_ref(),
        registry: &app.registry,
        limits: &app.limits,
        metrics: app.metrics.as_deref(),
        events: &app.events,
        caller,
        identity_token,
        client,
        method,
        query: uri.query().unwrap_or(""),
        body,
    };
    request.route(&path).await
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
    /// The users; `None` when authentication is off (only the admin
    /// socket reaches the API then).
    auth: Option<&'a Arc<Authenticator>>,
    registry: &'a crate::service::Registry,
    limits: &'a Arc<crate::middleware::RequestLimits>,
    /// The metrics a garbage collection run counts into, if they are on.
    metrics: Option<&'a crate::metrics::Metrics>,
    events: &'a crate::event_log::EventLog,
    caller: &'a Principal,
    /// Whether the caller signed in with the identity token a login saved
    /// rather than the password: like a personal access token, it may not
    /// change the password or make tokens that would outlive it.
    identity_token: bool,
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

    /// The users, or the error that says there are none to manage.
    fn users(&self) -> Result<&Arc<Authenticator>, ApiError> {
        self.auth.ok_or_else(|| {
            not_found(
                "authentication is off on this registry: users, tokens, organisations and grants exist only with --auth",
            )
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
        let auth = Arc::clone(self.users()?);
        tokio::task::spawn_blocking(move || auth.shared().update(change))
            .await
            .map_err(|_| {
                ApiError::management(ManagementCode::Internal, "the change could not run")
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
            })?
            .map_err(ApiError::from)
    }

    /// Runs a change of the lifecycle policy file off the async threads
    /// (it syncs the file).
    async fn blocking(
        &self,
        change: impl FnOnce() -> Result<(), LifecycleError> + Send + 'static,
    ) -> Result<(), ApiError> {
        off_thread(change, lifecycle_error).await
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
            (Method::GET, ["orgs"]) => self.list_organisations().await,
            (Method::POST, ["orgs"]) => self.create_organisation().await,
            (Method::PUT, ["orgs", org, "members", user]) => self.add_member(org, user).await,
            (Method::DELETE, ["orgs", org, "members", user]) => self.remove_member(org, user).await,
            (Method::GET, ["logs"]) => self.logs(),
            (Method::GET, ["audit"]) => self.audit_trail(),
            (method @ (Method::GET | Method::POST), ["gc"]) => self.gc(&method).await,
            (method, ["repositories", ..]) => self.repository(&method, path).await,
            (method, ["signature-policies", ..]) => self.signature_policies(&method, path).await,
            (method, ["webhooks", rest @ ..]) => self.webhooks(&method, rest).await,
            (method, ["settings", "rate-limit"]) => self.rate_limit(&method).await,
            (method, ["retention-policies", ..]) => self.retention_policies(&method, path).await,
            (Method::POST, ["retention", "run"]) => self.run_retention().await,
            (method, ["immutability-rules", ..]) => self.immutability_rules(&method, path).await,
            (method, ["quotas", ..]) => self.quotas(&method, path).await,
            (Method::GET, ["namespaces", namespace, "usage"]) => {
                self.namespace_usage(namespace).await
            }
            _ => Err(no_endpoint(self.method, path)),
        }
    }
}
