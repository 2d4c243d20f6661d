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

/// Paths outside the API (and outside the web UI, which serves `/`) get a
/// 404 with the OCI error envelope.
#[tokio::test]
async fn unknown_paths_get_an_oci_error() {
    let oci = Oci::start().await;
    for path in [
        "/v2/just-a-name",
        "/v3/",
        "/favicon.ico",
        "/v2/a/unknown/verb",
    ] {
        send(oci.get(path))
            .await
            .expect_error(StatusCode::NOT_FOUND, "UNSUPPORTED");
    }
}

/// Sends a request whose body stops halfway (the client goes away), and
/// returns the status line the server answered with, if any.
async fn send_truncated(
    base_url: &str,
    method: &str,
    path: &str,
    declared: usize,
    sent: &[u8],
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let authority = base_url.strip_prefix("http://").expect("plain http");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    stream.write_all(sent).await.expect("send part of the body");
    // Close our side: the body ends early. The server answers (or closes) once
    // it has dealt with the request, which is what the test waits for.
    stream.shutdown().await.expect("half-close");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A monolithic upload whose body is cut short stores nothing: no blob, no
/// leftover part.
#[tokio::test]
async fn a_truncated_monolithic_upload_leaves_no_trace() {
    let oci = Oci::start().await;
    let data = vec![7u8; 200_000];
    let digest = sha256_digest(&data);
    let status = send_truncated(
        &oci.reg.base_url(),
        "POST",
        &format!("/v2/cut/short/blobs/uploads/?digest={digest}"),
        data.len(),
        &data[..100_000],
    )
    .await;
    assert!(
        !status.contains(" 201 "),
        "a truncated push is not acknowledged: {status}"
    );
    oci.head_blob("cut/short", &digest)
        .await
        .expect_status(StatusCode::NOT_FOUND);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
}

/// A chunk cut short leaves the session where it was, and the chunk can be
/// sent again.
#[tokio::test]
async fn a_truncated_chunk_leaves_the_session_unchanged() {
    let oci = Oci::start().await;
    let session = oci.start_upload("cut/chunk").await;
    send(
        oci.patch(&session)
            .header("Content-Range", "0-9")
            .body(b"0123456789".to_vec()),
    )
    .await
    .expect_status(StatusCode::ACCEPTED);
    let path = location_path(&session);
    let status = send_truncated(&oci.reg.base_url(), "PATCH", &path, 1000, &[b'x'; 300]).await;
    assert!(
        !status.contains(" 202 "),
        "a truncated chunk is not acknowledged: {status}"
    );
    let reply = send(oci.get(&session))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(reply.require_header("Range"), "0-9");
    // Only the acknowledged chunk's part is in storage.
    assert_eq!(oci.reg.upload_objects().await.len(), 1);
    let rest = vec![b'y'; 1000];
    send(
        oci.patch(&session)
            .header("Content-Range", "10-1009")
            .body(rest.clone()),
    )
    .await
    .expect_status(StatusCode::ACCEPTED)
    .expect_header("Range", "0-1009");
    let mut whole = b"0123456789".to_vec();
    whole.extend_from_slice(&rest);
    let digest = sha256_digest(&whole);
    send(oci.put(&with_query(&session, &format!("digest={digest}"))))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(oci.get_blob("cut/chunk", &digest).await.body, whole);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
}

/// A blob whose bytes do not match its digest is refused and leaves nothing behind.
#[tokio::test]
async fn a_digest_mismatch_leaves_no_trace() {
    let oci = Oci::start().await;
    let wrong = sha256_digest(b"something else");
    send(
        oci.post(&format!("/v2/bad/digest/blobs/uploads/?digest={wrong}"))
            .body(b"actual bytes".to_vec()),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    oci.head_blob("bad/digest", &wrong)
        .await
        .expect_status(StatusCode::NOT_FOUND);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
}

/// A 100 MiB manifest gets 413 and is not stored.
#[tokio::test]
async fn a_100_mib_manifest_is_refused() {
    let oci = Oci::start().await;
    let mut body = br#"{"schemaVersion":2,"annotations":{"x":""#.to_vec();
    body.resize(100 * 1024 * 1024, b'a');
    body.extend_from_slice(br#""}}"#);
    send(
        oci.put("/v2/huge/manifest/manifests/v1")
            .header("Content-Type", OCI_MANIFEST)
            .body(body),
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID");
    send(oci.get("/v2/huge/manifest/tags/list"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
}
