//! Running garbage collection (see `service/gc.rs` and docs/gc.md) from the
//! three places that start it: the schedule (`--gc-interval`), `POST
//! /api/v1/gc` (what `sentinel-registry gc` asks a running server), and
//! `sentinel-registry gc` on a stopped server. Each run applies the
//! retention policies first (so the versions they delete are freed by the
//! same run), logs one line, counts into the metrics when they are on, and
//! records an `io.sentinel.gc.completed` event for the webhooks.

use std::time::Duration;

use crate::metrics::Metrics;
use crate::service::{GcOptions, GcReport, Registry, RegistryError};

/// Runs one collection with `options`, logs its figures and counts them in
/// `metrics`.
pub(crate) async fn run(
    registry: &Registry,
    metrics: Option<&Metrics>,
    options: GcOptions,
) -> Result<GcReport, RegistryError> {
    // Retention first: the versions it deletes are freed by this very run
    // (a dry run counts what they would free).
    let retired = match registry.apply_retention(options.dry_run).await {
        Ok(retention) => {
            for (version, why) in &retention.failed {
                tracing::warn!(
                    repository = %version.repository,
                    version = %version.version,
                    error = %why,
                    "retention could not delete a package version"
                );
            }
            retention.removed
        }
        Err(error) => {
            tracing::warn!(%error, "the retention policies could not be applied; collecting garbage anyway");
            Vec::new()
        }
    };
    let report = match registry.collect_garbage(options, &retired).await {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, "garbage collection failed; the next run starts over");
            return Err(error);
        }
    };
    tracing::info!(
        dry_run = report.dry_run,
        repositories = report.repositories,
        manifests = report.manifests_deleted,
        blob_links = report.blob_links_removed,
        blobs = report.blobs_deleted,
        bytes = report.bytes_freed,
        uploads = report.uploads_expired,
        versions_retired = report.versions_retired,
        duration_ms = report.duration_ms,
        "garbage collection {}",
        if report.dry_run {
            "dry run finished"
        } else {
            "finished"
        }
    );
    if let Some(metrics) = metrics
        && !report.dry_run
    {
        metrics.record_gc(&report);
    }
    if !report.dry_run {
        completed(registry, &report).await;
    }
    Ok(report)
}

/// Records an `io.sentinel.gc.completed` event with the run's figures for
/// the webhooks that want it; failing to is only logged.
async fn completed(registry: &Registry, report: &GcReport) {
    let details = match serde_json::to_value(report) {
        Ok(serde_json::Value::Object(details)) => details,
        _ => serde_json::Map::new(),
    };
    let data = sentinel_webhooks::EventData {
        details,
        ..sentinel_webhooks::EventData::default()
    };
    if let Err(error) = registry
        .emit(sentinel_webhooks::EventKind::GC_COMPLETED, None, data)
        .await
    {
        tracing::warn!(%error, "could not record the garbage collection's event for the webhooks");
    }
}

/// Runs a collection every `interval` with grace period `grace`, the first
/// one interval from now; failures are logged and the next run tries again.
pub(crate) async fn periodically(
    registry: Registry,
    metrics: Option<std::sync::Arc<Metrics>>,
    interval: Duration,
    grace: Duration,
) {
    let first = tokio::time::Instant::now() + interval;
    let mut ticks = tokio::time::interval_at(first, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let _ = run(&registry, metrics.as_deref(), GcOptions::new(false, grace)).await;
    }
}

/// Collects garbage in the data named by `settings` while the server is
/// stopped (the index is locked by a running server).
pub async fn offline(
    settings: &crate::Settings,
    dry_run: bool,
    grace: Duration,
) -> Result<GcReport, OfflineGcError> {
    let (registry, _, _, _) = crate::server::open(settings)?;
    let report = run(&registry, None, GcOptions::new(dry_run, grace)).await?;
    if let Err(error) = registry.close_catalogue().await {
        tracing::warn!(%error, "could not close the package catalogue cleanly; the next start checks it");
    }
    Ok(report)
}

/// Why an offline collection failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineGcError {
    /// The data could not be opened (a running server holds the index, for one).
    #[error(transparent)]
    Open(#[from] crate::StartError),
    /// The collection failed midway (what it did so far stays done).
    #[error("garbage collection failed")]
    Collect(#[from] RegistryError),
}
