//! The pages: one struct per page, filled by the registry and rendered by
//! the template its `#[template]` names. Fields are plain, already
//! formatted text; templates escape all of it.

use askama::Template;

use crate::assets::{Assets, assets};

/// What every page's frame shows: the title, the signed-in user, the
/// search box and the embedded files.
#[derive(Debug)]
pub struct Layout {
    /// The page's title (before ` · Sentinel`).
    pub title: String,
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// The session's CSRF token, for the forms a signed-in page carries
    /// (sign out); empty when nobody is signed in.
    pub csrf: String,
    /// Whether the registry has users to sign in as (authentication on).
    pub sign_in: bool,
    /// Where the header's "Sign in" link goes: the sign-in page, with the
    /// page to come back to.
    pub sign_in_href: String,
    /// The search text to show in the header's search box.
    pub query: String,
    /// The embedded stylesheet, script and icon.
    pub assets: &'static Assets,
}

impl Layout {
    /// A frame titled `title` for an anonymous visitor of a registry with
    /// authentication on (`sign_in`) or off.
    pub fn new(title: impl Into<String>, sign_in: bool) -> Layout {
        Layout {
            title: title.into(),
            user: None,
            csrf: String::new(),
            sign_in,
            sign_in_href: "/sign-in".to_owned(),
            query: String::new(),
            assets: assets(),
        }
    }
}

/// A package as a list shows it.
#[derive(Debug, Clone)]
pub struct PackageCard {
    /// The repository holding it, which is also its page's path.
    pub repository: String,
    /// The package's own name.
    pub name: String,
    /// `agent` or `stack`.
    pub kind: String,
    /// The version shown.
    pub version: String,
    /// The description, if any.
    pub description: Option<String>,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// Downloads, formatted with their noun: `1,204 downloads`.
    pub downloads: String,
    /// When it was last updated.
    pub updated: Moment,
    /// Whether a key the registry trusts signed the version shown.
    pub signed: bool,
}

/// A moment in the past, shown as how long ago it was ("3 days ago") in a
/// `<time>` element whose `datetime` and hover title give the exact time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// How long ago, as "3 days ago".
    pub ago: String,
    /// The exact time, RFC 3339 in UTC: `2026-12-07T11:44:05Z`.
    pub utc: String,
}

impl Moment {
    /// The hover text: the exact time to the minute, `2026-12-07 11:44 UTC`
    /// (the RFC 3339 text itself when it is not in the expected form).
    pub fn title(&self) -> String {
        match (self.utc.get(..10), self.utc.get(11..16)) {
            (Some(date), Some(time)) if self.utc.as_bytes().get(10) == Some(&b'T') => {
                format!("{date} {time} UTC")
            }
            _ => self.utc.clone(),
        }
    }
}

/// The registry's totals, for the home page.
#[derive(Debug, Clone, Default)]
pub struct RegistryCounts {
    /// Agents the visitor may see.
    pub agents: u64,
    /// Stacks the visitor may see.
    pub stacks: u64,
}

/// `/`: a search box, the most downloaded and most recently updated
/// packages, and the totals.
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// The frame.
    pub layout: Layout,
    /// The most downloaded packages.
    pub popular: Vec<PackageCard>,
    /// The most recently updated packages.
    pub recent: Vec<PackageCard>,
    /// The totals.
    pub counts: RegistryCounts,
}

/// A page that says what went wrong (404, 403, 400, 500).
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The frame.
    pub layout: Layout,
    /// The HTTP status.
    pub status: u16,
    /// One line for the visitor.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    fn card(description: &str) -> PackageCard {
        PackageCard {
            repository: "acme/web-search".to_owned(),
            name: "web-search".to_owned(),
            kind: "agent".to_owned(),
            version: "1.2.0".to_owned(),
            description: Some(description.to_owned()),
            capabilities: vec!["search".to_owned()],
            downloads: "1,204 downloads".to_owned(),
            updated: Moment {
                ago: "3 days ago".to_owned(),
                utc: "2026-12-04T09:30:12Z".to_owned(),
            },
            signed: true,
        }
    }

    #[test]
    fn the_home_page_escapes_what_packages_say() {
        let page = HomePage {
            layout: Layout::new("Home", false),
            popular: vec![card("<script>alert(1)</script>")],
            recent: vec![card("<img src=x onerror=alert(1)>")],
            counts: RegistryCounts::default(),
        };
        let html = render(&page).unwrap();
        assert!(html.contains("acme/web-search"));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&#60;script&#62;"));
    }

    #[test]
    fn a_moment_says_how_long_ago_with_the_exact_time_on_hover() {
        let page = HomePage {
            layout: Layout::new("Home", false),
            popular: vec![card("plain")],
            recent: Vec::new(),
            counts: RegistryCounts::default(),
        };
        let html = render(&page).unwrap();
        assert!(
            html.contains(
                r#"updated <time datetime="2026-12-04T09:30:12Z" title="2026-12-04 09:30 UTC">3 days ago</time>"#
            ),
            "{html}"
        );
        let odd = Moment {
            ago: "just now".to_owned(),
            utc: "yesterday".to_owned(),
        };
        assert_eq!(odd.title(), "yesterday");
    }

    #[test]
    fn a_signed_in_frame_has_the_sign_out_form_with_its_token() {
        let mut layout = Layout::new("Error", true);
        layout.user = Some("alice".to_owned());
        layout.csrf = "c5rf".to_owned();
        let html = render(&ErrorPage {
            layout,
            status: 404,
            message: "no such package".to_owned(),
        })
        .unwrap();
        assert!(html.contains("alice"));
        assert!(html.contains(r#"name="csrf" value="c5rf""#), "{html}");
        assert!(!html.contains("Sign in"));
    }
}
