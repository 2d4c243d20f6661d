//! The authorisation matrix: every caller against every repository visibility
//! for pull, push, delete and referrers, and the catalog each caller sees,
//! over real HTTP with authentication on.
//!
//! Each caller acts as a real client: it asks `GET /token` for the exact
//! scope the request needs (with its Basic credentials, or none when
//! anonymous) and sends the request with the bearer token it got. A few
//! cells also send Basic credentials straight to `/v2/`.
//!
//! The expected outcome of every cell is written out in the tables below;
//! the policy they follow is in `sentinel-auth/src/policy.rs`:
//! admins do everything; anyone pulls a public repository; the owner of a
//! namespace pulls, pushes and deletes in it; organisation publishers pull
//! and push, organisation readers pull public and organisation-visible
//! repositories; the reader role never pushes or deletes; a personal access
//! token narrows its user's rights to its scope.

#[path = "common/auth_world.rs"]
mod auth_world;
mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use auth_world::{AuthWorld, Caller, Presented, Repo};
use common::*;
use reqwest::{Method, StatusCode};

/// How a request came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Done: `200` for pull and referrers, `201` for push, `202` for delete,
    /// with the effect checked.
    Allowed,
    /// `401 UNAUTHORIZED` with a challenge for the needed scope and
    /// `error="insufficient_scope"`: the (anonymous) token does not cover
    /// the request, and signing in could help.
    InsufficientScope,
    /// `401 UNAUTHORIZED` with a challenge for the needed scope and no
    /// error: the request presented nothing.
    SignInRequired,
    /// `401 UNAUTHORIZED` with a challenge naming neither scope nor error:
    /// the credentials were refused (by `GET /token` in the token flow, by
    /// the request itself with Basic credentials on `/v2/`).
    CredentialsRefused,
    /// `403 DENIED`: the caller may not do this, whatever token it gets.
    Denied,
}

/// Allowed.
const OK: Outcome = Outcome::Allowed;
/// `401` with `error="insufficient_scope"`.
const ANON: Outcome = Outcome::InsufficientScope;
/// `401` challenge for a request without credentials.
const SIGN_IN: Outcome = Outcome::SignInRequired;
/// `401` for refused credentials (`GET /token` itself in the token flow).
const NO_TOKEN: Outcome = Outcome::CredentialsRefused;
/// `403 DENIED`.
const DENY: Outcome = Outcome::Denied;

/// A repository operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `GET /v2/<name>/manifests/v1`.
    Pull,
    /// A blob upload (`POST` then `PUT`) and a manifest `PUT` of a new tag.
    Push,
    /// `DELETE /v2/<name>/manifests/<digest>` of a manifest the admin pushed
    /// just before.
    Delete,
    /// `GET /v2/<name>/referrers/<digest>` of the seeded image.
    Referrers,
}

impl Op {
    /// The matrix's columns, in order.
    const ALL: [Op; 4] = [Op::Pull, Op::Push, Op::Delete, Op::Referrers];

    fn label(self) -> &'static str {
        match self {
            Op::Pull => "pull",
            Op::Push => "push",
            Op::Delete => "delete",
            Op::Referrers => "referrers",
        }
    }

    /// The actions the endpoint needs, as a client asks `/token` for them
    /// and as the challenge names them.
    fn actions(self) -> &'static str {
        match self {
            Op::Pull | Op::Referrers => "pull",
            Op::Push => "pull,push",
            Op::Delete => "delete",
        }
    }

    /// The token scope for this operation on `name`.
    fn scope(self, name: &str) -> String {
        format!("repository:{name}:{}", self.actions())
    }
}

use Caller::*;
use Repo::*;

/// The callers of the token-flow matrix.
const MATRIX_CALLERS: [Caller; 10] = [
    Anonymous,
    Reader1,
    Alice,
    Bob,
    Carol,
    Dave,
    Admin,
    AliceRevokedPat,
    AliceExpiredPat,
    AliceScopedPat,
];

/// Every cell of the token-flow matrix: caller, repository, and the outcome
/// of pull, push, delete and referrers.
///
/// Repositories: `Public` = alice/public-app (public), `Private` =
/// alice/private-app (private), `Organisation` = acme/shared (organisation),
/// `OrganisationPrivate` = acme/secret (private).
#[rustfmt::skip]
const MATRIX: &[(Caller, Repo, [Outcome; 4])] = &[
    //                                       pull      push      delete    referrers
    (Anonymous,       Public,              [OK,       ANON,     ANON,     OK      ]),
    (Anonymous,       Private,             [ANON,     ANON,     ANON,     ANON    ]),
    (Anonymous,       Organisation,        [ANON,     ANON,     ANON,     ANON    ]),
    (Anonymous,       OrganisationPrivate, [ANON,     ANON,     ANON,     ANON    ]),

    (Reader1,         Public,              [OK,       DENY,     DENY,     OK      ]),
    (Reader1,         Private,             [DENY,     DENY,     DENY,     DENY    ]),
    (Reader1,         Organisation,        [DENY,     DENY,     DENY,     DENY    ]),
    (Reader1,         OrganisationPrivate, [DENY,     DENY,     DENY,     DENY    ]),

    (Alice,           Public,              [OK,       OK,       OK,       OK      ]),
    (Alice,           Private,             [OK,       OK,       OK,       OK      ]),
    (Alice,           Organisation,        [DENY,     DENY,     DENY,     DENY    ]),
    (Alice,           OrganisationPrivate, [DENY,     DENY,     DENY,     DENY    ]),

    (Bob,             Public,              [OK,       DENY,     DENY,     OK      ]),
    (Bob,             Private,             [DENY,     DENY,     DENY,     DENY    ]),
    (Bob,             Organisation,        [DENY,     DENY,     DENY,     DENY    ]),
    (Bob,             OrganisationPrivate, [DENY,     DENY,     DENY,     DENY    ]),

    (Carol,           Public,              [OK,       DENY,     DENY,     OK      ]),
    (Carol,           Private,             [DENY,     DENY,     DENY,     DENY    ]),
    (Carol,           Organisation,        [OK,       OK,       DENY,     OK      ]),
    (Carol,           OrganisationPrivate, [OK,       OK,       DENY,     OK      ]),

    (Dave,            Public,              [OK,       DENY,     DENY,     OK      ]),
    (Dave,            Private,             [DENY,     DENY,     DENY,     DENY    ]),
    (Dave,            Organisation,        [OK,       DENY,     DENY,     OK      ]),
    (Dave,            OrganisationPrivate, [DENY,     DENY,     DENY,     DENY    ]),

    (Admin,           Public,              [OK,       OK,       OK,       OK      ]),
    (Admin,           Private,             [OK,       OK,       OK,       OK      ]),
    (Admin,           Organisation,        [OK,       OK,       OK,       OK      ]),
    (Admin,           OrganisationPrivate, [OK,       OK,       OK,       OK      ]),

    (AliceRevokedPat, Public,              [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceRevokedPat, Private,             [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceRevokedPat, Organisation,        [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceRevokedPat, OrganisationPrivate, [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),

    (AliceExpiredPat, Public,              [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceExpiredPat, Private,             [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceExpiredPat, Organisation,        [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),
    (AliceExpiredPat, OrganisationPrivate, [NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN]),

    // Scoped to `alice/*`, pull only: alice's own rights, narrowed.
    (AliceScopedPat,  Public,              [OK,       DENY,     DENY,     OK      ]),
    (AliceScopedPat,  Private,             [OK,       DENY,     DENY,     OK      ]),
    (AliceScopedPat,  Organisation,        [DENY,     DENY,     DENY,     DENY    ]),
    (AliceScopedPat,  OrganisationPrivate, [DENY,     DENY,     DENY,     DENY    ]),
];

/// What `GET /v2/_catalog` answers a caller.
#[derive(Clone, Copy, Debug)]
enum Listing {
    /// `200` listing exactly these repositories, in lexical order.
    Repositories(&'static [&'static str]),
    /// `GET /token` itself is refused with `401`.
    TokenRefused,
}

const PUBLIC_ONLY: Listing = Listing::Repositories(&["alice/public-app"]);

/// The catalog each caller sees through the token flow.
#[rustfmt::skip]
const CATALOG: &[(Caller, Listing)] = &[
    (Anonymous,          PUBLIC_ONLY),
    (Reader1,            PUBLIC_ONLY),
    (Alice,              Listing::Repositories(&["alice/private-app", "alice/public-app"])),
    (Bob,                PUBLIC_ONLY),
    (Carol,              Listing::Repositories(&["acme/secret", "acme/shared", "alice/public-app"])),
    (Dave,               Listing::Repositories(&["acme/shared", "alice/public-app"])),
    (Admin,              Listing::Repositories(&[
                             "acme/secret", "acme/shared", "alice/private-app", "alice/public-app",
                         ])),
    (AliceRevokedPat,    Listing::TokenRefused),
    (AliceExpiredPat,    Listing::TokenRefused),
    (AliceScopedPat,     Listing::Repositories(&["alice/private-app", "alice/public-app"])),
    (AliceWrongPassword, Listing::TokenRefused),
];

/// Cells with Basic credentials (or nothing) sent straight to `/v2/`, no
/// token involved.
#[rustfmt::skip]
const BASIC_ON_V2: &[(Caller, Repo, Op, Outcome)] = &[
    (Alice,              Private,             Op::Pull,      OK),
    (Alice,              Private,             Op::Delete,    OK),
    (Bob,                Private,             Op::Pull,      DENY),
    (Bob,                Public,              Op::Push,      DENY),
    (Reader1,            Public,              Op::Referrers, OK),
    (Reader1,            Public,              Op::Push,      DENY),
    (Carol,              Organisation,        Op::Push,      OK),
    (Carol,              OrganisationPrivate, Op::Delete,    DENY),
    (Dave,               Organisation,        Op::Pull,      OK),
    (Dave,               Organisation,        Op::Push,      DENY),
    (Dave,               OrganisationPrivate, Op::Referrers, DENY),
    (Admin,              OrganisationPrivate, Op::Delete,    OK),
    (AliceScopedPat,     Private,             Op::Pull,      OK),
    (AliceScopedPat,     Private,             Op::Push,      DENY),
    (AliceScopedPat,     Organisation,        Op::Pull,      DENY),
    (AliceRevokedPat,    Public,              Op::Pull,      NO_TOKEN),
    (AliceExpiredPat,    Private,             Op::Pull,      NO_TOKEN),
    (AliceWrongPassword, Public,              Op::Pull,      NO_TOKEN),
    (Anonymous,          Public,              Op::Pull,      SIGN_IN),
    (Anonymous,          Private,             Op::Push,      SIGN_IN),
];

/// Refused callers against a private repository that exists and one that
/// does not: the answers must not tell them apart. The outcomes are for the
/// token flow and for the same credentials sent straight to `/v2/`.
#[rustfmt::skip]
const LOOKALIKES: &[(Caller, Repo, &str, Outcome, Outcome)] = &[
    (Bob,       Private,             "alice/ghost-app", DENY, DENY),
    (Anonymous, Private,             "alice/ghost-app", ANON, SIGN_IN),
    (Dave,      OrganisationPrivate, "acme/ghost-app",  DENY, DENY),
];

/// How a cell's requests authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A bearer token from `GET /token` for the exact scope.
    TokenFlow,
    /// The caller's Basic credentials (or nothing) on every `/v2/` request.
    BasicOnV2,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::TokenFlow => "token",
            Mode::BasicOnV2 => "basic",
        }
    }
}

/// What the caller presents for `op` on `name`: its credentials, or the
/// token `/token` gives it. `None` when `/token` refused it as expected.
async fn present(
    world: &AuthWorld,
    caller: Caller,
    name: &str,
    op: Op,
    mode: Mode,
    expected: Outcome,
) -> Option<Presented> {
    match mode {
        Mode::BasicOnV2 => Some(world.credentials(caller)),
        Mode::TokenFlow => {
            let reply = world.token(caller, &op.scope(name)).await;
            if expected == Outcome::CredentialsRefused {
                expect_refusal(world, reply, expected, "");
                None
            } else {
                Some(AuthWorld::bearer(reply))
            }
        }
    }
}

/// Asserts that `reply` is the refusal `expected` describes; `scope` is the
/// one the challenge must name, where it names one.
#[track_caller]
fn expect_refusal(world: &AuthWorld, reply: Reply, expected: Outcome, scope: &str) {
    let challenge = match expected {
        Outcome::Allowed => panic!("{}: not a refusal", reply.what),
        Outcome::Denied => {
            reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
            return;
        }
        Outcome::InsufficientScope => world.challenge(Some(scope), Some("insufficient_scope")),
        Outcome::SignInRequired => world.challenge(Some(scope), None),
        Outcome::CredentialsRefused => world.challenge(None, None),
    };
    reply
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        .expect_header("WWW-Authenticate", &challenge);
}

/// Runs one cell: `caller` does `op` on `repo`, authenticating as `mode`
/// says, and the outcome and its effect are checked. Panics on a mismatch.
async fn run_cell(
    world: Arc<AuthWorld>,
    caller: Caller,
    repo: Repo,
    op: Op,
    mode: Mode,
    expected: Outcome,
) {
    let label = format!("{}-{}-{}", caller.label(), repo.label(), mode.label());
    let name = repo.name();
    let scope = op.scope(name);
    // A delete needs something to delete, there before the caller acts.
    let throwaway = match op {
        Op::Delete => Some(world.push_throwaway(repo, &label).await),
        _ => None,
    };
    let Some(presented) = present(&world, caller, name, op, mode, expected).await else {
        return;
    };
    let seeded = world.seeded(repo);
    match op {
        Op::Pull => {
            let reply = send(
                presented
                    .apply(world.request(Method::GET, &format!("/v2/{name}/manifests/v1")))
                    .header("Accept", ACCEPT_MANIFESTS),
            )
            .await;
            match expected {
                Outcome::Allowed => {
                    reply.expect_manifest(&seeded.image.manifest, OCI_MANIFEST);
                }
                _ => expect_refusal(&world, reply, expected, &scope),
            }
        }
        Op::Referrers => {
            let path = format!("/v2/{name}/referrers/{}", seeded.image.digest);
            let reply = send(presented.apply(world.request(Method::GET, &path))).await;
            match expected {
                Outcome::Allowed => {
                    let reply = reply.expect_status(StatusCode::OK);
                    let listed: Vec<String> = reply.json()["manifests"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{}: no `manifests` array", reply.what))
                        .iter()
                        .map(|descriptor| descriptor["digest"].as_str().unwrap_or("").to_owned())
                        .collect();
                    assert_eq!(
                        listed,
                        std::slice::from_ref(&seeded.referrer),
                        "{}: referrers",
                        reply.what
                    );
                }
                _ => expect_refusal(&world, reply, expected, &scope),
            }
        }
        Op::Push => push(&world, &presented, repo, &label, expected).await,
        Op::Delete => {
            let digest = throwaway.expect("a delete cell pushed its throwaway");
            let path = format!("/v2/{name}/manifests/{digest}");
            let reply = send(presented.apply(world.request(Method::DELETE, &path))).await;
            let after = world.admin.get_manifest(name, &digest).await;
            match expected {
                Outcome::Allowed => {
                    reply.expect_status(StatusCode::ACCEPTED);
                    after.expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
                }
                _ => {
                    expect_refusal(&world, reply, expected, &scope);
                    after.expect_status(StatusCode::OK);
                }
            }
        }
    }
}

/// The push cell: a blob upload and a manifest `PUT` of a new tag, then a
/// pull of the tag with the same credentials. When refused, both the upload
/// and the manifest `PUT` must be refused, and the tag must not exist.
async fn push(
    world: &AuthWorld,
    presented: &Presented,
    repo: Repo,
    label: &str,
    expected: Outcome,
) {
    let name = repo.name();
    let scope = Op::Push.scope(name);
    let tag = format!("push-{label}");
    let start = send(
        presented
            .apply(world.request(Method::POST, &format!("/v2/{name}/blobs/uploads/")))
            .body(Vec::<u8>::new()),
    )
    .await;
    let manifest_path = format!("/v2/{name}/manifests/{tag}");
    if expected != Outcome::Allowed {
        expect_refusal(world, start, expected, &scope);
        let manifest = to_bytes(&world.manifest_of_seeded_blobs(repo, "refused-push", label));
        let put = send(
            presented
                .apply(world.request(Method::PUT, &manifest_path))
                .header("Content-Type", OCI_MANIFEST)
                .body(manifest),
        )
        .await;
        expect_refusal(world, put, expected, &scope);
        world
            .admin
            .get_manifest(name, &tag)
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
        return;
    }

    let config_bytes = format!(r#"{{"pushed-by":"{label}"}}"#).into_bytes();
    let config = Descriptor::of(OCI_CONFIG, &config_bytes);
    let start = start.expect_status(StatusCode::ACCEPTED);
    let session = world.url(start.require_header("Location"));
    send(
        presented
            .apply(world.request(
                Method::PUT,
                &with_query(&session, &format!("digest={}", config.digest)),
            ))
            .header("Content-Type", "application/octet-stream")
            .body(config_bytes),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let layer = &world.seeded(repo).image.layer;
    let manifest = to_bytes(&image_manifest(&config, std::slice::from_ref(layer)));
    send(
        presented
            .apply(world.request(Method::PUT, &manifest_path))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED);
    send(
        presented
            .apply(world.request(Method::GET, &manifest_path))
            .header("Accept", ACCEPT_MANIFESTS),
    )
    .await
    .expect_manifest(&manifest, OCI_MANIFEST);
}

/// Runs `cell` on its own task, turning a panic into an error message, so
/// that one failing cell does not hide the others.
async fn isolated(cell: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    match tokio::spawn(cell).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_panic() => {
            let payload = error.into_panic();
            Err(payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()))
        }
        Err(error) => Err(error.to_string()),
    }
}

/// Panics listing every failure, if there is any.
#[track_caller]
fn assert_no_failures(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} cells failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The matrix names every caller with every repository exactly once.
#[test]
fn the_matrix_covers_every_caller_and_repository_once() {
    let cells: Vec<(Caller, Repo)> = MATRIX.iter().map(|&(c, r, _)| (c, r)).collect();
    let unique: BTreeSet<(Caller, Repo)> = cells.iter().copied().collect();
    assert_eq!(unique.len(), cells.len(), "a cell is listed twice");
    for caller in MATRIX_CALLERS {
        for repo in Repo::ALL {
            assert!(
                unique.contains(&(caller, repo)),
                "no row for {caller:?} on {repo:?}"
            );
        }
    }
    assert_eq!(cells.len(), MATRIX_CALLERS.len() * Repo::ALL.len());
}

/// Every cell of [`MATRIX`], through the token flow.
#[tokio::test(flavor = "multi_thread")]
async fn every_caller_gets_exactly_the_access_the_policy_gives_it() {
    let world = Arc::new(AuthWorld::start().await);
    let mut failures = Vec::new();
    for &(caller, repo, outcomes) in MATRIX {
        for (op, expected) in Op::ALL.into_iter().zip(outcomes) {
            let cell = run_cell(world.clone(), caller, repo, op, Mode::TokenFlow, expected);
            if let Err(message) = isolated(cell).await {
                failures.push(format!(
                    "{} {} {}: expected {expected:?}: {message}",
                    caller.label(),
                    op.label(),
                    repo.name()
                ));
            }
        }
    }
    assert_no_failures(&failures, MATRIX.len() * Op::ALL.len());
}

/// Every cell of [`BASIC_ON_V2`]: Basic credentials checked per request.
#[tokio::test(flavor = "multi_thread")]
async fn basic_credentials_on_v2_get_the_same_access() {
    let world = Arc::new(AuthWorld::start().await);
    let mut failures = Vec::new();
    for &(caller, repo, op, expected) in BASIC_ON_V2 {
        let cell = run_cell(world.clone(), caller, repo, op, Mode::BasicOnV2, expected);
        if let Err(message) = isolated(cell).await {
            failures.push(format!(
                "{} {} {} (Basic on /v2/): expected {expected:?}: {message}",
                caller.label(),
                op.label(),
                repo.name()
            ));
        }
    }
    assert_no_failures(&failures, BASIC_ON_V2.len());
}

/// `GET /v2/_catalog` lists exactly the repositories each caller may pull.
#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_lists_exactly_what_each_caller_may_pull() {
    const SCOPE: &str = "registry:catalog:*";
    let world = AuthWorld::start().await;
    for &(caller, listing) in CATALOG {
        let reply = world.token(caller, SCOPE).await;
        let expected = match listing {
            Listing::TokenRefused => {
                expect_refusal(&world, reply, Outcome::CredentialsRefused, "");
                continue;
            }
            Listing::Repositories(names) => names,
        };
        let token = AuthWorld::bearer(reply);
        let reply = send(token.apply(world.request(Method::GET, "/v2/_catalog"))).await;
        assert_catalog(reply, expected, caller);
    }

    // Straight to /v2/: nothing presented is challenged for the catalog
    // scope; Basic credentials see their own filtered list.
    let reply = send(world.request(Method::GET, "/v2/_catalog")).await;
    expect_refusal(&world, reply, Outcome::SignInRequired, SCOPE);
    for (caller, expected) in [
        (Bob, &["alice/public-app"][..]),
        (Dave, &["acme/shared", "alice/public-app"][..]),
        (
            AliceScopedPat,
            &["alice/private-app", "alice/public-app"][..],
        ),
    ] {
        let reply = send(
            world
                .credentials(caller)
                .apply(world.request(Method::GET, "/v2/_catalog")),
        )
        .await;
        assert_catalog(reply, expected, caller);
    }
}

#[track_caller]
fn assert_catalog(reply: Reply, expected: &[&str], caller: Caller) {
    let reply = reply.expect_status(StatusCode::OK);
    let listed: Vec<String> = reply.json()["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no `repositories` array", reply.what))
        .iter()
        .map(|name| name.as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(listed, expected, "the catalog {} sees", caller.label());
}

/// The first request of `op` on `name`, the one a refusal answers.
async fn first_request(
    world: &AuthWorld,
    presented: &Presented,
    name: &str,
    op: Op,
    digest: &str,
) -> Reply {
    let (method, path) = match op {
        Op::Pull => (Method::GET, format!("/v2/{name}/manifests/v1")),
        Op::Push => (Method::POST, format!("/v2/{name}/blobs/uploads/")),
        Op::Delete => (Method::DELETE, format!("/v2/{name}/manifests/{digest}")),
        Op::Referrers => (Method::GET, format!("/v2/{name}/referrers/{digest}")),
    };
    send(presented.apply(world.request(method, &path))).await
}

/// A reply with the repository name replaced by a placeholder: status,
/// `WWW-Authenticate` and body.
fn normalised(reply: &Reply, name: &str) -> (StatusCode, Option<String>, String) {
    let placeholder = "<repository>";
    (
        reply.status,
        reply
            .header("WWW-Authenticate")
            .map(|value| value.replace(name, placeholder)),
        reply.text().replace(name, placeholder),
    )
}

/// A refused caller cannot tell a private repository that exists from one
/// that does not: same status, error code, challenge and body (but for the
/// name itself), for every operation, with a token and with Basic.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_do_not_reveal_whether_a_private_repository_exists() {
    let world = AuthWorld::start().await;
    for &(caller, repo, missing, token_outcome, basic_outcome) in LOOKALIKES {
        let existing = repo.name();
        for op in Op::ALL {
            let digest = match op {
                Op::Delete => {
                    let label = format!("lookalike-{}-{}", caller.label(), repo.label());
                    world.push_throwaway(repo, &label).await
                }
                _ => world.seeded(repo).image.digest.clone(),
            };
            for (mode, expected) in [
                (Mode::TokenFlow, token_outcome),
                (Mode::BasicOnV2, basic_outcome),
            ] {
                let mut replies = Vec::new();
                for name in [existing, missing] {
                    let presented = present(&world, caller, name, op, mode, expected)
                        .await
                        .expect("the caller gets a token");
                    replies.push(first_request(&world, &presented, name, op, &digest).await);
                }
                let context = format!(
                    "{} {} with {} on {existing} and {missing}",
                    caller.label(),
                    op.label(),
                    mode.label()
                );
                assert_eq!(
                    replies[0].error_codes(),
                    replies[1].error_codes(),
                    "{context}: error codes"
                );
                assert_eq!(
                    normalised(&replies[0], existing),
                    normalised(&replies[1], missing),
                    "{context}: the answers differ"
                );
                let mut replies = replies.into_iter();
                let first = replies.next().expect("two replies");
                expect_refusal(&world, first, expected, &op.scope(existing));
            }
        }
    }
}
