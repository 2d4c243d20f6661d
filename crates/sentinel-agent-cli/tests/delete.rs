//! `agent delete` against Sentinel (with authentication on) and against CNCF
//! Distribution 2.8, which does not delete tags.
//!
//! Without `docker-registry` installed the Distribution test prints a line
//! saying it was skipped; with `SENTINEL_REQUIRE_INTEROP=1` (CI) it fails
//! instead.

mod common;
#[path = "support/distribution.rs"]
mod distribution;

use common::{AgentHome, Run, admin_call, as_user, host};
use distribution::{Distribution, RegistryAuth};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use serde_json::{Value, json};

async fn as_alice(home: &AgentHome, args: &[&str]) -> Run {
    as_user(home, "alice", "alice-password-1", args).await
}

fn refused(run: Run, code: i32, words: &str) -> Run {
    assert_eq!(run.code, code, "{}", run.describe());
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("agent: "), "{}", run.stderr);
    assert!(run.stderr.contains(words), "{}", run.stderr);
    run
}

fn succeeded(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.describe());
    run
}

/// The status of a `HEAD` of `repository`'s manifest `reference`, as the admin.
async fn manifest_status(registry: &TestRegistry, repository: &str, reference: &str) -> u16 {
    reqwest::Client::new()
        .head(registry.url(&format!("/v2/{repository}/manifests/{reference}")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("HEAD the manifest")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_or_a_manifest_is_deleted_after_saying_what_goes() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    for user in ["alice", "bob"] {
        let body = json!({ "name": user, "password": format!("{user}-password-1") });
        admin_call(&registry, reqwest::Method::POST, "/api/v1/users", body).await;
    }
    let host = host(&registry);
    let alice = AgentHome::new();
    let dir = alice.write_agent("planner", "1.0.0");
    let version = format!("{host}/alice/planner:1.0.0");
    let stable = format!("{host}/alice/planner:stable");
    let pushed = succeeded(as_alice(&alice, &["push", &version, dir.to_str().unwrap()]).await);
    let digest = pushed.field("digest");
    succeeded(as_alice(&alice, &["push", &stable, dir.to_str().unwrap()]).await);

    // Standard input is not a terminal here: nothing goes without --yes.
    refused(
        as_alice(&alice, &["delete", &version]).await,
        2,
        &format!("not deleting {version} without --yes"),
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", "1.0.0").await,
        200
    );
    // No tag and no digest is not taken to mean latest.
    refused(
        as_alice(
            &alice,
            &["delete", &format!("{host}/alice/planner"), "--yes"],
        )
        .await,
        2,
        "name a tag or a digest to delete",
    );
    refused(
        as_alice(
            &alice,
            &["delete", &format!("{host}/alice/planner:9.9.9"), "--yes"],
        )
        .await,
        4,
        "manifest alice/planner:9.9.9 not found",
    );
    // Someone who may not delete is refused, and nothing goes.
    let bob = AgentHome::new();
    let run = as_user(
        &bob,
        "bob",
        "bob-password-1",
        &["delete", &version, "--yes"],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.describe());
    assert_eq!(
        manifest_status(&registry, "alice/planner", "1.0.0").await,
        200
    );

    // The tag alone goes; the manifest stays under its other tag.
    let deleted = succeeded(as_alice(&alice, &["delete", &version, "--yes"]).await);
    assert_eq!(
        deleted.stdout.trim(),
        format!("deleted tag {version} (it named {digest})")
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", "1.0.0").await,
        404
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", "stable").await,
        200
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", &digest).await,
        200
    );

    // By digest: the manifest goes with every tag (a tag written with the
    // digest does not narrow it).
    let by_digest = format!("{host}/alice/planner:stable@{digest}");
    let deleted =
        succeeded(as_alice(&alice, &["delete", &by_digest, "--yes", "--format", "json"]).await);
    let report: Value = serde_json::from_str(&deleted.stdout).unwrap();
    assert_eq!(report["deleted"], "manifest");
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(
        report["reference"],
        format!("{host}/alice/planner@{digest}").as_str()
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", &digest).await,
        404
    );
    assert_eq!(
        manifest_status(&registry, "alice/planner", "stable").await,
        404
    );
    refused(
        as_alice(&alice, &["delete", &by_digest, "--yes"]).await,
        4,
        "not found",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_does_not_delete_tags_is_told_how_to_delete_the_manifest() {
    let Some(registry) = Distribution::start(&RegistryAuth::None).await else {
        return;
    };
    let host = registry.host();
    let home = AgentHome::new();
    let dir = home.write_agent("planner", "1.0.0");
    let version = format!("{host}/team/planner:1.0.0");
    let pushed = home.ok(&["push", &version, dir.to_str().unwrap()]).await;
    let digest = pushed.field("digest");

    // Distribution 2.8 answers a tag's DELETE with 400 DIGEST_INVALID.
    let run = home.fails(&["delete", &version, "--yes"], 13).await;
    let instead = format!("agent delete {host}/team/planner@{digest}");
    assert!(
        run.stderr.contains("does not delete tags") && run.stderr.contains(&instead),
        "{}",
        run.stderr
    );
    home.ok(&["inspect", "--remote-only", &version]).await;

    let deleted = home
        .ok(&["delete", &format!("{host}/team/planner@{digest}"), "--yes"])
        .await;
    assert_eq!(
        deleted.stdout.trim(),
        format!("deleted manifest {host}/team/planner@{digest} and its tags")
    );
    home.fails(&["inspect", "--remote-only", &version], 4).await;
}
