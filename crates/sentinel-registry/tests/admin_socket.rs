//! The admin socket: the management API on `<data-dir>/run/admin.sock`,
//! where the caller is the local administrator with or without `--auth`.

#[path = "support/process.rs"]
mod process;

use std::os::unix::fs::PermissionsExt as _;

use axum::http::{Method, StatusCode};
use process::Process;
use sentinel_registry::admin::{self, AdminError};

#[tokio::test]
async fn the_socket_serves_the_management_api_with_auth_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let socket = admin::socket_path(dir.path());
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "only the server's user may open it");
    assert_eq!(mode(socket.parent().unwrap()), 0o700);

    let (status, body) =
        admin::request(dir.path(), Method::GET, "/api/v1/signature-policies", None)
            .await
            .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["policies"], serde_json::json!([]));

    let (status, body) = admin::request(dir.path(), Method::GET, "/api/v1/whoami", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], "@admin-socket");
    assert_eq!(body["role"], "admin");

    // Without users there are none to manage, and the answer says why.
    let (status, body) = admin::request(dir.path(), Method::GET, "/api/v1/users", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("authentication is off"),
        "{body}"
    );

    // Over HTTP, with auth off, the management API stays closed.
    let answer = reqwest::get(server.url("/api/v1/signature-policies"))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);

    server.terminate();
    assert!(!socket.exists(), "a stopped server removes its socket");
    match admin::request(dir.path(), Method::GET, "/api/v1/whoami", None).await {
        Err(AdminError::NotRunning(path)) => assert_eq!(path, socket),
        other => panic!("expected NotRunning, got {other:?}"),
    }
}

#[tokio::test]
async fn the_socket_is_the_local_administrator_with_auth_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start_with(dir.path(), &["--auth"]);
    let (status, body) = admin::request(dir.path(), Method::GET, "/api/v1/users", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains("\"admin\""), "{body}");

    // Over HTTP the same request needs credentials.
    let answer = reqwest::get(server.url("/api/v1/users")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    server.terminate();
}

#[tokio::test]
async fn a_socket_left_by_a_killed_server_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    Process::start(dir.path()).kill();
    assert!(
        admin::socket_path(dir.path()).exists(),
        "kill -9 leaves the file"
    );
    match admin::request(dir.path(), Method::GET, "/api/v1/whoami", None).await {
        Err(AdminError::NotRunning(_)) => {}
        other => panic!("nothing listens on a dead server's socket: {other:?}"),
    }
    let server = Process::start(dir.path());
    let (status, _) = admin::request(dir.path(), Method::GET, "/api/v1/whoami", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    server.terminate();
}
