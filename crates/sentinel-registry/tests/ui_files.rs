//! The files of a package version over real HTTP with the real binary: the
//! list from the inventory, a Markdown file rendered with its relative links
//! leading to the other files, text shown escaped, a file that is not text
//! or too long, and the same visibility as the package page.

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

#[test]
fn a_version_s_files_are_listed_and_shown() {
    let data = tempfile::tempdir().unwrap();
    process::command_ok(
        data.path(),
        &["user", "add", ALICE.0, "--password-stdin"],
        &format!("{}\n", ALICE.1),
    );
    let server = Process::start(data.path());
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
    let hidden = package("hidden", &[("secret.txt", b"nobody else\n")]);
    for (repository, sntl) in [("alice/demo", demo), ("alice/hidden", hidden)] {
        let published = http
            .put(server.url(&format!("/v1/packages/publish?repository={repository}")))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .body(sntl)
            .send()
            .unwrap();
        assert_eq!(published.status(), 201, "{repository}");
    }
    process::command_ok(
        data.path(),
        &["repo", "visibility", "alice/demo", "public"],
        "",
    );
    let get = |path: &str| {
        let response = http.get(server.url(path)).send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get("/packages/alice/demo").0 != 200 {
        assert!(Instant::now() < deadline, "alice/demo never became public");
        std::thread::sleep(Duration::from_millis(250));
    }
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
    let published = http
        .put(server.url("/v1/packages/publish?repository=alice/many"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .body(package("many", &many))
        .send()
        .unwrap();
    assert_eq!(published.status(), 201);
    process::command_ok(
        data.path(),
        &["repo", "visibility", "alice/many", "public"],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while get("/packages/alice/many").0 != 200 {
        assert!(Instant::now() < deadline, "alice/many never became public");
        std::thread::sleep(Duration::from_millis(250));
    }
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
