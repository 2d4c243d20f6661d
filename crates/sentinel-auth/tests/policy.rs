//! The policy rules, as a table over one state.

use std::collections::BTreeMap;

use sentinel_auth::{
    Access, Actions, AuthState, Organisation, Principal, RepositoryPolicy, Role, TokenRestriction,
    TokenScope, User, Visibility, may_administer, may_manage_organisation, permitted,
};

fn user(role: Role) -> User {
    User {
        role,
        password_hash: "not used by the policy".into(),
        generation: 1,
        created: 0,
    }
}

fn policy(visibility: Visibility, grants: &[(&str, Access)]) -> RepositoryPolicy {
    RepositoryPolicy {
        visibility,
        grants: grants.iter().map(|(u, a)| (u.to_string(), *a)).collect(),
    }
}

/// admin (admin), alice and bob and carol (publishers), rita (reader);
/// organisation acme with oadmin, opub, oread and rita (as publisher).
fn state() -> AuthState {
    let mut state = AuthState::default();
    for (name, role) in [
        ("admin", Role::Admin),
        ("alice", Role::Publisher),
        ("bob", Role::Publisher),
        ("carol", Role::Publisher),
        ("rita", Role::Reader),
        ("oadmin", Role::Publisher),
        ("opub", Role::Publisher),
        ("oread", Role::Publisher),
        ("radmin", Role::Reader),
    ] {
        state.users.insert(name.into(), user(role));
    }
    let members: BTreeMap<String, Role> = [
        ("oadmin", Role::Admin),
        ("opub", Role::Publisher),
        ("oread", Role::Reader),
        ("rita", Role::Publisher),
        ("radmin", Role::Admin),
    ]
    .into_iter()
    .map(|(u, r)| (u.to_string(), r))
    .collect();
    state.organisations.insert(
        "acme".into(),
        Organisation {
            members,
            created: 0,
        },
    );
    for (repository, rule) in [
        ("acme/public", policy(Visibility::Public, &[])),
        ("acme/internal", policy(Visibility::Organisation, &[])),
        ("alice/pub", policy(Visibility::Public, &[])),
        (
            "alice/app",
            policy(Visibility::Private, &[("bob", Access::Write)]),
        ),
        (
            "alice/admin",
            policy(
                Visibility::Private,
                &[("bob", Access::Admin), ("radmin", Access::Admin)],
            ),
        ),
        (
            "alice/read",
            policy(Visibility::Private, &[("carol", Access::Read)]),
        ),
        (
            "alice/shared",
            policy(Visibility::Private, &[("rita", Access::Write)]),
        ),
        ("rootpub", policy(Visibility::Public, &[])),
    ] {
        state.repositories.insert(repository.into(), rule);
    }
    state
}

fn principal(state: &AuthState, name: &str, scope: Option<(&[&str], Actions)>) -> Principal {
    let account = &state.users[name];
    Principal {
        user: name.into(),
        role: account.role,
        generation: account.generation,
        token: scope.map(|(repositories, actions)| TokenRestriction {
            id: "0123456789ab".into(),
            scope: TokenScope {
                repositories: repositories.iter().map(|r| r.to_string()).collect(),
                actions,
            },
        }),
    }
}

const PULL: Actions = Actions::PULL;
const PULL_PUSH: Actions = Actions::PULL_PUSH;
const ALL: Actions = Actions::ALL;
const NONE: Actions = Actions::NONE;

#[test]
fn every_rule_in_one_table() {
    let state = state();
    let alice_app_pull: &[&str] = &["alice/app"];
    let x_namespace: &[&str] = &["x/*"];
    let cases: Vec<(&str, Option<Principal>, &str, Actions)> = vec![
        // 2. anonymous callers pull public repositories only.
        ("anonymous, public", None, "acme/public", PULL),
        ("anonymous, organisation", None, "acme/internal", NONE),
        ("anonymous, private", None, "alice/app", NONE),
        ("anonymous, public top level", None, "rootpub", PULL),
        // 1. global admins do everything.
        (
            "admin, private",
            Some(principal(&state, "admin", None)),
            "alice/app",
            ALL,
        ),
        (
            "admin, top level",
            Some(principal(&state, "admin", None)),
            "toplevel",
            ALL,
        ),
        // 3. owners do everything in their namespace; no one owns the top level.
        (
            "owner",
            Some(principal(&state, "alice", None)),
            "alice/app",
            ALL,
        ),
        (
            "owner, nested",
            Some(principal(&state, "alice", None)),
            "alice/deep/x",
            ALL,
        ),
        (
            "owner, new repository",
            Some(principal(&state, "alice", None)),
            "alice/new",
            ALL,
        ),
        (
            "stranger, private",
            Some(principal(&state, "alice", None)),
            "carol/app",
            NONE,
        ),
        (
            "user, public elsewhere",
            Some(principal(&state, "alice", None)),
            "acme/public",
            PULL,
        ),
        (
            "user, top level",
            Some(principal(&state, "alice", None)),
            "toplevel",
            NONE,
        ),
        (
            "user, public top level",
            Some(principal(&state, "alice", None)),
            "rootpub",
            PULL,
        ),
        (
            "reader owner",
            Some(principal(&state, "rita", None)),
            "rita/app",
            PULL,
        ),
        // 4. organisation members by role and visibility.
        (
            "org admin",
            Some(principal(&state, "oadmin", None)),
            "acme/secret",
            ALL,
        ),
        (
            "org publisher",
            Some(principal(&state, "opub", None)),
            "acme/secret",
            PULL_PUSH,
        ),
        (
            "org publisher, org-visible",
            Some(principal(&state, "opub", None)),
            "acme/internal",
            PULL_PUSH,
        ),
        (
            "org reader, private",
            Some(principal(&state, "oread", None)),
            "acme/secret",
            NONE,
        ),
        (
            "org reader, org-visible",
            Some(principal(&state, "oread", None)),
            "acme/internal",
            PULL,
        ),
        (
            "org reader, public",
            Some(principal(&state, "oread", None)),
            "acme/public",
            PULL,
        ),
        (
            "non-member, org-visible",
            Some(principal(&state, "carol", None)),
            "acme/internal",
            NONE,
        ),
        // 5. grants.
        (
            "write grant",
            Some(principal(&state, "bob", None)),
            "alice/app",
            PULL_PUSH,
        ),
        (
            "admin grant",
            Some(principal(&state, "bob", None)),
            "alice/admin",
            ALL,
        ),
        (
            "read grant",
            Some(principal(&state, "carol", None)),
            "alice/read",
            PULL,
        ),
        (
            "no grant",
            Some(principal(&state, "bob", None)),
            "alice/read",
            NONE,
        ),
        // 6. readers never push or delete.
        (
            "reader with write grant",
            Some(principal(&state, "rita", None)),
            "alice/shared",
            PULL,
        ),
        (
            "reader as org publisher",
            Some(principal(&state, "rita", None)),
            "acme/secret",
            PULL,
        ),
        // 7. tokens narrow to their scope (public pulls stay open).
        (
            "token, in scope",
            Some(principal(&state, "alice", Some((alice_app_pull, PULL)))),
            "alice/app",
            PULL,
        ),
        (
            "token, out of scope",
            Some(principal(&state, "alice", Some((alice_app_pull, PULL)))),
            "alice/other",
            NONE,
        ),
        (
            "token, public out of scope",
            Some(principal(&state, "alice", Some((alice_app_pull, PULL)))),
            "acme/public",
            PULL,
        ),
        (
            "token without restrictions",
            Some(principal(&state, "alice", Some((&[], NONE)))),
            "alice/app",
            ALL,
        ),
        (
            "admin token, other namespace",
            Some(principal(
                &state,
                "admin",
                Some((x_namespace, Actions::PUSH)),
            )),
            "alice/app",
            NONE,
        ),
        (
            "admin token, in namespace",
            Some(principal(
                &state,
                "admin",
                Some((x_namespace, Actions::PUSH)),
            )),
            "x/y",
            Actions::PUSH,
        ),
    ];
    for (label, who, repository, expected) in cases {
        assert_eq!(
            permitted(&state, who.as_ref(), repository),
            expected,
            "{label}: {repository}"
        );
    }
}

#[test]
fn who_administers_a_repository() {
    let state = state();
    let narrow: &[&str] = &["alice/app"];
    let cases = [
        ("admin", principal(&state, "admin", None), "carol/x", true),
        ("owner", principal(&state, "alice", None), "alice/app", true),
        (
            "reader owner",
            principal(&state, "rita", None),
            "rita/app",
            false,
        ),
        (
            "org admin",
            principal(&state, "oadmin", None),
            "acme/x",
            true,
        ),
        (
            "org publisher",
            principal(&state, "opub", None),
            "acme/x",
            false,
        ),
        (
            "admin grant",
            principal(&state, "bob", None),
            "alice/admin",
            true,
        ),
        (
            "write grant",
            principal(&state, "bob", None),
            "alice/app",
            false,
        ),
        (
            "reader-role org admin",
            principal(&state, "radmin", None),
            "acme/x",
            false,
        ),
        (
            "reader-role admin grant",
            principal(&state, "radmin", None),
            "alice/admin",
            false,
        ),
        (
            "stranger",
            principal(&state, "carol", None),
            "alice/app",
            false,
        ),
        (
            "owner's pull token",
            principal(&state, "alice", Some((narrow, PULL))),
            "alice/app",
            false,
        ),
        (
            "owner's full token",
            principal(&state, "alice", Some((narrow, ALL))),
            "alice/app",
            true,
        ),
    ];
    for (label, who, repository, expected) in cases {
        assert_eq!(
            may_administer(&state, &who, repository),
            expected,
            "{label}"
        );
    }
}

#[test]
fn who_manages_an_organisation() {
    let state = state();
    let whole: &[&str] = &["acme/*"];
    let one: &[&str] = &["acme/app"];
    let cases = [
        ("admin", principal(&state, "admin", None), true),
        ("org admin", principal(&state, "oadmin", None), true),
        ("org publisher", principal(&state, "opub", None), false),
        (
            "reader-role org admin",
            principal(&state, "radmin", None),
            false,
        ),
        ("outsider", principal(&state, "alice", None), false),
        (
            "org admin, namespace token",
            principal(&state, "oadmin", Some((whole, ALL))),
            true,
        ),
        (
            "org admin, one-repository token",
            principal(&state, "oadmin", Some((one, ALL))),
            false,
        ),
        (
            "org admin, pull token",
            principal(&state, "oadmin", Some((whole, PULL))),
            false,
        ),
    ];
    for (label, who, expected) in cases {
        assert_eq!(
            may_manage_organisation(&state, &who, "acme"),
            expected,
            "{label}"
        );
    }
}
