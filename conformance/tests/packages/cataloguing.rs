//! Cataloguing on push: a valid package is recorded, an invalid one is
//! refused with `MANIFEST_INVALID` and nothing is tagged, and manifests that
//! are not Sentinel packages are stored as before.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::support::*;

const PLANNER: &str = "description: Plans trips.\nauthor: Ada Lovelace <ada@example.com>\n\
license: MIT\ncapabilities: [plan, travel]\ntags: [trips]\nmodel:\n  provider: openai\n  name: gpt-4o\n";

#[tokio::test]
async fn a_valid_agent_is_searchable_listed_and_described() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.2.0", PLANNER);
    push_version(&oci, "team/planner", &agent).await;

    let found = search(&oci, "q=planner").await;
    assert_eq!(names(&found), ["team/planner"], "{found}");
    let summary = &found["packages"][0];
    assert_eq!(summary["kind"], "agent");
    assert_eq!(summary["latest"], "1.2.0");
    assert_eq!(summary["description"], "Plans trips.");
    assert_eq!(summary["author"], "Ada Lovelace <ada@example.com>");
    assert_eq!(summary["capabilities"], json!(["plan", "travel"]));
    assert_eq!(summary["tags"], json!(["trips"]));
    assert_eq!(found["total"], 1);

    let listed_versions = versions(&oci, "team/planner", "").await;
    assert_eq!(listed(&listed_versions), ["1.2.0"]);
    let version = row(&listed_versions, "1.2.0");
    assert_eq!(version["digest"], agent.digest());
    assert_eq!(version["size"], agent.sntl.len());
    assert_eq!(version["tag"], "1.2.0");
    assert_eq!(version["downloads"], 0);
    assert_eq!(version["deprecated"], json!(null));
    assert_eq!(listed_versions["latest"], "1.2.0");
    assert_eq!(listed_versions["kind"], "agent");

    let info = get_json(&oci, "/v1/packages/team/planner/1.2.0/info").await;
    assert_eq!(info["name"], "team/planner");
    assert_eq!(info["package"], "planner");
    assert_eq!(info["version"], "1.2.0");
    assert_eq!(info["digest"], agent.digest());
    assert_eq!(info["definition"]["name"], "planner");
    assert_eq!(info["definition"]["model"]["name"], "gpt-4o");
    assert_eq!(info["readme"], "# planner 1.2.0\n");
    assert_eq!(info["license"], "MIT");
    assert_eq!(info["package"], "planner");
    assert_eq!(info["file"]["name"], "planner-1.2.0.agent.sntl");
    assert_eq!(info["file"]["size"], agent.sntl.len());
    assert_eq!(info["file"]["digest"], agent.layer_digest());
    assert_eq!(info["dependents"], json!([]));

    // A stack naming the agent makes it a dependent.
    let crew = Package::stack("crew", "0.1.0", &[("planner", "team/planner:1.2.0")]);
    push_version(&oci, "team/crew", &crew).await;
    let info = get_json(&oci, "/v1/packages/team/planner/1.2.0/info").await;
    let dependents = info["dependents"].as_array().expect("dependents");
    assert_eq!(dependents.len(), 1, "{info}");
    assert_eq!(dependents[0]["name"], "team/crew");
    assert_eq!(dependents[0]["version"], "0.1.0");
    assert_eq!(dependents[0]["reference"], "team/planner:1.2.0");
    let listed_dependents = get_json(&oci, "/v1/packages/team/planner/dependents").await;
    assert_eq!(listed_dependents["dependents"][0]["name"], "team/crew");
    let stack = get_json(&oci, "/v1/packages/team/crew/0.1.0/info").await;
    assert_eq!(stack["kind"], "stack");
    assert_eq!(stack["members"][0]["repository"], "team/planner");
}

#[tokio::test]
async fn a_readme_over_256_kib_is_cut_at_256_kib() {
    let oci = Oci::start().await;
    let readme = "r".repeat(300 * 1024);
    let agent = Package::pack(&[
        ("agent.yaml", b"name: long-readme\nversion: 1.0.0\n"),
        ("README.md", readme.as_bytes()),
    ]);
    push_version(&oci, "team/long-readme", &agent).await;
    let info = get_json(&oci, "/v1/packages/team/long-readme/1.0.0/info").await;
    let stored = info["readme"].as_str().expect("a README");
    assert_eq!(stored.len(), 256 * 1024);
    assert!(readme.starts_with(stored));
}

#[tokio::test]
async fn an_invalid_definition_is_refused_with_every_problem() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let bad = b"name: Not_A_Name\nversion: one\nlicense: \"!!\"\nverison: 1\n".to_vec();
    oci.push_blob("team/planner", &bad).await;
    let mut manifest = agent.manifest_json();
    manifest["config"] = Descriptor::of(AGENT_CONFIG, &bad).to_json();
    let reply = put_package_manifest(&oci, "team/planner", "1.0.0", &agent, &manifest).await;
    let message = manifest_invalid(reply);
    let lines: Vec<&str> = message.lines().collect();
    assert!(lines.len() >= 3, "one problem a line: {message}");
    for field in ["name", "version", "license"] {
        assert!(message.contains(field), "{field} is named: {message}");
    }
    expect_untagged(&oci, "team/planner", "1.0.0").await;
    assert_eq!(
        listed_or_none(&oci, "team/planner").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn annotations_contradicting_the_definition_are_refused() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let mut manifest = agent.manifest_json();
    manifest["annotations"]["org.opencontainers.image.title"] = json!("someone-else");
    manifest["annotations"]["org.opencontainers.image.version"] = json!("9.9.9");
    let reply = put_package_manifest(&oci, "team/planner", "1.0.0", &agent, &manifest).await;
    let message = manifest_invalid(reply);
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(
        message.contains("someone-else") && message.contains("9.9.9"),
        "{message}"
    );
    expect_untagged(&oci, "team/planner", "1.0.0").await;
}

#[tokio::test]
async fn a_version_tag_that_is_not_the_packages_version_is_refused() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let message = manifest_invalid(put_package(&oci, "team/planner", "2.0.0", &agent).await);
    assert!(message.contains("1.0.0"), "{message}");
    expect_untagged(&oci, "team/planner", "2.0.0").await;
    // Any other tag is fine, and so is the version with a `v`.
    put_package(&oci, "team/planner", "stable", &agent)
        .await
        .expect_status(StatusCode::CREATED);
    put_package(&oci, "team/planner", "v1.0.0", &agent)
        .await
        .expect_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_config_blob_over_the_cap_is_refused_and_the_cap_said() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let mut huge = agent.config.clone();
    huge.resize(1024 * 1024 + 1, b'\n');
    oci.push_blob("team/planner", &huge).await;
    let mut manifest = agent.manifest_json();
    manifest["config"] = Descriptor::of(AGENT_CONFIG, &huge).to_json();
    let reply = put_package_manifest(&oci, "team/planner", "1.0.0", &agent, &manifest).await;
    let message = manifest_invalid(reply);
    assert!(message.contains("1048576"), "the cap is said: {message}");
    expect_untagged(&oci, "team/planner", "1.0.0").await;
}

#[tokio::test]
async fn a_layer_that_is_not_a_package_is_refused() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "");
    let junk = b"this is not a .sntl file at all".repeat(40);
    oci.push_blob("team/planner", &junk).await;
    let mut manifest = agent.manifest_json();
    let mut layer = Descriptor::of(AGENT_LAYER, &junk).to_json();
    layer["annotations"] = manifest["layers"][0]["annotations"].clone();
    manifest["layers"] = json!([layer]);
    let reply = put_package_manifest(&oci, "team/planner", "1.0.0", &agent, &manifest).await;
    let message = manifest_invalid(reply);
    assert!(message.contains("not a valid package"), "{message}");
    expect_untagged(&oci, "team/planner", "1.0.0").await;
}

#[tokio::test]
async fn a_layer_whose_definition_differs_from_the_config_is_refused() {
    let oci = Oci::start().await;
    let agent = Package::agent("planner", "1.0.0", "description: One.\n");
    let other = Package::agent("planner", "1.0.0", "description: Another.\n");
    push_blobs(&oci, "team/planner", &other).await;
    let mut manifest = agent.manifest_json();
    manifest["layers"][0]["digest"] = json!(other.layer_digest());
    manifest["layers"][0]["size"] = json!(other.sntl.len());
    let reply = put_package_manifest(&oci, "team/planner", "1.0.0", &agent, &manifest).await;
    let message = manifest_invalid(reply);
    assert!(message.contains("differs"), "{message}");
    expect_untagged(&oci, "team/planner", "1.0.0").await;
}

#[tokio::test]
async fn manifests_that_are_not_packages_are_unaffected() {
    let oci = Oci::start().await;
    // A plain image under a version tag, then another one under the same tag.
    oci.push_image("team/image", Some("1.0.0"), "first").await;
    let second = oci.push_image("team/image", Some("1.0.0"), "second").await;
    let reply = oci.get_manifest("team/image", "1.0.0").await;
    assert_eq!(reply.require_header("Docker-Content-Digest"), second.digest);
    // An artifact of another type, whose config says nothing of Sentinel.
    let config = oci.push_blob_desc("team/other", OCI_EMPTY, b"{}").await;
    let layer = oci
        .push_blob_desc(
            "team/other",
            "application/x-sentinel-agent",
            b"not a package",
        )
        .await;
    let mut manifest = image_manifest(&config, &[layer]);
    manifest["artifactType"] = json!("application/vnd.example.thing");
    oci.push_manifest("team/other", "2.0.0", OCI_MANIFEST, &to_bytes(&manifest))
        .await;

    assert_eq!(search(&oci, "").await["total"], 0);
    for repo in ["team/image", "team/other"] {
        send(oci.get(&format!("/v1/packages/{repo}/versions")))
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_repository_holds_one_package() {
    let oci = Oci::start().await;
    let planner = Package::agent("planner", "1.0.0", "");
    push_version(&oci, "team/planner", &planner).await;
    // Another name, or another kind, goes in a repository of its own.
    let helper = Package::agent("helper", "2.0.0", "");
    let message = manifest_invalid(put_package(&oci, "team/planner", "2.0.0", &helper).await);
    assert!(
        message.contains("\"planner\"") && message.contains("\"helper\""),
        "{message}"
    );
    expect_untagged(&oci, "team/planner", "2.0.0").await;
    let stack = Package::stack("planner", "3.0.0", &[("a", "team/a:1.0.0")]);
    let message = manifest_invalid(put_package(&oci, "team/planner", "3.0.0", &stack).await);
    assert!(message.contains("stack"), "{message}");
    // Once the repository holds no package, any may come.
    let digest = planner.digest();
    send(oci.delete(&format!("/v2/team/planner/manifests/{digest}")))
        .await
        .expect_status(StatusCode::ACCEPTED);
    push_version(&oci, "team/planner", &helper).await;
}

#[tokio::test]
async fn a_member_on_another_registry_is_not_a_dependent_here() {
    let oci = Oci::start().await;
    push_version(
        &oci,
        "team/planner",
        &Package::agent("planner", "1.0.0", ""),
    )
    .await;
    let crew = Package::stack(
        "crew",
        "1.0.0",
        &[
            ("here", "team/planner:1.0.0"),
            ("there", "elsewhere.example.com/team/planner:1.0.0"),
        ],
    );
    push_version(&oci, "team/crew", &crew).await;
    let listed = get_json(&oci, "/v1/packages/team/planner/dependents").await;
    let references: Vec<&str> = listed["dependents"]
        .as_array()
        .expect("dependents")
        .iter()
        .map(|d| d["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references, ["team/planner:1.0.0"]);
}
