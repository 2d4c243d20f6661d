use super::*;

const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn parses_the_reference_forms() {
    let short: ImageReference = "team/researcher:1.2.0".parse().unwrap();
    assert_eq!(short.registry(), None);
    assert_eq!(short.repository().as_str(), "team/researcher");
    assert_eq!(short.tag().unwrap().as_str(), "1.2.0");
    assert_eq!(short.digest(), None);

    let text = format!("registry.example.com/team/researcher@{DIGEST}");
    let pinned: ImageReference = text.parse().unwrap();
    assert_eq!(pinned.registry(), Some("registry.example.com"));
    assert_eq!(pinned.repository().as_str(), "team/researcher");
    assert_eq!(pinned.tag(), None);
    assert_eq!(pinned.digest().unwrap().as_str(), DIGEST);
    assert_eq!(pinned.to_string(), text);

    let both: ImageReference = format!("localhost:5000/r:v1@{DIGEST}").parse().unwrap();
    assert_eq!(both.registry(), Some("localhost:5000"));
    assert_eq!(both.tag().unwrap().as_str(), "v1");
    assert_eq!(both.to_string(), format!("localhost:5000/r:v1@{DIGEST}"));

    let bare: ImageReference = "researcher".parse().unwrap();
    assert_eq!((bare.tag(), bare.digest()), (None, None));
}

#[test]
fn registries_are_kept_as_written() {
    for (input, registry) in [
        ("localhost/hello", Some("localhost")),
        ("index.docker.io/library/alpine", Some("index.docker.io")),
        ("127.0.0.1:5000/a", Some("127.0.0.1:5000")),
        ("[::1]:5000/a:t", Some("[::1]:5000")),
        ("ghcr.io/org/team/tool:v1", Some("ghcr.io")),
        ("me/hello", None),
        ("alpine:3.20", None),
    ] {
        let parsed: ImageReference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.registry(), registry, "{input}");
        assert_eq!(parsed.to_string(), input, "{input}");
    }
}

#[test]
fn rejects_malformed_references() {
    type IsExpected = fn(&ImageReferenceError) -> bool;
    let cases: &[(&str, IsExpected)] = &[
        ("", |e| matches!(e, ImageReferenceError::Empty)),
        ("Alpine", |e| {
            matches!(e, ImageReferenceError::Uppercase { .. })
        }),
        ("Team/researcher:1", |e| {
            matches!(e, ImageReferenceError::Uppercase { .. })
        }),
        ("localhost:5000/Me/hello", |e| {
            matches!(e, ImageReferenceError::Uppercase { .. })
        }),
        ("me/hello:", |e| {
            matches!(e, ImageReferenceError::Tag { .. })
        }),
        ("team/researcher:", |e| {
            matches!(e, ImageReferenceError::Tag { .. })
        }),
        ("me/hello:-x", |e| {
            matches!(e, ImageReferenceError::Tag { .. })
        }),
        ("team/researcher:bad/tag", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
        ("team//researcher", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
        ("team/researcher@sha256:123", |e| {
            matches!(e, ImageReferenceError::Digest { .. })
        }),
        ("me/hello@sha256:abc", |e| {
            matches!(e, ImageReferenceError::Digest { .. })
        }),
        ("me/hello@md5:abc", |e| {
            matches!(e, ImageReferenceError::Digest { .. })
        }),
        ("me//hello", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
        ("me/hello/", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
        ("localhost:5000/", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
        (":tag", |e| {
            matches!(e, ImageReferenceError::Malformed { .. })
        }),
        ("a b:1", |e| {
            matches!(e, ImageReferenceError::Malformed { .. })
        }),
        ("bad_host.com:99999/x:1", |e| {
            matches!(e, ImageReferenceError::Registry { .. })
        }),
        ("-bad.com/x:1", |e| {
            matches!(e, ImageReferenceError::Registry { .. })
        }),
        ("host:notaport/x", |e| {
            matches!(e, ImageReferenceError::Registry { .. })
        }),
        ("a_-b", |e| {
            matches!(e, ImageReferenceError::Repository { .. })
        }),
    ];
    for (input, expected) in cases {
        let error = input.parse::<ImageReference>().expect_err(input);
        assert!(expected(&error), "{input:?} gave {error:?}");
    }
    let error = "Alpine".parse::<ImageReference>().unwrap_err();
    assert!(error.to_string().contains("must be lowercase"), "{error}");
}

#[test]
fn registry_host_grammar() {
    for host in [
        "localhost",
        "localhost:5000",
        "registry.example.com",
        "127.0.0.1:5000",
        "[::1]",
        "[::1]:5000",
    ] {
        assert_eq!(validate_registry_host(host), Ok(()), "{host}");
    }
    // Where the two parsers this one replaces disagreed, the stricter rule
    // of the distribution grammar holds: no `_` in a host name, and no port 0.
    for host in [
        "",
        "host:port",
        "host:99999",
        "host:0",
        "bad_host.com",
        "ho st",
        "[::1",
        "[zz]:5000",
        "[::1]x",
        "-host.example.com",
        "host-.example.com",
        "a..b",
    ] {
        assert!(validate_registry_host(host).is_err(), "{host:?}");
    }
    assert_eq!(canonical_registry("Index.Docker.IO"), DOCKER_HUB);
    assert_eq!(canonical_registry("ghcr.io"), "ghcr.io");
    assert_eq!(registry_api_host(DOCKER_HUB), "registry-1.docker.io");
    assert_eq!(registry_api_host("localhost:5000"), "localhost:5000");
}

#[test]
fn serialises_as_written() {
    let reference: ImageReference = "team/researcher:1.2.0".parse().unwrap();
    let json = serde_json::to_string(&reference).unwrap();
    assert_eq!(json, "\"team/researcher:1.2.0\"");
    assert_eq!(
        serde_json::from_str::<ImageReference>(&json).unwrap(),
        reference
    );
    assert!(serde_json::from_str::<ImageReference>("\"Bad\"").is_err());
}

proptest::proptest! {
    #[test]
    fn parsing_never_panics(s in ".{0,300}") {
        let _ = s.parse::<ImageReference>();
    }
}
