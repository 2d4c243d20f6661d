//! The server's signature policy (issue 13, section 3) over real HTTP, with
//! authentication on: policies set through the management API, signature
//! artifacts built with `sentinel-signature` and pushed like `agent sign`
//! pushes them, and pulls by a reader (who may not push) refused or served.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use sentinel_conformance::ADMIN_PASSWORD;
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, SIGNATURE_ARTIFACT_TYPE, SigningKey, Statement, Subject,
};
use serde_json::{Value, json};

/// A registry with authentication on, an admin and a reader.
struct World {
    oci: Oci,
}

/// Who sends a request.
#[derive(Clone, Copy)]
enum Who {
    Admin,
    Reader,
    /// A publisher, made by the tests that need one.
    Publisher,
}

impl World {
    async fn start() -> World {
        let oci = Oci {
            reg: sentinel_conformance::TestRegistry::start_with(|s| s.auth = Some(true)).await,
            http: sentinel_conformance::client(),
        };
        let world = World { oci };
        world
            .api(
                Method::POST,
                "/api/v1/users",
                json!({"name": "rita", "password": "rita-password-1234", "role": "reader"}),
            )
            .await
            .expect_status(StatusCode::CREATED);
        world
    }

    fn request(&self, who: Who, method: Method, path: &str) -> reqwest::RequestBuilder {
        let (user, password) = match who {
            Who::Admin => ("admin", ADMIN_PASSWORD),
            Who::Reader => ("rita", "rita-password-1234"),
            Who::Publisher => ("paul", "paul-password-1234"),
        };
        self.oci.req(method, path).basic_auth(user, Some(password))
    }

    async fn api(&self, method: Method, path: &str, body: Value) -> Reply {
        send(self.request(Who::Admin, method, path).json(&body)).await
    }

    /// Lets the reader pull `repo`.
    async fn grant_read(&self, repo: &str) {
        self.api(
            Method::PUT,
            &format!("/api/v1/repositories/{repo}/grants/rita"),
            json!({"access": "read"}),
        )
        .await
        .expect_status(StatusCode::NO_CONTENT);
    }

    async fn set_policy(&self, pattern: &str, require: bool, keys: &[&SigningKey]) -> Reply {
        let pems: Vec<String> = keys.iter().map(|k| k.public_key().to_pem()).collect();
        self.api(
            Method::PUT,
            &format!("/api/v1/signature-policies/{pattern}"),
            json!({"require_signature": require, "keys": pems}),
        )
        .await
    }

    async fn manifest(&self, who: Who, method: Method, repo: &str, reference: &str) -> Reply {
        send(
            self.request(who, method, &format!("/v2/{repo}/manifests/{reference}"))
                .header("Accept", ACCEPT_MANIFESTS),
        )
        .await
    }

    async fn blob(&self, who: Who, repo: &str, digest: &str) -> Reply {
        send(self.request(who, Method::GET, &format!("/v2/{repo}/blobs/{digest}"))).await
    }

    async fn push_blob(&self, who: Who, repo: &str, bytes: &[u8]) -> Descriptor {
        let digest = sha256_digest(bytes);
        let reply = send(
            self.request(
                who,
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        Descriptor::new("application/octet-stream", &digest, bytes.len())
    }

    async fn put_manifest(
        &self,
        who: Who,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Reply {
        send(
            self.request(
                who,
                Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
            )
            .header("Content-Type", media_type)
            .body(body.to_vec()),
        )
        .await
    }

    /// Pushes a small image as the admin; `seed` makes it unique.
    async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> Image {
        let config_bytes = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer_bytes = format!("layer bytes for {seed}").into_bytes();
        let mut config = self
            .push_blob(Who::Admin, repo, config_bytes.as_bytes())
            .await;
        config.media_type = OCI_CONFIG.into();
        let mut layer = self.push_blob(Who::Admin, repo, &layer_bytes).await;
        layer.media_type = OCI_LAYER.into();
        let manifest = to_bytes(&image_manifest(&config, std::slice::from_ref(&layer)));
        let digest = sha256_digest(&manifest);
        self.put_manifest(Who::Admin, repo, tag, OCI_MANIFEST, &manifest)
            .await
            .expect_status(StatusCode::CREATED);
        Image {
            descriptor: Descriptor::new(OCI_MANIFEST, &digest, manifest.len()),
            manifest,
            digest,
            config,
            layer,
            layer_bytes,
        }
    }

    /// Pushes a signature artifact of `subject` holding `envelope`, as
    /// `who`; returns the reply and the artifact's digest.
    async fn push_signature(
        &self,
        who: Who,
        repo: &str,
        subject: &Descriptor,
        envelope: &[u8],
    ) -> (Reply, String) {
        let empty = self.push_blob(who, repo, b"{}").await;
        let layer = self.push_blob(who, repo, envelope).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": 2},
            "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}],
            "subject": subject.to_json(),
        });
        let body = to_bytes(&manifest);
        let digest = sha256_digest(&body);
        let reply = self
            .put_manifest(who, repo, &digest, OCI_MANIFEST, &body)
            .await;
        (reply, digest)
    }

    /// Signs `subject` with `key` and pushes the signature as the admin.
    async fn sign(&self, repo: &str, subject: &Descriptor, key: &SigningKey) -> Vec<u8> {
        let envelope = envelope_for(subject, key);
        let (reply, _) = self
            .push_signature(Who::Admin, repo, subject, &envelope)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        envelope
    }
}

/// A DSSE envelope signing `subject` with `key`.
fn envelope_for(subject: &Descriptor, key: &SigningKey) -> Vec<u8> {
    let statement = Statement::new(Subject {
        digest: subject.digest.parse().unwrap(),
        media_type: subject.media_type.clone(),
        size: subject.size,
    });
    Envelope::sign(&statement, key).to_json()
}

/// Asserts a `403 DENIED` naming the policy.
fn assert_unsigned(reply: &Reply, pattern: &str) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    if !reply.text().is_empty() {
        let body: Value = serde_json::from_str(&reply.text()).unwrap();
        assert_eq!(body["errors"][0]["code"], "DENIED");
        assert_eq!(
            body["errors"][0]["message"],
            format!("{pattern}: not signed by a trusted key")
        );
    }
}

/// Asserts a `400 MANIFEST_INVALID` whose message contains `words`.
fn assert_invalid_signature(reply: &Reply, words: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    let body: Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
}

#[tokio::test]
async fn policies_are_set_listed_and_removed_through_the_management_api() {
    let world = World::start().await;
    let key = SigningKey::generate();
    let set = world.set_policy("acme/*", true, &[&key]).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    world
        .api(
            Method::POST,
            "/api/v1/signature-policies",
            json!({"repositories": "*", "require_signature": false}),
        )
        .await
        .expect_status(StatusCode::OK);
    let listed: Value = serde_json::from_str(
        &world
            .api(Method::GET, "/api/v1/signature-policies", json!(null))
            .await
            .text(),
    )
    .unwrap();
    let policies = listed["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0]["repositories"], "acme/*");
    assert_eq!(policies[0]["require_signature"], true);
    assert_eq!(policies[0]["keys"][0]["id"], key.id().to_string());
    assert_eq!(policies[0]["source"], "file");
    assert_eq!(policies[1]["repositories"], "*");

    // Bad input: a malformed pattern, no key for a required policy, a bad key.
    let bad = world.set_policy("acme*", true, &[&key]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let keyless = world.set_policy("acme/x", true, &[]).await;
    assert_eq!(keyless.status, StatusCode::BAD_REQUEST);
    assert!(keyless.text().contains("at least one trusted key"));
    let junk = world
        .api(
            Method::PUT,
            "/api/v1/signature-policies/acme/x",
            json!({"keys": ["not a key"]}),
        )
        .await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST, "{}", junk.text());

    // Admins only.
    let reader = send(world.request(Who::Reader, Method::GET, "/api/v1/signature-policies")).await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);

    world
        .api(
            Method::DELETE,
            "/api/v1/signature-policies/acme%2F%2A",
            json!(null),
        )
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let missing = world
        .api(
            Method::DELETE,
            "/api/v1/signature-policies/acme/*",
            json!(null),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let listed: Value = serde_json::from_str(
        &world
            .api(Method::GET, "/api/v1/signature-policies", json!(null))
            .await
            .text(),
    )
    .unwrap();
    assert_eq!(listed["policies"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pulls_need_a_trusted_signature_where_the_policy_requires_one() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let stranger = SigningKey::generate();
    let repo = "signed/app";
    let signed = world.push_image(repo, "1", "signed").await;
    let unsigned = world.push_image(repo, "2", "unsigned").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);

    // Unsigned: refused by tag and by digest, GET and HEAD, with its blobs.
    for reference in ["1", signed.digest.as_str()] {
        for method in [Method::GET, Method::HEAD] {
            let reply = world.manifest(Who::Reader, method, repo, reference).await;
            assert_unsigned(&reply, "signed/*");
        }
    }
    assert_unsigned(
        &world.blob(Who::Reader, repo, &signed.layer.digest).await,
        "signed/*",
    );
    // The pusher still reads what it must sign.
    world
        .manifest(Who::Admin, Method::GET, repo, "1")
        .await
        .expect_status(StatusCode::OK);
    world
        .blob(Who::Admin, repo, &signed.layer.digest)
        .await
        .expect_status(StatusCode::OK);

    // Signed by a trusted key: served, by tag and digest, with its blobs.
    let envelope = world.sign(repo, &signed.descriptor, &trusted).await;
    for reference in ["1", signed.digest.as_str()] {
        world
            .manifest(Who::Reader, Method::GET, repo, reference)
            .await
            .expect_status(StatusCode::OK);
    }
    let layer = world.blob(Who::Reader, repo, &signed.layer.digest).await;
    assert_eq!(layer.status, StatusCode::OK);
    assert_eq!(layer.body, signed.layer_bytes);
    world
        .blob(Who::Reader, repo, &signed.config.digest)
        .await
        .expect_status(StatusCode::OK);

    // The referrers listing and the signature artifacts stay readable.
    let referrers = send(world.request(
        Who::Reader,
        Method::GET,
        &format!("/v2/{repo}/referrers/{}", signed.digest),
    ))
    .await;
    assert_eq!(referrers.status, StatusCode::OK);
    let listing: Value = serde_json::from_str(&referrers.text()).unwrap();
    let artifact = listing["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        listing["manifests"][0]["artifactType"],
        SIGNATURE_ARTIFACT_TYPE
    );
    let body = world
        .manifest(Who::Reader, Method::GET, repo, &artifact)
        .await;
    assert_eq!(body.status, StatusCode::OK);
    let manifest: Value = serde_json::from_slice(&body.body).unwrap();
    let envelope_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let read = world.blob(Who::Reader, repo, envelope_digest).await;
    assert_eq!(read.body, envelope);

    // The other image stays refused, even signed by a key not trusted.
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "2").await,
        "signed/*",
    );
    world.sign(repo, &unsigned.descriptor, &stranger).await;
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "2").await,
        "signed/*",
    );
    assert_unsigned(
        &world.blob(Who::Reader, repo, &unsigned.layer.digest).await,
        "signed/*",
    );

    // A valid signature moved onto another subject is refused.
    let (moved, _) = world
        .push_signature(Who::Admin, repo, &unsigned.descriptor, &envelope)
        .await;
    assert_invalid_signature(&moved, "the envelope signs");
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "2").await,
        "signed/*",
    );

    // The manifest changed after signing is a new digest, unsigned.
    let mut changed: Value = serde_json::from_slice(&signed.manifest).unwrap();
    changed["annotations"] = json!({"changed": "after signing"});
    let changed = to_bytes(&changed);
    world
        .put_manifest(Who::Admin, repo, "1", OCI_MANIFEST, &changed)
        .await
        .expect_status(StatusCode::CREATED);
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/*",
    );
    world
        .manifest(Who::Reader, Method::GET, repo, &signed.digest)
        .await
        .expect_status(StatusCode::OK);

    // A repository outside the policy is not affected.
    let other = world.push_image("elsewhere/app", "1", "elsewhere").await;
    world.grant_read("elsewhere/app").await;
    world
        .manifest(Who::Reader, Method::GET, "elsewhere/app", &other.digest)
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn bad_signature_artifacts_are_refused_with_clear_errors() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let repo = "signed/bad";
    let image = world.push_image(repo, "1", "bad").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);

    let (junk, _) = world
        .push_signature(
            Who::Admin,
            repo,
            &image.descriptor,
            b"not an envelope at all",
        )
        .await;
    assert_invalid_signature(&junk, "the envelope is invalid");

    let mut wrong_type: Value =
        serde_json::from_slice(&envelope_for(&image.descriptor, &trusted)).unwrap();
    wrong_type["payloadType"] = json!("application/vnd.in-toto+json");
    let (wrong, _) = world
        .push_signature(Who::Admin, repo, &image.descriptor, &to_bytes(&wrong_type))
        .await;
    assert_invalid_signature(&wrong, "envelope");

    let mut tampered: Value =
        serde_json::from_slice(&envelope_for(&image.descriptor, &trusted)).unwrap();
    let other = envelope_for(&image.descriptor, &SigningKey::generate());
    let other: Value = serde_json::from_slice(&other).unwrap();
    tampered["signatures"][0]["sig"] = other["signatures"][0]["sig"].clone();
    let (forged, _) = world
        .push_signature(Who::Admin, repo, &image.descriptor, &to_bytes(&tampered))
        .await;
    assert_invalid_signature(&forged, "does not verify");

    let megabyte = vec![b'x'; 1024 * 1024];
    let (large, _) = world
        .push_signature(Who::Admin, repo, &image.descriptor, &megabyte)
        .await;
    assert_invalid_signature(&large, "at most 65536");

    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/*",
    );

    // A signature pushed by a caller who may not push is refused.
    let envelope = envelope_for(&image.descriptor, &trusted);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": sha256_digest(b"{}"), "size": 2},
        "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": sha256_digest(&envelope), "size": envelope.len()}],
        "subject": image.descriptor.to_json(),
    });
    let body = to_bytes(&manifest);
    let refused = world
        .put_manifest(
            Who::Reader,
            repo,
            &sha256_digest(&body),
            OCI_MANIFEST,
            &body,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/*",
    );
}

#[tokio::test]
async fn signed_indexes_open_their_children_and_removed_keys_stop_counting() {
    let world = World::start().await;
    let old_key = SigningKey::generate();
    let new_key = SigningKey::generate();
    let repo = "signed/multi";
    let child = world.push_image(repo, "child", "child").await;
    let index = to_bytes(&image_index(std::slice::from_ref(&child.descriptor)));
    let index_digest = sha256_digest(&index);
    world
        .put_manifest(Who::Admin, repo, "1", OCI_INDEX, &index)
        .await
        .expect_status(StatusCode::CREATED);
    let index_descriptor = Descriptor::new(OCI_INDEX, &index_digest, index.len());
    world.grant_read(repo).await;
    world
        .set_policy("signed/multi", true, &[&old_key])
        .await
        .expect_status(StatusCode::OK);
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/multi",
    );

    let envelope = world.sign(repo, &index_descriptor, &old_key).await;
    world
        .manifest(Who::Reader, Method::GET, repo, "1")
        .await
        .expect_status(StatusCode::OK);
    // containerd pulls the index, then a child by digest, then its blobs.
    world
        .manifest(Who::Reader, Method::GET, repo, &child.digest)
        .await
        .expect_status(StatusCode::OK);
    world
        .blob(Who::Reader, repo, &child.layer.digest)
        .await
        .expect_status(StatusCode::OK);

    // The key leaves the policy: its signatures stop counting, even replayed.
    world
        .set_policy("signed/multi", true, &[&new_key])
        .await
        .expect_status(StatusCode::OK);
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/multi",
    );
    assert_unsigned(
        &world
            .manifest(Who::Reader, Method::GET, repo, &child.digest)
            .await,
        "signed/multi",
    );
    let (replayed, _) = world
        .push_signature(Who::Admin, repo, &index_descriptor, &envelope)
        .await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{}", replayed.text());
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/multi",
    );

    // Trusted again: counts again. Not required: everything is served.
    world
        .set_policy("signed/multi", true, &[&old_key, &new_key])
        .await
        .expect_status(StatusCode::OK);
    world
        .manifest(Who::Reader, Method::GET, repo, "1")
        .await
        .expect_status(StatusCode::OK);
    world
        .api(
            Method::DELETE,
            "/api/v1/signature-policies/signed/multi",
            json!(null),
        )
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let unsigned = world.push_image(repo, "2", "unsigned").await;
    world
        .manifest(Who::Reader, Method::GET, repo, &unsigned.digest)
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_signature_artifact_opens_only_its_envelope() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let stranger = SigningKey::generate();
    let repo = "signed/config";
    let unsigned = world.push_image(repo, "1", "unsigned").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);

    // A signature artifact (by a key nobody trusts) whose config names the
    // unsigned image's layer: stored, but it does not open that layer.
    let envelope = envelope_for(&unsigned.descriptor, &stranger);
    let layer = world.push_blob(Who::Admin, repo, &envelope).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": unsigned.layer.digest, "size": unsigned.layer.size},
        "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}],
        "subject": unsigned.descriptor.to_json(),
    });
    let body = to_bytes(&manifest);
    world
        .put_manifest(Who::Admin, repo, &sha256_digest(&body), OCI_MANIFEST, &body)
        .await
        .expect_status(StatusCode::CREATED);
    assert_unsigned(
        &world.blob(Who::Reader, repo, &unsigned.layer.digest).await,
        "signed/*",
    );
    // The artifact itself and its envelope stay readable.
    world
        .manifest(Who::Reader, Method::GET, repo, &sha256_digest(&body))
        .await
        .expect_status(StatusCode::OK);
    world
        .blob(Who::Reader, repo, &layer.digest)
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_missing_envelope_costs_its_signature_not_the_repository() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let repo = "signed/gone";
    let first = world.push_image(repo, "1", "first").await;
    let second = world.push_image(repo, "2", "second").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);
    let envelope = world.sign(repo, &first.descriptor, &trusted).await;
    world.sign(repo, &second.descriptor, &trusted).await;
    world
        .manifest(Who::Reader, Method::GET, repo, "1")
        .await
        .expect_status(StatusCode::OK);

    // The first signature's envelope is deleted; after a restart, what the
    // signatures prove is worked out again from storage.
    send(world.request(
        Who::Admin,
        Method::DELETE,
        &format!("/v2/{repo}/blobs/{}", sha256_digest(&envelope)),
    ))
    .await
    .expect_status(StatusCode::ACCEPTED);
    let World { oci } = world;
    let world = World {
        oci: oci.restart().await,
    };

    world
        .manifest(Who::Reader, Method::GET, repo, "2")
        .await
        .expect_status(StatusCode::OK);
    world
        .blob(Who::Reader, repo, &second.layer.digest)
        .await
        .expect_status(StatusCode::OK);
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "1").await,
        "signed/*",
    );
}

#[tokio::test]
async fn the_first_read_after_a_restart_is_answered_from_storage() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let repo = "signed/restart";
    let signed = world.push_image(repo, "1", "signed").await;
    world.push_image(repo, "2", "unsigned").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);
    world.sign(repo, &signed.descriptor, &trusted).await;

    let World { oci } = world;
    let world = World {
        oci: oci.restart().await,
    };
    world
        .manifest(Who::Reader, Method::GET, repo, "1")
        .await
        .expect_status(StatusCode::OK);
    world
        .blob(Who::Reader, repo, &signed.layer.digest)
        .await
        .expect_status(StatusCode::OK);
    assert_unsigned(
        &world.manifest(Who::Reader, Method::GET, repo, "2").await,
        "signed/*",
    );
}

#[tokio::test]
async fn a_key_removed_while_a_view_is_built_stops_counting() {
    let world = World::start().await;
    let old_key = SigningKey::generate();
    let new_key = SigningKey::generate();
    let repo = "signed/race";
    let image = world.push_image(repo, "1", "race").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&old_key])
        .await
        .expect_status(StatusCode::OK);
    // Many signature artifacts, so that building the view takes a while.
    let envelope = envelope_for(&image.descriptor, &old_key);
    let empty = world.push_blob(Who::Admin, repo, b"{}").await;
    let layer = world.push_blob(Who::Admin, repo, &envelope).await;
    for n in 0..300 {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": 2},
            "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}],
            "subject": image.descriptor.to_json(),
            "annotations": {"n": n.to_string()},
        });
        let body = to_bytes(&manifest);
        world
            .put_manifest(Who::Admin, repo, &sha256_digest(&body), OCI_MANIFEST, &body)
            .await
            .expect_status(StatusCode::CREATED);
    }

    // The old key leaves the policy while a read builds the view with it:
    // once the change is answered, its signatures count no more.
    for round in 0..12u64 {
        world
            .set_policy("signed/*", true, &[&old_key])
            .await
            .expect_status(StatusCode::OK);
        let read = world.manifest(Who::Reader, Method::GET, repo, "1");
        let change = async {
            tokio::time::sleep(std::time::Duration::from_millis(round * 3)).await;
            world.set_policy("signed/*", true, &[&new_key]).await
        };
        let (_, changed) = tokio::join!(read, change);
        changed.expect_status(StatusCode::OK);
        assert_unsigned(
            &world.manifest(Who::Reader, Method::GET, repo, "1").await,
            "signed/*",
        );
    }
}

#[tokio::test]
async fn a_mount_out_of_a_repository_that_requires_signatures_follows_its_policy() {
    let world = World::start().await;
    let trusted = SigningKey::generate();
    let repo = "signed/source";
    let image = world.push_image(repo, "1", "source").await;
    world
        .api(
            Method::POST,
            "/api/v1/users",
            json!({"name": "paul", "password": "paul-password-1234", "role": "publisher"}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    world
        .api(
            Method::PUT,
            &format!("/api/v1/repositories/{repo}/grants/paul"),
            json!({"access": "read"}),
        )
        .await
        .expect_status(StatusCode::NO_CONTENT);
    world
        .set_policy("signed/*", true, &[&trusted])
        .await
        .expect_status(StatusCode::OK);
    let mount = |digest: String| {
        send(world.request(
            Who::Publisher,
            Method::POST,
            &format!("/v2/paul/own/blobs/uploads/?mount={digest}&from={repo}"),
        ))
    };

    // The publisher may not GET the unsigned layer from the source, so it
    // cannot mount it into its own repository and read it there.
    assert_unsigned(
        &world.blob(Who::Publisher, repo, &image.layer.digest).await,
        "signed/*",
    );
    let refused = mount(image.layer.digest.clone()).await;
    assert_eq!(refused.status, StatusCode::ACCEPTED, "{}", refused.text());
    world
        .blob(Who::Publisher, "paul/own", &image.layer.digest)
        .await
        .expect_status(StatusCode::NOT_FOUND);

    // Signed, the layer is readable from the source, and so mountable.
    world.sign(repo, &image.descriptor, &trusted).await;
    let mounted = mount(image.layer.digest.clone()).await;
    assert_eq!(mounted.status, StatusCode::CREATED, "{}", mounted.text());
    let read = world
        .blob(Who::Publisher, "paul/own", &image.layer.digest)
        .await;
    assert_eq!(read.body, image.layer_bytes);
}

#[tokio::test]
async fn a_push_extends_the_view_instead_of_rebuilding_it() {
    let world = World::start().await;
    let key = SigningKey::generate();
    let repo = "signed/busy";
    let image = world.push_image(repo, "1", "busy").await;
    world.grant_read(repo).await;
    world
        .set_policy("signed/*", true, &[&key])
        .await
        .expect_status(StatusCode::OK);
    world.sign(repo, &image.descriptor, &key).await;
    // Many signatures, so that building the view from every manifest of
    // the repository takes a while.
    let envelope = envelope_for(&image.descriptor, &key);
    let empty = world.push_blob(Who::Admin, repo, b"{}").await;
    let layer = world.push_blob(Who::Admin, repo, &envelope).await;
    for n in 0..600 {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": 2},
            "layers": [{"mediaType": ENVELOPE_MEDIA_TYPE, "digest": layer.digest, "size": layer.size}],
            "subject": image.descriptor.to_json(),
            "annotations": {"n": n.to_string()},
        });
        let body = to_bytes(&manifest);
        world
            .put_manifest(Who::Admin, repo, &sha256_digest(&body), OCI_MANIFEST, &body)
            .await
            .expect_status(StatusCode::CREATED);
    }
    let timed_read = || async {
        let started = std::time::Instant::now();
        world
            .manifest(Who::Reader, Method::GET, repo, "1")
            .await
            .expect_status(StatusCode::OK);
        started.elapsed()
    };
    let build = timed_read().await;

    // Pushes, each followed by a read: the view is extended, not rebuilt.
    let mut after_push = Vec::new();
    for round in 0..5 {
        let pushed = world
            .push_image(repo, &format!("other-{round}"), &format!("other-{round}"))
            .await;
        after_push.push(timed_read().await);
        assert_unsigned(
            &world
                .manifest(Who::Reader, Method::GET, repo, &pushed.digest)
                .await,
            "signed/*",
        );
    }
    after_push.sort();
    assert!(
        after_push[2] * 5 < build,
        "a read after a push took {:?} (median), the first read {build:?}",
        after_push[2]
    );

    // What a push makes signed is opened at once: a signature of a manifest
    // not pushed yet, then the manifest, then its layer.
    let later_layer = b"layer of an image signed before its push".to_vec();
    let mut later_layer_descriptor = world.push_blob(Who::Admin, repo, &later_layer).await;
    later_layer_descriptor.media_type = OCI_LAYER.into();
    let later = to_bytes(&image_manifest(
        &image.config,
        std::slice::from_ref(&later_layer_descriptor),
    ));
    let later_descriptor = Descriptor::new(OCI_MANIFEST, &sha256_digest(&later), later.len());
    world.sign(repo, &later_descriptor, &key).await;
    assert_unsigned(
        &world
            .blob(Who::Reader, repo, &later_layer_descriptor.digest)
            .await,
        "signed/*",
    );
    world
        .put_manifest(Who::Admin, repo, "later", OCI_MANIFEST, &later)
        .await
        .expect_status(StatusCode::CREATED);
    world
        .manifest(Who::Reader, Method::GET, repo, "later")
        .await
        .expect_status(StatusCode::OK);
    let read = world
        .blob(Who::Reader, repo, &later_layer_descriptor.digest)
        .await;
    assert_eq!(read.body, later_layer);
}
