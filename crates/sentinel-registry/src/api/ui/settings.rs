//! `/settings`: the signed-in user's personal access tokens, listed,
//! created (the secret shown once) and revoked, through the same checks,
//! mutations and audit as `/api/v1/tokens`.

use std::sync::Arc;

use sentinel_auth::{AuthError, PersonalToken};
use sentinel_token::Actions;
use sentinel_ui::{NewToken, Notice, SettingsPage, TokenRow};

use super::session::{Form, SignedIn, forged, same_origin, same_token, signed_in};
use super::sign_in::see_other;
use super::*;
use crate::auth::personal_tokens::{self, TokenChangeError};
use crate::auth::{Authenticator, now};

/// The page with nothing there: no settings without authentication.
fn no_settings() -> PageError {
    PageError::NotFound(
        "Authentication is off on this registry: there are no users, so no settings.".to_owned(),
    )
}

/// The longest expiry the form offers: ten years.
const MAX_EXPIRY_DAYS: u64 = 3650;

/// `GET /settings` (anonymous visitors are sent to sign in first).
pub(super) async fn settings(State(app): State<App>, visit: Visit) -> Response {
    let result = match (&app.auth, signed_in(&app, &visit.request.headers)) {
        (None, _) => Err(no_settings()),
        (Some(_), None) => Ok(see_other("/sign-in?next=/settings")),
        (Some(auth), Some(session)) => render(&app, &visit, auth, &session, Outcome::default()),
    };
    visit.respond(&app, result)
}

/// What the page shows after a change.
#[derive(Default)]
struct Outcome {
    new_token: Option<NewToken>,
    notice: Option<Notice>,
    status: Option<StatusCode>,
}

impl Outcome {
    fn refused(status: StatusCode, text: impl Into<String>) -> Outcome {
        Outcome {
            new_token: None,
            notice: Some(Notice::bad(text)),
            status: Some(status),
        }
    }
}

/// The settings page of `session`'s user.
fn render(
    app: &App,
    visit: &Visit,
    auth: &Arc<Authenticator>,
    session: &SignedIn,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let state = auth.state();
    let now = now();
    let tokens = state
        .tokens_of(Some(&session.principal.user))
        .into_iter()
        .map(|token| token_row(token, now))
        .collect();
    let mut response = page(&SettingsPage {
        layout: visit.layout(app, "Settings"),
        user: session.principal.user.clone(),
        tokens,
        new_token: outcome.new_token,
        notice: outcome.notice,
        can_manage: session.password,
    })?;
    if let Some(status) = outcome.status {
        *response.status_mut() = status;
    }
    // The page may hold a new token's secret: no cache, not even the
    // browser's back-forward one, keeps it.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// A token as the page lists it.
fn token_row(token: &PersonalToken, now: u64) -> TokenRow {
    let access = if token.scope.actions.is_empty() {
        Actions::ALL
    } else {
        token.scope.actions
    };
    TokenRow {
        name: token.name.clone(),
        id: token.id.clone(),
        access: access.to_string(),
        repositories: if token.scope.repositories.is_empty() {
            "all repositories".to_owned()
        } else {
            token.scope.repositories.join(", ")
        },
        created: super::moment(now, token.created),
        expires: match token.expires {
            None => "never".to_owned(),
            Some(at) if at <= now => "expired".to_owned(),
            Some(at) => date(at),
        },
    }
}

/// A moment in seconds since the Unix epoch as its UTC date, `2026-12-07`.
fn date(seconds: u64) -> String {
    let mut utc = crate::clock::rfc3339(seconds);
    utc.truncate(10);
    utc
}

/// Reads a settings form and checks it: from this site, by a signed-in
/// visitor, with their session's CSRF token.
async fn checked_form(
    app: &App,
    visit: &Visit,
    body: axum::body::Body,
) -> Result<(SignedIn, Form), PageError> {
    let headers = &visit.request.headers;
    if !same_origin(headers, &visit.request.uri, app.registry.public_host()) {
        return Err(forged());
    }
    let form = Form::read(headers, body).await?;
    let session = signed_in(app, headers).ok_or_else(forged)?;
    if !same_token(form.get("csrf"), &session.csrf) {
        return Err(forged());
    }
    Ok((session, form))
}

/// What a session opened with a token is told when it tries to manage tokens.
const PASSWORD_NEEDED: &str =
    "This session was opened with a token: sign in with your password to create or revoke tokens.";

/// The page after a token change the users file refused (a bad name, an
/// unknown token), or the error page if the change could not be made.
fn change_refused(
    app: &App,
    visit: &Visit,
    auth: &Arc<Authenticator>,
    session: &SignedIn,
    error: TokenChangeError,
) -> Result<Response, PageError> {
    let (status, text) = match error {
        TokenChangeError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
        TokenChangeError::Auth(AuthError::UnknownToken(_)) => {
            (StatusCode::NOT_FOUND, "No such token.".to_owned())
        }
        TokenChangeError::Auth(
            error @ (AuthError::Store { .. } | AuthError::Corrupt { .. } | AuthError::Hash(_)),
        ) => return Err(PageError::Internal(crate::describe(&error))),
        TokenChangeError::Auth(error) => (StatusCode::BAD_REQUEST, crate::describe(&error)),
        TokenChangeError::Unavailable => {
            return Err(PageError::Internal("the change could not run".to_owned()));
        }
    };
    render(app, visit, auth, session, Outcome::refused(status, text))
}

/// `POST /settings/tokens`: `name`, `access` (`read`: pull, `write`: pull
/// and push), `repositories` (patterns separated by commas or spaces; none:
/// every repository), `expires_days` (none: never) and `csrf`.
pub(super) async fn create(
    State(app): State<App>,
    visit: Visit,
    body: axum::body::Body,
) -> Response {
    let result = async {
        let auth = app.auth.clone().ok_or_else(no_settings)?;
        let (session, form) = checked_form(&app, &visit, body).await?;
        if !session.password {
            let outcome = Outcome::refused(StatusCode::FORBIDDEN, PASSWORD_NEEDED);
            return render(&app, &visit, &auth, &session, outcome);
        }
        let created = async {
            let actions = match form.get("access") {
                "read" => "pull",
                "write" => "pull,push",
                _ => {
                    return Err(TokenChangeError::Invalid(
                        "Choose the token's access: read or write.".to_owned(),
                    ));
                }
            };
            let repositories = form
                .get("repositories")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|pattern| !pattern.is_empty())
                .map(str::to_owned)
                .collect();
            let days = match form.get("expires_days").trim() {
                "" => None,
                text => match text.parse::<u64>() {
                    Ok(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => Some(days),
                    _ => {
                        return Err(TokenChangeError::Invalid(format!(
                            "The expiry is a whole number of days from 1 to {MAX_EXPIRY_DAYS} (or empty: never)."
                        )));
                    }
                },
            };
            let scope = personal_tokens::scope(repositories, Some(actions))?;
            let expires = personal_tokens::expiry(days)?;
            let user = &session.principal.user;
            personal_tokens::create(
                &auth,
                user,
                form.get("name").trim(),
                scope,
                expires,
                user,
                visit.request.client,
            )
            .await
        }
        .await;
        match created {
            Ok((token, text)) => {
                let outcome = Outcome {
                    notice: Some(Notice::good(format!(
                        "Created token {}: copy it now, it is not shown again.",
                        token.name
                    ))),
                    new_token: Some(NewToken {
                        name: token.name,
                        secret: text,
                    }),
                    status: None,
                };
                render(&app, &visit, &auth, &session, outcome)
            }
            Err(error) => change_refused(&app, &visit, &auth, &session, error),
        }
    }
    .await;
    visit.respond(&app, result)
}

/// `POST /settings/tokens/{id}/revoke` with `csrf`: revokes one of the
/// user's own tokens (anyone else's answers like a missing one).
pub(super) async fn revoke(
    State(app): State<App>,
    Path(id): Path<String>,
    visit: Visit,
    body: axum::body::Body,
) -> Response {
    let result = async {
        let auth = app.auth.clone().ok_or_else(no_settings)?;
        let (session, _) = checked_form(&app, &visit, body).await?;
        if !session.password {
            let outcome = Outcome::refused(StatusCode::FORBIDDEN, PASSWORD_NEEDED);
            return render(&app, &visit, &auth, &session, outcome);
        }
        let user = &session.principal.user;
        let owned = auth
            .state()
            .tokens
            .get(&id)
            .is_some_and(|token| &token.user == user);
        if !owned {
            let error = TokenChangeError::Auth(AuthError::UnknownToken(id.clone()));
            return change_refused(&app, &visit, &auth, &session, error);
        }
        match personal_tokens::revoke(&auth, &id, user, visit.request.client).await {
            Ok(token) => {
                let outcome = Outcome {
                    notice: Some(Notice::good(format!(
                        "Revoked token {} ({}).",
                        token.name, token.id
                    ))),
                    ..Outcome::default()
                };
                render(&app, &visit, &auth, &session, outcome)
            }
            Err(error) => change_refused(&app, &visit, &auth, &session, error),
        }
    }
    .await;
    visit.respond(&app, result)
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_796_601_600), "2026-12-07");
    }
}
