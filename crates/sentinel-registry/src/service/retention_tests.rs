//! Tests of retention on a registry with published packages: each rule
//! alone, stack members kept, signed versions kept, immutable tags kept,
//! and a run that deletes.

use bytes::Bytes;
use sentinel_lifecycle::{ImmutabilityRule, RetentionPolicy};
use sentinel_oci::media_types::OCI_MANIFEST;
use sentinel_oci::{Digest, Reference, RepositoryName};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, SIGNATURE_ARTIFACT_TYPE, SigningKey, Statement, Subject,
};
use sentinel_trust::SignaturePolicy;

use super::tests::registry;
use super::{PublishTarget, Registry, RegistryError};

fn repo(name: &str) -> RepositoryName {
    name.parse().unwrap()
}

/// Publishes the package made of `files` to `repository`.
async fn publish(registry: &Registry, repository: &str, files: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    let mut sntl = Vec::new();
    sentinel_package::pack(dir.path(), &mut sntl).unwrap();
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(sntl))]);
    registry
        .publish(
            body,
            PublishTarget::Repository(repo(repository)),
            |_| true,
            None,
        )
        .await
        .unwrap();
}

async fn agent(registry: &Registry, repository: &str, version: &str) {
    let name = repository.rsplit('/').next().unwrap();
    publish(
        registry,
        repository,
        &[("agent.yaml", format!("name: {name}\nversion: {version}\n"))],
    )
    .await;
}

async fn stack(registry: &Registry, repository: &str, version: &str, member: &str) {
    let name = repository.rsplit('/').next().unwrap();
    let definition = format!(
        "name: {name}\nversion: {version}\nagents:\n  - name: member\n    ref: \"{member}\"\n"
    );
    publish(registry, repository, &[("stack.yaml", definition)]).await;
}

fn policy(pattern: &str) -> RetentionPolicy {
    RetentionPolicy {
        repositories: pattern.parse().unwrap(),
        keep_last: None,
        keep_days: None,
        keep_matching: None,
        keep_stack_members: true,
        keep_signed: true,
    }
}

/// The versions a dry run would delete, as `repo@version`, sorted.
async fn doomed(registry: &Registry, now: u64) -> Vec<String> {
    let report = registry.apply_retention_at(now, true).await.unwrap();
    assert!(report.dry_run);
    let mut out: Vec<String> = report
        .removed
        .iter()
        .map(|v| format!("{}@{}", v.repository, v.version))
        .collect();
    out.sort();
    out
}

/// Sets when `version` of `repository` was pushed.
async fn pushed_at(registry: &Registry, repository: &str, version: &str, at: u64) {
    let mut entry = registry
        .catalogue
        .version(&repo(repository), &version.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    entry.pushed_at = at;
    registry.catalogue.record(entry).await.unwrap();
}

#[tokio::test]
async fn each_rule_keeps_what_it_says_and_the_rest_goes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    for version in ["0.9.0", "1.0.0", "1.1.0", "2.0.0", "2.1.0"] {
        agent(&registry, "acme/bot", version).await;
    }
    agent(&registry, "other/bot", "0.1.0").await;
    let now = 1_000 * 86_400;
    for (version, day) in [
        ("0.9.0", 990),
        ("1.0.0", 991),
        ("1.1.0", 998),
        ("2.0.0", 992),
        ("2.1.0", 993),
    ] {
        pushed_at(&registry, "acme/bot", version, day * 86_400).await;
    }
    // No policy: nothing goes.
    assert!(doomed(&registry, now).await.is_empty());

    let mut last_two = policy("acme/*");
    last_two.keep_last = Some(2);
    registry.set_retention_policy(last_two.clone()).unwrap();
    assert_eq!(
        doomed(&registry, now).await,
        vec!["acme/bot@0.9.0", "acme/bot@1.0.0", "acme/bot@1.1.0"]
    );

    let mut recent = policy("acme/*");
    recent.keep_days = Some(5);
    registry.set_retention_policy(recent).unwrap();
    assert_eq!(
        doomed(&registry, now).await,
        vec![
            "acme/bot@0.9.0",
            "acme/bot@1.0.0",
            "acme/bot@2.0.0",
            "acme/bot@2.1.0"
        ]
    );

    let mut matching = policy("acme/*");
    matching.keep_matching = Some(">=1.0.0, <2.0.0".parse().unwrap());
    registry.set_retention_policy(matching).unwrap();
    assert_eq!(
        doomed(&registry, now).await,
        vec!["acme/bot@0.9.0", "acme/bot@2.0.0", "acme/bot@2.1.0"]
    );

    // Rules add up; an immutable tag is kept whatever the policy says.
    let mut both = last_two;
    both.keep_days = Some(5);
    registry.set_retention_policy(both).unwrap();
    registry
        .set_immutability_rule(ImmutabilityRule {
            repositories: "acme/bot".parse().unwrap(),
            tags: vec!["1.0.*".parse().unwrap()],
        })
        .unwrap();
    assert_eq!(doomed(&registry, now).await, vec!["acme/bot@0.9.0"]);

    // The run deletes through delete_manifest: the catalogue follows.
    let report = registry.apply_retention_at(now, false).await.unwrap();
    assert_eq!(report.removed.len(), 1);
    assert!(report.failed.is_empty());
    let versions = registry
        .catalogue
        .versions(&repo("acme/bot"))
        .await
        .unwrap()
        .unwrap();
    let left: Vec<String> = versions
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect();
    assert_eq!(left.len(), 4);
    assert!(!left.contains(&"0.9.0".to_owned()));
    assert!(matches!(
        registry
            .manifest(
                &repo("acme/bot"),
                &Reference::Digest(report.removed[0].digest.clone())
            )
            .await,
        Err(RegistryError::ManifestUnknown(_))
    ));
    assert!(doomed(&registry, now).await.is_empty());
}

#[tokio::test]
async fn agents_a_kept_stack_names_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        agent(&registry, "acme/planner", version).await;
    }
    // Stacks in a namespace no policy covers keep all their versions.
    stack(&registry, "team/trip", "1.0.0", "acme/planner:1.0.0").await;
    let mut last_one = policy("acme/*");
    last_one.keep_last = Some(1);
    registry.set_retention_policy(last_one.clone()).unwrap();
    assert_eq!(doomed(&registry, 0).await, vec!["acme/planner@1.1.0"]);

    // A stack version that goes keeps nothing.
    stack(&registry, "team/trip", "2.0.0", "acme/planner:1.1.0").await;
    let mut stacks = policy("team/*");
    stacks.keep_last = Some(1);
    registry.set_retention_policy(stacks).unwrap();
    assert_eq!(
        doomed(&registry, 0).await,
        vec!["acme/planner@1.0.0", "team/trip@1.0.0"]
    );

    // Without the stack rule, members go like any other version.
    last_one.keep_stack_members = false;
    registry.set_retention_policy(last_one).unwrap();
    assert_eq!(
        doomed(&registry, 0).await,
        vec![
            "acme/planner@1.0.0",
            "acme/planner@1.1.0",
            "team/trip@1.0.0"
        ]
    );
}

/// Signs `version` of the package in `repository` with `key` and pushes
/// the signature artifact.
async fn sign(registry: &Registry, repository: &str, version: &str, key: &SigningKey) {
    let repository = repo(repository);
    let entry = registry
        .catalogue
        .version(&repository, &version.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let manifest = registry
        .manifest(&repository, &Reference::Digest(entry.digest.clone()))
        .await
        .unwrap();
    let subject = Subject {
        digest: entry.digest.clone(),
        media_type: manifest.media_type.clone(),
        size: manifest.body.len() as u64,
    };
    let envelope = Envelope::sign(&Statement::new(subject), key).to_json();
    for blob in [&b"{}"[..], &envelope] {
        let chunk =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(blob.to_vec()))]);
        registry
            .put_blob(&repository, &Digest::sha256(blob), None, chunk)
            .await
            .unwrap();
    }
    let artifact = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": Digest::sha256(&envelope), "size": envelope.len()}],
        "subject": {"mediaType": manifest.media_type, "digest": entry.digest, "size": manifest.body.len()},
    }))
    .unwrap();
    let digest = Digest::sha256(&artifact);
    registry
        .put_manifest(
            &repository,
            &Reference::Digest(digest),
            Some(OCI_MANIFEST),
            Bytes::from(artifact),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn versions_a_trusted_key_signed_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    for version in ["1.0.0", "2.0.0", "3.0.0"] {
        agent(&registry, "acme/bot", version).await;
    }
    let trusted = SigningKey::generate();
    let stranger = SigningKey::generate();
    registry
        .set_signature_policy(
            SignaturePolicy::new("acme/*".parse().unwrap(), false, vec![trusted.public_key()])
                .unwrap(),
        )
        .unwrap();
    sign(&registry, "acme/bot", "1.0.0", &trusted).await;
    sign(&registry, "acme/bot", "2.0.0", &stranger).await;
    let mut last_one = policy("acme/*");
    last_one.keep_last = Some(1);
    registry.set_retention_policy(last_one.clone()).unwrap();
    assert_eq!(doomed(&registry, 0).await, vec!["acme/bot@2.0.0"]);
    last_one.keep_signed = false;
    registry.set_retention_policy(last_one).unwrap();
    assert_eq!(
        doomed(&registry, 0).await,
        vec!["acme/bot@1.0.0", "acme/bot@2.0.0"]
    );
}
