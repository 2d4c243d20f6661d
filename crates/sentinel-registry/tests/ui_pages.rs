//! The search page and the package pages over real HTTP, with the real
//! binary: packages pushed as `agent push` pushes them, then the HTML
//! looked at. Authentication off, then on (a private package is a 404 for
//! an anonymous visitor and no search lists it).

use std::path::Path;
use std::time::{Duration, Instant};

use sentinel_oci::Digest;
use sentinel_package::oci::{BlobRef, build_manifest};
use sentinel_package::versions::version_tag;
use sentinel_package::{default_file_name, pack};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, KEY_ID_ANNOTATION, SIGNATURE_ARTIFACT_TYPE,
    SIGNED_AT_ANNOTATION, SigningKey, Statement, Subject,
};

#[path = "support/html.rs"]
mod html;
#[path = "support/process.rs"]
mod process;

use html::{list, results};
use process::Process;

/// The most a page may weigh without its README.
const MAX_PAGE_BYTES: usize = 100 * 1024;

/// Packs the package in `dir` (an `agent.yaml` or `stack.yaml`, a
/// README) and pushes it to `repo` under its version tag, as `agent push`
/// does, with `credentials` if given.
async fn push_dir(
    client: &reqwest::Client,
    server: &Process,
    repo: &str,
    dir: &Path,
    credentials: Option<(&str, &str)>,
) -> Pushed {
    let mut sntl = Vec::new();
    let summary = pack(dir, &mut sntl).unwrap();
    let authorised = |request: reqwest::RequestBuilder| match credentials {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    for blob in [&summary.definition_bytes, &sntl] {
        let digest = Digest::sha256(blob);
        let response = authorised(
            client.post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))),
        )
        .body(blob.clone())
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = build_manifest(
        &summary.definition,
        &BlobRef {
            digest: Digest::sha256(&summary.definition_bytes),
            size: summary.definition_bytes.len() as u64,
        },
        &BlobRef {
            digest: summary.digest.clone(),
            size: summary.size,
        },
        &default_file_name(&summary.definition),
        "2026-01-01T00:00:00Z",
    );
    let tag = version_tag(summary.definition.version());
    let response = authorised(client.put(server.url(&format!("/v2/{repo}/manifests/{tag}"))))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    Pushed {
        manifest,
        sntl: summary.digest,
    }
}

/// What [`push_dir`] pushed.
struct Pushed {
    /// The manifest.
    manifest: Vec<u8>,
    /// The `.sntl` file's digest.
    sntl: Digest,
}

/// Signs the manifest `pushed` with `key` and pushes the signature
/// artifact to `repo`, as `agent sign` does.
async fn sign(
    client: &reqwest::Client,
    server: &Process,
    repo: &str,
    pushed: &Pushed,
    key: &SigningKey,
) {
    let subject = Subject {
        digest: Digest::sha256(&pushed.manifest),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        size: pushed.manifest.len() as u64,
    };
    let statement = Statement::new(subject.clone());
    let envelope = Envelope::sign(&statement, key).to_json();
    let empty = b"{}".to_vec();
    for blob in [&empty, &envelope] {
        let digest = Digest::sha256(blob);
        let response = client
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": Digest::sha256(&empty).to_string(),
            "size": 2,
        },
        "layers": [{
            "mediaType": ENVELOPE_MEDIA_TYPE,
            "digest": Digest::sha256(&envelope).to_string(),
            "size": envelope.len(),
        }],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.to_string(),
            "size": subject.size,
        },
        "annotations": {
            KEY_ID_ANNOTATION: key.id().to_string(),
            SIGNED_AT_ANNOTATION: statement.created.clone(),
            "org.opencontainers.image.created": statement.created,
        },
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = Digest::sha256(&body);
    let response = client
        .put(server.url(&format!("/v2/{repo}/manifests/{digest}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Writes an agent directory: `agent.yaml` with `yaml` after its name and
/// version, and `readme`.
fn agent_dir(name: &str, version: &str, yaml: &str, readme: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let definition = format!("name: {name}\nversion: {version}\n{yaml}");
    std::fs::write(dir.path().join("agent.yaml"), definition).unwrap();
    std::fs::write(dir.path().join("README.md"), readme).unwrap();
    dir
}

/// A page: its status, headers and body.
struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    /// The body with the README's article left out, for the weight.
    fn weight_without_readme(&self) -> usize {
        let Some(start) = self.body.find(r#"<article class="readme" id="readme">"#) else {
            return self.body.len();
        };
        let end = self.body[start..]
            .find("</article>")
            .map_or(self.body.len(), |at| start + at);
        self.body.len() - (end - start)
    }
}

async fn get(client: &reqwest::Client, server: &Process, path: &str) -> Page {
    let response = client.get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    let page = Page {
        status,
        headers,
        body,
    };
    // Every page, whatever its status, is HTML with the security headers.
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{path}"
    );
    assert!(
        page.weight_without_readme() < MAX_PAGE_BYTES,
        "{path} weighs {} bytes",
        page.weight_without_readme()
    );
    page
}

#[tokio::test]
async fn search_and_package_pages_show_what_the_catalogue_holds() {
    let data = tempfile::tempdir().unwrap();
    let trusted = SigningKey::generate();
    let key_file = data.path().join("team.pub");
    std::fs::write(&key_file, trusted.public_key().to_pem()).unwrap();
    process::command_ok(
        data.path(),
        &[
            "policy",
            "set",
            "team/*",
            "--key",
            key_file.to_str().unwrap(),
        ],
        "",
    );
    let server = Process::start(data.path());
    let client = reqwest::Client::new();

    let retriever = agent_dir(
        "retriever",
        "1.0.0",
        "description: Finds documents.\ncapabilities: [web-search, pdf]\ntags: [demo]\n",
        "# retriever\n",
    );
    let retriever_sntl = push_dir(&client, &server, "team/retriever", retriever.path(), None)
        .await
        .sntl;
    let mut planners = Vec::new();
    for version in ["1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.0"] {
        let planner = agent_dir(
            "planner",
            version,
            "description: Plans trips.\nauthor: Ada Lovelace\nlicense: Apache-2.0\n\
             source: https://github.com/acme/planner\ncapabilities: [planning, web-search]\n\
             model:\n  provider: anthropic\n  name: claude-sonnet-4\n\
             dependencies:\n  - name: team/retriever\n    version: ^1.0\n  - name: elsewhere/missing\n    version: ^2\n\
             ports:\n  - name: http\n    port: 8080\n    protocol: http\n\
             health_check:\n  http: /healthz\n  interval_seconds: 30\n\
             entrypoint: [python, -m, planner]\n",
            "# Planner\n\nPlans **trips**.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        planners.push(push_dir(&client, &server, "team/planner", planner.path(), None).await);
    }
    // 1.10.0 signed by the key the policy trusts, 1.2.0 by a stranger.
    sign(&client, &server, "team/planner", &planners[3], &trusted).await;
    sign(
        &client,
        &server,
        "team/planner",
        &planners[1],
        &SigningKey::generate(),
    )
    .await;
    let stack = tempfile::tempdir().unwrap();
    std::fs::write(
        stack.path().join("stack.yaml"),
        "name: trip\nversion: 1.0.0\ndescription: A trip stack\nagents:\n  - name: planner\n    ref: 'team/planner:1.2.0'\n",
    )
    .unwrap();
    std::fs::write(stack.path().join("README.md"), "# trip\n").unwrap();
    push_dir(&client, &server, "team/trip", stack.path(), None).await;
    let hostile = agent_dir(
        "hostile",
        "1.0.0",
        "description: \"<script>alert('description')</script> <img src=x onerror=alert(1)>\"\n\
         tags: [\"<script>alert('tag')</script>\", \"<img/src=x/onerror=alert(2)>\"]\n\
         capabilities: [\"<b>bold</b>\"]\n\
         source: \"ftp://example.com/hostile\"\n",
        "# Hostile\n\n<script>alert('readme')</script>\n\n\
         [click](javascript:alert(4)) <a href=\"JaVaScRiPt:alert(5)\">x</a>\n\n\
         <img src=x onerror=alert(6)>\n\n<svg onload=alert(7)></svg>\n\n\
         <iframe src=\"https://example.com\"></iframe>\n\n[y](javascript&colon;alert(8))\n",
    );
    push_dir(&client, &server, "team/hostile", hostile.path(), None).await;

    // Search: everything, then filters; facets count every match.
    let all = get(&client, &server, "/search").await;
    assert_eq!(all.status, 200);
    assert!(all.body.contains(r#"id="search-form""#));
    assert!(
        all.body.contains(r#"<p id="result-count">4 packages</p>"#),
        "{}",
        all.body
    );
    assert_eq!(results(&all.body).len(), 4);
    let kinds = list(&all.body, "facet-kind");
    assert!(
        kinds.contains(r#">agent <span class="count">3</span>"#),
        "{kinds}"
    );
    assert!(
        kinds.contains(r#">stack <span class="count">1</span>"#),
        "{kinds}"
    );
    assert!(kinds.contains(r#"href="/search?kind=agent""#), "{kinds}");
    let capabilities = list(&all.body, "facet-capability");
    assert!(
        capabilities.contains(
            r#"href="/search?capability=web-search" aria-label="web-search: 2, add this filter">web-search <span class="count">2</span>"#
        ),
        "{capabilities}"
    );
    let found = get(&client, &server, "/search?q=plan").await;
    assert_eq!(results(&found.body), ["team/planner"]);
    assert!(found.body.contains(r#"value="plan""#));
    let filtered = get(&client, &server, "/search?capability=WEB-SEARCH&sort=name").await;
    assert_eq!(results(&filtered.body), ["team/planner", "team/retriever"]);
    let facet = list(&filtered.body, "facet-capability");
    assert!(
        facet.contains(
            r#"<a href="/search?sort=name&amp;capability=pdf" aria-label="pdf: 1, add this filter">pdf <span class="count">1</span>"#
        ) || facet.contains(
            r#"<a href="/search?sort=name&#38;capability=pdf" aria-label="pdf: 1, add this filter">pdf <span class="count">1</span>"#
        ),
        "{facet}"
    );
    // A namespace: its packages, and /packages/{namespace} leads there.
    let team = get(&client, &server, "/search?namespace=team&sort=name").await;
    assert!(
        team.body
            .contains(r#"<h1 id="namespace">Packages in team</h1>"#),
        "{}",
        team.body
    );
    assert_eq!(results(&team.body).len(), 4, "{}", team.body);
    assert!(
        results(&team.body)
            .iter()
            .all(|name| name.starts_with("team/"))
    );
    let nobody = get(&client, &server, "/search?namespace=tea").await;
    assert!(results(&nobody.body).is_empty(), "{}", nobody.body);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_namespace = plain
        .get(server.url("/packages/team"))
        .send()
        .await
        .unwrap();
    assert_eq!(to_namespace.status(), 303);
    assert_eq!(to_namespace.headers()["location"], "/search?namespace=team");
    assert_eq!(get(&client, &server, "/packages/nobody").await.status, 404);
    let planner = get(&client, &server, "/packages/team/planner").await;
    assert!(
        planner
            .body
            .contains(r#"<a href="/packages/team" id="package-namespace">team</a>"#),
        "{}",
        planner.body
    );
    let stacks = get(&client, &server, "/search?kind=stack").await;
    assert_eq!(results(&stacks.body), ["team/trip"]);
    let none = get(&client, &server, "/search?q=nothing-like-this").await;
    assert!(none.body.contains(r#"id="no-results""#));
    assert!(none.body.contains("0 packages"));
    // Pages: two at a time, by name.
    let first = get(&client, &server, "/search?sort=name&limit=2").await;
    assert_eq!(results(&first.body), ["team/hostile", "team/planner"]);
    assert!(!first.body.contains(r#"id="previous-page""#));
    let next = first
        .body
        .split(r#"<a id="next-page" href=""#)
        .nth(1)
        .expect("a next page")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("limit=2"), "{next}");
    let second = get(&client, &server, &next).await;
    assert_eq!(results(&second.body), ["team/retriever", "team/trip"]);
    assert!(second.body.contains(r#"id="previous-page""#));
    assert!(!second.body.contains(r#"id="next-page""#));
    // A model filter is kept by the facets' links.
    let model = get(&client, &server, "/search?model=anthropic").await;
    assert_eq!(results(&model.body), ["team/planner"]);
    assert!(list(&model.body, "facet-kind").contains("model=anthropic"));
    // A bad filter is a 400 page, not a 500.
    for bad in [
        "/search?kind=robot",
        "/search?sort=sideways",
        "/search?cursor=not-a-cursor",
        "/search?signed=maybe",
        "/search?limit=100000",
    ] {
        let page = get(&client, &server, bad).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.body.contains(r#"id="error-message""#), "{bad}");
    }

    // The package page: the latest version that is not a pre-release.
    let planner = get(&client, &server, "/packages/team/planner").await;
    assert_eq!(planner.status, 200);
    let body = &planner.body;
    assert!(
        body.contains(r#"<h1 id="package-name">team/planner</h1>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"id="package-version" class="version">1.10.0<"#),
        "{body}"
    );
    assert!(
        body.contains("<strong>trips</strong>") && body.contains("<td>1</td>"),
        "{body}"
    );
    // Versions in semver order (1.10.0 above 1.2.0), each linked.
    let order: Vec<&str> = body
        .split(r#"<a class="version-link" href="/packages/team/planner/"#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(order, ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"]);
    assert_eq!(body.matches(r#"<tr class="version"#).count(), 4);
    // The facts at a glance.
    let facts = &body[body.find(r#"id="facts""#).unwrap()..];
    for fact in [
        "anthropic/claude-sonnet-4",
        "http 8080/http",
        "HTTP /healthz, every 30 s",
        "python -m planner",
        "Apache-2.0",
        r#"<a href="https://github.com/acme/planner" rel="noopener noreferrer nofollow">"#,
        r#"<a href="/search?capability=planning""#,
    ] {
        assert!(facts.contains(fact), "{fact} not in {facts}");
    }
    assert!(body.contains(r#"<dd id="size">"#) && body.contains(r#"<code id="digest">sha256:"#));
    // Dependencies link to packages here; others are text.
    let dependencies = list(body, "dependencies");
    assert!(
        dependencies.contains(r#"<a href="/packages/team/retriever">team/retriever</a>"#),
        "{dependencies}"
    );
    assert!(
        dependencies.contains("elsewhere/missing") && !dependencies.contains("/packages/elsewhere")
    );
    // The stack naming it is a dependent.
    let dependents = list(body, "dependents");
    assert!(
        dependents.contains(r#"<a href="/packages/team/trip">team/trip</a>"#),
        "{dependents}"
    );
    // Copy-ready commands name the host the page was asked at.
    let host = server.base().trim_start_matches("http://");
    assert!(
        body.contains(&format!(
            r#"<div class="command" id="cmd-agent-pull"><code>agent pull {host}/team/planner:1.10.0</code><button type="button" class="copy" data-copy="agent pull {host}/team/planner:1.10.0">"#
        )),
        "{body}"
    );
    assert!(body.contains(&format!("oras pull {host}/team/planner:1.10.0")));
    assert!(!body.contains(r#"id="cmd-stack-pull""#));
    assert!(body.contains(r#"<div id="downloads-chart"><svg"#));
    // Each version says when it was pushed, with the exact time on hover.
    let pushed = &body[body.find("<time datetime=\"").expect("a <time>") + 16..];
    let utc = &pushed[..pushed.find('"').unwrap()];
    assert!(
        utc.len() == 20 && utc.starts_with("20") && utc.ends_with('Z'),
        "{utc}"
    );
    assert!(
        pushed.contains(&format!(r#" title="{} {} UTC">"#, &utc[..10], &utc[11..16])),
        "{pushed}"
    );
    // Signatures: 1.10.0's is trusted, and the versions say who is signed.
    let signatures = list(body, "signatures");
    assert_eq!(signatures.matches(r#"<li class="signature">"#).count(), 1);
    assert!(
        signatures.contains(&format!(
            r#"<code class="key-id">{}</code> <span class="badge trusted">"#,
            trusted.id()
        )),
        "{signatures}"
    );
    let rows: Vec<&str> = body.split(r#"<tr class="version"#).skip(1).collect();
    let signed: Vec<bool> = rows
        .iter()
        .map(|row| {
            row.split("</tr>")
                .next()
                .unwrap()
                .contains(r#"class="badge signed""#)
        })
        .collect();
    assert_eq!(signed, [false, true, false, false]);

    // Only signed packages: the facets count the signed matches.
    let signed_only = get(&client, &server, "/search?signed=true").await;
    assert_eq!(results(&signed_only.body), ["team/planner"]);
    assert!(
        signed_only
            .body
            .contains(r#"name="signed" value="true" checked"#)
    );
    let kinds = list(&signed_only.body, "facet-kind");
    assert!(
        kinds.contains(r#">agent <span class="count">1</span>"#),
        "{kinds}"
    );
    assert!(!kinds.contains("stack"), "{kinds}");
    let models = list(&signed_only.body, "facet-model");
    assert!(
        models.contains(r#">anthropic/claude-sonnet-4 <span class="count">1</span>"#),
        "{models}"
    );
    assert!(list(&signed_only.body, "results").contains(r#"class="badge signed""#));

    // A version's page.
    let old = get(&client, &server, "/packages/team/planner/1.2.0").await;
    assert_eq!(old.status, 200);
    assert!(
        list(&old.body, "signatures").contains(r#"<span class="badge untrusted">"#),
        "{}",
        old.body
    );
    let unsigned = get(&client, &server, "/packages/team/planner/1.0.0").await;
    assert!(unsigned.body.contains("Version 1.0.0 is not signed."));
    assert!(
        old.body
            .contains(r#"id="package-version" class="version">1.2.0<"#)
    );
    assert!(old.body.contains("agent pull 127.0.0.1"));
    let latest = get(&client, &server, "/packages/team/planner/latest").await;
    assert!(latest.body.contains(r#"class="version">1.10.0<"#));
    // A deprecated version has its badge, and the page of the package
    // shows the highest version that is not.
    let response = client
        .post(server.url("/v1/packages/team/planner/1.10.0/deprecate"))
        .json(&serde_json::json!({"message": "use 1.2.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let now = get(&client, &server, "/packages/team/planner").await;
    assert!(
        now.body
            .contains(r#"id="package-version" class="version">1.2.0<"#),
        "{}",
        now.body
    );
    let rows: Vec<&str> = now.body.split(r#"<tr class="version"#).skip(1).collect();
    let deprecated: Vec<bool> = rows
        .iter()
        .map(|row| {
            row.split("</tr>")
                .next()
                .unwrap()
                .contains(r#"class="badge deprecated""#)
        })
        .collect();
    assert_eq!(deprecated, [false, true, false, false]);
    let signed_only = get(&client, &server, "/search?signed=true").await;
    assert!(
        results(&signed_only.body).is_empty(),
        "the shown 1.2.0 is not trusted"
    );
    for missing in [
        "/packages/team/planner/9.9.9",
        "/packages/team/nobody",
        "/packages/Not_A..Name",
    ] {
        let page = get(&client, &server, missing).await;
        assert_eq!(page.status, 404, "{missing}");
    }

    // A stack: its members link to their pages, and it has the stack command.
    let trip = get(&client, &server, "/packages/team/trip").await;
    assert!(trip.body.contains(&format!(
        "agent stack pull --extract-agents {host}/team/trip:1.0.0"
    )));
    assert!(trip.body.contains(r#"id="cmd-stack-pull""#));
    assert!(
        list(&trip.body, "dependencies")
            .contains(r#"<a href="/packages/team/planner">planner</a>"#),
        "{}",
        trip.body
    );

    // What a hostile package says is text: no element, handler or URL of it
    // reaches the page.
    let page = get(&client, &server, "/packages/team/hostile").await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    for bad in [
        "<script>alert",
        "<img src=x onerror",
        "<img/src=x/onerror",
        "javascript:",
        "JaVaScRiPt:",
        "onload=",
        "<iframe",
        "<svg onload",
        "<b>bold</b>",
    ] {
        assert!(!body.contains(bad), "{bad} in {body}");
    }
    assert!(!body.to_lowercase().contains("javascript:"), "{body}");
    // The README's one script tag is the page's own (in the head).
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(
        body.contains("&#60;script&#62;alert(&#39;description&#39;)")
            || body.contains("&lt;script&gt;alert"),
        "{body}"
    );
    // The README's headings go one level down, under the page's own h1.
    assert!(
        body.contains(r#"<h2 id="readme-hostile">Hostile</h2>"#),
        "{body}"
    );
    // A source that is not http(s) is text, not a link.
    assert!(body.contains("ftp://example.com/hostile"), "{body}");
    assert!(!body.contains(r#"href="ftp:"#), "{body}");
    let search = get(&client, &server, "/search?q=hostile").await;
    assert!(!search.body.contains("<script>alert"), "{}", search.body);
    assert!(!search.body.contains("<b>bold"), "{}", search.body);

    // Downloads: pulling the package file counts (written within seconds).
    let response = client
        .get(server.url(&format!("/v2/team/retriever/blobs/{retriever_sntl}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = get(&client, &server, "/packages/team/retriever").await;
        if page.body.contains(": 1 download</title>") {
            assert!(
                page.body
                    .contains("<p>1 download of every version in the last 30 days</p>"),
                "{}",
                page.body
            );
            break;
        }
        assert!(Instant::now() < deadline, "the download never showed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `sentinel-registry ARGS --data-dir DIR` with `stdin`; it must succeed.
/// `body` without the page its sign-in link names.
fn without_sign_in_link(body: &str) -> String {
    let marker = "href=\"/sign-in?next=";
    match body.find(marker) {
        Some(start) => {
            let end = start + marker.len() + body[start + marker.len()..].find('"').unwrap();
            format!("{}{}", &body[..start + marker.len()], &body[end..])
        }
        None => body.to_owned(),
    }
}

#[tokio::test]
async fn a_private_package_is_not_found_and_not_listed_for_anonymous_visitors() {
    let data = tempfile::tempdir().unwrap();
    process::command_ok(
        data.path(),
        &["user", "add", "alice", "--password-stdin"],
        "correct horse battery\n",
    );
    let server = Process::start(data.path());
    let client = reqwest::Client::new();
    let alice = Some(("alice", "correct horse battery"));
    for name in ["secret", "open"] {
        let dir = agent_dir(
            name,
            "1.0.0",
            "description: An agent.\ncapabilities: [shared]\n",
            "# x\n",
        );
        push_dir(
            &client,
            &server,
            &format!("alice/{name}"),
            dir.path(),
            alice,
        )
        .await;
    }
    process::command_ok(
        data.path(),
        &["repo", "visibility", "alice/open", "public"],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = get(&client, &server, "/packages/alice/open").await;
        if open.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "alice/open never became public");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for path in ["/packages/alice/secret", "/packages/alice/secret/1.0.0"] {
        let page = get(&client, &server, path).await;
        assert_eq!(page.status, 404, "{path}");
        // The same answer as for a package that does not exist (but for the
        // page the sign-in link comes back to).
        let missing = get(&client, &server, "/packages/alice/nothing").await;
        assert_eq!(
            without_sign_in_link(&page.body).replace("alice/secret", "X"),
            without_sign_in_link(&missing.body).replace("alice/nothing", "X")
        );
    }
    let search = get(&client, &server, "/search?capability=shared").await;
    assert_eq!(results(&search.body), ["alice/open"]);
    assert!(search.body.contains("1 package<"));
    assert!(!search.body.contains("alice/secret"));
    assert!(list(&search.body, "facet-capability").contains(r#"<span class="count">1</span>"#));
    let everything = get(&client, &server, "/search").await;
    assert!(!everything.body.contains("alice/secret"));
    // The home page and the API agree.
    let api: serde_json::Value = client
        .get(server.url("/v1/packages/search?capability=shared"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["total"], 1);
}
