//! A package's README: Markdown rendered to HTML, then sanitised.
//!
//! READMEs are written by whoever pushes a package, so their HTML is never
//! trusted. [`readme_html`] renders CommonMark with tables, strikethrough
//! and task lists (a task's box becomes the text `☐` or `☑`: no form
//! controls), then [`ammonia`] keeps only harmless markup:
//!
//! - no `<script>`, `<style>`, `<iframe>`, `<object>`, `<form>`, `<input>`
//!   or `<svg>` (their content goes too), no event-handler attributes, no
//!   `style` or `class` attributes, and `id` only on headings;
//! - link targets are `http`, `https` or `mailto`; image sources are
//!   `http` or `https` (the page's Content-Security-Policy allows only
//!   images from the registry itself, so remote images do not load);
//!   a relative link (`docs/usage.md`) leads to that file in the package's
//!   files view when the page gives [`FileLinks`], and a relative image
//!   (`docs/diagram.png`) loads from the package ([`image_type`] lists the
//!   kinds); both resolve against the rendered file's directory, and one
//!   that climbs out of the package, or an absolute path, is dropped, as is
//!   anything else (`javascript:`, `data:`, `vbscript:`, however written or
//!   encoded): the text stays, without its link;
//! - headings go down one level (a README's `#` is an `<h2>`), so the
//!   package's name stays the page's one `<h1>`;
//! - each heading gets an anchor as GitHub names it (`## Quick start` is
//!   `quick-start`, a second one `quick-start-1`), and every `id` is
//!   prefixed with `readme-`, so a README cannot take an id of the page
//!   around it; a link to a fragment (`[setup](#setup)`) leads to
//!   `#readme-setup`, so a README's table of contents works;
//! - every link carries `rel="noopener noreferrer nofollow"`.
//!
//! Rendering a large README takes milliseconds, so [`Readmes`] keeps the
//! HTML of each version's README (keyed by its manifest digest, which fixes
//! the content) for the next visitor.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// The URL schemes a link may use.
const LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// The `rel` of every link.
const LINK_REL: &str = "noopener noreferrer nofollow";

/// What every `id` in a README starts with.
const ANCHOR_PREFIX: &str = "readme-";

/// Where the relative links of a package's Markdown lead: the package
/// version's files view, from the directory of the file rendered; and
/// where its relative images load from: the version's files as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLinks {
    /// The files view: `/packages/acme/planner/1.0.0/files`.
    files: String,
    /// The files as they are: `/packages/acme/planner/1.0.0/raw`.
    raw: String,
    /// The rendered file's directory in the package, as path segments.
    directory: Vec<String>,
}

impl FileLinks {
    /// Links from the package file `path` (`README.md`, `docs/usage.md`)
    /// of the version whose page is `version`
    /// (`/packages/acme/planner/1.0.0`): to its files view (`.../files`)
    /// and, for images, to the files as they are (`.../raw`).
    pub fn new(version: &str, path: &str) -> FileLinks {
        let mut directory: Vec<String> = path.split('/').map(str::to_owned).collect();
        directory.pop();
        FileLinks {
            files: format!("{version}/files"),
            raw: format!("{version}/raw"),
            directory,
        }
    }

    /// Where the image source `value` loads from: a relative path to an
    /// image of the package (a kind [`image_type`] knows) becomes that
    /// file as it is; `None` for anything else (a scheme, an absolute path,
    /// a path out of the package, a file that is not an image).
    fn image(&self, value: &str) -> Option<String> {
        let value = value.trim();
        if value.contains(':') || value.starts_with('/') || value.starts_with('\\') {
            return None;
        }
        let path = value.split(['#', '?']).next().unwrap_or_default();
        let path = self.package_path(path)?;
        image_type(&path)?;
        Some(file_href(&self.raw, &path))
    }

    /// The package file the relative `path` names from the rendered file's
    /// directory (percent-decoded, `.` and `..` applied); `None` when it
    /// climbs out of the package or names nothing.
    fn package_path(&self, path: &str) -> Option<String> {
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .ok()?;
        let mut segments = self.directory.clone();
        for segment in decoded.split('/') {
            match segment {
                // Browsers read `\` as `/`: it would climb where `..` is checked.
                segment if segment.contains('\\') => return None,
                "" | "." => {}
                ".." => {
                    segments.pop()?;
                }
                segment => segments.push(segment.to_owned()),
            }
        }
        (!segments.is_empty()).then(|| segments.join("/"))
    }

    /// Where the relative URL `url` leads: `#part` to the anchor of this
    /// page (`#readme-part`), a path to the file view of the package file it
    /// names (with its fragment as an anchor there); `None` for an absolute
    /// path (`/x`, `//host/x`) or one that climbs out of the package.
    fn resolve(&self, url: &str) -> Option<String> {
        if url.starts_with('/') {
            return None;
        }
        let (url, fragment) = match url.split_once('#') {
            Some((url, fragment)) => (url, Some(fragment).filter(|f| !f.is_empty())),
            None => (url, None),
        };
        let path = url.split_once('?').map_or(url, |(path, _)| path);
        if path.is_empty() {
            return fragment.map(|fragment| format!("#{ANCHOR_PREFIX}{fragment}"));
        }
        let mut href = file_href(&self.files, &self.package_path(path)?);
        if let Some(fragment) = fragment {
            href.push_str(&format!("#{ANCHOR_PREFIX}{fragment}"));
        }
        Some(href)
    }
}

/// The content type a package file is served with as an image, by its
/// extension: PNG, JPEG, GIF, WebP, AVIF and SVG; `None` for any other
/// file, which is never served as it is.
pub fn image_type(path: &str) -> Option<&'static str> {
    let (_, extension) = path.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// The page of the package file `path` (`docs/my notes.md`) in the files
/// view `files` (`/packages/acme/planner/1.0.0/files`), each segment of the
/// path escaped: `/packages/acme/planner/1.0.0/files/docs/my%20notes.md`.
pub fn file_href(files: &str, path: &str) -> String {
    let mut href = files.to_owned();
    for segment in path.split('/') {
        href.push('/');
        href.extend(percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT));
    }
    href
}

/// What is escaped in a path segment of a link: controls, space, and what
/// would end or split the segment or the URL.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The sanitised HTML of a package's Markdown file (its README, or another
/// `.md` file): relative links lead into the files view when `links` is
/// given, else only fragment links (`#part`) are kept.
///
/// Markdown that nests deeper than [`MAX_NESTING`] containers, or makes
/// more than [`MAX_EVENTS`] events (a table's rows are padded to its
/// header's width, so a few KiB can make millions of cells), is shown as
/// text instead, with a notice: rendering it would cost seconds to hours.
pub fn readme_html(markdown: &str, links: Option<&FileLinks>) -> String {
    if too_deep(markdown) {
        return as_text(markdown);
    }
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events: Vec<Event> = Vec::new();
    let mut depth = 0usize;
    for event in Parser::new_ext(markdown, options) {
        match &event {
            Event::Start(Tag::List(_) | Tag::Item | Tag::BlockQuote(_)) => depth += 1,
            Event::End(TagEnd::List(_) | TagEnd::Item | TagEnd::BlockQuote(_)) => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        if depth > 2 * MAX_NESTING || events.len() >= MAX_EVENTS {
            return as_text(markdown);
        }
        events.push(match event {
            // A checkbox would be a form control: show the box as text.
            Event::TaskListMarker(done) => Event::Text(if done { "☑ " } else { "☐ " }.into()),
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: demoted(level),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demoted(level))),
            other => other,
        });
    }
    name_headings(&mut events);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events.into_iter());
    sanitiser(links.cloned()).clean(&unsafe_html).to_string()
}

/// The deepest nesting of block containers (block quotes, list items) a
/// Markdown file may have to be rendered.
pub const MAX_NESTING: usize = 32;

/// The most Markdown events a file may make to be rendered.
pub const MAX_EVENTS: usize = 200_000;

/// Whether some line of `markdown` opens more than [`MAX_NESTING`]
/// containers (`>`, list markers) or is indented past what that many
/// would need: a cheap look before parsing, whose cost grows with the
/// square of the depth.
fn too_deep(markdown: &str) -> bool {
    markdown.lines().any(|line| {
        let bytes = line.as_bytes();
        let (mut at, mut containers) = (0, 0);
        while at < bytes.len() {
            match bytes[at] {
                b' ' | b'\t' => at += 1,
                b'>' => {
                    containers += 1;
                    at += 1;
                }
                b'-' | b'*' | b'+' if bytes.get(at + 1).is_none_or(|b| b.is_ascii_whitespace()) => {
                    containers += 1;
                    at += 1;
                }
                b'0'..=b'9' => {
                    let digits = bytes[at..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    match bytes.get(at + digits) {
                        Some(b'.' | b')') => {
                            containers += 1;
                            at += digits + 1;
                        }
                        _ => break,
                    }
                }
                _ => break,
            }
            if containers > MAX_NESTING || at > 4 * MAX_NESTING {
                return true;
            }
        }
        false
    })
}

/// `markdown` shown as text, with a notice saying why.
fn as_text(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() + 200);
    html.push_str(
        "<p class=\"notice warn\">This Markdown nests or expands too far to render here, \
         so it is shown as text.</p><pre><code>",
    );
    for c in markdown.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
    html.push_str("</code></pre>");
    html
}

/// Gives each heading in `events` the anchor GitHub would: its text in
/// lower case, spaces as `-`, other punctuation dropped; a repeated one
/// gets `-1`, `-2`, ... (The sanitiser adds the `readme-` prefix.)
fn name_headings(events: &mut [Event<'_>]) {
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut at = 0;
    while at < events.len() {
        if !matches!(events[at], Event::Start(Tag::Heading { .. })) {
            at += 1;
            continue;
        }
        let mut slug = String::new();
        let mut end = at + 1;
        while end < events.len() && !matches!(events[end], Event::End(TagEnd::Heading(_))) {
            if let Event::Text(text) | Event::Code(text) = &events[end] {
                for c in text.chars() {
                    match c {
                        ' ' | '-' => slug.push('-'),
                        '_' => slug.push('_'),
                        c if c.is_alphanumeric() => slug.extend(c.to_lowercase()),
                        _ => {}
                    }
                }
            }
            end += 1;
        }
        let seen = taken.entry(slug.clone()).or_insert(0);
        let anchor = match *seen {
            0 => slug,
            n => format!("{slug}-{n}"),
        };
        *seen += 1;
        if let Event::Start(Tag::Heading { id, .. }) = &mut events[at]
            && !anchor.is_empty()
        {
            *id = Some(anchor.into());
        }
        at = end;
    }
}

/// The heading level one below `level` (`h6` stays `h6`).
fn demoted(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// What the sanitiser's attribute filter puts before an image source it
/// resolved into the package, so that the relative URL step after it keeps
/// the source as it is. The filter drops any attribute that holds it.
const RESOLVED_IMAGE: &str = "__sentinel-resolved-image__";

/// The sanitiser of rendered READMEs, whose relative links and images go
/// by `links`.
fn sanitiser(links: Option<FileLinks>) -> ammonia::Builder<'static> {
    let images = links.clone();
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(LINK_SCHEMES))
        .url_relative(ammonia::UrlRelative::Custom(Box::new(RelativeUrls(links))))
        .add_tag_attributes("h2", ["id"])
        .add_tag_attributes("h3", ["id"])
        .add_tag_attributes("h4", ["id"])
        .add_tag_attributes("h5", ["id"])
        .add_tag_attributes("h6", ["id"])
        .id_prefix(Some(ANCHOR_PREFIX))
        .link_rel(Some(LINK_REL))
        .rm_tags(["area", "map"])
        .attribute_filter(move |element, attribute, value| {
            // Only this filter may mark a value (see RESOLVED_IMAGE).
            if value.contains(RESOLVED_IMAGE) {
                return None;
            }
            // Images load from http(s) or the package, never mailto.
            if element == "img" && attribute == "src" && !image_source(value) {
                let resolved = images.as_ref()?.image(value)?;
                return Some(Cow::Owned(format!("{RESOLVED_IMAGE}{resolved}")));
            }
            Some(Cow::Borrowed(value))
        });
    builder
}

/// What the sanitiser makes of relative URLs: they go by the
/// [`FileLinks`] when there are some, else only fragments are kept.
struct RelativeUrls(Option<FileLinks>);

impl ammonia::UrlRelativeEvaluate<'static> for RelativeUrls {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if let Some(image) = url.strip_prefix(RESOLVED_IMAGE) {
            return Some(Cow::Borrowed(image));
        }
        match &self.0 {
            Some(links) => links.resolve(url).map(Cow::Owned),
            None => fragment_link(url),
        }
    }
}

/// What a relative URL becomes: a link to a fragment of the README
/// (`#setup`) leads to its prefixed anchor (`#readme-setup`); any other
/// relative URL is dropped.
fn fragment_link(url: &str) -> Option<Cow<'_, str>> {
    let fragment = url.strip_prefix('#').filter(|f| !f.is_empty())?;
    Some(Cow::Owned(format!("#{ANCHOR_PREFIX}{fragment}")))
}

/// Whether `value` (already past the scheme allow-list, relative URLs
/// dropped) may be an image's source: an http(s) URL, never `mailto:`.
fn image_source(value: &str) -> bool {
    let lower = value.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The most READMEs [`Readmes`] keeps; beyond it, all are dropped.
const MAX_KEPT: usize = 256;

/// Rendered READMEs by a key that fixes their content (a manifest digest).
#[derive(Default)]
pub struct Readmes {
    kept: Mutex<HashMap<String, Arc<str>>>,
}

impl Readmes {
    /// The HTML kept for `key`, if it was rendered already: cheap, for a
    /// caller that renders a miss elsewhere (off an async runtime's
    /// threads) with [`Readmes::html`].
    pub fn kept(&self, key: &str) -> Option<Arc<str>> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// The sanitised HTML of `markdown` with `links`, rendered once per
    /// `key`: `key` must name the content and where its links lead (a
    /// repository and a version's manifest digest).
    pub fn html(&self, key: &str, markdown: &str, links: Option<&FileLinks>) -> Arc<str> {
        if let Some(html) = self.kept(key) {
            return html;
        }
        let html: Arc<str> = readme_html(markdown, links).into();
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(key.to_owned(), Arc::clone(&html));
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `markdown` rendered with no files view to link to.
    fn html(markdown: &str) -> String {
        readme_html(markdown, None)
    }

    /// Nothing that could run: no script element, no handler, no
    /// dangerous URL, in any case.
    fn assert_inert(html: &str) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            "javascript:",
            "vbscript:",
            "data:",
            "onerror",
            "onload",
            "onclick",
            "<iframe",
            "<svg",
            "<form",
            "<input",
            "<object",
            "<embed",
            "style=",
        ] {
            assert!(!lower.contains(bad), "{bad} in {html}");
        }
    }

    #[test]
    fn markdown_renders_tables_strikethrough_and_task_lists() {
        let html = html(
            "# Planner\n\nPlans *trips*.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~\n\n- [x] done\n- [ ] to do\n\n```\ncode\n```\n",
        );
        assert!(
            html.contains(r#"<h2 id="readme-planner">Planner</h2>"#),
            "{html}"
        );
        assert!(html.contains("<em>trips</em>"));
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(
            html.contains("☑ done") && html.contains("☐ to do"),
            "{html}"
        );
        assert!(html.contains("<pre><code>code"), "{html}");
        assert!(!html.contains("<input"));
    }

    #[test]
    fn links_keep_safe_urls_and_carry_rel() {
        let html = html(
            "[site](https://example.com/x) [mail](mailto:a@example.com) [doc](docs/usage.md) [top](#usage)",
        );
        assert!(html.contains(r#"href="https://example.com/x""#), "{html}");
        assert!(html.contains(r#"href="mailto:a@example.com""#));
        // Relative links would lead nowhere: their text stays, unlinked.
        assert!(
            !html.contains("docs/usage.md") && html.contains(">doc</a>"),
            "{html}"
        );
        // A fragment leads to the README's own anchor.
        assert!(html.contains(r##"href="#readme-usage""##), "{html}");
        assert_eq!(
            html.matches(r#"rel="noopener noreferrer nofollow""#)
                .count(),
            4,
            "{html}"
        );
    }

    #[test]
    fn headings_go_down_a_level_and_relative_images_go() {
        let html = html("# Title\n\n## Part\n\n###### Small\n\n![arch](docs/arch.png)\n");
        assert!(
            html.contains(r#"<h2 id="readme-title">Title</h2>"#),
            "{html}"
        );
        assert!(html.contains(r#"<h3 id="readme-part">Part</h3>"#), "{html}");
        assert!(
            html.contains(r#"<h6 id="readme-small">Small</h6>"#),
            "{html}"
        );
        assert!(
            !html.contains("<h1>") && !html.contains("docs/arch.png"),
            "{html}"
        );
    }

    #[test]
    fn headings_have_anchors_and_a_table_of_contents_works() {
        let html = html(
            "- [Quick start](#quick-start)\n- [again](#quick-start-1)\n\n\
             ## Quick start\n\n## Quick start\n\n### `agent pull`, *fast*!\n\n## ???\n\n\
             <h2 id=\"versions\">Raw</h2>\n\n<a href=\"#\">empty</a>\n",
        );
        assert!(
            html.contains(r##"<a href="#readme-quick-start""##),
            "{html}"
        );
        assert!(
            html.contains(r##"<a href="#readme-quick-start-1""##),
            "{html}"
        );
        assert!(html.contains(r#"<h3 id="readme-quick-start">"#), "{html}");
        assert!(html.contains(r#"<h3 id="readme-quick-start-1">"#), "{html}");
        assert!(
            html.contains(r#"<h4 id="readme-agent-pull-fast">"#),
            "{html}"
        );
        // Nothing to name it by: no anchor.
        assert!(html.contains("<h3>???</h3>"), "{html}");
        // A README's own ids cannot take one of the page's.
        assert!(
            html.contains(r#"<h2 id="readme-versions">Raw</h2>"#),
            "{html}"
        );
        assert!(!html.contains(r#"id="versions""#), "{html}");
        assert!(!html.contains(r##"href="#""##), "{html}");
    }

    #[test]
    fn relative_links_lead_into_the_files_view() {
        let from_readme = FileLinks::new("/packages/acme/planner/1.0.0", "README.md");
        let html = readme_html(
            "[usage](docs/usage.md) [part](docs/usage.md#set-up) [q](./src/main.py?raw=1) \
             [space](docs/my%20notes.md) [up](../secrets) [abs](/etc/passwd) [net](//evil.example/x) \
             [top](#usage) ![arch](docs/arch.png)",
            Some(&from_readme),
        );
        let files = "/packages/acme/planner/1.0.0/files";
        for href in [
            format!("{files}/docs/usage.md"),
            format!("{files}/docs/usage.md#readme-set-up"),
            format!("{files}/src/main.py"),
            format!("{files}/docs/my%20notes.md"),
            "#readme-usage".to_owned(),
        ] {
            assert!(
                html.contains(&format!(r#"href="{href}""#)),
                "{href}: {html}"
            );
        }
        // An image loads from the package as it is.
        assert!(
            html.contains(r#"src="/packages/acme/planner/1.0.0/raw/docs/arch.png""#),
            "{html}"
        );
        // Out of the package, absolute or protocol-relative: text only.
        for gone in ["secrets", "/etc/passwd", "evil.example"] {
            assert!(!html.contains(gone), "{gone}: {html}");
        }
        assert!(
            html.contains(">up</a>") && html.contains(">abs</a>"),
            "{html}"
        );

        // From a file in a directory, links resolve against it.
        let from_docs = FileLinks::new("/packages/acme/planner/1.0.0", "docs/usage.md");
        let html = readme_html(
            "[back](../README.md) [next](next.md) [out](../../x)",
            Some(&from_docs),
        );
        assert!(
            html.contains(&format!(r#"href="{files}/README.md""#)),
            "{html}"
        );
        assert!(
            html.contains(&format!(r#"href="{files}/docs/next.md""#)),
            "{html}"
        );
        assert!(!html.contains(r#"/x""#), "{html}");
    }

    #[test]
    fn relative_images_load_from_the_package_as_they_are() {
        let links = FileLinks::new("/packages/acme/planner/1.0.0", "docs/usage.md");
        let raw = "/packages/acme/planner/1.0.0/raw";
        let html = readme_html(
            "![a](arch.png) ![b](../logo.SVG#part) ![c](shots/one%20two.webp?x=1) \
             <img src=\"diagram.jpeg\" onerror=\"alert(1)\" alt=\"d\">",
            Some(&links),
        );
        for src in [
            format!("{raw}/docs/arch.png"),
            format!("{raw}/logo.SVG"),
            format!("{raw}/docs/shots/one%20two.webp"),
            format!("{raw}/docs/diagram.jpeg"),
        ] {
            assert!(html.contains(&format!(r#"src="{src}""#)), "{src}: {html}");
        }
        assert_inert(&html);
        // Not an image, out of the package, absolute, another scheme, a
        // backslash, or a value dressed as one this sanitiser resolved:
        // no source at all.
        for input in [
            "![x](notes.txt)",
            "![x](../../up.png)",
            "![x](/packages/acme/planner/1.0.0/raw/docs/arch.png)",
            "![x](//evil.example/a.png)",
            "![x](data:image/png;base64,AAAA)",
            "![x](a%5C..%5C..%5Cb.png)",
            "<img src=\"__sentinel-resolved-image__/v2/_catalog\">",
            "<img src=\"arch.png__sentinel-resolved-image__\">",
            "<a href=\"__sentinel-resolved-image__/v2/_catalog\">y</a>",
        ] {
            let html = readme_html(input, Some(&links));
            assert!(!html.contains("src="), "{input} gave {html}");
            assert!(!html.contains("href="), "{input} gave {html}");
        }
        // Without a package to load from, relative images go.
        assert!(!readme_html("![a](arch.png)", None).contains("src="));
    }

    #[test]
    fn image_types_are_known_by_extension() {
        assert_eq!(image_type("a/b.PNG"), Some("image/png"));
        assert_eq!(image_type("x.jpg"), Some("image/jpeg"));
        assert_eq!(image_type("x.svg"), Some("image/svg+xml"));
        assert_eq!(image_type("x.html"), None);
        assert_eq!(image_type("png"), None);
    }

    #[test]
    fn markdown_too_deep_or_too_wide_is_shown_as_text() {
        let notice = "so it is shown as text";
        // Nesting on one line, and by indentation.
        for deep in [
            "- ".repeat(8_000),
            "> ".repeat(4_000),
            "1. ".repeat(100),
            format!("{}- x", " ".repeat(200)),
        ] {
            let started = std::time::Instant::now();
            let html = html(&format!("# Title\n\n{deep}<script>x</script>\n"));
            assert!(html.contains(notice), "{}", &html[..200]);
            assert!(html.contains("&lt;script&gt;"), "escaped");
            assert!(!html.contains("<script>"));
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
        // A header of 400 columns pads 800 one-cell rows to 400 cells each.
        let wide = format!(
            "{}|\n{}|\n{}",
            "|h".repeat(400),
            "|-".repeat(400),
            "|a|\n".repeat(800)
        );
        let started = std::time::Instant::now();
        assert!(html(&wide).contains(notice));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // What a README really holds still renders.
        let nested = "- a\n  - b\n    - c\n      > quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let html = html(nested);
        assert!(
            !html.contains(notice) && html.contains("<blockquote>"),
            "{html}"
        );
    }

    #[test]
    fn a_backslash_cannot_climb_out_of_the_files() {
        let links = FileLinks::new("/packages/a/1.0.0", "README.md");
        let html = readme_html(
            "[x](a%5C..%5C..%5C..%5Cv2%5C_catalog) [y](a\\..\\..\\v2)",
            Some(&links),
        );
        assert!(!html.contains("v2"), "{html}");
        assert!(html.contains(">x</a>") && html.contains(">y</a>"), "{html}");
    }

    #[test]
    fn script_elements_are_removed_with_their_content() {
        let html = html("Hi <script>alert(1)</script> there\n\n<script>\nalert(2)\n</script>\n");
        assert_inert(&html);
        assert!(!html.contains("alert"), "{html}");
        assert!(html.contains("Hi"));
    }

    #[test]
    fn event_handlers_are_removed() {
        for input in [
            "<img src=x onerror=alert(1)>",
            "<img src=\"x.png\" onerror=\"alert(1)\">",
            "<svg onload=alert(1)><circle r=1></circle></svg>",
            "<a href=\"https://example.com\" onclick=\"alert(1)\">x</a>",
            "<p onmouseover=\"alert(1)\">hover</p>",
            "<details open ontoggle=alert(1)>x</details>",
        ] {
            let html = html(input);
            assert_inert(&html);
            assert!(!html.contains("alert"), "{input} gave {html}");
        }
        // What is harmless stays.
        let html =
            html("<img src=\"https://example.com/x.png\" onerror=\"alert(1)\" alt=\"logo\">");
        assert!(
            html.contains(r#"src="https://example.com/x.png""#),
            "{html}"
        );
        assert!(html.contains(r#"alt="logo""#), "{html}");
    }

    #[test]
    fn dangerous_urls_are_dropped_however_written() {
        for input in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"  javascript:alert(1)\">x</a>",
            "<a href=\"java\tscript:alert(1)\">x</a>",
            "[x](javascript&colon;alert(1))",
            "<a href=\"javascript&colon;alert(1)\">x</a>",
            "<a href=\"&#106;avascript:alert(1)\">x</a>",
            "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
            "[x](vbscript:msgbox(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "![x](javascript:alert(1))",
            "![x](data:image/svg+xml;base64,PHN2Zz4=)",
            "<img src=\"data:image/png;base64,AAAA\">",
            "![x](mailto:a@example.com)",
            "[x]: javascript:alert(1)\n\n[link][x]",
        ] {
            let html = html(input);
            assert_inert(&html);
            assert!(!html.contains("mailto"), "{input} gave {html}");
        }
    }

    #[test]
    fn frames_forms_styles_and_raw_blocks_are_removed() {
        let input = "<iframe src=\"https://example.com\"></iframe>\n\n\
            <form action=\"https://example.com\"><input name=\"p\"><button>go</button></form>\n\n\
            <style>body{display:none}</style>\n\n\
            <div style=\"position:fixed\" class=\"x\" id=\"nav-user\">text</div>\n\n\
            <object data=\"x.swf\"></object><embed src=\"x.swf\">\n\n\
            <meta http-equiv=\"refresh\" content=\"0;url=https://example.com\">\n\n\
            <base href=\"https://example.com/\">\n";
        let html = html(input);
        assert_inert(&html);
        for bad in ["<meta", "<base", "<button", "class=", "id=", "display:none"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("text"), "{html}");
    }

    #[test]
    fn kept_readmes_are_rendered_once_per_key() {
        let readmes = Readmes::default();
        let first = readmes.html("sha256:a", "# One", None);
        assert!(first.contains(">One</h2>"));
        // The same key is the same content: the kept HTML answers.
        let again = readmes.html("sha256:a", "# Something else", None);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(Arc::ptr_eq(&first, &readmes.kept("sha256:a").unwrap()));
        assert!(readmes.kept("sha256:c").is_none());
        let other = readmes.html("sha256:b", "# Two", None);
        assert!(other.contains(">Two</h2>"));
        for i in 0..MAX_KEPT + 1 {
            readmes.html(&format!("k{i}"), "x", None);
        }
        assert!(readmes.kept.lock().unwrap().len() <= MAX_KEPT);
    }
}
