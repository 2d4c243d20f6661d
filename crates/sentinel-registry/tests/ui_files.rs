//! The files of a package version over real HTTP with the real binary: the
//! list from the inventory, a Markdown file rendered with its relative links
//! leading to the other files, text shown escaped, a file that is not text
//! or too long, images served as they are (and nothing else), and the same
//! visibility as the package page.

#[path = "support/packages.rs"]
mod packages;
#[path = "support/process.rs"]
mod process;

use std::time::{Duration, Instant};

use process::Process;

const ALICE: (&str, &str) = ("alice", "correct horse battery");

/// Packs the agent `name` 1.0.0 with `files` (path, content) besides its
/// `agent.yaml`.
fn package(name: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    packages::agent(name, "1.0.0", "", files)
}

/// A registry whose one user is alice, and its data directory.
fn start() -> (tempfile::TempDir, Process) {
    let data = tempfile::tempdir().unwrap();
    process::command_ok(
        data.path(),
        &["user", "add", ALICE.0, "--password-stdin"],
        &format!("{}\n", ALICE.1),
    );
    let server = Process::start(data.path());
    (data, server)
}

/// Publishes `sntl` to `repository` as alice; when `public`, makes it
/// public and waits until an anonymous visitor sees its page.
fn publish(
    (data, server): &(tempfile::TempDir, Process),
    repository: &str,
    sntl: Vec<u8>,
    public: bool,
) {
    let http = reqwest::blocking::Client::new();
    let published = http
        .put(server.url(&format!("/v1/packages/publish?repository={repository}")))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .body(sntl)
        .send()
        .unwrap();
    assert_eq!(published.status(), 201, "{repository}");
    if !public {
        return;
    }
    process::command_ok(
        data.path(),
        &["repo", "visibility", repository, "public"],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = server.url(&format!("/packages/{repository}"));
    while http.get(&page).send().unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "{repository} never became public"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_version_s_files_are_listed_and_shown() {
    let registry = start();
    let server = &registry.1;
    let http = reqwest::blocking::Client::new();
    let long = "line of text\n".repeat(50_000);
    // Incompressible: the package is larger than the registry reads whole,
    // so it is streamed when published and when a file is read.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let weights: Vec<u8> = std::iter::once(0)
        .chain((0..100_000).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }))
        .collect();
    let demo = package(
        "demo",
        &[
            (
                "README.md",
                b"# Demo\n\nSee [the usage](docs/usage.md#set-up) and [main](src/main.py).\n",
            ),
            (
                "docs/usage.md",
                b"## Set up\n\nBack to [the README](../README.md). [Out](../../etc/passwd)\n",
            ),
            ("src/main.py", b"print('<script>alert(1)</script>')\n"),
            ("model.bin", &weights),
            ("big.txt", long.as_bytes()),
            ("docs/my notes.txt", b"spaces in the name\n"),
        ],
    );
    publish(&registry, "alice/demo", demo, true);
    let hidden = package("hidden", &[("secret.txt", b"nobody else\n")]);
    publish(&registry, "alice/hidden", hidden, false);
    let get = |path: &str| {
        let response = http.get(server.url(path)).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let files = "/packages/alice/demo/1.0.0/files";

    // The package page links its files, and its README's relative links
    // lead there.
    let (_, page) = get("/packages/alice/demo");
    assert!(
        page.contains(&format!(r#"<a href="{files}" id="files-link">"#)),
        "{page}"
    );
    assert!(
        page.contains(&format!(r##"href="{files}/docs/usage.md#readme-set-up""##)),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"href="{files}/src/main.py""#)),
        "{page}"
    );

    // The list: every file with its size, linked.
    let (status, list) = get(files);
    assert_eq!(status, 200, "{list}");
    for path in [
        "README.md",
        "agent.yaml",
        "big.txt",
        "docs/usage.md",
        "model.bin",
        "src/main.py",
    ] {
        assert!(
            list.contains(&format!(
                r#"<a class="file-link" href="{files}/{path}">{path}</a>"#
            )),
            "{path}: {list}"
        );
    }
    assert!(list.contains(&format!(
        r#"href="{files}/docs/my%20notes.txt">docs/my notes.txt</a>"#
    )));
    assert!(list.contains("7 files"), "{list}");

    // A Markdown file, rendered; its links resolve from its directory, and
    // one that climbs out of the package is dropped.
    let (status, usage) = get(&format!("{files}/docs/usage.md"));
    assert_eq!(status, 200, "{usage}");
    assert!(
        usage.contains(r#"<h3 id="readme-set-up">Set up</h3>"#),
        "{usage}"
    );
    assert!(
        usage.contains(&format!(r#"href="{files}/README.md""#)),
        "{usage}"
    );
    assert!(!usage.contains("passwd"), "{usage}");

    // Text, escaped.
    let (_, main) = get(&format!("{files}/src/main.py"));
    assert!(main.contains("&#60;script&#62;alert(1)"), "{main}");
    assert!(!main.contains("<script>alert"), "{main}");
    // Spaces in a name.
    let (status, notes) = get(&format!("{files}/docs/my%20notes.txt"));
    assert_eq!(status, 200);
    assert!(notes.contains("spaces in the name"), "{notes}");
    // Not text.
    assert!(list.contains(">100 KB<"), "{list}");
    let (_, binary) = get(&format!("{files}/model.bin"));
    assert!(binary.contains(r#"id="file-binary""#), "{binary}");
    // Long: its start, said to be cut.
    let (_, big) = get(&format!("{files}/big.txt"));
    assert!(big.contains(r#"id="file-cut""#));
    assert!(big.len() < long.len(), "the whole file was sent");
    // A file the package does not have, and a version it does not have.
    let (status, _) = get(&format!("{files}/nothing.txt"));
    assert_eq!(status, 404);
    let (status, _) = get("/packages/alice/demo/9.9.9/files");
    assert_eq!(status, 404);

    // A long list is paged, 1,000 files a page.
    let names: Vec<String> = (0..1_001).map(|n| format!("data/{n:04}.txt")).collect();
    let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    publish(&registry, "alice/many", package("many", &many), true);
    let many_files = "/packages/alice/many/1.0.0/files";
    let (_, first) = get(many_files);
    assert_eq!(first.matches(r#"<tr class="file">"#).count(), 1_000);
    assert!(first.contains("files 1–1000 of 1002"), "{first}");
    assert!(first.contains(&format!(
        r#"<a id="next-files" rel="next" href="{many_files}?from=1000">"#
    )));
    let (_, second) = get(&format!("{many_files}?from=1000"));
    assert_eq!(second.matches(r#"<tr class="file">"#).count(), 2);
    assert!(second.contains(&format!(
        r#"<a id="previous-files" rel="prev" href="{many_files}">"#
    )));
    assert!(!second.contains("next-files"));

    // A private package's files are as missing as its page.
    for path in [
        "/packages/alice/hidden/1.0.0/files",
        "/packages/alice/hidden/1.0.0/files/secret.txt",
    ] {
        let (status, body) = get(path);
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("nobody else"), "{body}");
    }
}

/// A 2x2 PNG: red, green; blue, white.
const TINY_PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x12\x49\x44\x41\x54\x78\xda\x63\xf8\xcf\xc0\xc0\x00\xc2\x0c\xff\x81\x00\x00\x1f\xee\x05\xfb\xf1\xab\xba\x77\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

#[test]
fn images_are_served_as_they_are_and_nothing_else_is() {
    use sha2::Digest as _;

    let registry = start();
    let server = &registry.1;
    let http = reqwest::blocking::Client::new();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#;
    let pics = package(
        "pics",
        &[
            (
                "README.md",
                b"# Pics\n\n![diagram](docs/diagram.png) ![logo](logo.svg) ![page](page.html)\n",
            ),
            ("docs/diagram.png", TINY_PNG),
            ("logo.svg", svg),
            ("page.html", b"<script>alert(3)</script>"),
        ],
    );
    publish(&registry, "alice/pics", pics, true);
    publish(
        &registry,
        "alice/shy",
        package("shy", &[("face.png", TINY_PNG)]),
        false,
    );
    let get = |path: &str| http.get(server.url(path)).send().unwrap();
    let raw = "/packages/alice/pics/1.0.0/raw";

    // The README's relative images load from the package; a file that is
    // not an image is no image source.
    let page = get("/packages/alice/pics").text().unwrap();
    for image in ["docs/diagram.png", "logo.svg"] {
        assert!(
            page.contains(&format!(r#"src="{raw}/{image}""#)),
            "{image}: {page}"
        );
    }
    assert!(!page.contains("page.html"), "{page}");

    // The image as it is, typed, tagged with its SHA-256, and under a
    // policy where nothing runs.
    let response = get(&format!("{raw}/docs/diagram.png"));
    assert_eq!(response.status(), 200);
    let header = |response: &reqwest::blocking::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&response, "content-type"), "image/png");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(header(&response, "cache-control").starts_with("private"));
    let policy = header(&response, "content-security-policy");
    assert!(
        policy.contains("sandbox") && policy.contains("default-src 'none'"),
        "{policy}"
    );
    assert!(!policy.contains("script-src"), "{policy}");
    let etag = header(&response, "etag");
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(sha2::Sha256::digest(TINY_PNG)))
    );
    assert_eq!(response.bytes().unwrap().as_ref(), TINY_PNG);
    // Asked again with its tag: not sent again.
    let again = http
        .get(server.url(&format!("{raw}/docs/diagram.png")))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());
    // An SVG is an image too, and its scripts cannot run even opened alone.
    let response = get(&format!("{raw}/logo.svg"));
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/svg+xml");
    assert!(header(&response, "content-security-policy").contains("sandbox"));

    // Nothing else is served as it is: not HTML, not Markdown, not a file
    // the package lacks, not a path out of it.
    for path in [
        format!("{raw}/page.html"),
        format!("{raw}/README.md"),
        format!("{raw}/nothing.png"),
        format!("{raw}/"),
        "/packages/alice/pics/9.9.9/raw/docs/diagram.png".to_owned(),
    ] {
        let response = get(&path);
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            header(&response, "content-type").starts_with("text/html"),
            "{path}"
        );
        let body = response.text().unwrap();
        assert!(!body.contains("alert(3)"), "{path}: {body}");
    }

    // The file's page shows the image.
    let shown = get("/packages/alice/pics/1.0.0/files/docs/diagram.png")
        .text()
        .unwrap();
    assert!(
        shown.contains(&format!(r#"id="file-image" src="{raw}/docs/diagram.png""#)),
        "{shown}"
    );

    // A private package's images are as missing as its page.
    let response = get("/packages/alice/shy/1.0.0/raw/face.png");
    assert_eq!(response.status(), 404);
    assert_ne!(response.bytes().unwrap().as_ref(), TINY_PNG);
}
