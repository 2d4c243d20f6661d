//! Runs the real `agent` binary in an isolated home: its own configuration,
//! credentials, store and Docker config, nothing from the user's machine.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::Output;

/// One user's machine: a home directory with everything `agent` reads.
pub struct AgentHome {
    dir: tempfile::TempDir,
}

impl AgentHome {
    /// A fresh, empty home.
    pub fn new() -> AgentHome {
        AgentHome {
            dir: tempfile::tempdir().expect("a temporary home"),
        }
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The local store's root.
    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    /// The agent configuration directory.
    pub fn config_dir(&self) -> PathBuf {
        self.path().join("config")
    }

    /// Docker's configuration directory.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.path().join("docker")
    }

    /// A command running `agent` with `args` in `cwd` (the home when None).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_agent"));
        command
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("AGENT_CONFIG_DIR", self.config_dir())
            .env("AGENT_STORE", self.store())
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `agent` and returns what it did.
    pub async fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().await.expect("run agent");
        Run::from(output)
    }

    /// Runs `agent`, asserting success.
    pub async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "agent {args:?} failed:\n{}", run.describe());
        run
    }

    /// Runs `agent`, asserting it fails with `code` and one line on stderr.
    pub async fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, code, "agent {args:?}:\n{}", run.describe());
        assert_eq!(
            run.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            run.stderr
        );
        assert!(run.stderr.starts_with("agent: "), "{}", run.stderr);
        run
    }

    /// Writes an agent directory named `name` with a definition and a few
    /// files, and returns its path.
    pub fn write_agent(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.path().join("src").join(name);
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::fs::write(
            dir.join("agent.yaml"),
            format!(
                "name: {name}\nversion: {version}\ndescription: A test agent\nauthor: Test Author <test@example.com>\nlicense: Apache-2.0\ncapabilities: [search, summarise]\ntags: [research]\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("prompts/system.md"), "You are careful.\n").unwrap();
        std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
        dir
    }
}

/// What one `agent` run did.
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for an assertion message.
    pub fn describe(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// The value after `key:` on a line of standard output.
    pub fn field(&self, key: &str) -> String {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}:")))
            .map(|value| value.trim().to_string())
            .unwrap_or_else(|| panic!("no {key}: line in\n{}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Every regular file under `root`, by relative path, with its contents.
pub fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Pushes a `researcher` agent from `home` to `host` as `me/researcher`, pushes it
/// again, then pushes it as `team/researcher`: the re-push must upload nothing and
/// give the same digest, and the push to the other repository must mount both blobs.
pub async fn assert_re_push_uploads_nothing_and_mounts(home: &AgentHome, host: &str) {
    let dir = home.write_agent("researcher", "1.2.0");
    let dir = dir.to_str().unwrap();
    let first = home
        .ok(&["push", &format!("{host}/me/researcher:1.2.0"), dir])
        .await;
    assert!(
        first.stdout.contains("0 mounted, 0 already present"),
        "{}",
        first.stdout
    );
    let again = home
        .ok(&["push", &format!("{host}/me/researcher:1.2.0"), dir])
        .await;
    assert!(
        again
            .stdout
            .contains("0 B uploaded, 0 mounted, 2 already present"),
        "{}",
        again.stdout
    );
    assert_eq!(again.field("digest"), first.field("digest"));
    let other = home
        .ok(&["push", &format!("{host}/team/researcher:1.2.0"), dir])
        .await;
    assert!(
        other.stdout.contains("0 B uploaded, 2 mounted"),
        "{}",
        other.stdout
    );
}

/// `host:port` of a test registry, as references name it.
pub fn host(registry: &sentinel_conformance::TestRegistry) -> String {
    registry
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Runs `agent ARGS` in `home` with `user` and `password` in the environment.
pub async fn as_user(home: &AgentHome, user: &str, password: &str, args: &[&str]) -> Run {
    let output = home
        .command(args)
        .env("DOCKER_USERNAME", user)
        .env("DOCKER_PASSWORD", password)
        .output()
        .await
        .expect("run agent");
    Run::from(output)
}

/// A management API call as the bootstrap admin, which must succeed.
pub async fn admin_call(
    registry: &sentinel_conformance::TestRegistry,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) {
    let response = reqwest::Client::new()
        .request(method, registry.url(path))
        .basic_auth("admin", Some(sentinel_conformance::ADMIN_PASSWORD))
        .json(&body)
        .send()
        .await
        .expect("send the management call");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}
