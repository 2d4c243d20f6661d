//! The `agent` CLI against the real `sentinel-registry`, in process on
//! 127.0.0.1: the README's new-user flow and the transfer rules.

mod common;

use common::{AgentHome, assert_re_push_uploads_nothing_and_mounts, tree};
use sentinel_conformance::TestRegistry;

fn host(registry: &TestRegistry) -> String {
    registry
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_push_pull_images_on_a_clean_store() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    let dir = author.path().join("hello");
    author.ok(&["init", dir.to_str().unwrap()]).await;
    let reference = format!("{host}/me/hello:0.1.0");
    let pushed = author
        .ok(&["push", &reference, dir.to_str().unwrap()])
        .await;
    assert!(
        pushed.stdout.contains(&format!("pushed {reference}")),
        "{}",
        pushed.stdout
    );
    let digest = pushed.field("digest");
    assert!(digest.starts_with("sha256:"), "{digest}");

    let reader = AgentHome::new();
    let pulled = reader.ok(&["pull", &reference]).await;
    assert_eq!(pulled.field("digest"), digest);
    assert_eq!(tree(&reader.path().join("hello")), tree(&dir));

    let images = reader.ok(&["images"]).await;
    assert!(images.stdout.contains(&reference), "{}", images.stdout);
    assert!(images.stdout.contains("0.1.0"), "{}", images.stdout);
    let json = reader.ok(&["images", "--format", "json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[0]["reference"], reference.as_str());
    assert_eq!(rows[0]["name"], "hello");
    assert_eq!(rows[0]["kind"], "agent");

    let inspect = reader
        .ok(&["inspect", "--remote-only", "--format", "json", &reference])
        .await;
    let shown: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(shown["digest"], digest.as_str());
    assert_eq!(shown["artifact_type"], "application/x-sentinel-agent");
    assert_eq!(
        shown["config"]["mediaType"],
        "application/x-sentinel-agent-def+yaml"
    );
    assert_eq!(shown["definition"]["name"], "hello");
    assert_eq!(
        shown["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "hello-0.1.0.agent.sntl"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_push_uploads_nothing_and_another_repository_mounts() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    assert_re_push_uploads_nothing_and_mounts(&AgentHome::new(), &host).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_without_a_reference_uses_the_name_and_version() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let dir = home.write_agent("planner", "2.0.0-rc.1");
    let pushed = home
        .ok(&["push", "--registry", &host, dir.to_str().unwrap()])
        .await;
    assert!(
        pushed
            .stdout
            .contains(&format!("pushed {host}/planner:2.0.0-rc.1")),
        "{}",
        pushed.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_tag_that_is_not_the_packages_version_is_refused_before_any_upload() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let dir = home.write_agent("hello", "0.2.0");
    let reference = format!("{host}/me/hello:0.1.0");
    let refused = home
        .fails(&["push", &reference, dir.to_str().unwrap()], 2)
        .await;
    assert!(
        refused
            .stderr
            .contains("tag 0.1.0 is a version, but the package is version 0.2.0"),
        "{}",
        refused.stderr
    );
    // Nothing reached the registry, and the store names nothing.
    let tags = reqwest::get(registry.url("/v2/me/hello/tags/list"))
        .await
        .unwrap();
    assert_eq!(tags.status(), reqwest::StatusCode::NOT_FOUND);
    let images = home.ok(&["images"]).await;
    assert!(!images.stdout.contains("me/hello"), "{}", images.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_tags_and_unreachable_registries_have_their_own_exit_codes() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let missing = home
        .fails(&["pull", &format!("{host}/me/absent:9.9.9")], 4)
        .await;
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let unreachable = home
        .fails(&["pull", "127.0.0.1:1/me/absent:1.0.0"], 5)
        .await;
    assert!(
        unreachable.stderr.contains("cannot connect to 127.0.0.1:1"),
        "{}",
        unreachable.stderr
    );
    let invalid = home.fails(&["pull", "Me/UPPER"], 2).await;
    assert!(
        invalid.stderr.contains("invalid reference"),
        "{}",
        invalid.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn packing_twice_gives_the_same_bytes() {
    let home = AgentHome::new();
    let dir = home.write_agent("steady", "1.0.0");
    let first = home.path().join("first.agent.sntl");
    let second = home.path().join("second.agent.sntl");
    let a = home
        .ok(&["pack", dir.to_str().unwrap(), "-o", first.to_str().unwrap()])
        .await;
    // Touch every file: times must not matter.
    for (path, _) in tree(&dir) {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join(path))
            .unwrap();
        file.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400),
        )
        .unwrap();
    }
    let b = home
        .ok(&[
            "pack",
            dir.to_str().unwrap(),
            "-o",
            second.to_str().unwrap(),
        ])
        .await;
    assert_eq!(a.field("digest"), b.field("digest"));
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );

    let out = home.path().join("unpacked");
    home.ok(&[
        "unpack",
        first.to_str().unwrap(),
        "-C",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(tree(&out), tree(&dir));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_file_pushes_and_every_local_tag_follows_with_all_tags() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let dir = home.write_agent("filed", "0.3.0");
    let file = home.path().join("filed.agent.sntl");
    home.ok(&["pack", dir.to_str().unwrap(), "-o", file.to_str().unwrap()])
        .await;
    let reference = format!("{host}/me/filed:0.3.0");
    home.ok(&[
        "push",
        &reference,
        "--file",
        file.to_str().unwrap(),
        "--quiet",
    ])
    .await;
    home.ok(&["tag", &reference, &format!("{host}/me/filed:stable")])
        .await;
    let all = home
        .ok(&[
            "push",
            &reference,
            "--file",
            file.to_str().unwrap(),
            "--all-tags",
        ])
        .await;
    assert!(
        all.stdout
            .contains(&format!("pushed {host}/me/filed:stable")),
        "{}",
        all.stdout
    );

    let reader = AgentHome::new();
    let out = reader.path().join("stable");
    reader
        .ok(&[
            "pull",
            &format!("{host}/me/filed:stable"),
            "-d",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(tree(&out), tree(&dir));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_file_as_the_positional_argument_is_pushed_and_never_repacked() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let dir = home.write_agent("positional", "1.0.0");
    let first = dir.join("first.agent.sntl");
    let second = dir.join("second.agent.sntl");
    let a = home
        .ok(&["pack", dir.to_str().unwrap(), "-o", first.to_str().unwrap()])
        .await;
    // The first package now lies in the directory: it is not packed again.
    let b = home
        .ok(&[
            "pack",
            dir.to_str().unwrap(),
            "-o",
            second.to_str().unwrap(),
        ])
        .await;
    assert_eq!(a.field("digest"), b.field("digest"));

    let reference = format!("{host}/me/positional:1.0.0");
    let pushed = home
        .ok(&["push", &reference, first.to_str().unwrap()])
        .await;
    assert!(
        pushed.stdout.contains(&format!("pushed {reference}")),
        "{}",
        pushed.stdout
    );
    let alone = home
        .ok(&["push", "--registry", &host, second.to_str().unwrap()])
        .await;
    assert!(
        alone
            .stdout
            .contains(&format!("pushed {host}/positional:1.0.0")),
        "{}",
        alone.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_and_rmi_manage_the_local_store() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let home = AgentHome::new();
    let dir = home.write_agent("local", "1.0.0");
    let reference = format!("{host}/me/local:1.0.0");
    home.ok(&["push", &reference, dir.to_str().unwrap()]).await;
    home.ok(&["tag", &reference, &format!("{host}/me/local:latest")])
        .await;
    let listed = home.ok(&["images", "--filter", "capability=search"]).await;
    assert_eq!(listed.stdout.lines().count(), 3, "{}", listed.stdout);
    let none = home.ok(&["images", "--filter", "author=nobody"]).await;
    assert_eq!(none.stdout.lines().count(), 1, "{}", none.stdout);

    home.ok(&["rmi", &reference]).await;
    let one = home.ok(&["images"]).await;
    assert_eq!(one.stdout.lines().count(), 2, "{}", one.stdout);
    let last = home.ok(&["rmi", &format!("{host}/me/local:latest")]).await;
    assert!(last.stdout.contains("deleted 3 blobs"), "{}", last.stdout);
    home.fails(&["rmi", &reference], 4).await;
}

/// Writes `size` bytes of incompressible data, a block at a time.
fn write_noise(path: &std::path::Path, size: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len());
        file.write_all(&block[..n]).unwrap();
        left -= n;
    }
    file.flush().unwrap();
}

/// Regular files under `dir` whose name does not start with `lease-` (the
/// lock files open stores hold; a dead process's lease is cleared on the
/// next open).
fn scratch_files(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("lease-"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_pull_leaves_nothing_half_written() {
    let registry = TestRegistry::start().await;
    let host = host(&registry);
    let author = AgentHome::new();
    let dir = author.write_agent("large", "1.0.0");
    write_noise(&dir.join("weights.bin"), 64 << 20);
    let reference = format!("{host}/me/large:1.0.0");
    author
        .ok(&["push", &reference, dir.to_str().unwrap(), "--quiet"])
        .await;

    let reader = AgentHome::new();
    let target = reader.path().join("large");
    let mut child = reader
        .command(&["pull", &reference, "-d", target.to_str().unwrap()])
        .spawn()
        .unwrap();
    let ingest = reader.store().join("ingest");
    // Wait (bounded) until the download has begun, then press Ctrl-C.
    let mut started = false;
    for _ in 0..2000 {
        let growing = std::fs::read_dir(&ingest).ok().is_some_and(|entries| {
            entries.flatten().any(|entry| {
                !entry.file_name().to_string_lossy().starts_with("lease-")
                    && entry.metadata().is_ok_and(|meta| meta.len() > 0)
            })
        });
        if growing {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(started, "the download never started");
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("agent exits after Ctrl-C")
        .unwrap();
    assert_eq!(exit.code(), Some(130), "interrupted mid-download: {exit:?}");
    assert!(!target.exists(), "no half-extracted directory");
    assert_eq!(
        scratch_files(&ingest),
        Vec::<String>::new(),
        "no scratch file left"
    );
    let images = reader.ok(&["images", "--all"]).await;
    assert_eq!(
        images.stdout.lines().count(),
        1,
        "no store entry: {}",
        images.stdout
    );
}
