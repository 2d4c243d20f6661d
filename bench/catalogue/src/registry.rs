//! Real packages for a running registry: each generated version is packed
//! with [`sentinel_package::pack`] from a small agent directory and
//! published through the HTTP API (`PUT /v1/packages/publish`), several
//! requests in flight, so that `sentinel-registry reindex` has real
//! manifests and blobs to read.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sentinel_catalogue::PackageVersion;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};

use crate::BenchError;
use crate::generate::Generator;

/// What a [`publish_all`] run did.
#[derive(Debug, Default)]
pub struct Published {
    /// Versions the registry answered 201 for.
    pub created: usize,
    /// Versions it refused (the first few answers are printed).
    pub refused: usize,
    /// Versions skipped before packing: the same version pushed again.
    pub repeated: usize,
    /// Versions not sent because the time limit passed.
    pub unsent: usize,
    /// Bytes of packages sent.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// The `agent.yaml` of a generated version. JSON is YAML, and quoting
/// every string keeps generated text from being read as anything else.
/// Stacks of the generated data are published as agents: a stack's
/// members would have to be published first.
fn definition(entry: &PackageVersion) -> String {
    let mut value = serde_json::json!({
        "name": entry.name,
        "version": entry.version.to_string(),
        "description": entry.description,
        "author": entry.author,
        "license": entry.license,
        "source": entry.source,
        "tags": entry.tags,
    });
    let object = value.as_object_mut().expect("an object");
    if !entry.capabilities.is_empty() {
        object.insert("capabilities".into(), serde_json::json!(entry.capabilities));
    }
    if let Some(model) = &entry.model {
        object.insert(
            "model".into(),
            serde_json::json!({"provider": model.provider, "name": model.name}),
        );
    }
    object.retain(|_, v| !v.is_null());
    format!("{value}\n")
}

/// Packs `entry` in `dir` (reused: its two files are rewritten each time).
fn pack(dir: &Path, entry: &PackageVersion) -> Result<Vec<u8>, BenchError> {
    std::fs::write(dir.join("agent.yaml"), definition(entry))?;
    let readme = entry.readme.clone().unwrap_or_default();
    std::fs::write(dir.join("README.md"), readme)?;
    let mut out = Vec::with_capacity(4096);
    sentinel_package::pack(dir, &mut out)
        .map_err(|e| std::io::Error::other(format!("packing {}: {e}", entry.repository)))?;
    Ok(out)
}

/// One HTTP/1.1 connection kept alive between requests.
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(server: &str) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
        })
    }

    /// Sends `PUT target` with `body`; returns the status, the answer's
    /// body, and whether the connection can be used again.
    async fn put(
        &mut self,
        server: &str,
        target: &str,
        body: &[u8],
    ) -> Result<(u16, String, bool), BenchError> {
        let head = format!(
            "PUT {target} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))?;
        let mut length = None;
        let mut reusable = true;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::other("the connection closed in the headers").into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    reusable = false;
                }
            }
        }
        let mut answer = Vec::new();
        match length {
            Some(n) => {
                answer.resize(n, 0);
                self.stream.read_exact(&mut answer).await?;
            }
            None => {
                self.stream.read_to_end(&mut answer).await?;
                reusable = false;
            }
        }
        Ok((
            status,
            String::from_utf8_lossy(&answer).into_owned(),
            reusable,
        ))
    }
}

/// Packs every version of `generator` (at most once each) and publishes it
/// to the registry at `server` (`host:port`), `tasks` requests in flight,
/// in push order per repository. Stops sending after `limit`.
pub async fn publish_all(
    generator: Arc<Generator>,
    server: String,
    tasks: usize,
    limit: Duration,
) -> Result<Published, BenchError> {
    let start = Instant::now();
    let (sender, receiver) = mpsc::channel::<(String, Vec<u8>)>(tasks * 4);
    let total = generator.shape().versions;
    // Packing is blocking file work: one thread, one directory.
    let producer = tokio::task::spawn_blocking(move || -> Result<(usize, usize), BenchError> {
        let dir = tempfile::tempdir()?;
        let mut repeated = 0;
        let mut sent = 0;
        for repository in generator.repositories() {
            let mut seen = HashSet::new();
            for entry in &repository.versions {
                if !seen.insert(entry.version.clone()) {
                    repeated += 1;
                    continue;
                }
                if start.elapsed() > limit {
                    return Ok((sent, repeated));
                }
                let bytes = pack(dir.path(), entry)?;
                if sender
                    .blocking_send((entry.repository.to_string(), bytes))
                    .is_err()
                {
                    return Ok((sent, repeated));
                }
                sent += 1;
            }
        }
        Ok((sent, repeated))
    });
    let receiver = Arc::new(Mutex::new(receiver));
    let created = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..tasks {
        let receiver = Arc::clone(&receiver);
        let server = server.clone();
        let (created, refused, bytes) = (
            Arc::clone(&created),
            Arc::clone(&refused),
            Arc::clone(&bytes),
        );
        workers.push(tokio::spawn(async move {
            let mut connection: Option<Connection> = None;
            loop {
                let next = receiver.lock().await.recv().await;
                let Some((repository, body)) = next else {
                    return Ok::<_, BenchError>(());
                };
                let target = format!("/v1/packages/publish?repository={repository}");
                let mut conn = match connection.take() {
                    Some(c) => c,
                    None => Connection::open(&server).await?,
                };
                let (status, answer, reusable) = conn.put(&server, &target, &body).await?;
                bytes.fetch_add(body.len(), Ordering::Relaxed);
                if status == 201 {
                    let done = created.fetch_add(1, Ordering::Relaxed) + 1;
                    if done % 5_000 == 0 {
                        eprintln!(
                            "{done} of {total} published in {:.1} s",
                            start.elapsed().as_secs_f64()
                        );
                    }
                } else if refused.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("{repository}: {status} {}", answer.trim());
                }
                if reusable {
                    connection = Some(conn);
                }
            }
        }));
    }
    for worker in workers {
        worker.await.map_err(std::io::Error::other)??;
    }
    let (sent, repeated) = producer.await.map_err(std::io::Error::other)??;
    Ok(Published {
        created: created.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        repeated,
        unsent: total - sent - repeated,
        bytes: bytes.load(Ordering::Relaxed) as u64,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Shape;

    /// Every generated version packs into a valid agent package whose
    /// definition says what the catalogue entry says.
    #[test]
    fn generated_versions_pack_as_valid_agents() {
        let generator = Generator::new(Shape {
            seed: 7,
            versions: 300,
            repositories: 30,
            large_repositories: 1,
            large_versions: 30,
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut packed = 0;
        for repository in generator.repositories() {
            for entry in &repository.versions {
                std::fs::write(dir.path().join("agent.yaml"), definition(entry)).unwrap();
                std::fs::write(dir.path().join("README.md"), "# x\n").unwrap();
                let summary = sentinel_package::pack(dir.path(), std::io::sink())
                    .unwrap_or_else(|e| panic!("{}: {e}\n{}", entry.repository, definition(entry)));
                assert_eq!(summary.definition.name(), entry.name);
                assert_eq!(summary.definition.version(), &entry.version);
                packed += 1;
            }
        }
        assert_eq!(packed, 300);
    }
}
