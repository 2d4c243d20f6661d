//! `/sign-in` and `/sign-out`: opening and ending a session of the web UI
//! with the registry's users, through the same checks and failed-login
//! limits as the APIs' Basic logins.

use std::time::Duration;

use axum::http::HeaderMap;
use sentinel_ui::{Notice, SignInPage};

use super::session::{
    CSRF_COOKIE, Form, LIFETIME, SESSION_COOKIE, cookie, forged, random_token, same_origin,
    same_token, set_cookie, signed_in,
};
use super::*;
use crate::auth::authentication::looks_like_jwt;
use crate::auth::{LoginError, audit};

/// How long the sign-in form's pre-session CSRF cookie lasts.
const CSRF_COOKIE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The page with nothing there: no sign-in without authentication.
fn no_sign_in() -> PageError {
    PageError::NotFound(
        "Authentication is off on this registry: there is nobody to sign in as.".to_owned(),
    )
}

/// `next` if it is a path on this site (`/x`, never `//host` or a URL),
/// the only places a sign-in may lead to.
pub(super) fn safe_next(next: &str) -> Option<&str> {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 1024
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    safe.then_some(next)
}

/// A `303 See Other` to `location` (a path on this site).
pub(super) fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The sign-in form's pre-session CSRF token: the one its cookie holds, or
/// a new one.
fn form_token(headers: &HeaderMap) -> Result<String, PageError> {
    match cookie(headers, CSRF_COOKIE).filter(|token| token.len() == 43) {
        Some(token) => Ok(token.to_owned()),
        None => random_token().map_err(|error| PageError::Internal(error.to_string())),
    }
}

/// The sign-in form answered with `status`, its CSRF token also set as the
/// pre-session cookie.
fn form_page(app: &App, page: SignInPage, status: StatusCode) -> Result<Response, PageError> {
    let csrf = set_cookie(CSRF_COOKIE, &page.csrf, CSRF_COOKIE_AGE, app.secure_cookies);
    let mut response = super::page(&page)?;
    *response.status_mut() = status;
    response.headers_mut().append(header::SET_COOKIE, csrf);
    Ok(response)
}

/// `GET /sign-in?next=`.
pub(super) async fn form(State(app): State<App>, visit: Visit) -> Response {
    let result = (|| {
        if app.auth.is_none() {
            return Err(no_sign_in());
        }
        let next = visit
            .request
            .query("next")
            .filter(|next| safe_next(next).is_some())
            .unwrap_or_default();
        let page = SignInPage {
            layout: visit.layout(&app, "Sign in"),
            username: String::new(),
            next,
            csrf: form_token(&visit.request.headers)?,
            notice: None,
        };
        form_page(&app, page, StatusCode::OK)
    })();
    visit.respond(&app, result)
}

/// `POST /sign-in`: `username`, `password`, `csrf` (as in the
/// `sentinel_csrf` cookie) and `next`.
pub(super) async fn sign_in(
    State(app): State<App>,
    visit: Visit,
    body: axum::body::Body,
) -> Response {
    let result = open_session(&app, &visit, body).await;
    visit.respond(&app, result)
}

async fn open_session(
    app: &App,
    visit: &Visit,
    body: axum::body::Body,
) -> Result<Response, PageError> {
    let Some(auth) = app.auth.clone() else {
        return Err(no_sign_in());
    };
    let headers = &visit.request.headers;
    if !same_origin(headers, &visit.request.uri, app.registry.public_host()) {
        return Err(forged());
    }
    let form = Form::read(headers, body).await?;
    let csrf = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    if !same_token(form.get("csrf"), csrf) {
        return Err(forged());
    }
    let next = safe_next(form.get("next")).unwrap_or("/");
    let user = form.get("username").trim();
    let password = form.get("password");
    let client = visit.request.client;
    let refused = |notice: Notice, status| {
        let page = SignInPage {
            layout: visit.layout(app, "Sign in"),
            username: user.to_owned(),
            next: safe_next(form.get("next")).unwrap_or_default().to_owned(),
            csrf: csrf.to_owned(),
            notice: Some(notice),
        };
        form_page(app, page, status)
    };
    match auth.login(user, password, client).await {
        Ok(principal) => {
            // A new id at every sign-in: a session id planted before it is
            // worth nothing.
            if let Some(previous) = signed_in(app, headers) {
                app.sessions.close(&previous.id);
            }
            let with_password = principal.token.is_none() && !looks_like_jwt(password);
            let (id, _) = app
                .sessions
                .open(&principal, with_password)
                .map_err(|error| PageError::Internal(error.to_string()))?;
            audit::record("ui-sign-in", &principal.user, client, None, None);
            let mut response = see_other(next);
            let cookies = response.headers_mut();
            cookies.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &id, LIFETIME, app.secure_cookies),
            );
            cookies.append(
                header::SET_COOKIE,
                set_cookie(CSRF_COOKIE, "", Duration::ZERO, app.secure_cookies),
            );
            Ok(response)
        }
        // The form again, with the notice: a page, not an HTTP
        // authentication challenge (a 401 would need WWW-Authenticate). The
        // failure is in the audit trail and the auth-failure metrics.
        Err(LoginError::Refused(_)) => {
            refused(Notice::bad("Wrong user name or password."), StatusCode::OK)
        }
        Err(LoginError::Limited(wait)) => {
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            let mut response = refused(
                Notice::bad(format!(
                    "Too many failed sign-ins from here or for this user: wait {seconds} seconds before trying again."
                )),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Ok(response)
        }
        Err(LoginError::Unavailable) => Err(PageError::Internal(
            "the sign-in could not be checked".to_owned(),
        )),
    }
}

/// `POST /sign-out` with the session's `csrf`: ends the session.
pub(super) async fn sign_out(
    State(app): State<App>,
    visit: Visit,
    body: axum::body::Body,
) -> Response {
    let result = async {
        if app.auth.is_none() {
            return Err(no_sign_in());
        }
        let headers = &visit.request.headers;
        if !same_origin(headers, &visit.request.uri, app.registry.public_host()) {
            return Err(forged());
        }
        let form = Form::read(headers, body).await?;
        if let Some(session) = signed_in(&app, headers) {
            if !same_token(form.get("csrf"), &session.csrf) {
                return Err(forged());
            }
            app.sessions.close(&session.id);
            audit::record(
                "ui-sign-out",
                &session.principal.user,
                visit.request.client,
                None,
                None,
            );
        }
        let mut response = see_other("/");
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", Duration::ZERO, app.secure_cookies),
        );
        Ok(response)
    }
    .await;
    visit.respond(&app, result)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for good in ["/", "/settings", "/packages/acme/web?x=1"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "settings",
            "/a b",
            "/\u{e9}",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }
}
