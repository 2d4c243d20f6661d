//! The same searches on tantivy: one document per package (the version the
//! catalogue shows), with the same words, filters and sort keys.
//!
//! Equivalence with the embedded search: every query word must match (AND)
//! as a prefix of a word of the name, tags and capabilities, or description
//! (a single-term `PhrasePrefixQuery` with no expansion limit, which is a
//! term-range query); an exact word scores more than a prefix, and a name
//! more than a label more than the description, as in the embedded
//! weights; an exact package name is boosted to the top. Filters are exact
//! terms that do not score; `sort` uses fast fields. Not replicated: the
//! embedded "name starts with the query" tier and its tie-breaks
//! (downloads, then name) within equal scores — BM25 orders those instead.

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use sentinel_catalogue::{ModelRef, PackageSummary, SearchPage, SearchQuery, Sort};
use sentinel_oci::RepositoryName;
use sentinel_package::PackageKind;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhrasePrefixQuery, Query,
    RegexQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

use crate::BenchError;
use crate::embedded::push_entries;
use crate::generate::{Generator, Repository};
use crate::measure::{Budget, Latencies, Memory, run_queries};
use crate::queries::Labelled;
use crate::report::Recorder;

/// The most words of a query used, as in the embedded catalogue.
const MAX_QUERY_TERMS: usize = 16;

/// Memory for the index writer's buffer (one indexing thread).
const WRITER_BYTES: usize = 50_000_000;

/// The fields of a package document.
#[derive(Clone, Copy, Debug)]
struct Fields {
    repository: Field,
    names: Field,
    labels: Field,
    description: Field,
    exact: Field,
    kind: Field,
    capability: Field,
    tag: Field,
    author: Field,
    model: Field,
    downloads: Field,
    updated: Field,
    summary: Field,
}

/// What a result shows, stored with the document.
#[derive(Serialize, Deserialize)]
struct Summary {
    repository: String,
    name: String,
    kind: PackageKind,
    latest: Option<Version>,
    shown: Version,
    description: Option<String>,
    author: Option<String>,
    capabilities: Vec<String>,
    tags: Vec<String>,
    model: Option<(String, String)>,
    downloads: u64,
    updated: u64,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Words with frequencies, no positions: the queries need no phrases.
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        repository: builder.add_text_field("repository", STRING | FAST),
        names: builder.add_text_field("names", words.clone()),
        labels: builder.add_text_field("labels", words.clone()),
        description: builder.add_text_field("description", words),
        exact: builder.add_text_field("exact", STRING),
        kind: builder.add_text_field("kind", STRING),
        capability: builder.add_text_field("capability", STRING),
        tag: builder.add_text_field("tag", STRING),
        author: builder.add_text_field("author", STRING),
        model: builder.add_text_field("model", STRING),
        downloads: builder.add_u64_field("downloads", INDEXED | FAST),
        updated: builder.add_u64_field("updated", INDEXED | FAST),
        summary: builder.add_bytes_field("summary", STORED),
    };
    (builder.build(), fields)
}

/// The lowercased words of a query, as the embedded catalogue splits them:
/// runs of letters and digits, without repeats, at most 16.
pub fn query_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    words
}

fn kind_name(kind: PackageKind) -> &'static str {
    match kind {
        PackageKind::Agent => "agent",
        PackageKind::Stack => "stack",
    }
}

/// A regex matching any text that contains `needle`.
fn containing(needle: &str) -> String {
    let mut pattern = String::from(".*");
    for c in needle.chars() {
        if "\\.+*?()|[]{}^$#&-~\"@<>".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(".*");
    pattern
}

/// A package catalogue searched with tantivy.
pub struct TantivyCatalogue {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl TantivyCatalogue {
    /// A new empty index in memory, or in directory `dir` (memory-mapped).
    pub fn create(dir: Option<&Path>) -> Result<Self, BenchError> {
        let (schema, fields) = schema();
        let index = match dir {
            None => Index::create_in_ram(schema),
            Some(dir) => Index::create_in_dir(dir, schema)?,
        };
        Self::with(index, fields)
    }

    /// Opens the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self, BenchError> {
        let index = Index::open_in_dir(dir)?;
        let (_, fields) = schema();
        Self::with(index, fields)
    }

    fn with(index: Index, fields: Fields) -> Result<Self, BenchError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TantivyCatalogue {
            index,
            reader,
            fields,
        })
    }

    /// A writer with one indexing thread.
    pub fn writer(&self) -> Result<IndexWriter, BenchError> {
        Ok(self.index.writer_with_num_threads(1, WRITER_BYTES)?)
    }

    /// Indexes the package of every repository of `generator`, commits once
    /// and makes it searchable; gives up after `limit`. Returns how many
    /// packages were indexed.
    pub fn index_all(&self, generator: &Generator, limit: Duration) -> Result<usize, BenchError> {
        let start = Instant::now();
        let mut writer = self.writer()?;
        let total = generator.shape().repositories;
        let mut indexed = 0;
        for repository in generator.repositories() {
            writer.add_document(self.document(&repository)?)?;
            indexed += 1;
            if start.elapsed() > limit {
                return Err(BenchError::TooSlow {
                    phase: "tantivy indexing",
                    limit,
                    done: indexed,
                    total,
                });
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(indexed)
    }

    /// The document of a repository's package, as the catalogue shows it.
    pub fn document(&self, repository: &Repository) -> Result<TantivyDocument, BenchError> {
        let shown = repository.shown();
        let deprecated = |v: &Version| repository.deprecated.iter().any(|(d, _)| d == v);
        let latest = sentinel_package::versions::latest(
            repository.versions.iter().map(|e| &e.version),
            deprecated,
        )
        .cloned();
        self.document_of(
            shown,
            latest,
            repository.total_downloads(),
            repository.updated(),
        )
    }

    /// The document of a package showing `shown`.
    pub fn document_of(
        &self,
        shown: &sentinel_catalogue::PackageVersion,
        latest: Option<Version>,
        downloads: u64,
        updated: u64,
    ) -> Result<TantivyDocument, BenchError> {
        let f = &self.fields;
        let repository = shown.repository.as_str();
        let mut doc = TantivyDocument::default();
        doc.add_text(f.repository, repository);
        doc.add_text(f.names, repository);
        doc.add_text(f.names, &shown.name);
        for label in shown.capabilities.iter().chain(&shown.tags) {
            doc.add_text(f.labels, label);
        }
        if let Some(description) = &shown.description {
            doc.add_text(f.description, description);
        }
        let last = repository.rsplit('/').next().unwrap_or(repository);
        for exact in [
            shown.name.to_lowercase(),
            repository.to_owned(),
            last.to_owned(),
        ] {
            doc.add_text(f.exact, exact);
        }
        doc.add_text(f.kind, kind_name(shown.kind));
        for capability in &shown.capabilities {
            doc.add_text(f.capability, capability.to_lowercase());
        }
        for tag in &shown.tags {
            doc.add_text(f.tag, tag.to_lowercase());
        }
        if let Some(author) = &shown.author {
            doc.add_text(f.author, author.to_lowercase());
        }
        if let Some(model) = &shown.model {
            let provider = model.provider.to_lowercase();
            let name = model.name.to_lowercase();
            doc.add_text(f.model, format!("{provider}/{name}"));
            doc.add_text(f.model, provider);
            doc.add_text(f.model, name);
        }
        doc.add_u64(f.downloads, downloads);
        doc.add_u64(f.updated, updated);
        let summary = Summary {
            repository: repository.to_owned(),
            name: shown.name.clone(),
            kind: shown.kind,
            latest,
            shown: shown.version.clone(),
            description: shown.description.clone(),
            author: shown.author.clone(),
            capabilities: shown.capabilities.clone(),
            tags: shown.tags.clone(),
            model: shown
                .model
                .as_ref()
                .map(|m| (m.provider.clone(), m.name.clone())),
            downloads,
            updated,
        };
        doc.add_bytes(f.summary, &serde_json::to_vec(&summary)?);
        Ok(doc)
    }

    /// Replaces the package of `doc`'s repository and makes it searchable:
    /// what a push that changes the shown version costs.
    pub fn replace(
        &self,
        writer: &mut IndexWriter,
        repository: &RepositoryName,
        doc: TantivyDocument,
    ) -> Result<(), BenchError> {
        writer.delete_term(Term::from_field_text(
            self.fields.repository,
            repository.as_str(),
        ));
        writer.add_document(doc)?;
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn query(&self, query: &SearchQuery) -> Box<dyn Query> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let words = query_words(&query.text);
        for word in &words {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, weight) in [(f.names, 6.0), (f.labels, 3.0), (f.description, 1.0)] {
                let term = Term::from_field_text(field, word);
                let whole = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(whole), 2.0 * weight)),
                ));
                let mut prefix = PhrasePrefixQuery::new(vec![term]);
                prefix.set_max_expansions(u32::MAX);
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(prefix), weight)),
                ));
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if !words.is_empty() {
            let exact = Term::from_field_text(f.exact, &query.text.trim().to_lowercase());
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(exact, IndexRecordOption::Basic)),
                    100.0,
                )),
            ));
        }
        let mut filter = |field: Field, value: &str| {
            let term = TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(term), 0.0)),
            ));
        };
        if let Some(kind) = query.kind {
            filter(f.kind, kind_name(kind));
        }
        if let Some(capability) = &query.capability {
            filter(f.capability, &capability.to_lowercase());
        }
        if let Some(tag) = &query.tag {
            filter(f.tag, &tag.to_lowercase());
        }
        if let Some(model) = &query.model {
            filter(f.model, &model.to_lowercase());
        }
        if let Some(author) = &query.author {
            // The embedded catalogue matches authors by substring.
            if let Ok(regex) =
                RegexQuery::from_pattern(&containing(&author.to_lowercase()), f.author)
            {
                clauses.push((
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(regex), 0.0)),
                ));
            }
        }
        if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The page of packages matching `query`, with the total count.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchPage, BenchError> {
        let searcher = self.reader.searcher();
        let tantivy_query = self.query(query);
        let top = TopDocs::with_limit(query.limit.max(1)).and_offset(query.offset);
        let (addresses, total): (Vec<DocAddress>, usize) = match query.sort {
            Sort::Relevance => {
                let (hits, total) =
                    searcher.search(&*tantivy_query, &(top.order_by_score(), Count))?;
                (hits.into_iter().map(|(_, a)| a).collect(), total)
            }
            Sort::Downloads | Sort::Updated => {
                let field = if query.sort == Sort::Downloads {
                    "downloads"
                } else {
                    "updated"
                };
                let collector = top.order_by_u64_field(field, Order::Desc);
                let (hits, total) = searcher.search(&*tantivy_query, &(collector, Count))?;
                (hits.into_iter().map(|(_, a)| a).collect(), total)
            }
            Sort::Name => {
                let collector = top.order_by_string_fast_field("repository", Order::Asc);
                let (hits, total) = searcher.search(&*tantivy_query, &(collector, Count))?;
                (hits.into_iter().map(|(_, a)| a).collect(), total)
            }
        };
        let mut packages = Vec::with_capacity(addresses.len());
        if query.limit > 0 {
            for address in addresses {
                let doc: TantivyDocument = searcher.doc(address)?;
                let Some(bytes) = doc
                    .get_first(self.fields.summary)
                    .and_then(|v| v.as_bytes())
                else {
                    continue;
                };
                packages.push(summary(serde_json::from_slice(bytes)?)?);
            }
        }
        Ok(SearchPage { packages, total })
    }

    /// Bytes of the index files in `dir`.
    pub fn size_on_disk(dir: &Path) -> Result<u64, BenchError> {
        let mut total = 0;
        for entry in std::fs::read_dir(dir)? {
            total += entry?.metadata()?.len();
        }
        Ok(total)
    }
}

/// Measures searches on `catalogue` (counts, then 1 and `concurrency`
/// tasks), then pushes of new versions, each made searchable at once.
pub async fn measure(
    catalogue: TantivyCatalogue,
    generator: &Generator,
    set: Vec<Labelled>,
    budget: Budget,
    concurrency: usize,
    recorder: &mut Recorder,
) -> Result<(), BenchError> {
    for query in &set {
        let page = catalogue.search(&query.query)?;
        recorder.add(&format!("hits {}", query.label), page.total as f64, "");
    }
    let set = Arc::new(set);
    let engine = Arc::new(catalogue);
    let searcher = Arc::clone(&engine);
    let search = Arc::new(move |query: SearchQuery| {
        let engine = Arc::clone(&searcher);
        async move { engine.search(&query) }
    });
    for tasks in [1, concurrency] {
        let mut run = run_queries(&set, tasks, budget, Arc::clone(&search)).await?;
        recorder.add_run(&set, &mut run);
    }
    let pushes = push_entries(generator, 500);
    let mut docs = Vec::with_capacity(pushes.len());
    for (index, entry) in &pushes {
        let downloads = generator.repository(*index).total_downloads();
        let latest = Some(entry.version.clone());
        let doc = engine.document_of(entry, latest, downloads, entry.pushed_at)?;
        docs.push((entry.repository.clone(), doc));
    }
    let mut writer = engine.writer()?;
    let mut latencies = Latencies::default();
    let start = Instant::now();
    for (repository, doc) in docs {
        if start.elapsed() > budget.duration * 4 {
            break;
        }
        let began = Instant::now();
        engine.replace(&mut writer, &repository, doc)?;
        latencies.push(began.elapsed());
    }
    recorder.add(
        "push of a new version into the full catalogue, p50",
        latencies.quantile_us(0.5),
        "µs",
    );
    recorder.add(
        "push of a new version into the full catalogue, p99",
        latencies.quantile_us(0.99),
        "µs",
    );
    writer.wait_merging_threads()?;
    recorder.add("RSS at the end", Memory::now().rss_mib(), "MiB");
    Ok(())
}

fn summary(stored: Summary) -> Result<PackageSummary, BenchError> {
    let repository: RepositoryName = stored
        .repository
        .parse()
        .map_err(|e| BenchError::Mismatch(format!("stored repository name: {e}")))?;
    Ok(PackageSummary {
        repository,
        name: stored.name,
        kind: stored.kind,
        latest: stored.latest,
        shown: stored.shown,
        description: stored.description,
        author: stored.author,
        capabilities: stored.capabilities,
        tags: stored.tags,
        model: stored
            .model
            .map(|(provider, name)| ModelRef { provider, name }),
        downloads: stored.downloads,
        updated: stored.updated,
    })
}
