//! A package page lists its versions 100 at a time, highest first, with
//! links to the newer and older pages, over real HTTP with the real binary.

#[path = "support/packages.rs"]
mod packages;
#[path = "support/process.rs"]
mod process;

use process::Process;

/// A `.sntl` of the agent `name` at `version`.
fn package(name: &str, version: &str) -> Vec<u8> {
    packages::agent(name, version, "", &[])
}

/// The versions the page's table lists, in order.
fn listed(page: &str) -> Vec<String> {
    let marker = r#"<a class="version-link" href="/packages/acme/many/"#;
    page.match_indices(marker)
        .map(|(at, _)| {
            let rest = &page[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The `href` of the link with id `id`, with `&amp;` read back.
fn href(page: &str, id: &str) -> Option<String> {
    let start = page.find(&format!(r#"<a id="{id}" "#))?;
    let rest = &page[start..];
    let rest = &rest[rest.find("href=\"")? + 6..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

#[test]
fn versions_beyond_a_hundred_are_paged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let http = reqwest::blocking::Client::new();
    // 0.1.0 ... 0.1.204: 205 versions.
    for patch in 0..205 {
        let published = http
            .put(server.url("/v1/packages/publish?repository=acme/many"))
            .body(package("many", &format!("0.1.{patch}")))
            .send()
            .unwrap();
        assert_eq!(published.status(), 201, "0.1.{patch}");
    }
    let get = |path: &str| {
        let response = http.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().unwrap()
    };
    let expected = |from: u32, to: u32| -> Vec<String> {
        (to..=from)
            .rev()
            .map(|patch| format!("0.1.{patch}"))
            .collect()
    };

    let first = get("/packages/acme/many");
    assert_eq!(listed(&first), expected(204, 105));
    assert!(first.contains("versions 1–100 of 205"), "{first}");
    assert_eq!(href(&first, "newer-versions"), None);
    let older = href(&first, "older-versions").expect("a link to older versions");
    assert_eq!(older, "/packages/acme/many?versions=100#versions");

    let second = get(older.trim_end_matches("#versions"));
    assert_eq!(listed(&second), expected(104, 5));
    assert!(second.contains("versions 101–200 of 205"), "{second}");
    assert_eq!(
        href(&second, "newer-versions").as_deref(),
        Some("/packages/acme/many#versions")
    );
    let last = get(&href(&second, "older-versions")
        .unwrap()
        .replace("#versions", ""));
    assert_eq!(listed(&last), expected(4, 0));
    assert!(last.contains("versions 201–205 of 205"), "{last}");
    assert_eq!(href(&last, "older-versions"), None);
    assert_eq!(
        href(&last, "newer-versions").as_deref(),
        Some("/packages/acme/many?versions=100#versions")
    );

    // A version's own page pages its table the same way, and still shows
    // that version (its row is on the first page, and it is the one shown).
    let version = get("/packages/acme/many/0.1.3?versions=200");
    assert_eq!(listed(&version), expected(4, 0));
    assert!(version.contains(r#"<tr class="version current">"#));
    assert_eq!(
        href(&version, "newer-versions").as_deref(),
        Some("/packages/acme/many/0.1.3?versions=100#versions")
    );

    // Nonsense or out of range: the first page.
    for query in [
        "versions=abc",
        "versions=-1",
        "versions=205",
        "versions=99999999999999999999",
    ] {
        let page = get(&format!("/packages/acme/many?{query}"));
        assert_eq!(listed(&page), expected(204, 105), "{query}");
    }

    // A package with fewer versions has no pager at all.
    let published = http
        .put(server.url("/v1/packages/publish?repository=acme/few"))
        .body(package("few", "1.0.0"))
        .send()
        .unwrap();
    assert_eq!(published.status(), 201);
    assert!(!get("/packages/acme/few").contains("versions-pager"));
}
