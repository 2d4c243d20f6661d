//! Slow and hostile clients cannot stop the registry for everyone else.
//!
//! Each test starts the real binary (with the usual limit of 1,024 open
//! files and short timeouts), measures it idle, runs an attack from
//! 127.0.0.1 and, while it runs, a victim on 127.0.0.2 that pushes and pulls
//! a blob and a manifest: every victim request must succeed with a p99 under
//! 100 ms. Once the attack is over, the server's threads, descriptors and
//! resident memory must come back to what they were idle (memory within
//! 10 MiB). Each attack also runs with authentication on (a publisher
//! attacking) and over HTTP/2 without TLS. Every loop is bounded in count and
//! time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http;
use base64::Engine as _;
use bytes::Bytes;
use sentinel_oci::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The tests measure latency and the server's resources: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the attacker connects from, and where the victim does.
const ATTACKER: &str = "127.0.0.1";
const VICTIM: &str = "127.0.0.2";
const PASSWORD: &str = "a-password-for-the-tests";

/// How the server is run and spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// HTTP/1.1, authentication off.
    Open,
    /// HTTP/1.1, authentication on: the attacker is a publisher.
    Auth,
    /// HTTP/2 with prior knowledge (h2c), authentication off.
    H2c,
}

const MODES: [Mode; 3] = [Mode::Open, Mode::Auth, Mode::H2c];

/// The limits the server runs with in these tests: the defaults, but short
/// timeouts so that an attack is over in seconds, and a small upload share.
const SERVER_FLAGS: &[&str] = &[
    "--header-timeout",
    "2",
    "--keep-alive-timeout",
    "4",
    "--body-timeout",
    "4",
    "--max-uploads-per-address",
    "16",
    "--max-uploads-per-user",
    "16",
];

/// `sentinel-registry serve` with 1,024 open files at most.
struct Server {
    child: Child,
    addr: SocketAddr,
    mode: Mode,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(mode: Mode, extra: &[&str]) -> Server {
        // On tmpfs where there is one: these tests are about starvation, not
        // about the disk's fsync latency.
        let dir = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .unwrap();
        let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--data-dir"]
            .map(str::to_owned)
            .to_vec();
        args.push(dir.path().to_str().unwrap().to_owned());
        // Flags in `extra` replace the same flags of SERVER_FLAGS.
        for pair in SERVER_FLAGS.chunks(2) {
            if !extra.contains(&pair[0]) {
                args.extend(pair.iter().map(|s| (*s).to_owned()));
            }
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        if mode == Mode::Auth {
            args.push("--auth".to_owned());
            sentinel_auth::AuthStore::new(dir.path())
                .update(|state| {
                    for user in ["attacker", "victim"] {
                        state.add_user(user, PASSWORD, sentinel_auth::Role::Publisher, 0)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_sentinel-registry"))
            .args(&args)
            .env("SENTINEL_LOG", "warn,sentinel_registry=info")
            .env("SENTINEL_ADMIN_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sentinel-registry");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("a listening line").unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            mode,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Basic credentials for `user` when authentication is on.
    fn authorization(&self, user: &str) -> Option<String> {
        (self.mode == Mode::Auth).then(|| {
            let pair = format!("{user}:{PASSWORD}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
    }

    /// The repository `user` may push to.
    fn repository(&self, user: &str) -> String {
        format!("{user}/app")
    }

    /// Threads, descriptors and resident memory (KiB) of the server now.
    fn resources(&self) -> Resources {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
        };
        Resources {
            threads: field("Threads:"),
            descriptors: std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .count() as u64,
            rss_kib: field("VmRSS:"),
        }
    }

    /// Waits (at most 30 s) until the server is back to `idle`: no more
    /// threads or descriptors, and memory within 10 MiB.
    async fn settles_to(&self, idle: Resources, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.resources();
            let settled = now.threads <= idle.threads
                && now.descriptors <= idle.descriptors
                && now.rss_kib <= idle.rss_kib + 10 * 1024;
            if settled {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} ({:?}): the server did not settle back to idle {idle:?}: {now:?}",
                self.mode
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy)]
struct Resources {
    threads: u64,
    descriptors: u64,
    rss_kib: u64,
}

/// A client from `source` (HTTP/2 with prior knowledge in h2c mode).
fn client_from(server: &Server, source: &str) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(20))
        .no_proxy();
    if server.mode == Mode::H2c {
        builder = builder.http2_prior_knowledge();
    }
    builder.build().unwrap()
}

fn with_auth(
    request: reqwest::RequestBuilder,
    server: &Server,
    user: &str,
) -> reqwest::RequestBuilder {
    match server.authorization(user) {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// The victim: pushes a blob and a manifest, pulls both back, and returns
/// how long each of its requests took.
struct Victim {
    client: reqwest::Client,
    round: u32,
}

impl Victim {
    fn new(server: &Server) -> Self {
        Victim {
            client: client_from(server, VICTIM),
            round: 0,
        }
    }

    async fn timed(&self, request: reqwest::RequestBuilder, expect: u16) -> (Duration, Bytes) {
        let started = Instant::now();
        let response = request
            .send()
            .await
            .expect("the victim's request is answered");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("the victim's answer arrives");
        assert_eq!(
            status,
            expect,
            "victim request: {}",
            String::from_utf8_lossy(&body)
        );
        (started.elapsed(), body)
    }

    /// One round of push and pull; four latencies.
    async fn round(&mut self, server: &Server) -> [Duration; 4] {
        self.round += 1;
        let repo = server.repository("victim");
        let blob: Vec<u8> = (0..64 * 1024u32)
            .map(|i| (i.wrapping_mul(31) ^ self.round) as u8)
            .collect();
        let digest = Digest::sha256(&blob);
        let url = server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"));
        let push_blob = with_auth(self.client.post(url), server, "victim").body(blob.clone());
        let (pushed_blob, _) = self.timed(push_blob, 201).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": blob.len()},
            "layers": [],
            "annotations": {"round": self.round.to_string()},
        }))
        .unwrap();
        let tag = format!("r{}", self.round);
        let put = with_auth(
            self.client
                .put(server.url(&format!("/v2/{repo}/manifests/{tag}"))),
            server,
            "victim",
        )
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone());
        let (pushed_manifest, _) = self.timed(put, 201).await;
        let get = with_auth(
            self.client
                .get(server.url(&format!("/v2/{repo}/manifests/{tag}"))),
            server,
            "victim",
        )
        .header("accept", "application/vnd.oci.image.manifest.v1+json");
        let (pulled_manifest, body) = self.timed(get, 200).await;
        assert_eq!(body.as_ref(), manifest.as_slice());
        let get = with_auth(
            self.client
                .get(server.url(&format!("/v2/{repo}/blobs/{digest}"))),
            server,
            "victim",
        );
        let (pulled_blob, body) = self.timed(get, 200).await;
        assert_eq!(body.as_ref(), blob.as_slice());
        [pushed_blob, pushed_manifest, pulled_manifest, pulled_blob]
    }

    /// `rounds` rounds; panics unless the p99 of all requests is under 100 ms.
    async fn served_promptly(&mut self, server: &Server, rounds: usize, what: &str) {
        let mut latencies = Vec::new();
        for _ in 0..rounds {
            latencies.extend(self.round(server).await);
        }
        latencies.sort_unstable();
        let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
        eprintln!(
            "{what} ({:?}): victim p50 {:?}, p99 {p99:?}, max {:?} over {} requests",
            server.mode,
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1],
            latencies.len()
        );
        assert!(
            p99 < Duration::from_millis(100),
            "{what} ({:?}): victim p99 {p99:?}",
            server.mode
        );
    }
}

/// Starts the server, warms the victim up, and returns both with the
/// server's idle resources.
async fn prepare(mode: Mode, extra: &[&str]) -> (Server, Victim, Resources) {
    let server = Server::start(mode, extra);
    let mut victim = Victim::new(&server);
    for _ in 0..5 {
        victim.round(&server).await;
    }
    // Let the blocking threads of the warm-up go.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.resources();
    (server, victim, idle)
}

/// A TCP connection from the attacker's address.
async fn connect_from_attacker(server: &Server) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{ATTACKER}:0").parse().unwrap())?;
    socket.connect(server.addr).await
}

/// An HTTP/1.1 request head, with the attacker's credentials when needed.
fn head(server: &Server, method: &str, path: &str, headers: &[(&str, String)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", server.addr);
    if let Some(value) = server.authorization("attacker") {
        text.push_str(&format!("Authorization: {value}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Reads whatever the server sends until it closes the connection, for at
/// most `wait`; the status line, if any, and whether it closed.
async fn answer(stream: &mut TcpStream, wait: Duration) -> (Option<String>, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .is_ok();
    let text = String::from_utf8_lossy(&received);
    (text.lines().next().map(str::to_owned), closed)
}

/// The first line the server sends within `wait`, if it sends one.
async fn first_line(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(wait, async {
        while !received.windows(2).any(|pair| pair == b"\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()?;
    let text = String::from_utf8_lossy(&received);
    text.lines().next().map(str::to_owned)
}

/// Opens an upload session as the attacker; its path.
async fn attacker_session(server: &Server, client: &reqwest::Client) -> String {
    let repo = server.repository("attacker");
    let response = with_auth(
        client.post(server.url(&format!("/v2/{repo}/blobs/uploads/"))),
        server,
        "attacker",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 202);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// An HTTP/2 connection from the attacker's address.
async fn h2_from_attacker(server: &Server) -> h2::client::SendRequest<Bytes> {
    let tcp = connect_from_attacker(server).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Requests from the attacker whose bodies stop short: over HTTP/1.1 one
/// connection each, over h2c up to 32 streams on each connection.
struct Stalled {
    mode: Mode,
    h1: Vec<TcpStream>,
    h2: Vec<(h2::client::ResponseFuture, h2::SendStream<Bytes>)>,
    connections: Vec<h2::client::SendRequest<Bytes>>,
    /// Requests answered before their body was sent (HTTP/1.1 only).
    answered_at_once: usize,
}

impl Stalled {
    fn new(mode: Mode) -> Self {
        Stalled {
            mode,
            h1: Vec::new(),
            h2: Vec::new(),
            connections: Vec::new(),
            answered_at_once: 0,
        }
    }

    /// Sends `method path` with `Content-Length: length`, then `body`, then
    /// nothing more. Over HTTP/1.1, an answer that comes within 30 ms of the
    /// head is taken, and the body is not sent.
    async fn send(
        &mut self,
        server: &Server,
        method: &str,
        path: &str,
        length: usize,
        body: &Bytes,
    ) {
        if self.mode == Mode::H2c {
            if (self.h2.len() + self.answered_at_once).is_multiple_of(32) {
                self.connections.push(h2_from_attacker(server).await);
            }
            let client = self.connections.last_mut().unwrap();
            match h2_stalled(server, client, method, path, length).await {
                Some((response, mut send)) => {
                    let _ = send.send_data(body.clone(), false);
                    self.h2.push((response, send));
                }
                None => self.answered_at_once += 1,
            }
            return;
        }
        let mut stream = connect_from_attacker(server).await.unwrap();
        let headers = [
            ("Content-Length", length.to_string()),
            (
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".to_owned(),
            ),
        ];
        let request = head(server, method, path, &headers);
        stream.write_all(request.as_bytes()).await.unwrap();
        if first_line(&mut stream, Duration::from_millis(30))
            .await
            .is_some()
        {
            self.answered_at_once += 1;
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(body)).await;
        self.h1.push(stream);
    }

    fn held(&self) -> usize {
        self.h1.len() + self.h2.len()
    }

    /// The status of each stalled request's answer, which must come within
    /// `wait`; an HTTP/1.1 connection must also be closed by then.
    async fn answers(&mut self, wait: Duration) -> std::collections::BTreeMap<u16, usize> {
        for client in &self.connections {
            assert_eq!(
                client.current_max_send_streams(),
                32,
                "the server allows 32 streams per connection"
            );
        }
        let mut statuses = std::collections::BTreeMap::new();
        for stream in &mut self.h1 {
            let (status, closed) = answer(stream, wait).await;
            assert!(closed, "the server closes a stalled request's connection");
            let code = status
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0);
            *statuses.entry(code).or_default() += 1;
        }
        for (response, _send) in self.h2.drain(..) {
            let status = tokio::time::timeout(wait, response)
                .await
                .expect("every stream is answered in time")
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            *statuses.entry(status).or_default() += 1;
        }
        statuses
    }
}

/// Sends, on `client`, the head of a request whose body declares `length`
/// bytes; `None` if the server takes no more streams on it for now.
async fn h2_stalled(
    server: &Server,
    client: &mut h2::client::SendRequest<Bytes>,
    method: &str,
    path: &str,
    length: usize,
) -> Option<(h2::client::ResponseFuture, h2::SendStream<Bytes>)> {
    let ready = tokio::time::timeout(Duration::from_millis(500), client.clone().ready()).await;
    let mut ready = ready.ok()?.ok()?;
    let mut request = http::Request::builder()
        .method(method)
        .uri(server.url(path))
        .header("content-length", length.to_string())
        .header("content-type", "application/vnd.oci.image.manifest.v1+json");
    if let Some(value) = server.authorization("attacker") {
        request = request.header("authorization", value);
    }
    let (response, send) = ready.send_request(request.body(()).unwrap(), false).ok()?;
    *client = ready;
    Some((response, send))
}

/// Attack 1: uploads whose bodies stall after 4 bytes.
async fn stalled_uploads(mode: Mode) {
    const STALLED: usize = 256;
    // A body timeout longer than the attack takes to set up, so that the
    // attacker's share is not freed (by 408s) while it still sends.
    let (server, mut victim, idle) = prepare(mode, &["--body-timeout", "15"]).await;
    let attacker = client_from(&server, ATTACKER);
    let mut stalled = Stalled::new(mode);
    let four_bytes = Bytes::from_static(b"abcd");
    for _ in 0..STALLED {
        let location = attacker_session(&server, &attacker).await;
        stalled
            .send(&server, "PATCH", &location, 1 << 20, &four_bytes)
            .await;
    }
    victim.served_promptly(&server, 25, "stalled uploads").await;
    // Most are refused at once with 429; the attacker's share of 16 uploads
    // waits for the body timeout, then gets 408.
    let statuses = stalled.answers(Duration::from_secs(20)).await;
    eprintln!(
        "stalled uploads ({mode:?}): {} answered at once, then {statuses:?}",
        stalled.answered_at_once
    );
    assert!(
        statuses.keys().all(|s| [408, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.get(&408), Some(&16), "{statuses:?}");
    drop(stalled);
    server.settles_to(idle, "stalled uploads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_bodies_starve_nobody() {
    let _serial = SERIAL.lock().await;
    for mode in MODES {
        stalled_uploads(mode).await;
    }
}

/// Attack 2: connections that trickle a header line every second, and
/// connections that send nothing at all (for h2c: the preface, then pings).
async fn idle_connections(mode: Mode) {
    const TRICKLING: usize = 500;
    const SILENT: usize = 600;
    let (server, mut victim, idle) = prepare(mode, &[]).await;
    let mut held = Vec::new();
    for _ in 0..TRICKLING + SILENT {
        // Past the per-address cap the server closes a connection at once;
        // the connect itself still succeeds.
        if let Ok(stream) = connect_from_attacker(&server).await {
            held.push(stream);
        }
    }
    let started = Instant::now();
    let trickle = async {
        for second in 0..3u32 {
            for stream in held.iter_mut().take(TRICKLING) {
                let piece = match (mode, second) {
                    (Mode::H2c, 0) => {
                        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec()
                    }
                    (Mode::H2c, _) => b"\0\0\x08\x06\0\0\0\0\0abcdefgh".to_vec(),
                    (_, 0) => b"GET /v2/ HTTP/1.1\r\n".to_vec(),
                    _ => format!("X-Trickle-{second}: yes\r\n").into_bytes(),
                };
                let _ = stream.write_all(&piece).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let during = async {
        victim
            .served_promptly(&server, 25, "idle connections")
            .await;
        server.resources()
    };
    let ((), busy) = tokio::join!(trickle, during);
    assert!(
        busy.descriptors <= idle.descriptors + 256 + 16,
        "one address holds at most its 256 connections: {busy:?} against idle {idle:?}"
    );
    // Every one of them is closed by the server: at once past the cap, or
    // at the header timeout (2 s) whatever is trickled.
    let mut open = 0;
    for stream in &mut held {
        let wait = Duration::from_secs(8).saturating_sub(started.elapsed());
        let (_, closed) = answer(stream, wait.max(Duration::from_millis(10))).await;
        open += usize::from(!closed);
    }
    assert_eq!(open, 0, "connections the server left open");
    drop(held);
    server.settles_to(idle, "idle connections").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_are_closed_and_capped() {
    let _serial = SERIAL.lock().await;
    for mode in MODES {
        idle_connections(mode).await;
    }
}

/// Attack 3: manifest bodies of 4 MiB that stop 2 bytes short, and one that
/// declares 64 MiB.
async fn stalled_manifests(mode: Mode) {
    const STALLED: usize = 200;
    const LENGTH: usize = 4 * 1024 * 1024;
    let (server, mut victim, idle) = prepare(mode, &[]).await;
    let path = format!("/v2/{}/manifests/big", server.repository("attacker"));
    let body = Bytes::from(vec![b' '; LENGTH - 2]);

    // Declared larger than any manifest: refused before a byte of it is sent.
    let mut stream = connect_from_attacker(&server).await.unwrap();
    let request = head(
        &server,
        "PUT",
        &path,
        &[
            ("Content-Length", (64 << 20).to_string()),
            (
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".to_owned(),
            ),
        ],
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, _) = answer(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 413 Payload Too Large"));

    let mut stalled = Stalled::new(mode);
    for _ in 0..STALLED {
        stalled.send(&server, "PUT", &path, LENGTH, &body).await;
    }
    victim
        .served_promptly(&server, 25, "stalled manifests")
        .await;
    let busy = server.resources();
    eprintln!(
        "stalled manifests ({mode:?}): {} answered at once, {} held; server {busy:?}, idle {idle:?}",
        stalled.answered_at_once,
        stalled.held()
    );
    assert!(
        busy.rss_kib < idle.rss_kib + 64 * 1024,
        "manifest bodies in progress hold at most the attacker's share (16 MiB): {busy:?} against idle {idle:?}"
    );
    // 408 at the body timeout, or a 429 that came after the 30 ms wait.
    let statuses = stalled.answers(Duration::from_secs(8)).await;
    assert!(
        statuses.keys().all(|s| [408, 429].contains(s)),
        "{statuses:?}"
    );
    drop(stalled);
    server.settles_to(idle, "stalled manifests").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_manifest_bodies_hold_bounded_memory() {
    let _serial = SERIAL.lock().await;
    for mode in MODES {
        stalled_manifests(mode).await;
    }
}

/// Attacks 1 and 6 behind a proxy, where every client has the proxy's
/// address: with no per-address or per-user bound, 400 stalled uploads hold
/// no thread, the victim is served, and after each of several bursts the
/// server's memory settles back to idle.
async fn upload_bursts(mode: Mode, bursts: usize) {
    const STALLED: usize = 400;
    let unbounded = [
        "--max-uploads-per-address",
        "0",
        "--max-uploads-per-user",
        "0",
        "--max-connections-per-address",
        "0",
    ];
    let (server, mut victim, idle) = prepare(mode, &unbounded).await;
    let attacker = client_from(&server, ATTACKER);
    let four_bytes = Bytes::from_static(b"abcd");
    for burst in 0..bursts {
        let mut stalled = Stalled::new(mode);
        for _ in 0..STALLED {
            let location = attacker_session(&server, &attacker).await;
            stalled
                .send(&server, "PATCH", &location, 1 << 20, &four_bytes)
                .await;
        }
        assert_eq!(stalled.held(), STALLED, "no bound applies to these uploads");
        let what = format!("burst {} of {STALLED} stalled uploads", burst + 1);
        victim.served_promptly(&server, 10, &what).await;
        drop(stalled);
        server.settles_to(idle, &what).await;
        eprintln!(
            "{what} ({mode:?}): settled at {:?}, idle {idle:?}",
            server.resources()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_stalled_uploads_behind_a_proxy_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    upload_bursts(Mode::Open, 6).await;
    upload_bursts(Mode::Auth, 2).await;
    upload_bursts(Mode::H2c, 2).await;
}

/// Attack 5: a stranger sends wrong passwords for the victim's name (and
/// sprays other names) from their own address while the victim works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_a_stranger_lock_nobody_else_out() {
    let _serial = SERIAL.lock().await;
    let (server, mut victim, idle) = prepare(Mode::Auth, &[]).await;
    let attacker = client_from(&server, ATTACKER);
    let guesses = async {
        let mut refused = 0;
        for round in 0..20 {
            let attempts = (0..10).map(|n| {
                let user = if n % 2 == 0 { "victim" } else { "attacker" };
                attacker
                    .get(server.url("/v2/"))
                    .basic_auth(user, Some(format!("wrong-{round}-{n}")))
                    .send()
            });
            for reply in futures_util::future::join_all(attempts).await {
                let status = reply.expect("an answer").status().as_u16();
                assert!([401, 429].contains(&status), "{status}");
                refused += usize::from(status == 429);
            }
        }
        refused
    };
    let (refused, ()) = tokio::join!(
        guesses,
        victim.served_promptly(&server, 25, "wrong passwords")
    );
    assert!(
        refused > 100,
        "the stranger's address is throttled: {refused} of 200"
    );
    // The victim, and the attacker's own account, still log in elsewhere.
    let fresh = client_from(&server, VICTIM);
    for user in ["victim", "attacker"] {
        let reply = fresh
            .get(server.url("/v2/"))
            .basic_auth(user, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{user} from another address");
    }
    server.settles_to(idle, "wrong passwords").await;
}

/// CPU time (user and system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Attack 2, with the caps turned off: the server runs out of descriptors.
/// Accepting then fails; it must pause between attempts rather than spin,
/// and serve again as soon as descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_errors_back_off_instead_of_spinning() {
    let _serial = SERIAL.lock().await;
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    // Silent connections stay for the header timeout: long enough here.
    let uncapped = [
        "--max-connections",
        "4000",
        "--max-connections-per-address",
        "0",
        "--header-timeout",
        "30",
    ];
    let (server, mut victim, idle) = prepare(Mode::Open, &uncapped).await;
    let mut held = Vec::new();
    for _ in 0..1100 {
        if let Ok(stream) = connect_from_attacker(&server).await {
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    eprintln!(
        "out of descriptors: {used} CPU ticks in 2 s, {} connections held, server {:?}",
        held.len(),
        server.resources()
    );
    // Spinning on a failing accept would take a whole core (200 ticks);
    // even retrying every millisecond takes about 30.
    assert!(
        used < 20,
        "the server used {used} ticks of CPU in 2 s while out of descriptors"
    );
    assert!(
        server.resources().descriptors >= 1000,
        "the attack did use up the descriptors: {:?}",
        server.resources()
    );
    drop(held);
    // The longest pause between two accept attempts is a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    victim
        .served_promptly(&server, 5, "after running out of descriptors")
        .await;
    server.settles_to(idle, "out of descriptors").await;
}

/// Responses nobody reads: HTTP/1.1 connections that ask for a 16 MiB blob
/// and never read, and HTTP/2 connections that give no flow-control window.
/// The server closes them after the body timeout (4 s here).
async fn unread_responses(mode: Mode) {
    const READERS: usize = 20;
    let (server, mut victim, idle) = prepare(mode, &[]).await;
    let attacker = client_from(&server, ATTACKER);
    let blob = Bytes::from(vec![7u8; 16 << 20]);
    let digest = Digest::sha256(&blob);
    let repo = server.repository("attacker");
    let pushed = with_auth(
        attacker.post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))),
        &server,
        "attacker",
    )
    .body(blob)
    .send()
    .await
    .unwrap();
    assert_eq!(pushed.status(), 201);
    let path = format!("/v2/{repo}/blobs/{digest}");
    let mut h1 = Vec::new();
    let mut h2_connections = Vec::new();
    let mut h2_responses = Vec::new();
    for _ in 0..READERS {
        if mode == Mode::H2c {
            let tcp = connect_from_attacker(&server).await.unwrap();
            let (client, connection) = h2::client::Builder::new()
                .initial_window_size(0)
                .handshake::<_, Bytes>(tcp)
                .await
                .unwrap();
            h2_connections.push(tokio::spawn(connection));
            let mut client = client.ready().await.unwrap();
            let mut request = http::Request::get(server.url(&path));
            if let Some(value) = server.authorization("attacker") {
                request = request.header("authorization", value);
            }
            let (response, _) = client
                .send_request(request.body(()).unwrap(), true)
                .unwrap();
            h2_responses.push((client, response));
        } else {
            let mut stream = connect_from_attacker(&server).await.unwrap();
            let request = head(&server, "GET", &path, &[]);
            stream.write_all(request.as_bytes()).await.unwrap();
            h1.push(stream);
        }
    }
    let started = Instant::now();
    victim
        .served_promptly(&server, 25, "unread responses")
        .await;
    // Past the body timeout, the server has given up on every one of them:
    // reading now finds a part of the blob, then the end of the connection.
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(started.elapsed())).await;
    for stream in &mut h1 {
        let mut received = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received += n,
                }
            }
        })
        .await
        .is_ok();
        assert!(
            closed,
            "the server closes a connection whose client reads nothing"
        );
        assert!(
            received < 16 << 20,
            "the server stopped before the end of the blob: {received} bytes"
        );
    }
    for connection in h2_connections {
        let wait = Duration::from_secs(12).saturating_sub(started.elapsed());
        tokio::time::timeout(wait, connection)
            .await
            .expect("the server closes an HTTP/2 connection that gives no window")
            .unwrap()
            .ok();
    }
    drop(h1);
    drop(h2_responses);
    server.settles_to(idle, "unread responses").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_nobody_reads_are_abandoned() {
    let _serial = SERIAL.lock().await;
    unread_responses(Mode::Open).await;
    unread_responses(Mode::H2c).await;
}
