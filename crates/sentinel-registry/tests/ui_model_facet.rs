//! The search page's Model facet over real HTTP with the real binary: the
//! models of the matches with their counts, each a link that filters by
//! it, and, when on, a link that clears it.

#[path = "support/html.rs"]
mod html;
#[path = "support/packages.rs"]
mod packages;
#[path = "support/process.rs"]
mod process;

use html::{list, results};
use process::Process;

/// A `.sntl` of the agent `name`, with `model` (`provider/name`) if given.
fn package(name: &str, model: Option<(&str, &str)>) -> Vec<u8> {
    let model = model
        .map(|(provider, name)| format!("model:\n  provider: {provider}\n  name: {name}\n"))
        .unwrap_or_default();
    packages::agent(name, "1.0.0", &model, &[])
}

/// The `href` of the facet link labelled `label`, with `&` read back.
fn facet_href(facet: &str, label: &str) -> String {
    let end = facet
        .find(&format!(r#" aria-label="{label}""#))
        .unwrap_or_else(|| panic!("no facet labelled {label:?} in {facet}"));
    let start = facet[..end].rfind(r#"href=""#).unwrap() + 6;
    facet[start..end]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

#[test]
fn the_model_facet_counts_models_and_its_links_filter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::start(dir.path());
    let http = reqwest::blocking::Client::new();
    for (repository, model) in [
        ("acme/planner", Some(("Anthropic", "Claude-Sonnet-4"))),
        ("acme/writer", Some(("anthropic", "claude-sonnet-4"))),
        ("acme/coder", Some(("openai", "gpt-5"))),
        ("acme/plain", None),
    ] {
        let name = repository.rsplit('/').next().unwrap();
        let published = http
            .put(server.url(&format!("/v1/packages/publish?repository={repository}")))
            .body(package(name, model))
            .send()
            .unwrap();
        assert_eq!(published.status(), 201, "{repository}");
    }
    let get = |path: &str| {
        let response = http.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().unwrap()
    };

    // Every match's model, lowercased, most first; the package without one
    // is not counted.
    let all = get("/search");
    assert_eq!(results(&all).len(), 4);
    assert!(all.contains("<h2>Model</h2>"), "{all}");
    let models = list(&all, "facet-model");
    assert_eq!(models.matches("<li>").count(), 2, "{models}");
    let claude = models
        .find(
            r#"<a href="/search?model=anthropic%2Fclaude-sonnet-4" aria-label="anthropic/claude-sonnet-4: 2, add this filter">anthropic/claude-sonnet-4 <span class="count">2</span></a>"#,
        )
        .unwrap_or_else(|| panic!("{models}"));
    let gpt = models
        .find(
            r#"<a href="/search?model=openai%2Fgpt-5" aria-label="openai/gpt-5: 1, add this filter">openai/gpt-5 <span class="count">1</span></a>"#,
        )
        .unwrap_or_else(|| panic!("{models}"));
    assert!(claude < gpt, "{models}");

    // Its link filters, keeping the rest of the search; the facet is then
    // on, and its link clears it.
    let sorted = get("/search?sort=name");
    let href = facet_href(
        list(&sorted, "facet-model"),
        "anthropic/claude-sonnet-4: 2, add this filter",
    );
    assert_eq!(href, "/search?sort=name&model=anthropic%2Fclaude-sonnet-4");
    let filtered = get(&href);
    assert_eq!(results(&filtered), ["acme/planner", "acme/writer"]);
    assert!(filtered.contains(r#"<p id="result-count">2 packages</p>"#));
    let models = list(&filtered, "facet-model");
    assert_eq!(models.matches("<li>").count(), 1, "{models}");
    let label = "anthropic/claude-sonnet-4: 2, on: remove this filter";
    assert!(
        models.contains(&format!(r#"class="active" aria-label="{label}""#)),
        "{models}"
    );
    assert_eq!(facet_href(models, label), "/search?sort=name");

    // A model filter as typed, in capitals, is the same facet, on.
    let typed = get("/search?model=Anthropic/Claude-Sonnet-4");
    assert_eq!(results(&typed).len(), 2);
    assert_eq!(facet_href(list(&typed, "facet-model"), label), "/search");
    // A provider alone filters too; its model's facet is not on, and its
    // link narrows to the whole `provider/name`.
    let provider = get("/search?model=openai");
    assert_eq!(results(&provider), ["acme/coder"]);
    assert_eq!(
        facet_href(
            list(&provider, "facet-model"),
            "openai/gpt-5: 1, add this filter"
        ),
        "/search?model=openai%2Fgpt-5"
    );

    // No match with a model: the facet says so.
    let none = get("/search?q=plain");
    assert_eq!(results(&none), ["acme/plain"]);
    assert!(list(&none, "facet-model").matches("<li>").count() == 0);
    assert!(
        none.contains("<h2>Model</h2>\n  <p class=\"empty\">None.</p>"),
        "{none}"
    );
}
