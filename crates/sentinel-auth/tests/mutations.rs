//! Every mutation validates its input and keeps the state consistent.

use sentinel_auth::{Access, Actions, AuthError, AuthState, Role, TokenScope, User, Visibility};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_700_000_000;

/// A user without a real password hash, for tests that never log in.
fn insert_user(state: &mut AuthState, name: &str, role: Role) {
    let user = User {
        role,
        password_hash: "not a hash".into(),
        generation: 1,
        created: NOW,
    };
    state.users.insert(name.into(), user);
}

#[test]
fn users_are_validated_and_the_last_admin_is_protected() {
    let mut state = AuthState::default();
    state
        .add_user("root", "a long password", Role::Admin, NOW)
        .unwrap();
    let root = &state.users["root"];
    assert!(root.password_hash.starts_with("$argon2id$"));
    assert!(!root.password_hash.contains("a long password"));
    assert_eq!((root.generation, root.created), (1, NOW));

    // Checks that fail before any hashing.
    assert!(matches!(
        state.add_user("root", "another password", Role::Reader, NOW),
        Err(AuthError::UserExists(name)) if name == "root"
    ));
    assert!(matches!(
        state.add_user("Bad_Name", "a long password", Role::Reader, NOW),
        Err(AuthError::InvalidName { .. })
    ));
    assert!(matches!(
        state.add_user("carol", "short", Role::Reader, NOW),
        Err(AuthError::WeakPassword(_))
    ));
    state.create_organisation("acme", None, NOW).unwrap();
    assert!(matches!(
        state.add_user("acme", "a long password", Role::Reader, NOW),
        Err(AuthError::NameTaken(_))
    ));
    assert!(matches!(
        state.create_organisation("root", None, NOW),
        Err(AuthError::NameTaken(_))
    ));
    assert!(!state.users.contains_key("carol"));

    // The only admin can be neither demoted nor removed.
    assert!(matches!(
        state.set_role("root", Role::Reader),
        Err(AuthError::LastAdmin(_))
    ));
    assert!(matches!(
        state.remove_user("root"),
        Err(AuthError::LastAdmin(_))
    ));
    assert_eq!(state.users["root"].role, Role::Admin);

    // With a second admin, the first may step down; the role change ends old sessions.
    insert_user(&mut state, "second", Role::Admin);
    state.set_role("root", Role::Publisher).unwrap();
    assert_eq!(state.users["root"].role, Role::Publisher);
    assert_eq!(state.users["root"].generation, 2);
    state.set_role("root", Role::Publisher).unwrap();
    assert_eq!(state.users["root"].generation, 2, "no change, no bump");
    assert!(matches!(
        state.set_role("nobody", Role::Admin),
        Err(AuthError::UnknownUser(_))
    ));
}

#[test]
fn set_password_rehashes_and_bumps_the_generation() {
    let mut state = AuthState::default();
    insert_user(&mut state, "alice", Role::Publisher);
    assert!(matches!(
        state.set_password("alice", "short"),
        Err(AuthError::WeakPassword(_))
    ));
    assert_eq!(state.users["alice"].generation, 1);
    state.set_password("alice", "a new long password").unwrap();
    let alice = &state.users["alice"];
    assert_eq!(alice.generation, 2);
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(matches!(
        state.set_password("nobody", "a new long password"),
        Err(AuthError::UnknownUser(_))
    ));
}

#[test]
fn removing_a_user_drops_their_tokens_memberships_and_grants() {
    let mut state = AuthState::default();
    insert_user(&mut state, "root", Role::Admin);
    insert_user(&mut state, "alice", Role::Publisher);
    insert_user(&mut state, "bob", Role::Publisher);
    state
        .create_organisation("acme", Some("alice"), NOW)
        .unwrap();
    state.add_member("acme", "bob", Role::Reader).unwrap();
    state.grant("bob/app", "alice", Access::Write).unwrap();
    state.grant("root/app", "alice", Access::Read).unwrap();
    state.grant("root/app", "bob", Access::Read).unwrap();
    state
        .create_token("alice", "ci", TokenScope::default(), None, NOW)
        .unwrap();
    let (bobs, _) = state
        .create_token("bob", "ci", TokenScope::default(), None, NOW)
        .unwrap();

    let removed = state.remove_user("alice").unwrap();
    assert_eq!(removed.role, Role::Publisher);
    assert!(!state.users.contains_key("alice"));
    assert_eq!(state.tokens.keys().collect::<Vec<_>>(), [&bobs.id]);
    assert!(!state.organisations["acme"].members.contains_key("alice"));
    assert!(state.organisations["acme"].members.contains_key("bob"));
    assert!(
        !state.repositories.contains_key("bob/app"),
        "an empty default policy is dropped"
    );
    assert_eq!(
        state.repositories["root/app"]
            .grants
            .keys()
            .collect::<Vec<_>>(),
        ["bob"]
    );
    assert!(matches!(
        state.remove_user("alice"),
        Err(AuthError::UnknownUser(_))
    ));
}

#[test]
fn tokens_are_shown_once_and_stored_hashed() {
    let mut state = AuthState::default();
    insert_user(&mut state, "alice", Role::Publisher);
    insert_user(&mut state, "bob", Role::Publisher);
    let scope = TokenScope {
        repositories: vec!["alice/*".into(), "acme/app".into()],
        actions: Actions::PULL,
    };
    let (token, text) = state
        .create_token("alice", "ci laptop", scope.clone(), Some(NOW + 60), NOW)
        .unwrap();
    let (id, secret) = text
        .strip_prefix("sntl_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap();
    assert_eq!(id, token.id);
    assert!(
        id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(
        secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        token.secret_hash,
        hex::encode(Sha256::digest(secret.as_bytes()))
    );
    assert_eq!(
        (token.scope.clone(), token.expires, token.created),
        (scope, Some(NOW + 60), NOW)
    );
    let stored = serde_json::to_string(&state).unwrap();
    assert!(!stored.contains(secret), "the secret is never stored");

    let (other, _) = state
        .create_token("bob", "laptop", TokenScope::default(), None, NOW + 1)
        .unwrap();
    assert_ne!(other.id, token.id);
    assert_eq!(state.tokens_of(Some("alice")), [&token]);
    assert_eq!(state.tokens_of(None).len(), 2);
    assert!(state.tokens_of(Some("carol")).is_empty());

    assert!(matches!(
        state.create_token("carol", "x", TokenScope::default(), None, NOW),
        Err(AuthError::UnknownUser(_))
    ));
    assert!(matches!(
        state.create_token("alice", "", TokenScope::default(), None, NOW),
        Err(AuthError::InvalidName { .. })
    ));
    let bad_scope = TokenScope {
        repositories: vec!["Alice/*".into()],
        actions: Actions::NONE,
    };
    assert!(matches!(
        state.create_token("alice", "x", bad_scope, None, NOW),
        Err(AuthError::InvalidName { name, .. }) if name == "Alice/*"
    ));
    assert!(matches!(
        state.create_token("alice", "x", TokenScope::default(), Some(NOW), NOW),
        Err(AuthError::InvalidExpiry { .. })
    ));
    assert_eq!(state.tokens.len(), 2);

    assert_eq!(state.revoke_token(&token.id).unwrap(), token);
    assert!(matches!(
        state.revoke_token(&token.id),
        Err(AuthError::UnknownToken(_))
    ));
    assert_eq!(state.tokens_of(Some("alice")).len(), 0);
}

#[test]
fn organisations_and_members() {
    let mut state = AuthState::default();
    insert_user(&mut state, "alice", Role::Publisher);
    insert_user(&mut state, "bob", Role::Publisher);
    assert!(matches!(
        state.create_organisation("team", Some("nobody"), NOW),
        Err(AuthError::UnknownUser(_))
    ));
    assert!(
        !state.organisations.contains_key("team"),
        "nothing changes on failure"
    );
    assert!(matches!(
        state.create_organisation("t", None, NOW),
        Err(AuthError::InvalidName { .. })
    ));
    state
        .create_organisation("team", Some("alice"), NOW)
        .unwrap();
    assert_eq!(state.organisations["team"].members["alice"], Role::Admin);
    assert!(matches!(
        state.create_organisation("team", None, NOW),
        Err(AuthError::NameTaken(_))
    ));

    state.add_member("team", "bob", Role::Reader).unwrap();
    state.add_member("team", "bob", Role::Publisher).unwrap();
    assert_eq!(state.organisations["team"].members["bob"], Role::Publisher);
    assert!(matches!(
        state.add_member("nope", "bob", Role::Reader),
        Err(AuthError::UnknownOrganisation(_))
    ));
    assert!(matches!(
        state.add_member("team", "nobody", Role::Reader),
        Err(AuthError::UnknownUser(_))
    ));
    state.remove_member("team", "bob").unwrap();
    assert!(matches!(
        state.remove_member("team", "bob"),
        Err(AuthError::NotAMember { .. })
    ));
}

#[test]
fn visibility_and_grants() {
    let mut state = AuthState::default();
    insert_user(&mut state, "alice", Role::Publisher);
    state.create_organisation("team", None, NOW).unwrap();

    state
        .set_visibility("team/app", Visibility::Organisation)
        .unwrap();
    assert_eq!(
        state.policy("team/app").visibility,
        Visibility::Organisation
    );
    assert!(matches!(
        state.set_visibility("alice/app", Visibility::Organisation),
        Err(AuthError::OrganisationVisibility(_))
    ));
    assert!(matches!(
        state.set_visibility("toplevel", Visibility::Organisation),
        Err(AuthError::OrganisationVisibility(_))
    ));
    assert!(matches!(
        state.set_visibility("Alice/App", Visibility::Public),
        Err(AuthError::InvalidName { .. })
    ));
    state
        .set_visibility("alice/app", Visibility::Public)
        .unwrap();
    assert_eq!(state.policy("alice/app").visibility, Visibility::Public);
    state
        .set_visibility("alice/app", Visibility::Private)
        .unwrap();
    assert!(!state.repositories.contains_key("alice/app"));
    assert_eq!(state.policy("never/seen").visibility, Visibility::Private);

    state.grant("team/app", "alice", Access::Read).unwrap();
    state.grant("team/app", "alice", Access::Admin).unwrap();
    assert_eq!(state.policy("team/app").grants["alice"], Access::Admin);
    assert!(matches!(
        state.grant("team/app", "nobody", Access::Read),
        Err(AuthError::UnknownUser(_))
    ));
    assert!(matches!(
        state.grant("team//app", "alice", Access::Read),
        Err(AuthError::InvalidName { .. })
    ));
    state.revoke_grant("team/app", "alice").unwrap();
    assert!(matches!(
        state.revoke_grant("team/app", "alice"),
        Err(AuthError::NoGrant { .. })
    ));
    assert_eq!(
        state.policy("team/app").visibility,
        Visibility::Organisation
    );
}

#[test]
fn error_messages_name_the_thing_and_hide_secrets() {
    let mut state = AuthState::default();
    let message = state
        .add_user("alice", "secret7", Role::Reader, NOW)
        .unwrap_err()
        .to_string();
    assert!(!message.contains("secret7"), "{message}");
    let message = state.revoke_token("abc").unwrap_err().to_string();
    assert!(message.contains("\"abc\""), "{message}");
}
