use super::*;

fn small() -> Shape {
    Shape {
        seed: 7,
        versions: 1_000,
        repositories: 100,
        large_repositories: 2,
        large_versions: 100,
    }
}

#[test]
fn the_same_seed_gives_the_same_data_and_the_shape_asked() {
    let a = Generator::new(small()).unwrap();
    let b = Generator::new(small()).unwrap();
    let first: Vec<Repository> = a.repositories().collect();
    let again: Vec<Repository> = b.repositories().collect();
    assert_eq!(first.len(), 100);
    let versions: usize = first.iter().map(|r| r.versions.len()).sum();
    assert_eq!(versions, 1_000);
    assert_eq!(first[0].versions.len(), 100);
    for (x, y) in first.iter().zip(&again) {
        assert_eq!(x.versions, y.versions);
        assert_eq!(x.downloads, y.downloads);
    }
    let names: HashSet<&RepositoryName> = first.iter().map(|r| &r.versions[0].repository).collect();
    assert_eq!(names.len(), 100, "repository names are unique");
    for repository in &first {
        let mut digests: Vec<&Digest> = repository.versions.iter().map(|v| &v.digest).collect();
        digests.sort();
        digests.dedup();
        assert_eq!(
            digests.len(),
            repository.versions.len(),
            "one manifest per version"
        );
        for entry in &repository.versions {
            let words = entry.description.as_deref().unwrap().split(' ').count();
            assert!((10..=30).contains(&words));
        }
    }
}

#[test]
fn impossible_shapes_are_refused() {
    let shape = Shape {
        versions: 10,
        ..small()
    };
    assert!(Generator::new(shape).is_err());
}

#[test]
fn json_lines_hold_every_version() {
    let generator = Generator::new(small()).unwrap();
    let mut out = Vec::new();
    write_json_lines(&generator, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let versions = text
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"version\""))
        .count();
    assert_eq!(versions, 1_000);
}
