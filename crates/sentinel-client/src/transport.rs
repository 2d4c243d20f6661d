//! Sending one request: authentication (with the token flow), retries with
//! backoff, and bodies rebuilt from their source for each attempt.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use sentinel_credentials::Credential;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::io::ReaderStream;
use url::Url;

use crate::auth::{self, AfterUnauthorized, Plan, TokenService};
use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::redact::redacted;
use crate::response::error_for_status;
use crate::retry::{Decision, is_retryable_status, is_retryable_transport, retry_after};
use crate::scope::Scopes;
use crate::token::{IssuedToken, MAX_TOKEN_RESPONSE, parse_token_response};

/// The read buffer of a file body: the only blob bytes held in memory at once.
const FILE_READ_BUFFER: usize = 256 * 1024;
/// The OAuth2 `client_id` sent to token services.
pub(crate) const CLIENT_ID: &str = "sentinel-agent";

/// How a request is authenticated.
pub(crate) enum Auth<'a> {
    /// Not at all (token services, public endpoints).
    None,
    /// For these scopes on this registry: a cached or fresh token, or Basic credentials.
    Scoped(&'a Scopes),
    /// With exactly this header.
    Header(HeaderValue),
}

/// Where a request body comes from; rebuilt for every attempt.
pub(crate) enum BodySource {
    /// No body (`Content-Length: 0` on methods that carry one).
    Empty,
    /// Bytes in memory (manifests, configs, forms).
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`, streamed, each read reported on `progress`.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        progress: Option<UnboundedSender<u64>>,
    },
}

/// One logical request.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: BodySource,
    pub auth: Auth<'a>,
    /// Retry on connection errors, 5xx (not 501) and 429: only for idempotent requests
    /// whose body can be sent again.
    pub retry: bool,
    /// Send again once after a 401 that taught a new way to authenticate.
    pub replay_on_unauthorized: bool,
}

impl<'a> Call<'a> {
    /// An idempotent request with no body, retried and replayed.
    pub fn idempotent(method: Method, url: Url, auth: Auth<'a>) -> Self {
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: BodySource::Empty,
            auth,
            retry: true,
            replay_on_unauthorized: true,
        }
    }

    /// A request sent once: its body cannot be sent again as it was (an upload
    /// whose failure is handled by resuming), so neither retried nor replayed after a 401.
    pub fn once(method: Method, url: Url, auth: Auth<'a>) -> Self {
        Call {
            retry: false,
            replay_on_unauthorized: false,
            ..Call::idempotent(method, url, auth)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: reqwest::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: BodySource) -> Self {
        self.body = body;
        self
    }
}

impl RegistryClient {
    /// Sends `call`, authenticating and retrying as it allows. Returns the final
    /// response whatever its status (a 401 that could not be answered included),
    /// or the transport error once retries are spent.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Response, ClientError> {
        let registry = &self.inner.registry;
        let mut attempt = 0u32;
        let mut replayed = false;
        let mut challenge_scope: Option<String> = None;
        loop {
            let authorization = match &call.auth {
                Auth::None => None,
                Auth::Header(header) => Some(header.clone()),
                // Credentials for the registry go to the registry only, not to a host a Location names.
                Auth::Scoped(scopes) if self.is_same_origin(&call.url) => {
                    self.authorization(scopes, challenge_scope.as_deref())
                        .await?
                }
                Auth::Scoped(_) => None,
            };
            let sent_credentials = authorization.is_some();
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), call.url.clone())
                .headers(call.headers.clone());
            if let Some(authorization) = authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            request = attach_body(request, &call.method, &call.body).await?;
            tracing::debug!(method = %call.method, url = %redacted(&call.url), attempt, "request");
            let outcome = if matches!(call.body, BodySource::File { .. }) {
                // A streamed body is watched by its sender, which sees the bytes move.
                request.send().await.map_err(Failure::Transport)
            } else {
                match tokio::time::timeout(self.inner.idle_timeout, request.send()).await {
                    Ok(sent) => sent.map_err(Failure::Transport),
                    Err(_) => Err(Failure::Stalled),
                }
            };
            match outcome {
                Err(failure) => {
                    let retryable = call.retry && failure.is_retryable();
                    match self.inner.retry.decide(attempt, None) {
                        Decision::RetryAfter(wait) if retryable => {
                            tracing::debug!(url = %redacted(&call.url), ?wait, "transport error, retrying");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        _ => return Err(failure.into_error(registry, self.inner.idle_timeout)),
                    }
                }
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    let Auth::Scoped(scopes) = call.auth else {
                        return Ok(response);
                    };
                    let after =
                        self.inner
                            .auth
                            .unauthorized(response.headers(), scopes, sent_credentials);
                    match after {
                        AfterUnauthorized::Retry {
                            challenge_scope: named,
                        } if call.replay_on_unauthorized && !replayed => {
                            replayed = true;
                            challenge_scope = named;
                        }
                        _ => return Ok(response),
                    }
                }
                Ok(response) if call.retry && is_retryable_status(response.status()) => {
                    let wait = retry_after(response.headers());
                    match self.inner.retry.decide(attempt, wait) {
                        Decision::RetryAfter(wait) => {
                            tracing::debug!(url = %redacted(&call.url), status = %response.status(), ?wait, "retrying");
                            drop(response);
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        Decision::GiveUp => return Ok(response),
                    }
                }
                Ok(response) => return Ok(response),
            }
        }
    }

    /// Whether `url` is on the registry itself.
    fn is_same_origin(&self, url: &Url) -> bool {
        let base = &self.inner.base;
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    }

    /// The `Authorization` for `scopes`, fetching a token if the registry uses the token flow.
    async fn authorization(
        &self,
        scopes: &Scopes,
        challenge_scope: Option<&str>,
    ) -> Result<Option<HeaderValue>, ClientError> {
        match self.inner.auth.plan(scopes) {
            Plan::Anonymous => Ok(None),
            Plan::Header(header) => Ok(Some(header)),
            Plan::FetchToken(service) => {
                let wanted = match challenge_scope {
                    Some(named) => scopes.merged_with(named),
                    None => scopes.clone(),
                };
                // Boxed: fetching a token sends a request of its own (never a scoped one).
                let token = Box::pin(self.fetch_token(&service, &wanted)).await?;
                self.inner.auth.store_token(scopes.clone(), &token);
                Ok(Some(auth::bearer_header(&token.token)))
            }
        }
    }

    /// Asks the token service for a token covering `scopes`: an OAuth2
    /// refresh-token POST for an identity token, a GET with Basic credentials
    /// for a username and password, an anonymous GET otherwise.
    pub(crate) async fn fetch_token(
        &self,
        service: &TokenService,
        scopes: &Scopes,
    ) -> Result<IssuedToken, ClientError> {
        let registry = &self.inner.registry;
        let credential = self.inner.auth.credential();
        if credential.is_some()
            && service.realm.scheme() == "http"
            && self.inner.base.scheme() == "https"
        {
            return Err(ClientError::protocol(
                registry,
                format!(
                    "its token service {} is plain HTTP; refusing to send credentials there",
                    redacted(&service.realm)
                ),
            ));
        }
        let call = match credential {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", token.clone()),
                    ("client_id", CLIENT_ID.to_owned()),
                ];
                if let Some(name) = &service.service {
                    form.push(("service", name.clone()));
                }
                if !scopes.is_empty() {
                    form.push(("scope", scopes.joined()));
                }
                form_post(service.realm.clone(), &form)
            }
            other => {
                let mut url = service.realm.clone();
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(name) = &service.service {
                        query.append_pair("service", name);
                    }
                    for scope in scopes.to_strings() {
                        query.append_pair("scope", &scope);
                    }
                }
                let auth = match other {
                    Some(credential) => Auth::Header(auth::direct_header(credential)),
                    None => Auth::None,
                };
                Call::idempotent(Method::GET, url, auth)
            }
        };
        let response = self.execute(call).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ClientError::authentication_failed(registry));
        }
        if !status.is_success() {
            return Err(error_for_status(registry, response, None).await);
        }
        let body = self
            .read_body(response, MAX_TOKEN_RESPONSE, "the token service's answer")
            .await?;
        parse_token_response(&body, SystemTime::now())
            .map_err(|message| ClientError::protocol(registry, message))
    }
}

/// Why no response came.
enum Failure {
    /// The connection failed.
    Transport(reqwest::Error),
    /// Nothing came back within the idle timeout.
    Stalled,
}

impl Failure {
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Transport(error) => is_retryable_transport(error),
            Failure::Stalled => true,
        }
    }

    fn into_error(self, registry: &str, idle: std::time::Duration) -> ClientError {
        match self {
            Failure::Transport(error) => ClientError::connect(registry, error),
            Failure::Stalled => ClientError::stalled(registry, idle),
        }
    }
}

/// An OAuth2 form POST (`application/x-www-form-urlencoded`); retried, as token requests are idempotent.
pub(crate) fn form_post(url: Url, form: &[(&str, String)]) -> Call<'static> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(key, value)| (*key, value.as_str())))
        .finish();
    Call::idempotent(Method::POST, url, Auth::None)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(BodySource::Bytes(Bytes::from(body)))
}

/// Attaches a fresh body built from `source`, with its `Content-Length`.
async fn attach_body(
    request: reqwest::RequestBuilder,
    method: &Method,
    source: &BodySource,
) -> Result<reqwest::RequestBuilder, ClientError> {
    Ok(match source {
        BodySource::Empty => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                request.header(CONTENT_LENGTH, HeaderValue::from_static("0"))
            } else {
                request
            }
        }
        BodySource::Bytes(bytes) => request
            .header(CONTENT_LENGTH, HeaderValue::from(bytes.len()))
            .body(bytes.clone()),
        BodySource::File {
            path,
            offset,
            len,
            progress,
        } => {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|source| ClientError::io(path, source))?;
            file.seek(std::io::SeekFrom::Start(*offset))
                .await
                .map_err(|source| ClientError::io(path, source))?;
            let progress = progress.clone();
            let stream =
                ReaderStream::with_capacity(file.take(*len), FILE_READ_BUFFER).map(move |chunk| {
                    if let (Ok(bytes), Some(progress)) = (&chunk, &progress) {
                        // The receiver is gone only when the transfer is over; nothing to report then.
                        let _ = progress.send(bytes.len() as u64);
                    }
                    chunk
                });
            request
                .header(CONTENT_LENGTH, HeaderValue::from(*len))
                .body(reqwest::Body::wrap_stream(stream))
        }
    })
}
