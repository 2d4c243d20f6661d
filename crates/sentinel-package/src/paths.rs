//! The rules every path inside a package obeys, checked when packing and again when unpacking.

/// The name of the inventory entry, always first in the archive.
pub(crate) const PACKAGE_MANIFEST_NAME: &str = "sentinel.manifest.json";

/// The longest entry path, in bytes.
pub(crate) const MAX_PATH_BYTES: usize = 4096;

/// Why `path` may not be an entry path, or `Ok` when it may.
///
/// An entry path is relative, `/`-separated, canonical (no empty, `.` or `..` components,
/// no trailing `/`), at most [`MAX_PATH_BYTES`] bytes, and free of backslashes, NUL and other
/// control characters, and `:` (a drive or stream separator on Windows).
pub(crate) fn check_entry_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return Err("the path is longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return Err("it is an absolute path");
    }
    if path.contains('\\') {
        return Err("it contains a backslash");
    }
    if path.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if path.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    if path.contains(':') {
        return Err("it contains ':', a drive or stream separator on Windows");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("it has an empty component ('//' or a trailing '/')"),
            "." => return Err("it has a '.' component"),
            ".." => return Err("it has a '..' component"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_relative_paths() {
        for good in [
            "a",
            "agent.yaml",
            "src/main.py",
            ".hidden/x",
            "a..b/c...d",
            "ünï/cödé",
        ] {
            assert_eq!(check_entry_path(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_unsafe_paths() {
        let long = "a/".repeat(2048) + "b";
        for bad in [
            "",
            "/abs",
            "../escape",
            "a/../../b",
            "a/..",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
            "C:/x",
            "x:y",
            long.as_str(),
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn accepted_paths_stay_inside(path in "[a-z./\\\\:]{0,12}") {
            if check_entry_path(&path).is_ok() {
                proptest::prop_assert!(!path.starts_with('/'));
                proptest::prop_assert!(path.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            }
        }
    }
}
