//! Parsing `/v2/...` paths.
//!
//! Repository names contain `/`, so routes cannot be matched from the left:
//! the path is read from the right, where the verb (`blobs`, `manifests`,
//! `tags/list`, ...) and its argument sit, and whatever precedes them is the name.

/// The resource a `/v2/` path names. Names and references are still raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(&'a str),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/blobs/<digest>`
    Blob(&'a str, &'a str),
    /// `/v2/<name>/blobs/uploads/` (with or without the trailing slash):
    /// where an upload starts (or a blob is mounted).
    UploadStart(&'a str),
    /// `/v2/<name>/blobs/uploads/<id>`: one upload session.
    UploadSession(&'a str, &'a str),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(&'a str, &'a str),
}

/// Splits `path` into the name (everything before the last `n` segments) and those segments.
fn split_tail(path: &str, n: usize) -> Option<(&str, Vec<&str>)> {
    let mut cut = path.len();
    for _ in 0..n {
        cut = path[..cut].rfind('/')?;
    }
    let name = &path[..cut];
    if name.is_empty() {
        return None;
    }
    Some((name, path[cut + 1..].split('/').collect()))
}

/// The endpoint `path` names, or `None` if it names none.
pub fn parse(path: &str) -> Option<Endpoint<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Endpoint::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    if let Some((name, tail)) = split_tail(rest, 3) {
        match tail.as_slice() {
            ["blobs", "uploads", ""] => return Some(Endpoint::UploadStart(name)),
            ["blobs", "uploads", id] => return Some(Endpoint::UploadSession(name, id)),
            _ => {}
        }
    }
    let (name, tail) = split_tail(rest, 2)?;
    match tail.as_slice() {
        ["tags", "list"] => Some(Endpoint::Tags(name)),
        ["manifests", reference] if !reference.is_empty() => {
            Some(Endpoint::Manifest(name, reference))
        }
        ["blobs", "uploads"] => Some(Endpoint::UploadStart(name)),
        ["blobs", digest] if !digest.is_empty() => Some(Endpoint::Blob(name, digest)),
        ["referrers", digest] if !digest.is_empty() => Some(Endpoint::Referrers(name, digest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_endpoint() {
        assert_eq!(parse("/v2/"), Some(Endpoint::Base));
        assert_eq!(parse("/v2"), Some(Endpoint::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Endpoint::Catalog));
        assert_eq!(parse("/v2/a/b/tags/list"), Some(Endpoint::Tags("a/b")));
        assert_eq!(
            parse("/v2/a/manifests/latest"),
            Some(Endpoint::Manifest("a", "latest"))
        );
        assert_eq!(
            parse("/v2/a/b/c/blobs/sha256:00"),
            Some(Endpoint::Blob("a/b/c", "sha256:00"))
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/"),
            Some(Endpoint::UploadStart("a"))
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads"),
            Some(Endpoint::UploadStart("a"))
        );
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/123"),
            Some(Endpoint::UploadSession("a/b", "123"))
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:00"),
            Some(Endpoint::Referrers("a", "sha256:00"))
        );
    }

    #[test]
    fn names_that_look_like_verbs_are_read_from_the_right() {
        assert_eq!(
            parse("/v2/blobs/uploads/blobs/uploads/"),
            Some(Endpoint::UploadStart("blobs/uploads"))
        );
        assert_eq!(
            parse("/v2/manifests/manifests/manifests"),
            Some(Endpoint::Manifest("manifests", "manifests"))
        );
        assert_eq!(
            parse("/v2/tags/list/tags/list"),
            Some(Endpoint::Tags("tags/list"))
        );
    }

    #[test]
    fn rejects_unknown_paths() {
        for path in [
            "/",
            "/v3/a/tags/list",
            "/v2/a",
            "/v2/a/unknown/x",
            "/v2/blobs/x",
            "/v2/a/manifests/",
            "/v2x",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }
}
