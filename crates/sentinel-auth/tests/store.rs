//! The state file: round trips, locking, atomic writes, change detection.

use std::fs;
use std::path::Path;
use std::thread;

use sentinel_auth::{
    Access, AuthError, AuthState, AuthStore, Role, SharedAuth, TokenScope, User, Visibility,
};

const NOW: u64 = 1_700_000_000;

fn sample_state(state: &mut AuthState) -> Result<(), AuthError> {
    state.users.insert(
        "alice".into(),
        User {
            role: Role::Publisher,
            password_hash: "$argon2id$placeholder".into(),
            generation: 3,
            created: NOW,
        },
    );
    state.create_organisation("acme", Some("alice"), NOW)?;
    state.set_visibility("acme/app", Visibility::Organisation)?;
    state.grant("alice/app", "alice", Access::Admin)?;
    state.create_token("alice", "ci", TokenScope::default(), Some(NOW + 10), NOW)?;
    Ok(())
}

fn file_names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn missing_file_is_the_empty_state() {
    let directory = tempfile::tempdir().unwrap();
    let store = AuthStore::new(directory.path());
    assert_eq!(store.load().unwrap(), AuthState::default());
    assert_eq!(store.stamp(), None);
}

#[test]
fn update_round_trips_through_a_versioned_private_file() {
    let directory = tempfile::tempdir().unwrap();
    let store = AuthStore::new(directory.path());
    let ((), written) = store.update(sample_state).unwrap();
    assert_eq!(store.load().unwrap(), written);
    assert_eq!(written.tokens.len(), 1);

    let text = fs::read_to_string(directory.path().join("auth.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["version"], 1);
    assert_eq!(
        document["repositories"]["acme/app"]["visibility"],
        "organisation"
    );
    assert_eq!(
        file_names(directory.path()),
        ["auth.json", "auth.json.lock"]
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_failed_change_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let store = AuthStore::new(directory.path());
    store.update(sample_state).unwrap();
    let before = fs::read(store.path()).unwrap();
    let stamp = store.stamp();

    let result = store.update(|state| {
        state.organisations.clear();
        state.set_visibility("alice/app", Visibility::Organisation)
    });
    assert!(matches!(result, Err(AuthError::OrganisationVisibility(_))));
    assert_eq!(fs::read(store.path()).unwrap(), before);
    assert_eq!(store.stamp(), stamp);
    assert_eq!(
        file_names(directory.path()),
        ["auth.json", "auth.json.lock"]
    );
}

#[test]
fn corrupt_or_future_files_are_refused_not_overwritten() {
    let directory = tempfile::tempdir().unwrap();
    let store = AuthStore::new(directory.path());
    fs::write(store.path(), "{\"version\": 1, \"users\": [").unwrap();
    assert!(matches!(store.load(), Err(AuthError::Corrupt { .. })));
    assert!(matches!(
        store.update(|_| Ok(())),
        Err(AuthError::Corrupt { .. })
    ));
    assert_eq!(
        fs::read_to_string(store.path()).unwrap(),
        "{\"version\": 1, \"users\": ["
    );

    fs::write(store.path(), "{\"version\": 2}").unwrap();
    let error = store.load().unwrap_err();
    assert!(matches!(error, AuthError::Corrupt { .. }));
    assert!(error.to_string().contains("version 2"), "{error}");
}

#[test]
fn concurrent_updates_from_two_threads_all_land() {
    let directory = tempfile::tempdir().unwrap();
    const EACH: usize = 20;
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|prefix| {
            // A store per thread: separate lock file handles, as in two processes.
            let store = AuthStore::new(directory.path());
            thread::spawn(move || {
                for i in 0..EACH {
                    store
                        .update(|state| {
                            state.create_organisation(&format!("{prefix}{i:02}"), None, NOW)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let state = AuthStore::new(directory.path()).load().unwrap();
    assert_eq!(state.organisations.len(), 2 * EACH);
}

#[test]
fn shared_state_sees_its_own_updates_at_once_and_others_after_reload() {
    let directory = tempfile::tempdir().unwrap();
    let shared = SharedAuth::open(AuthStore::new(directory.path())).unwrap();
    assert!(shared.current().organisations.is_empty());
    assert!(!shared.reload_if_changed().unwrap());

    shared
        .update(|state| state.create_organisation("mine", None, NOW))
        .unwrap();
    assert!(shared.current().organisations.contains_key("mine"));

    let before = shared.current();
    let other_process = AuthStore::new(directory.path());
    other_process
        .update(|state| state.create_organisation("theirs", None, NOW))
        .unwrap();
    assert!(!shared.current().organisations.contains_key("theirs"));
    assert!(shared.reload_if_changed().unwrap());
    assert!(shared.current().organisations.contains_key("theirs"));
    assert!(shared.current().organisations.contains_key("mine"));
    assert!(!shared.reload_if_changed().unwrap());
    assert!(
        !before.organisations.contains_key("theirs"),
        "snapshots never change"
    );

    let failed = shared.update(|state| state.create_organisation("mine", None, NOW));
    assert!(matches!(failed, Err(AuthError::NameTaken(_))));
}
