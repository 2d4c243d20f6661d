//! Checks of search: ranking, filters and paging, visibility, the version
//! shown.

use super::*;

pub(super) async fn search_ranks_exact_then_prefix_then_terms(catalogue: &impl Catalogue) {
    let entries = [
        with(agent("acme/summariser-pro", "1.0.0", "a"), |e| {
            e.description = Some("summarises anything".to_owned());
        }),
        with(agent("acme/notes", "1.0.0", "a"), |e| {
            e.description = Some("keeps notes; a summariser too".to_owned());
        }),
        with(agent("zeta/summariser", "1.0.0", "a"), |e| {
            e.description = Some("the plain one".to_owned());
        }),
        with(agent("acme/translator", "1.0.0", "a"), |e| {
            e.description = Some("translates".to_owned());
            e.tags = vec!["summariser".to_owned()];
        }),
        agent("acme/unrelated", "1.0.0", "a"),
    ];
    for entry in entries {
        catalogue.record(entry).await.unwrap();
    }
    let page = catalogue
        .search(&query("summariser"), EVERYONE)
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    let found = names(&page);
    assert_eq!(found[0], "zeta/summariser", "the exact name first");
    assert_eq!(found[1], "acme/summariser-pro", "then a name prefix");
    assert_eq!(
        &found[2..],
        ["acme/translator", "acme/notes"],
        "then tags before descriptions"
    );
    // Words match as prefixes and all must match.
    let page = catalogue
        .search(&query("SUMM trans"), EVERYONE)
        .await
        .unwrap();
    assert_eq!(names(&page), ["acme/translator"]);
    assert_eq!(
        catalogue
            .search(&query("nothing-like-it"), EVERYONE)
            .await
            .unwrap()
            .total,
        0
    );
    // An empty query lists everything; one of punctuation only, nothing.
    assert_eq!(
        catalogue.search(&query(""), EVERYONE).await.unwrap().total,
        5
    );
    assert_eq!(
        catalogue
            .search(&query(" !?- "), EVERYONE)
            .await
            .unwrap()
            .total,
        0
    );
}

pub(super) async fn search_filters_combine_and_pages_count(catalogue: &impl Catalogue) {
    for i in 0..12 {
        let entry = with(agent(&format!("team/agent-{i:02}"), "1.0.0", "a"), |e| {
            if i % 2 == 0 {
                e.capabilities.push("pdf".to_owned());
            }
            if i % 3 == 0 {
                e.tags = vec!["Finance".to_owned()];
                e.author = Some("Grace Hopper".to_owned());
            }
            if i == 4 {
                e.model = Some(ModelRef {
                    provider: "openai".to_owned(),
                    name: "gpt".to_owned(),
                });
            }
        });
        catalogue.record(entry).await.unwrap();
    }
    let filtered = |f: fn(&mut SearchQuery)| {
        let mut q = query("");
        f(&mut q);
        q
    };
    let pdf = catalogue
        .search(
            &filtered(|q| q.capability = Some("PDF".to_owned())),
            EVERYONE,
        )
        .await
        .unwrap();
    assert_eq!(pdf.total, 6);
    let both = filtered(|q| {
        q.capability = Some("pdf".to_owned());
        q.tag = Some("finance".to_owned());
    });
    let page = catalogue.search(&both, EVERYONE).await.unwrap();
    assert_eq!(names(&page), ["team/agent-00", "team/agent-06"]);
    let author = filtered(|q| q.author = Some("hopper".to_owned()));
    assert_eq!(catalogue.search(&author, EVERYONE).await.unwrap().total, 4);
    for model in ["openai", "gpt", "OpenAI/GPT"] {
        let mut q = query("");
        q.model = Some(model.to_owned());
        let page = catalogue.search(&q, EVERYONE).await.unwrap();
        assert_eq!(names(&page), ["team/agent-04"], "{model}");
    }
    let stacks = filtered(|q| q.kind = Some(PackageKind::Stack));
    assert_eq!(catalogue.search(&stacks, EVERYONE).await.unwrap().total, 0);
    let mut paged = filtered(|q| q.sort = Sort::Name);
    paged.limit = 5;
    paged.offset = 10;
    let page = catalogue.search(&paged, EVERYONE).await.unwrap();
    assert_eq!(page.total, 12);
    assert_eq!(names(&page), ["team/agent-10", "team/agent-11"]);
}

pub(super) async fn search_shows_only_what_is_visible(catalogue: &impl Catalogue) {
    catalogue
        .record(agent("public/finder", "1.0.0", "a"))
        .await
        .unwrap();
    catalogue
        .record(agent("secret/finder", "1.0.0", "a"))
        .await
        .unwrap();
    let only_public: Visible<'_> = &|r: &RepositoryName| r.as_str().starts_with("public/");
    let page = catalogue
        .search(&query("finder"), only_public)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(names(&page), ["public/finder"]);
    let nobody: Visible<'_> = &|_| false;
    assert_eq!(catalogue.search(&query(""), nobody).await.unwrap().total, 0);
}

pub(super) async fn search_shows_the_latest_version(catalogue: &impl Catalogue) {
    let old = with(agent("team/planner", "1.0.0", "a"), |e| {
        e.description = Some("old words".to_owned());
        e.pushed_at = 10;
    });
    let pre = with(agent("team/planner", "3.0.0-beta.1", "a"), |e| {
        e.description = Some("beta words".to_owned());
        e.pushed_at = 30;
    });
    let new = with(agent("team/planner", "2.0.0", "a"), |e| {
        e.description = Some("new words".to_owned());
        e.pushed_at = 20;
    });
    for entry in [old, pre, new] {
        catalogue.record(entry).await.unwrap();
    }
    let page = catalogue.search(&query("planner"), EVERYONE).await.unwrap();
    let summary = &page.packages[0];
    assert_eq!(summary.latest, Some(version("2.0.0")));
    assert_eq!(summary.shown, version("2.0.0"));
    assert_eq!(summary.description.as_deref(), Some("new words"));
    assert_eq!(summary.updated, 30);
    assert_eq!(
        catalogue
            .search(&query("old"), EVERYONE)
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        catalogue
            .search(&query("beta"), EVERYONE)
            .await
            .unwrap()
            .total,
        0
    );
}

pub(super) async fn search_facets_count_every_match(catalogue: &impl Catalogue) {
    for i in 0..30 {
        let entry = with(agent(&format!("team/agent-{i:02}"), "1.0.0", "a"), |e| {
            // web-search on all, pdf on even ones, PDF again in another case
            // on one (counted once), and a capability of its own on each.
            if i % 2 == 0 {
                e.capabilities.push("pdf".to_owned());
            }
            if i == 4 {
                e.capabilities.push("PDF".to_owned());
            }
            e.capabilities.push(format!("own-{i:02}"));
            if i >= 25 {
                e.kind = PackageKind::Stack;
            }
        });
        catalogue.record(entry).await.unwrap();
    }
    let mut page_of_two = query("");
    page_of_two.limit = 2;
    let faceted = catalogue
        .search_faceted(&page_of_two, EVERYONE)
        .await
        .unwrap();
    assert_eq!(faceted.page.packages.len(), 2);
    assert_eq!(faceted.page.total, 30);
    assert_eq!(
        faceted.page,
        catalogue.search(&page_of_two, EVERYONE).await.unwrap()
    );
    assert_eq!(
        faceted.facets.kinds,
        [(PackageKind::Agent, 25), (PackageKind::Stack, 5)]
    );
    let capabilities = &faceted.facets.capabilities;
    assert_eq!(capabilities.len(), crate::MAX_CAPABILITY_FACETS);
    assert_eq!(capabilities[0], ("web-search".to_owned(), 30));
    assert_eq!(capabilities[1], ("pdf".to_owned(), 15));
    // Ties (one each) by name: own-00, own-01, ...
    assert_eq!(capabilities[2], ("own-00".to_owned(), 1));
    assert_eq!(capabilities[19], ("own-17".to_owned(), 1));
    // Filters and visibility apply to the facets as to the results.
    let mut pdf = query("");
    pdf.capability = Some("pdf".to_owned());
    let only_even: Visible<'_> = &|r: &RepositoryName| {
        let n: u32 = r.as_str()[11..].parse().unwrap();
        n.is_multiple_of(4)
    };
    let faceted = catalogue.search_faceted(&pdf, only_even).await.unwrap();
    assert_eq!(faceted.page.total, 8);
    assert_eq!(
        faceted.facets.kinds,
        [(PackageKind::Agent, 7), (PackageKind::Stack, 1)]
    );
    assert_eq!(faceted.facets.capabilities[0], ("pdf".to_owned(), 8));
    let none = catalogue
        .search_faceted(&query("nothing-matches-this"), EVERYONE)
        .await
        .unwrap();
    assert_eq!(none.page.total, 0);
    assert_eq!(none.facets, crate::Facets::default());
}

pub(super) async fn search_facets_count_models(catalogue: &impl Catalogue) {
    let model = |provider: &str, name: &str| {
        Some(ModelRef {
            provider: provider.to_owned(),
            name: name.to_owned(),
        })
    };
    for i in 0..40 {
        let entry = with(agent(&format!("team/agent-{i:02}"), "1.0.0", "a"), |e| {
            // None on 0-5, anthropic/claude on 6-13 (once in capitals),
            // openai/gpt-5 and mistral/large on three each, and a model of
            // its own on each of 20-39.
            e.model = match i {
                0..=5 => None,
                6 => model("Anthropic", "Claude"),
                7..=13 => model("anthropic", "claude"),
                14..=16 => model("OpenAI", "GPT-5"),
                17..=19 => model("mistral", "large"),
                _ => model("local", &format!("m-{i:02}")),
            };
            if i < 3 {
                e.kind = PackageKind::Stack;
            }
        });
        catalogue.record(entry).await.unwrap();
    }
    let faceted = catalogue
        .search_faceted(&query(""), EVERYONE)
        .await
        .unwrap();
    assert_eq!(faceted.page.total, 40);
    let models = &faceted.facets.models;
    assert_eq!(models.len(), crate::MAX_MODEL_FACETS);
    assert_eq!(models[0], ("anthropic/claude".to_owned(), 8));
    // Ties by name: mistral before openai, then local/m-20, local/m-21, ...
    assert_eq!(models[1], ("mistral/large".to_owned(), 3));
    assert_eq!(models[2], ("openai/gpt-5".to_owned(), 3));
    assert_eq!(models[3], ("local/m-20".to_owned(), 1));
    assert_eq!(models[19], ("local/m-36".to_owned(), 1));
    // Each facet's value is a model filter keeping what it counted.
    for (value, count) in &models[..3] {
        let mut by_model = query("");
        by_model.model = Some(value.clone());
        let faceted = catalogue.search_faceted(&by_model, EVERYONE).await.unwrap();
        assert_eq!(faceted.page.total, *count, "{value}");
        assert_eq!(faceted.facets.models, [(value.clone(), *count)]);
    }
    // Filters and visibility apply; packages without a model count for
    // kinds, not models.
    let below_ten: Visible<'_> =
        &|r: &RepositoryName| r.as_str()[11..].parse::<u32>().unwrap() < 10;
    let faceted = catalogue
        .search_faceted(&query(""), below_ten)
        .await
        .unwrap();
    assert_eq!(faceted.page.total, 10);
    assert_eq!(faceted.facets.models, [("anthropic/claude".to_owned(), 4)]);
    let mut stacks = query("");
    stacks.kind = Some(PackageKind::Stack);
    let faceted = catalogue.search_faceted(&stacks, EVERYONE).await.unwrap();
    assert_eq!(faceted.facets.kinds, [(PackageKind::Stack, 3)]);
    assert_eq!(faceted.facets.models, []);
    // The model of the version shown is the one counted.
    let newer = with(agent("team/agent-07", "2.0.0", "a"), |e| {
        e.model = model("mistral", "large");
    });
    catalogue.record(newer).await.unwrap();
    let faceted = catalogue
        .search_faceted(&query(""), EVERYONE)
        .await
        .unwrap();
    assert_eq!(faceted.facets.models[0], ("anthropic/claude".to_owned(), 7));
    assert_eq!(faceted.facets.models[1], ("mistral/large".to_owned(), 4));
}

pub(super) async fn search_keeps_a_namespace(catalogue: &impl Catalogue) {
    for name in [
        "acme/planner",
        "acme/team/booker",
        "acmeco/planner",
        "zeta/acme",
    ] {
        catalogue.record(agent(name, "1.0.0", "a")).await.unwrap();
    }
    let under = |namespace: &str| SearchQuery {
        namespace: Some(namespace.to_owned()),
        sort: Sort::Name,
        limit: 20,
        ..SearchQuery::default()
    };
    let page = catalogue.search(&under("acme"), EVERYONE).await.unwrap();
    assert_eq!(names(&page), ["acme/planner", "acme/team/booker"]);
    assert_eq!(page.total, 2);
    // A deeper path, any case, a trailing slash.
    let page = catalogue
        .search(&under("ACME/Team/"), EVERYONE)
        .await
        .unwrap();
    assert_eq!(names(&page), ["acme/team/booker"]);
    // A whole repository name is no namespace of itself.
    let page = catalogue
        .search(&under("acme/planner"), EVERYONE)
        .await
        .unwrap();
    assert_eq!(page.total, 0);
    // Combined with words, and with visibility.
    let mut words = under("acme");
    words.text = "book".to_owned();
    let page = catalogue.search(&words, EVERYONE).await.unwrap();
    assert_eq!(names(&page), ["acme/team/booker"]);
    let not_team = |repository: &RepositoryName| !repository.as_str().contains("/team/");
    let page = catalogue.search(&under("acme"), &not_team).await.unwrap();
    assert_eq!(names(&page), ["acme/planner"]);
}
