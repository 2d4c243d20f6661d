//! Downloads: a whole GET of a package's `.sntl` file, through `/v2/` or
//! `/v1/`, counts once; a ranged GET from a later byte, a HEAD, and the
//! config blob do not. Counts are written every 5 s, so tests poll.

use reqwest::StatusCode;

use crate::common::*;
use crate::support::*;

#[tokio::test]
async fn whole_gets_of_the_package_file_count_and_nothing_else_does() {
    let oci = Oci::start().await;
    let agent = Package::agent("fetched", "1.0.0", "description: Fetched a lot.\n");
    push_version(&oci, "dl/fetched", &agent).await;
    let blob = format!("/v2/dl/fetched/blobs/{}", agent.layer_digest());

    let reply = send(oci.get(&blob)).await.expect_status(StatusCode::OK);
    assert!(reply.body == agent.sntl);
    let reply = send(oci.get("/v1/packages/dl/fetched/1.0.0"))
        .await
        .expect_status(StatusCode::OK);
    assert!(reply.body == agent.sntl);
    assert_eq!(wait_for_downloads(&oci, "dl/fetched", "1.0.0", 2).await, 2);

    // Neither a later range, a HEAD, nor the definition counts.
    let reply = send(oci.get(&blob).header("Range", "bytes=10-"))
        .await
        .expect_status(StatusCode::PARTIAL_CONTENT);
    assert!(reply.body == agent.sntl[10..]);
    let reply = send(
        oci.get("/v1/packages/dl/fetched/1.0.0")
            .header("Range", "bytes=5-"),
    )
    .await
    .expect_status(StatusCode::PARTIAL_CONTENT);
    assert!(reply.body == agent.sntl[5..]);
    send(oci.head(&blob)).await.expect_status(StatusCode::OK);
    send(oci.head("/v1/packages/dl/fetched/1.0.0"))
        .await
        .expect_status(StatusCode::OK);
    send(oci.get(&format!(
        "/v2/dl/fetched/blobs/{}",
        agent.config_ref().digest
    )))
    .await
    .expect_status(StatusCode::OK);
    // One more whole GET: when it shows, anything counted before it shows too.
    send(oci.get(&blob)).await.expect_status(StatusCode::OK);
    assert_eq!(wait_for_downloads(&oci, "dl/fetched", "1.0.0", 3).await, 3);

    let info = get_json(&oci, "/v1/packages/dl/fetched/1.0.0/info").await;
    assert_eq!(info["downloads"], 3);
    let popular = get_json(&oci, "/v1/packages/popular").await;
    assert_eq!(names(&popular), ["dl/fetched"], "{popular}");
    assert_eq!(popular["packages"][0]["downloads"], 3);
    let popular = get_json(&oci, "/v1/packages/popular?period=30d&kind=agent").await;
    assert_eq!(names(&popular), ["dl/fetched"], "{popular}");
    let popular = get_json(&oci, "/v1/packages/popular?kind=stack").await;
    assert_eq!(names(&popular), Vec::<String>::new());
}
