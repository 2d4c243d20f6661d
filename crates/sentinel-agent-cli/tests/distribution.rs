//! The `agent` CLI against CNCF Distribution 2.8 (Debian's `docker-registry`)
//! with HTTP Basic (htpasswd) and Docker token auth: login, push and pull,
//! blobs already present and mounted, credentials from Docker's config and
//! from a credential helper, and a push that survives the registry being
//! killed in the middle of an upload.
//!
//! Without `docker-registry` installed each test prints a line saying it was
//! skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) it fails instead.

mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use common::{AgentHome, Run, assert_re_push_uploads_nothing_and_mounts};
use support::distribution::{Distribution, RegistryAuth};
use support::files::{digest_tree, write_random};
use support::token_issuer::{Grant, TokenIssuer};
use tokio::io::AsyncWriteExt;

/// The one user the registry knows.
const USER: &str = "alice";
/// Their password (with a space, as real ones may have).
const PASSWORD: &str = "correct horse 42";
/// The realm of the htpasswd challenge.
const BASIC_REALM: &str = "sentinel-test";
/// The size of the package that is interrupted mid-upload.
const LARGE_FILE_BYTES: u64 = 192 * 1024 * 1024;
/// The longest a login, the end of an interrupted push, or a pull may take.
const WAIT_LIMIT: Duration = Duration::from_secs(120);
/// The longest until the first upload bytes of the large package reach the
/// registry: the push packs (gzips) 192 MiB first, which takes 70-80 s in a
/// debug build on one of these 2-core machines, more with other tests beside.
const PACK_LIMIT: Duration = Duration::from_secs(300);
/// Upload data beyond this size is the large blob's (the definition blob
/// beside it is a few hundred bytes).
const LARGE_UPLOAD_SEEN: u64 = 1024 * 1024;
/// The pause between two looks at the registry's upload directory.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How the registry authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// htpasswd with bcrypt.
    Basic,
    /// JWTs from [`TokenIssuer`].
    Token,
}

/// A registry with its authentication.
struct Setup {
    registry: Distribution,
    issuer: Option<TokenIssuer>,
    _htpasswd_dir: tempfile::TempDir,
}

impl Setup {
    /// Starts the registry in `mode`; `None` when the test is skipped.
    async fn start(mode: Mode) -> Option<Setup> {
        let htpasswd_dir = tempfile::tempdir().expect("a directory for htpasswd");
        let (auth, issuer) = match mode {
            Mode::Basic => {
                let file = htpasswd_dir.path().join("htpasswd");
                support::htpasswd::write(&file, &[(USER, PASSWORD)]);
                let auth = RegistryAuth::Htpasswd {
                    realm: BASIC_REALM.to_string(),
                    file,
                };
                (auth, None)
            }
            Mode::Token => {
                let issuer = TokenIssuer::start(&[(USER, PASSWORD)]).await;
                (issuer.registry_auth(), Some(issuer))
            }
        };
        let registry = Distribution::start(&auth).await?;
        Some(Setup {
            registry,
            issuer,
            _htpasswd_dir: htpasswd_dir,
        })
    }

    fn host(&self) -> String {
        self.registry.host()
    }

    fn issuer(&self) -> &TokenIssuer {
        self.issuer.as_ref().expect("token mode has an issuer")
    }
}

/// `agent login HOST --username alice --password-stdin` with `password`
/// piped in.
async fn login(home: &AgentHome, host: &str, password: &str) -> Run {
    let mut child = home
        .command(&["login", host, "--username", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start agent login");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .expect("send the password");
    drop(stdin);
    let output = tokio::time::timeout(WAIT_LIMIT, child.wait_with_output())
        .await
        .expect("agent login ends in time")
        .expect("agent login runs");
    Run::from(output)
}

/// A home logged in to `host` with the right password.
async fn logged_in_home(host: &str) -> AgentHome {
    let home = AgentHome::new();
    let run = login(&home, host, PASSWORD).await;
    assert_eq!(run.code, 0, "login failed:\n{}", run.describe());
    home
}

/// Asserts the one-line failure with `code` that `AgentHome::fails` checks.
fn assert_fails(run: &Run, code: i32) {
    assert_eq!(run.code, code, "{}", run.describe());
    assert_eq!(
        run.stderr.trim_end().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
    assert!(run.stderr.starts_with("agent: "), "{}", run.stderr);
}

/// Whether some token request asked for all of `scopes` at once.
fn asked_together(issuer: &TokenIssuer, scopes: &[&str]) -> bool {
    issuer.requests().iter().any(|request| {
        request.user.as_deref() == Some(USER)
            && scopes
                .iter()
                .all(|scope| request.scopes.iter().any(|asked| asked == scope))
    })
}

async fn login_checks_the_password_and_keeps_credentials_private(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = AgentHome::new();
    let credentials = home.config_dir().join("credentials.json");

    let refused = login(&home, &host, "not the password").await;
    assert_fails(&refused, 3);
    assert!(
        refused
            .stderr
            .contains(&format!("authentication failed for {host}")),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("not the password"),
        "{}",
        refused.stderr
    );
    assert!(!credentials.exists(), "a refused login saved credentials");

    let accepted = login(&home, &host, PASSWORD).await;
    assert_eq!(accepted.code, 0, "{}", accepted.describe());
    assert!(
        accepted
            .stdout
            .contains(&format!("Login succeeded for {host}")),
        "{}",
        accepted.stdout
    );
    let mode_bits = std::fs::metadata(&credentials)
        .expect("login saved a credentials file")
        .permissions()
        .mode();
    assert_eq!(
        mode_bits & 0o777,
        0o600,
        "credentials file mode {mode_bits:o}"
    );
    let saved = std::fs::read_to_string(&credentials).expect("read the credentials file");
    if mode == Mode::Token {
        assert!(
            !saved.contains(PASSWORD),
            "the password is kept in clear although the registry issued a refresh token:\n{saved}"
        );
        assert!(
            saved.contains("identity_token"),
            "no identity token kept:\n{saved}"
        );
        assert!(
            setup
                .issuer()
                .requests()
                .iter()
                .any(|request| request.grant == Grant::Password
                    && request.user.as_deref() == Some(USER)),
            "login did not use the OAuth2 password grant: {:?}",
            setup.issuer().requests()
        );
    }

    // The saved credential is enough to push.
    let dir = home.write_agent("saved", "1.0.0");
    home.ok(&[
        "push",
        &format!("{host}/me/saved:1.0.0"),
        dir.to_str().unwrap(),
    ])
    .await;
    if mode == Mode::Token {
        assert!(
            setup
                .issuer()
                .requests()
                .iter()
                .any(|request| request.grant == Grant::RefreshToken
                    && request.user.as_deref() == Some(USER)),
            "the push did not exchange the saved refresh token: {:?}",
            setup.issuer().requests()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_login_checks_the_password_and_keeps_credentials_private() {
    login_checks_the_password_and_keeps_credentials_private(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_login_checks_the_password_and_keeps_credentials_private() {
    login_checks_the_password_and_keeps_credentials_private(Mode::Token).await;
}

async fn push_then_pull_on_a_clean_home(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let author = logged_in_home(&host).await;
    let dir = author.write_agent("researcher", "1.2.0");
    let reference = format!("{host}/me/researcher:1.2.0");
    let pushed = author
        .ok(&["push", &reference, dir.to_str().unwrap()])
        .await;
    assert!(
        pushed.stdout.contains(&format!("pushed {reference}")),
        "{}",
        pushed.stdout
    );

    let reader = logged_in_home(&host).await;
    let out = reader.path().join("out");
    let pulled = reader
        .ok(&["pull", &reference, "-d", out.to_str().unwrap()])
        .await;
    assert_eq!(pulled.field("digest"), pushed.field("digest"));
    assert_eq!(digest_tree(&out), digest_tree(&dir));
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_push_then_pull_on_a_clean_home() {
    push_then_pull_on_a_clean_home(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_push_then_pull_on_a_clean_home() {
    push_then_pull_on_a_clean_home(Mode::Token).await;
}

async fn a_re_push_uploads_nothing_and_another_repository_mounts(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = logged_in_home(&host).await;
    assert_re_push_uploads_nothing_and_mounts(&home, &host).await;
    if mode == Mode::Token {
        let both = [
            "repository:team/researcher:pull,push",
            "repository:me/researcher:pull",
        ];
        assert!(
            asked_together(setup.issuer(), &both),
            "no single token request asked for {both:?}: {:?}",
            setup.issuer().requests()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_a_re_push_uploads_nothing_and_another_repository_mounts() {
    a_re_push_uploads_nothing_and_another_repository_mounts(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_a_re_push_uploads_nothing_and_another_repository_mounts() {
    a_re_push_uploads_nothing_and_another_repository_mounts(Mode::Token).await;
}

async fn missing_tags_and_anonymous_writes_are_refused(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = logged_in_home(&host).await;
    let missing = home
        .fails(&["pull", &format!("{host}/me/absent:9.9.9")], 4)
        .await;
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);

    let dir = home.write_agent("public", "1.0.0");
    let reference = format!("{host}/me/public:1.0.0");
    home.ok(&["push", &reference, dir.to_str().unwrap()]).await;

    let stranger = AgentHome::new();
    let own = stranger.write_agent("intruder", "1.0.0");
    let refused = stranger
        .fails(
            &[
                "push",
                &format!("{host}/me/intruder:1.0.0"),
                own.to_str().unwrap(),
            ],
            3,
        )
        .await;
    assert!(
        refused.stderr.contains(&host),
        "the error names no registry: {}",
        refused.stderr
    );
    let out = stranger.path().join("public");
    match mode {
        // htpasswd has no anonymous access at all.
        Mode::Basic => {
            stranger
                .fails(&["pull", &reference, "-d", out.to_str().unwrap()], 3)
                .await;
        }
        // The issuer gives anonymous a pull-only token.
        Mode::Token => {
            stranger
                .ok(&["pull", &reference, "-d", out.to_str().unwrap()])
                .await;
            assert_eq!(digest_tree(&out), digest_tree(&dir));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_missing_tags_and_anonymous_writes_are_refused() {
    missing_tags_and_anonymous_writes_are_refused(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_missing_tags_and_anonymous_writes_are_refused() {
    missing_tags_and_anonymous_writes_are_refused(Mode::Token).await;
}

/// Writes Docker's `config.json` into the home's Docker config directory.
fn write_docker_config(home: &AgentHome, config: &serde_json::Value) {
    let dir = home.docker_config_dir();
    std::fs::create_dir_all(&dir).expect("create the Docker config directory");
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write config.json");
}

async fn docker_config_auths_give_the_credentials(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = AgentHome::new();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    write_docker_config(
        &home,
        &serde_json::json!({"auths": {&host: {"auth": auth}}}),
    );
    let dir = home.write_agent("dockerish", "1.0.0");
    home.ok(&[
        "push",
        &format!("{host}/me/dockerish:1.0.0"),
        dir.to_str().unwrap(),
    ])
    .await;
    assert!(
        !home.config_dir().join("credentials.json").exists(),
        "a push saved credentials of its own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_docker_config_auths_give_the_credentials() {
    docker_config_auths_give_the_credentials(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_docker_config_auths_give_the_credentials() {
    docker_config_auths_give_the_credentials(Mode::Token).await;
}

/// Writes `docker-credential-sentineltest` into `dir`: it answers `get` with
/// the test user's credentials and notes each server it was asked about in
/// `dir/asked`.
fn write_credential_helper(dir: &Path) {
    let script = format!(
        "#!/bin/sh\n\
         # A Docker credential helper for one test user.\n\
         [ \"$1\" = get ] || exit 1\n\
         read -r server\n\
         printf '%s\\n' \"$server\" >> \"$(dirname \"$0\")/asked\"\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\\n' \"$server\"\n"
    );
    let path = dir.join("docker-credential-sentineltest");
    std::fs::write(&path, script).expect("write the credential helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the credential helper executable");
}

async fn a_credential_helper_gives_the_credentials(mode: Mode) {
    let Some(setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = AgentHome::new();
    let helpers = tempfile::tempdir().expect("a directory for the helper");
    write_credential_helper(helpers.path());
    write_docker_config(
        &home,
        &serde_json::json!({"credHelpers": {&host: "sentineltest"}}),
    );
    let mut search_path = vec![helpers.path().to_path_buf()];
    search_path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let dir = home.write_agent("helped", "1.0.0");
    let output = home
        .command(&[
            "push",
            &format!("{host}/me/helped:1.0.0"),
            dir.to_str().unwrap(),
        ])
        .env(
            "PATH",
            std::env::join_paths(search_path).expect("a valid PATH"),
        )
        .output()
        .await
        .expect("run agent push");
    let run = Run::from(output);
    assert_eq!(run.code, 0, "{}", run.describe());
    let asked = std::fs::read_to_string(helpers.path().join("asked")).unwrap_or_default();
    assert!(
        asked.contains(&host),
        "the helper was not asked about {host}: {asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_a_credential_helper_gives_the_credentials() {
    a_credential_helper_gives_the_credentials(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_a_credential_helper_gives_the_credentials() {
    a_credential_helper_gives_the_credentials(Mode::Token).await;
}

async fn a_push_survives_the_registry_being_killed_mid_upload(mode: Mode) {
    let Some(mut setup) = Setup::start(mode).await else {
        return;
    };
    let host = setup.host();
    let home = logged_in_home(&host).await;
    let dir = home.write_agent("bulky", "1.0.0");
    std::fs::create_dir(dir.join("data")).expect("create the data directory");
    write_random(&dir.join("data/weights.bin"), LARGE_FILE_BYTES);

    // Output goes to files: a pipe nobody reads could stall the push.
    let logs = tempfile::tempdir().expect("a directory for the push's output");
    let stdout_path = logs.path().join("stdout");
    let stderr_path = logs.path().join("stderr");
    let reference = format!("{host}/me/bulky:1.0.0");
    let mut push = home
        .command(&["push", &reference, dir.to_str().unwrap()])
        .stdout(std::fs::File::create(&stdout_path).expect("create the stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("create the stderr file"))
        .spawn()
        .expect("start agent push");
    let push_output = || Run {
        code: -1,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    };

    let deadline = tokio::time::Instant::now() + PACK_LIMIT;
    while setup.registry.largest_upload_bytes("me/bulky") <= LARGE_UPLOAD_SEEN {
        if let Some(status) = push.try_wait().expect("check agent push") {
            panic!(
                "the push ended ({status}) before the large blob's upload was seen in the registry:\n{}",
                push_output().describe()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the large blob's upload did not reach the registry within {PACK_LIMIT:?}:\n{}",
            push_output().describe()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    setup.registry.restart_after_sigkill().await;

    let status = tokio::time::timeout(WAIT_LIMIT, push.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the push did not end within {WAIT_LIMIT:?} of the restart:\n{}",
                push_output().describe()
            )
        })
        .expect("wait for agent push");
    let run = Run {
        code: status.code().unwrap_or(-1),
        ..push_output()
    };
    assert_eq!(
        run.code,
        0,
        "the push did not resume after the registry restarted:\n{}\nregistry log:\n{}",
        run.describe(),
        setup.registry.log()
    );

    let reader = logged_in_home(&host).await;
    let out = reader.path().join("bulky");
    tokio::time::timeout(
        WAIT_LIMIT,
        reader.ok(&["pull", &reference, "-d", out.to_str().unwrap()]),
    )
    .await
    .unwrap_or_else(|_| panic!("the pull did not end within {WAIT_LIMIT:?}"));
    assert_eq!(digest_tree(&out), digest_tree(&dir));
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_a_push_survives_the_registry_being_killed_mid_upload() {
    a_push_survives_the_registry_being_killed_mid_upload(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_a_push_survives_the_registry_being_killed_mid_upload() {
    a_push_survives_the_registry_being_killed_mid_upload(Mode::Token).await;
}
