//! Sentinel's own conformance suite for the OCI Distribution Spec v1.1.
//!
//! The suite lives in `tests/`; this library holds the harness that every test
//! uses: [`TestRegistry`] starts the real `sentinel-registry` server on
//! `127.0.0.1:0` with a temporary data directory, and a few helpers compute
//! digests and build requests the way the specification describes them.
//!
//! Blobs go to the data directory, or, when `SENTINEL_TEST_STORAGE` names an
//! object store URL (e.g. `s3://bucket/prefix`, with the backend's usual
//! environment variables), to a fresh prefix under it for each registry, so
//! the whole suite runs against every storage backend.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The bootstrap admin's password in registries started with authentication on.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A running registry on a free loopback port, with its own data directory.
///
/// Dropping it stops the server; [`TestRegistry::restart`] stops it and starts a
/// new one on the same data directory (a new port), as an operator's restart would.
pub struct TestRegistry {
    addr: SocketAddr,
    data_dir: PathBuf,
    storage: Option<String>,
    configure: fn(&mut sentinel_registry::Settings),
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts a registry with a fresh temporary data directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a registry with a fresh temporary data directory and settings
    /// changed by `configure` (which [`TestRegistry::restart`] applies again).
    /// With authentication on, the bootstrap admin's password is
    /// [`ADMIN_PASSWORD`].
    pub async fn start_with(configure: fn(&mut sentinel_registry::Settings)) -> Self {
        let temp = tempfile::tempdir().expect("create a temporary data directory");
        let data_dir = temp.path().to_path_buf();
        let storage = std::env::var("SENTINEL_TEST_STORAGE")
            .ok()
            .filter(|base| !base.is_empty())
            .map(|base| format!("{}/{}", base.trim_end_matches('/'), uuid::Uuid::new_v4()));
        let mut registry = Self::start_on(&data_dir, storage, configure).await;
        registry._temp = Some(temp);
        registry
    }

    async fn start_on(
        data_dir: &Path,
        storage: Option<String>,
        configure: fn(&mut sentinel_registry::Settings),
    ) -> Self {
        let mut settings = sentinel_registry::Settings {
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            data_dir: data_dir.to_path_buf(),
            storage: storage.clone(),
            ..sentinel_registry::Settings::default()
        };
        configure(&mut settings);
        if settings.auth == Some(true) && !data_dir.join("auth.json").exists() {
            // The bootstrap admin's password: written to the users file
            // before the server reads it, so no test touches the environment.
            sentinel_auth::AuthStore::new(data_dir)
                .update(|state| {
                    state.add_user(
                        sentinel_registry::BOOTSTRAP_ADMIN,
                        ADMIN_PASSWORD,
                        sentinel_auth::Role::Admin,
                        0,
                    )
                })
                .expect("create the admin user");
        }
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
            storage,
            configure,
            _temp: None,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let mut next = Self::start_on(&self.data_dir, self.storage.take(), self.configure).await;
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

    /// The registry's blob storage, opened on the side.
    fn object_store(&self) -> std::sync::Arc<dyn object_store::ObjectStore> {
        let location: sentinel_storage::StorageLocation = match &self.storage {
            Some(url) => url.parse().expect("a storage URL"),
            None => sentinel_storage::StorageLocation::Local(self.data_dir.join("storage")),
        };
        location.open().expect("open the registry's storage").0
    }

    /// Every object left under `uploads/` in storage (unfinished upload parts).
    pub async fn upload_objects(&self) -> Vec<String> {
        use futures_util::TryStreamExt as _;
        let prefix = object_store::path::Path::from("uploads");
        self.object_store()
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("list the upload objects")
    }

    /// Deletes the stored bytes of blob `digest` behind the registry's back,
    /// as a lost disk or a cleared bucket would.
    pub async fn lose_blob(&self, digest: &str) {
        use object_store::ObjectStoreExt as _;
        let store = self.object_store();
        let (algorithm, hex) = digest.split_once(':').expect("algorithm:hex");
        let path = object_store::path::Path::from_iter(["blobs", algorithm, &hex[..2], hex]);
        store.delete(&path).await.expect("delete the blob's object");
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
