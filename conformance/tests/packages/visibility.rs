//! With authentication on, the package API shows each caller only what it
//! may pull: search filters by visibility and grants, and a private
//! package's own endpoints answer a stranger as if it did not exist.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use sentinel_auth::{Access, AuthStore, Role, Visibility};

use crate::common::*;
use crate::support::*;

/// Users of [`Secured`], each a publisher: alice owns `alice/`, bob has a
/// read grant on `alice/secret`, carol has nothing of alice's.
const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// A registry with authentication on, alice's public package
/// `alice/open` and her private package `alice/secret`.
pub struct Secured {
    /// The registry, with a client that sends the admin's credentials.
    pub admin: Oci,
    /// A client that sends nothing of its own.
    pub plain: reqwest::Client,
}

fn password(user: &str) -> String {
    format!("{user}-password-for-tests")
}

impl Secured {
    /// Starts the registry, adds the users and pushes the two packages.
    pub async fn start() -> Secured {
        let reg = TestRegistry::start_with(|settings| {
            settings.auth = Some(true);
            settings.failed_logins_per_minute = 0;
        })
        .await;
        AuthStore::new(reg.data_dir())
            .update(|state| {
                for user in USERS {
                    state.add_user(user, &password(user), Role::Publisher, 0)?;
                }
                state.set_visibility("alice/open", Visibility::Public)?;
                state.set_visibility("alice/secret", Visibility::Private)?;
                state.grant("alice/secret", "bob", Access::Read)?;
                Ok(())
            })
            .expect("write the users file");
        let plain = sentinel_conformance::client();
        let admin_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers({
                let request = reqwest::Client::new()
                    .get("http://127.0.0.1/")
                    .basic_auth("admin", Some(sentinel_conformance::ADMIN_PASSWORD))
                    .build()
                    .expect("a request");
                request.headers().clone()
            })
            .build()
            .expect("an HTTP client");
        let secured = Secured {
            admin: Oci {
                reg,
                http: admin_client,
            },
            plain,
        };
        secured.wait_for_users().await;
        let open = Package::agent("open", "1.0.0", "description: Visibility test, public.\n");
        let secret = Package::agent(
            "secret",
            "1.0.0",
            "description: Visibility test, private.\n",
        );
        push_version(&secured.admin, "alice/open", &open).await;
        push_version(&secured.admin, "alice/secret", &secret).await;
        secured
    }

    /// Waits (at most 3 s) until the server has read the users written
    /// behind its back.
    async fn wait_for_users(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let reply = send(self.request(Some("carol"), Method::GET, "/v2/")).await;
            if reply.status == StatusCode::OK {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not pick up the users: {} {}",
                reply.status,
                reply.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request from `user` (Basic credentials) or from nobody.
    pub fn request(&self, user: Option<&str>, method: Method, path: &str) -> RequestBuilder {
        let request = self.plain.request(method, self.admin.resolve(path));
        match user {
            Some(user) => request.basic_auth(user, Some(password(user))),
            None => request,
        }
    }
}

#[tokio::test]
async fn search_lists_only_what_the_caller_may_pull() {
    let world = Secured::start().await;
    for (user, wanted) in [
        (None, vec!["alice/open"]),
        (Some("carol"), vec!["alice/open"]),
        (Some("bob"), vec!["alice/open", "alice/secret"]),
        (Some("alice"), vec!["alice/open", "alice/secret"]),
        (Some("admin"), vec!["alice/open", "alice/secret"]),
    ] {
        let request = match user {
            Some("admin") => world
                .admin
                .get("/v1/packages/search?q=visibility&sort=name"),
            _ => world.request(
                user,
                Method::GET,
                "/v1/packages/search?q=visibility&sort=name",
            ),
        };
        let found = send(request).await.expect_status(StatusCode::OK).json();
        assert_eq!(names(&found), wanted, "{user:?}: {found}");
        assert_eq!(found["total"], wanted.len(), "{user:?}");
    }
}

#[tokio::test]
async fn a_private_package_answers_strangers_as_if_it_did_not_exist() {
    let world = Secured::start().await;
    let paths = |repo: &str| {
        [
            format!("/v1/packages/{repo}/versions"),
            format!("/v1/packages/{repo}/1.0.0/info"),
            format!("/v1/packages/{repo}/latest/info"),
            format!("/v1/packages/{repo}/1.0.0"),
            format!("/v1/packages/{repo}/dependents"),
        ]
    };
    for (secret, missing) in paths("alice/secret").iter().zip(paths("alice/missing")) {
        // Anonymous: a challenge.
        let to_secret = send(world.request(None, Method::GET, secret)).await;
        let to_missing = send(world.request(None, Method::GET, &missing)).await;
        for reply in [&to_secret, &to_missing] {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.what);
            assert!(
                reply
                    .require_header("WWW-Authenticate")
                    .starts_with("Bearer realm="),
                "{}",
                reply.what
            );
        }
        assert_eq!(to_secret.error_codes(), to_missing.error_codes());
        // Signed in without access: refused alike.
        let to_secret = send(world.request(Some("carol"), Method::GET, secret)).await;
        let to_missing = send(world.request(Some("carol"), Method::GET, &missing)).await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&to_secret.status),
            "{}: {}",
            to_secret.what,
            to_secret.status
        );
        assert_eq!(to_secret.status, to_missing.status, "{secret}");
        assert_eq!(
            to_secret.error_codes(),
            to_missing.error_codes(),
            "{secret}"
        );
    }
    // The owner and the grantee read it; the public one is open to all.
    for user in ["alice", "bob"] {
        let reply = send(world.request(
            Some(user),
            Method::GET,
            "/v1/packages/alice/secret/versions",
        ))
        .await
        .expect_status(StatusCode::OK);
        assert_eq!(listed(&reply.json()), ["1.0.0"]);
        send(world.request(Some(user), Method::GET, "/v1/packages/alice/secret/1.0.0"))
            .await
            .expect_status(StatusCode::OK);
    }
    for user in [None, Some("carol")] {
        send(world.request(user, Method::GET, "/v1/packages/alice/open/1.0.0/info"))
            .await
            .expect_status(StatusCode::OK);
        send(world.request(user, Method::GET, "/v1/packages/alice/open/1.0.0"))
            .await
            .expect_status(StatusCode::OK);
    }
    // Only who may push deprecates, and only who may delete deletes.
    for user in [None, Some("bob"), Some("carol")] {
        let reply = send(world.request(
            user,
            Method::POST,
            "/v1/packages/alice/open/1.0.0/deprecate",
        ))
        .await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{user:?} deprecating: {}",
            reply.status
        );
        let reply =
            send(world.request(user, Method::DELETE, "/v1/packages/alice/open/1.0.0")).await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{user:?} deleting: {}",
            reply.status
        );
    }
    assert_eq!(listed_or_none(&world.admin, "alice/open").await, ["1.0.0"]);
    let versions = versions(&world.admin, "alice/open", "").await;
    assert_eq!(
        row(&versions, "1.0.0")["deprecated"],
        serde_json::json!(null)
    );
}

#[tokio::test]
async fn dependents_list_only_stacks_the_caller_may_pull() {
    let world = Secured::start().await;
    let crew = Package::stack("crew", "1.0.0", &[("open", "alice/open:1.0.0")]);
    push_version(&world.admin, "alice/secret-crew", &crew).await;
    let info = "/v1/packages/alice/open/1.0.0/info";
    let dependents = "/v1/packages/alice/open/dependents";
    for user in [None, Some("carol")] {
        for path in [info, dependents] {
            let reply = send(world.request(user, Method::GET, path))
                .await
                .expect_status(StatusCode::OK);
            let body = reply.json();
            assert_eq!(
                body["dependents"],
                serde_json::json!([]),
                "{user:?} {path}: a private stack is not shown"
            );
        }
    }
    for path in [info, dependents] {
        let body = send(world.request(Some("alice"), Method::GET, path))
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(body["dependents"][0]["name"], "alice/secret-crew", "{path}");
    }
}

#[tokio::test]
async fn popular_lists_only_what_the_caller_may_pull() {
    let world = Secured::start().await;
    for repo in ["alice/open", "alice/secret"] {
        send(world.admin.get(&format!("/v1/packages/{repo}/1.0.0")))
            .await
            .expect_status(StatusCode::OK);
        assert_eq!(wait_for_downloads(&world.admin, repo, "1.0.0", 1).await, 1);
    }
    for (user, wanted) in [
        (None, vec!["alice/open"]),
        (Some("carol"), vec!["alice/open"]),
        (Some("bob"), vec!["alice/open", "alice/secret"]),
    ] {
        let found = send(world.request(user, Method::GET, "/v1/packages/popular"))
            .await
            .expect_status(StatusCode::OK)
            .json();
        let mut seen = names(&found);
        seen.sort();
        assert_eq!(seen, wanted, "{user:?}: {found}");
    }
}

#[tokio::test]
async fn a_pull_only_token_reads_packages_but_changes_none() {
    let world = Secured::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let ((_, token), _) = AuthStore::new(world.admin.reg.data_dir())
        .update(|state| {
            let scope = sentinel_auth::TokenScope {
                repositories: vec!["alice/*".to_owned()],
                actions: sentinel_auth::Actions::PULL,
            };
            state.create_token("alice", "read-only", scope, None, now)
        })
        .expect("create a token");
    let with_token = |method: Method, path: &str| {
        world
            .plain
            .request(method, world.admin.resolve(path))
            .basic_auth("alice", Some(&token))
    };
    // The token works once the registry has read it (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = send(with_token(
            Method::GET,
            "/v1/packages/alice/secret/versions",
        ))
        .await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token is never accepted: {}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send(with_token(Method::GET, "/v1/packages/alice/secret/1.0.0"))
        .await
        .expect_status(StatusCode::OK);

    let agent = Package::agent("tokened", "1.0.0", "");
    let refused = [
        send(with_token(Method::PUT, "/v1/packages/publish").body(agent.sntl.clone())).await,
        send(with_token(
            Method::POST,
            "/v1/packages/alice/secret/1.0.0/deprecate",
        ))
        .await,
        send(with_token(
            Method::DELETE,
            "/v1/packages/alice/secret/1.0.0",
        ))
        .await,
    ];
    for reply in refused {
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{}: {} {}",
            reply.what,
            reply.status,
            reply.text()
        );
    }
    assert_eq!(
        listed_or_none(&world.admin, "alice/tokened").await,
        Vec::<String>::new()
    );
    let versions = versions(&world.admin, "alice/secret", "").await;
    assert_eq!(listed(&versions), ["1.0.0"]);
    assert_eq!(
        row(&versions, "1.0.0")["deprecated"],
        serde_json::json!(null)
    );
}
