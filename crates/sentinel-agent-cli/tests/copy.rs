//! `agent copy` between real registries: Sentinel in process and CNCF
//! Distribution 2.8 (Debian's `docker-registry`, which has no referrers API)
//! as a child process, both on 127.0.0.1. Packages, multi-platform indexes
//! and their referrers (an SBOM, and a signature of the SBOM) must arrive
//! findable through `referrers()` whatever the destination supports.
//!
//! Without `docker-registry` installed its tests print a line saying they
//! were skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) they fail instead.

mod common;
#[path = "support/distribution.rs"]
mod distribution;

use common::{AgentHome, host};
use distribution::{Distribution, RegistryAuth};
use sentinel_client::{ClientOptions, ReferrerIndexing, RegistryClient, RegistryLocation};
use sentinel_conformance::TestRegistry;
use sentinel_oci::{Digest, media_types};
use serde_json::{Value, json};

const SBOM_TYPE: &str = "application/vnd.example.sbom";
const SIGNATURE_TYPE: &str = "application/vnd.example.signature";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

fn client(host: &str) -> RegistryClient {
    RegistryClient::new(
        &RegistryLocation::parse(host).unwrap(),
        ClientOptions::default(),
    )
    .unwrap()
}

/// A manifest as a subject names it.
struct Pushed {
    digest: Digest,
    media_type: String,
    size: u64,
}

/// Pushes `bytes` as a blob and returns its descriptor as JSON.
async fn blob(client: &RegistryClient, repo: &str, media_type: &str, bytes: Vec<u8>) -> Value {
    let digest = Digest::sha256(&bytes);
    let size = bytes.len();
    client
        .push_blob_bytes(repo, &digest, bytes.into())
        .await
        .unwrap();
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// Pushes an artifact of `artifact_type` whose subject is `subject`, with
/// the client's referrer push, and returns it.
async fn push_referrer(
    client: &RegistryClient,
    repo: &str,
    subject: &Pushed,
    artifact_type: &str,
    content: &str,
) -> (Pushed, ReferrerIndexing) {
    let config = blob(client, repo, EMPTY_CONFIG, b"{}".to_vec()).await;
    let layer = blob(
        client,
        repo,
        "application/json",
        content.as_bytes().to_vec(),
    )
    .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.to_string(),
            "size": subject.size,
        },
        "annotations": {"org.example.content": content},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let size = bytes.len() as u64;
    let pushed = client
        .push_referrer(repo, media_types::OCI_MANIFEST, bytes.into())
        .await
        .unwrap();
    assert_eq!(pushed.subject, subject.digest);
    (
        Pushed {
            digest: pushed.digest,
            media_type: media_types::OCI_MANIFEST.to_string(),
            size,
        },
        pushed.indexing,
    )
}

/// The manifest `reference` names in `repo`.
async fn head(client: &RegistryClient, repo: &str, reference: &str) -> Pushed {
    let head = client
        .head_manifest(repo, reference)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{repo}:{reference} is missing"));
    Pushed {
        digest: head.digest,
        media_type: head.media_type,
        size: head.size,
    }
}

/// Pushes agent `hello` at `version` to `host/repo:tag` with the real binary,
/// then an SBOM referring to it and a signature referring to the SBOM.
/// Returns the package's, the SBOM's and the signature's digests.
async fn package_with_referrers(
    home: &AgentHome,
    host: &str,
    repo: &str,
    version: &str,
) -> (Digest, Digest, Digest) {
    let dir = home.write_agent("hello", version);
    home.ok(&[
        "push",
        "--quiet",
        &format!("{host}/{repo}:{version}"),
        dir.to_str().unwrap(),
    ])
    .await;
    let client = client(host);
    let package = head(&client, repo, version).await;
    let (sbom, _) = push_referrer(&client, repo, &package, SBOM_TYPE, version).await;
    let (signature, _) = push_referrer(&client, repo, &sbom, SIGNATURE_TYPE, "signed").await;
    (package.digest, sbom.digest, signature.digest)
}

/// `agent copy --format json` as the report.
async fn copy_json(home: &AgentHome, args: &[&str]) -> Value {
    let mut all = vec!["copy", "--format", "json"];
    all.extend_from_slice(args);
    let run = home.ok(&all).await;
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.stdout))
}

/// Asserts that `subject` in `host/repo` lists exactly `expected` (digest,
/// artifact type) among its referrers.
async fn assert_referrers(host: &str, repo: &str, subject: &Digest, expected: &[(&Digest, &str)]) {
    let found = client(host).referrers(repo, subject, None).await.unwrap();
    let mut found: Vec<(String, String)> = found
        .into_iter()
        .map(|d| (d.digest.to_string(), d.artifact_type.unwrap_or_default()))
        .collect();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(d, t)| (d.to_string(), t.to_string()))
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "referrers of {subject} in {host}/{repo}");
}

/// Asserts that a report copied nothing: every manifest, referrer and blob skipped.
fn assert_all_skipped(report: &Value) {
    assert_eq!(report["manifests"]["copied"], 0, "{report}");
    assert_eq!(report["referrers"]["copied"], 0, "{report}");
    assert_eq!(report["blobs"]["copied"], 0, "{report}");
    assert_eq!(report["blobs"]["mounted"], 0, "{report}");
    assert_eq!(report["indexed_by_client"], 0, "{report}");
    assert!(
        report["manifests"]["skipped"].as_u64().unwrap() >= 1,
        "{report}"
    );
    for tag in report["tags"].as_array().unwrap() {
        assert_eq!(tag["tagged"], false, "{report}");
    }
}

/// A package with two referrers from `from` to `to`: everything arrives,
/// the referrers are findable on `to` (indexed by the client when `to` has
/// no referrers API), the package pulls, and a second copy skips all.
async fn package_travels_with_referrers(from: &str, to: &str, client_indexes: bool) {
    let home = AgentHome::new();
    let (package, sbom, signature) = package_with_referrers(&home, from, "me/hello", "1.0.0").await;
    let report = copy_json(
        &home,
        &[
            &format!("{from}/me/hello:1.0.0"),
            &format!("{to}/team/hello"),
        ],
    )
    .await;
    assert_eq!(
        report["tags"][0]["destination"],
        format!("{to}/team/hello:1.0.0")
    );
    assert_eq!(report["tags"][0]["digest"], package.to_string());
    assert_eq!(report["tags"][0]["tagged"], true);
    assert_eq!(report["manifests"]["copied"], 1, "{report}");
    assert_eq!(report["referrers"]["copied"], 2, "{report}");
    // The package's config and layer, the artifacts' shared empty config and two layers.
    assert_eq!(report["blobs"]["copied"], 5, "{report}");
    assert_eq!(report["blobs"]["skipped"], 0, "{report}");
    assert_eq!(
        report["indexed_by_client"],
        if client_indexes { 2 } else { 0 },
        "{report}"
    );
    assert_referrers(to, "team/hello", &package, &[(&sbom, SBOM_TYPE)]).await;
    assert_referrers(to, "team/hello", &sbom, &[(&signature, SIGNATURE_TYPE)]).await;

    let reader = AgentHome::new();
    let pulled = reader
        .ok(&["pull", "-d", "out", &format!("{to}/team/hello:1.0.0")])
        .await;
    assert_eq!(pulled.field("digest"), package.to_string());
    assert!(reader.path().join("out/agent.yaml").is_file());

    let again = copy_json(
        &home,
        &[
            &format!("{from}/me/hello:1.0.0"),
            &format!("{to}/team/hello"),
        ],
    )
    .await;
    assert_all_skipped(&again);
    assert_eq!(again["referrers"]["skipped"], 2, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_to_sentinel_with_referrers() {
    let from = TestRegistry::start().await;
    let to = TestRegistry::start().await;
    package_travels_with_referrers(&host(&from), &host(&to), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_to_distribution_indexes_referrers_in_the_tag_schema() {
    let from = TestRegistry::start().await;
    let Some(to) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    package_travels_with_referrers(&host(&from), &to.host(), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_to_sentinel_finds_referrers_through_the_tag_schema() {
    let Some(from) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    let to = TestRegistry::start().await;
    package_travels_with_referrers(&from.host(), &host(&to), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_referrer_on_distribution_keeps_the_tag_schema() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    let home = AgentHome::new();
    let dir = home.write_agent("hello", "1.0.0");
    let host = registry.host();
    home.ok(&[
        "push",
        "--quiet",
        &format!("{host}/me/hello:1.0.0"),
        dir.to_str().unwrap(),
    ])
    .await;
    let client = client(&host);
    let package = head(&client, "me/hello", "1.0.0").await;
    let (first, indexing) = push_referrer(&client, "me/hello", &package, SBOM_TYPE, "a").await;
    assert_eq!(indexing, ReferrerIndexing::TagSchema);
    let (second, _) = push_referrer(&client, "me/hello", &package, SIGNATURE_TYPE, "b").await;
    // The same referrer again: listed once.
    let (again, _) = push_referrer(&client, "me/hello", &package, SBOM_TYPE, "a").await;
    assert_eq!(again.digest, first.digest);
    assert_referrers(
        &host,
        "me/hello",
        &package.digest,
        &[(&first.digest, SBOM_TYPE), (&second.digest, SIGNATURE_TYPE)],
    )
    .await;
    let tag = format!("sha256-{}", package.digest.hex());
    let index = client.get_manifest("me/hello", &tag).await.unwrap();
    assert_eq!(index.media_type, media_types::OCI_INDEX);
    let only_sboms = client
        .referrers("me/hello", &package.digest, Some(SBOM_TYPE))
        .await
        .unwrap();
    assert_eq!(only_sboms.len(), 1);
    assert_eq!(only_sboms[0].size, first.size);
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_copies_onto_itself_and_mounts_within_a_registry() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let (package, sbom, _) = package_with_referrers(&home, &host, "me/hello", "1.0.0").await;
    let same = format!("{host}/me/hello:1.0.0");
    let itself = copy_json(&home, &[&same, &same]).await;
    assert_all_skipped(&itself);

    let other = copy_json(&home, &[&same, &format!("{host}/team/hello:stable")]).await;
    assert_eq!(
        other["tags"][0]["destination"],
        format!("{host}/team/hello:stable")
    );
    assert_eq!(other["blobs"]["mounted"], 5, "{other}");
    assert_eq!(other["blobs"]["copied"], 0, "{other}");
    assert_referrers(&host, "team/hello", &package, &[(&sbom, SBOM_TYPE)]).await;

    // The table for a person.
    let table = home
        .ok(&["copy", &same, &format!("{host}/team/hello:stable")])
        .await;
    assert!(
        table.stdout.contains(&format!(
            "copied {same} to {host}/team/hello:stable (already there)"
        )),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("blobs:     0 copied (0 B), 0 mounted (0 B), 0 already there (0 B)"),
        "{}",
        table.stdout
    );
}

/// Every tag of a repository from `from` to `to`, without the referrers
/// tag schema's tags of the source.
async fn all_tags_travel(from: &str, to: &str) {
    let home = AgentHome::new();
    let (first, sbom, _) = package_with_referrers(&home, from, "me/hello", "1.0.0").await;
    let (second, _, _) = package_with_referrers(&home, from, "me/hello", "2.0.0").await;
    let report = copy_json(
        &home,
        &[
            "--all-tags",
            &format!("{from}/me/hello"),
            &format!("{to}/mirror/hello"),
        ],
    )
    .await;
    let tags: Vec<(&str, &str)> = report["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| {
            (
                tag["destination"].as_str().unwrap(),
                tag["digest"].as_str().unwrap(),
            )
        })
        .collect();
    let one = format!("{to}/mirror/hello:1.0.0");
    let two = format!("{to}/mirror/hello:2.0.0");
    assert_eq!(
        tags,
        [
            (one.as_str(), first.as_str()),
            (two.as_str(), second.as_str())
        ]
    );
    assert_eq!(report["referrers"]["copied"], 4, "{report}");
    let mut on_target = client(to).list_tags("mirror/hello").await.unwrap();
    on_target.retain(|tag| !tag.starts_with("sha256-"));
    on_target.sort();
    assert_eq!(on_target, ["1.0.0", "2.0.0"]);
    assert_referrers(to, "mirror/hello", &first, &[(&sbom, SBOM_TYPE)]).await;

    // --all-tags takes a repository, not a tag.
    let refused = home
        .fails(
            &[
                "copy",
                "--all-tags",
                &format!("{from}/me/hello:1.0.0"),
                &format!("{to}/x/y"),
            ],
            2,
        )
        .await;
    assert!(
        refused.stderr.contains("without a tag or digest"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_tags_sentinel_to_sentinel() {
    let from = TestRegistry::start().await;
    let to = TestRegistry::start().await;
    all_tags_travel(&host(&from), &host(&to)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn all_tags_distribution_to_sentinel_leaves_the_referrers_tags() {
    let Some(from) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    let to = TestRegistry::start().await;
    all_tags_travel(&from.host(), &host(&to)).await;
}

/// Pushes a two-platform image index to `host/repo:multi` (one layer over
/// the in-memory limit, so it passes through a file) with an SBOM on the
/// arm64 manifest; returns the index's, the arm64 manifest's and the SBOM's digests.
async fn push_index(host: &str, repo: &str) -> (Digest, Digest, Digest) {
    let client = client(host);
    let mut entries = Vec::new();
    for (arch, layer) in [
        ("amd64", vec![7u8; 5 * 1024 * 1024 + 3]),
        ("arm64", b"a small arm64 layer".to_vec()),
    ] {
        let config = blob(
            &client,
            repo,
            "application/vnd.oci.image.config.v1+json",
            format!(r#"{{"architecture":"{arch}","os":"linux"}}"#).into_bytes(),
        )
        .await;
        let layer = blob(
            &client,
            repo,
            "application/vnd.oci.image.layer.v1.tar",
            layer,
        )
        .await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        }))
        .unwrap();
        let size = manifest.len();
        let digest = client
            .put_manifest(
                repo,
                &Digest::sha256(&manifest).to_string(),
                media_types::OCI_MANIFEST,
                manifest.into(),
            )
            .await
            .unwrap();
        entries.push(json!({
            "mediaType": media_types::OCI_MANIFEST,
            "digest": digest.to_string(),
            "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": entries,
    }))
    .unwrap();
    let index_digest = client
        .put_manifest(repo, "multi", media_types::OCI_INDEX, index.into())
        .await
        .unwrap();
    let arm = entries[1]["digest"]
        .as_str()
        .unwrap()
        .parse::<Digest>()
        .unwrap();
    let arm_manifest = head(&client, repo, arm.as_str()).await;
    let (sbom, _) = push_referrer(&client, repo, &arm_manifest, SBOM_TYPE, "arm64").await;
    (index_digest, arm, sbom.digest)
}

async fn an_index_travels(from: &str, to: &str) {
    let (index, arm, sbom) = push_index(from, "me/multi").await;
    let home = AgentHome::new();
    let report = copy_json(
        &home,
        &[
            &format!("{from}/me/multi:multi"),
            &format!("{to}/team/multi:v1"),
        ],
    )
    .await;
    assert_eq!(report["tags"][0]["digest"], index.to_string());
    assert_eq!(report["manifests"]["copied"], 3, "{report}");
    assert_eq!(report["referrers"]["copied"], 1, "{report}");
    let target = client(to);
    assert_eq!(head(&target, "team/multi", "v1").await.digest, index);
    assert_eq!(head(&target, "team/multi", arm.as_str()).await.digest, arm);
    assert_referrers(to, "team/multi", &arm, &[(&sbom, SBOM_TYPE)]).await;
    let big = report["blobs"]["copied_bytes"].as_u64().unwrap();
    assert!(big > 5 * 1024 * 1024, "{report}");
    let again = copy_json(
        &home,
        &[
            &format!("{from}/me/multi:multi"),
            &format!("{to}/team/multi:v1"),
        ],
    )
    .await;
    assert_all_skipped(&again);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_platform_index_sentinel_to_sentinel() {
    let from = TestRegistry::start().await;
    let to = TestRegistry::start().await;
    an_index_travels(&host(&from), &host(&to)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_platform_index_sentinel_to_distribution() {
    let from = TestRegistry::start().await;
    let Some(to) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    an_index_travels(&host(&from), &to.host()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_have_one_line_and_their_exit_codes() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let missing = home
        .fails(
            &[
                "copy",
                &format!("{host}/me/nothing:1.0.0"),
                &format!("{host}/me/else"),
            ],
            4,
        )
        .await;
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);

    let dir = home.write_agent("hello", "1.0.0");
    home.ok(&[
        "push",
        "--quiet",
        &format!("{host}/me/hello:1.0.0"),
        dir.to_str().unwrap(),
    ])
    .await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = home
        .fails(
            &[
                "copy",
                &format!("{host}/me/hello:1.0.0"),
                &format!("127.0.0.1:{closed}/me/hello"),
            ],
            5,
        )
        .await;
    assert!(
        unreachable
            .stderr
            .contains(&format!("cannot connect to 127.0.0.1:{closed}")),
        "{}",
        unreachable.stderr
    );

    let digest_target = home
        .fails(
            &[
                "copy",
                &format!("{host}/me/hello:1.0.0"),
                &format!("{host}/me/other@{}", Digest::sha256(b"x")),
            ],
            2,
        )
        .await;
    assert!(
        digest_target.stderr.contains("names a digest"),
        "{}",
        digest_target.stderr
    );
}
