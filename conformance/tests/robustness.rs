//! Hostile or unusual input, and storage repair: each case gets a clear answer
//! and never changes what the registry serves.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// A mount without `from` only finds blobs some repository still holds: a blob
/// deleted everywhere cannot be brought back by knowing its digest.
#[tokio::test]
async fn mount_without_from_ignores_blobs_deleted_everywhere() {
    let oci = Oci::start().await;
    let digest = oci.push_blob("team/a", b"secret layer").await;
    send(oci.delete(&format!("/v2/team/a/blobs/{digest}")))
        .await
        .expect_status(StatusCode::ACCEPTED);
    let reply = send(oci.post(&format!("/v2/team/b/blobs/uploads/?mount={digest}")))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert!(
        reply
            .require_header("Location")
            .contains("/v2/team/b/blobs/uploads/")
    );
    oci.get_blob("team/b", &digest)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
}

/// A blob whose bytes vanished from storage (a restored backup, a cleared
/// bucket) is repaired by pushing it again.
#[tokio::test]
async fn pushing_again_repairs_a_blob_missing_from_storage() {
    let oci = Oci::start().await;
    let bytes = b"bytes that will be lost";
    let digest = oci.push_blob("repair/me", bytes).await;
    oci.reg.lose_blob(&digest).await;
    oci.get_blob("repair/me", &digest)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    oci.push_blob("repair/me", bytes).await;
    let reply = oci
        .get_blob("repair/me", &digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.body.as_slice(), bytes);
}

/// Range and Content-Range values at the edge of 64 bits neither crash the
/// server nor produce a wrong partial response.
#[tokio::test]
async fn ranges_at_the_edge_of_u64_are_handled() {
    let oci = Oci::start().await;
    let bytes = b"0123456789";
    let digest = oci.push_blob("edge/range", bytes).await;
    let reply = send(
        oci.get(&format!("/v2/edge/range/blobs/{digest}"))
            .header("Range", "bytes=0-18446744073709551615"),
    )
    .await
    .expect_status(StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body.as_slice(), bytes);
    assert_eq!(reply.require_header("Content-Range"), "bytes 0-9/10");

    let session = oci.start_upload("edge/range").await;
    let reply = send(
        oci.patch(&session)
            .header("Content-Range", "0-18446744073709551615")
            .body(b"abc".to_vec()),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "{}",
        reply.text()
    );
    reply.expect_code(&["BLOB_UPLOAD_INVALID"]);
    // The session is untouched.
    let status = send(oci.get(&session))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(status.require_header("Range"), "0-0");
}

/// A chunk whose body is longer or shorter than its Content-Range stores nothing.
#[tokio::test]
async fn a_chunk_of_the_wrong_length_stores_nothing() {
    let oci = Oci::start().await;
    let session = oci.start_upload("edge/length").await;
    let reply = send(
        oci.patch(&session)
            .header("Content-Range", "0-9")
            .body(b"only five".to_vec()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    reply.expect_code(&["SIZE_INVALID"]);
    let status = send(oci.get(&session))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(status.require_header("Range"), "0-0");
    // The right chunk is then accepted at offset 0.
    send(
        oci.patch(&session)
            .header("Content-Range", "0-9")
            .body(b"0123456789".to_vec()),
    )
    .await
    .expect_status(StatusCode::ACCEPTED)
    .expect_header("Range", "0-9");
}

/// An artifactType with a literal `+` (as in `application/vnd.x+json`) filters
/// referrers exactly like its percent-encoded form; an empty one filters nothing.
#[tokio::test]
async fn artifact_type_filter_keeps_plus_signs_and_ignores_empty_values() {
    let oci = Oci::start().await;
    let repo = "edge/referrers";
    let subject = oci.push_image(repo, Some("v1"), "subject").await;
    let config = oci.push_blob_desc(repo, OCI_EMPTY, b"{}").await;
    let layer = oci
        .push_blob_desc(repo, "application/octet-stream", b"attestation")
        .await;
    let mut manifest = image_manifest(&config, &[layer]);
    manifest["artifactType"] = json!("application/vnd.example+json");
    manifest["subject"] = subject.descriptor.to_json();
    let bytes = to_bytes(&manifest);
    let digest = oci
        .push_manifest(repo, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)
        .await;

    for query in [
        "artifactType=application/vnd.example+json",
        "artifactType=application%2Fvnd.example%2Bjson",
        "artifactType=",
    ] {
        let reply = send(oci.get(&format!("/v2/{repo}/referrers/{}?{query}", subject.digest)))
            .await
            .expect_status(StatusCode::OK);
        let listed = reply.json()["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(listed.len(), 1, "{query}: {}", reply.text());
        assert_eq!(listed[0]["digest"], json!(digest), "{query}");
        let filtered = reply.header("OCI-Filters-Applied").is_some();
        assert_eq!(
            filtered,
            query != "artifactType=",
            "{query}: OCI-Filters-Applied"
        );
    }
}

/// Listings answer HEAD like GET, without a body.
#[tokio::test]
async fn listings_answer_head() {
    let oci = Oci::start().await;
    let image = oci.push_image("edge/head", Some("v1"), "head").await;
    for path in [
        "/v2/edge/head/tags/list".to_owned(),
        "/v2/_catalog".to_owned(),
        format!("/v2/edge/head/referrers/{}", image.digest),
    ] {
        send(oci.head(&path))
            .await
            .expect_status(StatusCode::OK)
            .expect_empty_body();
    }
}

/// Paths outside the API get a 404 with the OCI error envelope.
#[tokio::test]
async fn unknown_paths_get_an_oci_error() {
    let oci = Oci::start().await;
    for path in ["/v2/just-a-name", "/v3/", "/", "/v2/a/unknown/verb"] {
        send(oci.get(path))
            .await
            .expect_error(StatusCode::NOT_FOUND, "UNSUPPORTED");
    }
}
