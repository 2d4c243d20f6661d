use super::*;
use crate::generate::Shape;

#[test]
fn words_prefixes_and_filters_match_as_in_the_catalogue() {
    let generator = Generator::new(Shape {
        seed: 3,
        versions: 300,
        repositories: 100,
        large_repositories: 1,
        large_versions: 3,
    })
    .unwrap();
    let catalogue = TantivyCatalogue::create(None).unwrap();
    assert_eq!(
        catalogue
            .index_all(&generator, Duration::from_secs(60))
            .unwrap(),
        100
    );
    let all = catalogue
        .search(&SearchQuery {
            limit: 20,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(all.total, 100);
    assert_eq!(all.packages.len(), 20);
    let name = generator.name(7).to_owned();
    let exact = catalogue
        .search(&SearchQuery {
            text: name.clone(),
            limit: 5,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(exact.packages[0].repository.as_str(), name);
    let word = query_words(&name)[1].clone();
    let prefix = &word[..2];
    let by_prefix = catalogue
        .search(&SearchQuery {
            text: prefix.to_owned(),
            limit: 100,
            ..SearchQuery::default()
        })
        .unwrap();
    assert!(
        by_prefix
            .packages
            .iter()
            .any(|p| p.repository.as_str() == name)
    );
    let stacks = catalogue
        .search(&SearchQuery {
            kind: Some(PackageKind::Stack),
            limit: 100,
            ..SearchQuery::default()
        })
        .unwrap();
    assert!(stacks.packages.iter().all(|p| p.kind == PackageKind::Stack));
    assert_eq!(containing("a.b"), ".*a\\.b.*");
}

#[tokio::test]
async fn both_engines_count_the_same_hits_for_every_query() {
    let generator = Generator::new(Shape {
        seed: 5,
        versions: 2_000,
        repositories: 400,
        large_repositories: 1,
        large_versions: 100,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalogue.redb");
    let mut recorder = Recorder::new("test", None);
    crate::embedded::load(&generator, &file, Duration::from_secs(120), &mut recorder)
        .await
        .unwrap();
    let (embedded, _) = sentinel_catalogue::EmbeddedCatalogue::open(&file).unwrap();
    let tantivy = TantivyCatalogue::create(None).unwrap();
    tantivy
        .index_all(&generator, Duration::from_secs(60))
        .unwrap();
    use sentinel_catalogue::Catalogue;
    for query in crate::queries::standard(&generator) {
        let a = embedded.search(&query.query, &|_| true).await.unwrap();
        let b = tantivy.search(&query.query).unwrap();
        assert_eq!(a.total, b.total, "{}", query.label);
        assert_eq!(a.packages.len(), b.packages.len(), "{}", query.label);
        if query.query.sort == Sort::Downloads {
            let downloads =
                |p: &SearchPage| -> Vec<u64> { p.packages.iter().map(|s| s.downloads).collect() };
            assert_eq!(downloads(&a), downloads(&b), "{}", query.label);
        }
    }
}
