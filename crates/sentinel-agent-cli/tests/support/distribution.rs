//! CNCF Distribution (Debian's `docker-registry`) as a child process on
//! 127.0.0.1: a generated configuration, filesystem storage in a temporary
//! directory, killed when dropped, and restartable on the same port and
//! storage after a SIGKILL.

#![allow(dead_code)] // each test file uses a different part of this module

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The program's name on `PATH`.
const PROGRAM: &str = "docker-registry";
/// Set to 1 (as CI does) to fail, not skip, when the program is missing.
const REQUIRE_VARIABLE: &str = "SENTINEL_REQUIRE_INTEROP";
/// How long a start may take before the test fails.
const START_LIMIT: Duration = Duration::from_secs(60);
/// The pause between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// How the registry authenticates clients.
pub enum RegistryAuth {
    /// Not at all: anyone may pull and push.
    None,
    /// HTTP Basic against a bcrypt htpasswd file.
    Htpasswd {
        /// The realm named in the challenge.
        realm: String,
        /// The htpasswd file.
        file: PathBuf,
    },
    /// Docker token auth: JWTs from an issuer whose certificate is trusted.
    Token {
        /// The issuer's token endpoint, sent to clients in the challenge.
        realm: String,
        /// The audience the tokens must name.
        service: String,
        /// The issuer the tokens must name.
        issuer: String,
        /// The PEM certificates that may sign tokens.
        root_cert_bundle: PathBuf,
    },
}

/// A running `docker-registry`.
pub struct Distribution {
    program: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Distribution {
    /// Starts the registry with `auth` and waits until `/v2/` answers.
    /// `None` means the program is not installed and the test is skipped
    /// (a line on stderr says so); with `SENTINEL_REQUIRE_INTEROP=1` that
    /// fails the test instead.
    pub async fn start(auth: &RegistryAuth) -> Option<Distribution> {
        let program = find_program()?;
        let dir = tempfile::tempdir().expect("a directory for the registry");
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).expect("create the storage directory");
        std::fs::write(
            dir.path().join("config.yml"),
            config_yaml(port, &storage, auth),
        )
        .expect("write the registry configuration");
        let child = spawn(&program, dir.path());
        let mut registry = Distribution {
            program,
            port,
            dir,
            child,
        };
        registry.wait_until_ready().await;
        Some(registry)
    }

    /// `127.0.0.1:PORT`, as a reference names the registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The size of the largest partial upload Distribution holds for
    /// `repository` (the `data` files under its `_uploads`), 0 when none.
    pub fn largest_upload_bytes(&self, repository: &str) -> u64 {
        let uploads = self
            .dir
            .path()
            .join("storage/docker/registry/v2/repositories")
            .join(repository)
            .join("_uploads");
        let Ok(entries) = std::fs::read_dir(uploads) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::metadata(entry.path().join("data")).ok())
            .map(|metadata| metadata.len())
            .max()
            .unwrap_or(0)
    }

    /// Kills the registry with SIGKILL (no chance to finish anything), then
    /// starts it again on the same port with the same storage.
    pub async fn restart_after_sigkill(&mut self) {
        self.stop();
        self.child = spawn(&self.program, self.dir.path());
        self.wait_until_ready().await;
    }

    /// Everything the registry logged, for an assertion message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Polls `/v2/` until any HTTP answer (a 401 counts: auth is on).
    async fn wait_until_ready(&mut self) {
        let url = format!("http://{}/v2/", self.host());
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("check the registry process") {
                panic!(
                    "docker-registry exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            if client.get(&url).send().await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "docker-registry did not answer on {url} within {START_LIMIT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn stop(&mut self) {
        // The process may have exited already; either way it is gone after wait.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The program on `PATH`; `None` (skip) or a panic (CI) when missing.
fn find_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(PROGRAM))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        let required = std::env::var(REQUIRE_VARIABLE).is_ok_and(|value| value == "1");
        assert!(
            !required,
            "{PROGRAM} is not installed and {REQUIRE_VARIABLE}=1: install Debian's docker-registry package"
        );
        // Straight to stderr: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(std::io::stderr(), "skipped: {PROGRAM} not installed");
    }
    found
}

/// A port nobody listens on now (the OS's pick for port 0).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("the bound address").port()
}

/// `docker-registry serve config.yml` in `dir`, logging to `registry.log`.
fn spawn(program: &Path, dir: &Path) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("registry.log"))
        .expect("open the registry log");
    Command::new(program)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("share the registry log"))
        .stderr(log)
        .spawn()
        .expect("start docker-registry")
}

/// A YAML string literal (JSON's quoting is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

fn quoted_path(path: &Path) -> String {
    quoted(path.to_str().expect("temporary paths are UTF-8"))
}

/// The configuration: loopback only, a fixed `http.secret` (upload state
/// tokens are signed with it; a random one per start would orphan every
/// upload across a restart), no upload purging, and the auth section.
fn config_yaml(port: u16, storage: &Path, auth: &RegistryAuth) -> String {
    let auth = match auth {
        RegistryAuth::None => String::new(),
        RegistryAuth::Htpasswd { realm, file } => format!(
            "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
            quoted(realm),
            quoted_path(file)
        ),
        RegistryAuth::Token {
            realm,
            service,
            issuer,
            root_cert_bundle,
        } => format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            quoted(realm),
            quoted(service),
            quoted(issuer),
            quoted_path(root_cert_bundle)
        ),
    };
    format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: \"127.0.0.1:{port}\"\n  secret: sentinel-test-upload-state-secret\n\
         {auth}",
        storage = quoted_path(storage),
    )
}
