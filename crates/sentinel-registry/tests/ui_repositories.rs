//! The web UI's repository pages over real HTTP: the list shows only what
//! the visitor may see, and a repository's page its tags, digests, sizes,
//! the platforms of an image index and the referrers of its manifests.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/process.rs"]
mod process;

use std::time::Instant;

use browser::{Browser, OCI_INDEX, OCI_MANIFEST, Pusher, add_user};
use process::Process;
use serde_json::json;

/// The repository names the list page shows, in order.
fn listed(page: &str) -> Vec<String> {
    let marker = r#"<a class="repository-link" href="/repositories/"#;
    page.match_indices(marker)
        .map(|(at, _)| {
            let rest = &page[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn the_list_shows_only_what_the_visitor_may_see() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", "alice-password");
    add_user(dir.path(), "bob", "bob-password");
    process::command_ok(
        dir.path(),
        &["repo", "visibility", "alice/public", "public"],
        "",
    );
    let server = Process::start(dir.path());
    let alice = Pusher::new(server.base(), Some(("alice", "alice-password")));
    alice.image("alice/private", "v1", b"private");
    alice.image("alice/public", "v1", b"public");
    Pusher::new(server.base(), Some(("bob", "bob-password"))).image("bob/own", "v1", b"bob");

    let mut anonymous = Browser::new(server.base());
    let page = anonymous.get("/repositories");
    assert_eq!(page.status, 200);
    assert_eq!(listed(&page.body), ["alice/public"]);
    assert_eq!(anonymous.get("/repositories/alice/private").status, 404);
    assert_eq!(anonymous.get("/repositories/bob/own").status, 404);
    assert_eq!(
        anonymous.get("/repositories/nobody/nothing").status,
        404,
        "missing and hidden look the same"
    );

    let mut visitor = Browser::new(server.base());
    assert_eq!(visitor.sign_in("alice", "alice-password", "").status, 303);
    assert_eq!(
        listed(&visitor.get("/repositories").body),
        ["alice/private", "alice/public"]
    );
    assert_eq!(visitor.get("/repositories/bob/own").status, 404);

    let mut bob = Browser::new(server.base());
    assert_eq!(bob.sign_in("bob", "bob-password", "").status, 303);
    assert_eq!(
        listed(&bob.get("/repositories").body),
        ["alice/public", "bob/own"]
    );
}

#[test]
fn a_repository_page_shows_tags_platforms_sizes_and_referrers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let push = Pusher::new(server.base(), None);
    let repo = "acme/app";

    let amd64 = push.image(repo, "amd64", b"amd64 layer");
    let arm64 = push.image(repo, "arm64", b"arm64 layer, a little longer");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd64, "size": 10,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": arm64, "size": 20,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    });
    let index_digest = push.manifest(repo, "1.0", OCI_INDEX, &index);
    let empty = push.blob(repo, "application/vnd.oci.empty.v1+json", b"{}");
    let sbom = push.blob(repo, "application/spdx+json", b"{\"spdx\":true}");
    let referrer = push.manifest(
        repo,
        &browser::sha256(
            &serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/spdx+json",
                "config": empty,
                "layers": [sbom],
                "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": serde_json::to_vec(&index).unwrap().len()},
            }))
            .unwrap(),
        ),
        OCI_MANIFEST,
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": empty,
            "layers": [sbom],
            "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": serde_json::to_vec(&index).unwrap().len()},
        }),
    );

    let mut visitor = Browser::new(server.base());
    let list = visitor.get("/repositories");
    assert_eq!(listed(&list.body), [repo]);
    assert!(
        list.body
            .contains(r#"<span class="tag-count">3 tags</span>"#),
        "{}",
        list.body
    );

    let page = visitor.get("/repositories/acme/app");
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    assert!(html.contains(r#"<h1 id="repository-name">acme/app</h1>"#));
    assert_eq!(html.matches(r#"<tr class="tag">"#).count(), 3);
    for tag in ["1.0", "amd64", "arm64"] {
        assert!(
            html.contains(&format!(r#"<td class="tag-name">{tag}</td>"#)),
            "{tag}: {html}"
        );
    }
    assert!(
        html.contains(&format!(r#"title="{index_digest}""#)),
        "{html}"
    );
    assert!(html.contains(OCI_INDEX));
    // Each platform with its image's size (manifest, config and layer);
    // the index with those images.
    let manifest_len = |reference: &str| {
        reqwest::blocking::Client::new()
            .get(format!("{}/v2/{repo}/manifests/{reference}", server.base()))
            .header("accept", OCI_MANIFEST)
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .len() as u64
    };
    let amd64_size = manifest_len("amd64") + 2 + b"amd64 layer".len() as u64;
    let arm64_size = manifest_len("arm64") + 2 + b"arm64 layer, a little longer".len() as u64;
    for (platform, size) in [("linux/amd64", amd64_size), ("linux/arm64/v8", arm64_size)] {
        let chip = format!(
            r#"<span class="chip">{platform} <span class="meta">{}</span></span>"#,
            sentinel_ui::format::bytes(size)
        );
        assert!(html.contains(&chip), "{chip}: {html}");
    }
    let index_size = serde_json::to_vec(&index).unwrap().len() as u64 + amd64_size + arm64_size;
    let cell = format!(
        r#"<td class="size num">{}</td>"#,
        sentinel_ui::format::bytes(index_size)
    );
    assert!(html.contains(&cell), "{cell}: {html}");
    let referrers = &html[html.find(r#"id="referrers""#).expect("#referrers")..];
    assert!(
        referrers.contains(r#"<span class="artifact-type">application/spdx+json</span>"#),
        "{referrers}"
    );
    assert!(referrers.contains(&format!(r#"title="{referrer}""#)));
    assert!(referrers.contains(r#"<span class="subject">1.0</span>"#));
    assert!(!html.contains("package-page"), "no package here");
    // The pull command names the registry by the request's host (the tag
    // first in order is 1.0, the index)...
    let host = server.base().trim_start_matches("http://");
    assert!(
        html.contains(&format!("docker pull {host}/acme/app:1.0")),
        "{html}"
    );
    // ...but only when that is a plain host: a forged one is not echoed.
    let forged = reqwest::blocking::Client::new()
        .get(format!("{}/repositories/acme/app", server.base()))
        .header("host", "evil.example/x onmouseover=alert(1)")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        forged.contains("docker pull localhost/acme/app:1.0"),
        "{forged}"
    );
    assert!(!forged.contains("evil.example"), "{forged}");
}

#[test]
fn many_tags_are_paged_and_each_page_is_quick() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let push = Pusher::new(server.base(), None);
    let digest = push.image("big/tags", "t000", b"one layer");
    let manifest = reqwest::blocking::Client::new()
        .get(server.url(&format!("/v2/big/tags/manifests/{digest}")))
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for i in 1..250 {
        push.manifest("big/tags", &format!("t{i:03}"), OCI_MANIFEST, &body);
    }

    let mut visitor = Browser::new(server.base());
    let started = Instant::now();
    let first = visitor.get("/repositories/big/tags");
    let took = started.elapsed();
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches(r#"<tr class="tag">"#).count(), 100);
    assert!(first.body.contains(r#"<td class="tag-name">t099</td>"#));
    assert!(!first.body.contains(r#"<td class="tag-name">t100</td>"#));
    let next = first.field_href("next-page").expect("a next page");
    assert_eq!(next, "/repositories/big/tags?last=t099");
    let second = visitor.get(&next);
    assert!(second.body.contains(r#"<td class="tag-name">t100</td>"#));
    let third = visitor.get(&second.field_href("next-page").unwrap());
    assert_eq!(third.body.matches(r#"<tr class="tag">"#).count(), 50);
    assert!(third.field_href("next-page").is_none());
    // A debug build on a shared machine: a loose bound that still catches
    // a page that reads every tag.
    assert!(took.as_millis() < 2_000, "{took:?}");
    assert!(
        visitor
            .get("/repositories")
            .body
            .contains(r#"<span class="tag-count">250 tags</span>"#)
    );
}
