//! `sentinel-registry reindex`: rebuilds the package catalogue from the
//! stored manifests, reading every package again (its definition and
//! README). Deprecations and download counts are kept. Run it while the
//! server is stopped (the index file is locked by a running server).

use crate::service::{RegistryError, Reindexed};

/// Why `reindex` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    /// The data could not be opened (a running server holds the index, for one).
    #[error(transparent)]
    Open(#[from] crate::StartError),
    /// Reading the index or storage, or writing the catalogue, failed midway.
    #[error("the rebuild could not finish")]
    Rebuild(#[source] RegistryError),
}

/// Rebuilds the catalogue of the data named by `settings`.
pub async fn reindex(settings: &crate::Settings) -> Result<Reindexed, ReindexError> {
    let (registry, _, _, _) = crate::server::open(settings)?;
    let done = registry
        .reindex(true)
        .await
        .map_err(ReindexError::Rebuild)?;
    registry
        .close_catalogue()
        .await
        .map_err(ReindexError::Rebuild)?;
    Ok(done)
}
