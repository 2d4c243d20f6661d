//! Extracting a package file, verifying every file, with a way to stop.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sentinel_package::{UnpackOptions, UnpackSummary};

use crate::error::{Result, WorkflowError};

/// Unpacks `file` into `target` on a blocking thread; when `cancel` is set,
/// the thread stops and removes its partial output.
pub async fn unpack_file(
    file: &Path,
    target: &Path,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<UnpackSummary> {
    let reader = File::open(file).map_err(|source| WorkflowError::Open {
        path: file.to_path_buf(),
        source,
    })?;
    let target = target.to_path_buf();
    let options = UnpackOptions {
        cancel,
        ..UnpackOptions::default()
    };
    let summary = tokio::task::spawn_blocking(move || {
        sentinel_package::unpack(std::io::BufReader::new(reader), &target, &options)
    })
    .await
    .map_err(WorkflowError::UnpackThread)??;
    Ok(summary)
}
