use super::*;

#[test]
fn paths_are_read_from_the_right() {
    assert_eq!(parse("search"), Some(Endpoint::Search));
    assert_eq!(parse("popular"), Some(Endpoint::Popular));
    assert_eq!(parse("publish"), Some(Endpoint::Publish));
    assert_eq!(parse("team/a/versions"), Some(Endpoint::Versions("team/a")));
    assert_eq!(parse("search/versions"), Some(Endpoint::Versions("search")));
    assert_eq!(parse("a/dependents"), Some(Endpoint::Dependents("a")));
    assert_eq!(
        parse("team/a/%5E1.2/info"),
        Some(Endpoint::Info("team/a", "^1.2".to_owned()))
    );
    assert_eq!(
        parse("team/a/1.0.0/deprecate"),
        Some(Endpoint::Deprecate("team/a", "1.0.0".to_owned()))
    );
    assert_eq!(
        parse("team/a/latest"),
        Some(Endpoint::Version("team/a", "latest".to_owned()))
    );
    for bad in ["", "x", "/versions", "a/", "info", "a/info", "/1.0/info"] {
        assert_eq!(parse(bad), None, "{bad}");
    }
}
