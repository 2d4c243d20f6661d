//! The catalogue survives a clean restart, deprecations and download
//! counts included. (Crashes and `sentinel-registry reindex` are tested
//! with the real binary in crates/sentinel-registry/tests/catalogue_crash.rs.)

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::support::*;

#[tokio::test]
async fn the_catalogue_survives_a_clean_restart() {
    let oci = Oci::start().await;
    let one = Package::agent("planner", "1.0.0", "description: Plans trips.\n");
    let two = Package::agent("planner", "2.0.0", "description: Plans trips.\n");
    push_version(&oci, "team/planner", &one).await;
    push_version(&oci, "team/planner", &two).await;
    let crew = Package::stack("crew", "1.0.0", &[("planner", "team/planner:1.0.0")]);
    push_version(&oci, "team/crew", &crew).await;
    send(
        oci.post("/v1/packages/team/planner/2.0.0/deprecate")
            .json(&json!({"message": "broken"})),
    )
    .await
    .expect_status(StatusCode::OK);
    send(oci.get("/v1/packages/team/planner/1.0.0"))
        .await
        .expect_status(StatusCode::OK);
    let before = versions(&oci, "team/planner", "").await;

    // Counted but not yet written: a clean stop writes it.
    let oci = oci.restart().await;
    let after = versions(&oci, "team/planner", "").await;
    assert_eq!(listed(&after), ["2.0.0", "1.0.0"]);
    assert_eq!(after["latest"], "1.0.0");
    assert_eq!(row(&after, "2.0.0")["deprecated"], "broken");
    assert_eq!(row(&after, "1.0.0")["downloads"], 1);
    assert_eq!(
        row(&after, "1.0.0")["digest"],
        row(&before, "1.0.0")["digest"]
    );
    assert_eq!(names(&search(&oci, "q=trips").await), ["team/planner"]);
    let dependents = get_json(&oci, "/v1/packages/team/planner/dependents").await;
    assert_eq!(dependents["dependents"][0]["name"], "team/crew");
}
