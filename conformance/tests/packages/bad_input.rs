//! Bad input gets a clear 4xx in the error envelope, never a 5xx, a panic
//! or a hang, and leaves nothing behind.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::support::*;

/// The longest any of these requests may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(60);

/// Sends `request`, failing the test if no answer comes within [`HANG`].
async fn answered(request: reqwest::RequestBuilder) -> Reply {
    tokio::time::timeout(HANG, send(request))
        .await
        .expect("the registry answers instead of hanging")
}

/// Asserts `400 INVALID` with a message.
#[track_caller]
fn expect_invalid(reply: Reply) {
    let reply = reply.expect_error(StatusCode::BAD_REQUEST, "INVALID");
    assert!(!message(&reply).is_empty(), "{}", reply.what);
}

#[tokio::test]
async fn malformed_search_parameters_are_refused() {
    let oci = Oci::start().await;
    push_version(
        &oci,
        "team/planner",
        &Package::agent("planner", "1.0.0", ""),
    )
    .await;
    let cursor = |text: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    let long = "q".repeat(10 * 1024);
    let queries = [
        format!("q={long}"),
        "limit=100000".to_owned(),
        "limit=0".to_owned(),
        "limit=-1".to_owned(),
        "limit=ten".to_owned(),
        "sort=popularity".to_owned(),
        "kind=tool".to_owned(),
        "cursor=!!!not-base64!!!".to_owned(),
        format!("cursor={}", cursor("o:999999999999")),
        format!("cursor={}", cursor("offset 3")),
        format!("capability={}", "c".repeat(1000)),
        format!("author={}", "a".repeat(10 * 1024)),
    ];
    for query in &queries {
        expect_invalid(answered(oci.get(&format!("/v1/packages/search?{query}"))).await);
    }
    for query in ["period=1y", "limit=100000", "kind=tool"] {
        expect_invalid(answered(oci.get(&format!("/v1/packages/popular?{query}"))).await);
    }
    // The upper bound itself is fine, and an empty limit (an empty form
    // field) is the default, as every other empty filter is none.
    search(&oci, "limit=100").await;
    search(&oci, "limit=&kind=&sort=").await;
    search(&oci, &format!("q={}", "q".repeat(1024))).await;
}

#[tokio::test]
async fn malformed_versions_ranges_and_names_are_refused() {
    let oci = Oci::start().await;
    push_version(
        &oci,
        "team/planner",
        &Package::agent("planner", "1.0.0", ""),
    )
    .await;
    for range in [
        ">>1",
        "^",
        "1.2.3.4",
        "~>1.0",
        "not a range",
        &"1".repeat(300),
        "*, >=",
    ] {
        let path = format!(
            "/v1/packages/team/planner/versions?range={}",
            encode_query_value(range)
        );
        expect_invalid(answered(oci.get(&path)).await);
        let path = format!(
            "/v1/packages/team/planner/{}/info",
            encode_query_value(range)
        );
        expect_invalid(answered(oci.get(&path)).await);
    }
    expect_invalid(answered(oci.get("/v1/packages/team/planner/versions?prerelease=maybe")).await);
    // An exact version is needed to delete or deprecate.
    expect_invalid(answered(oci.delete("/v1/packages/team/planner/latest")).await);
    expect_invalid(answered(oci.post("/v1/packages/team/planner/1.x/deprecate")).await);
    // A deprecation body must be the documented JSON.
    for body in [
        "not json",
        r#"{"message": 7}"#,
        r#"{"message": "x", "other": 1}"#,
    ] {
        let request = oci
            .post("/v1/packages/team/planner/1.0.0/deprecate")
            .header("Content-Type", "application/json")
            .body(body);
        expect_invalid(answered(request).await);
    }
    let huge = json!({"message": "m".repeat(64 * 1024)});
    let reply = answered(
        oci.post("/v1/packages/team/planner/1.0.0/deprecate")
            .json(&huge),
    )
    .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    assert_eq!(
        row(&versions(&oci, "team/planner", "").await, "1.0.0")["deprecated"],
        json!(null)
    );

    // Names that climb out of the namespace, sent as written.
    for path in [
        "/v1/packages/team/../etc/versions",
        "/v1/packages/../../etc/passwd/1.0.0",
        "/v1/packages/team/%2e%2e/planner/versions",
        "/v1/packages/team/planner/..%2f..%2f/info",
        "/v1/packages/Team/Planner/versions",
        "/v1/packages/publish?repository=../../etc",
    ] {
        let reply = tokio::time::timeout(HANG, raw_request(&oci.reg.base_url(), "GET", path))
            .await
            .expect("the registry answers");
        assert!(
            reply.status.is_client_error(),
            "{path}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let reply = answered(
        oci.put("/v1/packages/publish?repository=team/../etc")
            .body(b"x".to_vec()),
    )
    .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
}

/// A definition whose model parameters hold `value` (YAML text).
fn definition_with_parameters(value: &str) -> Vec<u8> {
    format!(
        "name: planner\nversion: 1.0.0\nmodel:\n  provider: openai\n  name: gpt-4o\n  parameters:\n{value}"
    )
    .into_bytes()
}

#[tokio::test]
async fn hostile_definitions_are_refused_without_harm() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    // A billion laughs: nine levels of nine aliases each.
    let mut bomb = String::from("    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        let list = [previous.as_str(); 9].join(", ");
        bomb.push_str(&format!("    a{level}: &a{level} [{list}]\n"));
    }
    // Lists nested thousands deep.
    let deep = format!("    deep: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
    let deep_maps = format!("    deep: {}1{}\n", "{a: ".repeat(5_000), "}".repeat(5_000));
    for (what, hostile) in [
        ("alias bomb", bomb),
        ("nested lists", deep),
        ("nested maps", deep_maps),
    ] {
        let config = definition_with_parameters(&hostile);
        assert!(config.len() < 1024 * 1024, "{what} fits under the cap");
        oci.push_blob("team/planner", &config).await;
        let mut manifest = agent.manifest_json();
        manifest["config"] = Descriptor::of(AGENT_CONFIG, &config).to_json();
        push_blobs(&oci, "team/planner", &agent).await;
        let request = oci
            .put("/v2/team/planner/manifests/1.0.0")
            .header("Content-Type", OCI_MANIFEST)
            .body(to_bytes(&manifest));
        let reply = answered(request).await;
        let said = manifest_invalid(reply);
        assert!(!said.is_empty(), "{what}");
        expect_untagged(&oci, "team/planner", "1.0.0").await;
    }
    assert_eq!(
        listed_or_none(&oci, "team/planner").await,
        Vec::<String>::new()
    );
    // The registry is still well.
    send(oci.get("/v2/")).await.expect_status(StatusCode::OK);
    push_version(&oci, "team/planner", &agent).await;
}
