//! The repository pages: every repository the visitor may see, and one
//! repository's tags, platforms, sizes and referrers.

use askama::Template;

use crate::pages::Layout;

/// A repository as the list shows it.
#[derive(Debug, Clone)]
pub struct RepositoryRow {
    /// Its name, which is also its page's path.
    pub name: String,
    /// How many tags it has, with the noun (`3 tags`, `1,000+ tags` past the
    /// count's bound).
    pub tags: String,
    /// `agent` or `stack` when it holds a catalogued package.
    pub package: Option<String>,
}

/// `/repositories`: a page of the repositories the visitor may see.
#[derive(Debug, Template)]
#[template(path = "repositories.html")]
pub struct RepositoriesPage {
    /// The frame.
    pub layout: Layout,
    /// The repositories of this page, in name order.
    pub repositories: Vec<RepositoryRow>,
    /// The link to the next page, if there is one.
    pub next: Option<String>,
    /// The link to the first page, when this is not it.
    pub first: Option<String>,
}

/// A tag of a repository, with what its manifest says.
#[derive(Debug, Clone)]
pub struct TagRow {
    /// The tag.
    pub name: String,
    /// The manifest's digest.
    pub digest: String,
    /// The digest cut short for reading (`sha256:0123456789ab`).
    pub short_digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest with its config and layers (an index: with the images
    /// of its platforms), formatted.
    pub size: String,
    /// The platforms of an image index; empty otherwise.
    pub platforms: Vec<PlatformChip>,
    /// The artifact type, if the manifest has one.
    pub artifact_type: Option<String>,
}

/// One platform of an image index.
#[derive(Debug, Clone)]
pub struct PlatformChip {
    /// `os/architecture[/variant]`: `linux/arm64/v8`.
    pub name: String,
    /// Its image's size (manifest, config and layers), formatted, when the
    /// registry holds its manifest.
    pub size: Option<String>,
}

/// A manifest whose subject is one of the tagged manifests listed.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    /// The tags of the subject (on this page), or its short digest.
    pub subject: String,
    /// What kind of artifact it is (a signature, an SBOM), if it says.
    pub artifact_type: String,
    /// The referrer's digest.
    pub digest: String,
    /// The digest cut short for reading.
    pub short_digest: String,
}

/// `/repositories/{name}`: a page of a repository's tags and the
/// referrers of their manifests.
#[derive(Debug, Template)]
#[template(path = "repository.html")]
pub struct RepositoryPage {
    /// The frame.
    pub layout: Layout,
    /// The repository.
    pub name: String,
    /// The package page, when the repository holds a catalogued package.
    pub package: Option<String>,
    /// The tags of this page, in lexical order.
    pub tags: Vec<TagRow>,
    /// The referrers of this page's manifests.
    pub referrers: Vec<ReferrerRow>,
    /// The command that pulls the first tag shown, if any.
    pub pull: Option<String>,
    /// The link to the next page of tags, if there is one.
    pub next: Option<String>,
    /// The link to the first page, when this is not it.
    pub first: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn the_list_links_each_repository_and_the_next_page() {
        let html = render(&RepositoriesPage {
            layout: Layout::new("Repositories", false),
            repositories: vec![RepositoryRow {
                name: "acme/web".to_owned(),
                tags: "3".to_owned(),
                package: Some("agent".to_owned()),
            }],
            next: Some("/repositories?last=acme%2Fweb".to_owned()),
            first: None,
        })
        .unwrap();
        assert!(
            html.contains(r#"<a class="repository-link" href="/repositories/acme/web">"#),
            "{html}"
        );
        assert!(html.contains(r#"id="next-page""#), "{html}");
    }

    #[test]
    fn a_repository_shows_its_tags_platforms_and_referrers() {
        let html = render(&RepositoryPage {
            layout: Layout::new("acme/web", false),
            name: "acme/web".to_owned(),
            package: Some("/packages/acme/web".to_owned()),
            tags: vec![TagRow {
                name: "1.0.0".to_owned(),
                digest: "sha256:00aa".to_owned(),
                short_digest: "sha256:00aa".to_owned(),
                media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
                size: "1.2 KB".to_owned(),
                platforms: vec![
                    PlatformChip {
                        name: "linux/amd64".to_owned(),
                        size: Some("3.1 MB".to_owned()),
                    },
                    PlatformChip {
                        name: "linux/arm64/v8".to_owned(),
                        size: None,
                    },
                ],
                artifact_type: None,
            }],
            referrers: vec![ReferrerRow {
                subject: "1.0.0".to_owned(),
                artifact_type: "application/vnd.dev.cosign<x>".to_owned(),
                digest: "sha256:11bb".to_owned(),
                short_digest: "sha256:11bb".to_owned(),
            }],
            pull: Some("oras pull host/acme/web:1.0.0".to_owned()),
            next: None,
            first: None,
        })
        .unwrap();
        assert!(
            html.contains(r#"<h1 id="repository-name">acme/web</h1>"#),
            "{html}"
        );
        assert!(html.contains(r#"<tr class="tag">"#), "{html}");
        assert!(
            html.contains(
                r#"<span class="chip">linux/amd64 <span class="meta">3.1 MB</span></span> <span class="chip">linux/arm64/v8</span>"#
            ),
            "{html}"
        );
        assert!(html.contains("cosign&#60;x&#62;"), "{html}");
        assert!(html.contains(r#"href="/packages/acme/web""#), "{html}");
        assert!(!html.contains("next-page"), "{html}");
    }
}
