//! `PUT /v1/packages/publish`: one request with a `.sntl` body stores the
//! package exactly as `agent push` would, and a file that is not a valid
//! package leaves nothing behind.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;
use crate::support::*;
use crate::visibility::Secured;

/// The repositories `/v2/_catalog` lists.
async fn repositories(oci: &Oci) -> Value {
    get_json(oci, "/v2/_catalog").await["repositories"].clone()
}

#[tokio::test]
async fn publishing_stores_the_manifest_agent_push_would() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.2.0-rc.1+build.7", "description: Plans.\n");
    let reply = send(oci.put("/v1/packages/publish").body(agent.sntl.clone()))
        .await
        .expect_status(StatusCode::CREATED);
    let published = reply.json();
    assert_eq!(published["name"], "planner");
    assert_eq!(published["version"], "1.2.0-rc.1+build.7");
    assert_eq!(published["reference"], "planner:1.2.0-rc.1_build.7");

    let stored = oci.get_manifest("planner", "1.2.0-rc.1_build.7").await;
    let stored = stored.expect_status(StatusCode::OK);
    assert_eq!(published["digest"], sha256_digest(&stored.body));
    assert_eq!(
        reply.require_header("Docker-Content-Digest"),
        sha256_digest(&stored.body)
    );
    let created = stored.json()["annotations"]["org.opencontainers.image.created"]
        .as_str()
        .expect("a created annotation")
        .to_owned();
    assert!(
        stored.body == agent.manifest_created(&created),
        "the stored manifest is the one agent push writes: {}",
        stored.text()
    );
    let blob = oci.get_blob("planner", &agent.layer_digest()).await;
    assert!(blob.expect_status(StatusCode::OK).body == agent.sntl);
    let config = oci
        .get_blob("planner", &agent.config_ref().digest.to_string())
        .await;
    assert!(config.expect_status(StatusCode::OK).body == agent.config);
    let listed_versions = versions(&oci, "planner", "prerelease=true").await;
    assert_eq!(listed(&listed_versions), ["1.2.0-rc.1+build.7"]);

    // Another repository, named.
    let reply = send(
        oci.put("/v1/packages/publish?repository=pub/custom")
            .body(agent.sntl.clone()),
    )
    .await
    .expect_status(StatusCode::CREATED);
    assert_eq!(reply.json()["name"], "pub/custom");
    assert_eq!(
        listed_or_none(&oci, "pub/custom").await,
        ["1.2.0-rc.1+build.7"]
    );
}

#[tokio::test]
async fn a_corrupt_package_is_refused_and_leaves_nothing_behind() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "description: Plans.\n");
    let before_blobs = blob_files(&oci.reg);
    let before_repositories = repositories(&oci).await;

    let mut flipped = agent.sntl.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let mut trailing = agent.sntl.clone();
    trailing.extend_from_slice(b"trailing bytes after the package");
    let bodies: [(&str, Vec<u8>); 5] = [
        ("truncated", agent.sntl[..agent.sntl.len() / 2].to_vec()),
        ("a flipped byte", flipped),
        ("not a package", b"hello, this is not a package".repeat(100)),
        ("empty", Vec::new()),
        ("trailing bytes", trailing),
    ];
    for (what, body) in bodies {
        for path in [
            "/v1/packages/publish",
            "/v1/packages/publish?repository=pub/bad",
        ] {
            let reply = send(oci.put(path).body(body.clone())).await;
            assert!(
                reply.status.is_client_error(),
                "{what}: {} {}",
                reply.status,
                reply.text()
            );
            assert!(!message(&reply).is_empty(), "{what}");
        }
    }
    assert_eq!(repositories(&oci).await, before_repositories);
    assert_eq!(blob_files(&oci.reg), before_blobs);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
    expect_untagged(&oci, "planner", "1.0.0").await;
    assert_eq!(search(&oci, "").await["total"], 0);
}

#[tokio::test]
async fn publishing_goes_to_the_callers_namespace_and_where_it_may_push() {
    let world = Secured::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let other = Package::agent("others", "1.0.0", "");
    let put = |user: Option<&str>, path: &str, package: &Package| {
        world
            .request(user, Method::PUT, path)
            .body(package.sntl.clone())
    };
    let reply = send(put(Some("alice"), "/v1/packages/publish", &agent))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(reply.json()["name"], "alice/planner");
    assert_eq!(
        listed_or_none(&world.admin, "alice/planner").await,
        ["1.0.0"]
    );

    let before = blob_files(&world.admin.reg);
    let reply = send(put(
        Some("bob"),
        "/v1/packages/publish?repository=alice/bobs",
        &other,
    ))
    .await;
    let reply = reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
    assert!(message(&reply).contains("alice/bobs"), "{}", reply.text());
    let reply = send(put(
        None,
        "/v1/packages/publish?repository=alice/anon",
        &other,
    ))
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(blob_files(&world.admin.reg), before);
    assert_eq!(
        listed_or_none(&world.admin, "alice/bobs").await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed_or_none(&world.admin, "alice/anon").await,
        Vec::<String>::new()
    );
    let catalog = get_json(&world.admin, "/v2/_catalog").await;
    let names = catalog["repositories"].as_array().expect("repositories");
    assert!(
        !names.iter().any(|n| n == "alice/bobs" || n == "alice/anon"),
        "{catalog}"
    );
}

#[tokio::test]
async fn publishing_a_published_version_again_moves_nothing_and_leaves_nothing() {
    let oci = Oci::start().await;
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    let published = send(oci.put("/v1/packages/publish").body(first.sntl.clone()))
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    let before = blob_files(&oci.reg);

    let reply = send(oci.put("/v1/packages/publish").body(second.sntl.clone())).await;
    let reply = reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
    assert!(message(&reply).contains("1.0.0"), "{}", reply.text());
    assert_eq!(blob_files(&oci.reg), before);
    for blob in [
        second.layer_digest(),
        second.config_ref().digest.to_string(),
    ] {
        let reply = oci.get_blob("planner", &blob).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{blob} is not linked");
    }
    let stored = oci.get_manifest("planner", "1.0.0").await;
    assert_eq!(
        stored.require_header("Docker-Content-Digest"),
        published["digest"]
    );
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());

    // The same file again is the same package: its manifest is the answer.
    let again = send(oci.put("/v1/packages/publish").body(first.sntl.clone()))
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    assert_eq!(again["digest"], published["digest"]);
    assert_eq!(blob_files(&oci.reg), before);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
}

#[tokio::test]
async fn publishing_a_version_held_by_another_tag_refuses_or_reuses_it() {
    let oci = Oci::start().await;
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    put_package(&oci, "planner", "stable", &first)
        .await
        .expect_status(StatusCode::CREATED);
    let before = blob_files(&oci.reg);

    // Another package of that version: refused, nothing stored.
    let reply = send(oci.put("/v1/packages/publish").body(second.sntl.clone())).await;
    let reply = reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
    assert!(
        message(&reply).contains(&first.digest()),
        "{}",
        reply.text()
    );
    assert_eq!(blob_files(&oci.reg), before);
    expect_untagged(&oci, "planner", "1.0.0").await;

    // The same package: its manifest takes the version tag.
    let published = send(oci.put("/v1/packages/publish").body(first.sntl.clone()))
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    assert_eq!(published["digest"], first.digest());
    let tagged = oci.get_manifest("planner", "1.0.0").await;
    assert_eq!(
        tagged.require_header("Docker-Content-Digest"),
        first.digest()
    );
    assert_eq!(blob_files(&oci.reg), before);
    assert_eq!(oci.reg.upload_objects().await, Vec::<String>::new());
}
