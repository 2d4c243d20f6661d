//! Deletes keep the catalogue in step: a manifest leaves it when its last
//! tag goes or it is deleted by digest, and `DELETE /v1/packages/{name}/{version}`
//! removes a version.

use reqwest::StatusCode;

use crate::common::*;
use crate::support::*;

#[tokio::test]
async fn deleting_the_last_tag_of_a_version_removes_it() {
    let oci = Oci::start().await;
    let old = Package::agent("planner", "1.0.0", "description: Plans.\n");
    let new = Package::agent("planner", "1.1.0", "description: Plans.\n");
    push_version(&oci, "team/planner", &old).await;
    push_version(&oci, "team/planner", &new).await;

    send(oci.delete("/v2/team/planner/manifests/1.0.0"))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert_eq!(listed_or_none(&oci, "team/planner").await, ["1.1.0"]);
    let found = search(&oci, "q=planner").await;
    assert_eq!(found["packages"][0]["latest"], "1.1.0");

    // While `latest` still names 1.1.0, deleting its version tag keeps it.
    put_package(&oci, "team/planner", "latest", &new)
        .await
        .expect_status(StatusCode::CREATED);
    send(oci.delete("/v2/team/planner/manifests/1.1.0"))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert_eq!(listed_or_none(&oci, "team/planner").await, ["1.1.0"]);

    // Deleting the manifest itself removes it everywhere.
    send(oci.delete(&format!("/v2/team/planner/manifests/{}", new.digest())))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert_eq!(
        listed_or_none(&oci, "team/planner").await,
        Vec::<String>::new()
    );
    assert_eq!(search(&oci, "q=planner").await["total"], 0);
}

#[tokio::test]
async fn deleting_a_manifest_by_digest_removes_its_version() {
    let oci = Oci::start().await;
    let one = Package::agent("planner", "1.0.0", "");
    let two = Package::agent("planner", "2.0.0", "");
    push_version(&oci, "team/planner", &one).await;
    push_version(&oci, "team/planner", &two).await;
    send(oci.delete(&format!("/v2/team/planner/manifests/{}", two.digest())))
        .await
        .expect_status(StatusCode::ACCEPTED);
    let left = versions(&oci, "team/planner", "").await;
    assert_eq!(listed(&left), ["1.0.0"]);
    assert_eq!(left["latest"], "1.0.0");
}

#[tokio::test]
async fn the_package_api_deletes_a_version() {
    let oci = Oci::start().await;
    let one = Package::agent("planner", "1.0.0", "");
    let two = Package::agent("planner", "2.0.0", "");
    push_version(&oci, "team/planner", &one).await;
    push_version(&oci, "team/planner", &two).await;
    put_package(&oci, "team/planner", "latest", &two)
        .await
        .expect_status(StatusCode::CREATED);

    send(oci.delete("/v1/packages/team/planner/2.0.0"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(listed_or_none(&oci, "team/planner").await, ["1.0.0"]);
    expect_untagged(&oci, "team/planner", "2.0.0").await;
    expect_untagged(&oci, "team/planner", "latest").await;
    send(oci.get("/v1/packages/team/planner/2.0.0/info"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    send(oci.get("/v1/packages/team/planner/2.0.0"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    send(oci.delete("/v1/packages/team/planner/2.0.0"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // A range is not a version to delete.
    send(oci.delete("/v1/packages/team/planner/%5E1"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID");
    assert_eq!(listed_or_none(&oci, "team/planner").await, ["1.0.0"]);
}
