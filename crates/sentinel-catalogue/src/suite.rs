//! The behaviour every [`Catalogue`] implementation must have.
//!
//! An implementation's tests call [`run`] with a factory that makes a fresh,
//! empty catalogue (and a guard that keeps its backing resources alive); each
//! check runs on its own catalogue and panics with its name on failure.

use std::future::Future;

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

use crate::{BlobRef, Catalogue, MemberRef, ModelRef, PackageVersion, SearchQuery, Sort, Visible};

fn repo(name: &str) -> RepositoryName {
    name.parse().expect("a valid repository name")
}

fn version(text: &str) -> Version {
    Version::parse(text).expect("a valid version")
}

const EVERYONE: Visible<'static> = &|_| true;

/// An agent entry; `seed` makes its digests unique.
fn agent(repository: &str, ver: &str, seed: &str) -> PackageVersion {
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_owned();
    PackageVersion {
        repository: repo(repository),
        digest: Digest::sha256(format!("manifest {repository} {ver} {seed}").as_bytes()),
        kind: PackageKind::Agent,
        name: name.clone(),
        version: version(ver),
        tag: Some(ver.to_owned()),
        description: Some(format!("{name} does things")),
        author: Some("Ada Lovelace <ada@example.com>".to_owned()),
        license: Some("Apache-2.0".to_owned()),
        source: None,
        capabilities: vec!["web-search".to_owned()],
        tags: vec!["demo".to_owned()],
        model: Some(ModelRef {
            provider: "anthropic".to_owned(),
            name: "claude".to_owned(),
        }),
        dependencies: Vec::new(),
        members: Vec::new(),
        ports: Vec::new(),
        config: BlobRef {
            digest: Digest::sha256(format!("config {repository} {ver} {seed}").as_bytes()),
            size: 100,
        },
        package: BlobRef {
            digest: Digest::sha256(format!("package {repository} {ver} {seed}").as_bytes()),
            size: 1000,
        },
        file_name: format!("{name}-{ver}.agent.sntl"),
        created: Some("2026-12-01T00:00:00Z".to_owned()),
        pushed_at: 1_000,
        pushed_by: Some("alice".to_owned()),
        readme: Some(format!("# {name}\n")),
        definition: serde_json::json!({"name": name, "version": ver}),
    }
}

fn with(mut entry: PackageVersion, change: impl FnOnce(&mut PackageVersion)) -> PackageVersion {
    change(&mut entry);
    entry
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        limit: 20,
        ..SearchQuery::default()
    }
}

fn names(page: &crate::SearchPage) -> Vec<String> {
    page.packages
        .iter()
        .map(|p| p.repository.to_string())
        .collect()
}

/// Runs every check, each on a fresh catalogue from `factory`.
pub async fn run<C, G, F, Fut>(factory: F)
where
    C: Catalogue,
    F: Fn() -> Fut,
    Fut: Future<Output = (C, G)>,
{
    macro_rules! check {
        ($name:ident) => {{
            let (catalogue, _guard) = factory().await;
            $name(&catalogue).await;
        }};
    }
    check!(versions_are_listed_newest_first_with_their_entry);
    check!(forgetting_removes_a_version_and_then_the_package);
    check!(the_newest_push_of_a_version_wins);
    check!(search_ranks_exact_then_prefix_then_terms);
    check!(search_filters_combine_and_pages_count);
    check!(search_shows_only_what_is_visible);
    check!(search_shows_the_latest_version);
    check!(deprecated_versions_are_marked_and_not_shown);
    check!(stacks_list_their_agents_dependents);
    check!(downloads_count_package_blobs_after_a_flush);
    check!(entries_list_every_recorded_manifest);
    check!(a_version_deleted_and_pushed_again_starts_afresh);
}

async fn versions_are_listed_newest_first_with_their_entry(catalogue: &impl Catalogue) {
    for v in ["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1"] {
        catalogue
            .record(agent("team/planner", v, "a"))
            .await
            .unwrap();
    }
    let listed = catalogue
        .versions(&repo("team/planner"))
        .await
        .unwrap()
        .expect("the package is known");
    assert_eq!(listed.name, "planner");
    assert_eq!(listed.kind, PackageKind::Agent);
    let order: Vec<String> = listed
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect();
    assert_eq!(order, ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"]);
    let expected = agent("team/planner", "1.2.0", "a");
    let row = &listed.versions[2];
    assert_eq!(row.digest, expected.digest);
    assert_eq!(row.package_digest, expected.package.digest);
    assert_eq!(row.size, 1000);
    assert_eq!(row.downloads, 0);
    assert_eq!(row.deprecated, None);
    let entry = catalogue
        .version(&repo("team/planner"), &version("1.2.0"))
        .await
        .unwrap()
        .expect("the version is known");
    assert_eq!(
        entry, expected,
        "the whole entry, README and definition included"
    );
    assert!(
        catalogue
            .version(&repo("team/planner"), &version("9.9.9"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        catalogue
            .versions(&repo("team/other"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn forgetting_removes_a_version_and_then_the_package(catalogue: &impl Catalogue) {
    let one = agent("team/planner", "1.0.0", "a");
    let two = agent("team/planner", "2.0.0", "a");
    catalogue.record(one.clone()).await.unwrap();
    catalogue.record(two.clone()).await.unwrap();
    assert!(
        catalogue
            .forget(&one.repository, &two.digest)
            .await
            .unwrap()
    );
    assert!(
        !catalogue
            .forget(&one.repository, &two.digest)
            .await
            .unwrap()
    );
    let listed = catalogue.versions(&one.repository).await.unwrap().unwrap();
    assert_eq!(listed.versions.len(), 1);
    let page = catalogue.search(&query("planner"), EVERYONE).await.unwrap();
    assert_eq!(page.packages[0].shown, version("1.0.0"));
    assert!(
        catalogue
            .forget(&one.repository, &one.digest)
            .await
            .unwrap()
    );
    assert!(catalogue.versions(&one.repository).await.unwrap().is_none());
    let page = catalogue.search(&query("planner"), EVERYONE).await.unwrap();
    assert_eq!(page.total, 0);
    assert!(
        !catalogue
            .forget(&repo("team/nothing"), &one.digest)
            .await
            .unwrap()
    );
}

async fn the_newest_push_of_a_version_wins(catalogue: &impl Catalogue) {
    let first = agent("team/planner", "1.0.0", "first");
    let second = with(agent("team/planner", "1.0.0", "second"), |e| {
        e.pushed_at = 2_000;
        e.description = Some("the second push".to_owned());
    });
    catalogue.record(first.clone()).await.unwrap();
    catalogue.record(second.clone()).await.unwrap();
    let listed = catalogue
        .versions(&first.repository)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.versions.len(), 1);
    assert_eq!(listed.versions[0].digest, second.digest);
    let found = catalogue.search(&query("second"), EVERYONE).await.unwrap();
    assert_eq!(names(&found), ["team/planner"]);
    catalogue
        .forget(&second.repository, &second.digest)
        .await
        .unwrap();
    let listed = catalogue
        .versions(&first.repository)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.versions[0].digest, first.digest);
    assert_eq!(
        catalogue
            .search(&query("second"), EVERYONE)
            .await
            .unwrap()
            .total,
        0
    );
    // Recording the same manifest again replaces it.
    catalogue.record(first.clone()).await.unwrap();
    let listed = catalogue
        .versions(&first.repository)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.versions.len(), 1);
}

async fn search_ranks_exact_then_prefix_then_terms(catalogue: &impl Catalogue) {
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
    // An empty query lists everything.
    assert_eq!(
        catalogue.search(&query(""), EVERYONE).await.unwrap().total,
        5
    );
}

async fn search_filters_combine_and_pages_count(catalogue: &impl Catalogue) {
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

async fn search_shows_only_what_is_visible(catalogue: &impl Catalogue) {
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

async fn search_shows_the_latest_version(catalogue: &impl Catalogue) {
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

async fn deprecated_versions_are_marked_and_not_shown(catalogue: &impl Catalogue) {
    let repository = repo("team/planner");
    for v in ["1.0.0", "2.0.0"] {
        let entry = with(agent("team/planner", v, "a"), |e| {
            e.description = Some(format!("release {v}"));
        });
        catalogue.record(entry).await.unwrap();
    }
    assert!(
        catalogue
            .set_deprecation(&repository, &version("2.0.0"), Some("use 1.0.0".to_owned()))
            .await
            .unwrap()
    );
    assert!(
        !catalogue
            .set_deprecation(&repository, &version("3.0.0"), Some("no".to_owned()))
            .await
            .unwrap()
    );
    let listed = catalogue.versions(&repository).await.unwrap().unwrap();
    assert_eq!(listed.versions[0].deprecated.as_deref(), Some("use 1.0.0"));
    assert_eq!(listed.versions[1].deprecated, None);
    let summary = &catalogue
        .search(&query("planner"), EVERYONE)
        .await
        .unwrap()
        .packages[0];
    assert_eq!(summary.latest, Some(version("1.0.0")));
    assert_eq!(summary.description.as_deref(), Some("release 1.0.0"));
    assert!(
        catalogue
            .set_deprecation(&repository, &version("2.0.0"), None)
            .await
            .unwrap()
    );
    let summary = &catalogue
        .search(&query("planner"), EVERYONE)
        .await
        .unwrap()
        .packages[0];
    assert_eq!(summary.latest, Some(version("2.0.0")));
    assert_eq!(summary.description.as_deref(), Some("release 2.0.0"));
}

async fn stacks_list_their_agents_dependents(catalogue: &impl Catalogue) {
    catalogue
        .record(agent("team/planner", "1.0.0", "a"))
        .await
        .unwrap();
    let stack = |v: &str, reference: &str| {
        with(agent("team/trip-stack", v, "a"), |e| {
            e.kind = PackageKind::Stack;
            e.capabilities = Vec::new();
            e.members = vec![
                MemberRef {
                    name: "planner".to_owned(),
                    reference: reference.to_owned(),
                    repository: "team/planner".to_owned(),
                },
                MemberRef {
                    name: "booker".to_owned(),
                    reference: "team/booker:1.0.0".to_owned(),
                    repository: "team/booker".to_owned(),
                },
            ];
        })
    };
    let one = stack("1.0.0", "team/planner:1.0.0");
    catalogue.record(one.clone()).await.unwrap();
    catalogue
        .record(stack("1.1.0", "localhost:5000/team/planner:1.0.0"))
        .await
        .unwrap();
    let dependents = catalogue.dependents(&repo("team/planner")).await.unwrap();
    let found: Vec<(String, String, String)> = dependents
        .iter()
        .map(|d| {
            (
                d.repository.to_string(),
                d.version.to_string(),
                d.reference.clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "team/trip-stack".to_owned(),
                "1.0.0".to_owned(),
                "team/planner:1.0.0".to_owned()
            ),
            (
                "team/trip-stack".to_owned(),
                "1.1.0".to_owned(),
                "localhost:5000/team/planner:1.0.0".to_owned()
            ),
        ]
    );
    assert_eq!(dependents[0].name, "trip-stack");
    catalogue
        .forget(&one.repository, &one.digest)
        .await
        .unwrap();
    assert_eq!(
        catalogue
            .dependents(&repo("team/planner"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        catalogue
            .dependents(&repo("team/booker"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        catalogue
            .dependents(&repo("team/none"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn downloads_count_package_blobs_after_a_flush(catalogue: &impl Catalogue) {
    let one = agent("team/planner", "1.0.0", "a");
    let two = agent("team/planner", "2.0.0", "a");
    let other = with(agent("team/other", "1.0.0", "a"), |e| {
        e.kind = PackageKind::Stack
    });
    for entry in [&one, &two, &other] {
        catalogue.record(entry.clone()).await.unwrap();
    }
    let today = 20_000;
    for _ in 0..3 {
        catalogue.count_download(&one.repository, &one.package.digest, today);
    }
    catalogue.count_download(&one.repository, &two.package.digest, today - 10);
    catalogue.count_download(&other.repository, &other.package.digest, today - 40);
    // Not package blobs, or not in that repository: not counted.
    catalogue.count_download(&one.repository, &one.config.digest, today);
    catalogue.count_download(&other.repository, &one.package.digest, today);
    catalogue.flush().await.unwrap();
    let listed = catalogue.versions(&one.repository).await.unwrap().unwrap();
    let counts: Vec<u64> = listed.versions.iter().map(|v| v.downloads).collect();
    assert_eq!(counts, [1, 3]);
    let page = catalogue.search(&query(""), EVERYONE).await.unwrap();
    let planner = page
        .packages
        .iter()
        .find(|p| p.repository == one.repository)
        .unwrap();
    assert_eq!(planner.downloads, 4);
    let mut by_downloads = query("");
    by_downloads.sort = Sort::Downloads;
    let page = catalogue.search(&by_downloads, EVERYONE).await.unwrap();
    assert_eq!(names(&page), ["team/planner", "team/other"]);
    let week = catalogue
        .popular(7, today, None, 10, EVERYONE)
        .await
        .unwrap();
    assert_eq!(week.len(), 1);
    assert_eq!(
        (week[0].repository.as_str(), week[0].downloads),
        ("team/planner", 3)
    );
    let month = catalogue
        .popular(30, today, None, 10, EVERYONE)
        .await
        .unwrap();
    assert_eq!(month[0].downloads, 4);
    let all = catalogue
        .popular(60, today, None, 10, EVERYONE)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let stacks = catalogue
        .popular(60, today, Some(PackageKind::Stack), 10, EVERYONE)
        .await
        .unwrap();
    assert_eq!(stacks.len(), 1);
    // A version forgotten and pushed again keeps its count.
    catalogue
        .forget(&one.repository, &one.digest)
        .await
        .unwrap();
    catalogue.record(one.clone()).await.unwrap();
    let listed = catalogue.versions(&one.repository).await.unwrap().unwrap();
    assert_eq!(listed.versions[1].downloads, 3);
}

async fn entries_list_every_recorded_manifest(catalogue: &impl Catalogue) {
    let a = agent("b/second", "1.0.0", "a");
    let b = agent("a/first", "1.0.0", "a");
    let c = agent("a/first", "2.0.0", "a");
    for entry in [&a, &b, &c] {
        catalogue.record(entry.clone()).await.unwrap();
    }
    let mut expected = vec![
        (a.repository.clone(), a.digest.clone()),
        (b.repository.clone(), b.digest.clone()),
        (c.repository.clone(), c.digest.clone()),
    ];
    expected.sort();
    assert_eq!(catalogue.entries().await.unwrap(), expected);
}

async fn a_version_deleted_and_pushed_again_starts_afresh(catalogue: &impl Catalogue) {
    let old = with(agent("team/planner", "1.0.0", "a"), |e| e.pushed_at = 10);
    let new = with(agent("team/planner", "2.0.0", "a"), |e| e.pushed_at = 20);
    catalogue.record(old.clone()).await.unwrap();
    catalogue.record(new.clone()).await.unwrap();
    catalogue
        .set_deprecation(&new.repository, &new.version, Some("broken".to_owned()))
        .await
        .unwrap();
    catalogue
        .forget(&new.repository, &new.digest)
        .await
        .unwrap();
    let summary = &catalogue
        .search(&query("planner"), EVERYONE)
        .await
        .unwrap()
        .packages[0];
    assert_eq!(summary.updated, 10, "the last push of what is left");
    catalogue.record(new.clone()).await.unwrap();
    let listed = catalogue.versions(&new.repository).await.unwrap().unwrap();
    assert_eq!(listed.versions[0].version, new.version);
    assert_eq!(
        listed.versions[0].deprecated, None,
        "the deprecation went with the version"
    );
    // A version with another manifest left keeps its deprecation.
    let again = with(agent("team/planner", "2.0.0", "b"), |e| e.pushed_at = 30);
    catalogue.record(again.clone()).await.unwrap();
    catalogue
        .set_deprecation(&new.repository, &new.version, Some("still".to_owned()))
        .await
        .unwrap();
    catalogue
        .forget(&again.repository, &again.digest)
        .await
        .unwrap();
    let listed = catalogue.versions(&new.repository).await.unwrap().unwrap();
    assert_eq!(listed.versions[0].deprecated.as_deref(), Some("still"));
}
