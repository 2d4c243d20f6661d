//! Passwords and personal access tokens, and whether a session is current.

use sentinel_auth::{
    Actions, AuthFailure, AuthState, CredentialVerifier, Role, TokenScope, is_current,
};

const NOW: u64 = 1_700_000_000;
const PASSWORD: &str = "correct horse battery";

/// A state with alice (publisher, a real password) and bob (no password).
fn state() -> AuthState {
    let mut state = AuthState::default();
    state
        .add_user("alice", PASSWORD, Role::Publisher, NOW)
        .unwrap();
    let mut bob = state.users["alice"].clone();
    bob.password_hash = "not a hash".into();
    state.users.insert("bob".into(), bob);
    state
}

#[test]
fn passwords_verify_are_cached_and_a_new_generation_forgets_them() {
    let mut state = state();
    let verifier = CredentialVerifier::new().unwrap();

    let principal = verifier
        .verify_basic(&state, "alice", PASSWORD, NOW)
        .unwrap();
    assert_eq!(principal.user, "alice");
    assert_eq!(principal.role, Role::Publisher);
    assert_eq!(principal.generation, 1);
    assert!(principal.token.is_none());

    assert_eq!(
        verifier.verify_basic(&state, "alice", "wrong horse battery", NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_basic(&state, "nobody", PASSWORD, NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_basic(&state, "bob", PASSWORD, NOW),
        Err(AuthFailure::BadCredentials),
        "a cached password is not shared between users"
    );

    // Break the stored hash: only a cache hit can still succeed.
    state.users.get_mut("alice").unwrap().password_hash = "not a hash".into();
    assert!(
        verifier
            .verify_basic(&state, "alice", PASSWORD, NOW + 599)
            .is_ok()
    );
    assert_eq!(
        verifier.verify_basic(&state, "alice", PASSWORD, NOW + 600),
        Err(AuthFailure::BadCredentials),
        "a cached password lasts ten minutes"
    );
    state.users.get_mut("alice").unwrap().generation = 2;
    assert_eq!(
        verifier.verify_basic(&state, "alice", PASSWORD, NOW + 1),
        Err(AuthFailure::BadCredentials),
        "a new generation forgets cached passwords"
    );
}

#[test]
fn a_changed_password_replaces_the_old_one() {
    let mut state = state();
    let verifier = CredentialVerifier::new().unwrap();
    verifier
        .verify_basic(&state, "alice", PASSWORD, NOW)
        .unwrap();
    state.set_password("alice", "a brand new password").unwrap();
    assert_eq!(
        verifier.verify_basic(&state, "alice", PASSWORD, NOW),
        Err(AuthFailure::BadCredentials)
    );
    let principal = verifier
        .verify_basic(&state, "alice", "a brand new password", NOW)
        .unwrap();
    assert_eq!(principal.generation, 2);
}

#[test]
fn personal_access_tokens() {
    let mut state = state();
    let verifier = CredentialVerifier::new().unwrap();
    let scope = TokenScope {
        repositories: vec!["alice/*".into()],
        actions: Actions::PULL,
    };
    let (token, text) = state
        .create_token("alice", "ci", scope.clone(), Some(NOW + 100), NOW)
        .unwrap();

    let principal = verifier.verify_basic(&state, "alice", &text, NOW).unwrap();
    assert_eq!(principal.user, "alice");
    let restriction = principal.token.unwrap();
    assert_eq!(
        (restriction.id, restriction.scope),
        (token.id.clone(), scope)
    );
    let bare = verifier.verify_token_text(&state, &text, NOW).unwrap();
    assert_eq!(bare.user, "alice");

    let mut wrong_secret = text.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        verifier.verify_basic(&state, "alice", &wrong_secret, NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_token_text(&state, &wrong_secret, NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_basic(&state, "bob", &text, NOW),
        Err(AuthFailure::BadCredentials),
        "the user name must be the token's user"
    );
    assert_eq!(
        verifier.verify_basic(&state, "Alice", &text, NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_basic(&state, "alice", "sntl_not_a_token", NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_token_text(&state, PASSWORD, NOW),
        Err(AuthFailure::BadCredentials)
    );
    assert_eq!(
        verifier.verify_basic(&state, "alice", &text, NOW + 100),
        Err(AuthFailure::TokenExpired)
    );

    state.revoke_token(&token.id).unwrap();
    assert_eq!(
        verifier.verify_basic(&state, "alice", &text, NOW),
        Err(AuthFailure::TokenRevoked)
    );
    assert_eq!(
        verifier.verify_token_text(&state, &text, NOW),
        Err(AuthFailure::TokenRevoked)
    );
    for failure in [
        AuthFailure::BadCredentials,
        AuthFailure::TokenExpired,
        AuthFailure::TokenRevoked,
    ] {
        assert!(!failure.to_string().contains(&text));
    }
}

#[test]
fn sessions_are_current_while_user_generation_and_token_last() {
    let mut state = AuthState::default();
    state.users.insert(
        "alice".into(),
        sentinel_auth::User {
            role: Role::Publisher,
            password_hash: "not a hash".into(),
            generation: 4,
            created: NOW,
        },
    );
    let (token, _) = state
        .create_token("alice", "ci", TokenScope::default(), Some(NOW + 10), NOW)
        .unwrap();
    let id = Some(token.id.as_str());

    assert!(is_current(&state, "alice", Some(4), None, NOW));
    assert!(is_current(&state, "alice", Some(4), id, NOW + 9));
    assert!(
        !is_current(&state, "alice", Some(3), None, NOW),
        "old generation"
    );
    assert!(
        !is_current(&state, "alice", None, None, NOW),
        "no generation"
    );
    assert!(
        !is_current(&state, "bob", Some(4), None, NOW),
        "unknown user"
    );
    assert!(!is_current(&state, "", Some(4), None, NOW), "anonymous");
    assert!(
        !is_current(&state, "alice", Some(4), id, NOW + 10),
        "expired token"
    );
    assert!(!is_current(
        &state,
        "alice",
        Some(4),
        Some("000000000000"),
        NOW
    ));

    state
        .users
        .insert("bob".into(), state.users["alice"].clone());
    assert!(
        !is_current(&state, "bob", Some(4), id, NOW),
        "someone else's token"
    );

    state.revoke_token(&token.id).unwrap();
    assert!(
        !is_current(&state, "alice", Some(4), id, NOW),
        "revoked token"
    );
    state.set_role("alice", Role::Reader).unwrap();
    assert!(
        !is_current(&state, "alice", Some(4), None, NOW),
        "role changed"
    );
}
