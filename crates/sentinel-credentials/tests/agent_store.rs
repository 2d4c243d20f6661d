//! The agent credentials file through the public API, on real files.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use sentinel_credentials::{AgentCredentialStore, Credential, CredentialError};

fn basic(username: &str, password: &str) -> Credential {
    Credential::Basic {
        username: username.into(),
        password: password.into(),
    }
}

fn all_kinds() -> [Credential; 3] {
    [
        basic("bob", "pass:word"),
        Credential::IdentityToken {
            username: "amy".into(),
            token: "refresh-token".into(),
        },
        Credential::Bearer {
            token: "bearer-token".into(),
        },
    ]
}

#[test]
fn save_then_get_round_trips_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    for (index, credential) in all_kinds().into_iter().enumerate() {
        let registry = format!("r{index}.example");
        store.save(&registry, &credential).unwrap();
        assert_eq!(store.get(&registry).unwrap(), Some(credential));
    }
    assert_eq!(store.get("other.example").unwrap(), None);
}

#[test]
fn get_without_a_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(&dir.path().join("not-yet"));
    assert_eq!(store.get("ghcr.io").unwrap(), None);
    assert_eq!(store.registries().unwrap(), Vec::<String>::new());
    assert!(!store.erase("ghcr.io").unwrap());
    assert_eq!(store.erase_all().unwrap(), 0);
    assert!(
        !dir.path().join("not-yet").exists(),
        "erasing must not create the directory"
    );
}

#[test]
fn file_has_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    let [basic, identity, bearer] = all_kinds();
    store.save("https://ghcr.io/", &basic).unwrap();
    store.save("registry-1.docker.io", &identity).unwrap();
    store.save("localhost:5000", &bearer).unwrap();

    let text = std::fs::read_to_string(dir.path().join("credentials.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"auths": {
            "ghcr.io": {"username": "bob", "password": "pass:word"},
            "docker.io": {"username": "amy", "identity_token": "refresh-token"},
            "localhost:5000": {"token": "bearer-token"},
        }})
    );
}

#[test]
fn registry_spellings_share_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    store
        .save("https://index.docker.io/v1/", &basic("a", "1"))
        .unwrap();
    store
        .save("registry-1.docker.io", &basic("b", "2"))
        .unwrap();
    assert_eq!(store.registries().unwrap(), vec!["docker.io".to_owned()]);
    assert_eq!(store.get("index.docker.io").unwrap(), Some(basic("b", "2")));
}

#[test]
fn hand_written_keys_are_matched_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(
        &path,
        r#"{"auths": {"https://GHCR.io/v2/": {"token": "old"}}, "version": 1}"#,
    )
    .unwrap();
    let store = AgentCredentialStore::new(path.clone());
    assert_eq!(
        store.get("ghcr.io").unwrap(),
        Some(Credential::Bearer {
            token: "old".into()
        })
    );
    store.save("ghcr.io", &basic("u", "p")).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"auths": {"ghcr.io": {"username": "u", "password": "p"}}, "version": 1})
    );
}

#[test]
fn erase_and_erase_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    for registry in ["a.example", "b.example", "c.example"] {
        store.save(registry, &basic("u", registry)).unwrap();
    }
    assert!(store.erase("https://a.example").unwrap());
    assert!(!store.erase("a.example").unwrap());
    assert_eq!(store.get("a.example").unwrap(), None);
    assert_eq!(store.registries().unwrap(), vec!["b.example", "c.example"]);
    assert_eq!(store.erase_all().unwrap(), 2);
    assert_eq!(store.registries().unwrap(), Vec::<String>::new());
    assert_eq!(store.erase_all().unwrap(), 0);
}

#[test]
fn empty_registry_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    let error = store.save("https://", &basic("u", "p")).unwrap_err();
    assert!(
        matches!(error, CredentialError::InvalidRegistry { .. }),
        "{error:?}"
    );
}

#[test]
fn malformed_file_is_an_error_naming_it_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let store = AgentCredentialStore::new(path.clone());
    for content in [
        r#"{"auths": {"ghcr.io": {"password": "SECRETSECRET"#,
        r#"{"auths": {"ghcr.io": {"password": ["SECRETSECRET"]}}}"#,
        r#"{"auths": "SECRETSECRET"}"#,
    ] {
        std::fs::write(&path, content).unwrap();
        for error in [
            store.get("ghcr.io").unwrap_err(),
            store.save("ghcr.io", &basic("u", "p")).unwrap_err(),
        ] {
            let message = error.to_string();
            assert!(
                matches!(error, CredentialError::MalformedFile { .. }),
                "{error:?}"
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(!message.contains("SECRETSECRET"), "{message}");
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            content,
            "a failed save must not touch the file"
        );
    }
}

#[test]
fn entry_of_mixed_kinds_is_an_error_naming_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(
        &path,
        r#"{"auths": {"ghcr.io": {"password": "SECRETSECRET", "token": "t"}}}"#,
    )
    .unwrap();
    let error = AgentCredentialStore::new(path).get("ghcr.io").unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, CredentialError::InvalidEntry { .. }),
        "{error:?}"
    );
    assert!(message.contains("ghcr.io"), "{message}");
    assert!(!message.contains("SECRETSECRET"), "{message}");
}

#[test]
fn writes_replace_the_file_rather_than_rewrite_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = AgentCredentialStore::in_dir(dir.path());
    store.save("a.example", &basic("u", "first")).unwrap();
    let path = dir.path().join("credentials.json");
    let old_link = dir.path().join("old-credentials.json");
    std::fs::hard_link(&path, &old_link).unwrap();
    let before = std::fs::read(&old_link).unwrap();

    store.save("b.example", &basic("u", "second")).unwrap();

    assert_eq!(
        std::fs::read(&old_link).unwrap(),
        before,
        "the old inode was modified"
    );
    assert_ne!(std::fs::read(&path).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn concurrent_saves_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = Arc::new(dir.path().join("agent"));
    let threads: Vec<_> = (0..8)
        .map(|thread_index| {
            let config_dir = Arc::clone(&config_dir);
            thread::spawn(move || {
                let store = AgentCredentialStore::in_dir(&config_dir);
                for round in 0..5 {
                    let registry = format!("r{thread_index}-{round}.example");
                    store.save(&registry, &basic("u", &registry)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let store = AgentCredentialStore::in_dir(&config_dir);
    let registries = store.registries().unwrap();
    assert_eq!(registries.len(), 40, "{registries:?}");
    for thread_index in 0..8 {
        for round in 0..5 {
            let registry = format!("r{thread_index}-{round}.example");
            assert_eq!(store.get(&registry).unwrap(), Some(basic("u", &registry)));
        }
    }
}

#[test]
fn debug_and_display_never_show_secrets() {
    for credential in all_kinds() {
        for shown in [
            format!("{credential:?}"),
            format!("{credential:#?}"),
            credential.to_string(),
        ] {
            for secret in ["pass:word", "refresh-token", "bearer-token"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
    assert_eq!(
        format!("{:?}", basic("bob", "hunter2")),
        r#"Basic { username: "bob", password: <redacted> }"#
    );
}

#[cfg(unix)]
mod permissions {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_file_is_0600_in_a_new_0700_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config_dir = dir.path().join("config").join("agent");
        let store = AgentCredentialStore::in_dir(&config_dir);
        store.save("ghcr.io", &basic("u", "p")).unwrap();
        assert_eq!(mode(&config_dir), 0o700);
        assert_eq!(mode(&dir.path().join("config")), 0o700);
        assert_eq!(mode(&config_dir.join("credentials.json")), 0o600);
        assert_eq!(mode(&config_dir.join("credentials.lock")), 0o600);
    }

    /// Collects formatted log output in memory.
    #[derive(Clone, Default)]
    struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn readable_file_is_made_private_on_write_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        std::fs::write(
            &path,
            r#"{"auths": {"old.example": {"token": "OLDSECRET"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = AgentCredentialStore::new(path.clone());

        let logs = LogBuffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            store.save("ghcr.io", &basic("u", "NEWSECRET")).unwrap();
        });

        assert_eq!(mode(&path), 0o600);
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(logged.contains(&path.display().to_string()), "{logged}");
        assert!(!logged.contains("SECRET"), "{logged}");
    }
}
