//! Attacks on the registry's authentication, over real HTTP against a real
//! server: malformed `Authorization` headers, forged and tampered tokens,
//! revocation that must take effect on the very next request, password
//! guessing against the failed-login limit, and TLS.
//!
//! Every expectation comes from how the registry documents its
//! authentication: a refused bearer token is `401` with
//! `error="invalid_token"` in the challenge, a malformed header `401` with
//! `error="invalid_request"`, a token lacking an action `401
//! insufficient_scope` when the caller could get one that covers it and
//! `403 DENIED` otherwise, and too many failed logins `429` with
//! `Retry-After` before any password is checked.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Oci, Reply, TestRegistry, encode_query_value, send};
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use sentinel_conformance::ADMIN_PASSWORD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The token service every registry here runs as (the default).
const SERVICE: &str = "sentinel-registry";
/// The file in the data directory holding the token signing key.
const SIGNING_KEY_FILE: &str = "token-signing-key.pem";
const ALICE_PASSWORD: &str = "alice-password-1";
const BOB_PASSWORD: &str = "bob-password-1";
/// A second loopback address, to send requests from another client address.
const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A registry with authentication on and the bootstrap admin.
async fn start_auth_registry() -> TestRegistry {
    TestRegistry::start_with(|s| s.auth = Some(true)).await
}

/// `Basic base64(user:secret)`.
fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")))
}

/// `Bearer token`.
fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An HTTP client (redirects off) whose requests come from `address`.
fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address)
        .build()
        .expect("build an HTTP client bound to a loopback address")
}

/// An HTTP client (redirects off) that sends `authorization` on every request.
fn client_with(authorization: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(authorization).expect("a valid Authorization value"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("build an HTTP client")
}

/// The query of a token request for `scopes`.
fn token_query(scopes: &[&str]) -> String {
    let mut query = format!("service={SERVICE}");
    for scope in scopes {
        query.push_str(&format!("&scope={}", encode_query_value(scope)));
    }
    query
}

/// `GET /token?<query>` with `authorization` (if any).
async fn request_token(
    http: &reqwest::Client,
    reg: &TestRegistry,
    authorization: Option<&str>,
    query: &str,
) -> Reply {
    let mut request = http.get(reg.url(&format!("/token?{query}")));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    send(request).await
}

/// A token response's JSON after asserting `200 OK`.
async fn token_response(
    reg: &TestRegistry,
    user: &str,
    secret: &str,
    scopes: &[&str],
    offline: bool,
) -> Value {
    let mut query = token_query(scopes);
    if offline {
        query.push_str("&offline_token=true");
    }
    let http = sentinel_conformance::client();
    request_token(&http, reg, Some(&basic(user, secret)), &query)
        .await
        .expect_status(StatusCode::OK)
        .json()
}

/// An access token for `user` with `scopes`.
async fn access_token(reg: &TestRegistry, user: &str, secret: &str, scopes: &[&str]) -> String {
    let body = token_response(reg, user, secret, scopes, false).await;
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("the token response has no `token`: {body}"))
        .to_owned()
}

/// Sends a management API request as `authorization` with an optional JSON body.
async fn manage(
    reg: &TestRegistry,
    method: reqwest::Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> Reply {
    let http = sentinel_conformance::client();
    let mut request = http
        .request(method, reg.url(&format!("/api/v1/{path}")))
        .header(AUTHORIZATION, authorization);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// Adds a user through the management API as the admin.
async fn add_user(reg: &TestRegistry, name: &str, password: &str, role: &str) {
    manage(
        reg,
        reqwest::Method::POST,
        "users",
        &basic("admin", ADMIN_PASSWORD),
        Some(json!({ "name": name, "password": password, "role": role })),
    )
    .await
    .expect_status(StatusCode::CREATED);
}

/// Pushes a small image to `repo:v1` as `user` (Basic credentials on `/v2/`)
/// and hands the registry back.
async fn push_image_as(reg: TestRegistry, user: &str, password: &str, repo: &str) -> TestRegistry {
    let oci = Oci {
        reg,
        http: client_with(&basic(user, password)),
    };
    oci.push_image(repo, Some("v1"), repo).await;
    oci.reg
}

/// A registry with users alice and bob (publishers), each with an image at
/// `<name>/app:v1`.
async fn registry_with_alice_and_bob() -> TestRegistry {
    let reg = start_auth_registry().await;
    add_user(&reg, "alice", ALICE_PASSWORD, "publisher").await;
    add_user(&reg, "bob", BOB_PASSWORD, "publisher").await;
    let reg = push_image_as(reg, "alice", ALICE_PASSWORD, "alice/app").await;
    push_image_as(reg, "bob", BOB_PASSWORD, "bob/app").await
}

/// `GET /v2/<repo>/manifests/v1` with `authorization`.
async fn pull_manifest(reg: &TestRegistry, repo: &str, authorization: &str) -> Reply {
    send(
        sentinel_conformance::client()
            .get(reg.url(&format!("/v2/{repo}/manifests/v1")))
            .header("Accept", common::ACCEPT_MANIFESTS)
            .header(AUTHORIZATION, authorization),
    )
    .await
}

/// `GET /v2/` with `authorization`.
async fn base_check(reg: &TestRegistry, authorization: &str) -> Reply {
    send(
        sentinel_conformance::client()
            .get(reg.url("/v2/"))
            .header(AUTHORIZATION, authorization),
    )
    .await
}

/// Asserts a `401 UNAUTHORIZED` with a Bearer challenge carrying `error`.
#[track_caller]
fn expect_challenge_error(reply: Reply, error: &str) -> Reply {
    let reply = reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let challenge = reply.require_header("WWW-Authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\""),
        "{}: the challenge is not a Bearer challenge: {challenge}",
        reply.what
    );
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{}: the challenge lacks error=\"{error}\": {challenge}",
        reply.what
    );
    reply
}

/// Asserts a refused bearer token: `401` with `error="invalid_token"`.
#[track_caller]
fn expect_invalid_token(reply: Reply) -> Reply {
    expect_challenge_error(reply, "invalid_token")
}

/// A `Retry-After` header's whole seconds, checked to be at least one.
#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    let value = reply.require_header("Retry-After");
    let seconds: u64 = value
        .parse()
        .unwrap_or_else(|_| panic!("{}: Retry-After {value:?} is not seconds", reply.what));
    assert!(seconds >= 1, "{}: Retry-After is 0", reply.what);
    seconds
}

/// Asserts `429 TOOMANYREQUESTS` with a `Retry-After`.
#[track_caller]
fn expect_throttled(reply: Reply) -> Reply {
    let reply = reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS");
    retry_after(&reply);
    reply
}

/// A JWT's three segments, with its header and claims decoded.
struct Jwt {
    header: Value,
    claims: Value,
    segments: [String; 3],
}

impl Jwt {
    fn parse(token: &str) -> Jwt {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWT has three segments: {token}");
        let decode = |segment: &str| -> Value {
            let bytes = URL_SAFE_NO_PAD
                .decode(segment)
                .unwrap_or_else(|e| panic!("a JWT segment is not base64url ({e}): {segment}"));
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("a JWT segment is not JSON ({e}): {segment}"))
        };
        Jwt {
            header: decode(parts[0]),
            claims: decode(parts[1]),
            segments: [parts[0].into(), parts[1].into(), parts[2].into()],
        }
    }

    fn kid(&self) -> &str {
        self.header["kid"]
            .as_str()
            .unwrap_or_else(|| panic!("the token header has no kid: {}", self.header))
    }
}

/// base64url (no padding) of a JSON value's bytes.
fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("serialise a JSON value"))
}

/// A JWT signed with Ed25519 `key` over `header` and `claims`.
fn sign_eddsa(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", encode_segment(header), encode_segment(claims));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// A JWT with `alg: HS256` keyed with `secret`.
fn sign_hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("sign an HS256 token")
}

/// The registry's own token signing key, read from its data directory.
fn server_signing_key(data_dir: &Path) -> ed25519_dalek::SigningKey {
    let pem = std::fs::read_to_string(data_dir.join(SIGNING_KEY_FILE))
        .expect("read the registry's signing key file");
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).expect("a PKCS#8 Ed25519 key")
}

/// `claims` with a fresh `jti`, so that no verified-token cache can answer.
fn fresh(mut claims: Value) -> Value {
    claims["jti"] = json!(uuid::Uuid::new_v4().simple().to_string());
    claims
}

/// `claims` granting every action on alice's and bob's repositories, and
/// valid for another year.
fn widened(claims: &Value) -> Value {
    let mut claims = fresh(claims.clone());
    let everything = json!(["pull", "push", "delete"]);
    claims["access"] = json!([
        { "type": "repository", "name": "alice/app", "actions": everything },
        { "type": "repository", "name": "bob/app", "actions": everything },
    ]);
    let exp = claims["exp"].as_u64().expect("a numeric exp");
    claims["exp"] = json!(exp + 365 * 24 * 60 * 60);
    claims
}

// ---------------------------------------------------------------------------
// 1. Malformed Authorization headers
// ---------------------------------------------------------------------------

/// What a malformed or bogus `Authorization` header must earn.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// `401` with `error="invalid_request"`.
    InvalidRequest,
    /// `401` with `error="invalid_token"` (a bearer token that is not ours).
    InvalidToken,
    /// `401 UNAUTHORIZED` (well-formed credentials that are wrong).
    WrongCredentials,
    /// Any `4xx` with an error envelope (`/token` refuses a bearer token).
    ClientError,
}

/// Malformed and bogus `Authorization` values, each with what `GET /v2/`
/// must answer. Only a few are logins that fail (the long password, the
/// unknown personal access token on the management API): fewer than the
/// failed-login limit, so no answer here is a 429.
fn malformed_authorizations() -> Vec<(&'static str, Vec<u8>, Refusal)> {
    let huge = 100 * 1024;
    vec![
        (
            "a lone garbage scheme",
            b"Garbage".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "a garbage scheme with a value",
            b"Garbage abc:def".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "Digest",
            b"Digest username=\"alice\", realm=\"r\"".to_vec(),
            Refusal::InvalidRequest,
        ),
        ("an empty value", Vec::new(), Refusal::InvalidRequest),
        (
            "Basic with non-base64",
            b"Basic !!!not*base64!!!".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "Basic without a value",
            b"Basic".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "Basic, base64 without a colon",
            format!("Basic {}", STANDARD.encode("alice-without-colon")).into_bytes(),
            Refusal::InvalidRequest,
        ),
        (
            "Basic, base64 of non-UTF-8 bytes",
            format!("Basic {}", STANDARD.encode(b"alice:\xff\xfe\xfd")).into_bytes(),
            Refusal::InvalidRequest,
        ),
        (
            "an empty Bearer",
            b"Bearer".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "an empty Bearer with a space",
            b"Bearer ".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "non-UTF-8 bytes after Basic",
            b"Basic \xff\xfe\xfd\x80".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "non-UTF-8 bytes after Bearer",
            b"Bearer \x80\x81\xfe\xff".to_vec(),
            Refusal::InvalidRequest,
        ),
        (
            "a 100 KB garbage scheme",
            [b"X".repeat(huge), b" y".to_vec()].concat(),
            Refusal::InvalidRequest,
        ),
        (
            "a 100 KB Basic value without a colon",
            [b"Basic ".to_vec(), b"A".repeat(huge)].concat(),
            Refusal::InvalidRequest,
        ),
        (
            "a 100 KB password",
            basic("alice", &"p".repeat(huge)).into_bytes(),
            Refusal::WrongCredentials,
        ),
        (
            "a 100 KB Bearer token",
            [b"Bearer ".to_vec(), b"x".repeat(huge)].concat(),
            Refusal::InvalidToken,
        ),
        (
            "a Bearer token of three dots",
            b"Bearer a.b.c".to_vec(),
            Refusal::InvalidToken,
        ),
        (
            "an unknown personal access token as a Bearer",
            format!("Bearer sntl_{}_{}", "0".repeat(12), "0".repeat(64)).into_bytes(),
            Refusal::InvalidToken,
        ),
    ]
}

#[tokio::test]
async fn malformed_authorization_headers_are_refused_with_4xx_and_an_error_body() {
    let reg = start_auth_registry().await;
    add_user(&reg, "alice", ALICE_PASSWORD, "publisher").await;
    let http = sentinel_conformance::client();
    let token_url = reg.url(&format!(
        "/token?{}",
        token_query(&["repository:alice/app:pull"])
    ));
    let targets = [
        ("/v2/", reg.url("/v2/")),
        (
            "/v2/alice/app/tags/list",
            reg.url("/v2/alice/app/tags/list"),
        ),
        ("/token", token_url),
        ("/api/v1/whoami", reg.url("/api/v1/whoami")),
    ];
    for (what, value, refusal) in malformed_authorizations() {
        let value = HeaderValue::from_bytes(&value)
            .unwrap_or_else(|e| panic!("{what}: not sendable as a header value: {e}"));
        for (target, url) in &targets {
            let reply = send(http.get(url).header(AUTHORIZATION, value.clone())).await;
            let context = format!("{what} on {target}");
            assert!(
                reply.status.is_client_error(),
                "{context}: expected a 4xx, got {} with body {:?}",
                reply.status,
                reply.text()
            );
            assert!(
                !reply.error_codes().is_empty(),
                "{context}: no error code in the body"
            );
            let on_token_endpoint = *target == "/token";
            let on_management_api = target.starts_with("/api/");
            let expected = match refusal {
                // /token answers a bearer token with 400: it wants Basic or nothing.
                Refusal::InvalidToken if on_token_endpoint => Refusal::ClientError,
                // The management API has its own Basic challenge.
                _ if on_management_api => Refusal::WrongCredentials,
                other => other,
            };
            match expected {
                Refusal::InvalidRequest => {
                    expect_challenge_error(reply, "invalid_request");
                }
                Refusal::InvalidToken => {
                    expect_invalid_token(reply);
                }
                Refusal::WrongCredentials => {
                    reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
                }
                Refusal::ClientError => {}
            }
        }
    }

    // Still serving, and the right credentials still work.
    base_check(&reg, &basic("admin", ADMIN_PASSWORD))
        .await
        .expect_status(StatusCode::OK);
    let token = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    base_check(&reg, &bearer(&token))
        .await
        .expect_status(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// 2. Forged, tampered, misused and expired tokens
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_signed_by_another_key_are_refused() {
    let reg = registry_with_alice_and_bob().await;
    let real = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    pull_manifest(&reg, "alice/app", &bearer(&real))
        .await
        .expect_status(StatusCode::OK);
    let jwt = Jwt::parse(&real);
    assert_eq!(jwt.header["alg"], "EdDSA", "the registry signs with EdDSA");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let stranger_kid = hex::encode(&Sha256::digest(stranger.verifying_key().to_bytes())[..20]);
    assert_ne!(stranger_kid, jwt.kid(), "the stranger's key is another key");

    let headers = [
        (
            "the registry's kid",
            json!({ "alg": "EdDSA", "typ": "JWT", "kid": jwt.kid() }),
        ),
        (
            "the stranger's own kid",
            json!({ "alg": "EdDSA", "typ": "JWT", "kid": stranger_kid }),
        ),
        ("no kid", json!({ "alg": "EdDSA", "typ": "JWT" })),
    ];
    for (what, header) in headers {
        for claims in [fresh(jwt.claims.clone()), widened(&jwt.claims)] {
            let forged = sign_eddsa(&stranger, &header, &claims);
            for repo in ["alice/app", "bob/app"] {
                let reply = pull_manifest(&reg, repo, &bearer(&forged)).await;
                assert!(
                    reply.status == StatusCode::UNAUTHORIZED,
                    "a token signed by another key with {what} opened {repo}: {}",
                    reply.status
                );
                expect_invalid_token(reply);
            }
        }
    }
    // The real token still works: refusing forgeries broke nothing.
    pull_manifest(&reg, "alice/app", &bearer(&real))
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn unsigned_and_hmac_confused_tokens_are_refused() {
    let reg = registry_with_alice_and_bob().await;
    let real = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    let jwt = Jwt::parse(&real);
    let key = server_signing_key(reg.data_dir());
    let public = key.verifying_key();
    assert_eq!(
        hex::encode(&Sha256::digest(public.to_bytes())[..20]),
        jwt.kid(),
        "the key read from the data directory is the one that signs tokens"
    );

    let mut forgeries: Vec<(String, String)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": jwt.kid() });
        for (what, claims) in [
            ("the real claims", fresh(jwt.claims.clone())),
            ("widened claims", widened(&jwt.claims)),
        ] {
            let unsigned = format!("{}.{}.", encode_segment(&header), encode_segment(&claims));
            forgeries.push((format!("alg {alg} with {what}, empty signature"), unsigned));
        }
        let with_real_signature = format!(
            "{}.{}.{}",
            encode_segment(&header),
            jwt.segments[1],
            jwt.segments[2]
        );
        forgeries.push((
            format!("alg {alg} keeping the real signature"),
            with_real_signature,
        ));
    }
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .expect("encode the public key as PEM");
    let secrets: [(&str, Vec<u8>); 3] = [
        ("the raw public key", public.to_bytes().to_vec()),
        ("the public key PEM", public_pem.into_bytes()),
        (
            "the public key's JWK x",
            URL_SAFE_NO_PAD.encode(public.to_bytes()).into_bytes(),
        ),
    ];
    for (what, secret) in &secrets {
        for claims in [fresh(jwt.claims.clone()), widened(&jwt.claims)] {
            forgeries.push((
                format!("HS256 keyed with {what}"),
                sign_hs256(secret, jwt.kid(), &claims),
            ));
        }
    }

    for (what, forged) in &forgeries {
        for repo in ["alice/app", "bob/app"] {
            let reply = pull_manifest(&reg, repo, &bearer(forged)).await;
            assert!(
                reply.status == StatusCode::UNAUTHORIZED,
                "a token with {what} opened {repo}: {}",
                reply.status
            );
            expect_invalid_token(reply);
        }
        expect_invalid_token(base_check(&reg, &bearer(forged)).await);
    }
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let reg = registry_with_alice_and_bob().await;
    let real = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    pull_manifest(&reg, "alice/app", &bearer(&real))
        .await
        .expect_status(StatusCode::OK);
    let jwt = Jwt::parse(&real);

    let mut extended = jwt.claims.clone();
    extended["exp"] = json!(jwt.claims["exp"].as_u64().expect("a numeric exp") + 86_400);
    let mut as_admin = jwt.claims.clone();
    as_admin["sub"] = json!("admin");
    let mut without_generation = jwt.claims.clone();
    if let Some(claims) = without_generation.as_object_mut() {
        claims.remove("gen");
    }
    let mut other_kid = jwt.header.clone();
    other_kid["kid"] = json!("0".repeat(40));
    let resigned_payload = |claims: &Value| {
        format!(
            "{}.{}.{}",
            jwt.segments[0],
            encode_segment(claims),
            jwt.segments[2]
        )
    };
    let padded_payload = format!(
        "{}.{}=.{}",
        jwt.segments[0], jwt.segments[1], jwt.segments[2]
    );
    let mut flipped_signature = URL_SAFE_NO_PAD
        .decode(&jwt.segments[2])
        .expect("a base64url signature");
    flipped_signature[0] ^= 1;
    let tampered = [
        (
            "access widened to bob/app, exp extended",
            resigned_payload(&widened(&jwt.claims)),
        ),
        ("exp extended by a day", resigned_payload(&extended)),
        ("sub changed to admin", resigned_payload(&as_admin)),
        (
            "the generation claim removed",
            resigned_payload(&without_generation),
        ),
        (
            "the header's kid changed",
            format!(
                "{}.{}.{}",
                encode_segment(&other_kid),
                jwt.segments[1],
                jwt.segments[2]
            ),
        ),
        ("padding added to the payload", padded_payload),
        (
            "one signature bit flipped",
            format!(
                "{}.{}.{}",
                jwt.segments[0],
                jwt.segments[1],
                URL_SAFE_NO_PAD.encode(&flipped_signature)
            ),
        ),
        (
            "the signature removed",
            format!("{}.{}.", jwt.segments[0], jwt.segments[1]),
        ),
        (
            "the signature cut off",
            format!("{}.{}", jwt.segments[0], jwt.segments[1]),
        ),
    ];
    for (what, token) in &tampered {
        for repo in ["alice/app", "bob/app"] {
            let reply = pull_manifest(&reg, repo, &bearer(token)).await;
            assert!(
                reply.status == StatusCode::UNAUTHORIZED,
                "a token with {what} opened {repo}: {}",
                reply.status
            );
            expect_invalid_token(reply);
        }
    }
    pull_manifest(&reg, "alice/app", &bearer(&real))
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_token_for_one_repository_does_not_open_another() {
    let reg = registry_with_alice_and_bob().await;
    // Alice asks for bob/app too: she may not pull it, so it is left out.
    let token = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull", "repository:bob/app:pull"],
    )
    .await;
    let claims = Jwt::parse(&token).claims;
    let names: Vec<&str> = claims["access"]
        .as_array()
        .expect("an access claim")
        .iter()
        .filter_map(|entry| entry["name"].as_str())
        .collect();
    assert_eq!(names, ["alice/app"], "only alice/app is granted: {claims}");
    pull_manifest(&reg, "alice/app", &bearer(&token))
        .await
        .expect_status(StatusCode::OK);

    // Another repository alice may pull: a new token would help.
    let reply = send(
        sentinel_conformance::client()
            .get(reg.url("/v2/alice/other/tags/list"))
            .header(AUTHORIZATION, bearer(&token)),
    )
    .await;
    let reply = expect_challenge_error(reply, "insufficient_scope");
    let challenge = reply.require_header("WWW-Authenticate");
    assert!(
        challenge.contains("scope=\"repository:alice/other:pull\""),
        "the challenge names the scope needed: {challenge}"
    );

    // Pushing with a pull-only token: alice may push, so 401 insufficient_scope.
    let reply = send(
        sentinel_conformance::client()
            .post(reg.url("/v2/alice/app/blobs/uploads/"))
            .header(AUTHORIZATION, bearer(&token)),
    )
    .await;
    let reply = expect_challenge_error(reply, "insufficient_scope");
    let challenge = reply.require_header("WWW-Authenticate");
    assert!(
        challenge.contains("scope=\"repository:alice/app:pull,push\""),
        "the challenge names the scope needed: {challenge}"
    );

    // Bob's repository: alice may not pull it, so a new token would not help.
    pull_manifest(&reg, "bob/app", &bearer(&token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "DENIED");
    // The same answer for one that does not exist.
    send(
        sentinel_conformance::client()
            .get(reg.url("/v2/bob/missing/manifests/v1"))
            .header(AUTHORIZATION, bearer(&token)),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "DENIED");
}

#[tokio::test]
async fn token_kinds_are_not_interchangeable() {
    let reg = registry_with_alice_and_bob().await;
    let body = token_response(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
        true,
    )
    .await;
    let access = body["token"].as_str().expect("an access token").to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| {
            panic!("a password login with offline_token=true earns a refresh token: {body}")
        })
        .to_owned();

    // A refresh token is not an access token.
    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&refresh)).await);
    // An access token is not a refresh token.
    let reply = send(
        sentinel_conformance::client()
            .post(reg.url("/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", access.as_str()),
                ("service", SERVICE),
                ("scope", "repository:alice/app:pull"),
            ])),
    )
    .await;
    expect_invalid_token(reply);
    // An anonymous token opens nothing private.
    let http = sentinel_conformance::client();
    let anonymous = request_token(
        &http,
        &reg,
        None,
        &token_query(&["repository:alice/app:pull"]),
    )
    .await
    .expect_status(StatusCode::OK)
    .json()["token"]
        .as_str()
        .expect("an anonymous token")
        .to_owned();
    expect_challenge_error(
        pull_manifest(&reg, "alice/app", &bearer(&anonymous)).await,
        "insufficient_scope",
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let reg = TestRegistry::start_with(|s| {
        s.auth = Some(true);
        s.token_ttl = 1;
    })
    .await;
    let body = token_response(&reg, "admin", ADMIN_PASSWORD, &[], false).await;
    assert_eq!(body["expires_in"], 1, "the configured lifetime: {body}");
    let token = body["token"].as_str().expect("a token").to_owned();

    // Accepted until it expires (which may already be the case), then refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let reply = base_check(&reg, &bearer(&token)).await;
        if reply.status != StatusCode::OK {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "a token with a lifetime of one second still works after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    expect_invalid_token(refused);
    // And it stays refused, on every endpoint.
    expect_invalid_token(base_check(&reg, &bearer(&token)).await);
    expect_invalid_token(pull_manifest(&reg, "admin/app", &bearer(&token)).await);
}

// ---------------------------------------------------------------------------
// 3. Revocation takes effect on the very next request
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_personal_access_token_works_as_a_bearer_token_until_revoked() {
    let reg = registry_with_alice_and_bob().await;
    let admin = basic("admin", ADMIN_PASSWORD);
    let created = manage(
        &reg,
        reqwest::Method::POST,
        "tokens",
        &admin,
        Some(json!({ "name": "ci", "user": "alice" })),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .json();
    let id = created["id"].as_str().expect("a token id").to_owned();
    let pat = created["token"]
        .as_str()
        .expect("the token text")
        .to_owned();

    // On /v2/, the package API and /token, as `agent login --token` and
    // AGENT_REGISTRY_TOKEN send it.
    base_check(&reg, &bearer(&pat))
        .await
        .expect_status(StatusCode::OK);
    pull_manifest(&reg, "alice/app", &bearer(&pat))
        .await
        .expect_status(StatusCode::OK);
    pull_manifest(&reg, "bob/app", &bearer(&pat))
        .await
        .expect_status(StatusCode::FORBIDDEN);
    send(
        sentinel_conformance::client()
            .get(reg.url("/v1/packages/search?q=app"))
            .header(AUTHORIZATION, bearer(&pat)),
    )
    .await
    .expect_status(StatusCode::OK);
    let http = sentinel_conformance::client();
    let issued = request_token(
        &http,
        &reg,
        Some(&bearer(&pat)),
        &token_query(&["repository:alice/app:pull"]),
    )
    .await
    .expect_status(StatusCode::OK)
    .json();
    assert!(
        issued.get("refresh_token").is_none(),
        "a personal access token is not handed back as a refresh token: {issued}"
    );
    let session = issued["token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    pull_manifest(&reg, "alice/app", &bearer(&session))
        .await
        .expect_status(StatusCode::OK);

    manage(
        &reg,
        reqwest::Method::DELETE,
        &format!("tokens/{id}"),
        &admin,
        None,
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);
    pull_manifest(&reg, "alice/app", &bearer(&pat))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    request_token(
        &http,
        &reg,
        Some(&bearer(&pat)),
        &token_query(&["repository:alice/app:pull"]),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);
}

#[tokio::test]
async fn an_identity_token_works_as_its_users_password_until_the_password_changes() {
    let reg = registry_with_alice_and_bob().await;
    let refresh = token_response(&reg, "alice", ALICE_PASSWORD, &[], true).await["refresh_token"]
        .as_str()
        .expect("a password login with offline_token=true earns a refresh token")
        .to_owned();

    // Where a password goes (Basic), as `agent login` and `docker login`
    // keep it in place of the password: /v2/, the package API, /api/v1/.
    pull_manifest(&reg, "alice/app", &basic("alice", &refresh))
        .await
        .expect_status(StatusCode::OK);
    send(
        sentinel_conformance::client()
            .get(reg.url("/v1/packages/search?q=app"))
            .header(AUTHORIZATION, basic("alice", &refresh)),
    )
    .await
    .expect_status(StatusCode::OK);
    let me = manage(
        &reg,
        reqwest::Method::GET,
        "whoami",
        &basic("alice", &refresh),
        None,
    )
    .await
    .expect_status(StatusCode::OK)
    .json();
    assert_eq!(me["user"], "alice");
    // Like a personal access token, it cannot take the account over.
    manage(
        &reg,
        reqwest::Method::PUT,
        "users/alice/password",
        &basic("alice", &refresh),
        Some(json!({ "password": "taken-over-1" })),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "DENIED");
    manage(
        &reg,
        reqwest::Method::POST,
        "tokens",
        &basic("alice", &refresh),
        Some(json!({ "name": "persist" })),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "DENIED");
    // Only under its own user's name.
    pull_manifest(&reg, "bob/app", &basic("bob", &refresh))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    manage(
        &reg,
        reqwest::Method::PUT,
        "users/alice/password",
        &basic("admin", ADMIN_PASSWORD),
        Some(json!({ "password": "alice-password-2" })),
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);
    pull_manifest(&reg, "alice/app", &basic("alice", &refresh))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn revoking_a_personal_access_token_ends_its_sessions_at_once() {
    let reg = registry_with_alice_and_bob().await;
    let admin = basic("admin", ADMIN_PASSWORD);
    let created = manage(
        &reg,
        reqwest::Method::POST,
        "tokens",
        &admin,
        Some(json!({ "name": "ci", "user": "alice" })),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .json();
    let id = created["id"].as_str().expect("a token id").to_owned();
    let pat = created["token"]
        .as_str()
        .expect("the token text")
        .to_owned();

    let session = access_token(&reg, "alice", &pat, &["repository:alice/app:pull"]).await;
    let password_session = access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    pull_manifest(&reg, "alice/app", &bearer(&session))
        .await
        .expect_status(StatusCode::OK);
    pull_manifest(&reg, "alice/app", &basic("alice", &pat))
        .await
        .expect_status(StatusCode::OK);

    manage(
        &reg,
        reqwest::Method::DELETE,
        &format!("tokens/{id}"),
        &admin,
        None,
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);

    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);
    expect_invalid_token(base_check(&reg, &bearer(&session)).await);
    pull_manifest(&reg, "alice/app", &basic("alice", &pat))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let http = sentinel_conformance::client();
    request_token(
        &http,
        &reg,
        Some(&basic("alice", &pat)),
        &token_query(&["repository:alice/app:pull"]),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    manage(&reg, reqwest::Method::GET, "whoami", &bearer(&pat), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // Only that token's sessions end.
    pull_manifest(&reg, "alice/app", &bearer(&password_session))
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn removing_a_user_ends_their_sessions_at_once() {
    let reg = registry_with_alice_and_bob().await;
    let body = token_response(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
        true,
    )
    .await;
    let session = body["token"].as_str().expect("a token").to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    pull_manifest(&reg, "alice/app", &bearer(&session))
        .await
        .expect_status(StatusCode::OK);

    manage(
        &reg,
        reqwest::Method::DELETE,
        "users/alice",
        &basic("admin", ADMIN_PASSWORD),
        None,
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);

    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);
    expect_invalid_token(base_check(&reg, &bearer(&session)).await);
    expect_invalid_token(refresh_with(&reg, &refresh).await);
    pull_manifest(&reg, "alice/app", &basic("alice", ALICE_PASSWORD))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_removed_users_tokens_stay_dead_when_the_name_is_taken_again() {
    let reg = registry_with_alice_and_bob().await;
    let body = token_response(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
        true,
    )
    .await;
    let session = body["token"].as_str().expect("a token").to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let admin = basic("admin", ADMIN_PASSWORD);
    manage(&reg, reqwest::Method::DELETE, "users/alice", &admin, None)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);

    // Someone else signs up as alice: the old alice's sessions must not
    // come back to life in the new alice's namespace.
    add_user(&reg, "alice", "another-alice-password", "publisher").await;
    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);
    expect_invalid_token(refresh_with(&reg, &refresh).await);
}

/// `POST /token` with `grant_type=refresh_token`.
async fn refresh_with(reg: &TestRegistry, refresh: &str) -> Reply {
    send(
        sentinel_conformance::client()
            .post(reg.url("/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("service", SERVICE),
                ("scope", "repository:alice/app:pull"),
            ])),
    )
    .await
}

/// An `application/x-www-form-urlencoded` body.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", encode_query_value(key), encode_query_value(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn changing_a_password_ends_the_sessions_of_the_old_one() {
    let reg = registry_with_alice_and_bob().await;
    let body = token_response(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
        true,
    )
    .await;
    let session = body["token"].as_str().expect("a token").to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    pull_manifest(&reg, "alice/app", &bearer(&session))
        .await
        .expect_status(StatusCode::OK);
    // The refresh token works before the change.
    refresh_with(&reg, &refresh)
        .await
        .expect_status(StatusCode::OK);
    // Basic credentials on /v2/ are remembered after the first check.
    pull_manifest(&reg, "alice/app", &basic("alice", ALICE_PASSWORD))
        .await
        .expect_status(StatusCode::OK);

    const NEW_PASSWORD: &str = "alice-password-2";
    manage(
        &reg,
        reqwest::Method::PUT,
        "users/alice/password",
        &basic("alice", ALICE_PASSWORD),
        Some(json!({ "password": NEW_PASSWORD })),
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);

    expect_invalid_token(pull_manifest(&reg, "alice/app", &bearer(&session)).await);
    expect_invalid_token(refresh_with(&reg, &refresh).await);
    pull_manifest(&reg, "alice/app", &basic("alice", ALICE_PASSWORD))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let http = sentinel_conformance::client();
    request_token(
        &http,
        &reg,
        Some(&basic("alice", ALICE_PASSWORD)),
        &token_query(&["repository:alice/app:pull"]),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let renewed = access_token(&reg, "alice", NEW_PASSWORD, &["repository:alice/app:pull"]).await;
    pull_manifest(&reg, "alice/app", &bearer(&renewed))
        .await
        .expect_status(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// 4. Password guessing
// ---------------------------------------------------------------------------

/// How many wrong passwords the flood sends.
const FLOOD: usize = 10_000;
/// How many of them are in flight at once.
const FLOOD_CONCURRENCY: usize = 32;
/// How long the flood may take in all.
const FLOOD_TIME_CAP: Duration = Duration::from_secs(120);

/// Sends `count` wrong passwords for alice to `GET /token`, `concurrency` at
/// a time, and returns how many answers each status had. Every answer is a
/// 401 `UNAUTHORIZED` or a 429 `TOOMANYREQUESTS` with `Retry-After`.
async fn guess_passwords(
    reg: &TestRegistry,
    count: usize,
    concurrency: usize,
) -> BTreeMap<u16, usize> {
    let http = sentinel_conformance::client();
    let query = token_query(&["repository:alice/app:pull"]);
    let guesses = futures_util::stream::iter(0..count)
        .map(|i| {
            let http = http.clone();
            let query = query.clone();
            async move {
                let reply = request_token(
                    &http,
                    reg,
                    Some(&basic("alice", &format!("wrong-password-{i}"))),
                    &query,
                )
                .await;
                let status = reply.status.as_u16();
                assert!(
                    !reply.status.is_server_error() && !reply.status.is_success(),
                    "wrong password #{i}: {} with body {:?}",
                    reply.status,
                    reply.text()
                );
                match reply.status {
                    StatusCode::UNAUTHORIZED => {
                        reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        expect_throttled(reply);
                    }
                    other => panic!(
                        "wrong password #{i}: expected 401 or 429, got {other} with body {:?}",
                        reply.text()
                    ),
                }
                status
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>();
    let statuses = tokio::time::timeout(FLOOD_TIME_CAP, guesses)
        .await
        .unwrap_or_else(|_| panic!("{count} wrong passwords took more than {FLOOD_TIME_CAP:?}"));
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// A registry with users alice and bob and no content.
async fn registry_with_users() -> TestRegistry {
    let reg = start_auth_registry().await;
    add_user(&reg, "alice", ALICE_PASSWORD, "publisher").await;
    add_user(&reg, "bob", BOB_PASSWORD, "publisher").await;
    reg
}

/// Sends wrong passwords for alice from 127.0.0.1 until the answer is a 429
/// whose `Retry-After` is at least two seconds: alice is then refused from
/// this address for at least another second, long enough for the next
/// request to observe it.
async fn block_freshly(reg: &TestRegistry) {
    let http = sentinel_conformance::client();
    let query = token_query(&["repository:alice/app:pull"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = request_token(
            &http,
            reg,
            Some(&basic("alice", "yet-another-wrong-password")),
            &query,
        )
        .await;
        match reply.status {
            StatusCode::TOO_MANY_REQUESTS if retry_after(&reply) >= 2 => return,
            StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            StatusCode::UNAUTHORIZED => {}
            other => panic!(
                "a wrong password for alice: expected 401 or 429, got {other} with body {:?}",
                reply.text()
            ),
        }
        assert!(
            Instant::now() < deadline,
            "wrong passwords for alice were not refused with 429 within 60 s"
        );
    }
}

#[tokio::test]
async fn ten_thousand_wrong_passwords_are_throttled_and_open_nothing() {
    let limit = sentinel_registry::Settings::default().failed_logins_per_minute;
    assert!(limit > 0, "the default failed-login limit is on");
    let limit = limit as usize;
    let reg = registry_with_users().await;
    let admin_session = access_token(&reg, "admin", ADMIN_PASSWORD, &[]).await;

    let started = Instant::now();
    let counts = guess_passwords(&reg, FLOOD, FLOOD_CONCURRENCY).await;
    let elapsed = started.elapsed();
    let checked = counts.get(&401).copied().unwrap_or(0);
    let throttled = counts.get(&429).copied().unwrap_or(0);
    assert_eq!(checked + throttled, FLOOD, "statuses: {counts:?}");
    assert!(
        checked >= limit,
        "the first {limit} wrong passwords are checked (401) before any 429: {counts:?}"
    );
    assert!(throttled > 0, "no 429 among {FLOOD} wrong passwords");
    // The limit refills at `limit` per minute; requests already in flight
    // when it runs out may still be checked.
    let refills = (elapsed.as_secs_f64() * limit as f64 / 60.0).ceil() as usize;
    let most = limit + refills + FLOOD_CONCURRENCY;
    assert!(
        checked <= most,
        "{checked} of {FLOOD} wrong passwords reached the password check in {elapsed:?} \
         (at most {limit} + {refills} refills + {FLOOD_CONCURRENCY} in flight = {most} expected); \
         statuses: {counts:?}"
    );

    // The server still answers: a session from before works, the anonymous
    // challenge is unchanged.
    base_check(&reg, &bearer(&admin_session))
        .await
        .expect_status(StatusCode::OK);
    send(sentinel_conformance::client().get(reg.url("/v2/")))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // The limiter counts alice's name from this address: here even her
    // right password is refused before it is checked, on /token and on /v2/.
    let alice_query = token_query(&["repository:alice/app:pull"]);
    let local = sentinel_conformance::client();
    block_freshly(&reg).await;
    expect_throttled(
        request_token(
            &local,
            &reg,
            Some(&basic("alice", ALICE_PASSWORD)),
            &alice_query,
        )
        .await,
    );
    block_freshly(&reg).await;
    expect_throttled(base_check(&reg, &basic("alice", ALICE_PASSWORD)).await);
    // Another user from this address, and alice from another address, are
    // let in: the flood spent neither this address's allowance across
    // names nor alice's across addresses.
    block_freshly(&reg).await;
    let bob_query = token_query(&["repository:bob/app:pull"]);
    request_token(&local, &reg, Some(&basic("bob", BOB_PASSWORD)), &bob_query)
        .await
        .expect_status(StatusCode::OK);
    let elsewhere = client_from(OTHER_ADDRESS);
    request_token(
        &elsewhere,
        &reg,
        Some(&basic("alice", ALICE_PASSWORD)),
        &alice_query,
    )
    .await
    .expect_status(StatusCode::OK);
}

/// Whether `reply` is a failed login's answer: `401 UNAUTHORIZED`, or `429
/// TOOMANYREQUESTS` with `Retry-After` (true for the 429).
#[track_caller]
fn refused_or_throttled(reply: Reply) -> bool {
    match reply.status {
        StatusCode::UNAUTHORIZED => {
            reply.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
            false
        }
        StatusCode::TOO_MANY_REQUESTS => {
            expect_throttled(reply);
            true
        }
        other => panic!(
            "{}: expected 401 or 429, got {other} with body {:?}",
            reply.what,
            reply.text()
        ),
    }
}

/// A stranger failing alice's password over and over from one address
/// blocks alice at that address only: alice logs in, pulls and pushes from
/// another address, and the admin logs in from the stranger's address.
#[tokio::test]
async fn a_stranger_failing_for_alice_blocks_only_alice_at_the_strangers_address() {
    let limit = sentinel_registry::Settings::default().failed_logins_per_minute as usize;
    let reg = start_auth_registry().await;
    // alice goes straight into the users file, so that neither her nor the
    // admin's password has been verified (and remembered) before the attack.
    sentinel_auth::AuthStore::new(reg.data_dir())
        .update(|state| state.add_user("alice", ALICE_PASSWORD, sentinel_auth::Role::Publisher, 0))
        .expect("add alice to the users file");

    // The stranger on 127.0.0.1 guesses on /token and on /v2/ in turn
    // until both refuse with 429, and at least a dozen times.
    let stranger = sentinel_conformance::client();
    let query = token_query(&["repository:alice/app:pull"]);
    let (mut guesses, mut checked) = (0, 0);
    let (mut token_throttled, mut base_throttled) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while guesses < 12 || !token_throttled || !base_throttled {
        assert!(
            Instant::now() < deadline,
            "{guesses} wrong passwords in 60 s, and still not throttled on both endpoints"
        );
        let wrong = basic("alice", &format!("wrong-password-{guesses}"));
        let throttled = if guesses % 2 == 0 {
            let throttled =
                refused_or_throttled(request_token(&stranger, &reg, Some(&wrong), &query).await);
            token_throttled |= throttled;
            throttled
        } else {
            let throttled = refused_or_throttled(base_check(&reg, &wrong).await);
            base_throttled |= throttled;
            throttled
        };
        checked += usize::from(!throttled);
        guesses += 1;
    }
    assert!(
        checked >= limit,
        "{checked} of {guesses} wrong passwords were checked before the limit of {limit}"
    );

    // From the stranger's address, alice's right password is refused
    // before it is checked.
    block_freshly(&reg).await;
    expect_throttled(
        request_token(
            &stranger,
            &reg,
            Some(&basic("alice", ALICE_PASSWORD)),
            &query,
        )
        .await,
    );
    block_freshly(&reg).await;
    expect_throttled(base_check(&reg, &basic("alice", ALICE_PASSWORD)).await);

    // The admin logs in from the same address.
    block_freshly(&reg).await;
    let admin_token = access_token(&reg, "admin", ADMIN_PASSWORD, &[]).await;
    base_check(&reg, &bearer(&admin_token))
        .await
        .expect_status(StatusCode::OK);
    base_check(&reg, &basic("admin", ADMIN_PASSWORD))
        .await
        .expect_status(StatusCode::OK);

    // alice, from another address, gets her token and pushes and pulls.
    let home = client_from(OTHER_ADDRESS);
    let body = request_token(
        &home,
        &reg,
        Some(&basic("alice", ALICE_PASSWORD)),
        &token_query(&["repository:alice/app:pull,push"]),
    )
    .await
    .expect_status(StatusCode::OK)
    .json();
    let token = body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("the token response has no `token`: {body}"))
        .to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&bearer(&token)).expect("a valid Authorization value"),
    );
    let oci = Oci {
        reg,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(OTHER_ADDRESS)
            .default_headers(headers)
            .build()
            .expect("build an HTTP client"),
    };
    let image = oci
        .push_image("alice/app", Some("v1"), "alice at home")
        .await;
    let pulled = pull_manifest(&oci.reg, "alice/app", &bearer(&token))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(pulled.body, image.manifest, "alice pulls what she pushed");
    send(
        home.get(oci.reg.url("/v2/"))
            .header(AUTHORIZATION, basic("alice", ALICE_PASSWORD)),
    )
    .await
    .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn without_a_failed_login_limit_nothing_is_throttled() {
    let reg = TestRegistry::start_with(|s| {
        s.auth = Some(true);
        s.failed_logins_per_minute = 0;
    })
    .await;
    add_user(&reg, "alice", ALICE_PASSWORD, "publisher").await;
    let attempts = 50;
    let counts = guess_passwords(&reg, attempts, 8).await;
    assert_eq!(
        counts,
        BTreeMap::from([(401, attempts)]),
        "every wrong password is checked and refused"
    );
    access_token(
        &reg,
        "alice",
        ALICE_PASSWORD,
        &["repository:alice/app:pull"],
    )
    .await;
    base_check(&reg, &basic("admin", ADMIN_PASSWORD))
        .await
        .expect_status(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// 5. TLS
// ---------------------------------------------------------------------------

/// A self-signed certificate for 127.0.0.1 and its private key, as PEM.
fn self_signed_for_loopback() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("generate a certificate key");
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("certificate parameters for 127.0.0.1")
        .self_signed(&key)
        .expect("a self-signed certificate");
    (certificate.pem(), key.serialize_pem())
}

/// A registry with authentication on, serving HTTPS.
struct TlsRegistry {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsRegistry {
    /// Writes the certificate and key beside a fresh data directory and
    /// starts the server on a free loopback port.
    async fn start(cert_pem: &str, key_pem: &str) -> TlsRegistry {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().join("data");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, cert_pem).expect("write the certificate");
        std::fs::write(&key, key_pem).expect("write the key");
        sentinel_auth::AuthStore::new(&data_dir)
            .update(|state| {
                state.add_user(
                    sentinel_registry::BOOTSTRAP_ADMIN,
                    ADMIN_PASSWORD,
                    sentinel_auth::Role::Admin,
                    0,
                )
            })
            .expect("create the admin user");
        let settings = sentinel_registry::Settings {
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            data_dir,
            auth: Some(true),
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..sentinel_registry::Settings::default()
        };
        let server = sentinel_registry::Server::bind(settings)
            .await
            .expect("start the registry with TLS");
        assert!(server.tls_enabled(), "the server says it speaks HTTPS");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve over TLS");
        });
        TlsRegistry {
            addr,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

impl Drop for TlsRegistry {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An HTTPS client that trusts only `cert_pem`, optionally limited to HTTP/1.1.
fn https_client(cert_pem: &str, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([
            reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("a PEM certificate")
        ]);
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().expect("build an HTTPS client")
}

#[tokio::test]
async fn tls_serves_https_with_an_https_realm_and_refuses_plain_http() {
    let (cert, key) = self_signed_for_loopback();
    let reg = TlsRegistry::start(&cert, &key).await;
    let https = https_client(&cert, false);
    let realm = format!("Bearer realm=\"https://{}/token\"", reg.addr);
    // Over HTTP/1.1 (a Host header) and over HTTP/2, which the server offers
    // by ALPN and Go's (docker's) client uses (no Host header, only
    // `:authority`).
    for (what, client) in [
        ("HTTP/1.1", https_client(&cert, true)),
        ("the negotiated version", https_client(&cert, false)),
    ] {
        let response = client
            .get(reg.url("/v2/"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /v2/ over HTTPS with {what}: {e}"));
        let version = response.version();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{what} ({version:?})"
        );
        let challenge = response
            .headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what} ({version:?}): no WWW-Authenticate"))
            .to_owned();
        assert!(
            challenge.starts_with(&realm),
            "over {what} ({version:?}) the realm is the HTTPS token endpoint ({realm}): {challenge}"
        );
    }

    // The token flow works over HTTPS.
    let body = send(
        https
            .get(reg.url(&format!("/token?{}", token_query(&[]))))
            .header(AUTHORIZATION, basic("admin", ADMIN_PASSWORD)),
    )
    .await
    .expect_status(StatusCode::OK)
    .json();
    let token = body["token"].as_str().expect("a token");
    send(
        https
            .get(reg.url("/v2/"))
            .header(AUTHORIZATION, bearer(token)),
    )
    .await
    .expect_status(StatusCode::OK);

    // Plain HTTP to the TLS port fails, and so does a client that does not
    // trust the certificate.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build an HTTP client");
    match impatient
        .get(format!("http://{}/v2/", reg.addr))
        .header(AUTHORIZATION, basic("admin", ADMIN_PASSWORD))
        .send()
        .await
    {
        Ok(response) => panic!(
            "plain HTTP to the TLS port was answered: {}",
            response.status()
        ),
        Err(error) => assert!(
            !error.is_timeout(),
            "plain HTTP to the TLS port hung instead of failing: {error}"
        ),
    }
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([])
        .build()
        .expect("build an HTTPS client");
    let refused = untrusting.get(reg.url("/v2/")).send().await;
    assert!(
        refused.is_err(),
        "a client that does not trust the certificate connected: {refused:?}"
    );

    // Still serving HTTPS afterwards.
    send(https.get(reg.url("/v2/")))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn tls_needs_both_a_certificate_and_a_key_that_load() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (cert_pem, _) = self_signed_for_loopback();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, cert_pem).expect("write the certificate");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").expect("write a garbage key");
    let settings = |tls_cert, tls_key| sentinel_registry::Settings {
        listen: "127.0.0.1:0".parse().expect("a loopback address"),
        data_dir: dir.path().join("data"),
        auth: Some(true),
        tls_cert,
        tls_key,
        ..sentinel_registry::Settings::default()
    };
    let only_cert = sentinel_registry::Server::bind(settings(Some(cert.clone()), None)).await;
    assert!(
        matches!(only_cert, Err(sentinel_registry::StartError::TlsIncomplete)),
        "a certificate without a key is refused at start"
    );
    let bad_key = sentinel_registry::Server::bind(settings(Some(cert), Some(garbage))).await;
    assert!(
        matches!(bad_key, Err(sentinel_registry::StartError::Tls(_))),
        "a key that does not load is refused at start"
    );
}
