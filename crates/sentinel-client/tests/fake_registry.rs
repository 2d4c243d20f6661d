//! The client against a small in-memory registry: authentication flows,
//! retries, resumption after broken connections, redirects, pagination.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;
use sentinel_client::{
    BlobPush, ClientError, ClientOptions, Credential, ErrorKind, NoProgress, RegistryClient,
    RegistryLocation, RetryPolicy, TransferProgress,
};
use sentinel_oci::{Digest, media_types};
use support::{
    AuthMode, Fake, FaultAction, ISSUED_REFRESH_TOKEN, Options, PASSWORD, REFRESH_TOKEN, SIGNATURE,
    USER,
};

const CHUNK: u64 = 16 * 1024;

fn tiny_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    }
}

fn client_with(fake: &Fake, credential: Option<Credential>) -> RegistryClient {
    client_with_options(
        fake,
        ClientOptions {
            credential,
            ..ClientOptions::default()
        },
    )
}

fn client_with_options(fake: &Fake, options: ClientOptions) -> RegistryClient {
    let options = ClientOptions {
        chunk_size: CHUNK,
        retry: tiny_retries(),
        ..options
    };
    RegistryClient::new(&RegistryLocation::parse(&fake.host()).unwrap(), options).unwrap()
}

/// A client that gives up on a silent connection quickly, for the stall tests.
fn impatient_client(fake: &Fake) -> RegistryClient {
    client_with_options(
        fake,
        ClientOptions {
            idle_timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        },
    )
}

fn basic(password: &str) -> Option<Credential> {
    Some(Credential::Basic {
        username: USER.into(),
        password: password.into(),
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 509) as u8).collect()
}

fn blob_file(dir: &Path, len: usize) -> (PathBuf, Digest, Vec<u8>) {
    let content = pattern(len);
    let path = dir.join("blob");
    std::fs::write(&path, &content).unwrap();
    (path, Digest::sha256(&content), content)
}

/// Pushes a file made by `blob_file` to `team/app`, uploading it (no mount).
async fn push_to_app(
    client: &RegistryClient,
    path: &Path,
    digest: &Digest,
    content: &[u8],
    progress: &dyn TransferProgress,
) -> Result<BlobPush, ClientError> {
    client
        .push_blob_file(
            "team/app",
            digest,
            content.len() as u64,
            path,
            None,
            progress,
        )
        .await
}

/// A fake holding the manifest `me/app:v1` whose first `times` GETs meet `action`.
async fn fake_with_faulty_manifest(times: u32, action: FaultAction) -> Fake {
    let fake = Fake::start(Options::default()).await;
    put_empty_manifest(&fake, "v1");
    fake.fault(Method::GET, "/manifests/v1", times, action);
    fake
}

/// Makes the second `PATCH` of the next upload meet `action`.
fn fault_second_patch(fake: &Fake, action: FaultAction) {
    fake.fault_after(Method::PATCH, "/blobs/uploads/", 1, 1, action);
}

/// Stores the manifest `{}` as `me/app:<tag>`, announced with its own digest.
fn put_empty_manifest(fake: &Fake, tag: &str) {
    fake.put_manifest(
        "me/app",
        tag,
        media_types::OCI_MANIFEST,
        b"{}",
        Digest::sha256(b"{}").as_str(),
    );
}

#[derive(Default)]
struct Recorder {
    restarts: Mutex<Vec<u64>>,
    advanced: Mutex<u64>,
}

impl TransferProgress for Recorder {
    fn advanced(&self, bytes: u64) {
        *self.advanced.lock().unwrap() += bytes;
    }
    fn restarted_at(&self, offset: u64) {
        self.restarts.lock().unwrap().push(offset);
    }
}

fn count(fake: &Fake, method: Method, path_part: &str) -> usize {
    fake.seen()
        .iter()
        .filter(|seen| seen.method == method && seen.path.contains(path_part))
        .count()
}

// ---- Basic ----

#[tokio::test]
async fn basic_challenge_with_right_and_wrong_credentials() {
    let fake = Fake::start(Options {
        auth: AuthMode::Basic,
        ..Options::default()
    })
    .await;
    let digest = fake.put_blob("team/app", b"hello");

    let client = client_with(&fake, basic(PASSWORD));
    assert_eq!(client.check_login().await.unwrap().identity_token, None);
    assert_eq!(
        client.blob_exists("team/app", &digest).await.unwrap(),
        Some(5)
    );
    // Once the registry has said Basic, credentials go with the first request.
    let before = fake.seen().len();
    client.blob_exists("team/app", &digest).await.unwrap();
    assert_eq!(fake.seen().len(), before + 1);

    let wrong = client_with(&fake, basic("wrong-password"));
    let error = wrong.check_login().await.unwrap_err();
    assert!(
        matches!(error, ClientError::AuthenticationFailed { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!("authentication failed for {}", fake.host())
    );
    assert!(!error.to_string().contains("wrong-password"));
    let error = wrong.blob_exists("team/app", &digest).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);

    let anonymous = client_with(&fake, None);
    let error = anonymous
        .blob_exists("team/app", &digest)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
}

// ---- Bearer ----

fn bearer_fake(anonymous: bool, password_grant: bool) -> Options {
    Options {
        auth: AuthMode::Bearer {
            anonymous,
            password_grant,
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn bearer_token_with_basic_credentials_is_fetched_once_per_scope_set() {
    let fake = Fake::start(bearer_fake(false, true)).await;
    let digest = fake.put_blob("team/app", b"hello");
    let client = client_with(&fake, basic(PASSWORD));

    assert_eq!(
        client.blob_exists("team/app", &digest).await.unwrap(),
        Some(5)
    );
    assert_eq!(
        client.blob_exists("team/app", &digest).await.unwrap(),
        Some(5)
    );
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, Method::GET);
    assert_eq!(requests[0].basic_user.as_deref(), Some(USER));
    assert_eq!(requests[0].scopes, ["repository:team/app:pull"]);

    // A clone shares the cache; another scope set needs another token.
    let clone = client.clone();
    assert_eq!(
        clone.blob_exists("team/other", &digest).await.unwrap(),
        None
    );
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].scopes, ["repository:team/other:pull"]);

    let wrong = client_with(&fake, basic("nope"));
    let error = wrong.blob_exists("team/app", &digest).await.unwrap_err();
    assert!(
        matches!(error, ClientError::AuthenticationFailed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn bearer_token_anonymous() {
    let fake = Fake::start(bearer_fake(true, true)).await;
    let digest = fake.put_blob("library/alpine", b"x");
    let client = client_with(&fake, None);
    assert_eq!(
        client.blob_exists("library/alpine", &digest).await.unwrap(),
        Some(1)
    );
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].basic_user, None);
    assert!(
        fake.seen()
            .iter()
            .filter(|s| s.path == "/token")
            .all(|s| s.authorization.is_none())
    );
}

#[tokio::test]
async fn bearer_token_from_identity_token_by_oauth2_refresh() {
    let fake = Fake::start(bearer_fake(false, true)).await;
    let digest = fake.put_blob("team/app", b"hello");
    let client = client_with(
        &fake,
        Some(Credential::IdentityToken {
            username: USER.into(),
            token: REFRESH_TOKEN.into(),
        }),
    );
    assert_eq!(
        client.blob_exists("team/app", &digest).await.unwrap(),
        Some(5)
    );
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.form["grant_type"], "refresh_token");
    assert_eq!(request.form["refresh_token"], REFRESH_TOKEN);
    assert_eq!(request.form["service"], "fake-registry");
    assert_eq!(request.form["client_id"], "sentinel-agent");
    assert_eq!(request.scopes, ["repository:team/app:pull"]);

    let stale = client_with(
        &fake,
        Some(Credential::IdentityToken {
            username: USER.into(),
            token: "revoked".into(),
        }),
    );
    let error = stale.blob_exists("team/app", &digest).await.unwrap_err();
    assert!(matches!(error, ClientError::AuthenticationFailed { .. }));
}

#[tokio::test]
async fn mount_asks_one_token_for_both_repositories() {
    let fake = Fake::start(bearer_fake(false, true)).await;
    let work = tempfile::tempdir().unwrap();
    let (path, _, content) = blob_file(work.path(), 100);
    let digest = fake.put_blob("team/source", &content);
    let client = client_with(&fake, basic(PASSWORD));

    let pushed = client
        .push_blob_file(
            "team/target",
            &digest,
            100,
            &path,
            Some("team/source"),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Mounted);
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let mut scopes = requests[0].scopes.clone();
    scopes.sort();
    assert_eq!(
        scopes,
        [
            "repository:team/source:pull",
            "repository:team/target:pull,push"
        ]
    );
    assert_eq!(count(&fake, Method::PATCH, "/blobs/uploads/"), 0);
    assert_eq!(count(&fake, Method::PUT, "/blobs/uploads/"), 0);
}

#[tokio::test]
async fn token_expiring_mid_upload_is_renewed_and_the_upload_resumes() {
    let fake = Fake::start(Options {
        revoke_after_first_patch: true,
        ..bearer_fake(false, true)
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 3 * CHUNK as usize + 10);
    let client = client_with(&fake, basic(PASSWORD));
    let progress = Recorder::default();
    let pushed = push_to_app(&client, &path, &digest, &content, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 1 });
    assert_eq!(fake.blob(&digest).unwrap(), content);
    assert_eq!(fake.token_requests().len(), 2);
    let unauthorized_patch = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::PATCH)
        .count();
    assert_eq!(unauthorized_patch, 5, "4 chunks and the refused one");
    assert_eq!(
        count(&fake, Method::GET, "/blobs/uploads/"),
        1,
        "the status was asked once"
    );
    assert_eq!(*progress.restarts.lock().unwrap(), [CHUNK]);
}

#[tokio::test]
async fn login_with_password_grant_returns_the_refresh_token() {
    let fake = Fake::start(bearer_fake(false, true)).await;
    let outcome = client_with(&fake, basic(PASSWORD))
        .check_login()
        .await
        .unwrap();
    assert_eq!(
        outcome.identity_token.as_deref(),
        Some(ISSUED_REFRESH_TOKEN)
    );
    let request = &fake.token_requests()[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.form["grant_type"], "password");
    assert_eq!(request.form["access_type"], "offline");
    assert_eq!(request.form["client_id"], "sentinel-agent");
    assert!(request.scopes.is_empty());

    let error = client_with(&fake, basic("wrong"))
        .check_login()
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::AuthenticationFailed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn login_falls_back_to_get_when_the_password_grant_is_unsupported() {
    let fake = Fake::start(bearer_fake(false, false)).await;
    let outcome = client_with(&fake, basic(PASSWORD))
        .check_login()
        .await
        .unwrap();
    assert_eq!(outcome.identity_token, None);
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, Method::POST);
    assert_eq!(requests[1].method, Method::GET);
    assert_eq!(requests[1].basic_user.as_deref(), Some(USER));

    let error = client_with(&fake, basic("wrong"))
        .check_login()
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::AuthenticationFailed { .. }),
        "{error}"
    );

    let error = client_with(&fake, None).check_login().await.unwrap_err();
    assert!(
        matches!(error, ClientError::AuthenticationFailed { .. }),
        "{error}"
    );
}

// ---- Retries ----

#[tokio::test]
async fn service_unavailable_then_success() {
    let fake = fake_with_faulty_manifest(2, FaultAction::Status(503, None)).await;
    let manifest = client_with(&fake, None)
        .get_manifest("me/app", "v1")
        .await
        .unwrap();
    assert_eq!(manifest.bytes.as_ref(), b"{}");
    assert_eq!(count(&fake, Method::GET, "/manifests/v1"), 3);
}

#[tokio::test]
async fn too_many_requests_with_a_short_retry_after_is_waited_out() {
    let fake = fake_with_faulty_manifest(1, FaultAction::Status(429, Some("1"))).await;
    let manifest = client_with(&fake, None)
        .get_manifest("me/app", "v1")
        .await
        .unwrap();
    assert_eq!(manifest.digest, Digest::sha256(b"{}"));
    assert_eq!(count(&fake, Method::GET, "/manifests/v1"), 2);
}

#[tokio::test]
async fn too_many_requests_with_a_long_retry_after_stops_at_once() {
    let fake = fake_with_faulty_manifest(1, FaultAction::Status(429, Some("3600"))).await;
    let error = client_with(&fake, None)
        .get_manifest("me/app", "v1")
        .await
        .unwrap_err();
    match &error {
        ClientError::RateLimited { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)))
        }
        other => panic!("expected RateLimited, got {other}"),
    }
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(
        error.to_string(),
        format!("rate limited by {}, retry after 3600 s", fake.host())
    );
    assert_eq!(count(&fake, Method::GET, "/manifests/v1"), 1);
}

#[tokio::test]
async fn persistent_server_errors_end_in_a_registry_error() {
    let fake = Fake::start(Options::default()).await;
    fake.fault(
        Method::GET,
        "/manifests/v1",
        100,
        FaultAction::Status(500, None),
    );
    let error = client_with(&fake, None)
        .get_manifest("me/app", "v1")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Registry);
    assert_eq!(
        error.to_string(),
        format!("{} answered 500: UNKNOWN: injected failure", fake.host())
    );
    assert_eq!(count(&fake, Method::GET, "/manifests/v1"), 4);
}

// ---- Uploads ----

#[tokio::test]
async fn dropped_connection_mid_patch_resumes_from_the_reported_offset() {
    let fake = Fake::start(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 4 * CHUNK as usize + 123);
    // The second PATCH breaks after 5000 of its bytes; the registry keeps them.
    fault_second_patch(&fake, FaultAction::DropRequestAfter(5000));
    let client = client_with(&fake, None);
    let progress = Recorder::default();
    let pushed = push_to_app(&client, &path, &digest, &content, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 1 });
    assert_eq!(fake.blob(&digest).unwrap(), content);
    assert_eq!(count(&fake, Method::GET, "/blobs/uploads/"), 1);
    let resumed_from = CHUNK + 5000;
    assert_eq!(*progress.restarts.lock().unwrap(), [resumed_from]);
    let ranges: Vec<String> = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::PATCH)
        .filter_map(|s| s.content_range.clone())
        .collect();
    assert_eq!(
        ranges[2],
        format!("{resumed_from}-{}", resumed_from + CHUNK - 1)
    );
    // Sessions are followed through their Location, query kept.
    let last_put = fake
        .seen()
        .into_iter()
        .rfind(|s| s.method == Method::PUT)
        .unwrap();
    assert!(last_put.query.starts_with("state="), "{}", last_put.query);
    assert!(
        last_put.query.contains("digest=sha256"),
        "{}",
        last_put.query
    );
}

#[tokio::test]
async fn stalled_patch_is_abandoned_and_resumed() {
    let fake = Fake::start(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 3 * CHUNK as usize);
    fault_second_patch(&fake, FaultAction::StallRequestAfter(1000));
    let pushed = push_to_app(
        &impatient_client(&fake),
        &path,
        &digest,
        &content,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 1 });
    assert_eq!(fake.blob(&digest).unwrap(), content);
    assert_eq!(count(&fake, Method::GET, "/blobs/uploads/"), 1);
}

#[tokio::test]
async fn lost_upload_session_starts_over_once() {
    let fake = Fake::start(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 3 * CHUNK as usize);
    fault_second_patch(&fake, FaultAction::DropRequestAndForgetSession(100));
    let client = client_with(&fake, None);
    let progress = Recorder::default();
    let pushed = push_to_app(&client, &path, &digest, &content, &progress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 1 });
    assert_eq!(fake.blob(&digest).unwrap(), content);
    assert_eq!(count(&fake, Method::POST, "/blobs/uploads/"), 2);
    assert_eq!(*progress.restarts.lock().unwrap(), [0]);
}

#[tokio::test]
async fn server_errors_on_chunks_resume_and_are_bounded() {
    let fake = Fake::start(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 2 * CHUNK as usize + 1);
    fault_second_patch(&fake, FaultAction::Status(502, None));
    let client = client_with(&fake, None);
    let pushed = push_to_app(&client, &path, &digest, &content, &NoProgress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 1 });
    assert_eq!(fake.blob(&digest).unwrap(), content);

    let other = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(other.path(), 2 * CHUNK as usize + 2);
    fake.fault(
        Method::PATCH,
        "/blobs/uploads/",
        100,
        FaultAction::Status(503, None),
    );
    let error = push_to_app(&client, &path, &digest, &content, &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Registry, "{error}");
    // Three chunks and the failed one, then four failed attempts.
    assert_eq!(count(&fake, Method::PATCH, "/blobs/uploads/"), 4 + 4);
}

#[tokio::test]
async fn small_blob_goes_in_one_put_and_honours_chunk_min_length() {
    let fake = Fake::start(Options {
        chunk_min: Some(3 * CHUNK),
        ..Options::default()
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (path, digest, content) = blob_file(work.path(), 100);
    let client = client_with(&fake, None);
    let pushed = client
        .push_blob_file("team/app", &digest, 100, &path, None, &NoProgress)
        .await
        .unwrap();
    assert_eq!(pushed, BlobPush::Uploaded { resumed: 0 });
    assert_eq!(count(&fake, Method::PATCH, "/blobs/uploads/"), 0);
    assert_eq!(fake.blob(&digest).unwrap(), content);

    let (path, digest, content) = blob_file(work.path(), 7 * CHUNK as usize);
    push_to_app(&client, &path, &digest, &content, &NoProgress)
        .await
        .unwrap();
    let chunk = 3 * CHUNK as usize;
    assert_eq!(fake.patches(), [chunk, chunk, CHUNK as usize]);
    assert_eq!(fake.blob(&digest).unwrap(), content);
}

// ---- Downloads ----

#[tokio::test]
async fn dropped_download_resumes_with_range() {
    let fake = Fake::start(Options::default()).await;
    let content = pattern(200_000);
    let digest = fake.put_blob("team/app", &content);
    fake.fault(
        Method::GET,
        "/blobs/sha256",
        1,
        FaultAction::CutResponseAfter(70_000),
    );
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("blob");
    let progress = Recorder::default();
    let written = client_with(&fake, None)
        .pull_blob_to_file("team/app", &digest, Some(200_000), &dest, &progress)
        .await
        .unwrap();
    assert_eq!(written, 200_000);
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    let gets: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == Method::GET)
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].range, None);
    let resumed_at: u64 = gets[1].range.as_deref().unwrap()["bytes=".len()..]
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(resumed_at > 0 && resumed_at <= 70_000, "{resumed_at}");
    assert_eq!(*progress.restarts.lock().unwrap(), [resumed_at]);
}

#[tokio::test]
async fn stalled_download_is_abandoned_and_resumed() {
    let fake = Fake::start(Options::default()).await;
    let content = pattern(100_000);
    let digest = fake.put_blob("team/app", &content);
    fake.fault(
        Method::GET,
        "/blobs/sha256",
        1,
        FaultAction::StallResponseAfter(30_000),
    );
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("blob");
    impatient_client(&fake)
        .pull_blob_to_file("team/app", &digest, Some(100_000), &dest, &NoProgress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    let ranges: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == Method::GET)
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=30000-".to_owned())]);
}

#[tokio::test]
async fn download_restarts_when_the_range_is_ignored() {
    let fake = Fake::start(Options::default()).await;
    let content = pattern(150_000);
    let digest = fake.put_blob("team/app", &content);
    fake.fault(
        Method::GET,
        "/blobs/sha256",
        1,
        FaultAction::CutResponseAfter(50_000),
    );
    fake.fault_after(Method::GET, "/blobs/sha256", 1, 1, FaultAction::IgnoreRange);
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("blob");
    let progress = Recorder::default();
    client_with(&fake, None)
        .pull_blob_to_file("team/app", &digest, None, &dest, &progress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    assert_eq!(progress.restarts.lock().unwrap().last(), Some(&0));
}

#[tokio::test]
async fn redirected_download_drops_authorization_on_the_other_host() {
    let fake = Fake::start(Options {
        auth: AuthMode::Basic,
        redirect_blobs: true,
        ..Options::default()
    })
    .await;
    let content = pattern(10_000);
    let digest = fake.put_blob("team/app", &content);
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("blob");
    client_with(&fake, basic(PASSWORD))
        .pull_blob_to_file("team/app", &digest, Some(10_000), &dest, &NoProgress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
    let seen = fake.seen();
    let registry_get = seen
        .iter()
        .rfind(|s| s.server == "registry" && s.method == Method::GET)
        .unwrap();
    assert!(
        registry_get
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
    let cdn_get = seen.iter().find(|s| s.server == "cdn").unwrap();
    assert_eq!(cdn_get.authorization, None);
    assert_eq!(cdn_get.query, format!("sig={SIGNATURE}"));
}

#[tokio::test]
async fn unreachable_redirect_target_error_holds_no_signature() {
    let fake = Fake::start(Options {
        redirect_blobs: true,
        ..Options::default()
    })
    .await;
    let content = pattern(100);
    let digest = fake.put_blob("team/app", &content);
    fake.fault(Method::GET, "/cdn/", 100, FaultAction::CutResponseAfter(0));
    let work = tempfile::tempdir().unwrap();
    let error = client_with(&fake, None)
        .pull_blob_to_file(
            "team/app",
            &digest,
            None,
            &work.path().join("blob"),
            &NoProgress,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(SIGNATURE), "{text}");
    assert!(std::fs::read_dir(work.path()).unwrap().next().is_none());
}

// ---- Manifests and listings ----

#[tokio::test]
async fn manifest_with_a_wrong_announced_digest_is_refused() {
    let fake = Fake::start(Options::default()).await;
    fake.put_manifest(
        "me/app",
        "v1",
        media_types::OCI_MANIFEST,
        b"{}",
        Digest::sha256(b"other").as_str(),
    );
    let error = client_with(&fake, None)
        .get_manifest("me/app", "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::DigestMismatch { .. }),
        "{error}"
    );
    let asked = Digest::sha256(b"asked");
    fake.put_manifest(
        "me/app",
        asked.as_str(),
        media_types::OCI_MANIFEST,
        b"{}",
        asked.as_str(),
    );
    let error = client_with(&fake, None)
        .get_manifest("me/app", asked.as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::DigestMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn tags_follow_link_pagination() {
    let fake = Fake::start(Options::default()).await;
    for tag in ["a", "b", "c", "d", "e"] {
        put_empty_manifest(&fake, tag);
    }
    let tags = client_with(&fake, None).list_tags("me/app").await.unwrap();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
    assert_eq!(count(&fake, Method::GET, "/tags/list"), 3);
}

#[tokio::test]
async fn referrers_fall_back_to_the_tag_schema() {
    let fake = Fake::start(Options {
        referrers_api: false,
        ..Options::default()
    })
    .await;
    let subject = Digest::sha256(b"subject");
    let signature = Digest::sha256(b"signature");
    let sbom = Digest::sha256(b"sbom");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [
            {"mediaType": media_types::OCI_MANIFEST, "digest": signature, "size": 10, "artifactType": "application/vnd.example.signature"},
            {"mediaType": media_types::OCI_MANIFEST, "digest": sbom, "size": 20, "artifactType": "application/vnd.example.sbom"},
        ],
    })
    .to_string();
    let tag = format!("sha256-{}", subject.hex());
    fake.put_manifest(
        "me/app",
        Box::leak(tag.into_boxed_str()),
        media_types::OCI_INDEX,
        index.as_bytes(),
        Digest::sha256(index.as_bytes()).as_str(),
    );
    let client = client_with(&fake, None);
    let all = client.referrers("me/app", &subject, None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.digest.clone()).collect::<Vec<_>>(),
        [signature.clone(), sbom]
    );
    let signatures = client
        .referrers(
            "me/app",
            &subject,
            Some("application/vnd.example.signature"),
        )
        .await
        .unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0].digest, signature);
    let none = client
        .referrers("me/app", &Digest::sha256(b"lonely"), None)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn error_envelopes_and_denials_read_well() {
    let fake = Fake::start(Options::default()).await;
    fake.fault(
        Method::PUT,
        "/manifests/",
        1,
        FaultAction::Status(400, None),
    );
    let client = client_with(&fake, None);
    let error = client
        .put_manifest(
            "me/app",
            "v1",
            media_types::OCI_MANIFEST,
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{} answered 400: UNKNOWN: injected failure", fake.host())
    );
    fake.fault(
        Method::PUT,
        "/manifests/",
        1,
        FaultAction::Status(403, None),
    );
    let error = client
        .put_manifest(
            "me/app",
            "v1",
            media_types::OCI_MANIFEST,
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert_eq!(
        error.to_string(),
        format!("access denied by {}: injected failure", fake.host())
    );
}

#[tokio::test]
async fn unreachable_registry_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    let options = ClientOptions {
        retry: tiny_retries(),
        ..ClientOptions::default()
    };
    let client = RegistryClient::new(&RegistryLocation::parse(&host).unwrap(), options).unwrap();
    let error = client.get_manifest("me/app", "v1").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect);
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot connect to {host}: ")),
        "{error}"
    );
}

#[test]
fn client_is_shareable_and_its_futures_can_be_spawned() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn spawnable<T: Send>(_: T) {}
    shareable::<RegistryClient>();
    let location = RegistryLocation::parse("localhost:1").unwrap();
    let client = RegistryClient::new(&location, ClientOptions::default()).unwrap();
    let digest = Digest::sha256(b"");
    let path = Path::new("unused");
    spawnable(client.push_blob_file("a", &digest, 0, path, Some("b"), &NoProgress));
    spawnable(client.pull_blob_to_file("a", &digest, None, path, &NoProgress));
    spawnable(client.get_manifest("a", "latest"));
    spawnable(client.check_login());
}

#[test]
fn options_are_checked() {
    let location = RegistryLocation::parse("localhost:1").unwrap();
    for options in [
        ClientOptions {
            chunk_size: 0,
            ..ClientOptions::default()
        },
        ClientOptions {
            idle_timeout: Duration::ZERO,
            ..ClientOptions::default()
        },
    ] {
        let error = RegistryClient::new(&location, options).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Usage);
    }
    let docker_hub = RegistryLocation::parse("docker.io").unwrap();
    let client = RegistryClient::new(&docker_hub, ClientOptions::default()).unwrap();
    assert_eq!(client.registry(), "docker.io");
}
