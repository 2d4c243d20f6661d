//! The server's Prometheus metrics, with `prometheus-client`.
//!
//! Every request is observed once, by the access-log middleware, under
//! bounded labels: the API, the kind of endpoint (never the repository), the
//! method (unknown ones folded into `other`) and the status code. Pushes,
//! pulls, package downloads, authentication failures and rate-limited
//! requests are read from the same observation. Storage figures are gauges
//! set in the background (see `server.rs`), never computed per scrape.
//!
//! Why `prometheus-client` rather than `metrics` and its exporter: its
//! metrics are plain typed values held here, so a request costs one hash-map
//! lookup under a read lock and a few atomic or briefly locked updates, with
//! no global recorder and no per-call key building; and it is the Prometheus
//! project's own Rust client.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The HTTP API a request went to.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
#[repr(usize)]
pub(crate) enum Api {
    /// `/v2/`: the OCI Distribution API.
    oci,
    /// `/v1/packages/`.
    packages,
    /// `/api/v1/`: the management API.
    manage,
    /// `/token`.
    token,
    /// `/healthz`, `/health`, `/readyz`, `/ready`.
    health,
    /// `/metrics`.
    metrics,
    /// The web UI's pages and assets.
    ui,
    /// Any other path.
    other,
}

/// Every [`Api`], in the order of their values.
const APIS: [Api; 8] = [
    Api::oci,
    Api::packages,
    Api::manage,
    Api::token,
    Api::health,
    Api::metrics,
    Api::ui,
    Api::other,
];

/// Tells [`Metrics`] apart in the per-thread handle caches.
static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Each thread's handles on the request histograms it has used, so a
    /// request takes no lock shared with other threads to find its own (the
    /// labels are a bounded set, so is this).
    static DURATIONS: RefCell<HashMap<(u64, RequestLabels), Histogram>> =
        RefCell::new(HashMap::new());
}

/// The kind of endpoint within its API: a bounded set, never a repository.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum Endpoint {
    /// `/v2/`
    base,
    /// `/v2/_catalog`
    catalog,
    /// `/v2/<name>/tags/list`
    tags,
    /// `/v2/<name>/manifests/<reference>`
    manifest,
    /// `/v2/<name>/blobs/<digest>`
    blob,
    /// `/v2/<name>/blobs/uploads/...`
    upload,
    /// `/v2/<name>/referrers/<digest>`
    referrers,
    /// `/v1/packages/search`
    search,
    /// `/v1/packages/popular`
    popular,
    /// `/v1/packages/publish`
    publish,
    /// `/v1/packages/<name>/versions`
    versions,
    /// `/v1/packages/<name>/dependents`
    dependents,
    /// `/v1/packages/<name>/<version>/info`
    info,
    /// `/v1/packages/<name>/<version>/deprecate`
    deprecate,
    /// `/v1/packages/<name>/<version>`: the `.sntl` file (or its deletion).
    version,
    /// `/api/v1/users...`
    users,
    /// `/api/v1/tokens...`
    tokens,
    /// `/api/v1/orgs...`
    orgs,
    /// `/api/v1/repositories...`
    repositories,
    /// `/api/v1/signature-policies...`
    signature_policies,
    /// `/api/v1/webhooks...`
    webhooks,
    /// `/api/v1/retention-policies...`, `/api/v1/retention/run`
    retention,
    /// `/api/v1/immutability-rules...`
    immutability_rules,
    /// `/api/v1/quotas...`, `/api/v1/namespaces/<ns>/usage`
    quotas,
    /// `/api/v1/whoami`
    whoami,
    /// `/api/v1/logs`
    logs,
    /// `/api/v1/audit`
    audit,
    /// `/api/v1/gc`
    gc,
    /// `/token`
    token,
    /// `/healthz`, `/health`
    live,
    /// `/readyz`, `/ready`
    ready,
    /// `/metrics`
    metrics,
    /// A page of the web UI
    page,
    /// `/assets/...`: the UI's stylesheet, script and icon
    asset,
    /// A path no endpoint answers.
    unknown,
}

/// The request method, unknown ones folded together.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::upper_case_acronyms)]
#[allow(non_camel_case_types)]
pub(crate) enum MethodLabel {
    /// `GET`
    GET,
    /// `HEAD`
    HEAD,
    /// `PUT`
    PUT,
    /// `POST`
    POST,
    /// `PATCH`
    PATCH,
    /// `DELETE`
    DELETE,
    /// `OPTIONS`
    OPTIONS,
    /// Any other method.
    other,
}

impl From<&Method> for MethodLabel {
    fn from(method: &Method) -> Self {
        match *method {
            Method::GET => MethodLabel::GET,
            Method::HEAD => MethodLabel::HEAD,
            Method::PUT => MethodLabel::PUT,
            Method::POST => MethodLabel::POST,
            Method::PATCH => MethodLabel::PATCH,
            Method::DELETE => MethodLabel::DELETE,
            Method::OPTIONS => MethodLabel::OPTIONS,
            _ => MethodLabel::other,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: Api,
    endpoint: Endpoint,
    method: MethodLabel,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: Api,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// One answered request, as the middleware saw it.
pub(crate) struct Observed {
    /// Its API.
    pub api: Api,
    /// Its kind of endpoint.
    pub endpoint: Endpoint,
    /// Its method.
    pub method: MethodLabel,
    /// The response's status.
    pub status: StatusCode,
    /// Whether the request carried an `Authorization` header.
    pub had_credentials: bool,
    /// Body bytes received.
    pub received: u64,
    /// Body bytes sent (as announced).
    pub sent: u64,
    /// Seconds from the request's arrival to its response's head.
    pub seconds: f64,
}

/// Figures the server measures in the background.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// Blobs in the blob store.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// The metadata index file's size.
    pub index_bytes: u64,
    /// The package catalogue file's size.
    pub catalogue_bytes: u64,
    /// Upload sessions open.
    pub upload_sessions: u64,
}

/// What became of one webhook delivery attempt.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum DeliveryOutcome {
    /// The receiver answered 2xx.
    delivered,
    /// It failed and will be retried.
    failed,
    /// It failed and the retry window is over: the event is dropped.
    given_up,
    /// The receiver answered 410 Gone: the webhook was disabled.
    gone,
}

/// The label of a webhook delivery attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    result: DeliveryOutcome,
}

/// Every metric the server exports.
pub(crate) struct Metrics {
    id: u64,
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    /// Bytes received, by [`Api`] value.
    received: [Counter; APIS.len()],
    /// Bytes sent, by [`Api`] value.
    sent: [Counter; APIS.len()],
    uploads_in_progress: Gauge,
    pushes: Counter,
    pulls: Counter,
    package_downloads: Counter,
    auth_failures: Counter,
    rate_limited: Counter,
    blobs: Gauge<u64, AtomicU64>,
    blob_bytes: Gauge<u64, AtomicU64>,
    index_bytes: Gauge<u64, AtomicU64>,
    catalogue_bytes: Gauge<u64, AtomicU64>,
    upload_sessions: Gauge<u64, AtomicU64>,
    gc_runs: Counter,
    gc_manifests: Counter,
    gc_blob_links: Counter,
    gc_blobs: Counter,
    gc_bytes: Counter,
    gc_last_duration: Gauge<f64, AtomicU64>,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    webhook_pending: Gauge<u64, AtomicU64>,
    webhook_pulls_dropped: Counter,
    namespace_usage: Family<NamespaceLabels, Gauge<u64, AtomicU64>>,
    namespace_quota: Family<NamespaceLabels, Gauge<u64, AtomicU64>>,
}

/// Request latency buckets, in seconds: 0.5 ms to 60 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

impl Metrics {
    /// Every metric at zero, registered under its name.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        registry.register_with_unit(
            "sentinel_http_request_duration",
            "HTTP requests answered, by API, endpoint kind, method and status, with the time to the response's head",
            Unit::Seconds,
            requests.clone(),
        );
        let received = Family::<ApiLabels, Counter>::default();
        registry.register_with_unit(
            "sentinel_http_received",
            "Request body bytes received, by API",
            Unit::Bytes,
            received.clone(),
        );
        let sent = Family::<ApiLabels, Counter>::default();
        registry.register_with_unit(
            "sentinel_http_sent",
            "Response body bytes sent (as announced), by API",
            Unit::Bytes,
            sent.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::<u64, AtomicU64>::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let uploads_in_progress = Gauge::default();
        registry.register(
            "sentinel_uploads_in_progress",
            "Requests carrying blob bytes right now",
            uploads_in_progress.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "sentinel_build_info",
            "The running build: always 1, with the version as a label",
            build,
        );
        let gc_last_duration = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "sentinel_gc_last_duration",
            "How long the last garbage collection run took",
            Unit::Seconds,
            gc_last_duration.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "sentinel_webhook_deliveries",
            "Webhook delivery attempts, by result (delivered, failed, given_up, gone)",
            webhook_deliveries.clone(),
        );
        let namespace_usage = Family::<NamespaceLabels, Gauge<u64, AtomicU64>>::default();
        registry.register_with_unit(
            "sentinel_namespace_usage",
            "Bytes of the distinct blobs each namespace's repositories hold",
            Unit::Bytes,
            namespace_usage.clone(),
        );
        let namespace_quota = Family::<NamespaceLabels, Gauge<u64, AtomicU64>>::default();
        registry.register_with_unit(
            "sentinel_namespace_quota",
            "The quota of each namespace that has one",
            Unit::Bytes,
            namespace_quota.clone(),
        );
        Metrics {
            webhook_deliveries,
            webhook_pending: gauge(
                &mut registry,
                "sentinel_webhook_pending_deliveries",
                "Webhook deliveries waiting to be delivered or retried",
            ),
            webhook_pulls_dropped: counter(
                &mut registry,
                "sentinel_webhook_pull_events_dropped",
                "Pull and download events dropped because their queue was full",
            ),
            id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
            requests,
            received: APIS.map(|api| received.get_or_create(&ApiLabels { api }).clone()),
            sent: APIS.map(|api| sent.get_or_create(&ApiLabels { api }).clone()),
            uploads_in_progress,
            pushes: counter(
                &mut registry,
                "sentinel_pushes",
                "Manifests pushed (PUT answered 201)",
            ),
            pulls: counter(
                &mut registry,
                "sentinel_pulls",
                "Manifests pulled (GET answered 200)",
            ),
            package_downloads: counter(
                &mut registry,
                "sentinel_package_downloads",
                "Package files downloaded through /v1/packages/ (GET answered 200)",
            ),
            auth_failures: counter(
                &mut registry,
                "sentinel_auth_failures",
                "Requests whose credentials were refused (401 to a request with an Authorization header)",
            ),
            rate_limited: counter(
                &mut registry,
                "sentinel_rate_limited",
                "Requests refused with 429 (rate limits, failed-login limits, upload bounds)",
            ),
            blobs: gauge(
                &mut registry,
                "sentinel_stored_blobs",
                "Blobs in the blob store",
            ),
            blob_bytes: gauge(
                &mut registry,
                "sentinel_stored_blob_bytes",
                "Bytes of the blobs in the blob store",
            ),
            index_bytes: gauge(
                &mut registry,
                "sentinel_index_bytes",
                "Size of the metadata index file",
            ),
            catalogue_bytes: gauge(
                &mut registry,
                "sentinel_catalogue_bytes",
                "Size of the package catalogue file",
            ),
            upload_sessions: gauge(
                &mut registry,
                "sentinel_upload_sessions",
                "Upload sessions open (started and neither finished nor expired)",
            ),
            gc_runs: counter(
                &mut registry,
                "sentinel_gc_runs",
                "Garbage collection runs finished (dry runs excluded)",
            ),
            gc_manifests: counter(
                &mut registry,
                "sentinel_gc_deleted_manifests",
                "Manifests deleted by garbage collection",
            ),
            gc_blob_links: counter(
                &mut registry,
                "sentinel_gc_removed_blob_links",
                "Blob links removed from repositories by garbage collection",
            ),
            gc_blobs: counter(
                &mut registry,
                "sentinel_gc_deleted_blobs",
                "Blobs whose bytes garbage collection deleted from storage",
            ),
            gc_bytes: counter(
                &mut registry,
                "sentinel_gc_freed_bytes",
                "Bytes garbage collection deleted from storage",
            ),
            gc_last_duration,
            namespace_usage,
            namespace_quota,
            registry,
        }
    }

    /// Counts one answered request.
    pub(crate) fn observe(&self, request: &Observed) {
        let labels = RequestLabels {
            api: request.api,
            endpoint: request.endpoint,
            method: request.method,
            status: request.status.as_u16(),
        };
        DURATIONS.with_borrow_mut(|handles| {
            handles
                .entry((self.id, labels))
                .or_insert_with_key(|(_, labels)| self.requests.get_or_create(labels).clone())
                .observe(request.seconds);
        });
        let api = request.api as usize;
        if request.received > 0 {
            self.received[api].inc_by(request.received);
        }
        if request.sent > 0 {
            self.sent[api].inc_by(request.sent);
        }
        match (
            request.api,
            request.endpoint,
            request.method,
            request.status,
        ) {
            (Api::oci, Endpoint::manifest, MethodLabel::PUT, StatusCode::CREATED) => {
                self.pushes.inc();
            }
            (Api::oci, Endpoint::manifest, MethodLabel::GET, StatusCode::OK) => {
                self.pulls.inc();
            }
            (Api::packages, Endpoint::version, MethodLabel::GET, StatusCode::OK) => {
                self.package_downloads.inc();
            }
            (_, _, _, StatusCode::UNAUTHORIZED) if request.had_credentials => {
                self.auth_failures.inc();
            }
            (_, _, _, StatusCode::TOO_MANY_REQUESTS) => {
                self.rate_limited.inc();
            }
            _ => {}
        }
    }

    /// Counts a finished garbage collection run.
    pub(crate) fn record_gc(&self, report: &crate::service::GcReport) {
        self.gc_runs.inc();
        self.gc_manifests.inc_by(report.manifests_deleted);
        self.gc_blob_links.inc_by(report.blob_links_removed);
        self.gc_blobs.inc_by(report.blobs_deleted);
        self.gc_bytes.inc_by(report.bytes_freed);
        // Milliseconds to seconds, for the exposition.
        #[allow(clippy::cast_precision_loss)]
        self.gc_last_duration
            .set(report.duration_ms as f64 / 1000.0);
    }

    /// Counts one webhook delivery attempt.
    pub(crate) fn webhook_delivery(&self, result: DeliveryOutcome) {
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels { result })
            .inc();
    }

    /// Sets the number of pending webhook deliveries.
    pub(crate) fn set_webhook_pending(&self, pending: u64) {
        self.webhook_pending.set(pending);
    }

    /// Counts `count` more pull events dropped.
    pub(crate) fn webhook_pulls_dropped(&self, count: u64) {
        self.webhook_pulls_dropped.inc_by(count);
    }

    /// Sets the background figures.
    pub(crate) fn set_usage(&self, usage: &Usage) {
        self.blobs.set(usage.blobs);
        self.blob_bytes.set(usage.blob_bytes);
        self.index_bytes.set(usage.index_bytes);
        self.catalogue_bytes.set(usage.catalogue_bytes);
        self.upload_sessions.set(usage.upload_sessions);
    }

    /// Sets the namespace gauges to `namespaces` (and only those).
    pub(crate) fn set_namespaces(&self, namespaces: &[crate::service::NamespaceUsage]) {
        self.namespace_usage.clear();
        self.namespace_quota.clear();
        for namespace in namespaces {
            let labels = NamespaceLabels {
                namespace: namespace.namespace.clone(),
            };
            self.namespace_usage
                .get_or_create(&labels)
                .set(namespace.usage);
            if let Some(quota) = namespace.quota {
                self.namespace_quota.get_or_create(&labels).set(quota);
            }
        }
    }

    /// The exposition, in the OpenMetrics text format, with the uploads in
    /// progress at `uploads` now.
    pub(crate) fn render(&self, uploads: u64) -> String {
        self.uploads_in_progress
            .set(i64::try_from(uploads).unwrap_or(i64::MAX));
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The content type of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(endpoint: Endpoint, method: MethodLabel, status: StatusCode) -> Observed {
        Observed {
            api: Api::oci,
            endpoint,
            method,
            status,
            had_credentials: true,
            received: 10,
            sent: 20,
            seconds: 0.002,
        }
    }

    #[test]
    fn apis_are_listed_in_the_order_of_their_values() {
        for (index, api) in APIS.iter().enumerate() {
            assert_eq!(*api as usize, index, "{api:?}");
        }
    }

    #[test]
    fn requests_pushes_and_pulls_appear_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.observe(&observed(
            Endpoint::manifest,
            MethodLabel::PUT,
            StatusCode::CREATED,
        ));
        metrics.observe(&observed(
            Endpoint::manifest,
            MethodLabel::GET,
            StatusCode::OK,
        ));
        metrics.observe(&observed(
            Endpoint::base,
            MethodLabel::GET,
            StatusCode::UNAUTHORIZED,
        ));
        metrics.set_usage(&Usage {
            blobs: 3,
            ..Usage::default()
        });
        metrics.set_namespaces(&[crate::service::NamespaceUsage {
            namespace: "acme".to_owned(),
            usage: 42,
            quota: Some(100),
        }]);
        let text = metrics.render(2);
        for line in [
            "sentinel_pushes_total 1",
            "sentinel_pulls_total 1",
            "sentinel_auth_failures_total 1",
            "sentinel_stored_blobs 3",
            "sentinel_namespace_usage_bytes{namespace=\"acme\"} 42",
            "sentinel_namespace_quota_bytes{namespace=\"acme\"} 100",
            "sentinel_uploads_in_progress 2",
            "sentinel_http_received_bytes_total{api=\"oci\"} 30",
            "sentinel_http_request_duration_seconds_count{api=\"oci\",endpoint=\"manifest\",method=\"GET\",status=\"200\"} 1",
            "sentinel_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
