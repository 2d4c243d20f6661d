//! The embedded catalogue under load: record every generated version
//! through the [`Catalogue`] trait, reopen the file, and search it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use semver::Version;
use sentinel_catalogue::{
    Catalogue, EmbeddedCatalogue, PackageVersion, SearchPage, SearchQuery, Visible,
};
use sentinel_oci::{Digest, RepositoryName};

use crate::BenchError;
use crate::generate::{DOWNLOAD_DAY, Generator};
use crate::measure::{Budget, Latencies, Memory, run_queries};
use crate::queries::Labelled;
use crate::report::Recorder;

const EVERYONE: Visible<'static> = &|_| true;

/// Fails with [`BenchError::TooSlow`] once `start + limit` has passed.
fn check_time(
    phase: &'static str,
    start: Instant,
    limit: Duration,
    done: usize,
    total: usize,
) -> Result<(), BenchError> {
    if start.elapsed() > limit {
        return Err(BenchError::TooSlow {
            phase,
            limit,
            done,
            total,
        });
    }
    Ok(())
}

/// Creates the catalogue file at `path` (which must not exist) and records
/// the data of `generator` as the registry would: every version, then the
/// deprecations, then the downloads, then a clean close. Gives up after
/// `limit`.
pub async fn load(
    generator: &Generator,
    path: &Path,
    limit: Duration,
    recorder: &mut Recorder,
) -> Result<(), BenchError> {
    let (catalogue, _) = EmbeddedCatalogue::open(path)?;
    let total = generator.shape().versions;
    let start = Instant::now();
    let mut recorded = 0;
    let mut last_tenth = None;
    let mut deprecated = Vec::new();
    let mut downloads = Vec::new();
    for repository in generator.repositories() {
        for (at, count) in &repository.downloads {
            let entry = &repository.versions[*at];
            downloads.push((
                entry.repository.clone(),
                entry.package.digest.clone(),
                *count,
            ));
        }
        let name = repository.versions[0].repository.clone();
        deprecated.extend(repository.deprecated.into_iter().map(|d| (name.clone(), d)));
        for entry in repository.versions {
            catalogue.record(entry).await?;
            recorded += 1;
            if recorded == total - total / 10 {
                last_tenth = Some(Instant::now());
            }
        }
        check_time("recording", start, limit, recorded, total)?;
    }
    let recording = start.elapsed();
    recorder.add("versions recorded", recorded as f64, "");
    recorder.add("record all versions", recording.as_secs_f64(), "s");
    recorder.add(
        "record rate, whole load",
        recorded as f64 / recording.as_secs_f64(),
        "versions/s",
    );
    if let Some(at) = last_tenth {
        recorder.add(
            "record rate, last 10% of the load",
            (total / 10) as f64 / at.elapsed().as_secs_f64(),
            "versions/s",
        );
    }
    let began = Instant::now();
    let deprecations = deprecated.len();
    for (i, (repository, (version, message))) in deprecated.into_iter().enumerate() {
        catalogue
            .set_deprecation(&repository, &version, Some(message))
            .await?;
        check_time("deprecating", start, limit, i, deprecations)?;
    }
    recorder.add("deprecations (durable writes)", deprecations as f64, "");
    recorder.add(
        "deprecate, mean per call (fsync)",
        began.elapsed().as_secs_f64() * 1e3 / deprecations.max(1) as f64,
        "ms",
    );
    let began = Instant::now();
    let mut counted = 0u64;
    for (i, (repository, blob, count)) in downloads.iter().enumerate() {
        for _ in 0..*count {
            catalogue.count_download(repository, blob, DOWNLOAD_DAY);
        }
        counted += count;
        check_time("counting downloads", start, limit, i, downloads.len())?;
    }
    catalogue.flush().await?;
    recorder.add("downloads counted and flushed", counted as f64, "");
    recorder.add(
        "count downloads + flush",
        began.elapsed().as_secs_f64(),
        "s",
    );
    catalogue.close().await?;
    recorder.add(
        "catalogue file size",
        std::fs::metadata(path)?.len() as f64 / (1024.0 * 1024.0),
        "MiB",
    );
    Ok(())
}

/// Reopens the catalogue file, then measures searches, `versions()` on the
/// largest package, and pushes of new versions into the full catalogue.
pub async fn search(
    generator: &Generator,
    path: &Path,
    set: Vec<Labelled>,
    budget: Budget,
    concurrency: usize,
    recorder: &mut Recorder,
) -> Result<Vec<SearchPage>, BenchError> {
    let before = Memory::now();
    let began = Instant::now();
    let (catalogue, opened) = EmbeddedCatalogue::open(path)?;
    recorder.add(
        "open (load into memory)",
        began.elapsed().as_secs_f64() * 1e3,
        "ms",
    );
    recorder.add_memory(before, Memory::now());
    recorder.add("entries loaded", opened.entries as f64, "");

    let mut pages = Vec::with_capacity(set.len());
    for query in &set {
        let page = catalogue.search(&query.query, EVERYONE).await?;
        recorder.add(&format!("hits {}", query.label), page.total as f64, "");
        pages.push(page);
    }
    let set = Arc::new(set);
    let engine = Arc::new(catalogue.clone());
    let search = Arc::new(move |query: SearchQuery| {
        let engine = Arc::clone(&engine);
        async move { Ok(engine.search(&query, EVERYONE).await?) }
    });
    for tasks in [1, concurrency] {
        let mut run = run_queries(&set, tasks, budget, Arc::clone(&search)).await?;
        recorder.add_run(&set, &mut run);
    }

    // versions() of a package with many versions (the first repositories
    // are the large ones).
    let large: RepositoryName = generator.name(0).parse().expect("a generated name");
    let mut latencies = Latencies::default();
    let start = Instant::now();
    for _ in 0..budget.max_queries.min(5_000) {
        if start.elapsed() > budget.duration {
            break;
        }
        let began = Instant::now();
        let listed = catalogue.versions(&large).await?;
        latencies.push(began.elapsed());
        assert!(listed.is_some(), "the large package is catalogued");
    }
    let count = generator.shape().versions_of(0);
    recorder.add(
        &format!("versions() of a {count}-version package, p50"),
        latencies.quantile_us(0.5),
        "µs",
    );
    recorder.add(
        &format!("versions() of a {count}-version package, p99"),
        latencies.quantile_us(0.99),
        "µs",
    );

    // Pushes into the full catalogue: a new highest version of existing
    // packages, which changes what each shows and so its indexed words.
    let pushes = push_entries(generator, 500);
    let mut latencies = Latencies::default();
    let start = Instant::now();
    for (_, entry) in pushes {
        if start.elapsed() > budget.duration * 4 {
            break;
        }
        let began = Instant::now();
        catalogue.record(entry).await?;
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
    recorder.add("RSS at the end", Memory::now().rss_mib(), "MiB");
    Ok(pages)
}

/// `count` new versions, one for each of the first small repositories:
/// their shown version with a higher major, a new digest and a new
/// description; the same for every engine. Each comes with the index of
/// its repository.
pub fn push_entries(generator: &Generator, count: usize) -> Vec<(usize, PackageVersion)> {
    let first = generator.shape().large_repositories;
    let last = generator.shape().repositories.min(first + count);
    (first..last)
        .map(|index| {
            let repository = generator.repository(index);
            let mut entry = repository.shown().clone();
            entry.version = Version::new(entry.version.major + 100, 0, 0);
            entry.digest = Digest::sha256(format!("push {} {index}", entry.repository).as_bytes());
            entry.pushed_at = repository.updated() + 60;
            entry.description = Some(format!(
                "{} release",
                entry.description.as_deref().unwrap_or_default()
            ));
            (index, entry)
        })
        .collect()
}
