//! Helpers shared by the workflow test files: a small client wrapper around
//! [`TestRegistry`], blob and manifest pushing, manifest builders and OCI
//! error-envelope assertions.
//!
//! Every helper works from the wire format the OCI Distribution Spec v1.1
//! describes, never from the server's internals.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

pub use sentinel_conformance::{TestRegistry, sha256_digest};

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.config.v1+json`
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `application/vnd.oci.empty.v1+json`
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker container config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzipped layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// An `Accept` header value listing every manifest type these tests push.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// A running registry plus a client that never follows redirects.
pub struct Oci {
    /// The registry under test.
    pub reg: TestRegistry,
    /// The HTTP client (redirects off).
    pub http: reqwest::Client,
}

impl Oci {
    /// Starts a fresh registry with its own data directory.
    pub async fn start() -> Self {
        Self {
            reg: TestRegistry::start().await,
            http: sentinel_conformance::client(),
        }
    }

    /// Restarts the registry on the same data directory (the port changes).
    pub async fn restart(self) -> Self {
        Self {
            reg: self.reg.restart().await,
            http: self.http,
        }
    }

    /// Resolves a path (`/v2/...`) or an absolute URL against the registry.
    pub fn resolve(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else if path_or_url.starts_with('/') {
            self.reg.url(path_or_url)
        } else {
            panic!("cannot resolve relative reference {path_or_url:?} without a leading slash")
        }
    }

    /// Starts a request with `method` to `path_or_url`.
    pub fn req(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        self.http.request(method, self.resolve(path_or_url))
    }

    /// `GET`
    pub fn get(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::GET, path_or_url)
    }

    /// `HEAD`
    pub fn head(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::HEAD, path_or_url)
    }

    /// `POST`
    pub fn post(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::POST, path_or_url)
    }

    /// `PUT`
    pub fn put(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::PUT, path_or_url)
    }

    /// `PATCH`
    pub fn patch(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::PATCH, path_or_url)
    }

    /// `DELETE`
    pub fn delete(&self, path_or_url: &str) -> RequestBuilder {
        self.req(Method::DELETE, path_or_url)
    }

    /// `GET /v2/<repo>/manifests/<reference>` with an `Accept` header for every manifest type.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Reply {
        send(
            self.get(&format!("/v2/{repo}/manifests/{reference}"))
                .header("Accept", ACCEPT_MANIFESTS),
        )
        .await
    }

    /// `HEAD /v2/<repo>/manifests/<reference>` with an `Accept` header for every manifest type.
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Reply {
        send(
            self.head(&format!("/v2/{repo}/manifests/{reference}"))
                .header("Accept", ACCEPT_MANIFESTS),
        )
        .await
    }

    /// `GET /v2/<repo>/blobs/<digest>`
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Reply {
        send(self.get(&format!("/v2/{repo}/blobs/{digest}"))).await
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`
    pub async fn head_blob(&self, repo: &str, digest: &str) -> Reply {
        send(self.head(&format!("/v2/{repo}/blobs/{digest}"))).await
    }

    /// `POST /v2/<repo>/blobs/uploads/` (end-4a); asserts `202 Accepted` and returns
    /// the session's `Location` as an absolute URL.
    pub async fn start_upload(&self, repo: &str) -> String {
        let reply = send(
            self.post(&format!("/v2/{repo}/blobs/uploads/"))
                .body(Vec::<u8>::new()),
        )
        .await
        .expect_status(StatusCode::ACCEPTED);
        self.resolve(reply.require_header("Location"))
    }

    /// Pushes `bytes` to `repo` with POST then PUT (end-4a, end-6) under `digest`,
    /// asserting `201 Created`.
    pub async fn push_blob_with_digest(&self, repo: &str, bytes: &[u8], digest: &str) {
        let session = self.start_upload(repo).await;
        send(
            self.put(&with_query(&session, &format!("digest={digest}")))
                .header("Content-Type", "application/octet-stream")
                .body(bytes.to_vec()),
        )
        .await
        .expect_status(StatusCode::CREATED);
    }

    /// Pushes `bytes` monolithically (POST then PUT) and returns its sha256 digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        self.push_blob_with_digest(repo, bytes, &digest).await;
        digest
    }

    /// Pushes `bytes` as a blob and returns its descriptor with `media_type`.
    pub async fn push_blob_desc(&self, repo: &str, media_type: &str, bytes: &[u8]) -> Descriptor {
        let digest = self.push_blob(repo, bytes).await;
        Descriptor::new(media_type, &digest, bytes.len())
    }

    /// `PUT /v2/<repo>/manifests/<reference>` (end-7) with `Content-Type: media_type`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Reply {
        send(
            self.put(&format!("/v2/{repo}/manifests/{reference}"))
                .header("Content-Type", media_type)
                .body(body.to_vec()),
        )
        .await
    }

    /// Pushes a manifest, asserts `201 Created`, and returns its sha256 digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        self.put_manifest(repo, reference, media_type, body)
            .await
            .expect_status(StatusCode::CREATED);
        sha256_digest(body)
    }

    /// Pushes a small OCI image (config blob, one layer blob, manifest) to `repo`
    /// under `reference` (a tag, or `None` to push by digest). `seed` makes the
    /// content unique.
    pub async fn push_image(&self, repo: &str, reference: Option<&str>, seed: &str) -> Image {
        let config_bytes = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer_bytes = format!("layer bytes for {seed}").into_bytes();
        let config = self
            .push_blob_desc(repo, OCI_CONFIG, config_bytes.as_bytes())
            .await;
        let layer = self.push_blob_desc(repo, OCI_LAYER, &layer_bytes).await;
        let manifest = to_bytes(&image_manifest(&config, std::slice::from_ref(&layer)));
        let digest = sha256_digest(&manifest);
        let reference = reference.map_or_else(|| digest.clone(), str::to_string);
        self.push_manifest(repo, &reference, OCI_MANIFEST, &manifest)
            .await;
        Image {
            descriptor: Descriptor::new(OCI_MANIFEST, &digest, manifest.len()),
            manifest,
            digest,
            config,
            layer,
            layer_bytes,
        }
    }
}

/// What [`Oci::push_image`] pushed.
pub struct Image {
    /// The exact manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest's sha256 digest.
    pub digest: String,
    /// The manifest's own descriptor.
    pub descriptor: Descriptor,
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// The layer blob's descriptor.
    pub layer: Descriptor,
    /// The layer's bytes.
    pub layer_bytes: Vec<u8>,
}

/// A content descriptor (OCI image-spec `descriptor.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// `mediaType`
    pub media_type: String,
    /// `digest`
    pub digest: String,
    /// `size`
    pub size: u64,
}

impl Descriptor {
    /// A descriptor for content of `size` bytes.
    pub fn new(media_type: &str, digest: &str, size: usize) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size: size as u64,
        }
    }

    /// The descriptor for `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self::new(media_type, &sha256_digest(bytes), bytes.len())
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        })
    }
}

/// An OCI image manifest with `config` and `layers`.
pub fn image_manifest(config: &Descriptor, layers: &[Descriptor]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    })
}

/// An OCI image index listing `manifests`.
pub fn image_index(manifests: &[Descriptor]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    })
}

/// The bytes of `value` as pretty-printed JSON with a trailing newline, so that
/// a registry re-serialising the document would be caught by byte comparisons.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("serialise JSON");
    bytes.push(b'\n');
    bytes
}

/// The `sha512:<hex>` digest of `bytes`.
pub fn sha512_digest(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(bytes)))
}

/// Whether `digest` (sha256 or sha512) is the digest of `bytes`.
pub fn digest_matches(digest: &str, bytes: &[u8]) -> bool {
    match digest.split_once(':') {
        Some(("sha256", _)) => digest == sha256_digest(bytes),
        Some(("sha512", _)) => digest == sha512_digest(bytes),
        _ => false,
    }
}

/// `url` with `query` (`k=v`) appended, keeping any query the URL already has.
pub fn with_query(url: &str, query: &str) -> String {
    if url.contains('?') {
        format!("{url}&{query}")
    } else {
        format!("{url}?{query}")
    }
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The path-and-query part of a `Location` (strips `scheme://authority` if present).
pub fn location_path(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        },
        None => location.to_string(),
    }
}

/// Whether `text` contains a UUID in its canonical 8-4-4-4-12 hex form.
pub fn contains_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    (0..bytes.len()).any(|start| {
        let mut i = start;
        for (n, len) in GROUPS.iter().enumerate() {
            if n > 0 {
                if bytes.get(i) != Some(&b'-') {
                    return false;
                }
                i += 1;
            }
            for _ in 0..*len {
                match bytes.get(i) {
                    Some(b) if b.is_ascii_hexdigit() => i += 1,
                    _ => return false,
                }
            }
        }
        true
    })
}

/// The target of a `Link: <url>; rel="next"` header, if `link` is one.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let part = part.trim();
        let start = part.find('<')?;
        let end = part.find('>')?;
        let params = &part[end + 1..];
        let is_next = params.split(';').any(|param| {
            let param = param.trim().replace(' ', "");
            param == "rel=\"next\"" || param == "rel=next"
        });
        is_next.then(|| part[start + 1..end].to_string())
    })
}

/// A response, fully read.
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
    /// `METHOD url`, for failure messages.
    pub what: String,
}

/// Sends `request` and reads the whole response.
pub async fn send(request: RequestBuilder) -> Reply {
    let (client, request) = request.build_split();
    let request = request.expect("build the request");
    let what = format!("{} {}", request.method(), request.url());
    let response = client
        .execute(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"))
        .to_vec();
    Reply {
        status,
        headers,
        body,
        what,
    }
}

impl Reply {
    /// The body as (lossy) UTF-8, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status code, printing the body on mismatch.
    #[track_caller]
    pub fn expect_status(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "{}: expected status {status}, got {} with body {:?}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    /// A header's value as a string, if present (and valid UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: header {name} is not valid UTF-8", self.what))
        })
    }

    /// A header's value; panics if absent.
    #[track_caller]
    pub fn require_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| {
            panic!(
                "{}: response ({}) lacks the {name} header; headers: {:?}",
                self.what, self.status, self.headers
            )
        })
    }

    /// Asserts a header has exactly `value`.
    #[track_caller]
    pub fn expect_header(self, name: &str, value: &str) -> Self {
        assert_eq!(
            self.require_header(name),
            value,
            "{}: header {name}",
            self.what
        );
        self
    }

    /// The `Content-Length` header as a number (read from the header itself, so
    /// that it works for `HEAD` responses too).
    #[track_caller]
    pub fn content_length(&self) -> u64 {
        self.require_header("Content-Length")
            .parse()
            .unwrap_or_else(|_| panic!("{}: Content-Length is not a number", self.what))
    }

    /// The `Content-Type` without parameters.
    #[track_caller]
    pub fn content_type(&self) -> &str {
        self.require_header("Content-Type")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }

    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.what, self.text()))
    }

    /// The `code`s of the OCI error envelope in the body, checking its shape:
    /// `{"errors": [{"code": "...", "message": "...", "detail": ...}, ...]}` with
    /// codes made only of uppercase letters and underscores.
    #[track_caller]
    pub fn error_codes(&self) -> Vec<String> {
        let body = self.json();
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: error body lacks an `errors` array: {body}", self.what));
        assert!(
            !errors.is_empty(),
            "{}: the `errors` array is empty",
            self.what
        );
        errors
            .iter()
            .map(|error| {
                let code = error
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| {
                        panic!("{}: error without a string `code`: {error}", self.what)
                    });
                assert!(
                    !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                    "{}: error code {code:?} is not uppercase letters and underscores",
                    self.what
                );
                if let Some(message) = error.get("message") {
                    assert!(
                        message.is_string(),
                        "{}: error `message` is not a string: {error}",
                        self.what
                    );
                }
                code.to_string()
            })
            .collect()
    }

    /// Asserts the status and that the OCI error envelope holds an error with `code`.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> Self {
        let reply = self.expect_status(status);
        reply.expect_code(&[code]);
        reply
    }

    /// Asserts the status is one of `statuses` and the envelope holds one of `codes`.
    #[track_caller]
    pub fn expect_error_in(self, statuses: &[StatusCode], codes: &[&str]) -> Self {
        assert!(
            statuses.contains(&self.status),
            "{}: expected one of {statuses:?}, got {} with body {:?}",
            self.what,
            self.status,
            self.text()
        );
        self.expect_code(codes);
        self
    }

    /// Asserts the envelope holds an error whose code is one of `codes`.
    #[track_caller]
    pub fn expect_code(&self, codes: &[&str]) {
        let found = self.error_codes();
        assert!(
            found.iter().any(|c| codes.contains(&c.as_str())),
            "{}: expected an error code in {codes:?}, got {found:?}",
            self.what
        );
    }

    /// Asserts the body is empty.
    #[track_caller]
    pub fn expect_empty_body(self) -> Self {
        assert!(
            self.body.is_empty(),
            "{}: expected no body, got {} bytes: {:?}",
            self.what,
            self.body.len(),
            self.text()
        );
        self
    }

    /// Asserts a successful manifest fetch: body equals `bytes`, `Content-Type` is
    /// `media_type`, `Docker-Content-Digest` is the sha256 of `bytes`.
    #[track_caller]
    pub fn expect_manifest(self, bytes: &[u8], media_type: &str) -> Self {
        let reply = self.expect_status(StatusCode::OK);
        assert_eq!(
            reply.content_type(),
            media_type,
            "{}: Content-Type",
            reply.what
        );
        assert_eq!(
            reply.require_header("Docker-Content-Digest"),
            sha256_digest(bytes),
            "{}: Docker-Content-Digest",
            reply.what
        );
        assert!(
            reply.body == bytes,
            "{}: manifest bytes differ from the pushed ones:\n got: {:?}\nwant: {:?}",
            reply.what,
            reply.text(),
            String::from_utf8_lossy(bytes)
        );
        reply
    }
}

/// Asserts that the registry refused a request for an invalid repository name:
/// `400 Bad Request` with `NAME_INVALID`, or `404 Not Found` (the only failure
/// status the endpoint table lists for the pull endpoints) with `NAME_INVALID`
/// or `NAME_UNKNOWN`.
#[track_caller]
pub fn expect_name_rejected(status: StatusCode, body: &[u8], what: &str) {
    let codes = || -> Vec<String> {
        let reply = Reply {
            status,
            headers: HeaderMap::new(),
            body: body.to_vec(),
            what: what.to_string(),
        };
        reply.error_codes()
    };
    match status {
        StatusCode::BAD_REQUEST => {
            let found = codes();
            assert!(
                found.iter().any(|c| c == "NAME_INVALID"),
                "{what}: 400 without NAME_INVALID: {found:?}"
            );
        }
        StatusCode::NOT_FOUND => {
            let found = codes();
            assert!(
                found
                    .iter()
                    .any(|c| c == "NAME_INVALID" || c == "NAME_UNKNOWN"),
                "{what}: 404 without NAME_INVALID or NAME_UNKNOWN: {found:?}"
            );
        }
        other => panic!(
            "{what}: expected 400 NAME_INVALID (or 404), got {other} with body {:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

/// A response read over a raw TCP connection.
pub struct RawReply {
    /// Status code.
    pub status: StatusCode,
    /// Header names (lower-cased) and values.
    pub headers: BTreeMap<String, String>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

/// Sends `method path` verbatim over HTTP/1.1 with no body, bypassing URL
/// normalisation (so that paths with `..` segments reach the server as written).
pub async fn raw_request(base_url: &str, method: &str, path: &str) -> RawReply {
    raw_exchange(base_url, method, path, &[("Accept", ACCEPT_MANIFESTS)], b"").await
}

/// Sends `method path` with `headers` and `body` over HTTP/1.1 using
/// `Expect: 100-continue` (RFC 9110 §10.1.1): the body is sent only after the
/// server answers `100 Continue`; a final status sent instead is returned without
/// sending the body, so a request refused from its headers alone (such as one
/// whose `Content-Length` is over a limit) is observed reliably.
pub async fn raw_exchange(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawReply {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let authority = base_url
        .strip_prefix("http://")
        .expect("the registry base URL is plain http");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect to the registry");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !body.is_empty() {
        request.push_str("Expect: 100-continue\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request head");

    let mut raw = Vec::new();
    if !body.is_empty() {
        // Read the first response head: `100 Continue` or a final answer.
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await.expect("read the response");
            assert!(n > 0, "the connection closed before a response head");
            raw.extend_from_slice(&buf[..n]);
        };
        if raw.starts_with(b"HTTP/1.1 100") {
            raw.drain(..head_end);
            stream.write_all(body).await.expect("send the request body");
        }
    }
    stream
        .read_to_end(&mut raw)
        .await
        .expect("read the response");
    parse_response(&raw)
}

/// Parses a complete HTTP/1.1 response (the connection was closed after it).
fn parse_response(raw: &[u8]) -> RawReply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let code: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    RawReply {
        status: StatusCode::from_u16(code).expect("a valid status code"),
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("a chunk size");
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
