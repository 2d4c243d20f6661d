//! Quotas, tag immutability rules and retention on the real binary, over
//! real HTTP: rules set with `sentinel-registry policy ...` while the
//! server runs, and through the management API.

#[path = "support/packages.rs"]
mod packages;
#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::time::{Duration, Instant};

use process::Process;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The `errors[0]` of an OCI error reply, with its status.
fn oci_error(reply: reqwest::blocking::Response) -> (u16, Value) {
    let status = reply.status().as_u16();
    let body: Value = reply.json().expect("an error envelope");
    (status, body["errors"][0].clone())
}

/// Whether a file under `dir` has a name containing `hex` (a blob's or
/// an upload's bytes).
fn stored_anywhere(dir: &Path, hex: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.file_name()
            .is_some_and(|name| name.to_string_lossy().contains(hex))
            || (path.is_dir() && stored_anywhere(&path, hex))
    })
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { files_under(&path) } else { 1 }
        })
        .sum()
}

/// Waits until `check` holds (the server reloads the policy file within a
/// quarter of a second).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The namespace usage gauge of `/metrics` for `namespace`.
fn usage_gauge(http: &Client, server: &Process, namespace: &str) -> Option<u64> {
    let text = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let prefix = format!("sentinel_namespace_usage_bytes{{namespace=\"{namespace}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().expect("a number"))
}

/// Pushes `manifest` (an image manifest over `blobs`, each pushed first)
/// to `repo:tag`; returns the manifest's bytes.
fn image(http: &Client, server: &Process, repo: &str, layer: &[u8]) -> Vec<u8> {
    for bytes in [&b"{}"[..], layer] {
        let reply = http
            .post(server.url(&format!(
                "/v2/{repo}/blobs/uploads/?digest={}",
                sha256(bytes)
            )))
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(reply.status(), 201);
    }
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": layer.len()}],
    }))
    .unwrap()
}

fn put_manifest(
    http: &Client,
    server: &Process,
    repo: &str,
    tag: &str,
    body: &[u8],
) -> reqwest::blocking::Response {
    http.put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.to_vec())
        .send()
        .unwrap()
}

#[test]
fn a_namespace_over_its_quota_is_refused_at_upload_start_and_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Set before the server starts; lifting it at the end shows a running
    // server picking the file's changes up.
    process::command_ok(data, &["policy", "quota", "set", "acme", "100"], "");
    let server = Process::start(data);
    let http = Client::new();
    let storage = data.join("storage");
    let monolithic = |repo: &str, bytes: &[u8]| {
        http.post(server.url(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            sha256(bytes)
        )))
        .body(bytes.to_vec())
        .send()
        .unwrap()
    };
    let first = vec![1u8; 60];
    assert_eq!(monolithic("acme/a", &first).status(), 201);
    let too_big = vec![2u8; 50];
    // Refused at the start, from its Content-Length, before a byte is stored.
    let (status, error) = oci_error(monolithic("acme/b", &too_big));
    assert_eq!((status, error["code"].as_str()), (403, Some("DENIED")));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("namespace acme has 60 B of its 100 B quota: 50 B more would exceed it"),
        "{message}"
    );
    assert_eq!(error["detail"]["usage"], 60);
    assert_eq!(error["detail"]["quota"], 100);
    let hex = &sha256(&too_big)["sha256:".len()..];
    assert!(!stored_anywhere(&storage, hex));
    // Another namespace is not charged.
    assert_eq!(monolithic("other/b", &too_big).status(), 201);

    // A chunked upload starts (the namespace is under its quota) and is
    // refused when it is completed: its bytes are discarded, its session gone.
    let session = http
        .post(server.url("/v2/acme/b/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(session.status(), 202);
    let location = session.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with('/') {
        server.url(&location)
    } else {
        location
    };
    let chunked = vec![3u8; 50];
    let patched = http
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .body(chunked.clone())
        .send()
        .unwrap();
    assert_eq!(patched.status(), 202);
    let separator = if location.contains('?') { '&' } else { '?' };
    let (status, error) = oci_error(
        http.put(format!("{location}{separator}digest={}", sha256(&chunked)))
            .send()
            .unwrap(),
    );
    assert_eq!((status, error["code"].as_str()), (403, Some("DENIED")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("has 60 B of its 100 B quota: 50 B more would exceed it"),
        "{error}"
    );
    assert!(!stored_anywhere(
        &storage,
        &sha256(&chunked)["sha256:".len()..]
    ));
    assert_eq!(files_under(&storage.join("uploads")), 0);
    assert_eq!(http.get(&location).send().unwrap().status(), 404);

    // A blob the namespace holds costs nothing: mounted, and pushed again.
    let mounted = http
        .post(server.url(&format!(
            "/v2/acme/c/blobs/uploads/?mount={}&from=acme/a",
            sha256(&first)
        )))
        .send()
        .unwrap();
    assert_eq!(mounted.status(), 201);
    assert_eq!(monolithic("acme/d", &first).status(), 201);
    // Up to the quota exactly, then no new upload at all.
    assert_eq!(monolithic("acme/e", &[4u8; 40]).status(), 201);
    assert_eq!(usage_gauge(&http, &server, "acme"), Some(100));
    let (status, error) = oci_error(
        http.post(server.url("/v2/acme/f/blobs/uploads/"))
            .send()
            .unwrap(),
    );
    assert_eq!((status, error["code"].as_str()), (403, Some("DENIED")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("100 B used of 100 B")
    );

    // Deleting a blob frees its bytes once no repository of the namespace
    // holds it.
    for repo in ["acme/a", "acme/c"] {
        let deleted = http
            .delete(server.url(&format!("/v2/{repo}/blobs/{}", sha256(&first))))
            .send()
            .unwrap();
        assert_eq!(deleted.status(), 202);
        assert_eq!(usage_gauge(&http, &server, "acme"), Some(100));
    }
    let deleted = http
        .delete(server.url(&format!("/v2/acme/d/blobs/{}", sha256(&first))))
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(usage_gauge(&http, &server, "acme"), Some(40));
    assert_eq!(monolithic("acme/b", &too_big).status(), 201);
    assert!(process::command_ok(data, &["policy", "quota", "list"], "").contains("acme"));
    process::command_ok(data, &["policy", "quota", "remove", "acme"], "");
    eventually("the quota is lifted", || {
        monolithic("acme/g", &[5u8; 500]).status() == 201
    });
}

#[test]
fn immutable_tags_neither_move_nor_go() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    process::command_ok(
        data,
        &[
            "policy",
            "immutable",
            "set",
            "acme/*",
            "--tag",
            "release-*",
            "--tag",
            "v*",
        ],
        "",
    );
    let listed = process::command_ok(data, &["policy", "immutable", "list"], "");
    assert!(listed.contains("release-*, v*"), "{listed}");
    // Set before the server starts; lifting it at the end shows a running
    // server picking the file's changes up.
    let server = Process::start(data);
    let http = Client::new();
    let one = image(&http, &server, "acme/app", b"one");
    let two = image(&http, &server, "acme/app", b"two");
    assert_eq!(
        put_manifest(&http, &server, "acme/app", "release-1", &one).status(),
        201
    );
    // Pushing the same manifest again is no move.
    assert_eq!(
        put_manifest(&http, &server, "acme/app", "release-1", &one).status(),
        201
    );
    let (status, error) = oci_error(put_manifest(&http, &server, "acme/app", "release-1", &two));
    assert_eq!((status, error["code"].as_str()), (403, Some("DENIED")));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("tag release-1 of acme/app is immutable"),
        "{error}"
    );
    assert_eq!(error["detail"]["digest"], sha256(&one));
    let (status, error) = oci_error(
        http.delete(server.url("/v2/acme/app/manifests/release-1"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 403);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("neither the tag nor its manifest can be deleted")
            && !message.contains("push under a new tag"),
        "a deletion is not told to push: {message}"
    );
    let (status, error) = oci_error(
        http.delete(server.url(&format!("/v2/acme/app/manifests/{}", sha256(&one))))
            .send()
            .unwrap(),
    );
    assert_eq!((status, error["code"].as_str()), (403, Some("DENIED")));
    // Other tags, and other namespaces, move and go as usual.
    assert_eq!(
        put_manifest(&http, &server, "acme/app", "dev", &one).status(),
        201
    );
    assert_eq!(
        put_manifest(&http, &server, "acme/app", "dev", &two).status(),
        201
    );
    let deleted = http
        .delete(server.url("/v2/acme/app/manifests/dev"))
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 202);
    let other_one = image(&http, &server, "other/app", b"one");
    let other_two = image(&http, &server, "other/app", b"two");
    assert_eq!(
        put_manifest(&http, &server, "other/app", "release-1", &other_one).status(),
        201
    );
    assert_eq!(
        put_manifest(&http, &server, "other/app", "release-1", &other_two).status(),
        201
    );
    // The tag still names the first manifest.
    let pulled = http
        .get(server.url("/v2/acme/app/manifests/release-1"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(pulled.as_ref(), one.as_slice());
    process::command_ok(data, &["policy", "immutable", "remove", "acme/*"], "");
    eventually("the rule is lifted", || {
        put_manifest(&http, &server, "acme/app", "release-1", &two).status() == 201
    });
}

#[test]
fn lifecycle_rules_and_usage_are_managed_over_the_management_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    process::command_ok(
        data,
        &["user", "add", "root", "--role", "admin", "--password-stdin"],
        "root-password\n",
    );
    process::command_ok(
        data,
        &["user", "add", "alice", "--password-stdin"],
        "alice-password\n",
    );
    process::command_ok(
        data,
        &["user", "add", "bob", "--password-stdin"],
        "bob-password-1\n",
    );
    process::command_ok(data, &["org", "create", "acme", "--owner", "alice"], "");
    let server = Process::start_with(data, &["--auth"]);
    let http = Client::new();
    let api = |method: reqwest::Method, path: &str, user: (&str, &str), body: Option<Value>| {
        let mut request = http
            .request(method, server.url(&format!("/api/v1/{path}")))
            .basic_auth(user.0, Some(user.1));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().unwrap();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let root = ("root", "root-password");
    let alice = ("alice", "alice-password");
    let bob = ("bob", "bob-password-1");
    use reqwest::Method;

    let (status, quota) = api(
        Method::PUT,
        "quotas/acme",
        root,
        Some(json!({"bytes": "1KiB"})),
    );
    assert_eq!(status, 200, "{quota}");
    assert_eq!(
        (quota["quota"].as_u64(), quota["usage"].as_u64()),
        (Some(1024), Some(0))
    );
    let (status, _) = api(Method::PUT, "quotas/acme", alice, Some(json!({"bytes": 1})));
    assert_eq!(status, 403);
    let (status, error) = api(Method::PUT, "quotas/Bad", root, Some(json!({"bytes": 1})));
    assert_eq!(
        (status, error["errors"][0]["code"].as_str()),
        (400, Some("INVALID"))
    );

    // Alice pushes to the organisation's namespace.
    let layer = vec![7u8; 300];
    let pushed = http
        .post(server.url(&format!(
            "/v2/acme/tool/blobs/uploads/?digest={}",
            sha256(&layer)
        )))
        .basic_auth("alice", Some("alice-password"))
        .body(layer.clone())
        .send()
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let (status, listed) = api(Method::GET, "quotas", root, None);
    assert_eq!(status, 200);
    assert_eq!(
        listed["quotas"],
        json!([{"namespace": "acme", "usage": 300, "quota": 1024, "source": "file"}])
    );
    for user in [root, alice] {
        let (status, usage) = api(Method::GET, "namespaces/acme/usage", user, None);
        assert_eq!(
            (status, usage["usage"].as_u64()),
            (200, Some(300)),
            "{user:?}"
        );
    }
    let (status, _) = api(Method::GET, "namespaces/acme/usage", bob, None);
    assert_eq!(status, 403);
    let (status, own) = api(Method::GET, "namespaces/bob/usage", bob, None);
    assert_eq!(
        (status, own["usage"].as_u64(), &own["quota"]),
        (200, Some(0), &Value::Null)
    );
    let (_, orgs) = api(Method::GET, "orgs", alice, None);
    assert_eq!(orgs["organisations"][0]["usage"], 300);
    assert_eq!(orgs["organisations"][0]["quota"], 1024);

    // Immutability rules and retention policies, by percent-encoded pattern.
    let (status, rule) = api(
        Method::PUT,
        "immutability-rules/acme%2F%2A",
        root,
        Some(json!({"tags": ["release-*"]})),
    );
    assert_eq!((status, rule["tags"].clone()), (200, json!(["release-*"])));
    let (status, listed) = api(Method::GET, "immutability-rules", root, None);
    assert_eq!(
        (status, listed["rules"][0]["repositories"].as_str()),
        (200, Some("acme/*"))
    );
    let (status, policy) = api(
        Method::POST,
        "retention-policies",
        root,
        Some(json!({"repositories": "acme/*", "keep_last": 3, "keep_matching": ">=1.0.0"})),
    );
    assert_eq!(status, 200, "{policy}");
    assert_eq!(
        (
            policy["keep_signed"].as_bool(),
            policy["keep_last"].as_u64()
        ),
        (Some(true), Some(3))
    );
    let (status, error) = api(
        Method::PUT,
        "retention-policies/acme%2Fx",
        root,
        Some(json!({"keep_signed": false})),
    );
    assert_eq!(status, 400, "{error}");
    assert!(
        error["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("keeps nothing")
    );
    let (status, report) = api(Method::POST, "retention/run?dry_run=true", root, None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["dry_run"].as_bool(), report["removed"].clone()),
        (Some(true), json!([]))
    );
    let (status, _) = api(Method::POST, "retention/run", alice, None);
    assert_eq!(status, 403);
    for path in [
        "retention-policies/acme%2F%2A",
        "immutability-rules/acme%2F%2A",
        "quotas/acme",
    ] {
        let (status, _) = api(Method::DELETE, path, root, None);
        assert_eq!(status, 204, "{path}");
        let (status, _) = api(Method::DELETE, path, root, None);
        assert_eq!(status, 404, "{path}");
    }
    // The file the API wrote is the one `policy ... list` reads.
    assert!(!process::command_ok(data, &["policy", "quota", "list"], "").contains("acme"));

    // Retention over the API deletes what the policy does not keep.
    for version in ["1.0.0", "2.0.0", "3.0.0"] {
        let published = http
            .put(server.url("/v1/packages/publish?repository=acme/bot"))
            .basic_auth("alice", Some("alice-password"))
            .body(packages::agent("bot", version, "", &[]))
            .send()
            .unwrap();
        assert_eq!(published.status(), 201, "{version}");
    }
    let (status, _) = api(
        Method::PUT,
        "retention-policies/acme/*",
        root,
        Some(json!({"keep_last": 1})),
    );
    assert_eq!(status, 200);
    let versions = |report: &Value| -> Vec<String> {
        let mut out: Vec<String> = report["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{}@{}",
                    v["repository"].as_str().unwrap(),
                    v["version"].as_str().unwrap()
                )
            })
            .collect();
        out.sort();
        out
    };
    let (_, dry) = api(Method::POST, "retention/run?dry_run=true", root, None);
    assert_eq!(versions(&dry), vec!["acme/bot@1.0.0", "acme/bot@2.0.0"]);
    let (status, run) = api(Method::POST, "retention/run", root, None);
    assert_eq!((status, run["dry_run"].as_bool()), (200, Some(false)));
    assert_eq!(versions(&run), vec!["acme/bot@1.0.0", "acme/bot@2.0.0"]);
    let tags: Value = http
        .get(server.url("/v2/acme/bot/tags/list"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags["tags"], json!(["3.0.0"]));
    let (_, again) = api(Method::POST, "retention/run", root, None);
    assert_eq!(again["removed"], json!([]));

    // A garbage collection applies the retention policies first.
    let published = http
        .put(server.url("/v1/packages/publish?repository=acme/bot"))
        .basic_auth("alice", Some("alice-password"))
        .body(packages::agent("bot", "4.0.0", "", &[]))
        .send()
        .unwrap();
    assert_eq!(published.status(), 201);
    let (status, collected) = api(Method::POST, "gc?grace=0s", root, None);
    assert_eq!(status, 200, "{collected}");
    assert_eq!(collected["versions_retired"], 1, "{collected}");
    assert!(
        collected["bytes_freed"].as_u64().unwrap() > 0,
        "the retired version's bytes are freed in the same run: {collected}"
    );
    let tags: Value = http
        .get(server.url("/v2/acme/bot/tags/list"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags["tags"], json!(["4.0.0"]));
}
