//! Concurrent writers of one store never lose each other's names.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;

use common::{name, put_tiny_image};
use sentinel_local_store::LocalStore;

const WRITERS: usize = 6;
const NAMES_PER_WRITER: usize = 8;

/// Each writer stores its own image and gives it several names.
fn write_names(store: &LocalStore, writer: usize) {
    let image = put_tiny_image(store, format!("writer {writer}").as_bytes());
    for n in 0..NAMES_PER_WRITER {
        name(
            store,
            &format!("example.com/w{writer}/app:{n}"),
            &image.manifest,
        );
    }
}

fn assert_all_names_present(root: &Path, prefix_count: usize) {
    let store = LocalStore::open(root).unwrap();
    let names: BTreeSet<String> = store
        .entries()
        .unwrap()
        .into_iter()
        .filter_map(|e| e.name)
        .collect();
    let expected: BTreeSet<String> = (0..prefix_count)
        .flat_map(|w| (0..NAMES_PER_WRITER).map(move |n| format!("example.com/w{w}/app:{n}")))
        .collect();
    assert_eq!(names, expected);
    for entry in store.entries().unwrap() {
        assert!(store.blob_size(&entry.digest).unwrap().is_some());
    }
}

#[test]
fn threads_with_their_own_stores_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    LocalStore::open(&root).unwrap();
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let root = root.clone();
            thread::spawn(move || {
                let store = LocalStore::open(&root).unwrap();
                write_names(&store, writer);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_all_names_present(&root, WRITERS);
}

#[test]
fn threads_sharing_one_store_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(&dir.path().join("store")).unwrap());
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            thread::spawn(move || write_names(&store, writer))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_all_names_present(store.root(), WRITERS);
}

/// Run as a child process by `processes_all_survive`; does nothing otherwise.
#[test]
fn child_process_writer() {
    let (Some(root), Some(writer)) = (
        std::env::var_os("LAYOUT_TEST_CHILD_ROOT"),
        std::env::var("LAYOUT_TEST_CHILD_WRITER").ok(),
    ) else {
        return;
    };
    let store = LocalStore::open(Path::new(&root)).unwrap();
    write_names(&store, writer.parse().unwrap());
}

#[test]
fn processes_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    LocalStore::open(&root).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            Command::new(&exe)
                .args(["--exact", "child_process_writer", "--test-threads=1"])
                .env("LAYOUT_TEST_CHILD_ROOT", &root)
                .env("LAYOUT_TEST_CHILD_WRITER", writer.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a writer process failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_all_names_present(&root, WRITERS);
}
