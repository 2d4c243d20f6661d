//! A registry with authentication on, populated for authorisation tests:
//! users with every role, an organisation with a publisher and a reader
//! member, repositories of every visibility (each holding an image and a
//! referrer of it, pushed by the admin), and personal access tokens of alice
//! that are revoked, expired, or scoped to pulling her own namespace.
//!
//! Callers act as real clients: they present Basic credentials, nothing, or
//! a bearer token fetched from `GET /token` for the exact scope they need.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode};
use sentinel_auth::{Actions, AuthStore, Role, TokenScope, Visibility};
use serde_json::json;

use crate::common::*;

/// The token service name the test registry uses (the default).
pub const SERVICE: &str = "sentinel-registry";

/// Who makes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caller {
    /// No credentials at all.
    Anonymous,
    /// `reader1`: global role reader, no memberships.
    Reader1,
    /// `alice`: publisher, owner of the `alice/` namespace.
    Alice,
    /// `bob`: publisher, owner of `bob/` only.
    Bob,
    /// `carol`: publisher, publisher member of organisation `acme`.
    Carol,
    /// `dave`: publisher, reader member of organisation `acme`.
    Dave,
    /// The bootstrap `admin`.
    Admin,
    /// alice's personal access token, revoked.
    AliceRevokedPat,
    /// alice's personal access token, past its expiry.
    AliceExpiredPat,
    /// alice's personal access token scoped to `alice/*`, pull only.
    AliceScopedPat,
    /// The user name `alice` with a password that is not hers.
    AliceWrongPassword,
}

impl Caller {
    /// A short label for messages, tags and annotations (tag-safe).
    pub fn label(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Reader1 => "reader1",
            Caller::Alice => "alice",
            Caller::Bob => "bob",
            Caller::Carol => "carol",
            Caller::Dave => "dave",
            Caller::Admin => "admin",
            Caller::AliceRevokedPat => "alice-revoked-pat",
            Caller::AliceExpiredPat => "alice-expired-pat",
            Caller::AliceScopedPat => "alice-scoped-pat",
            Caller::AliceWrongPassword => "alice-wrong-password",
        }
    }
}

/// A user this world creates (besides the bootstrap admin), with its role.
const USERS: [(&str, Role); 5] = [
    ("reader1", Role::Reader),
    ("alice", Role::Publisher),
    ("bob", Role::Publisher),
    ("carol", Role::Publisher),
    ("dave", Role::Publisher),
];

/// The password of a user this world creates.
fn password_of(user: &str) -> String {
    format!("{user}-password-for-tests")
}

/// A seeded repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Repo {
    /// `alice/public-app`, visibility public.
    Public,
    /// `alice/private-app`, visibility private.
    Private,
    /// `acme/shared`, visibility organisation.
    Organisation,
    /// `acme/secret`, visibility private, in the organisation's namespace.
    OrganisationPrivate,
}

impl Repo {
    /// Every seeded repository.
    pub const ALL: [Repo; 4] = [
        Repo::Public,
        Repo::Private,
        Repo::Organisation,
        Repo::OrganisationPrivate,
    ];

    /// The repository name.
    pub fn name(self) -> &'static str {
        match self {
            Repo::Public => "alice/public-app",
            Repo::Private => "alice/private-app",
            Repo::Organisation => "acme/shared",
            Repo::OrganisationPrivate => "acme/secret",
        }
    }

    /// A short label for messages, tags and annotations (tag-safe).
    pub fn label(self) -> &'static str {
        match self {
            Repo::Public => "public",
            Repo::Private => "private",
            Repo::Organisation => "org",
            Repo::OrganisationPrivate => "org-private",
        }
    }

    fn visibility(self) -> Visibility {
        match self {
            Repo::Public => Visibility::Public,
            Repo::Private | Repo::OrganisationPrivate => Visibility::Private,
            Repo::Organisation => Visibility::Organisation,
        }
    }
}

/// What the admin pushed to a seeded repository.
pub struct Seeded {
    /// The image tagged `v1`.
    pub image: Image,
    /// The digest of the one manifest whose `subject` is the image.
    pub referrer: String,
}

/// What a request presents in its `Authorization` header.
#[derive(Clone, Debug)]
pub enum Presented {
    /// No `Authorization` header.
    Nothing,
    /// `Basic user:secret`.
    Basic(String, String),
    /// `Bearer token`.
    Bearer(String),
}

impl Presented {
    /// Adds the header to `request`.
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Presented::Nothing => request,
            Presented::Basic(user, secret) => request.basic_auth(user, Some(secret)),
            Presented::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// alice's personal access token texts.
struct AliceTokens {
    revoked: String,
    expired: String,
    scoped: String,
}

/// The populated registry.
pub struct AuthWorld {
    /// The registry with a client that sends the admin's Basic credentials
    /// on every request (setup and after-the-fact checks).
    pub admin: Oci,
    /// A client that sends only what each request adds.
    pub plain: reqwest::Client,
    tokens: AliceTokens,
    seeded: BTreeMap<Repo, Seeded>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A client that never follows redirects and sends `headers` on every request.
fn client_with(headers: HeaderMap) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("build an HTTP client")
}

/// The `Authorization: Basic` header for `user` and `secret`, encoded by
/// reqwest itself.
fn basic_header(user: &str, secret: &str) -> HeaderMap {
    let request = reqwest::Client::new()
        .get("http://127.0.0.1/")
        .basic_auth(user, Some(secret))
        .build()
        .expect("build a request");
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, request.headers()[AUTHORIZATION].clone());
    headers
}

impl AuthWorld {
    /// Starts a registry with authentication on and populates it.
    ///
    /// The failed-login limit is off: the revoked and expired tokens fail a
    /// login in every cell they appear in, and from one address that would
    /// soon block every later login (alice's included) with `429`.
    pub async fn start() -> AuthWorld {
        let reg = TestRegistry::start_with(|settings| {
            settings.auth = Some(true);
            settings.failed_logins_per_minute = 0;
        })
        .await;
        let tokens = populate_users(&reg);
        let admin = Oci {
            reg,
            http: client_with(basic_header("admin", sentinel_conformance::ADMIN_PASSWORD)),
        };
        let mut world = AuthWorld {
            admin,
            plain: sentinel_conformance::client(),
            tokens,
            seeded: BTreeMap::new(),
        };
        world.wait_for_users().await;
        for repo in Repo::ALL {
            let seeded = world.seed(repo).await;
            world.seeded.insert(repo, seeded);
        }
        world
    }

    /// Waits until the running server has read the users written behind its
    /// back (it polls the file every 250 ms; a login also re-reads it).
    async fn wait_for_users(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let reply = self
                .token(Caller::Dave, "repository:acme/shared:pull")
                .await;
            if reply.status == StatusCode::OK {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not pick up the new users within 3 s: {} {}",
                reply.status,
                reply.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Pushes an image tagged `v1` and a referrer of it, as the admin.
    async fn seed(&self, repo: Repo) -> Seeded {
        let name = repo.name();
        let image = self
            .admin
            .push_image(name, Some("v1"), &format!("seed of {name}"))
            .await;
        let config = self.admin.push_blob_desc(name, OCI_EMPTY, b"{}").await;
        let mut referrer = image_manifest(&config, std::slice::from_ref(&image.layer));
        referrer["artifactType"] = json!("application/vnd.example.signature");
        referrer["subject"] = image.descriptor.to_json();
        let bytes = to_bytes(&referrer);
        let referrer = self
            .admin
            .push_manifest(name, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)
            .await;
        Seeded { image, referrer }
    }

    /// What the admin pushed to `repo`.
    pub fn seeded(&self, repo: Repo) -> &Seeded {
        &self.seeded[&repo]
    }

    /// The Basic credentials `caller` holds, if any.
    pub fn credentials(&self, caller: Caller) -> Presented {
        let basic = |user: &str, secret: &str| Presented::Basic(user.into(), secret.into());
        match caller {
            Caller::Anonymous => Presented::Nothing,
            Caller::Admin => basic("admin", sentinel_conformance::ADMIN_PASSWORD),
            Caller::Reader1 => basic("reader1", &password_of("reader1")),
            Caller::Alice => basic("alice", &password_of("alice")),
            Caller::Bob => basic("bob", &password_of("bob")),
            Caller::Carol => basic("carol", &password_of("carol")),
            Caller::Dave => basic("dave", &password_of("dave")),
            Caller::AliceRevokedPat => basic("alice", &self.tokens.revoked),
            Caller::AliceExpiredPat => basic("alice", &self.tokens.expired),
            Caller::AliceScopedPat => basic("alice", &self.tokens.scoped),
            Caller::AliceWrongPassword => basic("alice", "not-alices-password"),
        }
    }

    /// The absolute URL of `path_or_url`.
    pub fn url(&self, path_or_url: &str) -> String {
        self.admin.resolve(path_or_url)
    }

    /// A request from a caller's client (nothing added yet).
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        self.plain.request(method, self.url(path_or_url))
    }

    /// `GET /token?service=..&scope=<scope>` with `caller`'s credentials (none
    /// for the anonymous caller), as a client does after a challenge.
    pub async fn token(&self, caller: Caller, scope: &str) -> Reply {
        let path = format!(
            "/token?service={}&scope={}",
            encode_query_value(SERVICE),
            encode_query_value(scope)
        );
        send(
            self.credentials(caller)
                .apply(self.request(Method::GET, &path)),
        )
        .await
    }

    /// The bearer token in a successful `/token` reply.
    #[track_caller]
    pub fn bearer(reply: Reply) -> Presented {
        let reply = reply.expect_status(StatusCode::OK);
        let body = reply.json();
        let token = body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no `token` in {body}", reply.what));
        assert!(!token.is_empty(), "{}: the token is empty", reply.what);
        assert_eq!(
            body["access_token"].as_str(),
            Some(token),
            "{}: `access_token` differs from `token`",
            reply.what
        );
        Presented::Bearer(token.to_owned())
    }

    /// The exact `WWW-Authenticate` value of a challenge from this registry.
    pub fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        let mut value = format!(
            "Bearer realm=\"{}\",service=\"{SERVICE}\"",
            self.url("/token")
        );
        if let Some(scope) = scope {
            value.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            value.push_str(&format!(",error=\"{error}\""));
        }
        value
    }

    /// Pushes, as the admin, a manifest to `repo` that nothing else refers
    /// to (made unique by `label`), and returns its digest: something a
    /// delete may remove without disturbing other tests.
    pub async fn push_throwaway(&self, repo: Repo, label: &str) -> String {
        let manifest = self.manifest_of_seeded_blobs(repo, "throwaway", label);
        let bytes = to_bytes(&manifest);
        self.admin
            .push_manifest(repo.name(), &sha256_digest(&bytes), OCI_MANIFEST, &bytes)
            .await
    }

    /// An image manifest of `repo`'s seeded config and layer, annotated with
    /// `key: label` to make it unique.
    pub fn manifest_of_seeded_blobs(
        &self,
        repo: Repo,
        key: &str,
        label: &str,
    ) -> serde_json::Value {
        let image = &self.seeded(repo).image;
        let mut manifest = image_manifest(&image.config, std::slice::from_ref(&image.layer));
        manifest["annotations"] = json!({ key: label });
        manifest
    }
}

/// Writes the users, the organisation, the repository visibilities and
/// alice's tokens to the registry's users file; returns the token texts.
fn populate_users(reg: &TestRegistry) -> AliceTokens {
    let now = unix_now();
    let (tokens, _) = AuthStore::new(reg.data_dir())
        .update(|state| {
            for (user, role) in USERS {
                state.add_user(user, &password_of(user), role, now)?;
            }
            state.create_organisation("acme", None, now)?;
            state.add_member("acme", "carol", Role::Publisher)?;
            state.add_member("acme", "dave", Role::Reader)?;
            for repo in Repo::ALL {
                state.set_visibility(repo.name(), repo.visibility())?;
            }

            let everything = TokenScope::default;
            let (revoked, revoked_text) =
                state.create_token("alice", "revoked", everything(), None, now)?;
            state.revoke_token(&revoked.id)?;

            // `create_token` refuses an expiry in the past, so the token is
            // created valid and then aged as if it had been made two hours
            // ago to last one.
            let (expired, expired_text) =
                state.create_token("alice", "expired", everything(), Some(now + 3600), now)?;
            let stored = state
                .tokens
                .get_mut(&expired.id)
                .expect("the token just created is stored");
            stored.created = now - 7200;
            stored.expires = Some(now - 3600);

            let pull_own = TokenScope {
                repositories: vec!["alice/*".to_owned()],
                actions: Actions::PULL,
            };
            let (_, scoped_text) = state.create_token("alice", "scoped", pull_own, None, now)?;
            Ok(AliceTokens {
                revoked: revoked_text,
                expired: expired_text,
                scoped: scoped_text,
            })
        })
        .expect("write the users file");
    tokens
}
