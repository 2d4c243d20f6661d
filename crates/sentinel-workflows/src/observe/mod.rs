//! What `agent registry` shows of a registry: [`ping`] (reachability, TLS,
//! API version, authentication scheme, round trip), [`health`] (Sentinel's
//! liveness and readiness, or what another registry's `/v2/` says),
//! [`metrics_summary`] and [`metric_series`] (Sentinel's `/metrics`),
//! [`events`] (the logs and audit API) and [`test_auth`] (whether the
//! credential works and what it may do).
//!
//! Where a command needs Sentinel and the registry is another, the error is
//! [`WorkflowError::Unsupported`] with one line that says so.

mod exposition;
mod metrics;

use std::time::{Duration, SystemTime};

use sentinel_client::{
    AuthChallenge, ClientError, Credential, EventQuery, EventStream, GrantedAccess, LogEvent,
    ManagementApi, RegistryClient, SentinelEndpoint,
};
use serde::Serialize;

use crate::error::{Result, WorkflowError};

pub use exposition::{Exposition, ExpositionError, Sample};
pub use metrics::{
    MetricSeries, MetricsSummary, NamespaceFigures, PopularPackage, metric_series, metrics_summary,
};

/// The actions `agent registry auth test --repository` asks the token service for.
pub const TESTED_ACTIONS: [&str; 3] = ["pull", "push", "delete"];

/// What `GET /v2/` said, a few times over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingReport {
    /// The registry (host[:port]).
    pub registry: String,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The status of `/v2/` without credentials (200 open, 401 wants credentials).
    pub status: u16,
    /// `Docker-Distribution-API-Version`, if sent.
    pub api_version: Option<String>,
    /// The authentication schemes `/v2/` announces.
    pub auth: Vec<Challenge>,
    /// The TLS connection, over HTTPS.
    pub tls: Option<Tls>,
    /// Each round trip in milliseconds.
    pub round_trips_ms: Vec<f64>,
    /// The fastest.
    pub min_ms: f64,
    /// The median.
    pub median_ms: f64,
}

/// An authentication scheme a registry announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Challenge {
    /// `basic`, `bearer` or another scheme.
    pub scheme: String,
    /// The realm: the token service's URL for `bearer`.
    pub realm: Option<String>,
    /// The token service's `service`.
    pub service: Option<String>,
}

/// A registry's TLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// `TLS 1.3`, `TLS 1.2`.
    pub version: Option<String>,
    /// The certificate's subject.
    pub subject: Option<String>,
    /// Its issuer.
    pub issuer: Option<String>,
    /// When it expires (RFC 3339).
    pub expires: Option<String>,
    /// Whole days until then (negative once expired).
    pub days_left: Option<i64>,
}

/// Sends `GET /v2/` without credentials `samples` times (at least once),
/// one after the other on one connection, and reports what the first
/// answer said and every round trip.
pub async fn ping(client: &RegistryClient, samples: u32) -> Result<PingReport> {
    let first = client.probe_base().await?;
    let mut round_trips = vec![first.round_trip];
    for _ in 1..samples.max(1) {
        round_trips.push(client.probe_base().await?.round_trip);
    }
    let round_trips_ms: Vec<f64> = round_trips.iter().map(millis).collect();
    let mut sorted = round_trips_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median_ms = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    Ok(PingReport {
        registry: client.registry().to_owned(),
        scheme: if client.uses_tls() { "https" } else { "http" },
        status: first.status,
        api_version: first.api_version,
        auth: first.challenges.into_iter().map(challenge).collect(),
        tls: first.tls.map(|tls| {
            let days_left = tls.not_after.map(days_until);
            Tls {
                version: tls.version,
                subject: tls.subject,
                issuer: tls.issuer,
                expires: tls
                    .not_after
                    .map(|at| humantime::format_rfc3339_seconds(at).to_string()),
                days_left,
            }
        }),
        round_trips_ms,
        min_ms: sorted[0],
        median_ms,
    })
}

fn millis(duration: &Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}

fn days_until(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::now()) {
        Ok(left) => i64::try_from(left.as_secs() / 86_400).unwrap_or(i64::MAX),
        Err(past) => -i64::try_from(past.duration().as_secs() / 86_400).unwrap_or(i64::MAX),
    }
}

fn challenge(challenge: AuthChallenge) -> Challenge {
    match challenge {
        AuthChallenge::Basic { realm } => Challenge {
            scheme: "basic".to_owned(),
            realm,
            service: None,
        },
        AuthChallenge::Bearer { realm, service } => Challenge {
            scheme: "bearer".to_owned(),
            realm,
            service,
        },
        AuthChallenge::Other { scheme } => Challenge {
            scheme,
            realm: None,
            service: None,
        },
    }
}

/// A registry's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// The registry (host[:port]).
    pub registry: String,
    /// Whether it answered Sentinel's `/healthz`.
    pub sentinel: bool,
    /// `ok` when it can serve (Sentinel: `/readyz` passed; another
    /// registry: `/v2/` answered 200 or 401), else `unavailable`.
    pub status: &'static str,
    /// Sentinel's version, from `/healthz`.
    pub version: Option<String>,
    /// `/healthz` passed (Sentinel only).
    pub live: Option<bool>,
    /// `/readyz` passed (Sentinel only).
    pub ready: Option<bool>,
    /// Each readiness check (Sentinel only).
    pub checks: Vec<Check>,
    /// What `/v2/` answered without credentials (another registry only).
    pub v2_status: Option<u16>,
    /// Why there is no more detail, for another registry.
    pub note: Option<String>,
}

impl HealthReport {
    /// Whether the registry can serve.
    pub fn is_healthy(&self) -> bool {
        self.status == "ok"
    }
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `index`, `blob_store`, `disk`, ...
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took.
    pub latency_ms: f64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Sentinel's `/healthz` and `/readyz`; on a registry without them (the
/// `/healthz` answer is not Sentinel's), what `/v2/` answers: 200 or 401
/// means up.
pub async fn health(client: &RegistryClient) -> Result<HealthReport> {
    let registry = client.registry().to_owned();
    let live = match client.liveness().await? {
        SentinelEndpoint::Served(live) => live,
        SentinelEndpoint::Missing { status } => {
            let base = client.probe_base().await?;
            let up = matches!(base.status, 200 | 401);
            return Ok(HealthReport {
                note: Some(format!(
                    "{registry} is not a Sentinel registry: /healthz answered {status}; \
                     liveness and readiness checks are Sentinel-only, so this is what /v2/ says"
                )),
                registry,
                sentinel: false,
                status: if up { "ok" } else { "unavailable" },
                version: None,
                live: None,
                ready: None,
                checks: Vec::new(),
                v2_status: Some(base.status),
            });
        }
    };
    let readiness = match client.readiness().await? {
        SentinelEndpoint::Served(readiness) => readiness,
        SentinelEndpoint::Missing { status } => {
            return Err(WorkflowError::Unsupported(format!(
                "{registry} answers /healthz but not /readyz as Sentinel does: it answered {status}"
            )));
        }
    };
    let ready = readiness.is_ready();
    let live_ok = live.status == "ok";
    Ok(HealthReport {
        registry,
        sentinel: true,
        status: if ready && live_ok {
            "ok"
        } else {
            "unavailable"
        },
        version: live.version,
        live: Some(live_ok),
        ready: Some(ready),
        checks: readiness
            .checks
            .into_iter()
            .map(|(name, check)| Check {
                name,
                ok: check.ok,
                latency_ms: check.latency_ms,
                error: check.error,
            })
            .collect(),
        v2_status: None,
        note: None,
    })
}

/// The events of Sentinel's logs or audit API that `query` selects,
/// oldest first. A registry without the API, or a Sentinel registry without
/// authentication (which has no management API), is
/// [`WorkflowError::Unsupported`]; a caller who is not an administrator is
/// refused by the registry ([`ClientError::Denied`]).
pub async fn events(
    client: &RegistryClient,
    stream: EventStream,
    query: &EventQuery,
) -> Result<Vec<LogEvent>> {
    let path = match stream {
        EventStream::Logs => "/api/v1/logs",
        EventStream::Audit => "/api/v1/audit",
    };
    match client.log_events(stream, query).await? {
        SentinelEndpoint::Served(events) => Ok(events),
        SentinelEndpoint::Missing { status } => {
            let registry = client.registry();
            Err(WorkflowError::Unsupported(
                match client.management_api().await {
                    Ok(ManagementApi::AuthenticationOff) => format!(
                        "{registry} runs without authentication, so it has no logs API \
                         ({path} answered {status}): start it with --auth"
                    ),
                    _ => format!("{registry} is not a Sentinel registry: {path} answered {status}"),
                },
            ))
        }
    }
}

/// Whether a credential works on a registry, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthReport {
    /// The registry (host[:port]).
    pub registry: String,
    /// What was tested: `anonymous`, `basic`, `identity-token` or `bearer-token`.
    pub credential: &'static str,
    /// The user name the credential carries, if any.
    pub username: Option<String>,
    /// How `/v2/` asks for credentials: `bearer`, `basic`, or `none` when it is open.
    pub scheme: String,
    /// Whether `/v2/` accepts the credential (always, for an open registry).
    pub valid: bool,
    /// Whether the registry is Sentinel (its management API answered).
    pub sentinel: bool,
    /// Sentinel: the user the credential signs in as.
    pub user: Option<String>,
    /// Sentinel: the user's role (`reader`, `publisher`, `admin`).
    pub role: Option<String>,
    /// Sentinel: whether the user administers the registry (may read logs, manage users).
    pub admin: Option<bool>,
    /// Sentinel with authentication off: everything is open to everyone.
    pub authentication_off: bool,
    /// The repository asked about with `--repository`.
    pub repository: Option<String>,
    /// The actions granted on it, when the registry says in advance.
    pub granted: Option<Vec<String>>,
    /// Why the registry does not say, when it does not.
    pub access_note: Option<String>,
}

/// Tests the client's credential: `/v2/` with the flow its challenge names
/// (as `agent login` checks), Sentinel's `whoami` for the user and role, and,
/// for `repository`, which of [`TESTED_ACTIONS`] a token request grants. A
/// refused credential is [`WorkflowError::CredentialsRefused`]; none where
/// the registry wants one is [`ClientError::AuthenticationFailed`].
pub async fn test_auth(client: &RegistryClient, repository: Option<&str>) -> Result<AuthReport> {
    let registry = client.registry().to_owned();
    let (credential, username) = match client.credential() {
        None => ("anonymous", None),
        Some(Credential::Basic { username, .. }) => ("basic", Some(username.clone())),
        Some(Credential::IdentityToken { username, .. }) => {
            ("identity-token", Some(username.clone()))
        }
        Some(Credential::Bearer { .. }) => ("bearer-token", None),
    };
    let base = client.probe_base().await?;
    let scheme = if base.status == 200 {
        "none".to_owned()
    } else {
        base.challenges
            .iter()
            .map(|challenge| match challenge {
                AuthChallenge::Basic { .. } => "basic".to_owned(),
                AuthChallenge::Bearer { .. } => "bearer".to_owned(),
                AuthChallenge::Other { scheme } => scheme.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match client.check_login().await {
        Ok(_) => {}
        Err(error @ ClientError::AuthenticationFailed { .. }) if credential != "anonymous" => {
            return Err(WorkflowError::CredentialsRefused(error));
        }
        Err(error) => return Err(error.into()),
    }
    let mut report = AuthReport {
        registry,
        credential,
        username,
        scheme,
        valid: true,
        sentinel: false,
        user: None,
        role: None,
        admin: None,
        authentication_off: false,
        repository: repository.map(str::to_owned),
        granted: None,
        access_note: None,
    };
    match client.management_api().await {
        Ok(ManagementApi::SignedIn { user, role, .. }) => {
            report.sentinel = true;
            report.admin = role.as_deref().map(|role| role == "admin");
            report.user = Some(user);
            report.role = role;
        }
        Ok(ManagementApi::AuthenticationOff) => {
            report.sentinel = true;
            report.authentication_off = true;
        }
        // Anonymous on an open registry: nobody to sign in as.
        Ok(ManagementApi::Absent) | Err(ClientError::AuthenticationFailed { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    if let Some(repository) = repository {
        match client.granted_access(repository, &TESTED_ACTIONS).await? {
            GrantedAccess::Open => {
                report.granted = Some(TESTED_ACTIONS.iter().map(|a| (*a).to_owned()).collect());
                report.access_note =
                    Some("the registry is open: it asks no one for credentials".to_owned());
            }
            GrantedAccess::Granted(actions) => report.granted = Some(actions),
            GrantedAccess::Unknown(why) => report.access_note = Some(why.to_owned()),
        }
    }
    Ok(report)
}
