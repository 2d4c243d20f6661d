//! Checks of versions: listing, forgetting, the newest push, deprecations
//! and the entries a rebuild starts from.

use super::*;

pub(super) async fn versions_are_listed_newest_first_with_their_entry(catalogue: &impl Catalogue) {
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
    let held = catalogue
        .holding(&repo("team/planner"), &version("1.2.0"))
        .await
        .unwrap()
        .expect("the repository holds a package");
    assert_eq!(
        (held.name.as_str(), held.kind),
        ("planner", PackageKind::Agent)
    );
    assert_eq!(held.version, Some(expected.digest.clone()));
    let other = catalogue
        .holding(&repo("team/planner"), &version("9.9.9"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.version, None);
    assert!(
        catalogue
            .holding(&repo("team/other"), &version("1.2.0"))
            .await
            .unwrap()
            .is_none()
    );
}

pub(super) async fn forgetting_removes_a_version_and_then_the_package(catalogue: &impl Catalogue) {
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

pub(super) async fn the_newest_push_of_a_version_wins(catalogue: &impl Catalogue) {
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

pub(super) async fn deprecated_versions_are_marked_and_not_shown(catalogue: &impl Catalogue) {
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

pub(super) async fn a_deprecation_goes_with_the_last_manifest_of_its_version(
    catalogue: &impl Catalogue,
) {
    let repository = repo("team/planner");
    let first = agent("team/planner", "1.0.0", "a");
    let second = agent("team/planner", "1.0.0", "b");
    let other = agent("team/planner", "0.9.0", "a");
    for entry in [&first, &second, &other] {
        catalogue.record(entry.clone()).await.unwrap();
    }
    for v in ["1.0.0", "0.9.0"] {
        assert!(
            catalogue
                .set_deprecation(&repository, &version(v), Some("no".to_owned()))
                .await
                .unwrap()
        );
    }
    let deprecated = |listed: &crate::PackageVersions, v: &str| {
        listed
            .versions
            .iter()
            .find(|info| info.version == version(v))
            .and_then(|info| info.deprecated.clone())
    };
    // One manifest of 1.0.0 is left: still deprecated.
    assert!(catalogue.forget(&repository, &first.digest).await.unwrap());
    let listed = catalogue.versions(&repository).await.unwrap().unwrap();
    assert_eq!(deprecated(&listed, "1.0.0").as_deref(), Some("no"));
    // The last one goes, and with it the deprecation: 1.0.0 pushed again
    // is not deprecated; 0.9.0 keeps its own.
    assert!(catalogue.forget(&repository, &second.digest).await.unwrap());
    catalogue.record(first.clone()).await.unwrap();
    let listed = catalogue.versions(&repository).await.unwrap().unwrap();
    assert_eq!(deprecated(&listed, "1.0.0"), None);
    assert_eq!(deprecated(&listed, "0.9.0").as_deref(), Some("no"));
    assert_eq!(listed.versions.len(), 2);
}

pub(super) async fn entries_list_every_recorded_manifest(catalogue: &impl Catalogue) {
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

pub(super) async fn a_version_deleted_and_pushed_again_starts_afresh(catalogue: &impl Catalogue) {
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

pub(super) async fn the_generation_moves_with_every_change(catalogue: &impl Catalogue) {
    let start = catalogue.generation();
    let one = agent("team/planner", "1.0.0", "a");
    catalogue.record(one.clone()).await.unwrap();
    let recorded = catalogue.generation();
    assert_ne!(recorded, start, "a record changes answers");
    catalogue.flush().await.unwrap();
    let flushed = catalogue.generation();
    catalogue.flush().await.unwrap();
    assert_eq!(
        catalogue.generation(),
        flushed,
        "an idle flush changes nothing"
    );
    catalogue
        .set_deprecation(&one.repository, &one.version, Some("old".to_owned()))
        .await
        .unwrap();
    let deprecated = catalogue.generation();
    assert_ne!(deprecated, flushed);
    catalogue.count_download(&one.repository, &one.package.digest, 1);
    catalogue.flush().await.unwrap();
    let counted = catalogue.generation();
    assert_ne!(counted, deprecated, "written downloads change answers");
    catalogue
        .forget(&one.repository, &one.digest)
        .await
        .unwrap();
    assert_ne!(catalogue.generation(), counted);
}
