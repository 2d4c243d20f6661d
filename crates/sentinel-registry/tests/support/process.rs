//! The real `sentinel-registry serve` process, started on a free loopback
//! port and stopped gracefully (SIGTERM) or killed (SIGKILL), for the tests
//! that need a process to kill.

// Each test binary uses a different subset of these methods.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The `sentinel-registry serve` process, its base URL, and the lines it
/// printed before it was listening (the start-up log).
pub struct Process {
    child: Child,
    base: String,
    startup: Vec<String>,
}

impl Process {
    /// Starts the binary on a free loopback port and waits for its "listening" line.
    pub fn start(data_dir: &Path) -> Process {
        Process::start_with(data_dir, &[])
    }

    /// [`Process::start`] with more arguments for `serve` (`--config FILE`).
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("SENTINEL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sentinel-registry");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut startup = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("the server prints a listening line before exiting")
                .expect("read the server's output");
            startup.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        // Keep draining the output so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            base,
            startup,
        }
    }

    /// Whether a line of the start-up log contains `text`.
    pub fn started_saying(&self, text: &str) -> bool {
        self.startup.iter().any(|line| line.contains(text))
    }

    /// The first line of the start-up log containing `text`.
    pub fn startup_line(&self, text: &str) -> Option<&str> {
        self.startup
            .iter()
            .find(|line| line.contains(text))
            .map(String::as_str)
    }

    /// Stops the process with SIGTERM and waits for its graceful exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        let exit = self.child.wait().expect("reap the server");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sentinel-registry ARGS --data-dir DIR` (a command beside `serve`)
/// with `stdin` piped in, and returns its output whatever its exit.
pub fn command(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sentinel-registry");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child
        .wait_with_output()
        .expect("wait for sentinel-registry")
}

/// [`command`], which must succeed: its standard output.
pub fn command_ok(data_dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = command(data_dir, args, stdin);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
