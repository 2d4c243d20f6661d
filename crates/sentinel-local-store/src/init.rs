//! Creating a layout in an empty directory, or checking an existing one.

use std::fs;

use crate::durable::{self, is_not_found};
use crate::error::{IoContext, LocalStoreError};
use crate::index_file;
use crate::lock::StoreLock;
use crate::paths::{BLOBS_DIR, INDEX_FILE, INGEST_DIR, LOCK_FILE, LayoutPaths, OCI_LAYOUT_FILE};

/// The only `imageLayoutVersion` this crate reads and writes.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";

/// Makes `paths.root()` a usable layout: creates the layout if it has no
/// `oci-layout` file yet, otherwise checks its version and that `index.json`
/// exists. Adds the `blobs/sha256` and `ingest` directories if absent.
pub(crate) fn prepare(paths: &LayoutPaths) -> Result<(), LocalStoreError> {
    if let Some(marker) = read_marker(paths)? {
        check_version(paths, &marker)?;
        if !exists(&paths.index())? {
            return Err(LocalStoreError::MissingIndex {
                path: paths.index(),
            });
        }
        return create_directories(paths);
    }
    refuse_foreign_directory(paths)?;
    let _lock = StoreLock::acquire(paths)?;
    create_directories(paths)?;
    // Another process may have created the layout while this one waited.
    if read_marker(paths)?.is_none() {
        // index.json first: once oci-layout exists, index.json is known to.
        if !exists(&paths.index())? {
            index_file::write(&index_file::empty(), paths)?;
        }
        let marker = serde_json::json!({ "imageLayoutVersion": IMAGE_LAYOUT_VERSION });
        durable::write_atomically(
            &paths.ingest(),
            &paths.oci_layout(),
            marker.to_string().as_bytes(),
        )?;
    }
    Ok(())
}

/// The `oci-layout` file's bytes, or `None` if there is none.
fn read_marker(paths: &LayoutPaths) -> Result<Option<Vec<u8>>, LocalStoreError> {
    let path = paths.oci_layout();
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(LocalStoreError::io("read", path, e)),
    }
}

/// Adds `blobs/sha256` and `ingest` if absent (a layout another tool wrote lacks `ingest`).
fn create_directories(paths: &LayoutPaths) -> Result<(), LocalStoreError> {
    for dir in [paths.blobs().join("sha256"), paths.ingest()] {
        fs::create_dir_all(&dir).at("create directory", &dir)?;
    }
    Ok(())
}

fn exists(path: &std::path::Path) -> Result<bool, LocalStoreError> {
    path.try_exists().at("inspect", path)
}

/// Refuses a directory holding anything but the layout's own files, so that
/// a mistyped store path never turns an unrelated directory into a store.
fn refuse_foreign_directory(paths: &LayoutPaths) -> Result<(), LocalStoreError> {
    let root = paths.root();
    for entry in fs::read_dir(root).at("list", root)? {
        let name = entry.at("list", root)?.file_name();
        let name = name.to_string_lossy();
        let ours = [
            BLOBS_DIR,
            INDEX_FILE,
            INGEST_DIR,
            LOCK_FILE,
            OCI_LAYOUT_FILE,
        ]
        .contains(&name.as_ref());
        if !ours {
            return Err(LocalStoreError::NotALayout {
                path: root.to_path_buf(),
                entry: name.into_owned(),
            });
        }
    }
    Ok(())
}

/// Checks the `oci-layout` file's `imageLayoutVersion`.
fn check_version(paths: &LayoutPaths, bytes: &[u8]) -> Result<(), LocalStoreError> {
    let path = paths.oci_layout();
    let malformed = |reason: String| LocalStoreError::MalformedLayoutFile {
        path: path.clone(),
        reason,
    };
    let marker: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let version = marker
        .get("imageLayoutVersion")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("it has no imageLayoutVersion string".to_owned()))?;
    if version != IMAGE_LAYOUT_VERSION {
        return Err(LocalStoreError::UnsupportedLayoutVersion {
            path,
            version: version.to_owned(),
        });
    }
    Ok(())
}
