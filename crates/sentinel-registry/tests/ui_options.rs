//! The web UI's switches, against the real binary over real HTTP: served at
//! `/` by default with its security headers, gone with `--ui=false`, and
//! CORS for the package API only for the origins `--cors-origin` names.

#[path = "support/process.rs"]
mod process;

use std::process::Command;

use process::Process;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;

fn get(client: &Client, url: &str, origin: Option<&str>) -> (u16, HeaderMap, String) {
    let mut request = client.get(url);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().unwrap())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn the_ui_is_served_by_default_with_its_security_headers_and_no_cors() {
    let data = tempfile::tempdir().unwrap();
    let server = Process::start(data.path());
    let client = Client::new();

    let (status, headers, body) = get(&client, &server.url("/"), None);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(header(&headers, "referrer-policy").is_some());
    assert!(body.contains("<title>Home · Sentinel</title>"));

    // The stylesheet it names is served, cached for a year; a stale name is not.
    let start = body.find("/assets/style.").unwrap();
    let end = start + body[start..].find('"').unwrap();
    let (status, headers, css) = get(&client, &server.url(&body[start..end]), None);
    assert_eq!(status, 200);
    assert!(
        header(&headers, "cache-control")
            .unwrap()
            .contains("immutable")
    );
    assert!(css.contains(":root"));
    let (status, _, _) = get(&client, &server.url("/assets/style.000000000000.css"), None);
    assert_eq!(status, 404);

    // No origin may call the package API from a browser unless named.
    let (status, headers, _) = get(
        &client,
        &server.url("/v1/packages/search"),
        Some("https://agents.example.com"),
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "access-control-allow-origin").is_none());
    server.terminate();
}

#[test]
fn ui_false_leaves_the_apis_alone() {
    let data = tempfile::tempdir().unwrap();
    let server = Process::start_with(data.path(), &["--ui=false"]);
    let client = Client::new();
    let (status, headers, body) = get(&client, &server.url("/"), None);
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert!(body.contains("\"errors\""), "{body}");
    let (status, _, _) = get(&client, &server.url("/v2/"), None);
    assert_eq!(status, 200);
    let (status, _, _) = get(&client, &server.url("/v1/packages/search"), None);
    assert_eq!(status, 200);
    server.terminate();
}

#[test]
fn cors_answers_the_named_origins_on_the_package_api_only() {
    let data = tempfile::tempdir().unwrap();
    let allowed = "https://agents.example.com";
    let server = Process::start_with(data.path(), &["--cors-origin", allowed]);
    let client = Client::new();

    // A preflight from the named origin is answered...
    let preflight = |origin: &str, path: &str| {
        client
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
            .unwrap()
    };
    let response = preflight(allowed, "/v1/packages/search");
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some(allowed)
    );
    assert!(
        header(headers, "access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert!(header(headers, "access-control-allow-credentials").is_none());

    // ...and so is its request; another origin gets no permission.
    let (_, headers, _) = get(&client, &server.url("/v1/packages/search"), Some(allowed));
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(allowed)
    );
    let (_, headers, _) = get(
        &client,
        &server.url("/v1/packages/search"),
        Some("https://evil.example"),
    );
    assert!(header(&headers, "access-control-allow-origin").is_none());
    let response = preflight("https://evil.example", "/v1/packages/search");
    assert!(header(response.headers(), "access-control-allow-origin").is_none());

    // The OCI API, the management API and the UI are not opened to it.
    for path in ["/v2/", "/api/v1/whoami", "/"] {
        let (_, headers, _) = get(&client, &server.url(path), Some(allowed));
        assert!(
            header(&headers, "access-control-allow-origin").is_none(),
            "{path}"
        );
    }
    server.terminate();
}

#[test]
fn a_cors_origin_that_is_not_an_origin_is_refused_at_start() {
    for bad in [
        "*",
        "agents.example.com",
        "https://agents.example.com/",
        "https://a.example/x",
        "ftp://a.example",
    ] {
        let data = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_sentinel-registry"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cors-origin",
                bad,
                "--data-dir",
            ])
            .arg(data.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cors-origin"), "{bad}: {stderr}");
    }
}

#[test]
fn trimmed_ui_paths_lead_to_their_page() {
    let data = tempfile::tempdir().unwrap();
    let server = Process::start(data.path());
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, target) in [
        ("/packages", "/search"),
        ("/packages/", "/search"),
        ("/search/", "/search"),
        ("/repositories/", "/repositories"),
        ("/sign-out", "/"),
    ] {
        let response = client.get(server.url(path)).send().unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(
            header(response.headers(), "location"),
            Some(target),
            "{path}"
        );
    }
    server.terminate();
}
