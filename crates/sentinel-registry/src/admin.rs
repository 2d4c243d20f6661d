//! The admin socket: the management API (`/api/v1/...`) on a Unix socket in
//! the data directory, `run/admin.sock`, for the `sentinel-registry`
//! subcommands that need the running server (`gc`, `webhook test`, ...).
//!
//! Whoever can open the socket acts as the registry's administrator, with
//! or without `--auth`: the socket's directory is created mode 0700 and the
//! socket itself is mode 0600, so that is the user the server runs as (and
//! root). Nothing else listens on it; it is never reachable over the network.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use tokio::net::UnixListener;

/// The directory of the socket, under the data directory.
const SOCKET_DIR: &str = "run";
/// The socket's file name.
const SOCKET_FILE: &str = "admin.sock";

/// Where the admin socket of the data directory `data_dir` is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_DIR).join(SOCKET_FILE)
}

/// Why a request to the admin socket failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No server listens on the socket: it is not running on this data
    /// directory (or runs as a user who keeps the socket from us).
    #[error("no sentinel-registry server is running on {}", .0.display())]
    NotRunning(PathBuf),
    /// The request could not be made or its answer read.
    #[error("the request to the running server failed")]
    Request(#[source] reqwest::Error),
    /// The answer was not JSON.
    #[error("the running server's answer was not JSON")]
    Answer(#[source] serde_json::Error),
    /// The server answered with an error status (from [`call`] only).
    #[error("{message} ({status})")]
    Refused {
        /// The status of the answer.
        status: StatusCode,
        /// The message of the answer's error envelope
        /// (`{"errors":[{"code","message"}]}`), else the whole answer.
        message: String,
        /// The answer.
        answer: Value,
    },
}

/// Binds the admin socket of `data_dir`, replacing a socket file left by a
/// server that is gone (the index's lock, taken before, guarantees no other
/// server uses this data directory).
pub(crate) fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let path = socket_path(data_dir);
    let dir = data_dir.join(SOCKET_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    // An existing directory keeps its mode: make sure it is private.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves `app` on `listener` until `shutdown` completes, then removes the
/// socket file.
pub(crate) async fn serve(
    listener: UnixListener,
    app: Router,
    path: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(%error, "the admin socket stopped");
    }
    let _ = std::fs::remove_file(path);
}

/// Sends one request to the server running on `data_dir`: `method` on
/// `path_and_query` (starting `/api/v1/`), with `body` as JSON. Returns the
/// status and the JSON answer (`null` for an empty one).
pub async fn request(
    data_dir: &Path,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), AdminError> {
    let path = socket_path(data_dir);
    if !path.exists() {
        return Err(AdminError::NotRunning(path));
    }
    let client = reqwest::Client::builder()
        .unix_socket(path.as_path())
        .build()
        .map_err(AdminError::Request)?;
    let mut request = client.request(method, format!("http://localhost{path_and_query}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|error| {
        if error.is_connect() {
            AdminError::NotRunning(path.clone())
        } else {
            AdminError::Request(error)
        }
    })?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(AdminError::Request)?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(AdminError::Answer)?
    };
    Ok((status, value))
}

/// Like [`request`], for a success: its JSON answer (`null` for an empty
/// one); any other status is [`AdminError::Refused`].
pub async fn call(
    data_dir: &Path,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<Value, AdminError> {
    let (status, answer) = request(data_dir, method, path_and_query, body).await?;
    if status.is_success() {
        return Ok(answer);
    }
    let message = answer["errors"][0]["message"]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_owned);
    Err(AdminError::Refused {
        status,
        message,
        answer,
    })
}
