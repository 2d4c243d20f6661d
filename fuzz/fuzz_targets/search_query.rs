//! Fuzzes catalogue search: arbitrary query text, filters, order and paging
//! against a small [`sentinel_catalogue::EmbeddedCatalogue`] built once
//! ([`catalogue`]).
//!
//! Every search must answer without panicking, return at most `limit`
//! packages, count at least as many as it returns, and page consistently (a
//! page is the same slice of the whole ordered answer, in the order asked
//! for). The whole answer must hold exactly the visible packages that the
//! kind, capability, tag, author, model and namespace filters and every query word
//! admit, judged here from what each package shows. Sizes stay within what
//! the HTTP API accepts, with some room: text up to 2 KiB, `limit` up to
//! 100, `offset` up to 100,000.

#![no_main]

#[path = "search_query/catalogue.rs"]
mod catalogue;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sentinel_catalogue::{PackageSummary, SearchQuery, Sort};
use sentinel_package::PackageKind;

use catalogue::{fixture, search};

/// The longest query text tried, in bytes.
const MAX_TEXT_BYTES: usize = 2048;
/// The largest `limit` tried (the API's maximum).
const MAX_LIMIT: usize = 100;
/// The largest `offset` tried (the API's maximum).
const MAX_OFFSET: usize = 100_000;

/// Values the filters pick from, so that they match something.
const CAPABILITIES: &[&str] = &[
    "planning",
    "WEB-SEARCH",
    "pdf",
    "日本語",
    "straße",
    "STRASSE",
    "traduction-française",
    "",
];
const TAGS: &[&str] = &[
    "demo",
    "beta",
    "RÉSUMÉ",
    "i\u{307}stanbul",
    "σίσυφος",
    "kelvin-k",
    "",
];
const AUTHORS: &[&str] = &["ada", "GRACE", "ζωή", "acme corp.", "@", ""];
const MODELS: &[&str] = &[
    "anthropic",
    "claude-sonnet-4",
    "anthropic/claude-sonnet-4",
    "mistral/large",
    "",
];
const NAMESPACES: &[&str] = &[
    "team",
    "TEAM",
    "acme/",
    "lab",
    "tea",
    "team/planner",
    "private",
    "",
];
const WORDS: &[&str] = &[
    "plan",
    "planner",
    "team/planner",
    "summ",
    "résumé",
    "日本語",
    "straße",
    "a",
    "aa",
    "web",
    "search",
    "pneumonoultramicroscopicsilicovolcanoconiosispneumonoultramicroscopicsilicovolcanoconiosis",
    "研究",
];

/// A filter value: one of a list of useful values, or any text.
#[derive(Arbitrary, Debug)]
enum Filter {
    Known(u8),
    Free(String),
}

impl Filter {
    fn value(self, known: &[&str]) -> String {
        match self {
            Filter::Known(i) => known[usize::from(i) % known.len()].to_owned(),
            Filter::Free(text) => text,
        }
    }
}

/// A package kind filter.
#[derive(Arbitrary, Debug)]
enum Kind {
    Agent,
    Stack,
}

/// A search order.
#[derive(Arbitrary, Debug)]
enum Order {
    Relevance,
    Downloads,
    Updated,
    Name,
}

/// What the fuzzer chooses: a search as the HTTP API would build it.
#[derive(Arbitrary, Debug)]
struct Input {
    text: Vec<Filter>,
    kind: Option<Kind>,
    capability: Option<Filter>,
    tag: Option<Filter>,
    author: Option<Filter>,
    model: Option<Filter>,
    namespace: Option<Filter>,
    order: Order,
    offset: u32,
    limit: u8,
}

impl Input {
    fn query(self) -> SearchQuery {
        let mut text = self
            .text
            .into_iter()
            .map(|w| w.value(WORDS))
            .collect::<Vec<_>>()
            .join(" ");
        let mut end = text.len().min(MAX_TEXT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        SearchQuery {
            text,
            kind: self.kind.map(|k| match k {
                Kind::Agent => PackageKind::Agent,
                Kind::Stack => PackageKind::Stack,
            }),
            capability: self.capability.map(|f| f.value(CAPABILITIES)),
            tag: self.tag.map(|f| f.value(TAGS)),
            author: self.author.map(|f| f.value(AUTHORS)),
            model: self.model.map(|f| f.value(MODELS)),
            namespace: self.namespace.map(|f| f.value(NAMESPACES)),
            sort: match self.order {
                Order::Relevance => Sort::Relevance,
                Order::Downloads => Sort::Downloads,
                Order::Updated => Sort::Updated,
                Order::Name => Sort::Name,
            },
            offset: self.offset as usize % (MAX_OFFSET + 1),
            limit: usize::from(self.limit) % (MAX_LIMIT + 1),
        }
    }
}

fuzz_target!(|input: Input| {
    let fixture = fixture();
    let query = input.query();
    let page = search(fixture, &query);

    assert!(page.packages.len() <= query.limit, "more than limit");
    assert!(
        page.total >= page.packages.len(),
        "total below what is returned"
    );
    assert_eq!(
        page.packages.len(),
        query.limit.min(page.total.saturating_sub(query.offset)),
        "the page is not the slice of the answer it should be"
    );
    // The page is the same slice of the whole answer, which fits in one
    // page of MAX_LIMIT (the catalogue has fewer packages).
    let whole = search(
        fixture,
        &SearchQuery {
            offset: 0,
            limit: MAX_LIMIT,
            ..query.clone()
        },
    );
    assert_eq!(whole.total, page.total, "total depends on the page");
    assert_eq!(whole.packages.len(), whole.total, "the whole answer is cut");
    let slice = whole.packages.iter().skip(query.offset).take(query.limit);
    assert!(
        page.packages.iter().eq(slice),
        "the page differs from the slice of the whole answer"
    );
    let mut repositories: Vec<&str> = whole
        .packages
        .iter()
        .map(|p| p.repository.as_str())
        .collect();
    let ordered = repositories.clone();
    match query.sort {
        Sort::Name => assert!(ordered.is_sorted(), "not by name"),
        Sort::Downloads => assert!(
            whole
                .packages
                .is_sorted_by(|a, b| a.downloads >= b.downloads),
            "not by downloads"
        ),
        Sort::Updated => assert!(
            whole.packages.is_sorted_by(|a, b| a.updated >= b.updated),
            "not by update"
        ),
        Sort::Relevance => {
            let text = query.text.trim().to_lowercase();
            assert!(
                whole.packages.is_sorted_by_key(|p| name_tier(p, &text)),
                "exact names, then name prefixes, do not come first"
            );
        }
    }
    repositories.sort_unstable();
    repositories.dedup();
    assert_eq!(
        repositories.len(),
        ordered.len(),
        "a package is listed twice"
    );

    // The answer holds exactly the visible packages that the filters and
    // every query word admit, judged here from what each package shows.
    // A query of punctuation only (text, but no word) matches nothing.
    let terms = query_terms(&query.text);
    let nothing = terms.is_empty() && !query.text.trim().is_empty();
    let mut expected: Vec<&str> = fixture
        .everything
        .iter()
        .filter(|p| !nothing && admitted(p, &query, &terms))
        .map(|p| p.repository.as_str())
        .collect();
    expected.sort_unstable();
    assert_eq!(repositories, expected, "the wrong packages match");
});

/// 0 when `text` is the package's name, repository or the repository's
/// last part, 1 when one of them starts with it, 2 otherwise.
fn name_tier(package: &PackageSummary, text: &str) -> u8 {
    let repository = package.repository.as_str();
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let name = package.name.to_lowercase();
    let names = [name.as_str(), repository, last];
    if text.is_empty() {
        2
    } else if names.contains(&text) {
        0
    } else if names.iter().any(|n| n.starts_with(text)) {
        1
    } else {
        2
    }
}

/// The most words of a query that count (`sentinel_catalogue::MAX_QUERY_TERMS`).
const MAX_TERMS: usize = sentinel_catalogue::MAX_QUERY_TERMS;
/// The longest word compared, in bytes; longer ones are cut (as the index does).
const MAX_TERM_BYTES: usize = 64;

/// The words search documents: runs of letters and digits, lowercased,
/// cut to [`MAX_TERM_BYTES`].
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut word = w.to_lowercase();
            let mut end = word.len().min(MAX_TERM_BYTES);
            while !word.is_char_boundary(end) {
                end -= 1;
            }
            word.truncate(end);
            word
        })
}

/// The first [`MAX_TERMS`] distinct words of a query.
fn query_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in words(text) {
        if terms.len() == MAX_TERMS {
            break;
        }
        if !terms.contains(&word) {
            terms.push(word);
        }
    }
    terms
}

/// Whether `package` answers `query`, by the documented rules: each filter
/// as [`SearchQuery`] says, and each term a prefix of a word of its
/// repository, name, capabilities, tags or description.
fn admitted(package: &PackageSummary, query: &SearchQuery, terms: &[String]) -> bool {
    let same = |wanted: &Option<String>, values: &[String]| {
        wanted.as_ref().is_none_or(|w| {
            let w = w.to_lowercase();
            values.iter().any(|v| v.to_lowercase() == w)
        })
    };
    let author = query.author.as_ref().is_none_or(|a| {
        package
            .author
            .as_ref()
            .is_some_and(|x| x.to_lowercase().contains(&a.to_lowercase()))
    });
    let model = query.model.as_ref().is_none_or(|m| {
        package.model.as_ref().is_some_and(|model| {
            let m = m.to_lowercase();
            let provider = model.provider.to_lowercase();
            let name = model.name.to_lowercase();
            m == provider || m == name || m == format!("{provider}/{name}")
        })
    });
    let namespace = query.namespace.as_ref().is_none_or(|n| {
        let n = n.to_lowercase();
        package
            .repository
            .as_str()
            .strip_prefix(n.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'))
    });
    let texts = [package.repository.as_str(), package.name.as_str()]
        .into_iter()
        .chain(package.capabilities.iter().map(String::as_str))
        .chain(package.tags.iter().map(String::as_str))
        .chain(package.description.as_deref());
    let document: Vec<String> = texts.flat_map(words).collect();
    query.kind.is_none_or(|k| k == package.kind)
        && namespace
        && same(&query.capability, &package.capabilities)
        && same(&query.tag, &package.tags)
        && author
        && model
        && terms
            .iter()
            .all(|t| document.iter().any(|w| w.starts_with(t.as_str())))
}
