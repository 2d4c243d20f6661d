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
