//! The field rules shared by agent and stack definitions.

use std::collections::BTreeSet;

use serde_norway::Value;

use super::problems::Problems;
use super::yaml::{Object, as_list, as_string, describe};

/// The longest package name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The longest label (capability, tag, runtime, model name) accepted, in bytes.
const MAX_LABEL_LEN: usize = 128;
/// The longest port name accepted, in bytes.
const MAX_PORT_NAME_LEN: usize = 63;

/// Whether `name` is a valid agent or stack name: one OCI repository path component,
/// `[a-z0-9]+([._-][a-z0-9]+)*`, at most 128 bytes.
pub fn is_valid_package_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && is_separated_words(name, b"._-")
}

/// `[a-z0-9]+(<sep>[a-z0-9]+)*` for one-byte separators.
fn is_separated_words(text: &str, separators: &[u8]) -> bool {
    !text.is_empty()
        && text
            .as_bytes()
            .split(|b| separators.contains(b))
            .all(|word| {
                !word.is_empty()
                    && word
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
}

/// The fields every definition starts with, `name` to `source`, each checked by its rule.
pub(crate) struct Metadata {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<semver::Version>,
    pub(crate) description: Option<String>,
    pub(crate) author: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) source: Option<String>,
}

impl Metadata {
    /// Checks the shared fields of a definition's top-level mapping, in document order,
    /// recording every problem; a field is `None` when it is absent or invalid.
    pub(crate) fn check(root: &Object<'_>, problems: &mut Problems) -> Metadata {
        Metadata {
            name: required_name(root, problems),
            version: required_version(root, problems),
            description: optional_text(root, "description", problems),
            author: optional_text(root, "author", problems),
            license: optional_license(root, problems),
            source: optional_url(root, "source", problems),
        }
    }
}

/// Checks a package name, recording a problem when it is not valid.
pub(crate) fn package_name(text: &str, path: &str, problems: &mut Problems) -> Option<String> {
    if text.len() > MAX_NAME_LEN {
        problems.field(
            path,
            format!(
                "{text:?} is {} bytes long; the limit is {MAX_NAME_LEN}",
                text.len()
            ),
        );
        return None;
    }
    if !is_valid_package_name(text) {
        problems.field(
            path,
            format!(
                "{text:?} is not a valid name: use lowercase letters and digits, separated by single '.', '_' or '-' (e.g. research-agent)"
            ),
        );
        return None;
    }
    Some(text.to_owned())
}

/// The required `name` of a definition.
fn required_name(object: &Object<'_>, problems: &mut Problems) -> Option<String> {
    let text = object.required_string("name", problems)?;
    package_name(text, &object.path("name"), problems)
}

/// The required `version` of a definition: semver 2.0. A YAML number such as `1.2` is
/// reported with its text so the message shows what was written.
fn required_version(object: &Object<'_>, problems: &mut Problems) -> Option<semver::Version> {
    let path = object.path("version");
    let text = match object.required("version", problems)? {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => {
            problems.field(
                &path,
                format!("expected a string, found {}", describe(other)),
            );
            return None;
        }
    };
    match semver::Version::parse(&text) {
        Ok(version) => Some(version),
        Err(_) => {
            problems.field(
                &path,
                format!(
                    "{text:?} is not a semantic version (expected MAJOR.MINOR.PATCH, e.g. 1.2.0)"
                ),
            );
            None
        }
    }
}

/// An optional free-text field such as `description` or `author`: any non-blank string.
fn optional_text(object: &Object<'_>, key: &str, problems: &mut Problems) -> Option<String> {
    let text = object.string(key, problems)?;
    if text.trim().is_empty() {
        problems.field(&object.path(key), "is blank; remove it or write a value");
        return None;
    }
    Some(text.to_owned())
}

/// The optional `license`: an SPDX identifier or expression such as `MIT OR Apache-2.0`.
fn optional_license(object: &Object<'_>, problems: &mut Problems) -> Option<String> {
    let text = object.string("license", problems)?;
    let valid = !text.trim().is_empty()
        && text.len() <= 256
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '(' | ')' | ':' | ' ')
        });
    if !valid {
        problems.field(
            &object.path("license"),
            format!(
                "{text:?} is not an SPDX license expression (e.g. Apache-2.0, MIT OR Apache-2.0, LicenseRef-proprietary)"
            ),
        );
        return None;
    }
    Some(text.to_owned())
}

/// The optional `source`: an absolute URL.
fn optional_url(object: &Object<'_>, key: &str, problems: &mut Problems) -> Option<String> {
    let text = object.string(key, problems)?;
    match url::Url::parse(text) {
        Ok(url) if url.has_host() || url.scheme() == "file" => Some(text.to_owned()),
        _ => {
            problems.field(
                &object.path(key),
                format!(
                    "{text:?} is not an absolute URL (e.g. https://github.com/acme/research-agent)"
                ),
            );
            None
        }
    }
}

/// A label: a non-empty string of at most 128 bytes without whitespace or control characters.
pub(crate) fn label(value: &Value, path: &str, problems: &mut Problems) -> Option<String> {
    let text = as_string(value, path, problems)?;
    let valid = !text.is_empty()
        && text.len() <= MAX_LABEL_LEN
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        problems.field(
            path,
            format!(
                "{text:?} is not a valid label: use 1 to {MAX_LABEL_LEN} bytes without spaces or control characters"
            ),
        );
        return None;
    }
    Some(text.to_owned())
}

/// An optional list of unique labels (`capabilities`, `tags`, `runtimes`).
pub(crate) fn label_list(object: &Object<'_>, key: &str, problems: &mut Problems) -> Vec<String> {
    let Some(items) = object.list(key, problems) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut labels = Vec::new();
    for (path, value) in items {
        if let Some(text) = label(value, &path, problems) {
            if !seen.insert(text.clone()) {
                problems.field(&path, format!("{text:?} is listed twice"));
            }
            labels.push(text);
        }
    }
    labels
}

/// An optional list of strings where each string is non-empty (a command line).
pub(crate) fn command(value: &Value, path: &str, problems: &mut Problems) -> Option<Vec<String>> {
    let items = as_list(value, path, problems)?;
    if items.is_empty() {
        problems.field(path, "must name a program: the list is empty");
        return None;
    }
    let mut words = Vec::new();
    let mut valid = true;
    for (index, (item_path, value)) in items.into_iter().enumerate() {
        match as_string(value, &item_path, problems) {
            Some(word) if index == 0 && word.trim().is_empty() => {
                problems.field(&item_path, "the program name is blank");
                valid = false;
            }
            Some(word) => words.push(word.to_owned()),
            None => valid = false,
        }
    }
    valid.then_some(words)
}

/// A platform such as `linux/amd64` or `linux/arm64/v8`.
pub(crate) fn platform(value: &Value, path: &str, problems: &mut Problems) -> Option<String> {
    let text = as_string(value, path, problems)?;
    let parts: Vec<&str> = text.split('/').collect();
    let valid = (2..=3).contains(&parts.len())
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if !valid {
        problems.field(
            path,
            format!(
                "{text:?} is not a platform: write os/arch or os/arch/variant, e.g. linux/amd64"
            ),
        );
        return None;
    }
    Some(text.to_owned())
}

/// A port name: `[a-z0-9]+(-[a-z0-9]+)*`, at most 63 bytes.
pub(crate) fn is_valid_port_name(name: &str) -> bool {
    name.len() <= MAX_PORT_NAME_LEN && is_separated_words(name, b"-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_grammar() {
        for good in ["a", "research-agent", "a.b_c-d", "x9", &"a".repeat(128)] {
            assert!(is_valid_package_name(good), "{good}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a--b",
            "a/b",
            "a b",
            "a..b",
            "ä",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn port_name_grammar() {
        assert!(is_valid_port_name("http"));
        assert!(is_valid_port_name("grpc-api"));
        assert!(!is_valid_port_name("http.api"));
        assert!(!is_valid_port_name(""));
        assert!(!is_valid_port_name(&"p".repeat(64)));
    }
}
