//! A small in-memory registry for the behaviours the real one cannot show:
//! Basic and Bearer auth, token services, injected faults (statuses, dropped
//! connections, cut bodies), redirects to a second host, pagination.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use sentinel_oci::Digest;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The username and password the fake accepts.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret-pw";
/// The refresh token the fake's token service accepts, and the one it issues.
pub const REFRESH_TOKEN: &str = "refresh-abc";
pub const ISSUED_REFRESH_TOKEN: &str = "refresh-issued";
/// The secret in the CDN redirect's query.
pub const SIGNATURE: &str = "sig-TOPSECRET";

/// How the fake wants to be authenticated.
#[derive(Clone, Debug, Default)]
pub enum AuthMode {
    /// No authentication.
    #[default]
    Open,
    /// HTTP Basic with [`USER`] / [`PASSWORD`].
    Basic,
    /// The Docker token flow with the token service at `/token`.
    Bearer {
        /// Whether the token service issues tokens without credentials.
        anonymous: bool,
        /// Whether the token service answers the OAuth2 password grant (else 404).
        password_grant: bool,
    },
}

/// What to do to a matching request instead of (or while) serving it.
#[derive(Clone, Debug)]
pub enum FaultAction {
    /// Answer this status (with `Retry-After` if given) and an error envelope.
    Status(u16, Option<&'static str>),
    /// Read this many bytes of the request body, keep them (as a server that
    /// persisted them would), then close the connection.
    DropRequestAfter(usize),
    /// Same, then forget the upload session (as a restart without persistence would).
    DropRequestAndForgetSession(usize),
    /// Read this many bytes of the request body, keep them, then neither read nor answer.
    StallRequestAfter(usize),
    /// Send this many bytes of the response body, then break the connection.
    CutResponseAfter(usize),
    /// Send this many bytes of the response body, then nothing more.
    StallResponseAfter(usize),
    /// Ignore `Range` and answer 200 with the whole body.
    IgnoreRange,
}

/// A fault for the next `times` requests with `method` whose path contains `path`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Method,
    pub path: &'static str,
    /// Skip this many matching requests first.
    pub after: u32,
    pub times: u32,
    pub action: FaultAction,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `registry` or `cdn`.
    pub server: &'static str,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub content_range: Option<String>,
    pub body_len: usize,
}

/// One token request as the token service saw it.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: Method,
    /// The username of a Basic `Authorization`, if any.
    pub basic_user: Option<String>,
    pub form: HashMap<String, String>,
    /// The scopes asked for: every `scope` query parameter, or the form's space-separated `scope`.
    pub scopes: Vec<String>,
}

#[derive(Default)]
struct State {
    auth: AuthMode,
    chunk_min: Option<u64>,
    referrers_api: bool,
    redirect_blobs: bool,
    revoke_after_first_patch: bool,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
    token_requests: Vec<TokenRequest>,
    /// token -> granted scopes
    tokens: HashMap<String, Vec<String>>,
    blobs: HashMap<String, Vec<u8>>,
    links: HashSet<(String, String)>,
    uploads: HashMap<String, Vec<u8>>,
    manifests: HashMap<(String, String), (String, Vec<u8>, String)>,
    counter: u64,
    patches: Vec<usize>,
}

/// The fake registry and its CDN twin (another port, so another host to a client).
#[derive(Clone)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    pub cdn_addr: SocketAddr,
}

pub struct Options {
    pub auth: AuthMode,
    pub chunk_min: Option<u64>,
    pub referrers_api: bool,
    pub redirect_blobs: bool,
    pub revoke_after_first_patch: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth: AuthMode::Open,
            chunk_min: None,
            referrers_api: true,
            redirect_blobs: false,
            revoke_after_first_patch: false,
        }
    }
}

impl Fake {
    pub async fn start(options: Options) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cdn = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            state: Arc::new(Mutex::new(State {
                auth: options.auth,
                chunk_min: options.chunk_min,
                referrers_api: options.referrers_api,
                redirect_blobs: options.redirect_blobs,
                revoke_after_first_patch: options.revoke_after_first_patch,
                ..State::default()
            })),
            addr: listener.local_addr().unwrap(),
            cdn_addr: cdn.local_addr().unwrap(),
        };
        tokio::spawn(serve(listener, fake.clone(), "registry"));
        tokio::spawn(serve(cdn, fake.clone(), "cdn"));
        fake
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn fault(&self, method: Method, path: &'static str, times: u32, action: FaultAction) {
        self.fault_after(method, path, 0, times, action);
    }

    pub fn fault_after(
        &self,
        method: Method,
        path: &'static str,
        after: u32,
        times: u32,
        action: FaultAction,
    ) {
        self.state.lock().unwrap().faults.push(Fault {
            method,
            path,
            after,
            times,
            action,
        });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().token_requests.clone()
    }

    pub fn patches(&self) -> Vec<usize> {
        self.state.lock().unwrap().patches.clone()
    }

    pub fn blob(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .blobs
            .get(digest.as_str())
            .cloned()
    }

    /// Stores a blob in `repo` directly.
    pub fn put_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256(bytes);
        let mut state = self.state.lock().unwrap();
        state.blobs.insert(digest.to_string(), bytes.to_vec());
        state.links.insert((repo.to_owned(), digest.to_string()));
        digest
    }

    /// Stores a manifest under `reference`, announced with `announced` as its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        announced: &str,
    ) {
        self.state.lock().unwrap().manifests.insert(
            (repo.to_owned(), reference.to_owned()),
            (media_type.to_owned(), bytes.to_vec(), announced.to_owned()),
        );
    }
}

async fn serve(listener: TcpListener, fake: Fake, server: &'static str) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let fake = fake.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let kill_for_requests = kill.clone();
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let fake = fake.clone();
                    let kill = kill_for_requests.clone();
                    async move {
                        Ok::<_, Infallible>(fake.handle(server, kill, request.map(Body::new)).await)
                    }
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
            }
        });
    }
}

fn response(status: StatusCode) -> axum::http::response::Builder {
    Response::builder().status(status)
}

fn empty(status: StatusCode) -> Response<Body> {
    response(status).body(Body::empty()).unwrap()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    response(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#
        )))
        .unwrap()
}

fn query_pairs(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn basic_user(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

/// Whether `granted` scopes allow `action` on `repository`.
fn covers(granted: &[String], repository: &str, action: &str) -> bool {
    granted.iter().any(|scope| {
        let mut parts = scope.splitn(3, ':');
        parts.next() == Some("repository")
            && parts.next() == Some(repository)
            && parts
                .next()
                .is_some_and(|actions| actions.split(',').any(|a| a == action || a == "*"))
    })
}

/// Serves `bytes` honouring `Range: bytes=N-` unless told otherwise, maybe cut short.
fn serve_bytes(
    bytes: &[u8],
    range: Option<&str>,
    fault: Option<&FaultAction>,
    digest: &str,
) -> Response<Body> {
    let start = match (range, fault) {
        (_, Some(FaultAction::IgnoreRange)) | (None, _) => None,
        (Some(range), _) => range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
    };
    let (status, body) = match start {
        Some(start) if start < bytes.len() => {
            (StatusCode::PARTIAL_CONTENT, bytes[start..].to_vec())
        }
        Some(_) => return empty(StatusCode::RANGE_NOT_SATISFIABLE),
        None => (StatusCode::OK, bytes.to_vec()),
    };
    let mut builder = response(status)
        .header(header::CONTENT_LENGTH, body.len())
        .header("docker-content-digest", digest)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(start) = start {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
        );
    }
    match fault {
        Some(FaultAction::CutResponseAfter(n)) => {
            let first = Bytes::copy_from_slice(&body[..(*n).min(body.len())]);
            // The pause lets the server flush the first part before the connection breaks.
            let stream =
                futures_util::stream::iter([Ok(first)]).chain(futures_util::stream::once(async {
                    tokio::task::yield_now().await;
                    Err(std::io::Error::other("connection cut by the test"))
                }));
            builder.body(Body::from_stream(stream)).unwrap()
        }
        Some(FaultAction::StallResponseAfter(n)) => {
            let first = Bytes::copy_from_slice(&body[..(*n).min(body.len())]);
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(first)])
                .chain(futures_util::stream::pending());
            builder.body(Body::from_stream(stream)).unwrap()
        }
        _ => builder.body(Body::from(body)).unwrap(),
    }
}

impl Fake {
    /// The action for this request: every matching fault counts it, the first one due acts.
    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultAction> {
        let mut state = self.state.lock().unwrap();
        let mut chosen = None;
        for fault in state.faults.iter_mut() {
            if fault.method != *method || !path.contains(fault.path) || fault.times == 0 {
                continue;
            }
            if fault.after > 0 {
                fault.after -= 1;
            } else if chosen.is_none() {
                fault.times -= 1;
                chosen = Some(fault.action.clone());
            }
        }
        chosen
    }

    fn challenge(&self, scope: Option<String>) -> Response<Body> {
        let state = self.state.lock().unwrap();
        let value = match &state.auth {
            AuthMode::Basic => r#"Basic realm="fake""#.to_owned(),
            _ => {
                let mut value = format!(
                    r#"Bearer realm="http://{}/token",service="fake-registry""#,
                    self.addr
                );
                if let Some(scope) = scope {
                    value.push_str(&format!(r#",scope="{scope}""#));
                }
                value
            }
        };
        response(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ))
            .unwrap()
    }

    /// `None` when the request may go on; a 401 otherwise. `needs` is (repository, action) pairs.
    fn authorize(&self, headers: &HeaderMap, needs: &[(String, &str)]) -> Option<Response<Body>> {
        let auth = self.state.lock().unwrap().auth.clone();
        let scope = needs
            .first()
            .map(|(repository, action)| format!("repository:{repository}:{action}"));
        match auth {
            AuthMode::Open => None,
            AuthMode::Basic => match basic_user(headers) {
                Some((user, password)) if user == USER && password == PASSWORD => None,
                _ => Some(self.challenge(None)),
            },
            AuthMode::Bearer { .. } => {
                let granted = bearer(headers)
                    .and_then(|token| self.state.lock().unwrap().tokens.get(&token).cloned());
                match granted {
                    Some(granted)
                        if needs
                            .iter()
                            .all(|(repo, action)| covers(&granted, repo, action)) =>
                    {
                        None
                    }
                    _ => Some(self.challenge(scope)),
                }
            }
        }
    }

    async fn handle(
        &self,
        server: &'static str,
        kill: Arc<Notify>,
        request: Request<Body>,
    ) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let header_text = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let mut seen = Seen {
            server,
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            authorization: header_text(header::AUTHORIZATION),
            range: header_text(header::RANGE),
            content_range: header_text(header::CONTENT_RANGE),
            body_len: 0,
        };
        let fault = self.take_fault(&parts.method, &path);
        if let Some(FaultAction::Status(status, retry_after)) = &fault {
            self.state.lock().unwrap().seen.push(seen);
            let mut builder = response(StatusCode::from_u16(*status).unwrap());
            if let Some(retry_after) = retry_after {
                builder = builder.header(header::RETRY_AFTER, *retry_after);
            }
            return builder
                .body(Body::from(
                    r#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#,
                ))
                .unwrap();
        }
        if let Some(
            FaultAction::DropRequestAfter(n)
            | FaultAction::DropRequestAndForgetSession(n)
            | FaultAction::StallRequestAfter(n),
        ) = &fault
        {
            let forget = matches!(fault, Some(FaultAction::DropRequestAndForgetSession(_)));
            let stall = matches!(fault, Some(FaultAction::StallRequestAfter(_)));
            let id = path.rsplit('/').next().unwrap_or("").to_owned();
            let mut stream = body.into_data_stream();
            let mut received = Vec::new();
            while received.len() < *n {
                match stream.next().await {
                    Some(Ok(chunk)) => received.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            received.truncate(*n);
            seen.body_len = received.len();
            {
                let mut state = self.state.lock().unwrap();
                state.seen.push(seen);
                if forget {
                    state.uploads.remove(&id);
                } else if let Some(upload) = state.uploads.get_mut(&id) {
                    upload.extend_from_slice(&received);
                }
            }
            if !stall {
                kill.notify_one();
            }
            return std::future::pending().await;
        }
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        seen.body_len = bytes.len();
        self.state.lock().unwrap().seen.push(seen);

        if server == "cdn" {
            let digest = path.trim_start_matches("/cdn/");
            let blob = self.state.lock().unwrap().blobs.get(digest).cloned();
            return match blob {
                Some(blob) => serve_bytes(
                    &blob,
                    header_text(header::RANGE).as_deref(),
                    fault.as_ref(),
                    digest,
                ),
                None => empty(StatusCode::NOT_FOUND),
            };
        }
        if path == "/token" {
            return self.token(&parts.method, &parts.headers, &query, &bytes);
        }
        if path == "/v2/" {
            let auth = self.state.lock().unwrap().auth.clone();
            let refused = match auth {
                AuthMode::Open => None,
                AuthMode::Basic => self.authorize(&parts.headers, &[]),
                AuthMode::Bearer { .. } => {
                    let known = bearer(&parts.headers)
                        .is_some_and(|t| self.state.lock().unwrap().tokens.contains_key(&t));
                    (!known).then(|| self.challenge(None))
                }
            };
            return refused.unwrap_or_else(|| empty(StatusCode::OK));
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return empty(StatusCode::NOT_FOUND);
        };
        let params = query_pairs(&query);
        let action = match parts.method {
            Method::GET | Method::HEAD => "pull",
            Method::DELETE => "delete",
            _ => "push",
        };
        let repository = [
            "/blobs/uploads/",
            "/blobs/",
            "/manifests/",
            "/tags/list",
            "/referrers/",
        ]
        .iter()
        .find_map(|marker| rest.rfind(marker).map(|i| rest[..i].to_owned()))
        .unwrap_or_default();
        let mut needs = vec![(repository.clone(), action)];
        if let Some(from) = params.get("from") {
            needs.push((from.clone(), "pull"));
        }
        if let Some(refused) = self.authorize(&parts.headers, &needs) {
            return refused;
        }
        let range = header_text(header::RANGE);
        if let Some(i) = rest.rfind("/blobs/uploads/") {
            let id = &rest[i + "/blobs/uploads/".len()..];
            return self.upload(
                &parts.method,
                &parts.headers,
                &repository,
                id,
                &params,
                &bytes,
            );
        }
        if let Some(i) = rest.rfind("/blobs/") {
            let digest = &rest[i + "/blobs/".len()..];
            let state = self.state.lock().unwrap();
            if !state
                .links
                .contains(&(repository.clone(), digest.to_owned()))
            {
                return error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown");
            }
            let blob = state.blobs[digest].clone();
            if parts.method == Method::HEAD {
                return response(StatusCode::OK)
                    .header(header::CONTENT_LENGTH, blob.len())
                    .body(Body::empty())
                    .unwrap();
            }
            if state.redirect_blobs {
                return response(StatusCode::TEMPORARY_REDIRECT)
                    .header(
                        header::LOCATION,
                        format!("http://{}/cdn/{digest}?sig={SIGNATURE}", self.cdn_addr),
                    )
                    .body(Body::empty())
                    .unwrap();
            }
            return serve_bytes(&blob, range.as_deref(), fault.as_ref(), digest);
        }
        if let Some(i) = rest.rfind("/manifests/") {
            let reference = &rest[i + "/manifests/".len()..];
            return self.manifest(
                &parts.method,
                &parts.headers,
                &repository,
                reference,
                &bytes,
            );
        }
        if rest.ends_with("/tags/list") {
            return self.tags(&repository, &params);
        }
        if rest.contains("/referrers/") {
            return if self.state.lock().unwrap().referrers_api {
                response(StatusCode::OK)
                    .header(header::CONTENT_TYPE, sentinel_oci::media_types::OCI_INDEX)
                    .body(Body::from(r#"{"schemaVersion":2,"manifests":[]}"#))
                    .unwrap()
            } else {
                error(StatusCode::NOT_FOUND, "NOT_FOUND", "no referrers API")
            };
        }
        empty(StatusCode::NOT_FOUND)
    }

    fn token(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: &str,
        body: &[u8],
    ) -> Response<Body> {
        let mut state = self.state.lock().unwrap();
        let AuthMode::Bearer {
            anonymous,
            password_grant,
        } = state.auth.clone()
        else {
            return empty(StatusCode::NOT_FOUND);
        };
        let user = basic_user(headers);
        let form: HashMap<String, String> = if *method == Method::POST {
            url::form_urlencoded::parse(body).into_owned().collect()
        } else {
            HashMap::new()
        };
        let scopes: Vec<String> = if *method == Method::POST {
            form.get("scope")
                .map(|s| {
                    s.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            url::form_urlencoded::parse(query.as_bytes())
                .filter(|(key, _)| key == "scope")
                .map(|(_, value)| value.into_owned())
                .collect()
        };
        state.token_requests.push(TokenRequest {
            method: method.clone(),
            basic_user: user.as_ref().map(|(user, _)| user.clone()),
            form: form.clone(),
            scopes: scopes.clone(),
        });
        let mut refresh_token = None;
        let allowed = if *method == Method::POST {
            match form.get("grant_type").map(String::as_str) {
                Some("refresh_token") => {
                    form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN)
                }
                Some("password") if !password_grant => return empty(StatusCode::NOT_FOUND),
                Some("password") => {
                    let ok = form.get("username").map(String::as_str) == Some(USER)
                        && form.get("password").map(String::as_str) == Some(PASSWORD);
                    if !ok {
                        return response(StatusCode::BAD_REQUEST)
                            .body(Body::from(r#"{"error":"invalid_grant"}"#))
                            .unwrap();
                    }
                    if form.get("access_type").map(String::as_str) == Some("offline") {
                        refresh_token = Some(ISSUED_REFRESH_TOKEN);
                    }
                    true
                }
                _ => false,
            }
        } else {
            match &user {
                Some((user, password)) => user == USER && password == PASSWORD,
                None => anonymous,
            }
        };
        if !allowed {
            return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad credentials");
        }
        state.counter += 1;
        let token = format!("tok-{}", state.counter);
        state.tokens.insert(token.clone(), scopes);
        let body = match refresh_token {
            Some(refresh) => format!(
                r#"{{"access_token":"{token}","expires_in":300,"refresh_token":"{refresh}"}}"#
            ),
            None => format!(
                r#"{{"token":"{token}","expires_in":300,"issued_at":"2030-01-01T00:00:00Z"}}"#
            ),
        };
        response(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    }

    fn upload(
        &self,
        method: &Method,
        headers: &HeaderMap,
        repository: &str,
        id: &str,
        params: &HashMap<String, String>,
        body: &[u8],
    ) -> Response<Body> {
        let session_response =
            |status: StatusCode, id: &str, len: usize, chunk_min: Option<u64>| {
                let mut builder = response(status)
                    .header(
                        header::LOCATION,
                        format!("/v2/{repository}/blobs/uploads/{id}?state={len}"),
                    )
                    .header(header::RANGE, format!("0-{}", len.saturating_sub(1)))
                    .header(header::CONTENT_LENGTH, 0);
                if let Some(min) = chunk_min {
                    builder = builder.header("oci-chunk-min-length", min);
                }
                builder.body(Body::empty()).unwrap()
            };
        let mut state = self.state.lock().unwrap();
        match *method {
            Method::POST => {
                if let (Some(digest), Some(from)) = (params.get("mount"), params.get("from"))
                    && state.links.contains(&(from.clone(), digest.clone()))
                {
                    state.links.insert((repository.to_owned(), digest.clone()));
                    return response(StatusCode::CREATED)
                        .header("docker-content-digest", digest.as_str())
                        .body(Body::empty())
                        .unwrap();
                }
                state.counter += 1;
                let id = format!("session-{}", state.counter);
                state.uploads.insert(id.clone(), Vec::new());
                session_response(StatusCode::ACCEPTED, &id, 0, state.chunk_min)
            }
            Method::PATCH => {
                let revoke = state.revoke_after_first_patch;
                let Some(upload) = state.uploads.get_mut(id) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        "BLOB_UPLOAD_UNKNOWN",
                        "upload unknown",
                    );
                };
                let start = headers
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<usize>().ok());
                if start != Some(upload.len()) {
                    let len = upload.len();
                    return response(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header(header::RANGE, format!("0-{}", len.saturating_sub(1)))
                        .body(Body::empty())
                        .unwrap();
                }
                upload.extend_from_slice(body);
                let len = upload.len();
                state.patches.push(body.len());
                if revoke {
                    state.revoke_after_first_patch = false;
                    state.tokens.clear();
                }
                session_response(StatusCode::ACCEPTED, id, len, None)
            }
            Method::GET => match state.uploads.get(id) {
                Some(upload) => session_response(StatusCode::NO_CONTENT, id, upload.len(), None),
                None => error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "upload unknown",
                ),
            },
            Method::PUT => {
                let Some(mut upload) = state.uploads.remove(id) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        "BLOB_UPLOAD_UNKNOWN",
                        "upload unknown",
                    );
                };
                upload.extend_from_slice(body);
                let digest = Digest::sha256(&upload);
                if params.get("digest") != Some(&digest.to_string()) {
                    return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest mismatch");
                }
                state.blobs.insert(digest.to_string(), upload);
                state
                    .links
                    .insert((repository.to_owned(), digest.to_string()));
                response(StatusCode::CREATED)
                    .header("docker-content-digest", digest.as_str())
                    .header(header::LOCATION, format!("/v2/{repository}/blobs/{digest}"))
                    .body(Body::empty())
                    .unwrap()
            }
            _ => empty(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    fn manifest(
        &self,
        method: &Method,
        headers: &HeaderMap,
        repository: &str,
        reference: &str,
        body: &[u8],
    ) -> Response<Body> {
        let mut state = self.state.lock().unwrap();
        let key = (repository.to_owned(), reference.to_owned());
        match *method {
            Method::PUT => {
                let media_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let digest = Digest::sha256(body).to_string();
                state
                    .manifests
                    .insert(key, (media_type.clone(), body.to_vec(), digest.clone()));
                state.manifests.insert(
                    (repository.to_owned(), digest.clone()),
                    (media_type, body.to_vec(), digest.clone()),
                );
                response(StatusCode::CREATED)
                    .header("docker-content-digest", digest)
                    .body(Body::empty())
                    .unwrap()
            }
            Method::GET | Method::HEAD => match state.manifests.get(&key) {
                Some((media_type, bytes, announced)) => response(StatusCode::OK)
                    .header(header::CONTENT_TYPE, media_type.as_str())
                    .header(header::CONTENT_LENGTH, bytes.len())
                    .header("docker-content-digest", announced.as_str())
                    .body(if *method == Method::GET {
                        Body::from(bytes.clone())
                    } else {
                        Body::empty()
                    })
                    .unwrap(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                ),
            },
            _ => empty(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    /// Tags two per page, with a relative `Link` to the next page.
    fn tags(&self, repository: &str, params: &HashMap<String, String>) -> Response<Body> {
        let state = self.state.lock().unwrap();
        let mut tags: Vec<&str> = state
            .manifests
            .keys()
            .filter(|(repo, reference)| repo == repository && !reference.contains(':'))
            .map(|(_, reference)| reference.as_str())
            .collect();
        if tags.is_empty() {
            return error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository unknown");
        }
        tags.sort_unstable();
        let after: Vec<&str> = match params.get("last") {
            Some(last) => tags
                .into_iter()
                .filter(|tag| *tag > last.as_str())
                .collect(),
            None => tags,
        };
        let page: Vec<&str> = after.iter().take(2).copied().collect();
        let mut builder = response(StatusCode::OK).header(header::CONTENT_TYPE, "application/json");
        if after.len() > 2 {
            builder = builder.header(
                header::LINK,
                HeaderValue::from_str(&format!(
                    r#"</v2/{repository}/tags/list?n=2&last={}>; rel="next""#,
                    page[1]
                ))
                .unwrap(),
            );
        }
        let body = serde_json::json!({"name": repository, "tags": page});
        builder.body(Body::from(body.to_string())).unwrap()
    }
}
