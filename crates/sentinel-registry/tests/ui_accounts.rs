//! The web UI's accounts over real HTTP: signing in and out, the session
//! cookie, CSRF and Origin refusals, the failed-login limit, and the
//! settings page's personal access tokens.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::time::{Duration, Instant};

use browser::{Browser, Pusher, add_user};
use process::Process;

const ALICE_PASSWORD: &str = "alice-password";
const BOB_PASSWORD: &str = "bob-password";

/// A server with users alice and bob, and alice's private repository.
fn server(dir: &Path) -> Process {
    add_user(dir, "alice", ALICE_PASSWORD);
    add_user(dir, "bob", BOB_PASSWORD);
    let server = Process::start(dir);
    Pusher::new(server.base(), Some(("alice", ALICE_PASSWORD))).image(
        "alice/private",
        "v1",
        b"private layer",
    );
    server
}

/// The status of `GET /v2/` with Basic `user:secret`.
fn v2_status(server: &Process, user: &str, secret: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(server.url("/v2/"))
        .basic_auth(user, Some(secret))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Polls `check` for up to ten seconds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn signing_in_opens_a_session_that_sees_what_the_user_may() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut visitor = Browser::new(server.base());

    let home = visitor.get("/");
    assert!(home.body.contains(r#"id="nav-sign-in""#), "{}", home.body);
    assert_eq!(visitor.get("/repositories/alice/private").status, 404);
    let settings = visitor.get("/settings");
    assert_eq!(settings.status, 303);
    assert_eq!(
        settings.location.as_deref(),
        Some("/sign-in?next=/settings")
    );

    let form = visitor.get("/sign-in?next=/settings");
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"id="sign-in-form""#), "{}", form.body);
    assert_eq!(form.field("next").as_deref(), Some("/settings"));
    let csrf_cookie = form.set_cookie("sentinel_csrf").expect("a csrf cookie");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let csrf = form.field("csrf").unwrap();
    assert_eq!(visitor.cookies["sentinel_csrf"], csrf);

    let refused = visitor.post(
        "/sign-in",
        &[
            ("username", "alice"),
            ("password", "not-her-password"),
            ("csrf", &csrf),
            ("next", "/settings"),
        ],
    );
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains(r#"class="notice bad""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Wrong user name or password"));
    assert!(refused.set_cookie("sentinel_session").is_none());
    assert!(
        refused.body.contains(r#"value="alice""#),
        "the name is kept"
    );

    let signed_in = visitor.post(
        "/sign-in",
        &[
            ("username", "alice"),
            ("password", ALICE_PASSWORD),
            ("csrf", &csrf),
            ("next", "/settings"),
        ],
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/settings"));
    let cookie = signed_in
        .set_cookie("sentinel_session")
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let id = &visitor.cookies["sentinel_session"];
    assert_eq!(id.len(), 43, "256 random bits, base64url");
    assert!(!visitor.cookies.contains_key("sentinel_csrf"), "used up");

    let home = visitor.get("/");
    assert!(
        home.body.contains(r#"id="nav-user">alice<"#),
        "{}",
        home.body
    );
    assert!(home.body.contains(r#"id="sign-out""#));
    assert!(!home.body.contains(r#"id="nav-sign-in""#));
    let private = visitor.get("/repositories/alice/private");
    assert_eq!(private.status, 200, "{}", private.body);
    assert!(private.body.contains(r#"<td class="tag-name">v1</td>"#));

    // Bob's session has bob's rights, not alice's.
    let mut bob = Browser::new(server.base());
    assert_eq!(bob.sign_in("bob", BOB_PASSWORD, "").status, 303);
    assert!(bob.get("/").body.contains(r#"id="nav-user">bob<"#));
    assert_eq!(bob.get("/repositories/alice/private").status, 404);
}

#[test]
fn forms_without_their_token_or_from_another_site_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());

    // Signing in: no token, a wrong one, one from no form at all, a
    // foreign Origin.
    let mut visitor = Browser::new(server.base());
    let csrf = visitor.get("/sign-in").field("csrf").unwrap();
    let login = |csrf: &str| {
        vec![
            ("username", "alice".to_owned()),
            ("password", ALICE_PASSWORD.to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };
    let post = |visitor: &mut Browser, path: &str, fields: &[(&str, String)]| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        visitor.post(path, &fields)
    };
    for fields in [
        login("")[..2].to_vec(),
        login("wrong-token-wrong-token-wrong-token-wrong-t"),
    ] {
        let reply = post(&mut visitor, "/sign-in", &fields);
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert!(reply.set_cookie("sentinel_session").is_none());
    }
    let mut cookieless = Browser::new(server.base());
    let reply = post(&mut cookieless, "/sign-in", &login(&csrf));
    assert_eq!(reply.status, 403, "a token without its cookie");
    visitor.origin = Some("http://evil.example".to_owned());
    let reply = post(&mut visitor, "/sign-in", &login(&csrf));
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.set_cookie("sentinel_session").is_none());
    visitor.origin = Some(server.base().to_owned());

    // `next` leads only to this site.
    for next in ["//evil.example", "https://evil.example/", "/\\evil.example"] {
        let mut visitor = Browser::new(server.base());
        let reply = visitor.sign_in("alice", ALICE_PASSWORD, next);
        assert_eq!(reply.status, 303);
        assert_eq!(reply.location.as_deref(), Some("/"), "{next}");
    }

    // Signed in: creating a token or signing out needs the session's token
    // and this site's Origin.
    assert_eq!(visitor.sign_in("alice", ALICE_PASSWORD, "").status, 303);
    let csrf = visitor.csrf();
    let token = |csrf: &str| {
        vec![
            ("name", "ci".to_owned()),
            ("access", "read".to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };
    for fields in [token("")[..2].to_vec(), token("wrong")] {
        assert_eq!(post(&mut visitor, "/settings/tokens", &fields).status, 403);
    }
    visitor.origin = Some("http://evil.example".to_owned());
    assert_eq!(
        post(&mut visitor, "/settings/tokens", &token(&csrf)).status,
        403
    );
    assert_eq!(
        post(&mut visitor, "/sign-out", &[("csrf", csrf.clone())]).status,
        403
    );
    visitor.origin = None;
    let settings = visitor.get("/settings");
    assert_eq!(settings.status, 200);
    assert!(
        settings.body.contains(r#"id="no-tokens""#),
        "{}",
        settings.body
    );
    assert_eq!(
        post(&mut visitor, "/sign-out", &[("csrf", "wrong".to_owned())]).status,
        403
    );
    assert_eq!(visitor.get("/settings").status, 200, "still signed in");
    let listed = process::command_ok(dir.path(), &["token", "list", "alice"], "");
    assert!(!listed.contains("ci"), "{listed}");
}

#[test]
fn a_token_made_on_the_settings_page_works_until_it_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut alice = Browser::new(server.base());
    assert_eq!(alice.sign_in("alice", ALICE_PASSWORD, "").status, 303);
    let csrf = alice.csrf();

    let created = alice.post(
        "/settings/tokens",
        &[
            ("name", "laptop"),
            ("access", "read"),
            ("repositories", "alice/*"),
            ("expires_days", "30"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains(r#"class="notice good""#));
    // The page holds the secret: no cache may keep it.
    assert_eq!(created.cache_control.as_deref(), Some("no-store"));
    let start = created.body.find(r#"data-copy=""#).expect("a copy button") + 11;
    let end = created.body[start..].find('"').unwrap();
    let secret = created.body[start..start + end].to_owned();
    assert!(secret.starts_with("sntl_"), "{secret}");
    assert!(
        created
            .body
            .contains(r#"<td class="token-name">laptop</td>"#)
    );
    assert!(
        created
            .body
            .contains(r#"<td class="token-access">pull</td>"#)
    );
    assert!(created.body.contains("alice/*"));
    let id = {
        let marker = r#"<td class="token-id mono">"#;
        let start = created.body.find(marker).unwrap() + marker.len();
        created.body[start..start + 12].to_owned()
    };
    assert!(
        !alice.get("/settings").body.contains(&secret),
        "shown only once"
    );

    assert_eq!(v2_status(&server, "alice", &secret), 200);
    let tags = reqwest::blocking::Client::new()
        .get(server.url("/v2/alice/private/tags/list"))
        .basic_auth("alice", Some(&secret))
        .send()
        .unwrap();
    assert_eq!(tags.status(), 200, "a read token pulls");

    // A bad name is refused on the page; nothing is created.
    let refused = alice.post(
        "/settings/tokens",
        &[("name", "   "), ("access", "write"), ("csrf", &csrf)],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains(r#"class="notice bad""#));
    assert_eq!(refused.body.matches(r#"<tr class="token">"#).count(), 1);

    // Bob may not revoke alice's token: it answers like a missing one.
    let mut bob = Browser::new(server.base());
    assert_eq!(bob.sign_in("bob", BOB_PASSWORD, "").status, 303);
    let bob_csrf = bob.csrf();
    let reply = bob.post(
        &format!("/settings/tokens/{id}/revoke"),
        &[("csrf", &bob_csrf)],
    );
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(v2_status(&server, "alice", &secret), 200);

    // A session opened with the token has its rights, but may not manage
    // tokens.
    let mut with_token = Browser::new(server.base());
    assert_eq!(with_token.sign_in("alice", &secret, "").status, 303);
    let page = with_token.get("/settings");
    assert!(page.body.contains(r#"id="token-session""#), "{}", page.body);
    assert!(!page.body.contains(r#"id="create-token-form""#));
    let token_csrf = with_token.csrf();
    let reply = with_token.post(
        "/settings/tokens",
        &[("name", "more"), ("access", "write"), ("csrf", &token_csrf)],
    );
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(
        with_token.get("/repositories/alice/private").status,
        200,
        "alice/* covers it"
    );

    let revoked = alice.post(&format!("/settings/tokens/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body.contains(r#"class="notice good""#));
    assert!(!revoked.body.contains(r#"<tr class="token">"#));
    assert_eq!(v2_status(&server, "alice", &secret), 401);
    assert_eq!(
        with_token.get("/settings").status,
        303,
        "revoking the token ends its session"
    );
}

#[test]
fn the_page_and_the_management_api_manage_the_same_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let api = reqwest::blocking::Client::new();
    let created: serde_json::Value = api
        .post(server.url("/api/v1/tokens"))
        .basic_auth("alice", Some(ALICE_PASSWORD))
        .json(&serde_json::json!({"name": "from-api", "actions": "pull,push"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().expect("an id").to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    let refused = api
        .post(server.url("/api/v1/tokens"))
        .basic_auth("alice", Some(ALICE_PASSWORD))
        .json(&serde_json::json!({"name": "none", "actions": ""}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400, "a token with no action");

    let mut alice = Browser::new(server.base());
    assert_eq!(alice.sign_in("alice", ALICE_PASSWORD, "").status, 303);
    let page = alice.get("/settings");
    assert!(
        page.body
            .contains(r#"<td class="token-name">from-api</td>"#)
    );
    assert!(
        page.body
            .contains(r#"<td class="token-access">pull,push</td>"#)
    );
    let csrf = alice.csrf();
    let created = alice.post(
        "/settings/tokens",
        &[("name", "from-page"), ("access", "write"), ("csrf", &csrf)],
    );
    assert_eq!(created.status, 200);
    let listed: serde_json::Value = api
        .get(server.url("/api/v1/tokens"))
        .basic_auth("alice", Some(ALICE_PASSWORD))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut names: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["from-api", "from-page"]);

    let revoked = alice.post(&format!("/settings/tokens/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(revoked.status, 200);
    assert_eq!(v2_status(&server, "alice", &secret), 401);
    let gone = api
        .delete(server.url(&format!("/api/v1/tokens/{id}")))
        .basic_auth("alice", Some(ALICE_PASSWORD))
        .send()
        .unwrap();
    assert_eq!(gone.status(), 404, "revoked already");
}

#[test]
fn signing_out_or_a_password_change_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut alice = Browser::new(server.base());
    assert_eq!(alice.sign_in("alice", ALICE_PASSWORD, "").status, 303);
    let stolen = alice.cookies.clone();
    let csrf = alice.csrf();
    let out = alice.post("/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/"));
    assert!(
        out.set_cookie("sentinel_session")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is deleted"
    );
    assert_eq!(alice.get("/settings").status, 303);
    let mut replay = Browser::new(server.base());
    replay.cookies = stolen;
    assert_eq!(
        replay.get("/settings").status,
        303,
        "the old cookie no longer works"
    );
    assert_eq!(replay.get("/repositories/alice/private").status, 404);

    assert_eq!(alice.sign_in("alice", ALICE_PASSWORD, "").status, 303);
    assert_eq!(alice.get("/settings").status, 200);
    process::command_ok(
        dir.path(),
        &["user", "passwd", "alice", "--password-stdin"],
        "a-new-password\n",
    );
    eventually("the password change ends the session", || {
        alice.get("/settings").status == 303
    });
    assert_eq!(alice.get("/repositories/alice/private").status, 404);
    assert_eq!(alice.sign_in("alice", "a-new-password", "").status, 303);
    assert_eq!(alice.get("/settings").status, 200);
}

#[test]
fn too_many_failed_sign_ins_are_refused_with_a_429() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", ALICE_PASSWORD);
    let server = Process::start_with(dir.path(), &["--failed-logins-per-minute", "3"]);
    let mut visitor = Browser::new(server.base());
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = visitor.sign_in("alice", "wrong-password", "");
        statuses.push(reply.status);
        if reply.status == 429 {
            assert!(
                reply.body.contains(r#"class="notice bad""#),
                "{}",
                reply.body
            );
            assert!(reply.body.contains("Too many failed sign-ins"));
            assert!(reply.retry_after.is_some());
            break;
        }
        assert_eq!(reply.status, 200);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Limited, even the right password is refused for now.
    let reply = visitor.sign_in("alice", ALICE_PASSWORD, "");
    assert_eq!(reply.status, 429);
    assert!(reply.set_cookie("sentinel_session").is_none());
}

#[test]
fn without_authentication_there_is_nobody_to_sign_in_as() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let mut visitor = Browser::new(server.base());
    let home = visitor.get("/");
    assert!(!home.body.contains("nav-sign-in"), "{}", home.body);
    assert_eq!(visitor.get("/sign-in").status, 404);
    assert_eq!(visitor.get("/settings").status, 404);
    let reply = visitor.post("/sign-in", &[("username", "admin"), ("password", "x")]);
    assert_eq!(reply.status, 404);
    assert!(reply.set_cookie("sentinel_session").is_none());
    assert_eq!(visitor.post("/sign-out", &[]).status, 404);
}

#[test]
fn over_tls_the_session_cookie_is_secure() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", ALICE_PASSWORD);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let server = Process::start_with(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(server.base().starts_with("https://"), "{}", server.base());
    let trusted = reqwest::Certificate::from_pem(certificate.pem().as_bytes()).unwrap();
    let mut visitor = Browser::with(
        server.base(),
        reqwest::blocking::Client::builder().tls_certs_only([trusted]),
    );
    let form = visitor.get("/sign-in");
    assert!(
        form.set_cookie("sentinel_csrf")
            .is_some_and(|c| c.contains("; Secure")),
        "{:?}",
        form.set_cookies
    );
    let reply = visitor.sign_in("alice", ALICE_PASSWORD, "");
    assert_eq!(reply.status, 303, "{}", reply.body);
    let cookie = reply.set_cookie("sentinel_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(visitor.get("/").body.contains(r#"id="nav-user">alice<"#));
}

#[test]
fn signing_in_from_a_page_comes_back_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut visitor = Browser::new(server.base());

    // The header's link names the page (its query too), encoded.
    let page = visitor.get("/search?q=web&kind=agent");
    let link = page.field_href("nav-sign-in").expect("a sign-in link");
    assert_eq!(link, "/sign-in?next=%2Fsearch%3Fq%3Dweb%26kind%3Dagent");
    // The home page and the sign-in page itself need no way back.
    assert_eq!(
        visitor.get("/").field_href("nav-sign-in").as_deref(),
        Some("/sign-in")
    );

    // The form carries it, and signing in lands there.
    let form = visitor.get(&link);
    let next = form
        .field("next")
        .expect("the form's next field")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert_eq!(next, "/search?q=web&kind=agent");
    let reply = visitor.sign_in("alice", ALICE_PASSWORD, &next);
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location.as_deref(), Some("/search?q=web&kind=agent"));
}
