//! The files of a package version: the list its inventory gives, and one
//! file shown (Markdown rendered and sanitised, an image as an image, other
//! text as text).

use std::sync::Arc;

use askama::Template;

use crate::pages::Layout;

/// `/packages/{name}/{version}/files`: every file of a package version.
#[derive(Template)]
#[template(path = "files.html")]
pub struct FilesPage {
    /// The frame.
    pub layout: Layout,
    /// The repository (the package's name in this registry).
    pub repository: String,
    /// The version.
    pub version: String,
    /// The version's page.
    pub package_href: String,
    /// The files shown, by path.
    pub files: Vec<FileRow>,
    /// How many files the version has.
    pub count: usize,
    /// The position of the first file shown (0: the first).
    pub from: usize,
    /// The page of the files before these, if any.
    pub previous: Option<String>,
    /// The page of the files after these, if any.
    pub next: Option<String>,
    /// Their sizes, summed and formatted.
    pub total_size: String,
}

/// One file in [`FilesPage`].
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Its path in the package: `docs/usage.md`.
    pub path: String,
    /// Its page.
    pub href: String,
    /// Its size, formatted.
    pub size: String,
}

/// `/packages/{name}/{version}/files/{path}`: one file of a package version.
#[derive(Template)]
#[template(path = "file.html")]
pub struct FilePage {
    /// The frame.
    pub layout: Layout,
    /// The repository.
    pub repository: String,
    /// The version.
    pub version: String,
    /// The version's page.
    pub package_href: String,
    /// The version's files.
    pub files_href: String,
    /// The file's path in the package.
    pub path: String,
    /// Its size, formatted.
    pub size: String,
    /// The SHA-256 of its content, as the inventory records it.
    pub sha256: String,
    /// What is shown of it.
    pub body: FileBody,
}

/// What a [`FilePage`] shows of its file.
#[derive(Debug, Clone)]
pub enum FileBody {
    /// A Markdown file, rendered and sanitised.
    Markdown(Arc<str>),
    /// Text, shown as is (HTML-escaped); `cut` when only its start is.
    Text {
        /// The text.
        text: String,
        /// Whether the file is longer than what is shown.
        cut: bool,
    },
    /// An image, shown from the file as it is: `src` is its URL.
    Image {
        /// The file as it is: `/packages/acme/planner/1.0.0/raw/docs/a.png`.
        src: String,
    },
    /// Not text (not UTF-8, or holding NUL bytes): not shown.
    Binary,
    /// The package, or the file, is too large to read here.
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    fn page(body: FileBody) -> FilePage {
        FilePage {
            layout: Layout::new("acme/planner 1.0.0: src/main.py", false),
            repository: "acme/planner".to_owned(),
            version: "1.0.0".to_owned(),
            package_href: "/packages/acme/planner/1.0.0".to_owned(),
            files_href: "/packages/acme/planner/1.0.0/files".to_owned(),
            path: "src/<main>.py".to_owned(),
            size: "12 B".to_owned(),
            sha256: "ab".repeat(32),
            body,
        }
    }

    #[test]
    fn a_text_file_is_shown_escaped_and_says_when_it_is_cut() {
        let html = render(&page(FileBody::Text {
            text: "print('<script>alert(1)</script>')".to_owned(),
            cut: true,
        }))
        .unwrap();
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains(r#"id="file-cut""#), "{html}");
        assert!(html.contains("src/&#60;main&#62;.py"), "{html}");
    }

    #[test]
    fn an_image_is_shown_from_the_file_as_it_is() {
        let html = render(&page(FileBody::Image {
            src: "/packages/acme/planner/1.0.0/raw/docs/a%20b.png".to_owned(),
        }))
        .unwrap();
        assert!(
            html.contains(r#"src="/packages/acme/planner/1.0.0/raw/docs/a%20b.png""#),
            "{html}"
        );
        assert!(html.contains(r#"id="file-image""#), "{html}");
    }

    #[test]
    fn binary_and_large_files_are_not_shown() {
        let html = render(&page(FileBody::Binary)).unwrap();
        assert!(html.contains(r#"id="file-binary""#), "{html}");
        let html = render(&page(FileBody::TooLarge)).unwrap();
        assert!(html.contains(r#"id="file-too-large""#), "{html}");
    }

    #[test]
    fn the_list_links_every_file() {
        let html = render(&FilesPage {
            layout: Layout::new("acme/planner 1.0.0: files", false),
            repository: "acme/planner".to_owned(),
            version: "1.0.0".to_owned(),
            package_href: "/packages/acme/planner/1.0.0".to_owned(),
            files: vec![FileRow {
                path: "docs/a b.md".to_owned(),
                href: "/packages/acme/planner/1.0.0/files/docs/a%20b.md".to_owned(),
                size: "1 KB".to_owned(),
            }],
            total_size: "1 KB".to_owned(),
            count: 1,
            from: 0,
            previous: None,
            next: None,
        })
        .unwrap();
        assert!(
            html.contains(r#"<a class="file-link" href="/packages/acme/planner/1.0.0/files/docs/a%20b.md">docs/a b.md</a>"#),
            "{html}"
        );
    }
}
