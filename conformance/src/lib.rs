//! Sentinel's own conformance suite for the OCI Distribution Spec v1.1.
//!
//! The suite lives in `tests/`; this library holds the harness that every test
//! uses: [`TestRegistry`] starts the real `sentinel-registry` server on
//! `127.0.0.1:0` with a temporary data directory, and a few helpers compute
//! digests and build requests the way the specification describes them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running registry on a free loopback port, with its own data directory.
///
/// Dropping it stops the server; [`TestRegistry::restart`] stops it and starts a
/// new one on the same data directory (a new port), as an operator's restart would.
pub struct TestRegistry {
    addr: SocketAddr,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts a registry with a fresh temporary data directory.
    pub async fn start() -> Self {
        let temp = tempfile::tempdir().expect("create a temporary data directory");
        let data_dir = temp.path().to_path_buf();
        let mut registry = Self::start_on(&data_dir).await;
        registry._temp = Some(temp);
        registry
    }

    async fn start_on(data_dir: &Path) -> Self {
        let settings = sentinel_registry::Settings {
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            data_dir: data_dir.to_path_buf(),
            ..sentinel_registry::Settings::default()
        };
        let server = sentinel_registry::Server::bind(settings)
            .await
            .expect("start the registry");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let mut next = Self::start_on(&self.data_dir).await;
        next._temp = self._temp.take();
        next
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task ends cleanly");
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// The registry's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `sha256:<hex>` digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An HTTP client that never follows redirects, so tests see every status as sent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build an HTTP client")
}
