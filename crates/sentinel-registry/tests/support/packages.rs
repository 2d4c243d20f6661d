//! Packages for the tests, packed by `sentinel-package` from a directory
//! written here.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

/// A `.sntl` of the agent `name` at `version`: its `agent.yaml` with the
/// lines `yaml` after the name and version, and `files` (path, content)
/// beside it.
pub fn agent(name: &str, version: &str, yaml: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agent.yaml"),
        format!("name: {name}\nversion: {version}\n{yaml}"),
    )
    .unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let mut sntl = Vec::new();
    sentinel_package::pack(dir.path(), &mut sntl).unwrap();
    sntl
}
