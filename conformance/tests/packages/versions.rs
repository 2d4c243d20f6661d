//! Versions: immutable version tags, semver order, `latest`, ranges,
//! pre-releases, deprecation, and `latest` or a range in place of a
//! version.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::support::*;

#[tokio::test]
async fn a_version_tag_is_not_moved_to_another_manifest() {
    let oci = Oci::start().await;
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    push_version(&oci, "team/planner", &first).await;

    let reply = put_package(&oci, "team/planner", "1.0.0", &second).await;
    let reply = reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
    let said = message(&reply);
    assert!(
        said.contains("1.0.0") && said.contains("immutable"),
        "{said}"
    );
    let stored = oci.get_manifest("team/planner", "1.0.0").await;
    assert_eq!(
        stored.require_header("Docker-Content-Digest"),
        first.digest()
    );
    let listed_versions = versions(&oci, "team/planner", "").await;
    assert_eq!(row(&listed_versions, "1.0.0")["digest"], first.digest());

    // The same manifest again is no move.
    push_version(&oci, "team/planner", &first).await;

    // `latest` moves freely between versions.
    let next = Package::agent("planner", "1.1.0", "");
    put_package(&oci, "team/planner", "latest", &first)
        .await
        .expect_status(StatusCode::CREATED);
    put_package(&oci, "team/planner", "latest", &next)
        .await
        .expect_status(StatusCode::CREATED);
    put_package(&oci, "team/planner", "latest", &first)
        .await
        .expect_status(StatusCode::CREATED);
    let latest = oci.get_manifest("team/planner", "latest").await;
    assert_eq!(
        latest.require_header("Docker-Content-Digest"),
        first.digest()
    );
}

#[tokio::test]
async fn with_immutable_versions_off_a_version_tag_moves() {
    let reg = TestRegistry::start_with(|settings| settings.immutable_versions = false).await;
    let oci = Oci {
        reg,
        http: sentinel_conformance::client(),
    };
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    push_version(&oci, "team/planner", &first).await;
    push_version(&oci, "team/planner", &second).await;
    let stored = oci.get_manifest("team/planner", "1.0.0").await;
    assert_eq!(
        stored.require_header("Docker-Content-Digest"),
        second.digest()
    );
    let listed_versions = versions(&oci, "team/planner", "").await;
    assert_eq!(listed(&listed_versions), ["1.0.0"]);
    assert_eq!(row(&listed_versions, "1.0.0")["digest"], second.digest());
    let info = get_json(&oci, "/v1/packages/team/planner/1.0.0/info").await;
    assert_eq!(info["description"], "Second.");
}

/// The versions [`versioned`] pushes, in push order (not sorted).
const PUSHED: [&str; 9] = [
    "1.2.0",
    "0.9.0",
    "1.10.0",
    "1.4.0",
    "2.0.0-beta.1",
    "1.0.0",
    "1.4.2",
    "1.2.5",
    "1.5.0",
];

/// A registry holding every version of [`PUSHED`] of `team/planner`.
async fn versioned() -> (Oci, Vec<Package>) {
    let oci = Oci::start().await;
    let mut packages = Vec::new();
    for version in PUSHED {
        let package = Package::agent("planner", version, "");
        push_version(&oci, "team/planner", &package).await;
        packages.push(package);
    }
    (oci, packages)
}

/// `resolved` of `GET versions?range=<range>[&prerelease=true]`.
async fn resolved(oci: &Oci, range: &str, prerelease: bool) -> serde_json::Value {
    let mut query = format!("range={}", encode_query_value(range));
    if prerelease {
        query.push_str("&prerelease=true");
    }
    versions(oci, "team/planner", &query).await["resolved"].clone()
}

#[tokio::test]
async fn versions_are_in_semver_order_and_ranges_resolve_the_highest_match() {
    let (oci, _) = versioned().await;
    let all = versions(&oci, "team/planner", "").await;
    assert_eq!(
        listed(&all),
        [
            "2.0.0-beta.1",
            "1.10.0",
            "1.5.0",
            "1.4.2",
            "1.4.0",
            "1.2.5",
            "1.2.0",
            "1.0.0",
            "0.9.0"
        ]
    );
    assert_eq!(all["latest"], "1.10.0", "a pre-release is never latest");
    assert_eq!(all["resolved"], json!(null));

    assert_eq!(resolved(&oci, "^1.2", false).await, "1.10.0");
    assert_eq!(resolved(&oci, "~1.4.0", false).await, "1.4.2");
    assert_eq!(resolved(&oci, ">=1.0, <2.0", false).await, "1.10.0");
    assert_eq!(resolved(&oci, ">=1.0, <1.5", false).await, "1.4.2");
    assert_eq!(resolved(&oci, "1.x", false).await, "1.10.0");
    assert_eq!(resolved(&oci, "1.2.x", false).await, "1.2.5");
    assert_eq!(resolved(&oci, "0.9.0", false).await, "0.9.0");
    assert_eq!(resolved(&oci, "^3", false).await, json!(null));
    // Pre-releases only when asked for or named.
    assert_eq!(resolved(&oci, ">=1.0", false).await, "1.10.0");
    assert_eq!(resolved(&oci, ">=1.0", true).await, "2.0.0-beta.1");
    assert_eq!(resolved(&oci, "^2.0.0-beta", false).await, "2.0.0-beta.1");
    // A form-encoded query: `+` is a space.
    let form = versions(&oci, "team/planner", "range=%3E%3D1.0,+%3C1.5").await;
    assert_eq!(form["resolved"], "1.4.2");
}

#[tokio::test]
async fn deprecated_versions_are_skipped_unless_named_and_say_so() {
    let (oci, packages) = versioned().await;
    let deprecate = "/v1/packages/team/planner/1.10.0/deprecate";
    let reply = send(oci.post(deprecate).json(&json!({"message": "use 1.5.0"})))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.json()["deprecated"], "use 1.5.0");

    let all = versions(&oci, "team/planner", "").await;
    assert_eq!(all["latest"], "1.5.0");
    assert_eq!(row(&all, "1.10.0")["deprecated"], "use 1.5.0");
    assert_eq!(row(&all, "1.5.0")["deprecated"], json!(null));
    assert_eq!(resolved(&oci, "^1.2", false).await, "1.5.0");
    assert_eq!(resolved(&oci, "1.x", false).await, "1.5.0");
    assert_eq!(resolved(&oci, "1.10.0", false).await, "1.10.0");
    assert_eq!(resolved(&oci, "=1.10.0", false).await, "1.10.0");
    let info = get_json(&oci, "/v1/packages/team/planner/1.10.0/info").await;
    assert_eq!(info["deprecated"], "use 1.5.0");
    let found = search(&oci, "q=planner").await;
    assert_eq!(found["packages"][0]["latest"], "1.5.0", "{found}");
    // Still pullable by its tag.
    let pulled = oci.get_manifest("team/planner", "1.10.0").await;
    assert_eq!(pulled.status, StatusCode::OK);
    let latest = get_json(&oci, "/v1/packages/team/planner/latest/info").await;
    assert_eq!(latest["version"], "1.5.0");

    // Undone, 1.10.0 is the latest again.
    let reply = send(oci.delete(deprecate))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(reply.json()["deprecated"], json!(null));
    let all = versions(&oci, "team/planner", "").await;
    assert_eq!(all["latest"], "1.10.0");
    assert_eq!(row(&all, "1.10.0")["deprecated"], json!(null));
    let info = get_json(&oci, "/v1/packages/team/planner/1.10.0/info").await;
    assert_eq!(info["deprecated"], json!(null));

    // A version that is not there cannot be deprecated.
    send(
        oci.post("/v1/packages/team/planner/7.0.0/deprecate")
            .json(&json!({})),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let _ = packages;
}

#[tokio::test]
async fn latest_and_ranges_name_a_version_for_info_and_download() {
    let (oci, packages) = versioned().await;
    let by_version = |v: &str| {
        packages
            .iter()
            .find(|p| p.version() == v)
            .expect("a pushed version")
    };
    let info = get_json(&oci, "/v1/packages/team/planner/latest/info").await;
    assert_eq!(info["version"], "1.10.0");
    let range = encode_query_value("~1.4.0");
    let info = get_json(&oci, &format!("/v1/packages/team/planner/{range}/info")).await;
    assert_eq!(info["version"], "1.4.2");
    assert_eq!(info["digest"], by_version("1.4.2").digest());
    let range = encode_query_value(">=1.0, <1.3");
    let info = get_json(&oci, &format!("/v1/packages/team/planner/{range}/info")).await;
    assert_eq!(info["version"], "1.2.5");

    for (named, version) in [
        ("latest", "1.10.0"),
        ("%5E1.2", "1.10.0"),
        ("1.4.x", "1.4.2"),
    ] {
        let package = by_version(version);
        let reply = send(oci.get(&format!("/v1/packages/team/planner/{named}")))
            .await
            .expect_status(StatusCode::OK);
        assert!(
            reply.body == package.sntl,
            "{named}: the .sntl of {version}"
        );
        assert_eq!(reply.content_type(), AGENT_LAYER);
        assert_eq!(
            reply.require_header("Docker-Content-Digest"),
            package.layer_digest()
        );
        let disposition = reply.require_header("Content-Disposition");
        assert!(disposition.contains(&package.file_name()), "{disposition}");
    }
    send(oci.get("/v1/packages/team/planner/%5E9/info"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    send(oci.get("/v1/packages/team/nothing/latest/info"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn another_manifest_of_a_published_version_cannot_take_its_place() {
    let oci = Oci::start().await;
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    push_version(&oci, "team/planner", &first).await;

    // Under a tag that is not a version, another 1.0.0 is refused too.
    let reply = put_package(&oci, "team/planner", "stable", &second).await;
    let reply = reply.expect_error(StatusCode::FORBIDDEN, "DENIED");
    let said = message(&reply);
    assert!(
        said.contains("1.0.0") && said.contains("immutable"),
        "{said}"
    );
    expect_untagged(&oci, "team/planner", "stable").await;
    let listed_versions = versions(&oci, "team/planner", "").await;
    assert_eq!(row(&listed_versions, "1.0.0")["digest"], first.digest());
    let info = get_json(&oci, "/v1/packages/team/planner/1.0.0/info").await;
    assert_eq!(info["description"], "First.");
    let file = send(oci.get("/v1/packages/team/planner/1.0.0"))
        .await
        .expect_status(StatusCode::OK);
    assert!(
        file.body == first.sntl,
        "the download is the published 1.0.0"
    );

    // The published manifest itself may take any tag.
    put_package(&oci, "team/planner", "stable", &first)
        .await
        .expect_status(StatusCode::CREATED);
    // Once the version is gone, it may be published anew.
    send(oci.delete("/v1/packages/team/planner/1.0.0"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    push_version(&oci, "team/planner", &second).await;
    let info = get_json(&oci, "/v1/packages/team/planner/1.0.0/info").await;
    assert_eq!(info["description"], "Second.");
}

#[tokio::test]
async fn a_deleted_versions_deprecation_does_not_outlive_it() {
    let oci = Oci::start().await;
    let first = Package::agent("planner", "1.0.0", "description: First.\n");
    let second = Package::agent("planner", "1.0.0", "description: Second.\n");
    push_version(&oci, "team/planner", &first).await;
    send(
        oci.post("/v1/packages/team/planner/1.0.0/deprecate")
            .json(&json!({"message": "broken"})),
    )
    .await
    .expect_status(StatusCode::OK);
    send(oci.delete("/v1/packages/team/planner/1.0.0"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    push_version(&oci, "team/planner", &second).await;
    let listed_versions = versions(&oci, "team/planner", "").await;
    assert_eq!(row(&listed_versions, "1.0.0")["deprecated"], json!(null));
    assert_eq!(listed_versions["latest"], "1.0.0");
}

#[tokio::test]
async fn a_version_lists_the_tag_it_was_pushed_under() {
    let oci = Oci::start().await;
    let plain = Package::agent("planner", "1.0.0", "");
    let prefixed = Package::agent("planner", "1.1.0", "");
    let built = Package::agent("planner", "1.2.0+build.5", "");
    push_version(&oci, "team/planner", &plain).await;
    put_package(&oci, "team/planner", "v1.1.0", &prefixed)
        .await
        .expect_status(StatusCode::CREATED);
    push_version(&oci, "team/planner", &built).await;
    let listed_versions = versions(&oci, "team/planner", "").await;
    for (version, tag) in [
        ("1.0.0", "1.0.0"),
        ("1.1.0", "v1.1.0"),
        ("1.2.0+build.5", "1.2.0_build.5"),
    ] {
        assert_eq!(
            row(&listed_versions, version)["tag"],
            tag,
            "{listed_versions}"
        );
        let info = get_json(
            &oci,
            &format!(
                "/v1/packages/team/planner/{}/info",
                encode_query_value(version)
            ),
        )
        .await;
        assert_eq!(info["tag"], tag);
        // The tag listed is one a client can pull.
        let pulled = oci.get_manifest("team/planner", tag).await;
        assert_eq!(pulled.status, StatusCode::OK, "{tag}");
    }
}
