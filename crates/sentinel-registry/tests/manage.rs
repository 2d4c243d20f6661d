//! The management subcommands of the real binary (`user`, `token`, `org`,
//! `repo`), on a data directory, and a running server picking their changes
//! up without a restart.

#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed and returns its stdout.
fn ok(data_dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = process::command(data_dir, args, stdin);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command that must fail with one error line and returns it.
fn fails(data_dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = process::command(data_dir, args, stdin);
    assert!(!output.status.success(), "{args:?} should fail");
    let text = stderr(&output);
    assert_eq!(text.trim().lines().count(), 1, "one line: {text}");
    text
}

#[test]
fn users_tokens_organisations_and_repositories_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let added = ok(
        data,
        &["user", "add", "alice", "--password-stdin"],
        "alice-password\n",
    );
    assert!(added.contains("added user alice (publisher)"), "{added}");
    assert!(
        added.contains("authentication turns on at the server's next start")
            && added.contains("there is no administrator yet"),
        "the first user says what it changes: {added}"
    );
    let generated = ok(data, &["user", "add", "bob", "--role", "reader"], "");
    let password_line = generated
        .lines()
        .find(|l| l.starts_with("password: "))
        .expect("a generated password is printed");
    assert!(password_line.len() > "password: ".len() + 20);
    ok(
        data,
        &["user", "add", "root", "--role", "admin", "--password-stdin"],
        "root-password\n",
    );

    let error = fails(
        data,
        &["user", "add", "alice", "--password-stdin"],
        "another-one\n",
    );
    assert!(error.contains("already exists"), "{error}");
    let error = fails(
        data,
        &["user", "add", "carol", "--password-stdin"],
        "short\n",
    );
    assert!(error.contains("password"), "{error}");
    let error = fails(
        data,
        &["user", "add", "Not Valid", "--password-stdin"],
        "long-enough\n",
    );
    assert!(error.contains("invalid name"), "{error}");

    let users = ok(data, &["user", "list"], "");
    assert!(
        users.contains("alice") && users.contains("publisher"),
        "{users}"
    );
    assert!(users.contains("bob") && users.contains("reader"), "{users}");

    let created = ok(
        data,
        &[
            "token",
            "create",
            "alice",
            "--name",
            "ci",
            "--repository",
            "alice/*",
            "--actions",
            "pull",
        ],
        "",
    );
    let token = created
        .lines()
        .find(|l| l.starts_with("sntl_"))
        .expect("the token text is printed")
        .to_owned();
    let id = token
        .split('_')
        .nth(1)
        .expect("sntl_<id>_<secret>")
        .to_owned();
    let error = fails(
        data,
        &[
            "token",
            "create",
            "alice",
            "--name",
            "x",
            "--actions",
            "none",
        ],
        "",
    );
    assert!(error.contains("at least one action"), "{error}");
    let listed = ok(data, &["token", "list", "alice"], "");
    assert!(
        listed.contains(&id) && listed.contains("alice/*") && listed.contains("pull"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the secret is never listed");
    ok(data, &["token", "revoke", &id], "");
    assert!(!ok(data, &["token", "list"], "").contains(&id));
    let error = fails(data, &["token", "revoke", &id], "");
    assert!(error.contains(&id), "{error}");

    ok(data, &["org", "create", "acme", "--owner", "alice"], "");
    ok(
        data,
        &["org", "add-member", "acme", "bob", "--role", "reader"],
        "",
    );
    let orgs = ok(data, &["org", "list"], "");
    assert!(orgs.contains("acme: alice (admin), bob (reader)"), "{orgs}");
    ok(data, &["org", "remove-member", "acme", "bob"], "");
    let error = fails(data, &["org", "create", "alice"], "");
    assert!(error.contains("taken"), "{error}");

    ok(
        data,
        &["repo", "visibility", "acme/tools", "organisation"],
        "",
    );
    ok(data, &["repo", "grant", "acme/tools", "bob", "write"], "");
    let shown = ok(data, &["repo", "show", "acme/tools"], "");
    assert!(
        shown.contains("acme/tools: organisation") && shown.contains("bob: write"),
        "{shown}"
    );
    ok(data, &["repo", "revoke", "acme/tools", "bob"], "");
    let error = fails(
        data,
        &["repo", "visibility", "alice/app", "organisation"],
        "",
    );
    assert!(error.contains("organisation"), "{error}");

    ok(data, &["user", "remove", "alice"], "");
    assert!(!ok(data, &["user", "list"], "").contains("alice"));
    let error = fails(data, &["user", "remove", "root"], "");
    assert!(error.contains("last administrator"), "{error}");
}

/// `sentinel-registry serve --auth` and its base URL.
struct Server {
    child: Child,
    base: String,
    stderr: String,
}

impl Server {
    fn start(data_dir: &Path, admin_password: Option<&str>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"));
        command
            .args(["serve", "--auth", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("SENTINEL_LOG", "info")
            .env_remove("SENTINEL_ADMIN_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(password) = admin_password {
            command.env("SENTINEL_ADMIN_PASSWORD", password);
        }
        let mut child = command.spawn().expect("start sentinel-registry");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("a listening line")
                .expect("read stdout");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        // The bootstrap message, if any, is written before the listening line.
        let mut stderr = String::new();
        if admin_password.is_none() {
            let mut errors = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
            for line in errors.by_ref().take(2) {
                stderr.push_str(&line.expect("read stderr"));
                stderr.push('\n');
            }
            std::thread::spawn(move || for _ in errors {});
        }
        Server {
            child,
            base,
            stderr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET /token` with alice's Basic credentials.
fn alice_token_status(base: &str, password: &str) -> u16 {
    let client = reqwest::blocking::Client::new();
    client
        .get(format!("{base}/token?service=sentinel-registry"))
        .basic_auth("alice", Some(password))
        .send()
        .expect("reach the server")
        .status()
        .as_u16()
}

/// Polls `probe` until it returns `want` (the server reloads the users
/// file every 250 ms); panics after 5 s.
fn eventually(want: u16, mut probe: impl FnMut() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = probe();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got}, expected {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_running_server_picks_up_changes_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = Server::start(data, None);
    assert!(
        server.stderr.contains("created user admin"),
        "the generated admin password is shown: {}",
        server.stderr
    );
    assert_eq!(alice_token_status(&server.base, "alice-password"), 401);
    ok(
        data,
        &["user", "add", "alice", "--password-stdin"],
        "alice-password\n",
    );
    eventually(200, || alice_token_status(&server.base, "alice-password"));
    ok(
        data,
        &["user", "passwd", "alice", "--password-stdin"],
        "new-alice-password\n",
    );
    eventually(401, || alice_token_status(&server.base, "alice-password"));
    assert_eq!(alice_token_status(&server.base, "new-alice-password"), 200);
}

#[test]
fn the_bootstrap_admin_takes_its_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("bootstrap-password"));
    let client = reqwest::blocking::Client::new();
    let whoami = client
        .get(format!("{}/api/v1/whoami", server.base))
        .basic_auth("admin", Some("bootstrap-password"))
        .send()
        .unwrap();
    assert_eq!(whoami.status(), 200);
    let body: serde_json::Value = whoami.json().unwrap();
    assert_eq!(body["role"], "admin");
}

#[test]
fn a_token_names_each_resource_once_and_at_most_32() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some("bootstrap-password"));
    let client = reqwest::blocking::Client::new();
    let scope = |names: &mut dyn Iterator<Item = String>| {
        names
            .map(|name| format!("scope=repository:{name}:pull"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let repeated = scope(&mut (0..100).map(|_| "admin/app".to_owned()));
    let response = client
        .get(format!("{}/token?{repeated}", server.base))
        .basic_auth("admin", Some("bootstrap-password"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["access"].as_array().unwrap().len(), 1, "{claims}");

    let distinct = scope(&mut (0..33).map(|n| format!("admin/app{n}")));
    let response = client
        .get(format!("{}/token?{distinct}", server.base))
        .basic_auth("admin", Some("bootstrap-password"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[test]
fn fsck_reindex_and_gc_refuse_a_directory_without_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("not-a-registry");
    for command in [&["fsck"][..], &["reindex"], &["gc"], &["gc", "--dry-run"]] {
        let output = process::command(&nowhere, command, "");
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let error = fails(&nowhere, command, "");
        assert!(
            error.contains("no registry data in"),
            "{command:?}: {error}"
        );
        assert!(
            !nowhere.exists(),
            "{command:?} created {}",
            nowhere.display()
        );
    }
    // Nor a directory that exists but holds no registry.
    let error = fails(dir.path(), &["gc"], "");
    assert!(error.contains("no registry data in"), "{error}");
    assert!(!dir.path().join("index.redb").exists());
}

#[test]
fn listing_and_removing_refuse_a_missing_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("sentinel-dtaa");
    let commands: &[&[&str]] = &[
        &["user", "list"],
        &["user", "remove", "alice"],
        &["token", "list"],
        &["org", "list"],
        &["repo", "show", "acme/app"],
        &["policy", "list"],
        &["policy", "remove", "acme/*"],
        &["policy", "retention", "list"],
        &["policy", "retention", "remove", "acme/*"],
        &["policy", "immutable", "list"],
        &["policy", "quota", "list"],
        &["webhook", "list"],
        &["webhook", "remove", "ci"],
        &["webhook", "enable", "ci"],
        &["webhook", "test", "ci"],
        &["webhook", "deliveries", "ci"],
    ];
    for command in commands {
        let output = process::command(&nowhere, command, "");
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let error = fails(&nowhere, command, "");
        assert!(
            error.contains("no registry data directory"),
            "{command:?}: {error}"
        );
        assert!(
            !nowhere.exists(),
            "{command:?} created {}",
            nowhere.display()
        );
    }
    // What sets things up may start a data directory (before the server's
    // first start): an empty one lists nothing.
    ok(&nowhere, &["user", "add", "alice"], "");
    assert!(ok(&nowhere, &["webhook", "list"], "").lines().count() == 1);
    assert!(!ok(&nowhere, &["policy", "quota", "list"], "").contains("acme"));
}
