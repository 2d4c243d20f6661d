//! `agent registry ping|health|metrics|logs|auth test`: a registry itself.

use std::time::Duration;

use sentinel_client::{ClientError, EventQuery, EventStream, LogEvent, RegistryClient};
use sentinel_workflows::{AuthReport, HealthReport, MetricSeries, MetricsSummary, PingReport};
use serde::Serialize;

use crate::cli::{
    AuthTestArgs, HealthArgs, LogsArgs, MetricsArgs, OutputFormat, PingArgs, RegistryAuthCommand,
    RegistryCommand, RegistryTarget,
};
use crate::context::Context;
use crate::exit::{NotReady, UsageError};
use crate::output::{say, say_raw, table};
use crate::progress::human_size;

/// The shortest wait between two polls of `--follow`, so that `--poll 0s` cannot spin.
const MIN_POLL: Duration = Duration::from_millis(200);

/// Runs an `agent registry` subcommand.
pub async fn run(context: &Context, command: RegistryCommand) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Ping(args) => ping(context, args).await,
        RegistryCommand::Health(args) => health(context, args).await,
        RegistryCommand::Metrics(args) => metrics(context, args).await,
        RegistryCommand::Logs(args) => logs(context, args).await,
        RegistryCommand::Auth(RegistryAuthCommand::Test(args)) => auth_test(context, args).await,
    }
}

/// The client for the registry the arguments name: the positional
/// REGISTRY, else `--registry`, the profile's, the configured default.
pub(crate) fn client(context: &Context, target: &RegistryTarget) -> anyhow::Result<RegistryClient> {
    let chosen = context.target(&target.remote)?;
    let address = target
        .address
        .clone()
        .or_else(|| chosen.default_registry.clone())
        .ok_or_else(|| {
            UsageError(
                "name a registry: agent registry COMMAND REGISTRY (or set default_registry in the configuration)"
                    .to_string(),
            )
        })?;
    context.registry_client(&address, &chosen)
}

/// Prints `value` as JSON or YAML; `false` for the table format, which the caller draws.
pub(crate) fn print_structured<T: Serialize>(
    format: OutputFormat,
    value: &T,
) -> anyhow::Result<bool> {
    match format {
        OutputFormat::Json => say!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => say_raw!("{}", serde_norway::to_string(value)?),
        OutputFormat::Table => return Ok(false),
    }
    Ok(true)
}

/// `key   value` lines, the keys aligned.
pub(crate) fn fields(lines: &[(&str, String)]) {
    let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in lines {
        say!("{key:<width$}   {value}");
    }
}

async fn ping(context: &Context, args: PingArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    let report = sentinel_workflows::ping(&client, args.samples).await?;
    if !print_structured(args.target.format, &report)? {
        print_ping(&report);
    }
    Ok(())
}

fn print_ping(report: &PingReport) {
    let mut lines = vec![("registry", report.registry.clone())];
    match &report.tls {
        None => lines.push(("transport", "plain HTTP (no TLS)".to_string())),
        Some(tls) => {
            lines.push((
                "transport",
                format!("HTTPS, {}", tls.version.as_deref().unwrap_or("TLS")),
            ));
            if let Some(subject) = &tls.subject {
                lines.push(("certificate", subject.clone()));
            }
            if let Some(issuer) = &tls.issuer {
                lines.push(("issuer", issuer.clone()));
            }
            if let (Some(expires), Some(days)) = (&tls.expires, tls.days_left) {
                let left = if days < 0 {
                    format!("EXPIRED {} days ago", -days)
                } else {
                    format!("in {days} days")
                };
                lines.push(("expires", format!("{expires} ({left})")));
            }
        }
    }
    let meaning = match report.status {
        200 => "open: no credentials needed",
        401 => "credentials required",
        404 => "no /v2/: not an OCI registry",
        _ => "unexpected",
    };
    lines.push(("/v2/", format!("{} ({meaning})", report.status)));
    lines.push((
        "api version",
        report
            .api_version
            .clone()
            .unwrap_or_else(|| "not announced".to_string()),
    ));
    let auth = if report.auth.is_empty() {
        "none announced".to_string()
    } else {
        report
            .auth
            .iter()
            .map(|challenge| {
                let mut text = challenge.scheme.clone();
                if let Some(realm) = &challenge.realm {
                    text.push_str(&format!(" realm=\"{realm}\""));
                }
                if let Some(service) = &challenge.service {
                    text.push_str(&format!(" service=\"{service}\""));
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    lines.push(("auth", auth));
    lines.push((
        "round trip",
        format!(
            "min {:.1} ms, median {:.1} ms ({} samples)",
            report.min_ms,
            report.median_ms,
            report.round_trips_ms.len()
        ),
    ));
    fields(&lines);
}

async fn health(context: &Context, args: HealthArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    let report = match tokio::time::timeout(args.timeout, sentinel_workflows::health(&client)).await
    {
        Ok(report) => report?,
        Err(_) => {
            return Err(ClientError::Connect {
                registry: client.registry().to_string(),
                source: Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer within {}",
                        humantime::format_duration(args.timeout)
                    ),
                )),
            }
            .into());
        }
    };
    if !print_structured(args.target.format, &report)? {
        print_health(&report, args.detailed);
    }
    if report.is_healthy() {
        return Ok(());
    }
    Err(NotReady(not_ready_reason(&report)).into())
}

fn print_health(report: &HealthReport, detailed: bool) {
    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_string();
    let mut lines = vec![
        ("registry", report.registry.clone()),
        ("status", report.status.to_string()),
    ];
    if let Some(version) = &report.version {
        lines.push(("version", format!("Sentinel {version}")));
    }
    if let Some(live) = report.live {
        lines.push(("live", yes_no(live)));
    }
    if let Some(ready) = report.ready {
        lines.push(("ready", yes_no(ready)));
    }
    if let Some(status) = report.v2_status {
        lines.push(("/v2/", status.to_string()));
    }
    fields(&lines);
    if let Some(note) = &report.note {
        say!("{note}");
    }
    if detailed && !report.checks.is_empty() {
        say!();
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|check| {
                vec![
                    check.name.clone(),
                    if check.ok { "ok" } else { "FAILED" }.to_string(),
                    format!("{:.1} ms", check.latency_ms),
                    check.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["CHECK", "STATUS", "LATENCY", "ERROR"], &rows);
    }
}

/// The one line for a registry that is not ready: the failed checks, or what `/v2/` answered.
fn not_ready_reason(report: &HealthReport) -> String {
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|check| !check.ok)
        .map(|check| match &check.error {
            Some(error) => format!("{} ({error})", check.name),
            None => check.name.clone(),
        })
        .collect();
    match (report.v2_status, failed.is_empty()) {
        (Some(status), _) => format!("{} is not serving: /v2/ answered {status}", report.registry),
        (None, false) => format!(
            "{} is not ready: failed checks: {}",
            report.registry,
            failed.join(", ")
        ),
        (None, true) => format!("{} is not ready", report.registry),
    }
}

async fn metrics(context: &Context, args: MetricsArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    if let Some(name) = &args.metric {
        let series = sentinel_workflows::metric_series(&client, name).await?;
        if !print_structured(args.target.format, &series)? {
            print_series(&series);
        }
        return Ok(());
    }
    let summary = sentinel_workflows::metrics_summary(&client, args.interval).await?;
    if !print_structured(args.target.format, &summary)? {
        print_summary(&summary);
    }
    Ok(())
}

fn print_series(series: &MetricSeries) {
    let rows: Vec<Vec<String>> = series
        .samples
        .iter()
        .map(|sample| {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(key, value)| format!("{key}={value:?}"))
                .collect();
            let name = if labels.is_empty() {
                sample.name.clone()
            } else {
                format!("{}{{{}}}", sample.name, labels.join(","))
            };
            vec![name, sample.value.to_string()]
        })
        .collect();
    table(&["SERIES", "VALUE"], &rows);
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_string(), |share| format!("{:.2}%", share * 100.0))
}

fn print_summary(summary: &MetricsSummary) {
    let optional_size = |bytes: Option<u64>| bytes.map_or_else(|| "-".to_string(), human_size);
    let mut lines = vec![(
        "registry",
        match &summary.version {
            Some(version) => format!("{} (Sentinel {version})", summary.registry),
            None => summary.registry.clone(),
        },
    )];
    lines.push((
        "requests/s",
        match (summary.requests_per_second, summary.interval_seconds) {
            (Some(rate), Some(seconds)) => {
                format!("{rate:.1} (measured over {seconds:.1} s, scrapes of /metrics left out)")
            }
            _ => "- (one sample taken: totals only)".to_string(),
        },
    ));
    lines.push((
        "requests",
        format!("{} since the server started", summary.requests),
    ));
    lines.push((
        "errors (5xx)",
        format!(
            "{} ({} since start; {} over the interval)",
            summary.server_errors,
            percent(summary.error_rate),
            percent(summary.interval_error_rate)
        ),
    ));
    lines.push(("pushes", summary.pushes.to_string()));
    lines.push(("pulls", summary.pulls.to_string()));
    lines.push(("package downloads", summary.package_downloads.to_string()));
    lines.push((
        "uploads",
        format!(
            "{} in progress, {} sessions open",
            summary.uploads_in_progress,
            summary
                .upload_sessions
                .map_or_else(|| "-".to_string(), |n| n.to_string())
        ),
    ));
    lines.push((
        "storage",
        format!(
            "{} in {} blobs; index {}; catalogue {}",
            optional_size(summary.stored_bytes),
            summary
                .stored_blobs
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            optional_size(summary.index_bytes),
            optional_size(summary.catalogue_bytes)
        ),
    ));
    lines.push(("auth failures", summary.auth_failures.to_string()));
    lines.push(("rate limited", summary.rate_limited.to_string()));
    fields(&lines);
    if !summary.top_packages.is_empty() {
        say!();
        say!("Most downloaded packages, last 30 days:");
        let rows: Vec<Vec<String>> = summary
            .top_packages
            .iter()
            .map(|package| {
                vec![
                    package.name.clone(),
                    package.latest.clone().unwrap_or_else(|| "-".to_string()),
                    package.downloads.to_string(),
                ]
            })
            .collect();
        table(&["NAME", "LATEST", "DOWNLOADS"], &rows);
    }
    if !summary.namespaces.is_empty() {
        say!();
        say!("Namespaces:");
        let rows: Vec<Vec<String>> = summary
            .namespaces
            .iter()
            .map(|figures| {
                vec![
                    figures.namespace.clone(),
                    crate::progress::human_size(figures.usage),
                    figures
                        .quota
                        .map_or_else(|| "-".to_string(), crate::progress::human_size),
                ]
            })
            .collect();
        table(&["NAMESPACE", "USAGE", "QUOTA"], &rows);
    }
}

async fn logs(context: &Context, args: LogsArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    let stream = if args.audit {
        EventStream::Audit
    } else {
        EventStream::Logs
    };
    let mut query = EventQuery {
        level: args.level.clone(),
        since: args.since.clone(),
        after: None,
        limit: args.limit,
        user: args.user.clone(),
        action: args.action.clone(),
        repository: args.repository.clone(),
    };
    let events = sentinel_workflows::events(&client, stream, &query).await?;
    if !args.follow {
        if !print_structured(args.target.format, &events)? {
            print_events_table(&events);
        }
        return Ok(());
    }
    // Following: one event per line (JSON lines, YAML documents), as they come.
    let mut last = print_stream(args.target.format, &events, None)?;
    query.since = None;
    query.limit = None;
    loop {
        tokio::time::sleep(args.poll.max(MIN_POLL)).await;
        query.after = last;
        let events = sentinel_workflows::events(&client, stream, &query).await?;
        last = print_stream(args.target.format, &events, last)?;
    }
}

/// The columns of the event table: time, level, target, and the message with its fields.
fn event_row(event: &LogEvent) -> Vec<String> {
    let mut text = event.message.clone();
    for (key, value) in &event.fields {
        if !text.is_empty() {
            text.push(' ');
        }
        match value {
            serde_json::Value::String(value) => text.push_str(&format!("{key}={value}")),
            other => text.push_str(&format!("{key}={other}")),
        }
    }
    vec![
        event.time.clone(),
        event.level.to_uppercase(),
        event.target.clone(),
        text,
    ]
}

fn print_events_table(events: &[LogEvent]) {
    let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
    table(&["TIME", "LEVEL", "TARGET", "MESSAGE"], &rows);
}

/// Prints `events` newer than `last` as a stream; returns the newest sequence seen.
fn print_stream(
    format: OutputFormat,
    events: &[LogEvent],
    last: Option<u64>,
) -> anyhow::Result<Option<u64>> {
    let mut newest = last;
    for event in events {
        if let (Some(sequence), Some(seen)) = (event.sequence, last)
            && sequence <= seen
        {
            continue;
        }
        match format {
            OutputFormat::Json => say!("{}", serde_json::to_string(event)?),
            OutputFormat::Yaml => say_raw!("---\n{}", serde_norway::to_string(event)?),
            OutputFormat::Table => say!("{}", event_row(event).join("  ")),
        }
        newest = newest.max(event.sequence);
    }
    Ok(newest)
}

async fn auth_test(context: &Context, args: AuthTestArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    let report = sentinel_workflows::test_auth(&client, args.repository.as_deref()).await?;
    if !print_structured(args.target.format, &report)? {
        print_auth(&report);
    }
    Ok(())
}

fn print_auth(report: &AuthReport) {
    let mut lines = vec![("registry", report.registry.clone())];
    lines.push((
        "credential",
        match &report.username {
            Some(user) => format!("{} ({user})", report.credential),
            None => report.credential.to_string(),
        },
    ));
    lines.push((
        "accepted",
        if report.scheme == "none" {
            "yes (the registry is open: /v2/ asks for no credentials)".to_string()
        } else {
            format!("yes (/v2/ asks for {})", report.scheme)
        },
    ));
    let sentinel = if report.authentication_off {
        "yes, with authentication off: everyone may do everything".to_string()
    } else if let Some(user) = &report.user {
        let role = report.role.as_deref().unwrap_or("unknown");
        let admin = if report.admin == Some(true) {
            "an administrator"
        } else {
            "not an administrator"
        };
        format!("yes: signed in as {user}, role {role} ({admin})")
    } else if report.sentinel {
        "yes".to_string()
    } else {
        "no (no management API: user and role unknown)".to_string()
    };
    lines.push(("sentinel", sentinel));
    if let Some(repository) = &report.repository {
        let access = match &report.granted {
            Some(granted) => {
                let may: Vec<String> = sentinel_workflows::TESTED_ACTIONS
                    .iter()
                    .map(|action| {
                        let yes = granted.iter().any(|g| g == action || g == "*");
                        format!("{action}: {}", if yes { "yes" } else { "no" })
                    })
                    .collect();
                may.join(", ")
            }
            None => "unknown".to_string(),
        };
        lines.push(("repository", format!("{repository}: {access}")));
        if let Some(note) = &report.access_note {
            lines.push(("", note.clone()));
        }
    }
    fields(&lines);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_workflows::Check;

    fn report(checks: Vec<Check>, v2_status: Option<u16>) -> HealthReport {
        HealthReport {
            registry: "localhost:5000".to_string(),
            sentinel: v2_status.is_none(),
            status: "unavailable",
            version: None,
            live: None,
            ready: None,
            checks,
            v2_status,
            note: None,
        }
    }

    fn check(name: &str, error: Option<&str>) -> Check {
        Check {
            name: name.to_string(),
            ok: error.is_none(),
            latency_ms: 0.1,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn a_registry_not_ready_is_one_line_naming_what_failed() {
        let failed = report(
            vec![
                check("index", None),
                check("disk", Some("No space left on device")),
                check("blob_store", Some("Read-only file system")),
            ],
            None,
        );
        assert_eq!(
            not_ready_reason(&failed),
            "localhost:5000 is not ready: failed checks: disk (No space left on device), \
             blob_store (Read-only file system)"
        );
        assert_eq!(
            not_ready_reason(&report(Vec::new(), Some(502))),
            "localhost:5000 is not serving: /v2/ answered 502"
        );
    }

    #[test]
    fn an_event_row_shows_the_message_then_its_fields() {
        let event: LogEvent = serde_json::from_value(serde_json::json!({
            "sequence": 3, "time": "2026-12-07T04:20:13Z", "level": "warn",
            "target": "sentinel::audit", "message": "",
            "fields": {"action": "login-failed", "attempts": 3}
        }))
        .unwrap();
        assert_eq!(
            event_row(&event),
            [
                "2026-12-07T04:20:13Z",
                "WARN",
                "sentinel::audit",
                "action=login-failed attempts=3"
            ]
        );
    }
}
