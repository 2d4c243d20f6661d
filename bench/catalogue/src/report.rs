//! Figures from every run, kept as JSON lines in one file, and the table
//! made from them: one row per measure, one column per engine.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::measure::{Memory, Run};
use crate::queries::Labelled;

/// One measured figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// The engine measured, e.g. `embedded` or `tantivy (RAM)`.
    pub engine: String,
    /// What was measured; the same text for every engine.
    pub measure: String,
    /// The value.
    pub value: f64,
    /// Its unit (`µs`, `s`, `MiB`, `queries/s`, ...).
    pub unit: String,
}

/// Collects the figures of one engine, prints each as it comes and appends
/// them to the results file.
#[derive(Debug)]
pub struct Recorder {
    engine: String,
    file: Option<PathBuf>,
    figures: Vec<Figure>,
}

impl Recorder {
    /// A recorder for `engine` writing to `file`, if given.
    pub fn new(engine: &str, file: Option<&Path>) -> Self {
        Recorder {
            engine: engine.to_owned(),
            file: file.map(Path::to_path_buf),
            figures: Vec::new(),
        }
    }

    /// Records one figure.
    pub fn add(&mut self, measure: &str, value: f64, unit: &str) {
        let shown = format_value(value, unit);
        println!("{}: {measure} = {shown} {unit}", self.engine);
        self.figures.push(Figure {
            engine: self.engine.clone(),
            measure: measure.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// Records memory before and after a load.
    pub fn add_memory(&mut self, before: Memory, after: Memory) {
        self.add("RSS before load", before.rss_mib(), "MiB");
        self.add("RSS after load", after.rss_mib(), "MiB");
        self.add(
            "of which anonymous (heap)",
            after.anon as f64 / 1024.0,
            "MiB",
        );
        self.add(
            "of which file-backed (binary, mmap)",
            after.file as f64 / 1024.0,
            "MiB",
        );
        self.add("RSS peak (VmHWM)", after.peak as f64 / 1024.0, "MiB");
    }

    /// Records a search run: percentiles over all queries and throughput;
    /// with per-query rows for the run with one task.
    pub fn add_run(&mut self, set: &[Labelled], run: &mut Run) {
        let tasks = match run.tasks {
            1 => "1 task".to_owned(),
            n => format!("{n} tasks"),
        };
        self.add(
            &format!("search p50, {tasks}"),
            run.all.quantile_us(0.5),
            "µs",
        );
        self.add(
            &format!("search p99, {tasks}"),
            run.all.quantile_us(0.99),
            "µs",
        );
        self.add(&format!("search max, {tasks}"), run.all.max_us(), "µs");
        self.add(&format!("throughput, {tasks}"), run.throughput, "queries/s");
        self.add(&format!("queries timed, {tasks}"), run.all.len() as f64, "");
        // CPU per query does not depend on how busy the machine was.
        self.add(
            &format!("CPU per query, {tasks}"),
            run.cpu.as_secs_f64() * 1e6 / run.all.len().max(1) as f64,
            "µs",
        );
        self.add(
            &format!("CPU cores used, {tasks}"),
            run.cpu.as_secs_f64() / run.elapsed.as_secs_f64(),
            "cores",
        );
        if run.tasks == 1 {
            for (query, latencies) in set.iter().zip(run.per_query.iter_mut()) {
                self.add(
                    &format!("p50 {}", query.label),
                    latencies.quantile_us(0.5),
                    "µs",
                );
                self.add(
                    &format!("p99 {}", query.label),
                    latencies.quantile_us(0.99),
                    "µs",
                );
            }
        }
    }

    /// Appends the figures to the results file.
    pub fn save(&self) -> Result<(), BenchError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        for figure in &self.figures {
            serde_json::to_writer(&mut file, figure)?;
            file.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// A number as the table shows it: counts (no unit) whole, others with
/// three significant digits or so; thousands separated.
pub fn format_value(value: f64, unit: &str) -> String {
    if value.is_nan() {
        return "n/a".to_owned();
    }
    if value.abs() >= 100.0 || (unit.is_empty() && value.fract() == 0.0) {
        let whole = value.round() as i64;
        let digits = whole.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if whole < 0 {
            out.insert(0, '-');
        }
        out
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The markdown table of every figure in `path`: engines as columns in the
/// order they first appear, measures as rows likewise.
pub fn table(path: &Path) -> Result<String, BenchError> {
    let text = std::fs::read_to_string(path)?;
    let mut figures = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        figures.push(serde_json::from_str::<Figure>(line)?);
    }
    let mut engines: Vec<&str> = Vec::new();
    let mut measures: Vec<(&str, &str)> = Vec::new();
    for figure in &figures {
        if !engines.contains(&figure.engine.as_str()) {
            engines.push(&figure.engine);
        }
        if !measures.iter().any(|(m, _)| *m == figure.measure) {
            measures.push((&figure.measure, &figure.unit));
        }
    }
    let mut out = format!("| measure | unit | {} |\n", engines.join(" | "));
    out.push_str(&format!("|---|---|{}\n", "---:|".repeat(engines.len())));
    for (measure, unit) in measures {
        let cells: Vec<String> = engines
            .iter()
            .map(|engine| {
                figures
                    .iter()
                    .rev()
                    .find(|f| f.engine == *engine && f.measure == measure)
                    .map_or_else(|| "—".to_owned(), |f| format_value(f.value, unit))
            })
            .collect();
        out.push_str(&format!("| {measure} | {unit} | {} |\n", cells.join(" | ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(format_value(1_234_567.4, "µs"), "1,234,567");
        assert_eq!(format_value(123.4, "µs"), "123");
        assert_eq!(format_value(12.34, "µs"), "12.3");
        assert_eq!(format_value(1.234, "µs"), "1.23");
        assert_eq!(format_value(7.0, ""), "7");
        assert_eq!(format_value(f64::NAN, "µs"), "n/a");
    }

    #[test]
    fn the_table_has_a_column_per_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let mut a = Recorder::new("a", Some(&path));
        a.add("p50", 10.0, "µs");
        a.save().unwrap();
        let mut b = Recorder::new("b", Some(&path));
        b.add("p50", 20.0, "µs");
        b.add("only b", 1.0, "s");
        b.save().unwrap();
        let table = table(&path).unwrap();
        assert!(table.contains("| p50 | µs | 10.0 | 20.0 |"), "{table}");
        assert!(table.contains("| only b | s | — | 1.00 |"), "{table}");
    }
}
