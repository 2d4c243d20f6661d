//! The search page (`/search`) and the package pages (`/packages/{name}`,
//! `/packages/{name}/{version}`): their view models. Everything is plain
//! text the templates escape, except [`PackagePage::readme`] (sanitised by
//! [`crate::markdown`]) and [`PackagePage::chart`] (drawn by
//! [`crate::chart`]).

use std::sync::Arc;

use askama::Template;

use crate::pages::{Layout, Moment, PackageCard};

/// The search form as the visitor filled it in.
#[derive(Debug, Clone, Default)]
pub struct SearchForm {
    /// The search text.
    pub q: String,
    /// `agent`, `stack` or empty.
    pub kind: String,
    /// A capability, or empty.
    pub capability: String,
    /// An author, or empty.
    pub author: String,
    /// A tag, or empty.
    pub tag: String,
    /// A model (`provider/name`, provider or name), or empty.
    pub model: String,
    /// A namespace (`acme`: the packages under `acme/`), or empty.
    pub namespace: String,
    /// The search with the namespace left out, when there is one.
    pub without_namespace: String,
    /// Only signed packages.
    pub signed: bool,
    /// `relevance`, `downloads`, `updated` or `name`.
    pub sort: String,
    /// Results per page when the visitor asked for a number, else empty.
    pub limit: String,
}

/// One value of a facet: a link that adds it as a filter.
#[derive(Debug, Clone)]
pub struct FacetLink {
    /// The value (`agent`, `web-search`).
    pub value: String,
    /// How many matches have it.
    pub count: String,
    /// The search with this filter added (or removed, when active).
    pub href: String,
    /// Whether the search is filtered by it already.
    pub active: bool,
}

/// `/search`: the form, the results, the facets and the pager.
#[derive(Debug, Template)]
#[template(path = "search.html")]
pub struct SearchResultsPage {
    /// The frame.
    pub layout: Layout,
    /// The form, filled in.
    pub form: SearchForm,
    /// The results of this page.
    pub results: Vec<PackageCard>,
    /// How many packages match, as "12 packages".
    pub count: String,
    /// Matches per kind.
    pub kinds: Vec<FacetLink>,
    /// Matches per capability, most first.
    pub capabilities: Vec<FacetLink>,
    /// Matches per model (`provider/name`), most first.
    pub models: Vec<FacetLink>,
    /// The next page's URL, if there is one.
    pub next: Option<String>,
    /// The previous page's URL, if there is one.
    pub previous: Option<String>,
}

/// Text, linked when it has a URL.
#[derive(Debug, Clone)]
pub struct Linked {
    /// What is shown.
    pub text: String,
    /// Where it leads, if anywhere.
    pub href: Option<String>,
}

impl Linked {
    /// Text without a link.
    pub fn text(text: impl Into<String>) -> Linked {
        Linked {
            text: text.into(),
            href: None,
        }
    }

    /// Text linking to `href`.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Linked {
        Linked {
            text: text.into(),
            href: Some(href.into()),
        }
    }
}

/// One row of the facts at a glance.
#[derive(Debug, Clone)]
pub struct Fact {
    /// What it is (`Model`, `Ports`).
    pub label: String,
    /// Its values.
    pub values: Vec<Linked>,
}

/// A package this one needs or is needed by: a dependency (agents), a
/// member (stacks) or a dependent (stacks naming an agent).
#[derive(Debug, Clone)]
pub struct Relation {
    /// The name shown (a package, member or stack).
    pub name: String,
    /// What is asked of it: a version requirement or a reference.
    pub detail: String,
    /// Its page, when it is in this registry and the visitor may see it.
    pub href: Option<String>,
}

/// One version in the list of versions.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// The version.
    pub version: String,
    /// Its page.
    pub href: String,
    /// The deprecation message, if deprecated.
    pub deprecated: Option<String>,
    /// Whether a trusted key signed it.
    pub signed: bool,
    /// Whether it is the version shown.
    pub current: bool,
    /// When it was pushed.
    pub pushed: Moment,
    /// The `.sntl` file's size, formatted.
    pub size: String,
    /// Its downloads, formatted.
    pub downloads: String,
}

/// A signature of the version shown.
#[derive(Debug, Clone)]
pub struct SignatureRow {
    /// The key id (`(none)` when the signature names none).
    pub key_id: String,
    /// When it was signed.
    pub created: String,
    /// Whether the registry's policy trusts the key.
    pub trusted: bool,
}

/// A copy-ready command.
#[derive(Debug, Clone)]
pub struct CommandLine {
    /// The element id (`cmd-agent-pull`).
    pub id: String,
    /// The command.
    pub text: String,
}

/// `/packages/{name}` and `/packages/{name}/{version}`.
#[derive(Debug, Template)]
#[template(path = "package.html")]
pub struct PackagePage {
    /// The frame.
    pub layout: Layout,
    /// The repository, the package's name in this registry.
    pub repository: String,
    /// The namespace it is in (`acme` for `acme/planner`), if any.
    pub namespace: Option<String>,
    /// The package's own name, from its definition.
    pub name: String,
    /// `agent` or `stack`.
    pub kind: String,
    /// The version shown.
    pub version: String,
    /// The deprecation message of the version shown, if deprecated.
    pub deprecated: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// The README, sanitised HTML.
    pub readme: Option<Arc<str>>,
    /// Whether the README is longer than the catalogue keeps (only its
    /// start is shown).
    pub readme_cut: bool,
    /// The definition at a glance.
    pub facts: Vec<Fact>,
    /// The agents it depends on (agents) or its members (stacks).
    pub dependencies: Vec<Relation>,
    /// `Dependencies` or `Members`.
    pub dependencies_title: String,
    /// The stacks naming it that the visitor may see.
    pub dependents: Vec<Relation>,
    /// Its versions, highest first.
    pub versions: Vec<VersionRow>,
    /// How many versions there are in all (the list may be cut).
    pub version_count: usize,
    /// The position of the first version listed (0: the highest).
    pub versions_from: usize,
    /// The link to the page of higher versions, when the list starts lower.
    pub newer_versions: Option<String>,
    /// The link to the page of lower versions, when there are more.
    pub older_versions: Option<String>,
    /// The signatures of the version shown.
    pub signatures: Vec<SignatureRow>,
    /// Downloads per day, as SVG.
    pub chart: String,
    /// Downloads in the chart's period, formatted.
    pub recent_downloads: String,
    /// The manifest's digest.
    pub digest: String,
    /// The `.sntl` file's size, formatted.
    pub size: String,
    /// The `.sntl` file's name.
    pub file_name: String,
    /// The page listing the files in it.
    pub files_href: String,
    /// The pull commands.
    pub commands: Vec<CommandLine>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    fn package_page(text: &str) -> PackagePage {
        PackagePage {
            layout: Layout::new("p", false),
            repository: "acme/planner".to_owned(),
            namespace: Some("acme".to_owned()),
            name: text.to_owned(),
            kind: "agent".to_owned(),
            version: "1.0.0".to_owned(),
            deprecated: Some(text.to_owned()),
            description: Some(text.to_owned()),
            tags: vec![text.to_owned()],
            capabilities: vec![text.to_owned()],
            readme: Some(crate::markdown::readme_html(text, None).into()),
            readme_cut: false,
            facts: vec![Fact {
                label: "Source".to_owned(),
                values: vec![Linked::text(text)],
            }],
            dependencies: vec![Relation {
                name: text.to_owned(),
                detail: text.to_owned(),
                href: None,
            }],
            dependencies_title: "Dependencies".to_owned(),
            dependents: Vec::new(),
            versions: vec![VersionRow {
                version: "1.0.0".to_owned(),
                href: "/packages/acme/planner/1.0.0".to_owned(),
                deprecated: Some(text.to_owned()),
                signed: true,
                current: true,
                pushed: Moment {
                    ago: "just now".to_owned(),
                    utc: "2026-12-07T11:00:00Z".to_owned(),
                },
                size: "1 KB".to_owned(),
                downloads: "0".to_owned(),
            }],
            version_count: 1,
            versions_from: 0,
            newer_versions: None,
            older_versions: None,
            signatures: vec![SignatureRow {
                key_id: text.to_owned(),
                created: String::new(),
                trusted: false,
            }],
            chart: crate::chart::downloads_chart(&[(20_000, 1)]),
            recent_downloads: "1".to_owned(),
            digest: "sha256:00".to_owned(),
            size: "1 KB".to_owned(),
            file_name: text.to_owned(),
            files_href: "/packages/acme/planner/1.0.0/files".to_owned(),
            commands: vec![CommandLine {
                id: "cmd-agent-pull".to_owned(),
                text: format!("agent pull {text}"),
            }],
        }
    }

    #[test]
    fn the_package_page_escapes_what_the_package_says() {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'";
        let html = render(&package_page(hostile)).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("onerror=alert(2)>"), "{html}");
        assert!(html.contains("&#60;script&#62;"));
        assert!(html.contains(r#"id="readme""#));
        assert!(html.contains(r#"id="downloads-chart""#));
        assert!(html.contains(r#"class="badge untrusted""#));
        assert!(html.contains(r#"id="cmd-agent-pull""#));
        assert!(!html.contains("style="));
    }

    #[test]
    fn the_search_page_shows_facets_and_an_empty_state() {
        let page = SearchResultsPage {
            layout: Layout::new("Search", false),
            form: SearchForm {
                q: "<script>".to_owned(),
                sort: "relevance".to_owned(),
                ..SearchForm::default()
            },
            results: Vec::new(),
            count: "0 packages".to_owned(),
            kinds: vec![FacetLink {
                value: "agent".to_owned(),
                count: "3".to_owned(),
                href: "/search?kind=agent".to_owned(),
                active: false,
            }],
            capabilities: Vec::new(),
            models: vec![FacetLink {
                value: "anthropic/claude".to_owned(),
                count: "2".to_owned(),
                href: "/search".to_owned(),
                active: true,
            }],
            next: None,
            previous: None,
        };
        let html = render(&page).unwrap();
        assert!(html.contains(r#"id="no-results""#), "{html}");
        assert!(
            html.contains(r#"<ul id="facet-model"><li><a href="/search" class="active" aria-label="anthropic/claude: 2, on: remove this filter">"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="count">3</span>"#), "{html}");
        assert!(!html.contains("value=\"<script>"));
        assert!(!html.contains(r#"id="next-page""#));
    }
}
