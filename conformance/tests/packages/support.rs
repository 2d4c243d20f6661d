//! Real packages, packed with `sentinel-package` from files on disk, pushed
//! the way `agent push` pushes them (both blobs, then the manifest of
//! docs/package-format.md section 11), and read back through `/v1/packages`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sentinel_package::oci::{BlobRef, build_manifest};
use sentinel_package::versions::version_tag;
use sentinel_package::{Digest, PackSummary, default_file_name, pack};
use serde_json::Value;

use crate::common::*;

/// The config media type of an agent.
pub const AGENT_CONFIG: &str = "application/x-sentinel-agent-def+yaml";
/// The layer media type (and `Content-Type` of the `.sntl` file) of an agent.
pub const AGENT_LAYER: &str = "application/x-sentinel-agent";
/// The `created` annotation of every manifest these tests build.
pub const CREATED: &str = "2026-01-01T00:00:00Z";
/// How long a test waits for downloads to be counted (they are written
/// every 5 s).
pub const COUNT_WAIT: Duration = Duration::from_secs(15);

/// A package packed from files.
pub struct Package {
    /// The `.sntl` file.
    pub sntl: Vec<u8>,
    /// The definition file's bytes (the config blob).
    pub config: Vec<u8>,
    /// What packing said.
    pub summary: PackSummary,
}

impl Package {
    /// Packs `files` (path, contents) into a package.
    pub fn pack(files: &[(&str, &[u8])]) -> Package {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, bytes) in files {
            let path = dir.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create a directory");
            }
            std::fs::write(&path, bytes).expect("write a package file");
        }
        let mut sntl = Vec::new();
        let summary = pack(dir.path(), &mut sntl).unwrap_or_else(|e| panic!("pack: {e}"));
        Package {
            config: summary.definition_bytes.clone(),
            sntl,
            summary,
        }
    }

    /// An agent `name` at `version` with more definition lines `extra` and a
    /// README.
    pub fn agent(name: &str, version: &str, extra: &str) -> Package {
        let definition = format!("name: {name}\nversion: {version}\n{extra}");
        let readme = format!("# {name} {version}\n");
        Package::pack(&[
            ("agent.yaml", definition.as_bytes()),
            ("README.md", readme.as_bytes()),
        ])
    }

    /// A stack `name` at `version` whose members are (name, reference).
    pub fn stack(name: &str, version: &str, members: &[(&str, &str)]) -> Package {
        let mut definition = format!("name: {name}\nversion: {version}\nagents:\n");
        for (member, reference) in members {
            definition.push_str(&format!("  - name: {member}\n    ref: \"{reference}\"\n"));
        }
        Package::pack(&[("stack.yaml", definition.as_bytes())])
    }

    /// The config blob's descriptor.
    pub fn config_ref(&self) -> BlobRef {
        BlobRef {
            digest: Digest::sha256(&self.config),
            size: self.config.len() as u64,
        }
    }

    /// The `.sntl` layer's descriptor.
    pub fn layer_ref(&self) -> BlobRef {
        BlobRef {
            digest: self.summary.digest.clone(),
            size: self.summary.size,
        }
    }

    /// The manifest `agent push` writes for this package.
    pub fn manifest(&self) -> Vec<u8> {
        self.manifest_created(CREATED)
    }

    /// The manifest `agent push` writes, pushed at `created`.
    pub fn manifest_created(&self, created: &str) -> Vec<u8> {
        build_manifest(
            &self.summary.definition,
            &self.config_ref(),
            &self.layer_ref(),
            &default_file_name(&self.summary.definition),
            created,
        )
    }

    /// The manifest as JSON, to be changed by a test.
    pub fn manifest_json(&self) -> Value {
        serde_json::from_slice(&self.manifest()).expect("the manifest is JSON")
    }

    /// The manifest's digest.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest())
    }

    /// The `.sntl` file's digest.
    pub fn layer_digest(&self) -> String {
        self.summary.digest.to_string()
    }

    /// The package's version.
    pub fn version(&self) -> String {
        self.summary.definition.version().to_string()
    }

    /// The tag of the package's version.
    pub fn tag(&self) -> String {
        version_tag(self.summary.definition.version())
    }

    /// The `.sntl` file name.
    pub fn file_name(&self) -> String {
        default_file_name(&self.summary.definition)
    }
}

/// Pushes the package's config and layer blobs to `repo`.
pub async fn push_blobs(oci: &Oci, repo: &str, package: &Package) {
    oci.push_blob(repo, &package.config).await;
    oci.push_blob(repo, &package.sntl).await;
}

/// Pushes the package's blobs and then `manifest` under `reference`.
pub async fn put_package_manifest(
    oci: &Oci,
    repo: &str,
    reference: &str,
    package: &Package,
    manifest: &Value,
) -> Reply {
    push_blobs(oci, repo, package).await;
    oci.put_manifest(repo, reference, OCI_MANIFEST, &to_bytes(manifest))
        .await
}

/// Pushes the package (blobs, then its manifest) under `reference`.
pub async fn put_package(oci: &Oci, repo: &str, reference: &str, package: &Package) -> Reply {
    push_blobs(oci, repo, package).await;
    oci.put_manifest(repo, reference, OCI_MANIFEST, &package.manifest())
        .await
}

/// Pushes the package under its version tag, as `agent push` does, and
/// asserts `201 Created`.
pub async fn push_version(oci: &Oci, repo: &str, package: &Package) {
    put_package(oci, repo, &package.tag(), package)
        .await
        .expect_status(StatusCode::CREATED);
}

/// Asserts a `MANIFEST_INVALID` refusal and returns its message.
#[track_caller]
pub fn manifest_invalid(reply: Reply) -> String {
    let reply = reply.expect_error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    message(&reply)
}

/// The first error message of an error envelope.
#[track_caller]
pub fn message(reply: &Reply) -> String {
    reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no error message in {}", reply.what, reply.text()))
        .to_owned()
}

/// `GET path`, asserting `200 OK`, as JSON.
pub async fn get_json(oci: &Oci, path: &str) -> Value {
    send(oci.get(path))
        .await
        .expect_status(StatusCode::OK)
        .json()
}

/// `GET /v1/packages/{repo}/versions` with `query` (may be empty).
pub async fn versions(oci: &Oci, repo: &str, query: &str) -> Value {
    get_json(oci, &format!("/v1/packages/{repo}/versions?{query}")).await
}

/// The versions a versions answer lists, in its order.
pub fn listed(versions: &Value) -> Vec<String> {
    versions["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions array in {versions}"))
        .iter()
        .map(|v| v["version"].as_str().expect("a version").to_owned())
        .collect()
}

/// The row of `version` in a versions answer.
#[track_caller]
pub fn row<'a>(versions: &'a Value, version: &str) -> &'a Value {
    versions["versions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["version"] == version))
        .unwrap_or_else(|| panic!("version {version} is not listed in {versions}"))
}

/// The versions listed for `repo`, or none when the package is unknown (404).
pub async fn listed_or_none(oci: &Oci, repo: &str) -> Vec<String> {
    let reply = send(oci.get(&format!("/v1/packages/{repo}/versions"))).await;
    if reply.status == StatusCode::NOT_FOUND {
        reply.expect_code(&["NOT_FOUND"]);
        return Vec::new();
    }
    listed(&reply.expect_status(StatusCode::OK).json())
}

/// `GET /v1/packages/search?{query}`.
pub async fn search(oci: &Oci, query: &str) -> Value {
    get_json(oci, &format!("/v1/packages/search?{query}")).await
}

/// The names (repositories) a search answer lists, in its order.
pub fn names(page: &Value) -> Vec<String> {
    page["packages"]
        .as_array()
        .unwrap_or_else(|| panic!("no packages array in {page}"))
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// Asserts that `repo` has no manifest under `tag`.
pub async fn expect_untagged(oci: &Oci, repo: &str, tag: &str) {
    let reply = oci.get_manifest(repo, tag).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "{repo}:{tag} should not exist: {}",
        reply.text()
    );
}

/// Polls the versions of `repo` until `version` shows `count` downloads or
/// more (counts are written every 5 s), for at most [`COUNT_WAIT`]; returns
/// the count seen last.
pub async fn wait_for_downloads(oci: &Oci, repo: &str, version: &str, count: u64) -> u64 {
    let deadline = Instant::now() + COUNT_WAIT;
    loop {
        let answer = versions(oci, repo, "").await;
        let seen = row(&answer, version)["downloads"]
            .as_u64()
            .expect("a download count");
        if seen >= count || Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every file under the local blob store of the registry (none with a
/// remote storage backend), for checks that nothing was left behind.
pub fn blob_files(reg: &TestRegistry) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&reg.data_dir().join("storage"), &mut found);
    found.sort();
    found
}
