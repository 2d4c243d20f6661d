//! Docker credential helpers: `docker-credential-<name> get`, the server URL on
//! standard input, JSON credentials on standard output.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::credential::Credential;
use crate::error::CredentialError;

/// How long a helper may take before it is killed.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Username` a helper returns when `Secret` is an identity token.
const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// What helpers print (as part of their message) when they hold nothing for
/// the server, e.g. "credentials not found in native keychain".
const NOT_FOUND_MARKER: &str = "credentials not found";

/// Most bytes of standard output read from a helper; credentials are tiny.
const STDOUT_LIMIT: u64 = 1 << 20;
/// Most bytes of standard error read from a helper.
const STDERR_LIMIT: u64 = 64 << 10;
/// Most characters of standard error quoted in an error message.
const STDERR_QUOTE_CHARS: usize = 300;
/// Output words at least this long are treated as possible secrets.
const SECRET_LIKE_WORD_LEN: usize = 8;

/// The program name of the helper called `name` in Docker's config.
pub(crate) fn helper_program(name: &str) -> String {
    format!("docker-credential-{name}")
}

/// Asks the credential helper `docker-credential-<helper>`, found on the
/// process `PATH`, for the credentials it holds for `server_url`.
///
/// Returns `Ok(None)` when the helper reports "credentials not found" or
/// returns an empty secret. A `Username` of `<token>` means the secret is an
/// identity token, returned as [`Credential::IdentityToken`] with an empty
/// username. The helper is killed after [`HELPER_TIMEOUT`]. Errors name the
/// helper; they never quote its standard output, and quote its standard error
/// only when it shares no secret-like word with the standard output.
pub fn helper_get(helper: &str, server_url: &str) -> Result<Option<Credential>, CredentialError> {
    HelperRunner::from_process().get(helper, server_url)
}

/// Runs credential helpers found on a given search path, with a time limit.
#[derive(Debug, Clone)]
pub(crate) struct HelperRunner {
    search_path: OsString,
    timeout: Duration,
}

/// A helper's answer to `get`.
#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

impl HelperRunner {
    /// Searches the process `PATH` and allows [`HELPER_TIMEOUT`].
    pub(crate) fn from_process() -> Self {
        HelperRunner {
            search_path: std::env::var_os("PATH").unwrap_or_default(),
            timeout: HELPER_TIMEOUT,
        }
    }

    /// Searches `search_path` (in `PATH` syntax) and allows `timeout`.
    #[cfg(test)]
    pub(crate) fn new(search_path: &OsStr, timeout: Duration) -> Self {
        HelperRunner {
            search_path: search_path.to_owned(),
            timeout,
        }
    }

    /// Runs `docker-credential-<helper> get` for `server_url`; see [`helper_get`].
    pub(crate) fn get(
        &self,
        helper: &str,
        server_url: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        if helper.is_empty() || helper.contains(['/', '\\']) {
            return Err(CredentialError::InvalidHelperName {
                helper: helper.to_owned(),
            });
        }
        let program = helper_program(helper);
        let executable = find_executable(&self.search_path, &program).ok_or_else(|| {
            CredentialError::HelperNotFound {
                program: program.clone(),
            }
        })?;
        let io_error = |source| CredentialError::HelperIo {
            program: program.clone(),
            source,
        };

        let mut child = Command::new(&executable)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_error)?;
        let deadline = Instant::now() + self.timeout;
        let stdout = spawn_reader(child.stdout.take(), STDOUT_LIMIT);
        let stderr = spawn_reader(child.stderr.take(), STDERR_LIMIT);
        if let Err(error) = send_server_url(&mut child, server_url) {
            stop(&mut child);
            return Err(io_error(error));
        }

        let status = match wait_until(&mut child, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                stop(&mut child);
                return Err(CredentialError::HelperTimedOut {
                    program,
                    timeout: self.timeout,
                });
            }
            Err(error) => {
                stop(&mut child);
                return Err(io_error(error));
            }
        };
        let stdout =
            receive(&stdout, deadline).map_err(|e| e.into_error(&program, self.timeout))?;
        let stderr =
            receive(&stderr, deadline).map_err(|e| e.into_error(&program, self.timeout))?;
        interpret_reply(&program, status, &stdout, &stderr)
    }
}

/// The first executable named `program` in the directories of `search_path`.
/// Empty entries (which would mean the current directory) are skipped.
fn find_executable(search_path: &OsStr, program: &str) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| program_candidates(program).map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn program_candidates(program: &str) -> impl Iterator<Item = String> {
    let extensions: &[&str] = if cfg!(windows) {
        &[".exe", ".cmd", ".bat", ""]
    } else {
        &[""]
    };
    extensions
        .iter()
        .map(move |extension| format!("{program}{extension}"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Writes the server URL to the helper's standard input and closes it. A
/// helper that exits without reading it is not an error here.
fn send_server_url(child: &mut Child, server_url: &str) -> io::Result<()> {
    let Some(mut stdin) = child.stdin.take() else {
        return Ok(());
    };
    match stdin.write_all(server_url.as_bytes()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Polls the child until it exits or the deadline passes (`Ok(None)`).
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Kills the child and reaps it. Failures are ignored: the child may already
/// have exited, and the caller is reporting a more relevant error.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads up to `limit` bytes from `source` on its own thread (then discards
/// the rest so the writer never blocks), delivering the bytes on a channel.
/// A separate thread lets the caller give up at the deadline even when a
/// grandchild keeps the pipe open.
fn spawn_reader<R: Read + Send + 'static>(
    source: Option<R>,
    limit: u64,
) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let result = match source {
            Some(mut source) => (&mut source)
                .take(limit)
                .read_to_end(&mut bytes)
                .and_then(|_| io::copy(&mut source, &mut io::sink()))
                .map(|_| bytes),
            None => Ok(bytes),
        };
        // The receiver is gone only when the caller already gave up.
        let _ = sender.send(result);
    });
    receiver
}

/// Why a reader thread delivered no bytes.
enum ReceiveError {
    Io(io::Error),
    TimedOut,
}

impl ReceiveError {
    fn into_error(self, program: &str, timeout: Duration) -> CredentialError {
        match self {
            ReceiveError::Io(source) => CredentialError::HelperIo {
                program: program.to_owned(),
                source,
            },
            ReceiveError::TimedOut => CredentialError::HelperTimedOut {
                program: program.to_owned(),
                timeout,
            },
        }
    }
}

fn receive(
    receiver: &mpsc::Receiver<io::Result<Vec<u8>>>,
    deadline: Instant,
) -> Result<Vec<u8>, ReceiveError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(left) {
        Ok(result) => result.map_err(ReceiveError::Io),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ReceiveError::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ReceiveError::Io(io::Error::other(
            "the output reader stopped unexpectedly",
        ))),
    }
}

/// Turns a finished helper's exit status and output into the answer.
fn interpret_reply(
    program: &str,
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Option<Credential>, CredentialError> {
    if !status.success() {
        let said_not_found = String::from_utf8_lossy(stdout)
            .to_ascii_lowercase()
            .contains(NOT_FOUND_MARKER);
        if said_not_found {
            return Ok(None);
        }
        return Err(CredentialError::HelperFailed {
            program: program.to_owned(),
            status,
            stderr: quotable_stderr(stderr, stdout),
        });
    }
    let reply: HelperReply =
        serde_json::from_slice(stdout).map_err(|_| CredentialError::HelperOutput {
            program: program.to_owned(),
        })?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == IDENTITY_TOKEN_USERNAME {
        Credential::IdentityToken {
            username: String::new(),
            token: reply.secret,
        }
    } else {
        Credential::Basic {
            username: reply.username,
            password: reply.secret,
        }
    }))
}

/// The helper's standard error, trimmed, on one line and shortened, or `None`
/// when it is empty or repeats any secret-like word (a long run of token
/// characters) of the standard output, which may hold the secret.
fn quotable_stderr(stderr: &[u8], stdout: &[u8]) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let one_line = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return None;
    }
    let stdout = String::from_utf8_lossy(stdout);
    let leaks = stdout
        .split(|c: char| !(c.is_alphanumeric() || "-_.+/=~".contains(c)))
        .filter(|word| word.chars().count() >= SECRET_LIKE_WORD_LEN)
        .any(|word| one_line.contains(word));
    if leaks {
        return None;
    }
    let mut quoted: String = one_line.chars().take(STDERR_QUOTE_CHARS).collect();
    if quoted.len() < one_line.len() {
        quoted.push('…');
    }
    Some(quoted)
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Mutex, MutexGuard};

    /// Serialises tests that write executables and run them: a script still
    /// open for writing in one thread while another thread forks cannot be
    /// executed ("text file busy").
    static SCRIPTS: Mutex<()> = Mutex::new(());

    /// A directory of fake helpers, usable as a search path.
    pub(crate) struct FakeHelpers {
        pub(crate) dir: tempfile::TempDir,
        _serialised: MutexGuard<'static, ()>,
    }

    impl FakeHelpers {
        pub(crate) fn new() -> Self {
            let serialised = SCRIPTS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            FakeHelpers {
                dir: tempfile::tempdir().unwrap(),
                _serialised: serialised,
            }
        }

        /// Writes `docker-credential-<name>` running the shell `body`.
        pub(crate) fn add(&self, name: &str, body: &str) {
            let path = self.dir.path().join(helper_program(name));
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        pub(crate) fn runner(&self) -> HelperRunner {
            self.runner_with_timeout(Duration::from_secs(20))
        }

        pub(crate) fn runner_with_timeout(&self, timeout: Duration) -> HelperRunner {
            HelperRunner::new(self.dir.path().as_os_str(), timeout)
        }

        /// The file where helpers written with [`Self::recording`] leave
        /// the server URL they were given.
        pub(crate) fn received_url(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join(format!("{name}.url"))).unwrap()
        }

        /// A helper body that records its standard input and prints `reply`.
        pub(crate) fn recording(&self, name: &str, reply: &str) {
            let record = self.dir.path().join(format!("{name}.url"));
            self.add(
                name,
                &format!(
                    "[ \"$1\" = get ] || exit 9\ncat > '{}'\nprintf '%s' '{reply}'",
                    record.display()
                ),
            );
        }
    }

    #[test]
    fn returns_username_and_secret_and_sends_server_url() {
        let helpers = FakeHelpers::new();
        helpers.recording(
            "fake",
            r#"{"ServerURL":"ghcr.io","Username":"bob","Secret":"pa:ss"}"#,
        );
        let credential = helpers.runner().get("fake", "ghcr.io").unwrap();
        assert_eq!(
            credential,
            Some(Credential::Basic {
                username: "bob".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(helpers.received_url("fake"), "ghcr.io");
    }

    #[test]
    fn token_username_means_identity_token() {
        let helpers = FakeHelpers::new();
        helpers.recording(
            "tok",
            r#"{"ServerURL":"x","Username":"<token>","Secret":"refresh-me"}"#,
        );
        assert_eq!(
            helpers.runner().get("tok", "x").unwrap(),
            Some(Credential::IdentityToken {
                username: String::new(),
                token: "refresh-me".into()
            })
        );
    }

    #[test]
    fn credentials_not_found_is_none() {
        let helpers = FakeHelpers::new();
        helpers.add(
            "empty",
            "cat >/dev/null\necho 'credentials not found in native keychain'\nexit 1",
        );
        assert_eq!(helpers.runner().get("empty", "ghcr.io").unwrap(), None);
    }

    #[test]
    fn failing_helper_names_itself_and_hides_stdout() {
        let helpers = FakeHelpers::new();
        helpers.add(
            "broken",
            "echo 'half-written TOPSECRETVALUE'\necho 'keychain is locked' >&2\nexit 3",
        );
        let error = helpers.runner().get("broken", "ghcr.io").unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, CredentialError::HelperFailed { .. }),
            "{error:?}"
        );
        assert!(message.contains("docker-credential-broken"), "{message}");
        assert!(message.contains("keychain is locked"), "{message}");
        assert!(!message.contains("TOPSECRETVALUE"), "{message}");
    }

    #[test]
    fn stderr_repeating_stdout_words_is_not_quoted() {
        let helpers = FakeHelpers::new();
        helpers.add(
            "leaky",
            "echo '{\"Secret\":\"TOPSECRETVALUE\"}'\necho 'could not store TOPSECRETVALUE' >&2\nexit 1",
        );
        let message = helpers
            .runner()
            .get("leaky", "ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(message.contains("docker-credential-leaky"), "{message}");
        assert!(!message.contains("TOPSECRETVALUE"), "{message}");
    }

    #[test]
    fn invalid_json_output_is_an_error_without_the_output() {
        let helpers = FakeHelpers::new();
        helpers.add("garbled", "echo 'Secret=TOPSECRETVALUE'");
        let error = helpers.runner().get("garbled", "ghcr.io").unwrap_err();
        assert!(
            matches!(error, CredentialError::HelperOutput { .. }),
            "{error:?}"
        );
        assert!(!error.to_string().contains("TOPSECRETVALUE"));
    }

    #[test]
    fn hanging_helper_is_stopped_with_an_error() {
        let helpers = FakeHelpers::new();
        helpers.add("hang", "exec sleep 60");
        let error = helpers
            .runner_with_timeout(Duration::from_millis(200))
            .get("hang", "ghcr.io")
            .unwrap_err();
        assert!(
            matches!(error, CredentialError::HelperTimedOut { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("docker-credential-hang"));
    }

    #[test]
    fn missing_helper_is_reported_by_name() {
        let helpers = FakeHelpers::new();
        let error = helpers.runner().get("absent", "ghcr.io").unwrap_err();
        assert!(
            matches!(error, CredentialError::HelperNotFound { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("docker-credential-absent"));
    }

    #[test]
    fn non_executable_file_is_not_a_helper() {
        let helpers = FakeHelpers::new();
        helpers.add("plain", "exit 0");
        let path = helpers.dir.path().join("docker-credential-plain");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = helpers.runner().get("plain", "ghcr.io").unwrap_err();
        assert!(
            matches!(error, CredentialError::HelperNotFound { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn helper_names_with_path_separators_are_refused() {
        let helpers = FakeHelpers::new();
        for name in ["", "../evil", "a/b"] {
            let error = helpers.runner().get(name, "ghcr.io").unwrap_err();
            assert!(
                matches!(error, CredentialError::InvalidHelperName { .. }),
                "{error:?}"
            );
        }
    }

    #[test]
    fn later_search_path_entries_are_searched() {
        let helpers = FakeHelpers::new();
        helpers.recording("later", r#"{"Username":"u","Secret":"s"}"#);
        let empty = tempfile::tempdir().unwrap();
        let search_path = std::env::join_paths([empty.path(), helpers.dir.path()]).unwrap();
        let runner = HelperRunner::new(&search_path, Duration::from_secs(20));
        assert!(runner.get("later", "ghcr.io").unwrap().is_some());
    }

    #[test]
    fn quoted_stderr_is_shortened_to_one_line() {
        let long = "x ".repeat(400);
        let quoted = quotable_stderr(format!("first\nsecond {long}").as_bytes(), b"").unwrap();
        assert!(quoted.starts_with("first second"));
        assert!(!quoted.contains('\n'));
        assert!(quoted.chars().count() <= STDERR_QUOTE_CHARS + 1);
        assert_eq!(quotable_stderr(b"  \n", b""), None);
    }
}
