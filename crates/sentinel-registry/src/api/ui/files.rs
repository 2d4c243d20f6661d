//! `GET /packages/{name}/{version}/files`: the files of a package version,
//! as its `.sntl` inventory lists them; and
//! `GET /packages/{name}/{version}/files/{path}`: one of them, read from the
//! `.sntl` file (verified against the inventory as it streams). A Markdown
//! file is rendered and sanitised as the README is, its relative links
//! leading to other files here and its relative images loading from the
//! package; an image is shown as one; other text is shown as text (its
//! first [`MAX_SHOWN_BYTES`]); a file that is not text is not shown. And
//! `GET /packages/{name}/{version}/raw/{path}`: an image of the package as
//! it is, for those pages (no other kind of file is served as it is: a
//! registry's origin must not serve what a package's author wrote as a
//! page). Files are read only from packages of at most 64 MiB (the list,
//! from the start of the package, from any).

use sentinel_catalogue::PackageVersion;
use sentinel_ui::markdown::{FileLinks, file_href, image_type};
use sentinel_ui::{FileBody, FilePage, FileRow, FilesPage};

use super::package::{READMES, files_href, version_href};
use super::*;
use crate::service::MAX_BROWSED_PACKAGE_BYTES;

/// The most bytes of a file a page shows.
const MAX_SHOWN_BYTES: usize = 512 * 1024;

/// The largest file a page reads (it is read whole, to check its hash).
const MAX_READ_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The most files the list shows on one page; `?from=N` shows the next.
const MAX_FILE_ROWS: usize = 1_000;

/// The Content-Security-Policy of a file served as it is: nothing loads
/// and nothing runs, even in an SVG opened on its own.
const RAW_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// How long a browser may keep a file served as it is before asking
/// again (with its ETag, the file's SHA-256).
const RAW_CACHE_CONTROL: &str = "private, max-age=300";

/// The page of `path` in the files of version `entry` (the list when
/// `path` is empty). The visitor's right to see the package was checked.
pub(super) async fn render(
    app: &App,
    visit: &Visit,
    entry: &PackageVersion,
    path: &str,
) -> Result<Response, PageError> {
    let files_href = files_href(entry);
    let package_href = version_href(entry);
    let heading = format!("{} {}", entry.repository, entry.version);
    let inventory = app.registry.package_file(&entry.package, None, 0).await?;
    if path.is_empty() {
        let read = inventory;
        let total: u64 = read.manifest.files.iter().map(|file| file.size).sum();
        let count = read.manifest.files.len();
        let from = visit
            .request
            .form_query("from")
            .and_then(|from| from.parse::<usize>().ok())
            .filter(|&from| from < count)
            .unwrap_or(0);
        let shown = from..count.min(from + MAX_FILE_ROWS);
        let list_href = |from: usize| match from {
            0 => files_href.clone(),
            from => format!("{files_href}?from={from}"),
        };
        return page(&FilesPage {
            layout: visit.layout(app, format!("{heading}: files")),
            repository: entry.repository.as_str().to_owned(),
            version: entry.version.to_string(),
            package_href,
            count,
            from,
            previous: (from > 0).then(|| list_href(from.saturating_sub(MAX_FILE_ROWS))),
            next: (shown.end < count).then(|| list_href(shown.end)),
            files: read.manifest.files[shown.clone()]
                .iter()
                .map(|file| FileRow {
                    path: file.path.clone(),
                    href: file_href(&files_href, &file.path),
                    size: format::bytes(file.size),
                })
                .collect(),
            total_size: format::bytes(total),
        });
    }
    let Some(listed) = inventory.manifest.file(path).cloned() else {
        return Err(PageError::NotFound(format!(
            "The package {heading} has no file {path}."
        )));
    };
    let readable =
        listed.size <= MAX_READ_FILE_BYTES && entry.package.size <= MAX_BROWSED_PACKAGE_BYTES;
    if readable && image_type(path).is_some() {
        // The browser reads it from the raw URL; nothing to read here.
        let src = file_href(&format!("{}/raw", version_href(entry)), path);
        return file_page(app, visit, entry, &listed, path, FileBody::Image { src });
    }
    let content = if listed.size <= MAX_READ_FILE_BYTES {
        app.registry
            .package_file(&entry.package, Some(path), MAX_SHOWN_BYTES + 1)
            .await?
            .content
    } else {
        None
    };
    let body = match content {
        // Listed, but the package or the file is too large to read here.
        None => FileBody::TooLarge,
        Some(bytes) => {
            let cut = bytes.len() > MAX_SHOWN_BYTES;
            let shown = &bytes[..bytes.len().min(MAX_SHOWN_BYTES)];
            match text(shown, cut) {
                None => FileBody::Binary,
                Some(text) if !cut && is_markdown(path) => {
                    // Rendering may take milliseconds: off the request's thread.
                    let key = format!("{}@{}:{path}", entry.repository, entry.digest);
                    let links = FileLinks::new(&version_href(entry), path);
                    let text = text.to_owned();
                    let html = tokio::task::spawn_blocking(move || {
                        READMES.html(&key, &text, Some(&links))
                    })
                    .await
                    .map_err(|e| PageError::Internal(e.to_string()))?;
                    FileBody::Markdown(html)
                }
                Some(text) => FileBody::Text {
                    text: text.to_owned(),
                    cut,
                },
            }
        }
    };
    file_page(app, visit, entry, &listed, path, body)
}

/// The page of the file `listed` (at `path`) of version `entry`, showing
/// `body`.
fn file_page(
    app: &App,
    visit: &Visit,
    entry: &PackageVersion,
    listed: &sentinel_package::FileEntry,
    path: &str,
    body: FileBody,
) -> Result<Response, PageError> {
    page(&FilePage {
        layout: visit.layout(
            app,
            format!("{} {}: {path}", entry.repository, entry.version),
        ),
        repository: entry.repository.as_str().to_owned(),
        version: entry.version.to_string(),
        package_href: version_href(entry),
        files_href: files_href(entry),
        path: path.to_owned(),
        size: format::bytes(listed.size),
        sha256: listed.sha256.clone(),
        body,
    })
}

/// The image `path` of version `entry` as it is, with its content type, an
/// ETag (its SHA-256; a matching `If-None-Match` is a `304`) and a policy
/// under which nothing in it runs. Anything that is not an image of at
/// most [`MAX_READ_FILE_BYTES`], in a package of at most 64 MiB, is a 404.
/// The visitor's right to see the package was checked.
pub(super) async fn raw(
    app: &App,
    visit: &Visit,
    entry: &PackageVersion,
    path: &str,
) -> Result<Response, PageError> {
    let heading = format!("{} {}", entry.repository, entry.version);
    let Some(content_type) = image_type(path) else {
        return Err(PageError::NotFound(format!(
            "Only a package's images are served as they are; see {}.",
            file_href(&files_href(entry), path)
        )));
    };
    let inventory = app.registry.package_file(&entry.package, None, 0).await?;
    let Some(listed) = inventory.manifest.file(path) else {
        return Err(PageError::NotFound(format!(
            "The package {heading} has no file {path}."
        )));
    };
    let etag = format!("\"{}\"", listed.sha256);
    let fresh = visit
        .request
        .header(&header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let headers = |content_type: &'static str| {
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::ETAG, etag.clone()),
            (header::CACHE_CONTROL, RAW_CACHE_CONTROL.to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                RAW_CONTENT_SECURITY_POLICY.to_owned(),
            ),
        ]
    };
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, headers(content_type)).into_response());
    }
    let too_large = || {
        PageError::NotFound(format!(
            "The file {path} of {heading}, or its package, is too large to serve here."
        ))
    };
    let size = usize::try_from(listed.size).map_err(|_| too_large())?;
    if listed.size > MAX_READ_FILE_BYTES {
        return Err(too_large());
    }
    let Some(content) = app
        .registry
        .package_file(&entry.package, Some(path), size)
        .await?
        .content
    else {
        return Err(too_large());
    };
    Ok((headers(content_type), content).into_response())
}

/// `bytes` as text: UTF-8 without NUL bytes (a file cut short may end
/// inside a character, which is dropped); `None` when it is not text.
fn text(bytes: &[u8], cut: bool) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        // Only a character cut at the end, when the file was cut there.
        Err(error) if cut && error.error_len().is_none() => {
            std::str::from_utf8(&bytes[..error.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Whether `path` names a Markdown file, by its extension.
fn is_markdown(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_utf8_without_nul() {
        assert_eq!(text(b"hello", false), Some("hello"));
        assert_eq!(text(b"a\0b", false), None);
        assert_eq!(text(&[0xff, 0xfe], false), None);
        // "é" cut after its first byte: dropped when the file was cut.
        assert_eq!(text(&[b'a', 0xc3], true), Some("a"));
        assert_eq!(text(&[b'a', 0xc3], false), None);
    }

    #[test]
    fn markdown_is_known_by_its_extension() {
        assert!(is_markdown("docs/USAGE.MD"));
        assert!(!is_markdown("main.py"));
    }
}
