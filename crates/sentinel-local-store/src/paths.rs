//! Where each part of the layout lives under the store's root.

use std::path::{Path, PathBuf};

use sentinel_oci::Digest;

/// The `oci-layout` file's name.
pub(crate) const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The `index.json` file's name.
pub(crate) const INDEX_FILE: &str = "index.json";
/// The blobs directory's name.
pub(crate) const BLOBS_DIR: &str = "blobs";
/// The directory of files being written, on the same file system as the blobs.
pub(crate) const INGEST_DIR: &str = "ingest";
/// The file whose exclusive lock serialises writers of `index.json`.
pub(crate) const LOCK_FILE: &str = ".lock";

/// The paths of one layout, all derived from its root.
#[derive(Debug, Clone)]
pub(crate) struct LayoutPaths {
    root: PathBuf,
}

impl LayoutPaths {
    /// The paths of the layout at `root`.
    pub(crate) fn new(root: &Path) -> Self {
        LayoutPaths {
            root: root.to_path_buf(),
        }
    }

    /// The layout's root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/oci-layout`.
    pub(crate) fn oci_layout(&self) -> PathBuf {
        self.root.join(OCI_LAYOUT_FILE)
    }

    /// `<root>/index.json`.
    pub(crate) fn index(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// `<root>/.lock`.
    pub(crate) fn lock(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// `<root>/blobs`.
    pub(crate) fn blobs(&self) -> PathBuf {
        self.root.join(BLOBS_DIR)
    }

    /// `<root>/blobs/<alg>`.
    pub(crate) fn blob_dir(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.algorithm().as_str())
    }

    /// `<root>/blobs/<alg>/<hex>`.
    pub(crate) fn blob(&self, digest: &Digest) -> PathBuf {
        self.blob_dir(digest).join(digest.hex())
    }

    /// `<root>/ingest`.
    pub(crate) fn ingest(&self) -> PathBuf {
        self.root.join(INGEST_DIR)
    }

    /// A path under `ingest/` that no one else uses: `<prefix>-<uuid>`.
    pub(crate) fn fresh_ingest(&self, prefix: &str) -> PathBuf {
        self.ingest()
            .join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
    }
}
