//! OCI Distribution Spec v1.1 — the Pull workflow (end-1, end-2, end-3).

mod common;

use common::*;
use reqwest::StatusCode;

/// end-1: `GET /v2/` answers `200 OK` with `Docker-Distribution-API-Version: registry/2.0`.
#[tokio::test(flavor = "multi_thread")]
async fn api_version_check_returns_200_with_version_header() {
    let oci = Oci::start().await;
    send(oci.get("/v2/"))
        .await
        .expect_status(StatusCode::OK)
        .expect_header("Docker-Distribution-API-Version", "registry/2.0");
}

/// end-2: `GET` of an existing blob is `200 OK` with the exact bytes, `Content-Length` and `Docker-Content-Digest`.
#[tokio::test(flavor = "multi_thread")]
async fn get_blob_returns_exact_bytes_with_length_and_digest() {
    let oci = Oci::start().await;
    let bytes = b"the quick brown fox jumps over the lazy dog".to_vec();
    let digest = oci.push_blob("library/fox", &bytes).await;

    let reply = oci
        .get_blob("library/fox", &digest)
        .await
        .expect_status(StatusCode::OK)
        .expect_header("Docker-Content-Digest", &digest);
    assert_eq!(reply.content_length(), bytes.len() as u64);
    assert_eq!(reply.body, bytes);
}

/// end-2: `HEAD` of an existing blob is `200 OK` with `Content-Length` and `Docker-Content-Digest` and no body.
#[tokio::test(flavor = "multi_thread")]
async fn head_blob_returns_headers_without_body() {
    let oci = Oci::start().await;
    let bytes = vec![7u8; 1234];
    let digest = oci.push_blob("library/head", &bytes).await;

    let reply = oci
        .head_blob("library/head", &digest)
        .await
        .expect_status(StatusCode::OK)
        .expect_header("Docker-Content-Digest", &digest)
        .expect_empty_body();
    assert_eq!(reply.content_length(), 1234);
}

/// end-2: a `Range: bytes=a-b` blob request (RFC 9110) is `206 Partial Content` with `Content-Range` and exactly bytes a..=b.
#[tokio::test(flavor = "multi_thread")]
async fn get_blob_with_range_returns_partial_content() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let digest = oci.push_blob("ranges", &bytes).await;

    for (start, end) in [(0usize, 0usize), (10, 19), (500, 999)] {
        let reply = send(
            oci.get(&format!("/v2/ranges/blobs/{digest}"))
                .header("Range", format!("bytes={start}-{end}")),
        )
        .await
        .expect_status(StatusCode::PARTIAL_CONTENT)
        .expect_header("Content-Range", &format!("bytes {start}-{end}/1000"));
        assert_eq!(reply.content_length(), (end - start + 1) as u64);
        assert_eq!(reply.body, bytes[start..=end], "bytes {start}-{end}");
    }
}

/// end-2: the other RFC 9110 byte-range forms work too: open-ended `bytes=a-` and suffix `bytes=-n` are `206` with the right bytes.
#[tokio::test(flavor = "multi_thread")]
async fn get_blob_with_open_ended_and_suffix_ranges() {
    let oci = Oci::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let digest = oci.push_blob("ranges", &bytes).await;

    for (range, start) in [("bytes=990-", 990usize), ("bytes=-10", 990)] {
        let reply = send(
            oci.get(&format!("/v2/ranges/blobs/{digest}"))
                .header("Range", range),
        )
        .await
        .expect_status(StatusCode::PARTIAL_CONTENT)
        .expect_header("Content-Range", "bytes 990-999/1000");
        assert_eq!(reply.body, bytes[start..], "{range}");
    }
}

/// end-2: a `Range` that starts beyond the blob is `416 Range Not Satisfiable` (RFC 9110 §15.5.17).
#[tokio::test(flavor = "multi_thread")]
async fn get_blob_with_unsatisfiable_range_returns_416() {
    let oci = Oci::start().await;
    let bytes = vec![1u8; 100];
    let digest = oci.push_blob("ranges", &bytes).await;

    let reply = send(
        oci.get(&format!("/v2/ranges/blobs/{digest}"))
            .header("Range", "bytes=200-299"),
    )
    .await
    .expect_status(StatusCode::RANGE_NOT_SATISFIABLE);
    if let Some(content_range) = reply.header("Content-Range") {
        assert_eq!(
            content_range, "bytes */100",
            "RFC 9110 unsatisfied-range form"
        );
    }
}

/// end-2: an unknown blob is `404 Not Found` with `BLOB_UNKNOWN`, for both `GET` and `HEAD`.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_blob_returns_404_blob_unknown() {
    let oci = Oci::start().await;
    oci.push_blob("library/known", b"something else").await;
    let missing = sha256_digest(b"never pushed");

    oci.get_blob("library/known", &missing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    oci.head_blob("library/known", &missing)
        .await
        .expect_status(StatusCode::NOT_FOUND)
        .expect_empty_body();
    // In a repository that does not exist at all the blob is still 404.
    oci.get_blob("library/nowhere", &missing)
        .await
        .expect_error_in(&[StatusCode::NOT_FOUND], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
}

/// end-3: `GET` of a manifest by tag and by digest is `200 OK` with the pushed bytes, `Content-Type` and `Docker-Content-Digest`.
#[tokio::test(flavor = "multi_thread")]
async fn get_manifest_by_tag_and_by_digest_returns_pushed_bytes() {
    let oci = Oci::start().await;
    let image = oci.push_image("library/app", Some("v1.0"), "get").await;

    oci.get_manifest("library/app", "v1.0")
        .await
        .expect_manifest(&image.manifest, OCI_MANIFEST);
    oci.get_manifest("library/app", &image.digest)
        .await
        .expect_manifest(&image.manifest, OCI_MANIFEST);
}

/// end-3: `HEAD` of a manifest by tag and by digest is `200 OK` with `Content-Type`, `Docker-Content-Digest`, `Content-Length` and no body.
#[tokio::test(flavor = "multi_thread")]
async fn head_manifest_by_tag_and_by_digest_returns_headers_only() {
    let oci = Oci::start().await;
    let image = oci.push_image("library/app", Some("latest"), "head").await;

    for reference in ["latest", image.digest.as_str()] {
        let reply = oci
            .head_manifest("library/app", reference)
            .await
            .expect_status(StatusCode::OK)
            .expect_header("Docker-Content-Digest", &image.digest)
            .expect_empty_body();
        assert_eq!(reply.content_type(), OCI_MANIFEST);
        assert_eq!(reply.content_length(), image.manifest.len() as u64);
    }
}

/// end-3: an unknown manifest (tag or digest) is `404 Not Found` with `MANIFEST_UNKNOWN`; `HEAD` is `404` too.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_manifest_returns_404_manifest_unknown() {
    let oci = Oci::start().await;
    oci.push_image("library/app", Some("present"), "unknown")
        .await;
    let missing = sha256_digest(b"no such manifest");

    for reference in ["absent", missing.as_str()] {
        oci.get_manifest("library/app", reference)
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
        oci.head_manifest("library/app", reference)
            .await
            .expect_status(StatusCode::NOT_FOUND)
            .expect_empty_body();
    }
    // "An attempt to pull a nonexistent repository MUST return response code `404 Not Found`".
    oci.get_manifest("library/nowhere", "latest")
        .await
        .expect_error_in(
            &[StatusCode::NOT_FOUND],
            &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"],
        );
}

/// `<name>` must match `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/...)*`: upper case and `..` components are refused (400 NAME_INVALID, or 404).
#[tokio::test(flavor = "multi_thread")]
async fn invalid_repository_names_are_rejected() {
    let oci = Oci::start().await;
    let digest = sha256_digest(b"x");
    for name in [
        "Library/Ubuntu",
        "library/UBUNTU",
        "foo..bar",
        "-leading",
        "trailing-",
        "a//b",
    ] {
        for path in [
            format!("/v2/{name}/manifests/latest"),
            format!("/v2/{name}/blobs/{digest}"),
            format!("/v2/{name}/tags/list"),
        ] {
            let reply = send(oci.get(&path).header("Accept", ACCEPT_MANIFESTS)).await;
            expect_name_rejected(reply.status, &reply.body, &reply.what);
        }
        let reply = send(oci.post(&format!("/v2/{name}/blobs/uploads/"))).await;
        expect_name_rejected(reply.status, &reply.body, &reply.what);
    }

    // A literal `..` path component, sent without client-side normalisation.
    for path in [
        "/v2/library/../ubuntu/manifests/latest".to_string(),
        format!("/v2/library/../ubuntu/blobs/{digest}"),
        "/v2/../manifests/latest".to_string(),
    ] {
        let reply = raw_request(&oci.reg.base_url(), "GET", &path).await;
        expect_name_rejected(reply.status, &reply.body, &format!("GET {path}"));
    }
    let reply = raw_request(
        &oci.reg.base_url(),
        "POST",
        "/v2/library/../x/blobs/uploads/",
    )
    .await;
    expect_name_rejected(
        reply.status,
        &reply.body,
        "POST /v2/library/../x/blobs/uploads/",
    );
}

/// A 300-character `<name>` exceeds the 255-character client limit the spec warns about and is refused (400 NAME_INVALID, or 404).
#[tokio::test(flavor = "multi_thread")]
async fn overlong_repository_name_is_rejected() {
    let oci = Oci::start().await;
    let name = format!("{}/{}", "a".repeat(150), "b".repeat(149));
    assert_eq!(name.len(), 300);

    let reply = oci.get_manifest(&name, "latest").await;
    expect_name_rejected(reply.status, &reply.body, &reply.what);
    let reply = send(oci.post(&format!("/v2/{name}/blobs/uploads/"))).await;
    expect_name_rejected(reply.status, &reply.body, &reply.what);
}

/// A blob `<digest>` with invalid syntax is `400 Bad Request` with `DIGEST_INVALID`.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_blob_digest_returns_400_digest_invalid() {
    let oci = Oci::start().await;
    oci.push_blob("library/app", b"content").await;

    for digest in [
        "sha256:not-hex-at-all",
        "sha256:abc",
        "sha256:",
        "nocolon",
        "sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        oci.get_blob("library/app", digest)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
        oci.head_blob("library/app", digest)
            .await
            .expect_status(StatusCode::BAD_REQUEST)
            .expect_empty_body();
    }
}

/// end-3: manifests are scoped to `<name>`: one pushed to repository A is `404 MANIFEST_UNKNOWN` in repository B.
#[tokio::test(flavor = "multi_thread")]
async fn manifest_is_not_served_from_another_repository() {
    let oci = Oci::start().await;
    let image = oci.push_image("repo/a", Some("v1"), "scoped").await;
    oci.push_image("repo/b", Some("other"), "other").await;

    for reference in ["v1", image.digest.as_str()] {
        oci.get_manifest("repo/b", reference)
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    }
}
