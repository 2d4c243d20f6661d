//! The catalogue searched: a few dozen versions of agents and stacks, with
//! unicode in names, descriptions, tags and capabilities, some deprecated,
//! some downloaded, one hidden from the caller; built once, in memory.

use std::sync::OnceLock;

use semver::Version;
use sentinel_catalogue::{
    BlobRef, Catalogue, EmbeddedCatalogue, MemberRef, ModelRef, PackageSummary, PackageVersion,
    SearchPage, SearchQuery, Visible,
};
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;

use crate::MAX_LIMIT;

/// Repositories under this prefix are hidden from the searching caller.
const HIDDEN: &str = "private/";

/// The catalogued packages: repository, kind, name, description, author,
/// capabilities, tags, model and versions.
struct Seed {
    repository: &'static str,
    kind: PackageKind,
    name: &'static str,
    description: Option<&'static str>,
    author: Option<&'static str>,
    capabilities: &'static [&'static str],
    tags: &'static [&'static str],
    model: Option<(&'static str, &'static str)>,
    versions: &'static [&'static str],
}

/// What the catalogue holds: 13 packages, 35 versions.
const SEEDS: &[Seed] = &[
    Seed {
        repository: "team/planner",
        kind: PackageKind::Agent,
        name: "planner",
        description: Some("Plans trips, meetings and summaries"),
        author: Some("Ada Lovelace <ada@example.com>"),
        capabilities: &["planning", "web-search"],
        tags: &["demo", "Beta"],
        model: Some(("anthropic", "claude-sonnet-4")),
        versions: &[
            "0.9.0",
            "1.0.0",
            "1.2.0",
            "1.2.1+build.3",
            "1.3.0-beta.2",
            "2.0.0-rc.1",
        ],
    },
    Seed {
        repository: "team/planner-pro",
        kind: PackageKind::Agent,
        name: "planner-pro",
        description: Some("The planner, with a calendar: plans für Teams"),
        author: Some("Ada Lovelace <ada@example.com>"),
        capabilities: &["planning", "calendar"],
        tags: &["demo"],
        model: Some(("openai", "gpt-5")),
        versions: &["1.0.0", "1.1.0+build.7"],
    },
    Seed {
        repository: "team/summariser",
        kind: PackageKind::Agent,
        name: "summariser",
        description: Some("Summarises PDF papers — résumé, abstract, TL;DR"),
        author: Some("Grace Hopper"),
        capabilities: &["summarise", "pdf"],
        tags: &["résumé", "papers"],
        model: Some(("anthropic", "claude-haiku")),
        versions: &["0.1.0", "0.2.0-alpha.1"],
    },
    Seed {
        repository: "acme/translator",
        kind: PackageKind::Agent,
        name: "translator",
        description: Some("Traduction française, 日本語の翻訳, Übersetzung ins Deutsche"),
        author: Some("Ζωή Παπαδοπούλου"),
        capabilities: &["traduction-française", "日本語"],
        tags: &["İstanbul", "ΣΊΣΥΦΟΣ"],
        model: Some(("mistral", "large")),
        versions: &["3.0.0", "3.1.0", "3.1.1", "4.0.0-alpha", "4.0.0-alpha.1"],
    },
    Seed {
        repository: "acme/resume-writer",
        kind: PackageKind::Agent,
        name: "résumé-writer",
        description: Some("Writes a CV; STRASSE Straße straße ǅemal"),
        author: Some("ACME Corp."),
        capabilities: &["Straße", "writing"],
        tags: &["emoji-🚀", "KELVIN-\u{212A}"],
        model: None,
        versions: &["1.0.0-beta.1", "1.0.0-beta.2"],
    },
    Seed {
        repository: "lab/web-search",
        kind: PackageKind::Agent,
        name: "web-search",
        description: Some("Searches the web: search, searching, searched"),
        author: None,
        capabilities: &["web-search"],
        tags: &[],
        model: Some(("anthropic", "claude-sonnet-4")),
        versions: &["0.0.1", "0.0.2", "0.1.0", "0.1.1", "0.2.0"],
    },
    Seed {
        repository: "lab/pdf2text",
        kind: PackageKind::Agent,
        name: "pdf2text",
        description: Some(
            "pneumonoultramicroscopicsilicovolcanoconiosispneumonoultramicroscopicsilicovolcanoconiosis extracts",
        ),
        author: Some("lab"),
        capabilities: &["pdf", "ocr"],
        tags: &["tools"],
        model: None,
        versions: &["2.0.0", "2.0.1", "2.1.0"],
    },
    Seed {
        repository: "org/deep/nested/agent",
        kind: PackageKind::Agent,
        name: "agent",
        description: None,
        author: None,
        capabilities: &[],
        tags: &[],
        model: None,
        versions: &["1.0.0"],
    },
    Seed {
        repository: "x/a",
        kind: PackageKind::Agent,
        name: "a",
        description: Some("a"),
        author: None,
        capabilities: &["a"],
        tags: &["a"],
        model: None,
        versions: &["1.0.0"],
    },
    Seed {
        repository: "x/aa",
        kind: PackageKind::Agent,
        name: "aa",
        description: Some("a aa aaa"),
        author: None,
        capabilities: &[],
        tags: &[],
        model: None,
        versions: &["1.0.0", "1.0.1"],
    },
    Seed {
        repository: "private/secret-agent",
        kind: PackageKind::Agent,
        name: "secret-agent",
        description: Some("Plans in secret; nobody may find it"),
        author: Some("Ada Lovelace <ada@example.com>"),
        capabilities: &["planning", "web-search"],
        tags: &["demo"],
        model: Some(("anthropic", "claude-sonnet-4")),
        versions: &["1.0.0"],
    },
    Seed {
        repository: "stacks/research",
        kind: PackageKind::Stack,
        name: "research",
        description: Some("Plans, searches the web and summarises: 研究"),
        author: Some("Grace Hopper"),
        capabilities: &[],
        tags: &["demo", "résumé"],
        model: None,
        versions: &["1.0.0", "1.1.0", "2.0.0-rc.1"],
    },
    Seed {
        repository: "stacks/office",
        kind: PackageKind::Stack,
        name: "office",
        description: Some("Calendar and writing"),
        author: Some("ACME Corp."),
        capabilities: &[],
        tags: &["tools"],
        model: None,
        versions: &["0.1.0", "0.1.1"],
    },
];

/// The catalogue searched, and a runtime to drive it.
pub(crate) struct Fixture {
    runtime: tokio::runtime::Runtime,
    catalogue: EmbeddedCatalogue,
    /// What an empty search finds: every visible package, as shown.
    pub(crate) everything: Vec<PackageSummary>,
}

/// The caller sees everything but [`HIDDEN`] repositories.
const CALLER: Visible<'static> = &|repository| !repository.as_str().starts_with(HIDDEN);

/// The catalogue, built on first use.
pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (catalogue, _) =
            EmbeddedCatalogue::open(&dir.path().join("catalogue.redb")).expect("a new catalogue");
        runtime.block_on(fill(&catalogue));
        // Searches are answered from memory: the file can go now, so that
        // nothing is left behind when libFuzzer exits without dropping it.
        drop(dir);
        let mut fixture = Fixture {
            runtime,
            catalogue,
            everything: Vec::new(),
        };
        let all = SearchQuery {
            limit: MAX_LIMIT,
            ..SearchQuery::default()
        };
        fixture.everything = search(&fixture, &all).packages;
        let visible = SEEDS
            .iter()
            .filter(|s| !s.repository.starts_with(HIDDEN))
            .count();
        assert_eq!(
            fixture.everything.len(),
            visible,
            "an empty search misses packages"
        );
        fixture
    })
}

/// Records every version of [`SEEDS`], deprecates and downloads some.
async fn fill(catalogue: &EmbeddedCatalogue) {
    let mut pushed_at = 1_000;
    for (n, seed) in SEEDS.iter().enumerate() {
        let repository: RepositoryName = seed.repository.parse().expect("a repository name");
        for (i, version) in seed.versions.iter().enumerate() {
            pushed_at += 17 * (n as u64 % 5) + 1;
            let entry = entry(seed, &repository, version, pushed_at);
            let package = entry.package.digest.clone();
            catalogue.record(entry).await.expect("recorded");
            for _ in 0..(n + i) % 4 {
                catalogue.count_download(&repository, &package, 20_000 + i as u32);
            }
        }
        if n % 3 == 0 {
            let newest = Version::parse(seed.versions[seed.versions.len() - 1]).expect("version");
            catalogue
                .set_deprecation(&repository, &newest, Some("use another".to_owned()))
                .await
                .expect("deprecated");
        }
    }
    catalogue.flush().await.expect("flushed");
}

/// The catalogue entry of `version` of `seed`.
fn entry(
    seed: &Seed,
    repository: &RepositoryName,
    version: &str,
    pushed_at: u64,
) -> PackageVersion {
    let digest = |what: &str| Digest::sha256(format!("{what} {repository} {version}").as_bytes());
    let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
    let members = if seed.kind == PackageKind::Stack {
        vec![MemberRef {
            name: "planner".to_owned(),
            reference: "team/planner:^1".to_owned(),
            repository: "team/planner".to_owned(),
        }]
    } else {
        Vec::new()
    };
    PackageVersion {
        repository: repository.clone(),
        digest: digest("manifest"),
        kind: seed.kind,
        name: seed.name.to_owned(),
        version: Version::parse(version).expect("a version"),
        tag: Some(version.replace('+', "_")),
        description: seed.description.map(str::to_owned),
        author: seed.author.map(str::to_owned),
        license: Some("Apache-2.0".to_owned()),
        source: None,
        capabilities: strings(seed.capabilities),
        tags: strings(seed.tags),
        model: seed.model.map(|(provider, name)| ModelRef {
            provider: provider.to_owned(),
            name: name.to_owned(),
        }),
        dependencies: Vec::new(),
        members,
        ports: Vec::new(),
        config: BlobRef {
            digest: digest("config"),
            size: 100,
        },
        package: BlobRef {
            digest: digest("package"),
            size: 1_000,
        },
        file_name: format!("{}-{version}.sntl", seed.name),
        created: None,
        pushed_at,
        pushed_by: Some("fuzz".to_owned()),
        readme: Some(format!("# {}\n", seed.name)),
        definition: serde_json::json!({ "name": seed.name, "version": version }),
    }
}

/// Searches the catalogue as the caller.
pub(crate) fn search(fixture: &Fixture, query: &SearchQuery) -> SearchPage {
    fixture
        .runtime
        .block_on(fixture.catalogue.search(query, CALLER))
        .expect("a search of the catalogue in memory")
}
