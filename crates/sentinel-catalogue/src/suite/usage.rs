//! Checks of how packages are used: the stacks naming an agent, and
//! download counts.

use super::*;

pub(super) async fn stacks_list_their_agents_dependents(catalogue: &impl Catalogue) {
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

pub(super) async fn downloads_count_package_blobs_after_a_flush(catalogue: &impl Catalogue) {
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

pub(super) async fn daily_downloads_sum_every_version_per_day(catalogue: &impl Catalogue) {
    let one = agent("team/planner", "1.0.0", "a");
    let two = agent("team/planner", "2.0.0", "a");
    let other = agent("team/other", "1.0.0", "a");
    for entry in [&one, &two, &other] {
        catalogue.record(entry.clone()).await.unwrap();
    }
    let today = 20_000;
    catalogue.count_download(&one.repository, &one.package.digest, today);
    catalogue.count_download(&one.repository, &two.package.digest, today);
    catalogue.count_download(&one.repository, &two.package.digest, today - 2);
    catalogue.count_download(&one.repository, &one.package.digest, today - 30);
    catalogue.count_download(&other.repository, &other.package.digest, today - 1);
    // Not yet flushed: not counted.
    assert!(
        catalogue
            .daily_downloads(&one.repository, 3, today)
            .await
            .unwrap()
            .iter()
            .all(|(_, n)| *n == 0)
    );
    catalogue.flush().await.unwrap();
    let days = catalogue
        .daily_downloads(&one.repository, 3, today)
        .await
        .unwrap();
    assert_eq!(days, [(today - 2, 1), (today - 1, 0), (today, 2)]);
    let month = catalogue
        .daily_downloads(&one.repository, 31, today)
        .await
        .unwrap();
    assert_eq!(month.len(), 31);
    assert_eq!(month[0], (today - 30, 1));
    assert_eq!(month.iter().map(|(_, n)| n).sum::<u64>(), 4);
    // At most a year; none for no days; zeros for a package never downloaded.
    let long = catalogue
        .daily_downloads(&one.repository, 10_000, today)
        .await
        .unwrap();
    assert_eq!(long.len(), crate::MAX_DOWNLOAD_DAYS as usize);
    assert_eq!(long.last(), Some(&(today, 2)));
    assert!(
        catalogue
            .daily_downloads(&one.repository, 0, today)
            .await
            .unwrap()
            .is_empty()
    );
    let unknown = catalogue
        .daily_downloads(&repo("team/nobody"), 2, today)
        .await
        .unwrap();
    assert_eq!(unknown, [(today - 1, 0), (today, 0)]);
    // Downloads stay with the package when a version goes.
    catalogue
        .forget(&two.repository, &two.digest)
        .await
        .unwrap();
    let days = catalogue
        .daily_downloads(&one.repository, 1, today)
        .await
        .unwrap();
    assert_eq!(days, [(today, 2)]);
}
