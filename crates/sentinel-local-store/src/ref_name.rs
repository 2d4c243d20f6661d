//! The image-spec grammar for `org.opencontainers.image.ref.name`:
//!
//! ```text
//! ref       ::= component ("/" component)*
//! component ::= alphanum (separator alphanum)*
//! alphanum  ::= [A-Za-z0-9]+
//! separator ::= [-._:@+] | "--"
//! ```
//!
//! A full reference such as `localhost:5000/me/hello:0.1.0` or
//! `docker.io/team/x@sha256:...` matches it. Repository names that use `__`
//! or three dashes in a row are valid on a registry but do not match.

use crate::error::LocalStoreError;

/// Checks `name` against the `ref.name` grammar.
pub(crate) fn validate(name: &str) -> Result<(), LocalStoreError> {
    let invalid = |reason| LocalStoreError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name
        .chars()
        .any(|c| !c.is_ascii_alphanumeric() && !"-._:@+/".contains(c))
    {
        return Err(invalid(
            "names may only contain A-Z, a-z, 0-9 and the separators - . _ : @ + /",
        ));
    }
    for component in name.split('/') {
        validate_component(component).map_err(invalid)?;
    }
    Ok(())
}

/// Checks one `/`-separated component: alphanumeric runs joined by single separators or `--`.
fn validate_component(component: &str) -> Result<(), &'static str> {
    let bytes = component.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("a '/'-separated part is empty");
    };
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err("a '/'-separated part starts or ends with a separator");
    }
    let mut run_start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_alphanumeric(), run_start) {
            (false, None) => run_start = Some(i),
            (true, Some(start)) => {
                let separator = &component[start..i];
                if separator.len() > 1 && separator != "--" {
                    return Err("separators may not follow each other, except \"--\"");
                }
                run_start = None;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_references_are_valid() {
        for name in [
            "localhost:5000/me/hello:0.1.0",
            "docker.io/team/x:1.0",
            "ghcr.io/org/agent-x:v1.2.3-rc.1",
            "registry.example.com/a/b@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "Example.COM/a--b/c+d:Tag_1",
            "v1.0",
        ] {
            assert!(validate(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_outside_the_grammar_are_refused() {
        for name in [
            "",
            "/a",
            "a/",
            "a//b",
            "-a",
            "a-",
            "a:",
            "a__b",
            "a---b",
            "a.-b",
            "a b",
            "a/b:tag!",
            "caf\u{e9}",
        ] {
            assert!(
                matches!(validate(name), Err(LocalStoreError::InvalidName { .. })),
                "{name:?}"
            );
        }
    }
}
