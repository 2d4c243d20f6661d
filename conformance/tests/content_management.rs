//! OCI Distribution Spec v1.1 — the Content Management workflow: deleting
//! manifests, tags and blobs (end-9, end-10).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// end-9: `DELETE /manifests/<digest>` is `202 Accepted`; afterwards the digest and every tag pointing at it are `404`.
#[tokio::test(flavor = "multi_thread")]
async fn delete_manifest_by_digest_returns_202_then_404() {
    let oci = Oci::start().await;
    let image = oci.push_image("library/app", Some("v1"), "doomed").await;
    oci.push_manifest("library/app", "also", OCI_MANIFEST, &image.manifest)
        .await;

    send(oci.delete(&format!("/v2/library/app/manifests/{}", image.digest)))
        .await
        .expect_status(StatusCode::ACCEPTED);

    for reference in [image.digest.as_str(), "v1", "also"] {
        oci.get_manifest("library/app", reference)
            .await
            .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
        oci.head_manifest("library/app", reference)
            .await
            .expect_status(StatusCode::NOT_FOUND);
    }
    // The tags that pointed at it are no longer listed (the now-empty repository
    // may also be reported as unknown).
    let reply = send(oci.get("/v2/library/app/tags/list")).await;
    if reply.status == StatusCode::OK {
        let tags = reply.json()["tags"].clone();
        assert!(
            tags.is_null() || tags == json!([]),
            "tags of a deleted manifest are still listed: {tags}"
        );
    } else {
        reply.expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    }
}

/// end-9: `DELETE /manifests/<tag>` is `202 Accepted`; the tag is gone while the manifest stays pullable by digest and by its other tags.
#[tokio::test(flavor = "multi_thread")]
async fn delete_tag_removes_only_the_tag() {
    let oci = Oci::start().await;
    let image = oci.push_image("library/app", Some("v1"), "kept").await;
    oci.push_manifest("library/app", "stable", OCI_MANIFEST, &image.manifest)
        .await;

    send(oci.delete("/v2/library/app/manifests/v1"))
        .await
        .expect_status(StatusCode::ACCEPTED);

    oci.get_manifest("library/app", "v1")
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    oci.get_manifest("library/app", &image.digest)
        .await
        .expect_manifest(&image.manifest, OCI_MANIFEST);
    oci.get_manifest("library/app", "stable")
        .await
        .expect_manifest(&image.manifest, OCI_MANIFEST);
    let tags = send(oci.get("/v2/library/app/tags/list"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(tags["tags"], json!(["stable"]));
}

/// end-10: `DELETE /blobs/<digest>` is `202 Accepted`; the blob is then `404 BLOB_UNKNOWN` for `GET` and `HEAD`.
#[tokio::test(flavor = "multi_thread")]
async fn delete_blob_returns_202_then_404() {
    let oci = Oci::start().await;
    let digest = oci.push_blob("library/app", b"short-lived blob").await;
    oci.push_blob("library/app", b"a neighbour that stays")
        .await;

    send(oci.delete(&format!("/v2/library/app/blobs/{digest}")))
        .await
        .expect_status(StatusCode::ACCEPTED);

    oci.get_blob("library/app", &digest)
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    oci.head_blob("library/app", &digest)
        .await
        .expect_status(StatusCode::NOT_FOUND);
    oci.get_blob("library/app", &sha256_digest(b"a neighbour that stays"))
        .await
        .expect_status(StatusCode::OK);
}

/// end-9: deleting a manifest (by digest or tag) that does not exist is `404 Not Found` with `MANIFEST_UNKNOWN`.
#[tokio::test(flavor = "multi_thread")]
async fn delete_unknown_manifest_returns_404() {
    let oci = Oci::start().await;
    oci.push_image("library/app", Some("v1"), "present").await;

    let missing = sha256_digest(b"no such manifest");
    send(oci.delete(&format!("/v2/library/app/manifests/{missing}")))
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    send(oci.delete("/v2/library/app/manifests/no-such-tag"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    // "If the repository does not exist, the response MUST return `404 Not Found`."
    send(oci.delete(&format!("/v2/library/nothing/manifests/{missing}")))
        .await
        .expect_error_in(
            &[StatusCode::NOT_FOUND],
            &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"],
        );
}

/// end-10: "If the blob is not found, a `404 Not Found` code MUST be returned" (`BLOB_UNKNOWN`).
#[tokio::test(flavor = "multi_thread")]
async fn delete_unknown_blob_returns_404() {
    let oci = Oci::start().await;
    oci.push_blob("library/app", b"present").await;

    let missing = sha256_digest(b"never pushed");
    send(oci.delete(&format!("/v2/library/app/blobs/{missing}")))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    send(oci.delete(&format!("/v2/library/nothing/blobs/{missing}")))
        .await
        .expect_error_in(&[StatusCode::NOT_FOUND], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
}

/// A deleted blob can be pushed again and is served once more.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_blob_can_be_pushed_again() {
    let oci = Oci::start().await;
    let bytes = b"phoenix".to_vec();
    let digest = oci.push_blob("library/app", &bytes).await;
    send(oci.delete(&format!("/v2/library/app/blobs/{digest}")))
        .await
        .expect_status(StatusCode::ACCEPTED);
    oci.push_blob("library/app", &bytes).await;

    let reply = oci
        .get_blob("library/app", &digest)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.body, bytes);
}

/// end-9 + end-12a: once a referrer manifest is deleted its descriptor disappears from the subject's referrers list.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_referrer_leaves_the_referrers_list() {
    let oci = Oci::start().await;
    let repo = "library/app";
    let subject = oci.push_image(repo, Some("v1"), "subject").await;
    let empty = oci.push_blob_desc(repo, OCI_EMPTY, b"{}").await;

    let mut digests = Vec::new();
    for kind in ["sbom", "signature"] {
        let mut manifest = image_manifest(&empty, &[]);
        manifest["artifactType"] = json!(format!("application/vnd.example.{kind}.v1"));
        manifest["subject"] = subject.descriptor.to_json();
        manifest["annotations"] = json!({ "org.example.kind": kind });
        let bytes = to_bytes(&manifest);
        let digest = sha256_digest(&bytes);
        oci.push_manifest(repo, &digest, OCI_MANIFEST, &bytes).await;
        digests.push(digest);
    }

    let listed = |reply: Reply| -> Vec<String> {
        let reply = reply.expect_status(StatusCode::OK);
        assert_eq!(reply.content_type(), OCI_INDEX);
        let body = reply.json();
        let mut found: Vec<String> = body["manifests"]
            .as_array()
            .expect("a manifests array")
            .iter()
            .map(|d| d["digest"].as_str().expect("a digest").to_string())
            .collect();
        found.sort();
        found
    };
    let path = format!("/v2/{repo}/referrers/{}", subject.digest);
    let mut both = digests.clone();
    both.sort();
    assert_eq!(listed(send(oci.get(&path)).await), both);

    send(oci.delete(&format!("/v2/{repo}/manifests/{}", digests[0])))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert_eq!(listed(send(oci.get(&path)).await), [digests[1].clone()]);

    send(oci.delete(&format!("/v2/{repo}/manifests/{}", digests[1])))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert!(listed(send(oci.get(&path)).await).is_empty());
}
