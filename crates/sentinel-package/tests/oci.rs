//! The OCI mapping: the manifest built for a package, and the checks on a pulled one.

use sentinel_package::oci::{BlobRef, MappingError, build_manifest, parse_manifest};
use sentinel_package::{Definition, Digest, PackageKind};

const CONFIG: &str = "sha256:473c76147d3f6ed8ac3811fb84ada99769e159e6ea9ea6453949aee031097904";
const LAYER: &str = "sha256:2578af28a34b3b0a0f943b12b2b42eee43103e414440c29c83b9e69dbc571f5f";

fn blob(digest: &str, size: u64) -> BlobRef {
    BlobRef {
        digest: digest.parse::<Digest>().unwrap(),
        size,
    }
}

fn definition(yaml: &str) -> Definition {
    Definition::parse(PackageKind::Agent, "agent.yaml", yaml.as_bytes()).unwrap()
}

#[test]
fn builds_a_compact_manifest_in_a_fixed_order() {
    let definition = definition(
        "name: research-agent\nversion: 1.2.0\ndescription: Finds papers.\nauthor: Ada <ada@example.com>\nlicense: MIT\nsource: https://github.com/acme/research-agent\n",
    );
    let manifest = build_manifest(
        &definition,
        &blob(CONFIG, 28),
        &blob(LAYER, 383),
        "research-agent-1.2.0.agent.sntl",
        "2025-01-02T03:04:05Z",
    );
    let expected = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""artifactType":"application/x-sentinel-agent","#,
            r#""config":{{"mediaType":"application/x-sentinel-agent-def+yaml","digest":"{config}","size":28}},"#,
            r#""layers":[{{"mediaType":"application/x-sentinel-agent","digest":"{layer}","size":383,"#,
            r#""annotations":{{"org.opencontainers.image.title":"research-agent-1.2.0.agent.sntl"}}}}],"#,
            r#""annotations":{{"org.opencontainers.image.authors":"Ada <ada@example.com>","#,
            r#""org.opencontainers.image.created":"2025-01-02T03:04:05Z","#,
            r#""org.opencontainers.image.description":"Finds papers.","#,
            r#""org.opencontainers.image.licenses":"MIT","#,
            r#""org.opencontainers.image.source":"https://github.com/acme/research-agent","#,
            r#""org.opencontainers.image.title":"research-agent","#,
            r#""org.opencontainers.image.version":"1.2.0"}}}}"#
        ),
        config = CONFIG,
        layer = LAYER
    );
    assert_eq!(String::from_utf8(manifest).unwrap(), expected);
}

#[test]
fn leaves_out_absent_metadata() {
    let manifest = build_manifest(
        &definition("name: tiny\nversion: 0.1.0\n"),
        &blob(CONFIG, 1),
        &blob(LAYER, 2),
        "tiny-0.1.0.agent.sntl",
        "",
    );
    let json: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let annotations = json["annotations"].as_object().unwrap();
    let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "org.opencontainers.image.title",
            "org.opencontainers.image.version"
        ]
    );
}

#[test]
fn a_built_manifest_parses_back() {
    let definition = definition("name: tiny\nversion: 0.1.0\nlicense: MIT\n");
    let bytes = build_manifest(
        &definition,
        &blob(CONFIG, 28),
        &blob(LAYER, 383),
        "tiny-0.1.0.agent.sntl",
        "2025-01-02T03:04:05Z",
    );
    let view = parse_manifest(&bytes).unwrap();
    assert_eq!(view.kind, PackageKind::Agent);
    assert_eq!(view.config, blob(CONFIG, 28));
    assert_eq!(view.package, blob(LAYER, 383));
    assert_eq!(
        view.package_file_name.as_deref(),
        Some("tiny-0.1.0.agent.sntl")
    );
    assert_eq!(view.annotations["org.opencontainers.image.licenses"], "MIT");

    let stack = Definition::parse(
        PackageKind::Stack,
        "stack.yaml",
        b"name: team\nversion: 1.0.0\nagents:\n  - name: a\n    ref: a:1\n",
    )
    .unwrap();
    let bytes = build_manifest(
        &stack,
        &blob(CONFIG, 1),
        &blob(LAYER, 2),
        "team-1.0.0.stack.sntl",
        "",
    );
    assert_eq!(parse_manifest(&bytes).unwrap().kind, PackageKind::Stack);
}

fn manifest_json(artifact_type: Option<&str>, config_type: &str, layer_types: &[&str]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layer_types
        .iter()
        .map(|t| serde_json::json!({"mediaType": t, "digest": LAYER, "size": 10}))
        .collect();
    let mut json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": CONFIG, "size": 5},
        "layers": layers,
    });
    if let Some(artifact_type) = artifact_type {
        json["artifactType"] = artifact_type.into();
    }
    serde_json::to_vec(&json).unwrap()
}

const AGENT_ARTIFACT: &str = "application/x-sentinel-agent";
const AGENT_CONFIG: &str = "application/x-sentinel-agent-def+yaml";

#[test]
fn accepts_a_manifest_without_artifact_type_from_older_clients() {
    let view = parse_manifest(&manifest_json(None, AGENT_CONFIG, &[AGENT_ARTIFACT])).unwrap();
    assert_eq!(view.kind, PackageKind::Agent);
    assert_eq!(view.package_file_name, None);
}

#[test]
fn refuses_manifests_that_are_not_sentinel_packages() {
    let image = manifest_json(
        None,
        "application/vnd.oci.image.config.v1+json",
        &["application/vnd.oci.image.layer.v1.tar+gzip"],
    );
    assert!(matches!(
        parse_manifest(&image),
        Err(MappingError::NotAPackage { .. })
    ));

    let empty_config = manifest_json(
        Some(AGENT_ARTIFACT),
        "application/vnd.oci.empty.v1+json",
        &[AGENT_ARTIFACT],
    );
    assert!(matches!(
        parse_manifest(&empty_config),
        Err(MappingError::ConfigMediaType { .. })
    ));

    let other_kind_config = manifest_json(
        Some(AGENT_ARTIFACT),
        "application/x-sentinel-stack-def+yaml",
        &[AGENT_ARTIFACT],
    );
    assert!(matches!(
        parse_manifest(&other_kind_config),
        Err(MappingError::ConfigMediaType { .. })
    ));

    let two_layers = manifest_json(
        Some(AGENT_ARTIFACT),
        AGENT_CONFIG,
        &[AGENT_ARTIFACT, AGENT_ARTIFACT],
    );
    assert!(matches!(
        parse_manifest(&two_layers),
        Err(MappingError::LayerCount(2))
    ));

    let no_layers = manifest_json(Some(AGENT_ARTIFACT), AGENT_CONFIG, &[]);
    assert!(matches!(
        parse_manifest(&no_layers),
        Err(MappingError::LayerCount(0))
    ));

    let wrong_layer = manifest_json(
        Some(AGENT_ARTIFACT),
        AGENT_CONFIG,
        &["application/x-sentinel-stack"],
    );
    assert!(matches!(
        parse_manifest(&wrong_layer),
        Err(MappingError::LayerMediaType { .. })
    ));

    let mut docker: serde_json::Value = serde_json::from_slice(&manifest_json(
        Some(AGENT_ARTIFACT),
        AGENT_CONFIG,
        &[AGENT_ARTIFACT],
    ))
    .unwrap();
    docker["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    assert!(matches!(
        parse_manifest(&serde_json::to_vec(&docker).unwrap()),
        Err(MappingError::MediaType(_))
    ));

    docker["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    docker["schemaVersion"] = 1.into();
    assert!(matches!(
        parse_manifest(&serde_json::to_vec(&docker).unwrap()),
        Err(MappingError::SchemaVersion(1))
    ));

    assert!(matches!(
        parse_manifest(b"not json"),
        Err(MappingError::Json(_))
    ));
    let bad_digest = String::from_utf8(manifest_json(
        Some(AGENT_ARTIFACT),
        AGENT_CONFIG,
        &[AGENT_ARTIFACT],
    ))
    .unwrap()
    .replace(CONFIG, "sha256:nothex");
    assert!(matches!(
        parse_manifest(bad_digest.as_bytes()),
        Err(MappingError::Json(_))
    ));
}
