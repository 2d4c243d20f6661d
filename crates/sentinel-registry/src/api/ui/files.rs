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

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use sentinel_catalogue::PackageVersion;
use sentinel_ui::markdown::{FileLinks, file_href, image_type};
use sentinel_ui::{FileBody, FilePage, FileRow, FilesPage};

use super::package::{READMES, files_href, version_href};
use super::*;
use crate::api::oci::in_flight::Held;
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

/// How long a browser may keep an image served as it is before asking
/// again (with its ETag, the file's SHA-256), when nobody is signed in (so
/// the package is public); a signed-in visitor's browser asks every time,
/// so an image of a private package does not outlive the session.
const RAW_CACHE_CONTROL: &str = "private, max-age=300";

/// [`RAW_CACHE_CONTROL`] for a signed-in visitor.
const RAW_CACHE_CONTROL_SIGNED_IN: &str = "private, no-cache";

/// The largest image served as it is: what a README shows, with room.
const MAX_RAW_BYTES: u64 = 4 * 1024 * 1024;

/// The pieces an image is sent in: each is copied out of the image, so a
/// client that stops reading holds at most one piece besides what the
/// answer's budget counts.
const RAW_CHUNK_BYTES: usize = 64 * 1024;

/// Images read from packages, kept for the next visitor: a README's images
/// are asked for on every view of its page, and reading one decompresses
/// its package up to it.
static IMAGES: LazyLock<Images> = LazyLock::new(Images::default);

/// The most bytes of images [`IMAGES`] keeps; beyond it, all are dropped.
const MAX_KEPT_IMAGE_BYTES: usize = 32 * 1024 * 1024;

/// Images by package digest and path, with their SHA-256.
#[derive(Default)]
struct Images {
    kept: Mutex<KeptImages>,
}

/// What [`Images`] keeps: the images' bytes in all, and each image (its
/// SHA-256 and bytes) by package digest and path.
#[derive(Default)]
struct KeptImages {
    bytes: usize,
    images: HashMap<String, (String, Bytes)>,
}

impl Images {
    fn key(package: &sentinel_catalogue::BlobRef, path: &str) -> String {
        format!("{}:{path}", package.digest)
    }

    /// The SHA-256 and bytes of `path` in `package`, if kept.
    fn get(&self, package: &sentinel_catalogue::BlobRef, path: &str) -> Option<(String, Bytes)> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.images.get(&Self::key(package, path)).cloned()
    }

    /// Keeps `bytes` (whose SHA-256 is `sha256`) as `path` in `package`.
    fn keep(&self, package: &sentinel_catalogue::BlobRef, path: &str, sha256: &str, bytes: Bytes) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.bytes + bytes.len() > MAX_KEPT_IMAGE_BYTES {
            kept.images.clear();
            kept.bytes = 0;
        }
        kept.bytes += bytes.len();
        if let Some((_, old)) = kept
            .images
            .insert(Self::key(package, path), (sha256.to_owned(), bytes))
        {
            kept.bytes -= old.len();
        }
    }
}

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
    let servable = listed.size <= MAX_RAW_BYTES && entry.package.size <= MAX_BROWSED_PACKAGE_BYTES;
    if image_type(path).is_some() {
        // The browser reads it from the raw URL; nothing to read here.
        let body = if servable {
            let src = file_href(&format!("{}/raw", version_href(entry)), path);
            FileBody::Image { src }
        } else {
            FileBody::TooLarge
        };
        return file_page(app, visit, entry, &listed, path, body);
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
/// most [`MAX_RAW_BYTES`], in a package of at most 64 MiB, is a 404. The
/// bytes being sent count against the in-flight budget for package files
/// until they are sent (over it: a 429). The visitor's right to see the
/// package was checked.
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
    let (sha256, content) = match IMAGES.get(&entry.package, path) {
        Some((sha256, content)) => (sha256, Some(content)),
        None => {
            let inventory = app.registry.package_file(&entry.package, None, 0).await?;
            let Some(listed) = inventory.manifest.file(path) else {
                return Err(PageError::NotFound(format!(
                    "The package {heading} has no file {path}."
                )));
            };
            if listed.size > MAX_RAW_BYTES || entry.package.size > MAX_BROWSED_PACKAGE_BYTES {
                return Err(PageError::NotFound(format!(
                    "The file {path} of {heading}, or its package, is too large to serve here."
                )));
            }
            (listed.sha256.clone(), None)
        }
    };
    let etag = format!("\"{sha256}\"");
    let cache_control = if visit.user.is_some() {
        RAW_CACHE_CONTROL_SIGNED_IN
    } else {
        RAW_CACHE_CONTROL
    };
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, cache_control.to_owned()),
        (
            header::CONTENT_SECURITY_POLICY,
            RAW_CONTENT_SECURITY_POLICY.to_owned(),
        ),
    ];
    let fresh = visit
        .request
        .header(&header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let content = match content {
        Some(content) => content,
        None => {
            let read = app
                .registry
                .package_file(&entry.package, Some(path), MAX_RAW_BYTES as usize)
                .await?
                .content
                .ok_or_else(|| PageError::Internal(format!("{path} of {heading} was not read")))?;
            let content = Bytes::from(read);
            IMAGES.keep(&entry.package, path, &sha256, content.clone());
            content
        }
    };
    let held = app
        .in_flight
        .package_file_bytes(
            visit.request.client,
            visit.user.as_deref().unwrap_or_default(),
            content.len() as u64,
        )
        .map_err(|_| {
            PageError::Busy(
                "Too many images are being sent to you or to everyone at once: try again shortly."
                    .to_owned(),
            )
        })?;
    let length = content.len();
    Ok((
        headers,
        [(header::CONTENT_LENGTH, length.to_string())],
        sent_while_held(content, held),
    )
        .into_response())
}

/// A body of `content` in pieces of [`RAW_CHUNK_BYTES`], each copied out,
/// holding `held` until the last piece is handed over or the body is
/// dropped.
fn sent_while_held(content: Bytes, held: Held) -> axum::body::Body {
    let pieces =
        futures_util::stream::unfold((content, 0, held), |(content, at, held)| async move {
            let end = content.len().min(at + RAW_CHUNK_BYTES);
            (at < end).then(|| {
                let piece = Bytes::copy_from_slice(&content[at..end]);
                (
                    Ok::<_, std::convert::Infallible>(piece),
                    (content, end, held),
                )
            })
        });
    axum::body::Body::from_stream(pieces)
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
    fn kept_images_stay_within_their_bound() {
        let images = Images::default();
        let package = |n: u8| sentinel_catalogue::BlobRef {
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32))
                .parse()
                .unwrap(),
            size: 1,
        };
        let image = Bytes::from(vec![7u8; MAX_KEPT_IMAGE_BYTES / 3]);
        images.keep(&package(1), "a.png", "aa", image.clone());
        assert_eq!(
            images.get(&package(1), "a.png"),
            Some(("aa".to_owned(), image.clone()))
        );
        assert_eq!(images.get(&package(2), "a.png"), None);
        images.keep(&package(2), "a.png", "bb", image.clone());
        images.keep(&package(2), "a.png", "bb", image.clone());
        images.keep(&package(3), "a.png", "cc", image.clone());
        // The fourth would pass the bound: everything kept goes first.
        images.keep(&package(4), "a.png", "dd", image.clone());
        let kept = images.kept.lock().unwrap();
        assert_eq!(kept.images.len(), 1);
        assert_eq!(kept.bytes, image.len());
    }

    #[tokio::test]
    async fn an_image_holds_its_budget_until_it_is_sent() {
        use futures_util::StreamExt as _;

        let in_flight = crate::api::oci::in_flight::InFlight::new(&crate::Settings::default());
        let here = std::net::IpAddr::from([192, 0, 2, 1]);
        let share = 16 * 1024 * 1024;
        let held = in_flight.package_file_bytes(here, "", share).unwrap();
        let content = Bytes::from(vec![1u8; 3 * RAW_CHUNK_BYTES + 5]);
        let mut body = sent_while_held(content.clone(), held).into_data_stream();
        assert!(in_flight.package_file_bytes(here, "", 1).is_err(), "held");
        let mut sent = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = piece.unwrap();
            assert!(piece.len() <= RAW_CHUNK_BYTES);
            sent.extend_from_slice(&piece);
        }
        assert_eq!(sent, content);
        assert!(
            in_flight.package_file_bytes(here, "", share).is_ok(),
            "given back"
        );
        // A body dropped before it is sent gives it back too.
        let held = in_flight.package_file_bytes(here, "", share).unwrap();
        drop(sent_while_held(content, held));
        assert!(in_flight.package_file_bytes(here, "", share).is_ok());
    }

    #[test]
    fn markdown_is_known_by_its_extension() {
        assert!(is_markdown("docs/USAGE.MD"));
        assert!(!is_markdown("main.py"));
    }
}
