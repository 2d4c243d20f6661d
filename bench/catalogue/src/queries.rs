//! The fixed mixed query set both engines answer: every query asks for the
//! first 20 results and the total count.

use sentinel_catalogue::{SearchQuery, Sort};
use sentinel_package::PackageKind;

use crate::generate::Generator;

/// A query with a short label for the report.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// What kind of query it is, e.g. `one common word`.
    pub label: String,
    /// The query.
    pub query: SearchQuery,
}

/// Results per page, as the registry's search API defaults to.
pub const PAGE: usize = 20;

fn text(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        limit: PAGE,
        ..SearchQuery::default()
    }
}

/// The query set for the data of `generator`: words are taken from its
/// vocabulary and names from its repositories, so every query has answers.
pub fn standard(generator: &Generator) -> Vec<Labelled> {
    let vocabulary = generator.vocabulary();
    // Description words are drawn with frequency about 1/rank: "agent" is
    // the most common, a made-up word near the end of the list is rare.
    let rare = &vocabulary.words[vocabulary.words.len() - 7];
    let named = generator.name(generator.shape().repositories / 3);
    let short = named.rsplit('/').next().unwrap_or(named);
    let capability = &vocabulary.capabilities[3];
    let label = |label: &str, query: SearchQuery| Labelled {
        label: label.to_owned(),
        query,
    };
    vec![
        label("one common word (`data`)", text("data")),
        label("two words (`pdf summarise`)", text("pdf summarise")),
        label("word prefix (`summ`)", text("summ")),
        label("short prefix (`s`)", text("s")),
        label(&format!("rare word (`{rare}`)"), text(rare)),
        label(&format!("exact package name (`{short}`)"), text(short)),
        label(
            &format!("no text, capability `{capability}`"),
            SearchQuery {
                capability: Some(capability.clone()),
                ..text("")
            },
        ),
        label(
            "no text, kind=stack",
            SearchQuery {
                kind: Some(PackageKind::Stack),
                ..text("")
            },
        ),
        label(
            "`web`, sort=downloads",
            SearchQuery {
                sort: Sort::Downloads,
                ..text("web")
            },
        ),
        label(
            "no text, sort=downloads (browse)",
            SearchQuery {
                sort: Sort::Downloads,
                ..text("")
            },
        ),
    ]
}

/// Percent-encodes `text` for a query string (unreserved characters kept).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The registry's `GET /v1/packages/search` request target for `query`.
pub fn http_target(query: &SearchQuery) -> String {
    let mut target = format!(
        "/v1/packages/search?q={}&limit={}",
        encode(&query.text),
        query.limit
    );
    if let Some(capability) = &query.capability {
        target.push_str(&format!("&capability={}", encode(capability)));
    }
    if let Some(kind) = query.kind {
        let kind = match kind {
            PackageKind::Agent => "agent",
            PackageKind::Stack => "stack",
        };
        target.push_str(&format!("&kind={kind}"));
    }
    let sort = match query.sort {
        Sort::Relevance => None,
        Sort::Downloads => Some("downloads"),
        Sort::Updated => Some("updated"),
        Sort::Name => Some("name"),
    };
    if let Some(sort) = sort {
        target.push_str(&format!("&sort={sort}"));
    }
    target
}
