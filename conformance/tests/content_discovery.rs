//! OCI Distribution Spec v1.1 — the Content Discovery workflow: tag listing
//! (end-8a, end-8b), the repository catalog, and the referrers API (end-12a,
//! end-12b).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Tags pushed in a scrambled order; every one is lowercase, so byte order and
/// case-insensitive order agree.
const TAGS: [&str; 8] = [
    "v1.10", "latest", "1.0", "alpha_1", "beta", "v1.2", "0.9", "alpha-1",
];

/// [`TAGS`] in lexical order.
const SORTED_TAGS: [&str; 8] = [
    "0.9", "1.0", "alpha-1", "alpha_1", "beta", "latest", "v1.10", "v1.2",
];

/// Pushes one image to `repo` and tags it with every tag in [`TAGS`].
async fn push_tags(oci: &Oci, repo: &str) {
    let image = oci.push_image(repo, None, "tags").await;
    for tag in TAGS {
        oci.push_manifest(repo, tag, OCI_MANIFEST, &image.manifest)
            .await;
    }
}

/// The `tags` array of a tag list body, checking the `name` field.
#[track_caller]
fn tags_of(reply: &Reply, repo: &str) -> Vec<String> {
    let body = reply.json();
    assert_eq!(body["name"], json!(repo), "{}: `name` field", reply.what);
    strings(&body["tags"], &reply.what)
}

/// The strings of a JSON array (`null` counts as empty).
#[track_caller]
fn strings(value: &Value, what: &str) -> Vec<String> {
    if value.is_null() {
        return Vec::new();
    }
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected an array, got {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: non-string entry {v}"))
                .to_string()
        })
        .collect()
}

/// The `Link: <...>; rel="next"` target of `reply`, if any.
#[track_caller]
fn next_of(reply: &Reply) -> Option<String> {
    reply.header("Link").map(|link| {
        next_link(link).unwrap_or_else(|| {
            panic!(
                "{}: Link header {link:?} is not `<url>; rel=\"next\"`",
                reply.what
            )
        })
    })
}

/// Follows `rel="next"` links from `path`, collecting `field` from every page.
async fn collect_pages(oci: &Oci, path: &str, field: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(path) = next {
        pages += 1;
        assert!(pages <= 20, "pagination does not terminate");
        let reply = send(oci.get(&path)).await.expect_status(StatusCode::OK);
        all.extend(strings(&reply.json()[field], &reply.what));
        next = next_of(&reply);
    }
    all
}

/// end-8a: `GET /v2/<name>/tags/list` is `200 OK` with `{"name", "tags"}` and the tags in lexical order.
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_is_sorted_lexically() {
    let oci = Oci::start().await;
    push_tags(&oci, "library/app").await;

    let reply = send(oci.get("/v2/library/app/tags/list"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), SORTED_TAGS);
}

/// end-8a: a repository holding only untagged manifests lists no tags (`200 OK`).
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_of_untagged_repository_is_empty() {
    let oci = Oci::start().await;
    oci.push_image("library/untagged", None, "untagged").await;

    let reply = send(oci.get("/v2/library/untagged/tags/list"))
        .await
        .expect_status(StatusCode::OK);
    assert!(tags_of(&reply, "library/untagged").is_empty());
}

/// end-8b: `?n=<int>` returns exactly n tags plus a `Link: <...>; rel="next"` header whose pages complete the list.
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_with_n_paginates_with_link_header() {
    let oci = Oci::start().await;
    push_tags(&oci, "library/app").await;

    let reply = send(oci.get("/v2/library/app/tags/list?n=3"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), SORTED_TAGS[..3]);
    assert!(
        next_of(&reply).is_some(),
        "more tags exist, so a Link rel=\"next\" header is expected"
    );

    let all = collect_pages(&oci, "/v2/library/app/tags/list?n=3", "tags").await;
    assert_eq!(
        all, SORTED_TAGS,
        "following Link headers yields every tag once, in order"
    );

    // n at least the number of tags returns them all.
    let reply = send(oci.get("/v2/library/app/tags/list?n=100"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), SORTED_TAGS);
}

/// end-8b: "When `n` is zero, this endpoint MUST return an empty list, and MUST NOT include a `Link` header."
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_with_n_zero_is_empty_without_link() {
    let oci = Oci::start().await;
    push_tags(&oci, "library/app").await;

    let reply = send(oci.get("/v2/library/app/tags/list?n=0"))
        .await
        .expect_status(StatusCode::OK);
    assert!(tags_of(&reply, "library/app").is_empty());
    assert!(
        reply.header("Link").is_none(),
        "n=0 must not send a Link header"
    );
}

/// end-8b: `?n=<int>&last=<tag>` returns up to n tags strictly after `last`; `last` alone returns every tag after it.
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_with_n_and_last() {
    let oci = Oci::start().await;
    push_tags(&oci, "library/app").await;

    let reply = send(oci.get("/v2/library/app/tags/list?n=2&last=alpha_1"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), ["beta", "latest"]);

    let reply = send(oci.get("/v2/library/app/tags/list?last=latest"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), ["v1.10", "v1.2"]);

    let reply = send(oci.get("/v2/library/app/tags/list?n=5&last=v1.10"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(tags_of(&reply, "library/app"), ["v1.2"]);

    let reply = send(oci.get("/v2/library/app/tags/list?n=5&last=v1.2"))
        .await
        .expect_status(StatusCode::OK);
    assert!(tags_of(&reply, "library/app").is_empty());
}

/// end-8a: listing tags of a repository that does not exist is `404 Not Found` with `NAME_UNKNOWN`.
#[tokio::test(flavor = "multi_thread")]
async fn tags_list_of_unknown_repository_returns_404_name_unknown() {
    let oci = Oci::start().await;
    push_tags(&oci, "library/app").await;

    send(oci.get("/v2/library/nothing-here/tags/list"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
}

/// `GET /v2/_catalog` lists repositories in lexical order, paginating with `n`, `last` and `Link` like tags.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_lists_repositories_with_pagination() {
    let oci = Oci::start().await;
    for repo in [
        "zeta/app",
        "library/ubuntu",
        "alpine",
        "library/alpine",
        "beta",
    ] {
        oci.push_image(repo, Some("latest"), repo).await;
    }
    let sorted = [
        "alpine",
        "beta",
        "library/alpine",
        "library/ubuntu",
        "zeta/app",
    ];

    let reply = send(oci.get("/v2/_catalog"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(strings(&reply.json()["repositories"], &reply.what), sorted);

    let reply = send(oci.get("/v2/_catalog?n=2"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        strings(&reply.json()["repositories"], &reply.what),
        sorted[..2]
    );
    assert!(
        next_of(&reply).is_some(),
        "more repositories exist, so a Link header is expected"
    );
    assert_eq!(
        collect_pages(&oci, "/v2/_catalog?n=2", "repositories").await,
        sorted
    );

    let reply = send(oci.get("/v2/_catalog?n=2&last=beta"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        strings(&reply.json()["repositories"], &reply.what),
        ["library/alpine", "library/ubuntu"]
    );
}

/// A referrer pushed to `repo`: its descriptor as the referrers API must list it.
struct Referrer {
    digest: String,
    expected: Value,
}

/// Pushes an image manifest with `subject`, optional `artifactType`, a config of
/// `config_type`, and `annotations`; returns the descriptor the referrers API must report.
async fn push_manifest_referrer(
    oci: &Oci,
    repo: &str,
    subject: &Descriptor,
    artifact_type: Option<&str>,
    config_type: &str,
    annotations: Value,
) -> Referrer {
    let config_bytes: &[u8] = if config_type == OCI_EMPTY {
        b"{}"
    } else {
        b"{\"referrer\":\"config\"}"
    };
    let config = oci.push_blob_desc(repo, config_type, config_bytes).await;
    let payload = format!("payload {annotations}");
    let layer = oci
        .push_blob_desc(repo, "application/octet-stream", payload.as_bytes())
        .await;
    let mut manifest = image_manifest(&config, &[layer]);
    if let Some(artifact_type) = artifact_type {
        manifest["artifactType"] = json!(artifact_type);
    }
    manifest["subject"] = subject.to_json();
    manifest["annotations"] = annotations.clone();
    let bytes = to_bytes(&manifest);
    let digest = oci
        .push_manifest(repo, &sha256_digest(&bytes), OCI_MANIFEST, &bytes)
        .await;
    Referrer {
        expected: json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": bytes.len(),
            "artifactType": artifact_type.unwrap_or(config_type),
            "annotations": annotations,
        }),
        digest,
    }
}

/// Pushes an image index with `subject`, optional `artifactType` and `annotations`.
async fn push_index_referrer(
    oci: &Oci,
    repo: &str,
    subject: &Descriptor,
    artifact_type: Option<&str>,
    annotations: Value,
) -> Referrer {
    let child = oci
        .push_image(repo, None, &format!("child of {annotations}"))
        .await;
    let mut index = image_index(&[child.descriptor]);
    if let Some(artifact_type) = artifact_type {
        index["artifactType"] = json!(artifact_type);
    }
    index["subject"] = subject.to_json();
    index["annotations"] = annotations.clone();
    let bytes = to_bytes(&index);
    let digest = oci
        .push_manifest(repo, &sha256_digest(&bytes), OCI_INDEX, &bytes)
        .await;
    let mut expected = json!({
        "mediaType": OCI_INDEX,
        "digest": digest,
        "size": bytes.len(),
        "annotations": annotations,
    });
    if let Some(artifact_type) = artifact_type {
        expected["artifactType"] = json!(artifact_type);
    }
    Referrer { digest, expected }
}

/// `GET /v2/<repo>/referrers/<digest>[?artifactType=...]`, checking the status, the
/// `Content-Type` and the image-index envelope; returns the reply and its `manifests`.
async fn referrers(
    oci: &Oci,
    repo: &str,
    digest: &str,
    artifact_type: Option<&str>,
) -> (Reply, Vec<Value>) {
    let mut path = format!("/v2/{repo}/referrers/{digest}");
    if let Some(artifact_type) = artifact_type {
        path = with_query(
            &path,
            &format!("artifactType={}", encode_query_value(artifact_type)),
        );
    }
    let reply = send(oci.get(&path)).await.expect_status(StatusCode::OK);
    assert_eq!(
        reply.content_type(),
        OCI_INDEX,
        "{}: Content-Type",
        reply.what
    );
    let body = reply.json();
    assert_eq!(
        body["schemaVersion"],
        json!(2),
        "{}: schemaVersion",
        reply.what
    );
    assert_eq!(
        body["mediaType"],
        json!(OCI_INDEX),
        "{}: mediaType",
        reply.what
    );
    let manifests = body["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: `manifests` is not an array: {body}", reply.what))
        .clone();
    (reply, manifests)
}

/// Asserts `listed` holds exactly the `expected` descriptors (in any order), field for field.
#[track_caller]
fn assert_descriptors(listed: &[Value], expected: &[&Referrer]) {
    let mut listed_digests: Vec<&str> = listed
        .iter()
        .map(|d| d["digest"].as_str().expect("a descriptor digest"))
        .collect();
    listed_digests.sort_unstable();
    let mut expected_digests: Vec<&str> = expected.iter().map(|r| r.digest.as_str()).collect();
    expected_digests.sort_unstable();
    assert_eq!(
        listed_digests, expected_digests,
        "the set of referrers listed"
    );

    for referrer in expected {
        let descriptor = listed
            .iter()
            .find(|d| d["digest"] == json!(referrer.digest))
            .expect("listed above");
        for field in ["mediaType", "digest", "size", "annotations"] {
            assert_eq!(
                descriptor[field], referrer.expected[field],
                "field {field} of referrer {}: {descriptor}",
                referrer.digest
            );
        }
        assert_eq!(
            descriptor.get("artifactType"),
            referrer.expected.get("artifactType"),
            "artifactType of referrer {} (omitted for an index without one): {descriptor}",
            referrer.digest
        );
    }
}

/// end-12a: the referrers list is an image index of each referrer's descriptor with `artifactType` (config `mediaType` as fallback for image manifests, omitted for indexes without one) and annotations.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_list_describes_every_referrer() {
    let oci = Oci::start().await;
    let repo = "library/app";
    let subject = oci.push_image(repo, Some("v1"), "subject").await;
    let sbom = push_manifest_referrer(
        &oci,
        repo,
        &subject.descriptor,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.opencontainers.image.created": "2024-01-01T14:42:55Z", "org.example.sbom.format": "json"}),
    )
    .await;
    let signature = push_manifest_referrer(
        &oci,
        repo,
        &subject.descriptor,
        None,
        "application/vnd.example.signature.config.v1+json",
        json!({"org.example.signature.fingerprint": "abcd"}),
    )
    .await;
    let plain_index = push_index_referrer(
        &oci,
        repo,
        &subject.descriptor,
        None,
        json!({"org.opencontainers.image.created": "2024-01-02T07:21:33Z"}),
    )
    .await;
    let typed_index = push_index_referrer(
        &oci,
        repo,
        &subject.descriptor,
        Some("application/vnd.example.bundle.v1"),
        json!({"org.example.bundle": "yes"}),
    )
    .await;
    // Neither an unrelated image nor a referrer of another subject is listed.
    let other = oci.push_image(repo, Some("other"), "other").await;
    push_manifest_referrer(
        &oci,
        repo,
        &other.descriptor,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.example.about": "other"}),
    )
    .await;

    let (_, listed) = referrers(&oci, repo, &subject.digest, None).await;
    assert_descriptors(&listed, &[&sbom, &signature, &plain_index, &typed_index]);
}

/// end-12b: `?artifactType=` returns only matching referrers and sets `OCI-Filters-Applied: artifactType`.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_filtered_by_artifact_type() {
    let oci = Oci::start().await;
    let repo = "library/app";
    let subject = oci.push_image(repo, Some("v1"), "subject").await;
    let sbom = push_manifest_referrer(
        &oci,
        repo,
        &subject.descriptor,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.example.kind": "sbom"}),
    )
    .await;
    let signature = push_manifest_referrer(
        &oci,
        repo,
        &subject.descriptor,
        None,
        "application/vnd.example.signature.config.v1+json",
        json!({"org.example.kind": "signature"}),
    )
    .await;

    let (reply, listed) = referrers(
        &oci,
        repo,
        &subject.digest,
        Some("application/vnd.example.sbom.v1"),
    )
    .await;
    assert_eq!(reply.require_header("OCI-Filters-Applied"), "artifactType");
    assert_descriptors(&listed, &[&sbom]);

    // The fallback artifactType (the config mediaType) is what the filter matches.
    let (reply, listed) = referrers(
        &oci,
        repo,
        &subject.digest,
        Some("application/vnd.example.signature.config.v1+json"),
    )
    .await;
    assert_eq!(reply.require_header("OCI-Filters-Applied"), "artifactType");
    assert_descriptors(&listed, &[&signature]);

    let (reply, listed) = referrers(
        &oci,
        repo,
        &subject.digest,
        Some("application/vnd.example.none"),
    )
    .await;
    assert_eq!(reply.require_header("OCI-Filters-Applied"), "artifactType");
    assert!(
        listed.is_empty(),
        "no referrer has that artifactType: {listed:?}"
    );
}

/// end-12a: "If a query results in no matching referrers, an empty manifest list MUST be returned" (`200 OK`), also for a digest the repository lacks.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_of_manifest_without_referrers_is_empty() {
    let oci = Oci::start().await;
    let image = oci.push_image("library/app", Some("v1"), "lonely").await;

    let (_, listed) = referrers(&oci, "library/app", &image.digest, None).await;
    assert!(listed.is_empty(), "{listed:?}");
    let (_, listed) = referrers(&oci, "library/app", &sha256_digest(b"absent"), None).await;
    assert!(listed.is_empty(), "{listed:?}");
}

/// end-12a: a manifest pushed before its subject exists is listed as a referrer, before and after the subject arrives.
#[tokio::test(flavor = "multi_thread")]
async fn referrer_pushed_before_subject_is_listed() {
    let oci = Oci::start().await;
    let repo = "library/app";
    // Compute the subject without pushing it.
    let config = Descriptor::of(OCI_CONFIG, b"{\"later\":true}");
    let subject_bytes = to_bytes(&image_manifest(&config, &[]));
    let subject = Descriptor::of(OCI_MANIFEST, &subject_bytes);

    let early = push_manifest_referrer(
        &oci,
        repo,
        &subject,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.example.pushed": "first"}),
    )
    .await;
    let (_, listed) = referrers(&oci, repo, &subject.digest, None).await;
    assert_descriptors(&listed, &[&early]);

    oci.push_blob(repo, b"{\"later\":true}").await;
    oci.push_manifest(repo, "late", OCI_MANIFEST, &subject_bytes)
        .await;
    let (_, listed) = referrers(&oci, repo, &subject.digest, None).await;
    assert_descriptors(&listed, &[&early]);
}

/// end-12a: referrers are scoped to `<name>`: a referrer pushed to another repository is not listed.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_are_scoped_to_the_repository() {
    let oci = Oci::start().await;
    let subject = oci.push_image("repo/a", Some("v1"), "subject").await;
    oci.push_image("repo/b", Some("v1"), "subject").await;
    let in_a = push_manifest_referrer(
        &oci,
        "repo/a",
        &subject.descriptor,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.example.repo": "a"}),
    )
    .await;
    let in_b = push_manifest_referrer(
        &oci,
        "repo/b",
        &subject.descriptor,
        Some("application/vnd.example.sbom.v1"),
        OCI_EMPTY,
        json!({"org.example.repo": "b"}),
    )
    .await;

    let (_, listed) = referrers(&oci, "repo/a", &subject.digest, None).await;
    assert_descriptors(&listed, &[&in_a]);
    let (_, listed) = referrers(&oci, "repo/b", &subject.digest, None).await;
    assert_descriptors(&listed, &[&in_b]);
}

/// end-12a: "If the request is invalid, such as a `<digest>` with an invalid syntax, a `400 Bad Request` MUST be returned."
#[tokio::test(flavor = "multi_thread")]
async fn referrers_with_invalid_digest_returns_400() {
    let oci = Oci::start().await;
    oci.push_image("library/app", Some("v1"), "x").await;

    for digest in ["sha256:not-hex", "nocolon", "sha256:abc", "latest"] {
        send(oci.get(&format!("/v2/library/app/referrers/{digest}")))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    }
}
