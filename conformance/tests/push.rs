//! OCI Distribution Spec v1.1 — the Push workflow (end-4a, end-4b, end-5, end-6,
//! end-7, end-11, end-13 and upload cancellation).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// `PATCH <location>` with `bytes` as the chunk starting at `start` (inclusive `Content-Range`).
async fn patch_chunk(oci: &Oci, location: &str, bytes: &[u8], start: usize) -> Reply {
    let end = start + bytes.len() - 1;
    send(
        oci.patch(location)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{start}-{end}"))
            .body(bytes.to_vec()),
    )
    .await
}

/// `PUT <location>?digest=<digest>` with no body, closing an upload session.
async fn close_upload(oci: &Oci, location: &str, digest: &str) -> Reply {
    send(
        oci.put(&with_query(location, &format!("digest={digest}")))
            .body(Vec::<u8>::new()),
    )
    .await
}

/// Asserts a `202 Accepted` chunk response with `Range: 0-<end>` and a `Location`; returns the next location.
#[track_caller]
fn expect_chunk_accepted(oci: &Oci, reply: Reply, end: usize) -> String {
    let reply = reply
        .expect_status(StatusCode::ACCEPTED)
        .expect_header("Range", &format!("0-{end}"));
    oci.resolve(reply.require_header("Location"))
}

/// Asserts the blob at `repo`/`digest` is served with exactly `bytes`.
async fn expect_blob(oci: &Oci, repo: &str, digest: &str, bytes: &[u8]) {
    let reply = oci
        .get_blob(repo, digest)
        .await
        .expect_status(StatusCode::OK)
        .expect_header("Docker-Content-Digest", digest);
    assert!(reply.body == bytes, "{}: blob bytes differ", reply.what);
}

/// end-4a: `POST /v2/<name>/blobs/uploads/` is `202 Accepted` with a `Location` holding a unique session UUID.
#[tokio::test(flavor = "multi_thread")]
async fn post_upload_returns_202_with_unique_location() {
    let oci = Oci::start().await;
    let first = oci.start_upload("library/app").await;
    let second = oci.start_upload("library/app").await;
    assert!(contains_uuid(&first), "Location {first:?} holds no UUID");
    assert!(contains_uuid(&second), "Location {second:?} holds no UUID");
    assert_ne!(first, second, "two sessions share a Location");
}

/// end-4a + end-6: POST then `PUT <location>?digest=` is `201 Created` with `Location` (a pullable blob URL) and `Docker-Content-Digest`.
#[tokio::test(flavor = "multi_thread")]
async fn monolithic_post_then_put_returns_201() {
    let oci = Oci::start().await;
    let bytes = b"monolithic blob".to_vec();
    let digest = sha256_digest(&bytes);
    let session = oci.start_upload("library/app").await;

    let reply = send(
        oci.put(&with_query(&session, &format!("digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .expect_header("Docker-Content-Digest", &digest);
    let location = reply.require_header("Location").to_string();

    let pulled = send(oci.get(&location)).await.expect_status(StatusCode::OK);
    assert_eq!(pulled.body, bytes, "the blob Location serves the blob");
    expect_blob(&oci, "library/app", &digest, &bytes).await;
}

/// end-4b: a single `POST /v2/<name>/blobs/uploads/?digest=` with the body is `201 Created` with a pullable `Location`.
#[tokio::test(flavor = "multi_thread")]
async fn single_post_upload_returns_201() {
    let oci = Oci::start().await;
    let bytes = b"single post blob".to_vec();
    let digest = sha256_digest(&bytes);

    let reply = send(
        oci.post(&format!("/v2/library/app/blobs/uploads/?digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let location = reply.require_header("Location").to_string();

    let pulled = send(oci.get(&location)).await.expect_status(StatusCode::OK);
    assert_eq!(pulled.body, bytes);
    expect_blob(&oci, "library/app", &digest, &bytes).await;
}

/// end-5 + end-6: chunks with inclusive `Content-Range` are each `202 Accepted` with `Location` and `Range: 0-<end>`; the closing PUT is `201`.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_returns_202_per_chunk_and_201_on_close() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256_digest(&bytes);
    let mut location = oci.start_upload("chunked/app").await;

    for (start, end) in [(0usize, 999usize), (1000, 1999), (2000, 2999)] {
        let reply = patch_chunk(&oci, &location, &bytes[start..=end], start).await;
        location = expect_chunk_accepted(&oci, reply, end);
    }
    let reply = close_upload(&oci, &location, &digest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &digest);
    reply.require_header("Location");
    expect_blob(&oci, "chunked/app", &digest, &bytes).await;
}

/// end-5: a chunk whose first byte is not the previous end plus one is `416`, and the session keeps its current range.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_chunk_returns_416_and_keeps_range() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..30u8).collect();
    let digest = sha256_digest(&bytes);
    let location = oci.start_upload("chunked/app").await;

    let reply = patch_chunk(&oci, &location, &bytes[0..10], 0).await;
    let location = expect_chunk_accepted(&oci, reply, 9);

    // A gap (starts at 20 instead of 10) and an overlap (starts at 0 again).
    for start in [20usize, 0, 5] {
        let reply = patch_chunk(&oci, &location, &bytes[start..start + 10], start)
            .await
            .expect_status(StatusCode::RANGE_NOT_SATISFIABLE);
        if let Some(range) = reply.header("Range") {
            assert_eq!(range, "0-9", "the 416 reports the current range");
        }
        let status = send(oci.get(&location))
            .await
            .expect_status(StatusCode::NO_CONTENT)
            .expect_header("Range", "0-9");
        status.require_header("Location");
    }

    // The session is still usable from the right offset.
    let reply = patch_chunk(&oci, &location, &bytes[10..30], 10).await;
    let location = expect_chunk_accepted(&oci, reply, 29);
    close_upload(&oci, &location, &digest)
        .await
        .expect_status(StatusCode::CREATED);
    expect_blob(&oci, "chunked/app", &digest, &bytes).await;

    // "The first chunk's range MUST begin with `0`."
    let fresh = oci.start_upload("chunked/app").await;
    patch_chunk(&oci, &fresh, &bytes[5..15], 5)
        .await
        .expect_status(StatusCode::RANGE_NOT_SATISFIABLE);
}

/// end-5: a `PATCH` without `Content-Range` (a streamed chunk, also with chunked transfer encoding) appends and reports `Range: 0-<end>`.
#[tokio::test(flavor = "multi_thread")]
async fn streamed_patch_without_content_range() {
    let oci = Oci::start().await;
    let part1: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let part2 = b"tail of the streamed blob".to_vec();
    let whole = [part1.clone(), part2.clone()].concat();
    let digest = sha256_digest(&whole);
    let location = oci.start_upload("streamed/app").await;

    // Part 1 streamed from a file: no Content-Length, no Content-Range.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &part1).expect("write temp file");
    let stream = tokio::fs::File::open(file.path())
        .await
        .expect("open temp file");
    let reply = send(
        oci.patch(&location)
            .header("Content-Type", "application/octet-stream")
            .body(reqwest::Body::from(stream)),
    )
    .await;
    let location = expect_chunk_accepted(&oci, reply, part1.len() - 1);

    // Part 2 as a plain body, still without Content-Range.
    let reply = send(
        oci.patch(&location)
            .header("Content-Type", "application/octet-stream")
            .body(part2.clone()),
    )
    .await;
    let location = expect_chunk_accepted(&oci, reply, whole.len() - 1);

    close_upload(&oci, &location, &digest)
        .await
        .expect_status(StatusCode::CREATED);
    expect_blob(&oci, "streamed/app", &digest, &whole).await;
}

/// end-13: `GET <location>` of an active upload is `204 No Content` with `Range: 0-<end>` and a usable `Location`.
#[tokio::test(flavor = "multi_thread")]
async fn upload_status_returns_204_with_range_and_location() {
    let oci = Oci::start().await;
    let bytes = b"0123456789abcdefghij".to_vec();
    let digest = sha256_digest(&bytes);
    let location = oci.start_upload("status/app").await;
    let reply = patch_chunk(&oci, &location, &bytes[..12], 0).await;
    let location = expect_chunk_accepted(&oci, reply, 11);

    let status = send(oci.get(&location))
        .await
        .expect_status(StatusCode::NO_CONTENT)
        .expect_header("Range", "0-11")
        .expect_empty_body();
    let next = oci.resolve(status.require_header("Location"));

    let reply = patch_chunk(&oci, &next, &bytes[12..], 12).await;
    let next = expect_chunk_accepted(&oci, reply, bytes.len() - 1);
    close_upload(&oci, &next, &digest)
        .await
        .expect_status(StatusCode::CREATED);
    expect_blob(&oci, "status/app", &digest, &bytes).await;
}

/// end-6: the final chunk may be sent in the closing `PUT <location>?digest=` body; the result is `201 Created`.
#[tokio::test(flavor = "multi_thread")]
async fn closing_put_may_carry_the_final_chunk() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..2048u32).map(|i| (i % 97) as u8).collect();
    let digest = sha256_digest(&bytes);
    let location = oci.start_upload("final/app").await;
    let reply = patch_chunk(&oci, &location, &bytes[..1024], 0).await;
    let location = expect_chunk_accepted(&oci, reply, 1023);

    let reply = send(
        oci.put(&with_query(&location, &format!("digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("1024-{}", bytes.len() - 1))
            .body(bytes[1024..].to_vec()),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .expect_header("Docker-Content-Digest", &digest);
    reply.require_header("Location");
    expect_blob(&oci, "final/app", &digest, &bytes).await;
}

/// `DELETE <location>` cancels an upload (`204 No Content`); the session is then `404 BLOB_UPLOAD_UNKNOWN`.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_upload_is_unknown_afterwards() {
    let oci = Oci::start().await;
    let location = oci.start_upload("cancel/app").await;
    let reply = patch_chunk(&oci, &location, b"some bytes", 0).await;
    let location = expect_chunk_accepted(&oci, reply, 9);

    send(oci.delete(&location))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    send(oci.get(&location))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    patch_chunk(&oci, &location, b"more", 10)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    close_upload(&oci, &location, &sha256_digest(b"some bytes"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
}

/// end-13: the status of an upload session that never existed is `404 Not Found` with `BLOB_UPLOAD_UNKNOWN`.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_upload_session_returns_404() {
    let oci = Oci::start().await;
    oci.push_blob("sessions/app", b"makes the repository exist")
        .await;
    send(oci.get("/v2/sessions/app/blobs/uploads/3f2b8c1e-0d4a-4c6e-9a51-7b2f0e6d9c11"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
}

/// end-6 / end-4b: a `digest` that does not match the body is `400 DIGEST_INVALID`, and nothing is served under it.
#[tokio::test(flavor = "multi_thread")]
async fn mismatched_blob_digest_returns_400_digest_invalid() {
    let oci = Oci::start().await;
    let bytes = b"actual content".to_vec();
    let claimed = sha256_digest(b"claimed content");

    let session = oci.start_upload("mismatch/app").await;
    send(
        oci.put(&with_query(&session, &format!("digest={claimed}")))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");

    send(
        oci.post(&format!("/v2/mismatch/app/blobs/uploads/?digest={claimed}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");

    // Chunked, with a wrong digest on the closing PUT.
    let location = oci.start_upload("mismatch/app").await;
    let reply = patch_chunk(&oci, &location, &bytes, 0).await;
    let location = expect_chunk_accepted(&oci, reply, bytes.len() - 1);
    close_upload(&oci, &location, &claimed)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");

    oci.head_blob("mismatch/app", &claimed)
        .await
        .expect_status(StatusCode::NOT_FOUND);
    oci.get_blob("mismatch/app", &claimed)
        .await
        .expect_error_in(&[StatusCode::NOT_FOUND], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
}

/// end-11: `POST ?mount=<digest>&from=<other>` of a blob in another repository is `201 Created` with `Location`; the blob is then served in the new repository.
#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mount_returns_201() {
    let oci = Oci::start().await;
    let bytes = b"shared layer".to_vec();
    let digest = oci.push_blob("source/app", &bytes).await;

    let reply = send(oci.post(&format!(
        "/v2/target/app/blobs/uploads/?mount={digest}&from=source/app"
    )))
    .await
    .expect_status(StatusCode::CREATED);
    let location = reply.require_header("Location").to_string();
    if let Some(canonical) = reply.header("Docker-Content-Digest") {
        assert!(
            digest_matches(canonical, &bytes),
            "Docker-Content-Digest {canonical}"
        );
    }

    let pulled = send(oci.get(&location)).await.expect_status(StatusCode::OK);
    assert_eq!(pulled.body, bytes);
    expect_blob(&oci, "target/app", &digest, &bytes).await;
    expect_blob(&oci, "source/app", &digest, &bytes).await;
}

/// end-11: a mount the registry cannot perform (`from` lacks the blob) is `202 Accepted`, a new upload session that works.
#[tokio::test(flavor = "multi_thread")]
async fn mount_from_repository_without_the_blob_starts_an_upload() {
    let oci = Oci::start().await;
    let bytes = b"only in one place".to_vec();
    let digest = sha256_digest(&bytes);
    oci.push_blob("empty/source", b"something unrelated").await;

    let reply = send(oci.post(&format!(
        "/v2/target/app/blobs/uploads/?mount={digest}&from=empty/source"
    )))
    .await
    .expect_status(StatusCode::ACCEPTED);
    let session = oci.resolve(reply.require_header("Location"));

    send(
        oci.put(&with_query(&session, &format!("digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED);
    expect_blob(&oci, "target/app", &digest, &bytes).await;
    oci.head_blob("empty/source", &digest)
        .await
        .expect_status(StatusCode::NOT_FOUND);
}

/// end-11: "The registry MAY treat the `from` parameter as optional": mounting a blob it already has without `from` is `201 Created`.
#[tokio::test(flavor = "multi_thread")]
async fn mount_without_from_of_known_blob_returns_201() {
    let oci = Oci::start().await;
    let bytes = b"discoverable layer".to_vec();
    let digest = oci.push_blob("somewhere/else", &bytes).await;

    let reply = send(oci.post(&format!("/v2/target/app/blobs/uploads/?mount={digest}")))
        .await
        .expect_status(StatusCode::CREATED);
    reply.require_header("Location");
    expect_blob(&oci, "target/app", &digest, &bytes).await;
}

/// Blobs are scoped to repositories: a blob pushed to repository A is `404 BLOB_UNKNOWN` in repository B without a mount.
#[tokio::test(flavor = "multi_thread")]
async fn blob_is_not_served_from_another_repository() {
    let oci = Oci::start().await;
    let digest = oci.push_blob("repo/a", b"private to a").await;
    oci.push_blob("repo/b", b"b has its own content").await;

    oci.get_blob("repo/b", &digest)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    oci.head_blob("repo/b", &digest)
        .await
        .expect_status(StatusCode::NOT_FOUND);
}

/// Resumable push: an upload started before a registry restart continues afterwards (status, next chunk, close) and yields the exact blob.
#[tokio::test(flavor = "multi_thread")]
async fn upload_continues_after_restart() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let digest = sha256_digest(&bytes);
    let location = oci.start_upload("resume/app").await;
    let reply = patch_chunk(&oci, &location, &bytes[..4000], 0).await;
    let location = location_path(&expect_chunk_accepted(&oci, reply, 3999));

    let oci = oci.restart().await;

    let status = send(oci.get(&location))
        .await
        .expect_status(StatusCode::NO_CONTENT)
        .expect_header("Range", "0-3999");
    let location = oci.resolve(&location_path(status.require_header("Location")));
    let reply = patch_chunk(&oci, &location, &bytes[4000..], 4000).await;
    let location = expect_chunk_accepted(&oci, reply, bytes.len() - 1);
    close_upload(&oci, &location, &digest)
        .await
        .expect_status(StatusCode::CREATED);
    expect_blob(&oci, "resume/app", &digest, &bytes).await;
}

/// Blob digests may use sha512: push and pull by a `sha512:` digest work.
#[tokio::test(flavor = "multi_thread")]
async fn sha512_blob_digest_round_trips() {
    let oci = Oci::start().await;
    let bytes = b"hashed with sha512".to_vec();
    let digest = sha512_digest(&bytes);

    let session = oci.start_upload("sha512/app").await;
    let reply = send(
        oci.put(&with_query(&session, &format!("digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED);
    reply.require_header("Location");

    let reply = oci
        .get_blob("sha512/app", &digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.body, bytes);
    let served = reply.require_header("Docker-Content-Digest");
    assert!(
        digest_matches(served, &bytes),
        "Docker-Content-Digest {served} must match the body"
    );
    let head = oci
        .head_blob("sha512/app", &digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(head.content_length(), bytes.len() as u64);

    // Chunked upload closed with a sha512 digest.
    let other = b"another sha512 blob, in chunks".to_vec();
    let other_digest = sha512_digest(&other);
    let location = oci.start_upload("sha512/app").await;
    let reply = patch_chunk(&oci, &location, &other[..10], 0).await;
    let location = expect_chunk_accepted(&oci, reply, 9);
    let reply = patch_chunk(&oci, &location, &other[10..], 10).await;
    let location = expect_chunk_accepted(&oci, reply, other.len() - 1);
    close_upload(&oci, &location, &other_digest)
        .await
        .expect_status(StatusCode::CREATED);
    let reply = oci
        .get_blob("sha512/app", &other_digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.body, other);
}

/// end-7: `PUT` of a manifest by tag is `201 Created` with a pullable `Location` and `Docker-Content-Digest` equal to its digest.
#[tokio::test(flavor = "multi_thread")]
async fn put_manifest_by_tag_returns_201() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let layer = oci.push_blob_desc("library/app", OCI_LAYER, b"layer").await;
    let manifest = to_bytes(&image_manifest(&config, &[layer]));
    let digest = sha256_digest(&manifest);

    let reply = oci
        .put_manifest("library/app", "v1", OCI_MANIFEST, &manifest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &digest);
    let location = reply.require_header("Location").to_string();
    send(oci.get(&location).header("Accept", ACCEPT_MANIFESTS))
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
    oci.get_manifest("library/app", "v1")
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
}

/// end-7: `PUT` of a manifest by digest is `201 Created` with a pullable `Location` and `Docker-Content-Digest` equal to that digest.
#[tokio::test(flavor = "multi_thread")]
async fn put_manifest_by_digest_returns_201() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = to_bytes(&image_manifest(&config, &[]));
    let digest = sha256_digest(&manifest);

    let reply = oci
        .put_manifest("library/app", &digest, OCI_MANIFEST, &manifest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &digest);
    let location = reply.require_header("Location").to_string();
    send(oci.get(&location).header("Accept", ACCEPT_MANIFESTS))
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
    oci.get_manifest("library/app", &digest)
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
}

/// end-7: a manifest may be pushed under a `sha512:` digest; "Docker-Content-Digest ... MUST be equal to the client provided digest" and it pulls back by that digest.
#[tokio::test(flavor = "multi_thread")]
async fn put_manifest_by_sha512_digest() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = to_bytes(&image_manifest(&config, &[]));
    let digest = sha512_digest(&manifest);

    let reply = oci
        .put_manifest("library/app", &digest, OCI_MANIFEST, &manifest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &digest);
    reply.require_header("Location");
    let reply = oci
        .get_manifest("library/app", &digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.content_type(), OCI_MANIFEST);
    assert!(reply.body == manifest, "manifest bytes differ");
    let served = reply.require_header("Docker-Content-Digest");
    assert!(
        digest_matches(served, &manifest),
        "Docker-Content-Digest {served} must match the manifest"
    );
}

/// Pushing a tag again moves it to the new manifest; the old one stays pullable by digest.
#[tokio::test(flavor = "multi_thread")]
async fn pushing_a_tag_again_moves_it() {
    let oci = Oci::start().await;
    let first = oci.push_image("library/app", Some("stable"), "first").await;
    let second = oci
        .push_image("library/app", Some("stable"), "second")
        .await;

    oci.get_manifest("library/app", "stable")
        .await
        .expect_manifest(&second.manifest, OCI_MANIFEST);
    oci.get_manifest("library/app", &first.digest)
        .await
        .expect_manifest(&first.manifest, OCI_MANIFEST);
}

/// end-7: `PUT /manifests/<digest>` whose body hashes to another digest is `400 DIGEST_INVALID` and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn put_manifest_with_mismatched_digest_returns_400() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = to_bytes(&image_manifest(&config, &[]));
    let wrong = sha256_digest(b"not the manifest");

    oci.put_manifest("library/app", &wrong, OCI_MANIFEST, &manifest)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    oci.get_manifest("library/app", &wrong)
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    oci.get_manifest("library/app", &sha256_digest(&manifest))
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
}

/// end-7: a manifest whose config or layer blob does not exist is refused with `MANIFEST_BLOB_UNKNOWN` and not stored.
#[tokio::test(flavor = "multi_thread")]
async fn manifest_referencing_missing_blob_returns_manifest_blob_unknown() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let layer = oci
        .push_blob_desc("library/app", OCI_LAYER, b"present")
        .await;
    let missing_layer = Descriptor::of(OCI_LAYER, b"never pushed layer");
    let missing_config = Descriptor::of(OCI_CONFIG, b"{\"never\":\"pushed\"}");

    for (tag, manifest) in [
        (
            "missing-layer",
            image_manifest(&config, &[layer.clone(), missing_layer]),
        ),
        ("missing-config", image_manifest(&missing_config, &[layer])),
    ] {
        let manifest = to_bytes(&manifest);
        oci.put_manifest("library/app", tag, OCI_MANIFEST, &manifest)
            .await
            .expect_error_in(
                &[StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND],
                &["MANIFEST_BLOB_UNKNOWN"],
            );
        oci.get_manifest("library/app", tag)
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
        oci.get_manifest("library/app", &sha256_digest(&manifest))
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    }
}

/// end-7: a body that is not a manifest at all is `400 Bad Request` with `MANIFEST_INVALID`.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_manifest_returns_400_manifest_invalid() {
    let oci = Oci::start().await;
    oci.push_blob("library/app", b"repository exists").await;
    for body in [
        &b"this is { not json"[..],
        &b"{\"schemaVersion\": 2,"[..],
        &b""[..],
    ] {
        oci.put_manifest("library/app", "garbage", OCI_MANIFEST, body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    }
    oci.get_manifest("library/app", "garbage")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
}

/// A valid image manifest padded to exactly `size` bytes with an annotation.
fn padded_manifest(config: &Descriptor, size: usize) -> Vec<u8> {
    let mut manifest = image_manifest(config, &[]);
    manifest["annotations"] = json!({ "org.example.padding": "" });
    let base = to_bytes(&manifest).len();
    assert!(size > base);
    manifest["annotations"]["org.example.padding"] = json!("x".repeat(size - base));
    let bytes = to_bytes(&manifest);
    assert_eq!(bytes.len(), size);
    bytes
}

/// end-7: a manifest over the registry's size limit (here 4 MiB + 1 KiB) is `413 Payload Too Large`.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_manifest_returns_413() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = padded_manifest(&config, 4 * 1024 * 1024 + 1024);

    // `Expect: 100-continue`, so that a registry refusing the request from its
    // Content-Length alone is observed without racing the body upload.
    let reply = raw_exchange(
        &oci.reg.base_url(),
        "PUT",
        "/v2/library/app/manifests/huge",
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    oci.get_manifest("library/app", "huge")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
}

/// "registry implementations SHOULD expect to be able to support manifest pushes of at least 4 megabytes": a 4,000,000-byte manifest round-trips.
#[tokio::test(flavor = "multi_thread")]
async fn four_megabyte_manifest_is_accepted() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = padded_manifest(&config, 4_000_000);

    oci.push_manifest("library/app", "big", OCI_MANIFEST, &manifest)
        .await;
    oci.get_manifest("library/app", "big")
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
}

/// end-7: an OCI image index whose child manifests exist is `201 Created` and pulls back byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn image_index_with_existing_children_returns_201() {
    let oci = Oci::start().await;
    let amd64 = oci.push_image("multi/app", None, "amd64").await;
    let arm64 = oci.push_image("multi/app", None, "arm64").await;
    let mut index = image_index(&[amd64.descriptor.clone(), arm64.descriptor.clone()]);
    index["manifests"][0]["platform"] = json!({"architecture": "amd64", "os": "linux"});
    index["manifests"][1]["platform"] = json!({"architecture": "arm64", "os": "linux"});
    let index = to_bytes(&index);
    let digest = sha256_digest(&index);

    oci.put_manifest("multi/app", "v1", OCI_INDEX, &index)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &digest)
        .require_header("Location");
    oci.get_manifest("multi/app", "v1")
        .await
        .expect_manifest(&index, OCI_INDEX);
    oci.get_manifest("multi/app", &digest)
        .await
        .expect_manifest(&index, OCI_INDEX);
}

/// end-7: an OCI image index with a child manifest that does not exist is refused with `MANIFEST_BLOB_UNKNOWN`.
#[tokio::test(flavor = "multi_thread")]
async fn image_index_with_missing_child_returns_manifest_blob_unknown() {
    let oci = Oci::start().await;
    let present = oci.push_image("multi/app", None, "present").await;
    let missing = Descriptor::of(OCI_MANIFEST, b"{\"schemaVersion\":2,\"missing\":true}");
    let index = to_bytes(&image_index(&[present.descriptor, missing]));

    oci.put_manifest("multi/app", "broken", OCI_INDEX, &index)
        .await
        .expect_error_in(
            &[StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND],
            &["MANIFEST_BLOB_UNKNOWN"],
        );
    oci.get_manifest("multi/app", "broken")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
}

/// Docker schema 2 manifests and manifest lists are stored as pushed and served with their own media type.
#[tokio::test(flavor = "multi_thread")]
async fn docker_manifest_and_manifest_list_round_trip() {
    let oci = Oci::start().await;
    let config = oci
        .push_blob_desc(
            "docker/app",
            DOCKER_CONFIG,
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .await;
    let layer = oci
        .push_blob_desc("docker/app", DOCKER_LAYER, b"docker layer bytes")
        .await;
    let manifest = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json()],
    }));
    let manifest_digest = sha256_digest(&manifest);
    oci.put_manifest("docker/app", "v2", DOCKER_MANIFEST, &manifest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &manifest_digest);
    oci.get_manifest("docker/app", "v2")
        .await
        .expect_manifest(&manifest, DOCKER_MANIFEST);
    let head = oci
        .head_manifest("docker/app", &manifest_digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(head.content_type(), DOCKER_MANIFEST);

    let list = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [{
            "mediaType": DOCKER_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    }));
    let list_digest = sha256_digest(&list);
    oci.put_manifest("docker/app", "list", DOCKER_MANIFEST_LIST, &list)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("Docker-Content-Digest", &list_digest);
    oci.get_manifest("docker/app", "list")
        .await
        .expect_manifest(&list, DOCKER_MANIFEST_LIST);
    oci.get_manifest("docker/app", &list_digest)
        .await
        .expect_manifest(&list, DOCKER_MANIFEST_LIST);
}

/// "A registry MUST initially accept an otherwise valid manifest with a `subject` field that references a manifest that does not exist", answering `OCI-Subject: <subject digest>`.
#[tokio::test(flavor = "multi_thread")]
async fn manifest_with_absent_subject_returns_201_with_oci_subject() {
    let oci = Oci::start().await;
    let empty = oci.push_blob_desc("library/app", OCI_EMPTY, b"{}").await;
    let sbom = oci
        .push_blob_desc(
            "library/app",
            "application/spdx+json",
            b"{\"spdxVersion\":\"SPDX-2.3\"}",
        )
        .await;
    let subject = Descriptor::of(
        OCI_MANIFEST,
        b"{\"schemaVersion\":2,\"not\":\"pushed yet\"}",
    );
    let mut manifest = image_manifest(&empty, &[sbom]);
    manifest["artifactType"] = json!("application/vnd.example.sbom.v1");
    manifest["subject"] = subject.to_json();
    let manifest = to_bytes(&manifest);
    let digest = sha256_digest(&manifest);

    oci.put_manifest("library/app", &digest, OCI_MANIFEST, &manifest)
        .await
        .expect_status(StatusCode::CREATED)
        .expect_header("OCI-Subject", &subject.digest)
        .expect_header("Docker-Content-Digest", &digest)
        .require_header("Location");
    oci.get_manifest("library/app", &digest)
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
}

/// end-7: "The registry SHOULD ignore parameters on the `Content-Type` header" and "SHOULD NOT include parameters" when serving it.
#[tokio::test(flavor = "multi_thread")]
async fn manifest_content_type_parameters_are_ignored() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = to_bytes(&image_manifest(&config, &[]));
    let pushed_type = format!("{OCI_MANIFEST}; charset=utf-8");

    oci.put_manifest("library/app", "params", &pushed_type, &manifest)
        .await
        .expect_status(StatusCode::CREATED);
    let reply = oci
        .get_manifest("library/app", "params")
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);
    assert_eq!(reply.require_header("Content-Type"), OCI_MANIFEST);
}

/// end-7: a tag "MUST be at most 128 characters" and match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`: a 128-character tag works, malformed ones are `400`.
#[tokio::test(flavor = "multi_thread")]
async fn tag_syntax_is_enforced() {
    let oci = Oci::start().await;
    let config = oci.push_blob_desc("library/app", OCI_CONFIG, b"{}").await;
    let manifest = to_bytes(&image_manifest(&config, &[]));

    let longest = format!("_{}", &"A.b-9".repeat(26)[..127]);
    assert_eq!(longest.len(), 128);
    oci.push_manifest("library/app", &longest, OCI_MANIFEST, &manifest)
        .await;
    oci.get_manifest("library/app", &longest)
        .await
        .expect_manifest(&manifest, OCI_MANIFEST);

    for tag in [
        format!("a{}", "b".repeat(128)),
        ".dot-first".to_string(),
        "-dash-first".to_string(),
        "has+plus".to_string(),
    ] {
        let reply = oci
            .put_manifest("library/app", &tag, OCI_MANIFEST, &manifest)
            .await
            .expect_status(StatusCode::BAD_REQUEST);
        reply.error_codes();
        oci.get_manifest("library/app", &tag)
            .await
            .expect_status(StatusCode::NOT_FOUND);
    }
}

/// `<name>` components may be joined by `.`, `_`, `__` or any run of `-`, and nest with `/`: such names are accepted for push and pull.
#[tokio::test(flavor = "multi_thread")]
async fn uncommon_but_valid_repository_names_are_accepted() {
    let oci = Oci::start().await;
    let long = format!("{}/{}", "a".repeat(100), "b1".repeat(50));
    for name in [
        "a",
        "0",
        "a__b/c---d/e.f_g",
        "x-y/z9/deep/er/still",
        long.as_str(),
    ] {
        let image = oci.push_image(name, Some("v1"), name).await;
        oci.get_manifest(name, "v1")
            .await
            .expect_manifest(&image.manifest, OCI_MANIFEST);
        let reply = oci
            .get_blob(name, &image.layer.digest)
            .await
            .expect_status(StatusCode::OK);
        assert_eq!(reply.body, image.layer_bytes);
    }
}
