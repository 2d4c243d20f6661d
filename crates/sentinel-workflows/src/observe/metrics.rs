//! `agent registry metrics`: Sentinel's `/metrics`, read twice a short
//! interval apart, summarised for a person.

use std::time::{Duration, Instant};

use sentinel_client::{RegistryClient, SentinelEndpoint};
use serde::Serialize;

use super::exposition::{Exposition, Sample};
use crate::error::{Result, WorkflowError};

/// The request counter: the `_count` of the request duration histogram.
const REQUESTS: &str = "sentinel_http_request_duration_seconds_count";
/// How many popular packages the summary lists.
const TOP_PACKAGES: u32 = 5;

/// A readable summary of a Sentinel registry's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSummary {
    /// The registry (host[:port]).
    pub registry: String,
    /// The server's version (`sentinel_build_info`).
    pub version: Option<String>,
    /// The seconds between the two samples the rates come from; `None` when
    /// one sample was taken and only totals are shown.
    pub interval_seconds: Option<f64>,
    /// Requests answered since the server started (scrapes of `/metrics` left out).
    pub requests: u64,
    /// Requests per second over the interval (the second scrape left out).
    pub requests_per_second: Option<f64>,
    /// Requests answered with a 5xx status since the server started.
    pub server_errors: u64,
    /// `server_errors / requests`, since the server started.
    pub error_rate: Option<f64>,
    /// The same share over the interval alone, when requests were answered in it.
    pub interval_error_rate: Option<f64>,
    /// Manifests pushed since the server started.
    pub pushes: u64,
    /// Manifests pulled since the server started.
    pub pulls: u64,
    /// Package files downloaded through the package API since the server started.
    pub package_downloads: u64,
    /// Requests carrying blob bytes right now.
    pub uploads_in_progress: u64,
    /// Upload sessions open.
    pub upload_sessions: Option<u64>,
    /// Blobs in the blob store (measured in the background, once a minute).
    pub stored_blobs: Option<u64>,
    /// Their bytes.
    pub stored_bytes: Option<u64>,
    /// The size of the metadata index file.
    pub index_bytes: Option<u64>,
    /// The size of the package catalogue file.
    pub catalogue_bytes: Option<u64>,
    /// Requests with credentials refused (401) since the server started.
    pub auth_failures: u64,
    /// Requests refused with 429 since the server started.
    pub rate_limited: u64,
    /// The most downloaded packages of the last 30 days that the caller may pull.
    pub top_packages: Vec<PopularPackage>,
    /// What each namespace stores, and its quota, by namespace.
    pub namespaces: Vec<NamespaceFigures>,
}

/// A namespace's usage and quota, from the namespace gauges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceFigures {
    /// The namespace (a user or an organisation).
    pub namespace: String,
    /// The bytes of the distinct blobs it holds.
    pub usage: u64,
    /// Its quota in bytes, if it has one.
    pub quota: Option<u64>,
}

/// A package among the most downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PopularPackage {
    /// The repository.
    pub name: String,
    /// Its latest version.
    pub latest: Option<String>,
    /// Downloads in the last 30 days.
    pub downloads: u64,
}

/// The series of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSeries {
    /// The registry.
    pub registry: String,
    /// The name asked for.
    pub metric: String,
    /// The family's declared type, when the exposition says.
    pub kind: Option<String>,
    /// Every sample of it.
    pub samples: Vec<Sample>,
}

/// Reads `/metrics`, waits `interval` and reads it again (no second read
/// for a zero interval), and summarises: rates over the interval, totals
/// since the server started, and the most downloaded packages.
pub async fn metrics_summary(
    client: &RegistryClient,
    interval: Duration,
) -> Result<MetricsSummary> {
    let first = scrape(client).await?;
    let started = Instant::now();
    let second = if interval.is_zero() {
        None
    } else {
        tokio::time::sleep(interval).await;
        Some(scrape(client).await?)
    };
    let elapsed = started.elapsed().as_secs_f64();
    let top_packages = client
        .popular_packages(TOP_PACKAGES)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|hit| PopularPackage {
            name: hit.name,
            latest: hit.latest,
            downloads: hit.downloads,
        })
        .collect();
    let mut summary = summarise(
        client.registry(),
        &first,
        second.as_ref().map(|second| (second, elapsed)),
    );
    summary.top_packages = top_packages;
    Ok(summary)
}

/// The series of `name` (a sample name or a family name).
pub async fn metric_series(client: &RegistryClient, name: &str) -> Result<MetricSeries> {
    let exposition = scrape(client).await?;
    let samples: Vec<Sample> = exposition.series(name).into_iter().cloned().collect();
    if samples.is_empty() {
        return Err(WorkflowError::NotFound(format!(
            "{} serves no metric named {name}",
            client.registry()
        )));
    }
    let kind = exposition.kind_of(name).map(str::to_owned);
    Ok(MetricSeries {
        registry: client.registry().to_owned(),
        metric: name.to_owned(),
        kind,
        samples,
    })
}

/// `/metrics`, parsed; a registry without it is [`WorkflowError::Unsupported`].
async fn scrape(client: &RegistryClient) -> Result<Exposition> {
    match client.metrics_text().await? {
        SentinelEndpoint::Served(text) => Exposition::parse(&text).map_err(|error| {
            WorkflowError::Unsupported(format!(
                "{} does not serve Prometheus metrics at /metrics: {error}",
                client.registry()
            ))
        }),
        SentinelEndpoint::Missing { status } => Err(WorkflowError::Unsupported(format!(
            "{} is not a Sentinel registry: /metrics answered {status}",
            client.registry()
        ))),
    }
}

/// Whether a request sample is a scrape of `/metrics` (left out of the rates).
fn is_not_a_scrape(labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels.get("api").map(String::as_str) != Some("metrics")
}

fn is_server_error(labels: &std::collections::BTreeMap<String, String>) -> bool {
    is_not_a_scrape(labels)
        && labels
            .get("status")
            .is_some_and(|status| status.starts_with('5'))
}

/// A counter or gauge as a whole number (they are counts and bytes).
fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// The summary of `first`, and of the interval up to `second` (taken
/// `seconds` later) when there is one; totals come from the latest sample.
fn summarise(
    registry: &str,
    first: &Exposition,
    second: Option<(&Exposition, f64)>,
) -> MetricsSummary {
    let latest = second.map_or(first, |(second, _)| second);
    let requests = latest.sum_where(REQUESTS, is_not_a_scrape);
    let server_errors = latest.sum_where(REQUESTS, is_server_error);
    let share = |errors: f64, total: f64| (total > 0.0).then(|| errors / total);
    let (interval_seconds, requests_per_second, interval_error_rate) = match second {
        Some((second, seconds)) if seconds > 0.0 => {
            let answered = second.sum_where(REQUESTS, is_not_a_scrape)
                - first.sum_where(REQUESTS, is_not_a_scrape);
            let failed = second.sum_where(REQUESTS, is_server_error)
                - first.sum_where(REQUESTS, is_server_error);
            (
                Some(seconds),
                Some(answered.max(0.0) / seconds),
                share(failed.max(0.0), answered),
            )
        }
        _ => (None, None, None),
    };
    let count = |name: &str| whole(latest.value(name).unwrap_or(0.0));
    let gauge = |name: &str| latest.value(name).map(whole);
    MetricsSummary {
        registry: registry.to_owned(),
        version: latest
            .samples
            .iter()
            .find(|sample| sample.name == "sentinel_build_info")
            .and_then(|sample| sample.labels.get("version").cloned()),
        interval_seconds,
        requests: whole(requests),
        requests_per_second,
        server_errors: whole(server_errors),
        error_rate: share(server_errors, requests),
        interval_error_rate,
        pushes: count("sentinel_pushes_total"),
        pulls: count("sentinel_pulls_total"),
        package_downloads: count("sentinel_package_downloads_total"),
        uploads_in_progress: count("sentinel_uploads_in_progress"),
        upload_sessions: gauge("sentinel_upload_sessions"),
        stored_blobs: gauge("sentinel_stored_blobs"),
        stored_bytes: gauge("sentinel_stored_blob_bytes"),
        index_bytes: gauge("sentinel_index_bytes"),
        catalogue_bytes: gauge("sentinel_catalogue_bytes"),
        auth_failures: count("sentinel_auth_failures_total"),
        rate_limited: count("sentinel_rate_limited_total"),
        top_packages: Vec::new(),
        namespaces: namespaces(latest),
    }
}

/// The namespace gauges of `exposition`, by namespace.
fn namespaces(exposition: &Exposition) -> Vec<NamespaceFigures> {
    let of = |sample: &Sample| sample.labels.get("namespace").cloned();
    let mut out: Vec<NamespaceFigures> = exposition
        .series("sentinel_namespace_usage_bytes")
        .into_iter()
        .filter_map(|sample| {
            Some(NamespaceFigures {
                namespace: of(sample)?,
                usage: whole(sample.value),
                quota: None,
            })
        })
        .collect();
    for sample in exposition.series("sentinel_namespace_quota_bytes") {
        let Some(namespace) = of(sample) else {
            continue;
        };
        match out
            .iter_mut()
            .find(|figures| figures.namespace == namespace)
        {
            Some(figures) => figures.quota = Some(whole(sample.value)),
            None => out.push(NamespaceFigures {
                namespace,
                usage: 0,
                quota: Some(whole(sample.value)),
            }),
        }
    }
    out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(requests_ok: u64, requests_failed: u64, scrapes: u64, pushes: u64) -> Exposition {
        let text = format!(
            "# TYPE sentinel_http_request_duration_seconds histogram\n\
             sentinel_http_request_duration_seconds_count{{api=\"oci\",endpoint=\"manifest\",method=\"GET\",status=\"200\"}} {requests_ok}\n\
             sentinel_http_request_duration_seconds_count{{api=\"oci\",endpoint=\"blob\",method=\"PUT\",status=\"503\"}} {requests_failed}\n\
             sentinel_http_request_duration_seconds_count{{api=\"metrics\",endpoint=\"metrics\",method=\"GET\",status=\"500\"}} {scrapes}\n\
             sentinel_pushes_total {pushes}\n\
             sentinel_pulls_total 40\n\
             sentinel_uploads_in_progress 2\n\
             sentinel_stored_blobs 12\n\
             sentinel_stored_blob_bytes 1048576\n\
             sentinel_build_info{{version=\"0.1.0\"}} 1\n\
             sentinel_namespace_usage_bytes{{namespace=\"acme\"}} 512\n\
             sentinel_namespace_usage_bytes{{namespace=\"bob\"}} 7\n\
             sentinel_namespace_quota_bytes{{namespace=\"acme\"}} 1024\n\
             # EOF\n"
        );
        Exposition::parse(&text).unwrap()
    }

    #[test]
    fn totals_from_one_sample() {
        let summary = summarise("r", &exposition(90, 10, 7, 3), None);
        assert_eq!(summary.requests, 100);
        assert_eq!(summary.server_errors, 10);
        assert_eq!(summary.error_rate, Some(0.1));
        assert_eq!(summary.requests_per_second, None);
        assert_eq!(summary.interval_seconds, None);
        assert_eq!(summary.pushes, 3);
        assert_eq!(summary.pulls, 40);
        assert_eq!(summary.uploads_in_progress, 2);
        assert_eq!(summary.stored_blobs, Some(12));
        assert_eq!(summary.stored_bytes, Some(1_048_576));
        assert_eq!(summary.index_bytes, None);
        assert_eq!(summary.auth_failures, 0);
        assert_eq!(summary.version.as_deref(), Some("0.1.0"));
        assert_eq!(
            summary.namespaces,
            vec![
                NamespaceFigures {
                    namespace: "acme".into(),
                    usage: 512,
                    quota: Some(1024)
                },
                NamespaceFigures {
                    namespace: "bob".into(),
                    usage: 7,
                    quota: None
                },
            ]
        );
    }

    #[test]
    fn rates_over_the_interval_leave_out_scrapes() {
        let first = exposition(90, 10, 7, 3);
        let second = exposition(170, 30, 8, 5);
        let summary = summarise("r", &first, Some((&second, 2.0)));
        assert_eq!(summary.interval_seconds, Some(2.0));
        assert_eq!(summary.requests_per_second, Some(50.0));
        assert_eq!(summary.interval_error_rate, Some(0.2));
        assert_eq!(summary.requests, 200);
        assert_eq!(summary.error_rate, Some(0.15));
        assert_eq!(summary.pushes, 5);
    }

    #[test]
    fn an_idle_interval_has_a_zero_rate_and_no_error_share() {
        let first = exposition(0, 0, 1, 0);
        let second = exposition(0, 0, 2, 0);
        let summary = summarise("r", &first, Some((&second, 1.0)));
        assert_eq!(summary.requests_per_second, Some(0.0));
        assert_eq!(summary.interval_error_rate, None);
        assert_eq!(summary.error_rate, None);
    }

    #[test]
    fn a_restart_between_samples_does_not_give_a_negative_rate() {
        let first = exposition(500, 0, 9, 0);
        let second = exposition(5, 0, 1, 0);
        let summary = summarise("r", &first, Some((&second, 1.0)));
        assert_eq!(summary.requests_per_second, Some(0.0));
    }

    #[test]
    fn an_unknown_exposition_gives_zeros_not_errors() {
        let other = Exposition::parse("go_goroutines 4\n").unwrap();
        let summary = summarise("r", &other, None);
        assert_eq!(summary.requests, 0);
        assert_eq!(summary.stored_blobs, None);
        assert_eq!(summary.version, None);
    }
}
