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
//! `TOOMANYREQUESTS` and `INTERNAL`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sentinel_auth::{
    Access, AuthError, AuthState, Principal, Role, TokenScope, Visibility, may_administer,
    may_manage_organisation,
};
use sentinel_token::Actions;
use serde::Deserialize;
use serde_json::{Value, json};

use super::credentials::{Presented, presented};
use super::{Gate, LoginError, audit, now};
use crate::routes::App;

/// A failed management request.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<HeaderValue>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn denied(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::FORBIDDEN, "DENIED", message)
    }

    fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, "INVALID", message)
    }

    fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    fn unauthorized(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Failure {
        let message = crate::error::describe(&error);
        let (status, code) = match error {
            AuthError::UnknownUser(_)
            | AuthError::UnknownOrganisation(_)
            | AuthError::UnknownToken(_)
            | AuthError::NotAMember { .. }
            | AuthError::NoGrant { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            AuthError::UserExists(_) | AuthError::NameTaken(_) | AuthError::LastAdmin(_) => {
                (StatusCode::CONFLICT, "CONFLICT")
            }
            AuthError::InvalidName { .. }
            | AuthError::WeakPassword(_)
            | AuthError::OrganisationVisibility(_)
            | AuthError::InvalidExpiry { .. } => (StatusCode::BAD_REQUEST, "INVALID"),
            AuthError::Store { .. } | AuthError::Corrupt { .. } | AuthError::Hash(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
            }
        };
        Failure::new(status, code, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(message = %self.message, "management request failed");
        }
        let body = json!({ "errors": [{ "code": self.code, "message": self.message }] });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sentinel-registry\""),
            );
        }
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, wait);
        }
        response
    }
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
    let Some(gate) = app.gate.clone() else {
        return Failure::not_found(
            "authentication is off on this registry, so there is nothing to manage: start it with --auth",
        )
        .into_response();
    };
    let client = peer.ip();
    let result = async {
        let caller = authenticate(&gate, &headers, client).await?;
        gate.limits().charge_user(&caller.user).map_err(|_| {
            Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "too many requests for this user",
            )
        })?;
        let path = uri
            .path()
            .strip_prefix("/api/v1/")
            .unwrap_or_default()
            .to_owned();
        let request = Call {
            gate: &gate,
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
        Err(failure) => failure.into_response(),
    }
}

/// Checks the caller's Basic credentials or bearer personal access token.
async fn authenticate(
    gate: &Arc<Gate>,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Principal, Failure> {
    let login = |error: LoginError| match error {
        LoginError::Limited(_) => {
            let mut failure = Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "too many failed logins: wait before trying again",
            );
            failure.retry_after = Some(HeaderValue::from_static("60"));
            failure
        }
        LoginError::Refused(failure) => Failure::unauthorized(failure.to_string()),
        LoginError::Unavailable => Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "INTERNAL",
            "the login could not be checked",
        ),
    };
    match presented(headers) {
        Ok(Presented::Basic { user, secret }) => {
            gate.login(&user, &secret, client).await.map_err(login)
        }
        Ok(Presented::Bearer(token)) => gate.token_login(&token, client).await.map_err(login),
        Ok(Presented::Nothing) => Err(Failure::unauthorized(
            "authentication required: send Basic credentials or a personal access token",
        )),
        Err(malformed) => Err(Failure::unauthorized(malformed.to_string())),
    }
}

/// One management request.
struct Call<'a> {
    gate: &'a Arc<Gate>,
    caller: &'a Principal,
    client: IpAddr,
    method: &'a Method,
    query: &'a str,
    body: &'a [u8],
}

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
struct NewRole {
    role: Role,
}

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

/// `POST /orgs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganisation {
    name: String,
    owner: Option<String>,
}

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

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

impl Call<'_> {
    fn is_admin(&self) -> bool {
        // A personal access token acts as an admin only when unrestricted.
        self.caller.role == Role::Admin
            && self.caller.token.as_ref().is_none_or(|token| {
                token.scope.repositories.is_empty() && token.scope.actions.is_empty()
            })
    }

    fn require_admin(&self) -> Result<(), Failure> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Failure::denied("only an administrator may do this"))
        }
    }

    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, Failure> {
        serde_json::from_slice(self.body)
            .map_err(|error| Failure::invalid(format!("invalid request body: {error}")))
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
    ) -> Result<T, Failure> {
        let gate = Arc::clone(self.gate);
        tokio::task::spawn_blocking(move || gate.shared().update(change))
            .await
            .map_err(|_| {
                Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "INTERNAL",
                    "the change could not run",
                )
            })?
            .map_err(Failure::from)
    }

    async fn route(&self, path: &str) -> Result<Response, Failure> {
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
            (method, ["repositories", ..]) => self.repository(&method, path).await,
            _ => Err(Failure::not_found(format!(
                "no such management endpoint: {} /api/v1/{path}",
                self.method
            ))),
        }
    }

    fn list_users(&self) -> Result<Response, Failure> {
        self.require_admin()?;
        let state = self.gate.state();
        let users: Vec<Value> = state
            .users
            .iter()
            .map(|(name, user)| json!({ "name": name, "role": user.role, "created": user.created }))
            .collect();
        Ok(axum::Json(json!({ "users": users })).into_response())
    }

    async fn add_user(&self) -> Result<Response, Failure> {
        self.require_admin()?;
        let new: NewUser = self.json()?;
        let (name, role) = (new.name.clone(), new.role);
        self.update(move |state| state.add_user(&new.name, &new.password, new.role, now()))
            .await?;
        self.audit("user-add", &name);
        Ok(created(json!({ "name": name, "role": role })))
    }

    async fn remove_user(&self, name: &str) -> Result<Response, Failure> {
        self.require_admin()?;
        let target = name.to_owned();
        self.update(move |state| state.remove_user(&target).map(drop))
            .await?;
        self.audit("user-remove", name);
        Ok(no_content())
    }

    async fn set_password(&self, name: &str) -> Result<Response, Failure> {
        if name != self.caller.user || self.caller.token.is_some() {
            self.require_admin()?;
        }
        let new: NewPassword = self.json()?;
        let target = name.to_owned();
        self.update(move |state| state.set_password(&target, &new.password))
            .await?;
        self.audit("user-password", name);
        Ok(no_content())
    }

    async fn set_role(&self, name: &str) -> Result<Response, Failure> {
        self.require_admin()?;
        let new: NewRole = self.json()?;
        let target = name.to_owned();
        self.update(move |state| state.set_role(&target, new.role))
            .await?;
        self.audit("user-role", name);
        Ok(no_content())
    }

    /// Whether the caller signed in with a personal access token limited to
    /// some repositories or actions.
    fn is_restricted_token(&self) -> bool {
        self.caller.token.as_ref().is_some_and(|token| {
            !token.scope.repositories.is_empty() || !token.scope.actions.is_empty()
        })
    }

    fn list_tokens(&self) -> Result<Response, Failure> {
        if self.is_restricted_token() {
            return Err(Failure::denied(
                "a restricted access token cannot list tokens: sign in with your password",
            ));
        }
        let user = self
            .query("user")
            .unwrap_or_else(|| self.caller.user.clone());
        if user != self.caller.user {
            self.require_admin()?;
        }
        let state = self.gate.state();
        let tokens: Vec<Value> = state
            .tokens_of(Some(&user))
            .into_iter()
            .map(token_json)
            .collect();
        Ok(axum::Json(json!({ "tokens": tokens })).into_response())
    }

    async fn create_token(&self) -> Result<Response, Failure> {
        let new: NewToken = self.json()?;
        let user = new.user.clone().unwrap_or_else(|| self.caller.user.clone());
        if user != self.caller.user {
            self.require_admin()?;
        }
        if self.caller.token.is_some() && !self.is_admin() {
            return Err(Failure::denied(
                "a personal access token cannot create tokens: sign in with your password",
            ));
        }
        let actions = match &new.actions {
            Some(text) => match text.parse::<Actions>() {
                Ok(actions) if actions.is_empty() => {
                    return Err(Failure::invalid(
                        "a token needs at least one action: pull, push or delete",
                    ));
                }
                Ok(actions) => actions,
                Err(error) => return Err(Failure::invalid(error.to_string())),
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
                    .ok_or_else(|| Failure::invalid("expires_in_days is too large"))?,
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

    async fn revoke_token(&self, id: &str) -> Result<Response, Failure> {
        let state = self.gate.state();
        let owner = state.tokens.get(id).map(|t| t.user.clone());
        let itself = self.caller.token.as_ref().is_some_and(|t| t.id == id);
        match owner {
            // A restricted token may revoke only itself.
            Some(_) if self.is_restricted_token() && !itself => {
                return Err(Failure::denied(
                    "a restricted access token can revoke only itself: sign in with your password",
                ));
            }
            Some(owner) if owner == self.caller.user || self.is_admin() => {}
            // Someone else's token answers like a missing one.
            _ => {
                return Err(Failure::from(AuthError::UnknownToken(id.to_owned())));
            }
        }
        let target = id.to_owned();
        self.update(move |state| state.revoke_token(&target).map(drop))
            .await?;
        self.audit("token-revoke", id);
        Ok(no_content())
    }

    fn list_organisations(&self) -> Result<Response, Failure> {
        let state = self.gate.state();
        let admin = self.is_admin();
        let organisations: Vec<Value> = state
            .organisations
            .iter()
            .filter(|(_, org)| admin || org.members.contains_key(&self.caller.user))
            .map(|(name, org)| json!({ "name": name, "members": org.members, "created": org.created }))
            .collect();
        Ok(axum::Json(json!({ "organisations": organisations })).into_response())
    }

    async fn create_organisation(&self) -> Result<Response, Failure> {
        self.require_admin()?;
        let new: NewOrganisation = self.json()?;
        let name = new.name.clone();
        self.update(move |state| state.create_organisation(&new.name, new.owner.as_deref(), now()))
            .await?;
        self.audit("org-create", &name);
        Ok(created(json!({ "name": name })))
    }

    fn require_org_admin(&self, org: &str) -> Result<(), Failure> {
        let state = self.gate.state();
        // An organisation one may not manage answers the same whether or
        // not it exists.
        if may_manage_organisation(&state, self.caller, org) {
            Ok(())
        } else {
            Err(Failure::denied(format!(
                "only an administrator of organisation {org} may change its members"
            )))
        }
    }

    async fn add_member(&self, org: &str, user: &str) -> Result<Response, Failure> {
        self.require_org_admin(org)?;
        let new: NewRole = self.json()?;
        let (o, u) = (org.to_owned(), user.to_owned());
        self.update(move |state| state.add_member(&o, &u, new.role))
            .await?;
        self.audit("org-add-member", &format!("{org}: {user} as {}", new.role));
        Ok(no_content())
    }

    async fn remove_member(&self, org: &str, user: &str) -> Result<Response, Failure> {
        self.require_org_admin(org)?;
        let (o, u) = (org.to_owned(), user.to_owned());
        self.update(move |state| state.remove_member(&o, &u))
            .await?;
        self.audit("org-remove-member", &format!("{org}: {user}"));
        Ok(no_content())
    }

    /// `/repositories/<name>`, `/repositories/<name>/visibility`,
    /// `/repositories/<name>/grants/<user>` (names contain `/`, so the path
    /// is read from the right).
    async fn repository(&self, method: &Method, path: &str) -> Result<Response, Failure> {
        let rest = path.strip_prefix("repositories/").unwrap_or(path);
        let (name, tail) = if let Some(name) = rest.strip_suffix("/visibility") {
            (name, Tail::Visibility)
        } else if let Some((name, user)) = rest.rsplit_once("/grants/") {
            (name, Tail::Grant(user))
        } else {
            (rest, Tail::Policy)
        };
        let state = self.gate.state();
        if !may_administer(&state, self.caller, name) {
            // The same answer whether or not the repository exists.
            return Err(Failure::denied(format!(
                "only an administrator of repository {name} may see or change its settings"
            )));
        }
        let repository = name.to_owned();
        match (method.clone(), tail) {
            (Method::GET, Tail::Policy) => {
                let policy = state.policy(name);
                Ok(axum::Json(json!({
                    "name": name,
                    "visibility": policy.visibility,
                    "grants": policy.grants,
                }))
                .into_response())
            }
            (Method::PUT, Tail::Visibility) => {
                let new: NewVisibility = self.json()?;
                self.update(move |state| state.set_visibility(&repository, new.visibility))
                    .await?;
                self.audit(
                    "repo-visibility",
                    &format!("{name}: {}", new.visibility.as_str()),
                );
                Ok(no_content())
            }
            (Method::PUT, Tail::Grant(user)) => {
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
            (Method::DELETE, Tail::Grant(user)) => {
                let target = user.to_owned();
                self.update(move |state| state.revoke_grant(&repository, &target))
                    .await?;
                self.audit("repo-revoke", &format!("{name}: {user}"));
                Ok(no_content())
            }
            _ => Err(Failure::not_found(format!(
                "no such management endpoint: {method} /api/v1/{path}"
            ))),
        }
    }
}

/// Which part of a repository's settings a path names.
enum Tail<'a> {
    Policy,
    Visibility,
    Grant(&'a str),
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
