//! `sentinel-registry rate-limit` against the real binary: the running
//! server's limits change through its admin socket (with authentication
//! off, where the management API is closed over HTTP), take effect at once,
//! survive a restart, and a reset lifts them.

#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use process::Process;

/// Requests in each burst.
const BURST: usize = 20;

fn run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run sentinel-registry")
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `BURST` requests to `/v2/`, one after another, each bounded in time;
/// how many were refused with 429.
async fn refused_of_a_burst(server: &Process) -> usize {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut refused = 0;
    for _ in 0..BURST {
        let status = client
            .get(server.url("/v2/"))
            .send()
            .await
            .unwrap()
            .status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    refused
}

#[tokio::test]
async fn limits_change_through_the_admin_socket_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let shown = ok(dir.path(), &["rate-limit"]);
    assert!(shown.contains("per address: no limit"), "{shown}");
    assert!(shown.contains("source:      settings"), "{shown}");
    assert_eq!(refused_of_a_burst(&server).await, 0);

    let changed = ok(
        dir.path(),
        &[
            "rate-limit",
            "--requests-per-minute",
            "60",
            "--burst-size",
            "3",
            "--per",
            "address",
        ],
    );
    assert!(
        changed.contains("per address: 60 requests per minute, bursts of 3"),
        "{changed}"
    );
    assert!(changed.contains("per user:    no limit"), "{changed}");
    let refused = refused_of_a_burst(&server).await;
    assert!(refused >= BURST - 5, "{refused} of {BURST} refused");

    // Nonsense is refused by the server, with its reason.
    let output = run(
        dir.path(),
        &["rate-limit", "--burst-size", "5", "--per", "user"],
    );
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("a burst size needs a rate"), "{error}");

    server.terminate();
    let output = run(dir.path(), &["rate-limit"]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("no sentinel-registry server is running"),
        "{error}"
    );

    let server = Process::start(dir.path());
    let kept = ok(dir.path(), &["rate-limit"]);
    assert!(kept.contains("bursts of 3"), "{kept}");
    assert!(kept.contains("source:      file"), "{kept}");
    let refused = refused_of_a_burst(&server).await;
    assert!(
        refused >= BURST - 5,
        "{refused} of {BURST} refused after a restart"
    );

    let reset = ok(dir.path(), &["rate-limit", "--reset"]);
    assert!(reset.contains("source:      settings"), "{reset}");
    assert_eq!(
        refused_of_a_burst(&server).await,
        0,
        "no limit after the reset"
    );
    server.terminate();
}
