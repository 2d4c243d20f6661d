//! The registry's web pages, rendered on the server.
//!
//! This crate knows how a page looks, not where its facts come from: each
//! page is a struct of plain values (a view model) that the registry's UI
//! handlers fill from the catalogue and the index, rendered by an askama
//! template under `templates/` (every value HTML-escaped unless a template
//! says otherwise, which only the sanitised README and the server-drawn
//! chart do). The stylesheet, the one small script and the icon are
//! embedded ([`assets`]); no page loads anything from another origin, and
//! every page works without JavaScript.

pub mod account_pages;
pub mod assets;
pub mod chart;
pub mod file_pages;
pub mod format;
pub mod markdown;
pub mod package_pages;
pub mod pages;
pub mod repository_pages;

pub use account_pages::{NewToken, Notice, SettingsPage, SignInPage, TokenRow};
pub use assets::{Asset, Assets, assets};
pub use file_pages::{FileBody, FilePage, FileRow, FilesPage};
pub use package_pages::{
    CommandLine, FacetLink, Fact, Linked, PackagePage, Relation, SearchForm, SearchResultsPage,
    SignatureRow, VersionRow,
};
pub use pages::{ErrorPage, HomePage, Layout, Moment, PackageCard, RegistryCounts};
pub use repository_pages::{
    PlatformChip, ReferrerRow, RepositoriesPage, RepositoryPage, RepositoryRow, TagRow,
};

/// A page that could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the page: {0}")]
pub struct RenderError(#[from] askama::Error);

/// The HTML of `page`.
pub fn render(page: &impl askama::Template) -> Result<String, RenderError> {
    Ok(page.render()?)
}
