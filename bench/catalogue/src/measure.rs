//! Timing and memory: latency percentiles and throughput of a search
//! function under 1 or N concurrent tasks, and the process's resident memory.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel_catalogue::{SearchPage, SearchQuery};

use crate::BenchError;
use crate::queries::Labelled;

/// Resident memory of this process, from `/proc/self/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// `VmRSS`: all resident pages.
    pub rss: u64,
    /// `RssAnon`: resident heap and stacks.
    pub anon: u64,
    /// `RssFile`: resident pages of mapped files (program, mmapped data).
    pub file: u64,
    /// `VmHWM`: the highest `VmRSS` so far.
    pub peak: u64,
}

impl Memory {
    /// Reads the figures now; zeros where `/proc` is missing.
    pub fn now() -> Memory {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
            peak: field("VmHWM:"),
        }
    }

    /// `VmRSS` in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.rss as f64 / 1024.0
    }
}

/// CPU time (user and system) this process has used so far, from
/// `/proc/self/stat` in clock ticks of 10 ms; zero where `/proc` is missing.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Latencies of a set of calls, in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// Adds one call's latency.
    pub fn push(&mut self, elapsed: Duration) {
        self.0
            .push(elapsed.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many calls.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no call was timed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (0..=1) in microseconds, nearest rank.
    pub fn quantile_us(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1] as f64 / 1_000.0
    }

    /// The slowest call in microseconds.
    pub fn max_us(&self) -> f64 {
        self.0
            .iter()
            .max()
            .map_or(f64::NAN, |n| *n as f64 / 1_000.0)
    }
}

/// How long and how many times to run a measurement.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop starting queries after this long.
    pub duration: Duration,
    /// Stop after this many queries in all.
    pub max_queries: usize,
}

/// What a concurrent run measured.
#[derive(Debug)]
pub struct Run {
    /// Concurrent tasks.
    pub tasks: usize,
    /// Every query's latency.
    pub all: Latencies,
    /// Latencies per query of the set, in its order.
    pub per_query: Vec<Latencies>,
    /// Queries per second over the run.
    pub throughput: f64,
    /// CPU time the process used during the run.
    pub cpu: Duration,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Runs the queries of `set` round-robin from `tasks` tokio tasks until the
/// budget runs out, each task starting at a different query; `search` is
/// the engine.
pub async fn run_queries<S, F>(
    set: &Arc<Vec<Labelled>>,
    tasks: usize,
    budget: Budget,
    search: Arc<S>,
) -> Result<Run, BenchError>
where
    S: Fn(SearchQuery) -> F + Send + Sync + 'static,
    F: Future<Output = Result<SearchPage, BenchError>> + Send,
{
    let cpu_before = cpu_time();
    let start = Instant::now();
    let deadline = start + budget.duration;
    let per_task = budget.max_queries.div_ceil(tasks).max(1);
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let set = Arc::clone(set);
        let search = Arc::clone(&search);
        handles.push(tokio::spawn(async move {
            let mut per_query = vec![Latencies::default(); set.len()];
            for i in 0..per_task {
                if Instant::now() >= deadline {
                    break;
                }
                let at = (task + i) % set.len();
                let began = Instant::now();
                search(set[at].query.clone()).await?;
                per_query[at].push(began.elapsed());
                // Let the other tasks of this worker run between queries.
                tokio::task::yield_now().await;
            }
            Ok::<_, BenchError>(per_query)
        }));
    }
    let mut per_query = vec![Latencies::default(); set.len()];
    for handle in handles {
        let found = handle
            .await
            .map_err(|e| BenchError::Io(std::io::Error::other(e)))??;
        for (into, from) in per_query.iter_mut().zip(found) {
            into.extend(from);
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let mut all = Latencies::default();
    for latencies in &per_query {
        all.extend(latencies.clone());
    }
    let throughput = all.len() as f64 / elapsed.as_secs_f64();
    Ok(Run {
        tasks,
        all,
        per_query,
        throughput,
        cpu,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut latencies = Latencies::default();
        for us in 1..=100 {
            latencies.push(Duration::from_micros(us));
        }
        assert_eq!(latencies.quantile_us(0.5), 50.0);
        assert_eq!(latencies.quantile_us(0.99), 99.0);
        assert_eq!(latencies.max_us(), 100.0);
        assert!(Memory::now().rss > 0);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(0);
        }
        assert!(cpu_time() > Duration::ZERO);
    }
}
