//! Signing with the real `agent` binary: keys, `agent sign`, `agent verify`
//! with every reason it refuses and its exit code, `push --sign`, `pull
//! --verify-signature` and the trust policy's `require`, and detached
//! signatures, against the real `sentinel-registry` in process and CNCF
//! Distribution 2.8 (Debian's `docker-registry`, no referrers API: the
//! referrers tag schema) as a child process, both on 127.0.0.1.
//!
//! Without `docker-registry` installed its tests print a line saying they
//! were skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) they fail instead.

mod common;
#[path = "support/distribution.rs"]
mod distribution;

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use common::{AgentHome, host, tree};
use distribution::{Distribution, RegistryAuth};
use sentinel_client::{ClientOptions, RegistryClient, RegistryLocation};
use sentinel_conformance::TestRegistry;
use sentinel_oci::{Digest, DigestAlgorithm};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, KEY_ID_ANNOTATION, SIGNATURE_ARTIFACT_TYPE, SigningKey,
    Statement, Subject,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

/// Exit codes of `agent verify` (docs/agent-cli.md).
const UNSIGNED: i32 = 8;
const UNTRUSTED: i32 = 9;
const BAD_SIGNATURE: i32 = 10;
const OTHER_SUBJECT: i32 = 11;
/// A wrong or missing passphrase.
const AUTH: i32 = 3;
/// A bad argument.
const USAGE: i32 = 2;

/// Generates the key `name` in `home` and returns its public key file.
async fn generate(home: &AgentHome, name: &str) -> PathBuf {
    home.ok(&["key", "generate", "--name", name]).await;
    home.config_dir().join("keys").join(format!("{name}.pub"))
}

/// Pushes an agent `name` at `version` to `host/team/name:version`;
/// returns the reference and the digest.
async fn push(home: &AgentHome, host: &str, name: &str, version: &str) -> (String, String) {
    let dir = home.write_agent(name, version);
    let reference = format!("{host}/team/{name}:{version}");
    let run = home
        .ok(&["push", "--quiet", &reference, dir.to_str().unwrap()])
        .await;
    let digest = run.stdout.trim().rsplit_once('@').unwrap().1.to_string();
    (reference, digest)
}

/// `agent verify --format json` as JSON.
async fn verify_json(home: &AgentHome, args: &[&str]) -> Value {
    let mut all = vec!["verify", "--format", "json"];
    all.extend_from_slice(args);
    let run = home.ok(&all).await;
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.stdout))
}

/// A client of `host` for pushing hand-made signature artifacts.
fn client(host: &str) -> RegistryClient {
    RegistryClient::new(
        &RegistryLocation::parse(host).unwrap(),
        ClientOptions::default(),
    )
    .unwrap()
}

/// Pushes a signature artifact holding `envelope` whose `subject` is the
/// manifest `subject` of `repository`, made findable as `agent sign` does.
async fn push_artifact(host: &str, repository: &str, subject: &str, envelope: Vec<u8>) {
    try_push_artifact(host, repository, subject, envelope, None)
        .await
        .unwrap();
}

/// Pushes a signature artifact of `subject` holding `envelope`, annotated
/// as made by key `claimed` if given; the registry's answer to the
/// signature manifest's push.
async fn try_push_artifact(
    host: &str,
    repository: &str,
    subject: &str,
    envelope: Vec<u8>,
    claimed: Option<&str>,
) -> Result<(), sentinel_client::ClientError> {
    let client = client(host);
    let subject: Digest = subject.parse().unwrap();
    let head = client
        .head_manifest(repository, subject.as_str())
        .await
        .unwrap()
        .unwrap();
    let empty = Bytes::from_static(b"{}");
    let empty_digest = Digest::of(DigestAlgorithm::Sha256, &empty);
    client
        .push_blob_bytes(repository, &empty_digest, empty)
        .await
        .unwrap();
    let envelope = Bytes::from(envelope);
    let envelope_digest = Digest::of(DigestAlgorithm::Sha256, &envelope);
    client
        .push_blob_bytes(repository, &envelope_digest, envelope.clone())
        .await
        .unwrap();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": envelope_digest, "size": envelope.len()}],
        "subject": {"mediaType": head.media_type, "digest": head.digest, "size": head.size},
    });
    if let Some(key_id) = claimed {
        manifest["annotations"] = json!({ KEY_ID_ANNOTATION: key_id });
    }
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    client
        .push_referrer(
            repository,
            "application/vnd.oci.image.manifest.v1+json",
            bytes,
        )
        .await
        .map(drop)
}

/// Pushes a one-layer OCI container image to `host/repository:1.0` and
/// returns its reference.
async fn push_container_image(host: &str, repository: &str) -> String {
    let client = client(host);
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = Bytes::from_static(b"not really a tar, but a blob all the same");
    let mut descriptors = Vec::new();
    for (media_type, bytes) in [
        ("application/vnd.oci.image.config.v1+json", config),
        ("application/vnd.oci.image.layer.v1.tar", layer),
    ] {
        let digest = Digest::of(DigestAlgorithm::Sha256, &bytes);
        let size = bytes.len();
        client
            .push_blob_bytes(repository, &digest, bytes)
            .await
            .unwrap();
        descriptors.push(json!({"mediaType": media_type, "digest": digest, "size": size}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptors[0],
        "layers": [descriptors[1]],
    });
    client
        .put_manifest(
            repository,
            "1.0",
            "application/vnd.oci.image.manifest.v1+json",
            Bytes::from(serde_json::to_vec(&manifest).unwrap()),
        )
        .await
        .unwrap();
    format!("{host}/{repository}:1.0")
}

/// The private key of `name` in `home`.
fn private_key(home: &AgentHome, name: &str) -> SigningKey {
    let pem = std::fs::read_to_string(home.config_dir().join(format!("keys/{name}.key"))).unwrap();
    SigningKey::from_pem(&pem, None).unwrap()
}

/// A statement about the manifest `digest` of `host/repository`, as the
/// registry serves it.
async fn statement_for(host: &str, repository: &str, digest: &str) -> Statement {
    let head = client(host)
        .head_manifest(repository, digest)
        .await
        .unwrap()
        .unwrap();
    Statement::new(Subject {
        digest: head.digest,
        media_type: head.media_type,
        size: head.size,
    })
}

/// Sign and verify on `host`, with every reason verification refuses.
async fn sign_and_verify(host: &str) {
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    let public = public.to_str().unwrap();
    let (signed, signed_digest) = push(&author, host, "planner", "1.0.0").await;

    let run = author.ok(&["sign", &signed]).await;
    assert!(
        run.stdout
            .starts_with(&format!("signed {host}/team/planner:1.0.0@{signed_digest}")),
        "{}",
        run.stdout
    );
    let key_id = run.field("key");
    let report = verify_json(&author, &[&signed, "--key", public]).await;
    assert_eq!(report["digest"], signed_digest.as_str());
    assert_eq!(report["signatures"][0]["verdict"], "valid");
    assert_eq!(report["signatures"][0]["key_ids"][0], key_id.as_str());
    let table = author.ok(&["verify", &signed, "--key", public]).await;
    assert!(table.stdout.contains(&key_id), "{}", table.stdout);
    assert!(table.stdout.contains("valid"), "{}", table.stdout);

    // A reader who trusts nothing yet, then the author's key through the policy.
    let reader = AgentHome::new();
    let refused = reader.fails(&["verify", &signed], UNTRUSTED).await;
    assert!(
        refused.stderr.contains("not trusted") && refused.stderr.contains(&key_id),
        "{}",
        refused.stderr
    );
    reader
        .ok(&["trust", "add", &format!("{host}/team/*"), public])
        .await;
    reader.ok(&["verify", &signed]).await;

    // Unsigned.
    let (unsigned, _) = push(&author, host, "unsigned", "1.0.0").await;
    let refused = reader.fails(&["verify", &unsigned], UNSIGNED).await;
    assert!(
        refused.stderr.contains("is not signed"),
        "{}",
        refused.stderr
    );

    // Signed only by a key the reader does not trust.
    let (other, _) = push(&author, host, "stranger", "1.0.0").await;
    generate(&author, "other").await;
    author.ok(&["sign", "--key", "other", &other]).await;
    let refused = reader.fails(&["verify", &other], UNTRUSTED).await;
    assert!(refused.stderr.contains("not trusted"), "{}", refused.stderr);

    // A trusted key's envelope whose signature bytes were altered.
    let (tampered, tampered_digest) = push(&author, host, "tampered", "1.0.0").await;
    let key = private_key(&author, "default");
    let statement = statement_for(host, "team/tampered", &tampered_digest).await;
    let mut envelope = Envelope::sign(&statement, &key);
    envelope.signatures[0].sig[10] ^= 0x40;
    push_artifact(host, "team/tampered", &tampered_digest, envelope.to_json()).await;
    let refused = reader.fails(&["verify", &tampered], BAD_SIGNATURE).await;
    assert!(
        refused.stderr.contains("does not verify"),
        "{}",
        refused.stderr
    );

    // A valid signature of manifest A moved onto manifest B.
    let (moved, moved_digest) = push(&author, host, "moved", "1.0.0").await;
    let statement = statement_for(host, "team/planner", &signed_digest).await;
    let envelope = Envelope::sign(&statement, &key);
    // Sentinel refuses it on push (its statement names another manifest
    // than its subject); a registry that stores it leaves it to verify.
    let stored = match try_push_artifact(
        host,
        "team/moved",
        &moved_digest,
        envelope.to_json(),
        None,
    )
    .await
    {
        Ok(()) => {
            let refused = reader.fails(&["verify", &moved], OTHER_SUBJECT).await;
            assert!(
                refused.stderr.contains("another digest")
                    && refused.stderr.contains(&signed_digest),
                "{}",
                refused.stderr
            );
            true
        }
        Err(error) => {
            assert!(
                error.to_string().contains("400")
                    && error.to_string().contains("the envelope signs"),
                "{error}"
            );
            reader.fails(&["verify", &moved], UNSIGNED).await;
            false
        }
    };

    // One valid signature is enough, whatever else is there.
    author.ok(&["sign", &moved]).await;
    let report = verify_json(&reader, &[&moved]).await;
    let verdicts: Vec<&str> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["verdict"].as_str().unwrap())
        .collect();
    assert!(
        verdicts.contains(&"valid") && (verdicts.contains(&"other-subject") || !stored),
        "{verdicts:?}"
    );

    // A plain container image (not a Sentinel package) signs and verifies too.
    let image = push_container_image(host, "library/plain").await;
    author.ok(&["sign", &image]).await;
    let report = verify_json(&reader, &[&image, "--key", public]).await;
    assert_eq!(report["signatures"][0]["verdict"], "valid");

    // By digest, and a missing reference.
    reader
        .ok(&["verify", &format!("{host}/team/planner@{signed_digest}")])
        .await;
    reader
        .fails(&["verify", &format!("{host}/team/planner:9.9.9")], 4)
        .await;
}

/// `agent push --sign`, then pulls: refused before the store changes, and
/// accepted once signed; `require: true` makes a plain pull verify.
async fn push_sign_and_verified_pulls(host: &str) {
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    let public = public.to_str().unwrap();
    let dir = author.write_agent("signed", "2.0.0");
    let reference = format!("{host}/team/signed:2.0.0");
    let run = author
        .ok(&["push", "--sign", &reference, dir.to_str().unwrap()])
        .await;
    assert!(run.stdout.contains("signed: ed25519:"), "{}", run.stdout);
    author.ok(&["verify", &reference, "--key", public]).await;
    let (unsigned, _) = push(&author, host, "plain", "2.0.0").await;

    let reader = AgentHome::new();
    reader
        .ok(&["trust", "add", &format!("{host}/*"), public])
        .await;
    // Something in the store already, so that "unchanged" means something.
    reader.ok(&["pull", "--no-extract", &reference]).await;
    let before = tree(&reader.store());
    let refused = reader
        .fails(
            &["pull", "--verify-signature", &unsigned, "-d", "out"],
            UNSIGNED,
        )
        .await;
    assert!(
        refused.stderr.contains("is not signed"),
        "{}",
        refused.stderr
    );
    assert_eq!(tree(&reader.store()), before, "the store changed");
    assert!(
        !reader.path().join("out").exists(),
        "something was extracted"
    );
    let images = reader.ok(&["images", "--format", "json"]).await;
    assert!(!images.stdout.contains("plain"), "{}", images.stdout);

    let pulled = reader
        .ok(&["pull", "--verify-signature", &reference, "-d", "out"])
        .await;
    assert!(
        pulled.stdout.contains("verified: signed by ed25519:"),
        "{}",
        pulled.stdout
    );
    assert!(reader.path().join("out/agent.yaml").is_file());

    // Without the flag, a plain pull verifies once the scope requires it.
    reader.ok(&["pull", "--no-extract", &unsigned]).await;
    reader
        .ok(&["trust", "add", "--require", &format!("{host}/*"), public])
        .await;
    let listed = reader.ok(&["trust", "list", "--format", "json"]).await;
    let scopes: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(scopes[0]["require"], true, "{}", listed.stdout);
    reader
        .fails(&["pull", "--no-extract", &unsigned], UNSIGNED)
        .await;
    let pulled = reader.ok(&["pull", "--no-extract", &reference]).await;
    assert!(pulled.stdout.contains("verified:"), "{}", pulled.stdout);
    // A more specific scope that does not require it wins.
    reader
        .ok(&["trust", "add", &format!("{host}/team/plain"), public])
        .await;
    reader.ok(&["pull", "--no-extract", &unsigned]).await;
}

/// 30 signatures on one manifest, then `agent verify` timed (the whole
/// process: start, one referrers listing, 30 manifests and 30 envelopes).
async fn thirty_signatures(host: &str, label: &str) {
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    let public = public.to_str().unwrap();
    let (reference, digest) = push(&author, host, "popular", "1.0.0").await;
    let key = private_key(&author, "default");
    let statement = statement_for(host, "team/popular", &digest).await;
    for index in 0..30 {
        let mut statement = statement.clone();
        statement.created = format!("2026-12-07T03:{index:02}:00Z");
        let envelope = Envelope::sign(&statement, &key);
        push_artifact(host, "team/popular", &digest, envelope.to_json()).await;
    }
    author.ok(&["verify", &reference, "--key", public]).await;
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let report = verify_json(&author, &[&reference, "--key", public]).await;
        times.push(start.elapsed());
        assert_eq!(report["signatures"].as_array().unwrap().len(), 30);
    }
    times.sort();
    eprintln!(
        "{label}: agent verify of 30 signatures: median {:?}, best {:?}, worst {:?} (whole process)",
        times[2], times[0], times[4]
    );
}

/// A valid signature behind 300 others (by an untrusted key, whose
/// artifacts claim to be by the trusted one: anyone who may push can make
/// them) is still found: `agent verify` reads on past its first batch
/// while no signature is valid.
#[tokio::test(flavor = "multi_thread")]
async fn a_valid_signature_cannot_be_buried() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    generate(&author, "stranger").await;
    let (reference, digest) = push(&author, &host, "buried", "1.0.0").await;
    let trusted = private_key(&author, "default");
    let stranger = private_key(&author, "stranger");
    let statement = statement_for(&host, "team/buried", &digest).await;
    let claimed = trusted.id().to_string();
    for index in 0..300 {
        let mut statement = statement.clone();
        statement.created = format!("2026-12-07T{:02}:{:02}:00Z", index / 60, index % 60);
        let envelope = Envelope::sign(&statement, &stranger);
        try_push_artifact(
            &host,
            "team/buried",
            &digest,
            envelope.to_json(),
            Some(&claimed),
        )
        .await
        .unwrap();
    }
    let envelope = Envelope::sign(&statement, &trusted);
    push_artifact(&host, "team/buried", &digest, envelope.to_json()).await;
    let report = verify_json(&author, &[&reference, "--key", public.to_str().unwrap()]).await;
    let valid = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["verdict"] == "valid")
        .count();
    assert_eq!(valid, 1, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_sign_and_verify() {
    let registry = TestRegistry::start().await;
    sign_and_verify(&host(&registry)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_sign_and_verify() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    sign_and_verify(&registry.host()).await;
}

/// A host name is case-insensitive: `LocalHost:PORT` is the registry the
/// scope `localhost:PORT/*` names, so a pull written that way verifies too.
#[tokio::test(flavor = "multi_thread")]
async fn a_scope_covers_its_host_in_any_case() {
    let registry = TestRegistry::start().await;
    let port = host(&registry).rsplit_once(':').unwrap().1.to_string();
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    let (_, digest) = push(&author, &format!("localhost:{port}"), "plain", "1.0.0").await;

    let reader = AgentHome::new();
    reader
        .ok(&[
            "trust",
            "add",
            "--require",
            &format!("localhost:{port}/*"),
            public.to_str().unwrap(),
        ])
        .await;
    for written in [format!("LocalHost:{port}"), format!("LOCALHOST:{port}")] {
        let refused = reader
            .fails(
                &[
                    "pull",
                    "--no-extract",
                    &format!("{written}/team/plain:1.0.0"),
                ],
                UNSIGNED,
            )
            .await;
        assert!(refused.stderr.contains(&digest), "{}", refused.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_push_sign_and_verified_pulls() {
    let registry = TestRegistry::start().await;
    push_sign_and_verified_pulls(&host(&registry)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_push_sign_and_verified_pulls() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    push_sign_and_verified_pulls(&registry.host()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_thirty_signatures() {
    let registry = TestRegistry::start().await;
    thirty_signatures(&host(&registry), "sentinel").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_thirty_signatures() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    thirty_signatures(&registry.host(), "distribution 2.8").await;
}

/// Runs `agent` with `input` on standard input.
async fn run_with_stdin(home: &AgentHome, args: &[&str], input: &str) -> common::Run {
    let mut child = home
        .command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    common::Run::from(child.wait_with_output().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_generated_listed_exported_and_encrypted() {
    let home = AgentHome::new();
    let made = home.ok(&["key", "generate"]).await;
    let key_id = made.field("key id");
    assert!(key_id.starts_with("ed25519:"), "{}", made.stdout);
    assert!(made.stdout.contains("(not encrypted)"), "{}", made.stdout);
    let private = home.config_dir().join("keys/default.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&private).unwrap();
    let refused = home.fails(&["key", "generate"], USAGE).await;
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&private).unwrap(), before, "clobbered");

    let encrypted = run_with_stdin(
        &home,
        &["key", "generate", "--name", "ci", "--passphrase-stdin"],
        "correct horse\n",
    )
    .await;
    assert_eq!(encrypted.code, 0, "{}", encrypted.describe());
    assert!(
        encrypted.stdout.contains("(encrypted)"),
        "{}",
        encrypted.stdout
    );
    let listed = home.ok(&["key", "list", "--format", "json"]).await;
    let keys: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(keys[0]["name"], "ci");
    assert_eq!(keys[0]["encrypted"], true);
    assert_eq!(keys[1]["name"], "default");
    assert_eq!(keys[1]["key_id"], key_id.as_str());
    assert_eq!(keys[1]["encrypted"], false);
    let table = home.ok(&["key", "list"]).await;
    assert!(
        table.stdout.starts_with("NAME      KEY ID"),
        "{}",
        table.stdout
    );

    let exported = home.ok(&["key", "export", "default"]).await;
    assert!(
        exported.stdout.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{}",
        exported.stdout
    );
    home.ok(&["key", "export", "default", "-o", "default.pub"])
        .await;
    assert_eq!(
        std::fs::read_to_string(home.path().join("default.pub")).unwrap(),
        exported.stdout
    );

    // The encrypted key signs only with its passphrase.
    let package = pack(&home, "hello", "1.0.0").await;
    let package = package.to_str().unwrap();
    let wrong = run_with_stdin(
        &home,
        &[
            "sign",
            "--detached",
            package,
            "--key",
            "ci",
            "--passphrase-stdin",
        ],
        "wrong horse\n",
    )
    .await;
    assert_eq!(wrong.code, AUTH, "{}", wrong.describe());
    assert!(
        wrong.stderr.contains("wrong passphrase"),
        "{}",
        wrong.stderr
    );
    let locked = home
        .fails(&["sign", "--detached", package, "--key", "ci"], AUTH)
        .await;
    assert!(
        locked.stderr.contains("AGENT_KEY_PASSPHRASE"),
        "{}",
        locked.stderr
    );
    let signed = home
        .command(&["sign", "--detached", package, "--key", "ci"])
        .env("AGENT_KEY_PASSPHRASE", "correct horse")
        .output()
        .await
        .unwrap();
    assert!(signed.status.success(), "{signed:?}");
    home.fails(&["key", "export", "missing"], 4).await;
}

/// Packs an agent into a file in the home and returns its path.
async fn pack(home: &AgentHome, name: &str, version: &str) -> PathBuf {
    let dir = home.write_agent(name, version);
    let file = home.path().join(format!("{name}-{version}.agent.sntl"));
    home.ok(&["pack", dir.to_str().unwrap(), "-o", file.to_str().unwrap()])
        .await;
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn detached_signatures() {
    let home = AgentHome::new();
    let public = generate(&home, "default").await;
    let public = public.to_str().unwrap();
    let package = pack(&home, "hello", "1.0.0").await;
    let file = package.to_str().unwrap();
    let run = home.ok(&["sign", "--detached", file]).await;
    let signature = home.path().join("hello-1.0.0.agent.sig.sntl");
    assert_eq!(run.field("signature"), signature.display().to_string());
    let envelope = Envelope::parse(&std::fs::read(&signature).unwrap()).unwrap();
    let statement = envelope.statement().unwrap();
    let package_info = statement.package.unwrap();
    assert_eq!(
        (
            package_info.name.as_str(),
            package_info.kind.as_str(),
            package_info.version.as_str()
        ),
        ("hello", "agent", "1.0.0")
    );
    assert_eq!(statement.subject.media_type, "application/x-sentinel-agent");

    let report = verify_json(&home, &["--detached", file, "--key", public]).await;
    assert_eq!(report["signatures"][0]["verdict"], "valid");
    // An explicit output and signature file.
    home.ok(&["sign", "--detached", file, "-o", "elsewhere.sig"])
        .await;
    home.ok(&[
        "verify",
        "--detached",
        file,
        "--signature",
        "elsewhere.sig",
        "--key",
        public,
    ])
    .await;

    // Another key, a changed file, no signature file.
    let other = generate(&home, "other").await;
    home.fails(
        &[
            "verify",
            "--detached",
            file,
            "--key",
            other.to_str().unwrap(),
        ],
        UNTRUSTED,
    )
    .await;
    let mut bytes = std::fs::read(&package).unwrap();
    bytes.push(0);
    let changed = home.path().join("changed.agent.sntl");
    std::fs::write(&changed, &bytes).unwrap();
    let refused = home
        .fails(
            &[
                "verify",
                "--detached",
                changed.to_str().unwrap(),
                "--signature",
                signature.to_str().unwrap(),
                "--key",
                public,
            ],
            OTHER_SUBJECT,
        )
        .await;
    assert!(
        refused.stderr.contains("another digest"),
        "{}",
        refused.stderr
    );
    home.fails(
        &[
            "verify",
            "--detached",
            changed.to_str().unwrap(),
            "--key",
            public,
        ],
        UNSIGNED,
    )
    .await;
    home.fails(&["verify", "--detached", file], USAGE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trust_policy_is_edited_and_checked() {
    let home = AgentHome::new();
    let public = generate(&home, "default").await;
    let public = public.to_str().unwrap();
    let other = generate(&home, "other").await;
    home.ok(&["trust", "add", "registry.example.com/acme/*", public])
        .await;
    home.ok(&[
        "trust",
        "add",
        "--require",
        "registry.example.com/acme/*",
        other.to_str().unwrap(),
    ])
    .await;
    home.ok(&["trust", "add", "*", public]).await;
    let trust = home.config_dir().join("trust.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&trust).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let listed = home.ok(&["trust", "list"]).await;
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", listed.stdout);
    assert!(
        lines[1].starts_with("registry.example.com/acme/*   yes"),
        "{}",
        listed.stdout
    );
    home.fails(&["trust", "add", "registry.example.com/*/x", public], USAGE)
        .await;
    let other_id = std::fs::read_to_string(&other).unwrap();
    let other_id = sentinel_signature::PublicKey::from_pem(&other_id)
        .unwrap()
        .id()
        .to_string();
    home.ok(&["trust", "remove", "registry.example.com/acme/*", &other_id])
        .await;
    home.fails(
        &["trust", "remove", "registry.example.com/acme/*", &other_id],
        4,
    )
    .await;
    home.ok(&["trust", "remove", "*"]).await;
    let json = home.ok(&["trust", "list", "--format", "json"]).await;
    let scopes: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(scopes.as_array().unwrap().len(), 1, "{}", json.stdout);
    assert_eq!(scopes[0]["keys"].as_array().unwrap().len(), 1);
}

/// Writes a stack directory whose members are `members` (name, reference).
fn write_stack(home: &AgentHome, name: &str, members: &[(&str, &str)]) -> PathBuf {
    let dir = home.path().join("src").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = format!("name: {name}\nversion: 1.0.0\ndescription: A test stack\nagents:\n");
    for (member, reference) in members {
        yaml.push_str(&format!("  - name: {member}\n    ref: '{reference}'\n"));
    }
    std::fs::write(dir.join("stack.yaml"), yaml).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_pull_verifies_the_stack_and_every_member() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    let public = generate(&author, "default").await;
    let public = public.to_str().unwrap();
    for name in ["researcher", "writer"] {
        let dir = author.write_agent(name, "1.0.0");
        author
            .ok(&[
                "push",
                "--sign",
                &format!("{host}/team/{name}:1.0.0"),
                dir.to_str().unwrap(),
            ])
            .await;
    }
    let (unsigned_member, _) = push(&author, &host, "unsigned", "1.0.0").await;
    let signed_stack = write_stack(
        &author,
        "crew",
        &[
            ("researcher", "team/researcher:1.0.0"),
            ("writer", "team/writer:1.0.0"),
        ],
    );
    let stack = format!("{host}/team/crew:1.0.0");
    author
        .ok(&[
            "stack",
            "push",
            "--sign",
            &stack,
            signed_stack.to_str().unwrap(),
        ])
        .await;
    let leaky_stack = write_stack(
        &author,
        "leaky",
        &[
            ("researcher", "team/researcher:1.0.0"),
            ("unsigned", &unsigned_member),
        ],
    );
    let leaky = format!("{host}/team/leaky:1.0.0");
    author
        .ok(&[
            "stack",
            "push",
            "--sign",
            &leaky,
            leaky_stack.to_str().unwrap(),
        ])
        .await;

    let reader = AgentHome::new();
    reader
        .ok(&["trust", "add", &format!("{host}/*"), public])
        .await;
    reader
        .ok(&[
            "stack",
            "pull",
            "--verify-signature",
            "--extract-agents",
            &stack,
            "-d",
            "crew",
        ])
        .await;
    assert!(
        reader
            .path()
            .join("crew/agents/writer/agent.yaml")
            .is_file()
    );

    // A signed stack with an unsigned member: nothing extracted, no member stored.
    let before = reader.ok(&["images", "--format", "json"]).await.stdout;
    let refused = reader
        .fails(
            &[
                "stack",
                "pull",
                "--verify-signature",
                "--extract-agents",
                &leaky,
                "-d",
                "leaky",
            ],
            UNSIGNED,
        )
        .await;
    assert!(
        refused.stderr.contains("team/unsigned"),
        "{}",
        refused.stderr
    );
    assert!(!reader.path().join("leaky").exists());
    let after = reader.ok(&["images", "--format", "json"]).await.stdout;
    assert!(!after.contains("team/unsigned"), "{after}");
    // The stack itself was verified and stored; nothing else changed.
    let names = |listing: &str| -> Vec<String> {
        serde_json::from_str::<Vec<Value>>(listing)
            .unwrap()
            .iter()
            .filter_map(|row| row["reference"].as_str().map(str::to_string))
            .filter(|name| !name.contains("leaky"))
            .collect()
    };
    assert_eq!(names(&before), names(&after));
}
