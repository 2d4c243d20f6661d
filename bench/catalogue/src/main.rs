//! `catalogue-bench`: generates catalogue data and measures the embedded
//! catalogue and tantivy on it; `run.sh` runs every step and prints the
//! table. Each step is its own process so that memory figures are its own.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use catalogue_bench::generate::{Generator, Shape, write_json_lines};
use catalogue_bench::measure::Budget;
use catalogue_bench::report::{Recorder, table};
use catalogue_bench::{embedded, queries, registry};
use clap::{Args, Parser, Subcommand};

/// The registry's allocator (see `crates/sentinel-registry/src/main.rs`,
/// configured by `.cargo/config.toml`), so that memory figures are the ones
/// the registry would have.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(about = "Embedded catalogue search against tantivy, on the same generated data")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ShapeArgs {
    /// Seed of the generated data.
    #[arg(long, default_value_t = Shape::default().seed)]
    seed: u64,
    /// Package versions in all.
    #[arg(long, default_value_t = Shape::default().versions)]
    versions: usize,
    /// Repositories in all.
    #[arg(long, default_value_t = Shape::default().repositories)]
    repositories: usize,
    /// Repositories with many versions.
    #[arg(long, default_value_t = Shape::default().large_repositories)]
    large_repositories: usize,
    /// Versions of each of those.
    #[arg(long, default_value_t = Shape::default().large_versions)]
    large_versions: usize,
}

impl ShapeArgs {
    fn generator(&self) -> anyhow::Result<Generator> {
        Ok(Generator::new(Shape {
            seed: self.seed,
            versions: self.versions,
            repositories: self.repositories,
            large_repositories: self.large_repositories,
            large_versions: self.large_versions,
        })?)
    }
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    shape: ShapeArgs,
    /// Append figures to this JSON-lines file.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Seconds of each search run (1 task, then N tasks).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Most queries of each search run.
    #[arg(long, default_value_t = 2_000_000)]
    max_queries: usize,
    /// Concurrent tasks of the second search run.
    #[arg(long, default_value_t = 32)]
    tasks: usize,
    /// Give up loading after this many seconds.
    #[arg(long, default_value_t = 300)]
    load_limit: u64,
}

impl RunArgs {
    fn budget(&self) -> Budget {
        Budget {
            duration: Duration::from_secs_f64(self.seconds),
            max_queries: self.max_queries,
        }
    }
}

#[cfg(feature = "tantivy")]
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// `Index::create_in_ram`, searched in the same process.
    Ram,
    /// A memory-mapped directory; search it with `tantivy-search`.
    Mmap,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the generated data as JSON lines (for other benchmarks).
    Generate {
        #[command(flatten)]
        shape: ShapeArgs,
        /// Where to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Records every version into a new embedded catalogue file.
    EmbeddedLoad {
        #[command(flatten)]
        run: RunArgs,
        /// The catalogue file to create.
        #[arg(long)]
        file: PathBuf,
    },
    /// Reopens the catalogue file and measures searches, versions() and pushes.
    EmbeddedSearch {
        #[command(flatten)]
        run: RunArgs,
        /// The catalogue file written by `embedded-load`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Indexes every package in tantivy; in RAM, also measures searches.
    #[cfg(feature = "tantivy")]
    TantivyIndex {
        #[command(flatten)]
        run: RunArgs,
        /// Where the index lives.
        #[arg(long, value_enum)]
        mode: Mode,
        /// The index directory (mmap), which must be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Opens an mmap tantivy index and measures searches and pushes.
    #[cfg(feature = "tantivy")]
    TantivySearch {
        #[command(flatten)]
        run: RunArgs,
        /// The index directory written by `tantivy-index --mode mmap`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Writes the generated data into DIR/catalogue.redb, as `embedded-load`
    /// does (versions, deprecations, downloads), and closes it cleanly, so
    /// that `sentinel-registry serve --data-dir DIR` starts on it at once.
    Seed {
        #[command(flatten)]
        shape: ShapeArgs,
        /// The registry's data directory (created; must hold no catalogue).
        #[arg(long)]
        data_dir: PathBuf,
        /// Append figures to this JSON-lines file.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        load_limit: u64,
    },
    /// Packs every generated version as a real agent package and publishes
    /// it to a running registry with `PUT /v1/packages/publish`.
    SeedRegistry {
        #[command(flatten)]
        shape: ShapeArgs,
        /// The registry's address, `127.0.0.1:PORT`.
        #[arg(long)]
        server: String,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        tasks: usize,
        /// Stop sending after this many seconds.
        #[arg(long, default_value_t = 600)]
        limit: u64,
        /// Append figures to this JSON-lines file.
        #[arg(long)]
        results: Option<PathBuf>,
    },
    /// Prints the HTTP request targets of the standard query set (one
    /// `label<TAB>target` a line), then the largest repository's name.
    Paths {
        #[command(flatten)]
        shape: ShapeArgs,
    },
    /// Prints the markdown table of a results file.
    Table {
        /// The JSON-lines file the other steps appended to.
        #[arg(long)]
        results: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { shape, out } => {
            let generator = shape.generator()?;
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let lines = write_json_lines(&generator, &mut BufWriter::new(file))?;
            println!("{lines} lines written to {}", out.display());
        }
        Command::EmbeddedLoad { run, file } => {
            if file.exists() {
                bail!("{} exists; give a new file", file.display());
            }
            let generator = run.shape.generator()?;
            let mut recorder = Recorder::new("embedded", run.results.as_deref());
            let limit = Duration::from_secs(run.load_limit);
            embedded::load(&generator, &file, limit, &mut recorder).await?;
            recorder.save()?;
        }
        Command::EmbeddedSearch { run, file } => {
            let generator = run.shape.generator()?;
            let mut recorder = Recorder::new("embedded", run.results.as_deref());
            let set = queries::standard(&generator);
            embedded::search(
                &generator,
                &file,
                set,
                run.budget(),
                run.tasks,
                &mut recorder,
            )
            .await?;
            recorder.save()?;
        }
        #[cfg(feature = "tantivy")]
        Command::TantivyIndex { run, mode, dir } => tantivy_steps::index(run, mode, dir).await?,
        #[cfg(feature = "tantivy")]
        Command::TantivySearch { run, dir } => tantivy_steps::search(run, dir).await?,
        Command::Seed {
            shape,
            data_dir,
            results,
            load_limit,
        } => {
            let file = data_dir.join("catalogue.redb");
            if file.exists() {
                bail!("{} exists; give a new data directory", file.display());
            }
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let generator = shape.generator()?;
            let mut recorder = Recorder::new("seed", results.as_deref());
            let limit = Duration::from_secs(load_limit);
            embedded::load(&generator, &file, limit, &mut recorder).await?;
            recorder.save()?;
        }
        Command::SeedRegistry {
            shape,
            server,
            tasks,
            limit,
            results,
        } => {
            let generator = std::sync::Arc::new(shape.generator()?);
            let mut recorder = Recorder::new("seed-registry", results.as_deref());
            let done =
                registry::publish_all(generator, server, tasks.max(1), Duration::from_secs(limit))
                    .await?;
            let seconds = done.elapsed.as_secs_f64();
            recorder.add("versions published", done.created as f64, "");
            recorder.add("versions refused", done.refused as f64, "");
            recorder.add("repeated versions skipped", done.repeated as f64, "");
            recorder.add("versions not sent (time limit)", done.unsent as f64, "");
            recorder.add("publish, wall time", seconds, "s");
            recorder.add("publish rate", done.created as f64 / seconds, "versions/s");
            recorder.add(
                "mean package size",
                done.bytes as f64 / (done.created + done.refused).max(1) as f64,
                "bytes",
            );
            recorder.save()?;
        }
        Command::Paths { shape } => {
            let generator = shape.generator()?;
            for query in queries::standard(&generator) {
                println!("{}\t{}", query.label, queries::http_target(&query.query));
            }
            println!("large\t{}", generator.name(0));
        }
        Command::Table { results } => print!("{}", table(&results)?),
    }
    Ok(())
}

/// The tantivy steps.
#[cfg(feature = "tantivy")]
mod tantivy_steps {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use anyhow::bail;
    use catalogue_bench::measure::Memory;
    use catalogue_bench::queries;
    use catalogue_bench::report::Recorder;
    use catalogue_bench::tantivy_search::{TantivyCatalogue, measure};

    use super::{Mode, RunArgs};

    /// Indexes every package; in RAM, also measures searches.
    pub async fn index(run: RunArgs, mode: Mode, dir: Option<PathBuf>) -> anyhow::Result<()> {
        let generator = run.shape.generator()?;
        let engine = match mode {
            Mode::Ram => "tantivy (RAM)",
            Mode::Mmap => "tantivy (mmap)",
        };
        let mut recorder = Recorder::new(engine, run.results.as_deref());
        let dir = match (mode, dir) {
            (Mode::Ram, _) => None,
            (Mode::Mmap, Some(dir)) => Some(dir),
            (Mode::Mmap, None) => bail!("--mode mmap needs --dir"),
        };
        let before = Memory::now();
        let began = Instant::now();
        let catalogue = TantivyCatalogue::create(dir.as_deref())?;
        let limit = Duration::from_secs(run.load_limit);
        let indexed = catalogue.index_all(&generator, limit)?;
        recorder.add("packages indexed", indexed as f64, "");
        recorder.add(
            "index every package, one commit",
            began.elapsed().as_secs_f64(),
            "s",
        );
        match dir {
            Some(dir) => recorder.add(
                "index size on disk",
                TantivyCatalogue::size_on_disk(&dir)? as f64 / (1024.0 * 1024.0),
                "MiB",
            ),
            None => {
                recorder.add_memory(before, Memory::now());
                let set = queries::standard(&generator);
                measure(
                    catalogue,
                    &generator,
                    set,
                    run.budget(),
                    run.tasks,
                    &mut recorder,
                )
                .await?;
            }
        }
        recorder.save()?;
        Ok(())
    }

    /// Opens the mmap index and measures searches and pushes.
    pub async fn search(run: RunArgs, dir: PathBuf) -> anyhow::Result<()> {
        let generator = run.shape.generator()?;
        let mut recorder = Recorder::new("tantivy (mmap)", run.results.as_deref());
        let before = Memory::now();
        let began = Instant::now();
        let catalogue = TantivyCatalogue::open(&dir)?;
        recorder.add(
            "open (load into memory)",
            began.elapsed().as_secs_f64() * 1e3,
            "ms",
        );
        let set = queries::standard(&generator);
        // Memory after the first searches: mmap pages come in as they are read.
        for query in &set {
            catalogue.search(&query.query)?;
        }
        recorder.add_memory(before, Memory::now());
        measure(
            catalogue,
            &generator,
            set,
            run.budget(),
            run.tasks,
            &mut recorder,
        )
        .await?;
        recorder.save()?;
        Ok(())
    }
}
