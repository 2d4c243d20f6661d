//! `GET /packages/{name}` and `GET /packages/{name}/{version}`: one
//! package, at its latest version or the one named; and
//! `/packages/{name}/{version}/files[/{path}]`, its files, and
//! `/packages/{name}/{version}/raw/{path}`, an image among them as it is
//! (see `files`).
//!
//! A package name is a repository path and may hold `/`, so the path is read
//! from the right: when the last segment is an exact semantic version
//! (`1.2.0`, `2.0.0-rc.1`, `1.0.0+build.5`) or `latest`, and what precedes
//! it is a repository name, it names that version of that package;
//! otherwise the whole path names the package. A repository whose last path
//! component looks like a version (`team/1.0.0`) is therefore only reachable
//! as `/packages/team/1.0.0/latest` or with a version after it. Before
//! that, a path with a segment `files` or `raw` after an exact version that
//! follows a repository name names the files of that version (the first
//! such segment from the left: what comes after it is a file's path); a
//! repository named like `team/1.0.0/files` or `team/1.0.0/raw` therefore
//! has no page.
//!
//! A package the visitor may not see is a 404, as a missing one is.

use std::sync::LazyLock;

use semver::Version;
use sentinel_catalogue::{PackageVersion, PackageVersions, SearchQuery, VersionInfo};
use sentinel_oci::RepositoryName;
use sentinel_package::PackageKind;
use sentinel_ui::markdown::{FileLinks, Readmes};
use sentinel_ui::{
    CommandLine, Fact, Linked, PackagePage, Relation, SignatureRow, VersionRow, chart,
};
use serde_json::Value;

use super::*;
use crate::service::VersionChoice;

/// The days the downloads chart covers.
const CHART_DAYS: u32 = 30;

/// The most versions listed on a page; `?versions=N` lists the next ones
/// from the N-th (0 is the highest version).
const MAX_VERSION_ROWS: usize = 100;

/// Rendered Markdown, by repository and manifest digest: a digest fixes
/// the file and the repository where its links lead, so a kept one never
/// goes stale, and every registry in the process may share them.
pub(super) static READMES: LazyLock<Readmes> = LazyLock::new(Readmes::default);

/// The page of the version `entry`.
pub(super) fn version_href(entry: &PackageVersion) -> String {
    format!("/packages/{}/{}", entry.repository, entry.version)
}

/// The files view of the version `entry`.
pub(super) fn files_href(entry: &PackageVersion) -> String {
    format!("{}/files", version_href(entry))
}

/// What a `/packages/...` path names.
#[derive(Debug, PartialEq, Eq)]
struct Named {
    repository: String,
    version: Option<Version>,
    /// Which of the version's files, if any.
    part: Option<Part>,
}

/// The files of a version a path names.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    /// `files[/{path}]`: the list (an empty path) or one file's page.
    Files(String),
    /// `raw/{path}`: one file as it is.
    Raw(String),
}

/// Reads the path after `/packages/`: a version's files, else from the
/// right.
fn parse(path: &str) -> Named {
    let segments: Vec<&str> = path.split('/').collect();
    for at in 2..segments.len() {
        let part: fn(String) -> Part = match segments[at] {
            "files" => Part::Files,
            "raw" => Part::Raw,
            _ => continue,
        };
        let head = segments[..at - 1].join("/");
        if let Ok(version) = Version::parse(segments[at - 1])
            && head.parse::<RepositoryName>().is_ok()
        {
            return Named {
                repository: head,
                version: Some(version),
                part: Some(part(
                    segments[at + 1..]
                        .join("/")
                        .trim_end_matches('/')
                        .to_owned(),
                )),
            };
        }
    }
    let path = path.trim_end_matches('/');
    if let Some((head, last)) = path.rsplit_once('/')
        && head.parse::<RepositoryName>().is_ok()
    {
        if last == "latest" {
            return Named {
                repository: head.to_owned(),
                version: None,
                part: None,
            };
        }
        if let Ok(version) = Version::parse(last) {
            return Named {
                repository: head.to_owned(),
                version: Some(version),
                part: None,
            };
        }
    }
    Named {
        repository: path.to_owned(),
        version: None,
        part: None,
    }
}

/// `GET /packages/{*path}`.
pub(super) async fn package(
    State(app): State<App>,
    Path(path): Path<String>,
    visit: Visit,
) -> Response {
    let result = render(&app, &visit, &path).await;
    visit.respond(&app, result)
}

/// Which of `count` versions (highest first) the page lists: at most
/// [`MAX_VERSION_ROWS`] from `?versions=N` (the first ones when it is
/// missing, not a number, or past the end).
fn versions_listed(visit: &Visit, count: usize) -> std::ops::Range<usize> {
    let start = visit
        .request
        .form_query("versions")
        .and_then(|from| from.parse::<usize>().ok())
        .filter(|&from| from < count)
        .unwrap_or(0);
    start..count.min(start + MAX_VERSION_ROWS)
}

fn no_such_package(name: &str) -> PageError {
    PageError::NotFound(format!("There is no package {name} here."))
}

/// Whether the namespace `namespace` holds packages the visitor may see.
async fn holds_packages(app: &App, visit: &Visit, namespace: &str) -> Result<bool, PageError> {
    let query = SearchQuery {
        namespace: Some(namespace.to_owned()),
        limit: 1,
        ..SearchQuery::default()
    };
    let visible = |repository: &RepositoryName| visit.can_see(repository.as_str());
    Ok(app.registry.search_packages(&query, &visible).await?.total > 0)
}

async fn render(app: &App, visit: &Visit, path: &str) -> Result<Response, PageError> {
    let named = parse(path);
    let Ok(repository) = named.repository.parse::<RepositoryName>() else {
        return Err(no_such_package(&named.repository));
    };
    let versions = if visit.can_see(repository.as_str()) {
        app.registry.package_versions(&repository).await?
    } else {
        None
    };
    let Some(versions) = versions else {
        // No package by that name: a namespace (`/packages/acme`) with
        // packages the visitor may see leads to their list.
        if named.version.is_none() && holds_packages(app, visit, repository.as_str()).await? {
            return Ok(axum::response::Redirect::to(&format!(
                "/search?namespace={}",
                percent_encoding::utf8_percent_encode(
                    repository.as_str(),
                    percent_encoding::NON_ALPHANUMERIC
                )
            ))
            .into_response());
        }
        return Err(no_such_package(repository.as_str()));
    };
    let version = match named.version {
        Some(version) => {
            if !versions.versions.iter().any(|v| v.version == version) {
                return Err(PageError::NotFound(format!(
                    "The package {repository} has no version {version}."
                )));
            }
            version
        }
        None => shown_version(&versions).ok_or_else(|| no_such_package(repository.as_str()))?,
    };
    let Some(entry) = app.registry.package_version(&repository, &version).await? else {
        return Err(no_such_package(repository.as_str()));
    };
    match &named.part {
        Some(Part::Files(path)) => return super::files::render(app, visit, &entry, path).await,
        Some(Part::Raw(path)) => return super::files::raw(app, visit, &entry, path).await,
        None => {}
    }
    let now = crate::clock::now();
    let signatures = app
        .registry
        .version_signatures(&repository, &version)
        .await?;
    let listed = versions_listed(visit, versions.versions.len());
    let mut rows = Vec::new();
    for info in versions
        .versions
        .iter()
        .skip(listed.start)
        .take(listed.len())
    {
        rows.push(version_row(app, &repository, info, &version, now).await?);
    }
    let versions_link = |from: usize| {
        let path = visit.request.uri.path();
        if from == 0 {
            format!("{path}#versions")
        } else {
            format!("{path}?versions={from}#versions")
        }
    };
    let days = app
        .registry
        .daily_downloads(&repository, CHART_DAYS)
        .await?;
    let recent: u64 = days.iter().map(|(_, n)| n).sum();
    let (dependencies_title, dependencies) = dependencies(app, visit, &entry).await?;
    let dependents = dependents(app, visit, &repository).await?;
    let readme = match entry.readme.as_deref().filter(|r| !r.trim().is_empty()) {
        None => None,
        Some(markdown) => {
            let key = format!("{repository}@{}", entry.digest);
            match READMES.kept(&key) {
                Some(html) => Some(html),
                None => {
                    // Rendering may take milliseconds: off the request's thread.
                    let links = FileLinks::new(&version_href(&entry), "README.md");
                    let markdown = markdown.to_owned();
                    let html = tokio::task::spawn_blocking(move || {
                        READMES.html(&key, &markdown, Some(&links))
                    })
                    .await
                    .map_err(|e| PageError::Internal(e.to_string()))?;
                    Some(html)
                }
            }
        }
    };
    // The catalogue keeps the first MAX_README_BYTES, cut at a character:
    // a README that long was longer.
    let readme_cut = entry
        .readme
        .as_ref()
        .is_some_and(|r| r.len() + 4 > sentinel_catalogue::MAX_README_BYTES);
    let size = versions
        .versions
        .iter()
        .find(|v| v.version == version)
        .map_or(entry.package.size, |v| v.size);
    let deprecated = versions
        .versions
        .iter()
        .find(|v| v.version == version)
        .and_then(|v| v.deprecated.clone());
    page(&PackagePage {
        layout: visit.layout(app, format!("{repository} {version}")),
        repository: repository.as_str().to_owned(),
        namespace: repository
            .as_str()
            .rsplit_once('/')
            .map(|(namespace, _)| namespace.to_owned()),
        name: entry.name.clone(),
        kind: entry.kind.to_string(),
        version: version.to_string(),
        deprecated,
        description: entry.description.clone(),
        tags: entry.tags.clone(),
        capabilities: entry.capabilities.clone(),
        readme,
        readme_cut,
        facts: facts(&entry, now),
        dependencies,
        dependencies_title: dependencies_title.to_owned(),
        dependents,
        version_count: versions.versions.len(),
        versions_from: listed.start,
        newer_versions: (listed.start > 0)
            .then(|| versions_link(listed.start.saturating_sub(MAX_VERSION_ROWS))),
        older_versions: (listed.end < versions.versions.len()).then(|| versions_link(listed.end)),
        versions: rows,
        signatures: signatures
            .iter()
            .map(|s| SignatureRow {
                key_id: if s.key_id.is_empty() {
                    "(no key id)".to_owned()
                } else {
                    s.key_id.clone()
                },
                created: s.created.clone(),
                trusted: s.trusted,
            })
            .collect(),
        chart: chart::downloads_chart(&days),
        recent_downloads: format::counted(recent, "download", "downloads"),
        digest: entry.digest.to_string(),
        size: format::bytes(size),
        file_name: entry.file_name.clone(),
        files_href: files_href(&entry),
        commands: commands(&app.registry, &visit.request.headers, &entry),
    })
}

/// The version a package's page shows: the highest that is neither a
/// pre-release nor deprecated, else the highest.
fn shown_version(versions: &PackageVersions) -> Option<Version> {
    VersionChoice::Latest
        .resolve(versions, false)
        .or_else(|| versions.versions.first().map(|v| v.version.clone()))
}

async fn version_row(
    app: &App,
    repository: &RepositoryName,
    info: &VersionInfo,
    shown: &Version,
    now: u64,
) -> Result<VersionRow, PageError> {
    let signed = app
        .registry
        .signatures(repository, &info.digest)
        .await?
        .iter()
        .any(|s| s.trusted);
    Ok(VersionRow {
        version: info.version.to_string(),
        href: format!("/packages/{repository}/{}", info.version),
        deprecated: info.deprecated.clone(),
        signed,
        current: &info.version == shown,
        pushed: super::moment(now, info.pushed_at),
        size: format::bytes(info.size),
        downloads: format::count(info.downloads),
    })
}

/// A link to the package page of `name`, when it names a package in this
/// registry that the visitor may see.
async fn package_link(app: &App, visit: &Visit, name: &str) -> Result<Option<String>, PageError> {
    let Ok(repository) = name.parse::<RepositoryName>() else {
        return Ok(None);
    };
    let here =
        visit.can_see(repository.as_str()) && app.registry.holds_package(&repository).await?;
    Ok(here.then(|| format!("/packages/{repository}")))
}

/// An agent's dependencies, or a stack's members.
async fn dependencies(
    app: &App,
    visit: &Visit,
    entry: &PackageVersion,
) -> Result<(&'static str, Vec<Relation>), PageError> {
    let mut relations = Vec::new();
    match entry.kind {
        PackageKind::Agent => {
            for dependency in &entry.dependencies {
                relations.push(Relation {
                    name: dependency.name.clone(),
                    detail: dependency.requirement.clone(),
                    href: package_link(app, visit, &dependency.name).await?,
                });
            }
            Ok(("Dependencies", relations))
        }
        PackageKind::Stack => {
            for member in &entry.members {
                relations.push(Relation {
                    name: member.name.clone(),
                    detail: member.reference.clone(),
                    href: package_link(app, visit, &member.repository).await?,
                });
            }
            Ok(("Members", relations))
        }
    }
}

/// The stacks naming the agent in `repository` that the visitor may see:
/// one line per stack, with the versions that name it.
async fn dependents(
    app: &App,
    visit: &Visit,
    repository: &RepositoryName,
) -> Result<Vec<Relation>, PageError> {
    let mut relations: Vec<(RepositoryName, Vec<Version>)> = Vec::new();
    for dependent in app.registry.dependents(repository).await? {
        if !visit.can_see(dependent.repository.as_str()) {
            continue;
        }
        match relations
            .iter_mut()
            .find(|(r, _)| *r == dependent.repository)
        {
            Some((_, versions)) => versions.push(dependent.version),
            None => relations.push((dependent.repository, vec![dependent.version])),
        }
    }
    Ok(relations
        .into_iter()
        .map(|(stack, mut versions)| {
            versions.sort_by(|a, b| b.cmp(a));
            let listed: Vec<String> = versions.iter().map(ToString::to_string).collect();
            Relation {
                href: Some(format!("/packages/{stack}")),
                name: stack.as_str().to_owned(),
                detail: listed.join(", "),
            }
        })
        .collect())
}

/// The definition at a glance.
fn facts(entry: &PackageVersion, now: u64) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut add = |label: &str, values: Vec<Linked>| {
        if !values.is_empty() {
            facts.push(Fact {
                label: label.to_owned(),
                values,
            });
        }
    };
    add(
        "Capabilities",
        entry
            .capabilities
            .iter()
            .map(|c| Linked::link(c, search_link("capability", c)))
            .collect(),
    );
    add(
        "Model",
        entry
            .model
            .iter()
            .map(|m| Linked::text(format!("{}/{}", m.provider, m.name)))
            .collect(),
    );
    add(
        "Ports",
        entry
            .ports
            .iter()
            .map(|p| Linked::text(format!("{} {}/{}", p.name, p.port, p.protocol)))
            .collect(),
    );
    add("Health check", health_check(&entry.definition));
    add(
        "Entrypoint",
        words(&entry.definition["entrypoint"])
            .map(|w| vec![Linked::text(w)])
            .unwrap_or_default(),
    );
    add(
        "Runtimes",
        strings(&entry.definition["compatibility"]["runtimes"]),
    );
    add(
        "Platforms",
        strings(&entry.definition["compatibility"]["platforms"]),
    );
    if entry.kind == PackageKind::Stack {
        add(
            "Agents",
            vec![Linked::text(entry.members.len().to_string())],
        );
    }
    add("License", entry.license.iter().map(Linked::text).collect());
    add(
        "Author",
        entry
            .author
            .iter()
            .map(|a| Linked::link(a, search_link("author", a)))
            .collect(),
    );
    add("Source", entry.source.iter().map(|s| source(s)).collect());
    add(
        "Tags",
        entry
            .tags
            .iter()
            .map(|t| Linked::link(t, search_link("tag", t)))
            .collect(),
    );
    add(
        "Pushed",
        vec![Linked::text(match &entry.pushed_by {
            Some(by) => format!("{} by {by}", format::ago(now, entry.pushed_at)),
            None => format::ago(now, entry.pushed_at),
        })],
    );
    facts
}

/// `/search` filtered by one parameter.
fn search_link(key: &str, value: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    format!("/search?{query}")
}

/// The source URL, a link only when it is http or https.
fn source(url: &str) -> Linked {
    let lower = url.to_ascii_lowercase();
    if (lower.starts_with("https://") || lower.starts_with("http://"))
        && url::Url::parse(url).is_ok()
    {
        Linked::link(url, url)
    } else {
        Linked::text(url)
    }
}

/// A list of strings in the definition, as text.
fn strings(value: &Value) -> Vec<Linked> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(Linked::text)
                .collect()
        })
        .unwrap_or_default()
}

/// A command (a list of words) as one line.
fn words(value: &Value) -> Option<String> {
    let items = value.as_array()?;
    let words: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// An agent's health check: its URL path or command, and its timing.
fn health_check(definition: &Value) -> Vec<Linked> {
    let check = &definition["health_check"];
    let mut said = Vec::new();
    if let Some(http) = check["http"].as_str() {
        said.push(format!("HTTP {http}"));
    }
    if let Some(command) = words(&check["command"]) {
        said.push(format!("command {command}"));
    }
    if let Some(interval) = check["interval_seconds"].as_u64() {
        said.push(format!("every {interval} s"));
    }
    if let Some(timeout) = check["timeout_seconds"].as_u64() {
        said.push(format!("timeout {timeout} s"));
    }
    said.into_iter().map(Linked::text).collect()
}

/// The pull commands of the version shown: `agent pull`, for a stack
/// `agent stack pull --extract-agents`, and `oras pull`. They name the
/// version's tag when it has one (a tag is pulled as is), else the exact
/// version (`:=1.2.0`, a requirement) or, for oras, the digest.
fn commands(
    registry: &crate::service::Registry,
    headers: &axum::http::HeaderMap,
    entry: &PackageVersion,
) -> Vec<CommandLine> {
    let host = crate::host::registry_host(registry.public_host(), headers);
    let base = format!("{host}/{}", entry.repository);
    let (agent_ref, oras_ref) = match &entry.tag {
        Some(tag) => (format!("{base}:{tag}"), format!("{base}:{tag}")),
        None => (
            format!("{base}:={}", entry.version),
            format!("{base}@{}", entry.digest),
        ),
    };
    let mut commands = vec![CommandLine {
        id: "cmd-agent-pull".to_owned(),
        text: format!("agent pull {agent_ref}"),
    }];
    if entry.kind == PackageKind::Stack {
        commands.push(CommandLine {
            id: "cmd-stack-pull".to_owned(),
            text: format!("agent stack pull --extract-agents {agent_ref}"),
        });
    }
    commands.push(CommandLine {
        id: "cmd-oras-pull".to_owned(),
        text: format!("oras pull {oras_ref}"),
    });
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(repository: &str, version: Option<&str>) -> Named {
        Named {
            repository: repository.to_owned(),
            version: version.map(|v| Version::parse(v).unwrap()),
            part: None,
        }
    }

    fn files(repository: &str, version: &str, path: &str) -> Named {
        Named {
            part: Some(Part::Files(path.to_owned())),
            ..named(repository, Some(version))
        }
    }

    #[test]
    fn files_paths_follow_a_version() {
        assert_eq!(
            parse("team/planner/1.2.0/files"),
            files("team/planner", "1.2.0", "")
        );
        assert_eq!(
            parse("team/planner/1.2.0/files/"),
            files("team/planner", "1.2.0", "")
        );
        assert_eq!(
            parse("planner/1.2.0/files/docs/usage.md"),
            files("planner", "1.2.0", "docs/usage.md")
        );
        // The first `files` after a version: a file may be called `files`.
        assert_eq!(
            parse("team/planner/1.0.0/files/1.0.0/files"),
            files("team/planner", "1.0.0", "1.0.0/files")
        );
        // Not after an exact version: a package name.
        assert_eq!(parse("team/files"), named("team/files", None));
        assert_eq!(
            parse("team/files/1.0.0"),
            named("team/files", Some("1.0.0"))
        );
        assert_eq!(parse("team/latest/files"), named("team/latest/files", None));
        // The files as they are, the same way.
        assert_eq!(
            parse("team/planner/1.0.0/raw/docs/a.png"),
            Named {
                part: Some(Part::Raw("docs/a.png".to_owned())),
                ..named("team/planner", Some("1.0.0"))
            }
        );
        assert_eq!(parse("team/raw/1.0.0"), named("team/raw", Some("1.0.0")));
    }

    #[test]
    fn paths_are_read_from_the_right() {
        assert_eq!(parse("planner"), named("planner", None));
        assert_eq!(parse("team/planner"), named("team/planner", None));
        assert_eq!(parse("team/planner/"), named("team/planner", None));
        assert_eq!(
            parse("team/planner/1.2.0"),
            named("team/planner", Some("1.2.0"))
        );
        assert_eq!(
            parse("a/b/c/2.0.0-rc.1+build.5"),
            named("a/b/c", Some("2.0.0-rc.1+build.5"))
        );
        assert_eq!(parse("team/planner/latest"), named("team/planner", None));
        // Not an exact version: part of the name.
        assert_eq!(parse("team/planner/1.2"), named("team/planner/1.2", None));
        assert_eq!(
            parse("team/planner/v1.2.0"),
            named("team/planner/v1.2.0", None)
        );
        // A version alone names no package.
        assert_eq!(parse("1.0.0"), named("1.0.0", None));
        // A version after something that is not a repository name.
        assert_eq!(parse("Team/X/1.0.0"), named("Team/X/1.0.0", None));
    }

    #[test]
    fn only_http_sources_are_links() {
        assert!(source("https://github.com/acme/planner").href.is_some());
        assert!(source("HTTP://example.com/").href.is_some());
        assert!(source("javascript:alert(1)").href.is_none());
        assert!(source("git@github.com:acme/planner.git").href.is_none());
        assert!(source("https://").href.is_none());
    }

    #[test]
    fn a_health_check_reads_as_text() {
        let definition = serde_json::json!({
            "health_check": {"http": "/healthz", "interval_seconds": 10},
            "entrypoint": ["python", "-m", "planner"],
        });
        let said: Vec<String> = health_check(&definition)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(said, ["HTTP /healthz", "every 10 s"]);
        assert_eq!(
            words(&definition["entrypoint"]).as_deref(),
            Some("python -m planner")
        );
        assert!(health_check(&Value::Null).is_empty());
    }
}
