//! Search: relevance (exact name, then prefix, then other matches), filters
//! that combine with AND, the sort orders, and paging with a cursor.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;

use crate::common::*;
use crate::support::*;

/// A registry holding a few agents and a stack to search among.
async fn seeded() -> Oci {
    let oci = Oci::start().await;
    let packages = [
        (
            "search/planner",
            Package::agent(
                "planner",
                "1.0.0",
                "description: Plans trips.\nauthor: Ada Lovelace\ncapabilities: [plan, travel]\n\
                 tags: [trips]\nmodel:\n  provider: openai\n  name: gpt-4o\n",
            ),
        ),
        (
            "search/planner-pro",
            Package::agent(
                "planner-pro",
                "2.0.0",
                "description: Plans projects.\nauthor: Bob Builder\ncapabilities: [plan]\n\
                 tags: [work]\nmodel:\n  provider: anthropic\n  name: claude\n",
            ),
        ),
        (
            "search/helper",
            Package::agent(
                "helper",
                "0.3.0",
                "description: Helps any planner along.\nauthor: Ada Lovelace\n\
                 capabilities: [assist]\ntags: [trips]\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n",
            ),
        ),
        (
            "search/crew",
            Package::stack("crew", "1.0.0", &[("planner", "search/planner:1.0.0")]),
        ),
    ];
    for (repo, package) in &packages {
        push_version(&oci, repo, package).await;
    }
    oci
}

#[tokio::test]
async fn the_exact_name_comes_first_then_prefixes_then_other_matches() {
    let oci = seeded().await;
    let found = search(&oci, "q=planner").await;
    assert_eq!(
        names(&found),
        ["search/planner", "search/planner-pro", "search/helper"],
        "{found}"
    );
    assert_eq!(found["total"], 3);
    // A query matches descriptions, tags and capabilities too.
    assert_eq!(
        names(&search(&oci, "q=projects").await),
        ["search/planner-pro"]
    );
    assert_eq!(names(&search(&oci, "q=assist").await), ["search/helper"]);
    assert_eq!(names(&search(&oci, "q=work").await), ["search/planner-pro"]);
    assert_eq!(search(&oci, "q=nothing-like-it").await["total"], 0);
    // No query lists everything.
    assert_eq!(search(&oci, "").await["total"], 4);
}

#[tokio::test]
async fn filters_combine_with_and() {
    let oci = seeded().await;
    let set = |page: &serde_json::Value| names(page).into_iter().collect::<BTreeSet<_>>();
    let expect = |wanted: &[&str]| {
        wanted
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    };
    let cases: [(&str, &[&str]); 12] = [
        ("capability=plan", &["search/planner", "search/planner-pro"]),
        ("capability=plan&author=ada", &["search/planner"]),
        ("tag=trips", &["search/planner", "search/helper"]),
        ("tag=trips&capability=assist", &["search/helper"]),
        ("kind=stack", &["search/crew"]),
        (
            "kind=agent&tag=trips&author=lovelace",
            &["search/planner", "search/helper"],
        ),
        ("model=openai", &["search/planner", "search/helper"]),
        ("model=openai/gpt-4o", &["search/planner"]),
        ("q=planner&model=anthropic", &["search/planner-pro"]),
        (
            "namespace=search",
            &[
                "search/planner",
                "search/planner-pro",
                "search/helper",
                "search/crew",
            ],
        ),
        ("namespace=sea", &[]),
        ("namespace=search&kind=stack", &["search/crew"]),
    ];
    for (query, wanted) in cases {
        let found = search(&oci, query).await;
        assert_eq!(set(&found), expect(wanted), "{query}: {found}");
        assert_eq!(found["total"], wanted.len(), "{query}");
    }
    assert_eq!(search(&oci, "kind=stack&capability=plan").await["total"], 0);
}

#[tokio::test]
async fn sorting_by_name_updated_and_downloads() {
    let oci = seeded().await;
    assert_eq!(
        names(&search(&oci, "sort=name").await),
        [
            "search/crew",
            "search/helper",
            "search/planner",
            "search/planner-pro"
        ]
    );

    // Pushed in a later second than the others, a package is the most
    // recently updated.
    let second = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let pushed = second(SystemTime::now());
    let deadline = Instant::now() + Duration::from_secs(3);
    while second(SystemTime::now()) == pushed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let newest = Package::agent("newest", "1.0.0", "");
    push_version(&oci, "search/newest", &newest).await;
    let by_update = search(&oci, "sort=updated").await;
    assert_eq!(names(&by_update)[0], "search/newest", "{by_update}");

    // Downloads: helper twice, planner once.
    let layer = |repo: &str, version: &str| format!("/v1/packages/{repo}/{version}");
    for path in [
        layer("search/helper", "0.3.0"),
        layer("search/helper", "0.3.0"),
        layer("search/planner", "1.0.0"),
    ] {
        send(oci.get(&path)).await.expect_status(StatusCode::OK);
    }
    assert_eq!(
        wait_for_downloads(&oci, "search/helper", "0.3.0", 2).await,
        2
    );
    assert_eq!(
        wait_for_downloads(&oci, "search/planner", "1.0.0", 1).await,
        1
    );
    let by_downloads = search(&oci, "sort=downloads").await;
    assert_eq!(
        names(&by_downloads)[..2],
        ["search/helper", "search/planner"],
        "{by_downloads}"
    );
    assert_eq!(by_downloads["packages"][0]["downloads"], 2);
}

#[tokio::test]
async fn paging_with_a_cursor_lists_every_result_once_with_a_stable_total() {
    let oci = Oci::start().await;
    for n in 0..7 {
        let package = Package::agent(&format!("pager{n}"), "1.0.0", "description: Paging test.\n");
        push_version(&oci, &format!("page/pager{n}"), &package).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "paging does not end");
        let mut query = "q=paging&limit=3&sort=name".to_owned();
        if let Some(cursor) = &cursor {
            query.push_str(&format!("&cursor={}", encode_query_value(cursor)));
        }
        let page = search(&oci, &query).await;
        assert_eq!(page["total"], 7, "{page}");
        let listed = names(&page);
        assert!(listed.len() <= 3, "{page}");
        seen.extend(listed);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let wanted: Vec<String> = (0..7).map(|n| format!("page/pager{n}")).collect();
    assert_eq!(seen, wanted);
}
