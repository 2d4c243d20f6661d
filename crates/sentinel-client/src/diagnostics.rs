//! What an operator asks of a registry (`agent registry ...`): what `/v2/`
//! answers without credentials (status, API version header, challenges,
//! round-trip time, TLS), Sentinel's health, readiness and metrics
//! endpoints, its logs and audit API, and which actions the token service
//! grants on a repository.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use reqwest::header::{ACCEPT, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use sentinel_credentials::Credential;
use serde::{Deserialize, Serialize};

use crate::auth::Offered;
use crate::challenge::parse_challenges;
use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::packages::PackageHit;
use crate::response::{error_for_status, header};
use crate::scope::Scopes;
use crate::transport::{Auth, Call};

/// The largest health, readiness or popular-packages answer read.
const MAX_SMALL_ANSWER: u64 = 1024 * 1024;
/// The largest metrics exposition read.
const MAX_METRICS: u64 = 16 * 1024 * 1024;
/// The largest logs or audit answer read (10,000 events of at most 2 KiB, and JSON around them).
const MAX_EVENTS: u64 = 64 * 1024 * 1024;

/// What `GET /v2/` answered to a request without credentials.
#[derive(Debug, Clone)]
pub struct BaseProbe {
    /// The HTTP status (200 for an open registry, 401 for one that wants credentials).
    pub status: u16,
    /// The `Docker-Distribution-API-Version` header (`registry/2.0`), if sent.
    pub api_version: Option<String>,
    /// The challenges of `WWW-Authenticate`, in order.
    pub challenges: Vec<AuthChallenge>,
    /// From sending the request to the response's head.
    pub round_trip: Duration,
    /// The TLS connection, when the registry is reached over HTTPS.
    pub tls: Option<TlsDetails>,
}

/// One challenge a registry announces in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthChallenge {
    /// HTTP Basic.
    Basic {
        /// The realm, a name for people.
        realm: Option<String>,
    },
    /// The Docker token flow.
    Bearer {
        /// The token service's URL.
        realm: Option<String>,
        /// The `service` to name in token requests.
        service: Option<String>,
    },
    /// Another scheme (`Negotiate`, ...), lowercased.
    Other {
        /// The scheme.
        scheme: String,
    },
}

/// The TLS connection of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// The negotiated protocol version (`TLS 1.3`), when the TLS library reports it.
    pub version: Option<String>,
    /// The server certificate's subject (`CN=registry.example.com`).
    pub subject: Option<String>,
    /// Its issuer.
    pub issuer: Option<String>,
    /// The end of its validity.
    pub not_after: Option<SystemTime>,
}

/// The answer of one of Sentinel's own endpoints, or the status a registry
/// without it gave instead.
#[derive(Debug, Clone, PartialEq)]
pub enum SentinelEndpoint<T> {
    /// The endpoint answered as Sentinel does.
    Served(T),
    /// Something else came back: the registry is not Sentinel (or, for the
    /// management API, runs without authentication).
    Missing {
        /// The HTTP status it answered.
        status: u16,
    },
}

/// `GET /healthz`: the process serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Liveness {
    /// `ok`.
    pub status: String,
    /// The server's version.
    #[serde(default)]
    pub version: Option<String>,
}

/// `GET /readyz`: every dependency, checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Each check by name (`index`, `blob_store`, `disk`).
    #[serde(default)]
    pub checks: BTreeMap<String, ReadinessCheck>,
}

impl Readiness {
    /// Whether the registry says it is ready.
    pub fn is_ready(&self) -> bool {
        self.status == "ok"
    }
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReadinessCheck {
    /// Whether it passed.
    pub ok: bool,
    /// How long it took.
    #[serde(default)]
    pub latency_ms: f64,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Which of Sentinel's event rings to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStream {
    /// `GET /api/v1/logs`: the server's log events.
    Logs,
    /// `GET /api/v1/audit`: the audit trail.
    Audit,
}

impl EventStream {
    fn path(self) -> &'static str {
        match self {
            EventStream::Logs => "api/v1/logs",
            EventStream::Audit => "api/v1/audit",
        }
    }
}

/// The filters of a logs or audit request; `None` leaves one out.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// That level or more severe (logs only): `error`, `warn`, `info`, `debug`, `trace`.
    pub level: Option<String>,
    /// A duration back from now (`1h`) or an RFC 3339 time.
    pub since: Option<String>,
    /// Only events with a greater sequence number.
    pub after: Option<u64>,
    /// The newest that many events.
    pub limit: Option<u32>,
    /// The audit event's `user` (audit only).
    pub user: Option<String>,
    /// The audit event's `action` (audit only).
    pub action: Option<String>,
    /// The audit event's `repository` (audit only).
    pub repository: Option<String>,
}

/// One event of the logs or audit API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LogEvent {
    /// Increasing across both rings; poll with `after` to follow.
    #[serde(default)]
    pub sequence: Option<u64>,
    /// When it happened (RFC 3339).
    pub time: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The module or target that logged it (`sentinel::audit`).
    pub target: String,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// The structured fields.
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Events {
    events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct Popular {
    packages: Vec<PackageHit>,
}

/// Which actions a token service grants on a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantedAccess {
    /// `/v2/` answers without credentials: no access control to ask about.
    Open,
    /// The token service issued a token whose `access` claim lists these
    /// actions on the repository (none when it granted nothing).
    Granted(Vec<String>),
    /// The registry does not say in advance; why.
    Unknown(&'static str),
}

impl RegistryClient {
    /// `GET /v2/` without credentials, sent once (not retried), timed from
    /// sending to the response's head. A registry that cannot be reached is
    /// [`ClientError::Connect`]; any status is an answer.
    pub async fn probe_base(&self) -> Result<BaseProbe, ClientError> {
        let url = self.url("v2/")?;
        let started = Instant::now();
        let response = self
            .execute(Call::once(Method::GET, url, Auth::None))
            .await?;
        let round_trip = started.elapsed();
        let headers = response.headers();
        let challenges = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_challenges)
            .map(|challenge| match challenge.scheme.as_str() {
                "basic" => AuthChallenge::Basic {
                    realm: challenge.param("realm").map(str::to_owned),
                },
                "bearer" => AuthChallenge::Bearer {
                    realm: challenge.param("realm").map(str::to_owned),
                    service: challenge.param("service").map(str::to_owned),
                },
                _ => AuthChallenge::Other {
                    scheme: challenge.scheme.clone(),
                },
            })
            .collect();
        let tls = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .map(tls_details);
        Ok(BaseProbe {
            status: response.status().as_u16(),
            api_version: header(headers, "docker-distribution-api-version").map(str::to_owned),
            challenges,
            round_trip,
            tls,
        })
    }

    /// Sentinel's `GET /healthz`. Any other answer than a 200 with its JSON is
    /// [`SentinelEndpoint::Missing`].
    pub async fn liveness(&self) -> Result<SentinelEndpoint<Liveness>, ClientError> {
        self.probe_json("healthz", &[StatusCode::OK]).await
    }

    /// Sentinel's `GET /readyz`: its checks, whether it answered 200 or 503.
    pub async fn readiness(&self) -> Result<SentinelEndpoint<Readiness>, ClientError> {
        self.probe_json("readyz", &[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE])
            .await
    }

    /// An unauthenticated JSON endpoint, read when it answers one of `statuses`.
    async fn probe_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        statuses: &[StatusCode],
    ) -> Result<SentinelEndpoint<T>, ClientError> {
        let url = self.url(path)?;
        let call = Call::once(Method::GET, url, Auth::None)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.execute(call).await?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(error_for_status(self.registry(), response, None).await);
        }
        if !statuses.contains(&status) {
            return Ok(SentinelEndpoint::Missing {
                status: status.as_u16(),
            });
        }
        let body = self
            .read_body(response, MAX_SMALL_ANSWER, &format!("/{path}"))
            .await?;
        Ok(match serde_json::from_slice(&body) {
            Ok(answer) => SentinelEndpoint::Served(answer),
            Err(_) => SentinelEndpoint::Missing {
                status: status.as_u16(),
            },
        })
    }

    /// `GET /metrics`, with the credential as the management API takes it
    /// (the registry may require a signed-in user). A 401 is
    /// [`ClientError::AuthenticationFailed`], a 403 [`ClientError::Denied`];
    /// any other status but 200 is [`SentinelEndpoint::Missing`].
    pub async fn metrics_text(&self) -> Result<SentinelEndpoint<String>, ClientError> {
        let url = self.url("metrics")?;
        let call = Call::idempotent(Method::GET, url, self.management_auth()).header(
            ACCEPT,
            HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4; q=0.5",
            ),
        );
        let response = self.execute(call).await?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                return Err(error_for_status(self.registry(), response, None).await);
            }
            _ => {
                return Ok(SentinelEndpoint::Missing {
                    status: status.as_u16(),
                });
            }
        }
        let body = self.read_body(response, MAX_METRICS, "the metrics").await?;
        Ok(SentinelEndpoint::Served(
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    /// Sentinel's most downloaded packages of the last 30 days
    /// (`GET /v1/packages/popular`), that the credential may pull.
    /// `Ok(None)` for a registry without the package API.
    pub async fn popular_packages(
        &self,
        limit: u32,
    ) -> Result<Option<Vec<PackageHit>>, ClientError> {
        let mut url = self.url("v1/packages/popular")?;
        url.query_pairs_mut()
            .append_pair("period", "30d")
            .append_pair("limit", &limit.to_string());
        let call = Call::idempotent(Method::GET, url, self.management_auth())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.execute(call).await?;
        if response.status() != StatusCode::OK {
            return Ok(None);
        }
        let body = self
            .read_body(response, MAX_SMALL_ANSWER, "the popular packages")
            .await?;
        Ok(serde_json::from_slice::<Popular>(&body)
            .ok()
            .map(|popular| popular.packages))
    }

    /// Sentinel's logs or audit API (administrators only), with the
    /// credential as the management API takes it. A 401 is
    /// [`ClientError::AuthenticationFailed`], a 403 [`ClientError::Denied`];
    /// a 404 (no management API: another registry, or Sentinel without
    /// authentication) is [`SentinelEndpoint::Missing`].
    pub async fn log_events(
        &self,
        stream: EventStream,
        query: &EventQuery,
    ) -> Result<SentinelEndpoint<Vec<LogEvent>>, ClientError> {
        let mut url = self.url(stream.path())?;
        {
            let mut pairs = url.query_pairs_mut();
            let texts = [
                ("level", query.level.as_deref()),
                ("since", query.since.as_deref()),
                ("user", query.user.as_deref()),
                ("action", query.action.as_deref()),
                ("repository", query.repository.as_deref()),
            ];
            for (key, value) in texts {
                if let Some(value) = value {
                    pairs.append_pair(key, value);
                }
            }
            if let Some(after) = query.after {
                pairs.append_pair("after", &after.to_string());
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        let call = Call::idempotent(Method::GET, url, self.management_auth())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let response = self.execute(call).await?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Ok(SentinelEndpoint::Missing {
                    status: status.as_u16(),
                });
            }
            _ => return Err(error_for_status(self.registry(), response, None).await),
        }
        let body = self.read_body(response, MAX_EVENTS, "the events").await?;
        Ok(match serde_json::from_slice::<Events>(&body) {
            Ok(events) => SentinelEndpoint::Served(events.events),
            Err(_) => SentinelEndpoint::Missing {
                status: status.as_u16(),
            },
        })
    }

    /// Which of `actions` the registry grants the credential on
    /// `repository`: a token asked for with those actions tells in its
    /// `access` claim. A registry behind Basic authentication, or a
    /// credential that is itself a bearer token, says nothing in advance.
    /// A token service that refuses the credential is
    /// [`ClientError::AuthenticationFailed`].
    pub async fn granted_access(
        &self,
        repository: &str,
        actions: &[&str],
    ) -> Result<GrantedAccess, ClientError> {
        let repository = crate::reference::parse_repository(repository)?.to_string();
        let url = self.url("v2/")?;
        let response = self
            .execute(Call::idempotent(Method::GET, url, Auth::None))
            .await?;
        match response.status() {
            status if status.is_success() => return Ok(GrantedAccess::Open),
            StatusCode::UNAUTHORIZED => {}
            _ => return Err(error_for_status(self.registry(), response, None).await),
        }
        let offered = Offered::read(response.headers());
        let Some((service, _)) = offered.bearer else {
            return Ok(GrantedAccess::Unknown(
                "the registry uses Basic authentication and decides on each request",
            ));
        };
        if matches!(
            self.inner.auth.credential(),
            Some(Credential::Bearer { .. })
        ) {
            return Ok(GrantedAccess::Unknown(
                "the credential is a bearer token, sent as it is, so no token is asked for",
            ));
        }
        let scopes = Scopes::repository(&repository, actions);
        let issued = self.fetch_token(&service, &scopes).await?;
        Ok(match token_access(&issued.token, &repository) {
            Some(granted) => GrantedAccess::Granted(granted),
            None => GrantedAccess::Unknown(
                "the token service's token is not a JWT with an access claim",
            ),
        })
    }
}

/// The TLS version and the certificate's subject, issuer and expiry.
fn tls_details(info: &reqwest::tls::TlsInfo) -> TlsDetails {
    use reqwest::tls::Version;
    let version = info.version().map(|version| {
        match version {
            v if v == Version::TLS_1_3 => "TLS 1.3",
            v if v == Version::TLS_1_2 => "TLS 1.2",
            v if v == Version::TLS_1_1 => "TLS 1.1",
            v if v == Version::TLS_1_0 => "TLS 1.0",
            _ => "TLS",
        }
        .to_owned()
    });
    let mut details = TlsDetails {
        version,
        subject: None,
        issuer: None,
        not_after: None,
    };
    if let Some((subject, issuer, not_after)) = info.peer_certificate().and_then(certificate_facts)
    {
        details.subject = Some(subject);
        details.issuer = Some(issuer);
        details.not_after = Some(not_after);
    }
    details
}

/// A DER certificate's subject, issuer and end of validity.
fn certificate_facts(der: &[u8]) -> Option<(String, String, SystemTime)> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    let not_after = if not_after >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(not_after.unsigned_abs())
    };
    Some((
        certificate.subject().to_string(),
        certificate.issuer().to_string(),
        not_after,
    ))
}

/// The actions a Docker token's `access` claim grants on `repository`;
/// `None` when the token is not a JWT with that claim.
fn token_access(token: &str, repository: &str) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Claims {
        access: Option<Vec<Entry>>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        #[serde(default)]
        actions: Vec<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let mut granted: Vec<String> = claims
        .access?
        .into_iter()
        .filter(|entry| entry.kind == "repository" && entry.name == repository)
        .flat_map(|entry| entry.actions)
        .collect();
    granted.sort();
    granted.dedup();
    Some(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{}.{}.sig", encode(r#"{"alg":"EdDSA"}"#), encode(claims))
    }

    #[test]
    fn reads_the_access_claim_of_a_token() {
        let token = jwt(r#"{"sub":"alice","access":[
                {"type":"repository","name":"alice/app","actions":["push","pull"]},
                {"type":"repository","name":"other/app","actions":["delete"]},
                {"type":"registry","name":"catalog","actions":["*"]}]}"#);
        assert_eq!(
            token_access(&token, "alice/app"),
            Some(vec!["pull".to_owned(), "push".to_owned()])
        );
        assert_eq!(token_access(&token, "bob/app"), Some(vec![]));
        assert_eq!(token_access(&jwt(r#"{"sub":"x"}"#), "a/b"), None);
        assert_eq!(token_access("opaque-token", "a/b"), None);
    }

    #[test]
    fn reads_sentinel_health_answers() {
        let ready: Readiness = serde_json::from_str(
            r#"{"status":"unavailable","checks":{
                "index":{"ok":true,"latency_ms":0.1,"error":null},
                "disk":{"ok":false,"latency_ms":0.2,"error":"No space left on device"}}}"#,
        )
        .unwrap();
        assert!(!ready.is_ready());
        assert_eq!(
            ready.checks["disk"].error.as_deref(),
            Some("No space left on device")
        );
        let live: Liveness = serde_json::from_str(r#"{"status":"ok","version":"0.1.0"}"#).unwrap();
        assert_eq!(live.version.as_deref(), Some("0.1.0"));
    }

    #[test]
    fn reads_log_events() {
        let events: Events = serde_json::from_str(
            r#"{"events":[{"sequence":7,"time":"2026-12-07T04:20:13.512Z","level":"info",
                "target":"sentinel::audit","message":"","fields":{"action":"push","user":"alice"}}]}"#,
        )
        .unwrap();
        assert_eq!(events.events[0].sequence, Some(7));
        assert_eq!(events.events[0].fields["user"], "alice");
    }
}
