//! Signatures in the catalogue: search results and a version's info list
//! each signer (key id, time, trusted by the registry's policy or not), and
//! `signed=true` keeps the packages a trusted key signed.

use std::sync::OnceLock;

use reqwest::StatusCode;
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, SIGNATURE_ARTIFACT_TYPE, SigningKey, Statement, Subject,
};
use serde_json::json;

use crate::common::*;
use crate::support::*;

/// The key the registry trusts, and the directory holding its public half.
fn trusted_key() -> &'static (tempfile::TempDir, SigningKey) {
    static KEY: OnceLock<(tempfile::TempDir, SigningKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        std::fs::write(dir.path().join("trusted.pub"), key.public_key().to_pem()).unwrap();
        (dir, key)
    })
}

/// A registry whose configuration trusts [`trusted_key`] everywhere,
/// without requiring signatures.
async fn start() -> Oci {
    let _ = trusted_key();
    Oci {
        reg: sentinel_conformance::TestRegistry::start_with(|settings| {
            settings.signature_policies = vec![sentinel_registry::ConfiguredPolicy {
                repositories: "*".into(),
                require: false,
                keys: vec![trusted_key().0.path().join("trusted.pub")],
            }];
        })
        .await,
        http: sentinel_conformance::client(),
    }
}

/// Signs manifest `digest` (`size` bytes) of `repo` with `key`, as `agent sign` does.
async fn sign(oci: &Oci, repo: &str, digest: &str, size: usize, key: &SigningKey) {
    let statement = Statement::new(Subject {
        digest: digest.parse().unwrap(),
        media_type: OCI_MANIFEST.into(),
        size: size as u64,
    });
    let envelope = Envelope::sign(&statement, key).to_json();
    let empty = oci.push_blob_desc(repo, OCI_EMPTY, b"{}").await;
    let layer = oci
        .push_blob_desc(repo, ENVELOPE_MEDIA_TYPE, &envelope)
        .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": empty.to_json(),
        "layers": [layer.to_json()],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": size},
    });
    let body = to_bytes(&manifest);
    oci.push_manifest(repo, &sha256_digest(&body), OCI_MANIFEST, &body)
        .await;
}

#[tokio::test]
async fn search_and_info_list_signatures_and_filter_the_signed() {
    let oci = start().await;
    let signed = Package::agent("signed", "1.0.0", "");
    let plain = Package::agent("plain", "1.0.0", "");
    push_version(&oci, "sig/signed", &signed).await;
    push_version(&oci, "sig/plain", &plain).await;
    let key = &trusted_key().1;
    sign(
        &oci,
        "sig/signed",
        &signed.digest(),
        signed.manifest().len(),
        key,
    )
    .await;
    let stranger = SigningKey::generate();
    sign(
        &oci,
        "sig/plain",
        &plain.digest(),
        plain.manifest().len(),
        &stranger,
    )
    .await;

    let all = get_json(&oci, "/v1/packages/search?q=sig").await;
    assert_eq!(all["total"], 2, "{all}");
    for package in all["packages"].as_array().unwrap() {
        let signatures = package["signatures"].as_array().unwrap();
        assert_eq!(signatures.len(), 1, "{package}");
        let expected = package["name"] == "sig/signed";
        assert_eq!(signatures[0]["trusted"], expected, "{package}");
        assert!(signatures[0]["created"].as_str().unwrap().ends_with('Z'));
    }

    let only = get_json(&oci, "/v1/packages/search?q=sig&signed=true").await;
    assert_eq!(only["total"], 1, "{only}");
    assert_eq!(only["packages"][0]["name"], "sig/signed");

    let info = get_json(&oci, "/v1/packages/sig/signed/1.0.0/info").await;
    assert_eq!(
        info["signatures"][0]["key_id"],
        key.id().to_string(),
        "{info}"
    );
    assert_eq!(info["signatures"][0]["trusted"], true);
    let info = get_json(&oci, "/v1/packages/sig/plain/1.0.0/info").await;
    assert_eq!(info["signatures"][0]["key_id"], stranger.id().to_string());
    assert_eq!(info["signatures"][0]["trusted"], false);

    let bad = send(oci.get("/v1/packages/search?signed=maybe")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// An envelope by the trusted key that names it by another id (or none),
/// as other DSSE implementations write: one signer, trusted, listed once.
#[tokio::test]
async fn a_trusted_signature_under_a_foreign_key_id_is_listed_once() {
    let oci = start().await;
    let package = Package::agent("foreign", "1.0.0", "");
    push_version(&oci, "sig/foreign", &package).await;
    let key = &trusted_key().1;
    let statement = Statement::new(Subject {
        digest: package.digest().parse().unwrap(),
        media_type: OCI_MANIFEST.into(),
        size: package.manifest().len() as u64,
    });
    let mut envelope = Envelope::sign(&statement, key);
    envelope.signatures[0].keyid = "my-release-key".into();
    let envelope = envelope.to_json();
    let empty = oci.push_blob_desc("sig/foreign", OCI_EMPTY, b"{}").await;
    let layer = oci
        .push_blob_desc("sig/foreign", ENVELOPE_MEDIA_TYPE, &envelope)
        .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": empty.to_json(),
        "layers": [layer.to_json()],
        "subject": {"mediaType": OCI_MANIFEST, "digest": package.digest(), "size": package.manifest().len()},
    });
    let body = to_bytes(&manifest);
    oci.push_manifest("sig/foreign", &sha256_digest(&body), OCI_MANIFEST, &body)
        .await;

    let info = get_json(&oci, "/v1/packages/sig/foreign/1.0.0/info").await;
    let signatures = info["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{info}");
    assert_eq!(signatures[0]["key_id"], key.id().to_string(), "{info}");
    assert_eq!(signatures[0]["trusted"], true, "{info}");
}
