//! `GET /`: the home page.

use super::*;
use sentinel_catalogue::{SearchQuery, Sort};
use sentinel_oci::RepositoryName;
use sentinel_package::PackageKind;
use sentinel_ui::{HomePage, RegistryCounts};

/// Packages in each of the home page's lists.
const LISTED: usize = 6;

/// `GET /`.
pub(super) async fn home(State(app): State<App>, visit: Visit) -> Response {
    let result = render(&app, &visit).await;
    visit.respond(&app, result)
}

async fn render(app: &App, visit: &Visit) -> Result<Response, PageError> {
    let visible = |repository: &RepositoryName| visit.can_see(repository.as_str());
    let listed = |sort| SearchQuery {
        sort,
        limit: LISTED,
        ..SearchQuery::default()
    };
    let popular = app
        .registry
        .search_packages(&listed(Sort::Downloads), &visible)
        .await?;
    let recent = app
        .registry
        .search_packages(&listed(Sort::Updated), &visible)
        .await?;
    let mut totals = [0; 2];
    for (total, kind) in totals
        .iter_mut()
        .zip([PackageKind::Agent, PackageKind::Stack])
    {
        let query = SearchQuery {
            kind: Some(kind),
            limit: 1,
            ..SearchQuery::default()
        };
        *total = app.registry.search_packages(&query, &visible).await?.total;
    }
    page(&HomePage {
        layout: visit.layout(app, "Home"),
        popular: package_cards(app, &popular.packages).await?,
        recent: package_cards(app, &recent.packages).await?,
        counts: RegistryCounts {
            agents: totals[0] as u64,
            stacks: totals[1] as u64,
        },
    })
}
