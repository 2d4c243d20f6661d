//! Sessions of the web UI: who signed in, kept in memory, and the checks
//! every form that changes something goes through (CSRF and `Origin`).
//!
//! A session is a random 256-bit id in the `sentinel_session` cookie
//! (HttpOnly, SameSite=Strict, Path=/, Secure over TLS). The server keeps
//! the SHA-256 of the id, never the id, in a bounded table, with the user,
//! the user's credential generation (a password change or the user's
//! removal ends the session), the personal access token it was opened with
//! if any (revoking it ends the session), and the session's CSRF token.
//! A session ends after [`IDLE_TIMEOUT`] unused or [`LIFETIME`] in all;
//! a restart ends them all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use sentinel_auth::{AuthState, Principal, TokenRestriction, is_current};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::App;
use crate::auth::now;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "sentinel_session";

/// The pre-session CSRF cookie of the sign-in form.
pub(crate) const CSRF_COOKIE: &str = "sentinel_csrf";

/// How long a session lasts unused.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

/// How long a session lasts in all.
pub(crate) const LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The most sessions kept: past it, the longest unused goes first.
const MAX_SESSIONS: usize = 10_000;

/// The largest form body read: every form's fields fit in a few hundred
/// bytes.
pub(crate) const MAX_FORM: usize = 8 * 1024;

/// A random value of 256 bits, base64url (43 characters): session ids and
/// CSRF tokens.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `a` and `b` are the same non-empty token, compared in constant
/// time.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// One signed-in visitor, as the table keeps it.
struct Session {
    user: String,
    generation: u64,
    token: Option<TokenRestriction>,
    password: bool,
    csrf: String,
    opened: Instant,
    seen: Instant,
}

impl Session {
    fn expired(&self, at: Instant) -> bool {
        at.duration_since(self.seen) > IDLE_TIMEOUT || at.duration_since(self.opened) > LIFETIME
    }
}

/// Who a session cookie stands for, as of now.
pub(crate) struct SignedIn {
    /// The session's id (from the cookie).
    pub id: String,
    /// The user with their current role, and the personal access token the
    /// session was opened with, if any: exactly the rights of a Basic login.
    pub principal: Principal,
    /// The session's CSRF token.
    pub csrf: String,
    /// Whether the session was opened with the password (not a token), so
    /// may manage tokens.
    pub password: bool,
}

/// The sessions of signed-in visitors, by the SHA-256 of their ids.
#[derive(Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for `principal` (signed in with the password if
    /// `password`); its id and CSRF token.
    pub(crate) fn open(
        &self,
        principal: &Principal,
        password: bool,
    ) -> Result<(String, String), getrandom::Error> {
        self.open_at(principal, password, Instant::now())
    }

    fn open_at(
        &self,
        principal: &Principal,
        password: bool,
        at: Instant,
    ) -> Result<(String, String), getrandom::Error> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut table = self.table();
        if table.len() >= MAX_SESSIONS {
            table.retain(|_, session| !session.expired(at));
        }
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, session)| session.seen)
                .map(|(key, _)| *key)
        {
            table.remove(&oldest);
        }
        table.insert(
            key(&id),
            Session {
                user: principal.user.clone(),
                generation: principal.generation,
                token: principal.token.clone(),
                password,
                csrf: csrf.clone(),
                opened: at,
                seen: at,
            },
        );
        Ok((id, csrf))
    }

    /// The visitor session `id` stands for, if it is open and its user,
    /// password and token are still current in `state`; a session that is
    /// not is closed.
    pub(crate) fn find(&self, id: &str, state: &AuthState) -> Option<SignedIn> {
        self.find_at(id, state, Instant::now(), now())
    }

    fn find_at(&self, id: &str, state: &AuthState, at: Instant, wall: u64) -> Option<SignedIn> {
        let key = key(id);
        let mut table = self.table();
        let session = table.get_mut(&key)?;
        let current = !session.expired(at)
            && is_current(
                state,
                &session.user,
                Some(session.generation),
                session.token.as_ref().map(|t| t.id.as_str()),
                wall,
            );
        let account = state.users.get(&session.user).filter(|_| current);
        let Some(account) = account else {
            table.remove(&key);
            return None;
        };
        session.seen = at;
        Some(SignedIn {
            id: id.to_owned(),
            principal: Principal {
                user: session.user.clone(),
                role: account.role,
                generation: session.generation,
                token: session.token.clone(),
            },
            csrf: session.csrf.clone(),
            password: session.password,
        })
    }

    /// Ends session `id`.
    pub(crate) fn close(&self, id: &str) {
        self.table().remove(&key(id));
    }
}

/// The value of cookie `name` in `headers`, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Who is signed in on the request with `headers`, if anyone (never with
/// authentication off).
pub(crate) fn signed_in(app: &App, headers: &HeaderMap) -> Option<SignedIn> {
    let auth = app.auth.as_ref()?;
    let id = cookie(headers, SESSION_COOKIE).filter(|id| id.len() == 43)?;
    app.sessions.find(id, &auth.state())
}

/// A `Set-Cookie` value: `name=value` for this site's pages only, out of
/// scripts' reach, never sent by other sites, for `max_age` (0: delete it),
/// and only over TLS when the server speaks it (`secure`).
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Whether a form that changes something may come from where the request
/// says it does: an `Origin` header, when sent, must name this host (the
/// `Host` header, the authority of an HTTP/2 request, or the host of the
/// public URL, `public_host`, behind a proxy that changes `Host`), and a
/// browser's `Sec-Fetch-Site`, when sent, must not be `cross-site`.
pub(crate) fn same_origin(
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    public_host: Option<&str>,
) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(|origin| {
        origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
    }) else {
        return false;
    };
    let host = crate::host::request_host(headers)
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    [host, public_host]
        .into_iter()
        .flatten()
        .any(|host| !host.is_empty() && origin.eq_ignore_ascii_case(host))
}

/// The fields of a form posted to a page (`application/x-www-form-urlencoded`,
/// at most [`MAX_FORM`] bytes).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Reads the form of a request with `headers` from `body`.
    pub(crate) async fn read(
        headers: &HeaderMap,
        body: axum::body::Body,
    ) -> Result<Form, super::PageError> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|value| {
                value
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(super::PageError::Invalid(
                "This page takes a form (application/x-www-form-urlencoded).".to_owned(),
            ));
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            super::PageError::Invalid("The form is too large, or was cut short.".to_owned())
        })?;
        Ok(Form(
            url::form_urlencoded::parse(&bytes)
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        ))
    }

    /// The value of field `name` (empty if absent).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// The refusal of a form that did not come from this site's page.
pub(crate) fn forged() -> super::PageError {
    super::PageError::Forbidden(
        "This form did not come from this site's page, or has expired: nothing was done. Reload the page and try again."
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_auth::Role;

    fn state_with_alice() -> AuthState {
        let mut state = AuthState::default();
        state
            .add_user("alice", "alice-password", Role::Publisher, 0)
            .unwrap();
        state
    }

    fn alice(state: &AuthState) -> Principal {
        Principal {
            user: "alice".to_owned(),
            role: Role::Publisher,
            generation: state.users["alice"].generation,
            token: None,
        }
    }

    #[test]
    fn a_session_is_found_by_its_id_and_only_its_hash_is_kept() {
        let state = state_with_alice();
        let sessions = Sessions::default();
        let (id, csrf) = sessions.open(&alice(&state), true).unwrap();
        assert_eq!(id.len(), 43);
        assert!(!sessions.table().contains_key(id.as_bytes()));
        let found = sessions.find(&id, &state).unwrap();
        assert_eq!(found.principal.user, "alice");
        assert_eq!(found.csrf, csrf);
        assert!(found.password);
        assert!(sessions.find(&csrf, &state).is_none());
        sessions.close(&id);
        assert!(sessions.find(&id, &state).is_none());
    }

    #[test]
    fn a_session_ends_when_idle_too_long_or_too_old() {
        let state = state_with_alice();
        let sessions = Sessions::default();
        let start = Instant::now();
        let (id, _) = sessions.open_at(&alice(&state), true, start).unwrap();
        let mut at = start;
        // Used every 11 hours, it lives until its lifetime runs out.
        while at.duration_since(start) + Duration::from_secs(11 * 3600) <= LIFETIME {
            at += Duration::from_secs(11 * 3600);
            assert!(sessions.find_at(&id, &state, at, now()).is_some());
        }
        at += Duration::from_secs(11 * 3600);
        assert!(sessions.find_at(&id, &state, at, now()).is_none());

        let (id, _) = sessions.open_at(&alice(&state), true, start).unwrap();
        let idle = start + IDLE_TIMEOUT + Duration::from_secs(1);
        assert!(sessions.find_at(&id, &state, idle, now()).is_none());
    }

    #[test]
    fn a_password_change_or_removal_ends_the_session() {
        let mut state = state_with_alice();
        let sessions = Sessions::default();
        let (id, _) = sessions.open(&alice(&state), true).unwrap();
        state.set_password("alice", "another-password").unwrap();
        assert!(sessions.find(&id, &state).is_none());

        let (id, _) = sessions.open(&alice(&state), true).unwrap();
        assert!(sessions.find(&id, &state).is_some());
        state.remove_user("alice").unwrap();
        assert!(sessions.find(&id, &state).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let state = state_with_alice();
        let sessions = Sessions::default();
        let start = Instant::now();
        let (first, _) = sessions.open_at(&alice(&state), true, start).unwrap();
        for i in 1..=MAX_SESSIONS {
            let at = start + Duration::from_millis(i as u64);
            sessions.open_at(&alice(&state), true, at).unwrap();
        }
        assert_eq!(sessions.table().len(), MAX_SESSIONS);
        assert!(sessions.find(&first, &state).is_none(), "the oldest went");
    }

    #[test]
    fn tokens_compare_only_when_equal_and_not_empty() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", ""));
    }

    #[test]
    fn cookies_are_read_and_written_with_their_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sentinel_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
        let plain = set_cookie(SESSION_COOKIE, "v", LIFETIME, false);
        assert_eq!(
            plain,
            "sentinel_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800"
        );
        let secure = set_cookie(SESSION_COOKIE, "v", LIFETIME, true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn only_this_host_may_send_a_form() {
        let uri: axum::http::Uri = "/sign-in".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:5000"));
        assert!(same_origin(&headers, &uri, None), "no Origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:5000"),
        );
        assert!(same_origin(&headers, &uri, None));
        for foreign in ["http://evil.example", "null", "http://127.0.0.1:5001"] {
            headers.insert(header::ORIGIN, HeaderValue::from_static(foreign));
            assert!(!same_origin(&headers, &uri, None), "{foreign}");
        }
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://registry.example.com"),
        );
        assert!(!same_origin(&headers, &uri, None));
        assert!(
            same_origin(&headers, &uri, Some("registry.example.com")),
            "the public URL's host, behind a proxy"
        );
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers, &uri, None));
    }
}
