//! The catalogue search benchmark of issue 12: the embedded catalogue
//! (`sentinel_catalogue::EmbeddedCatalogue`) against tantivy, on the same
//! generated packages and the same queries.
//!
//! - [`generate`] makes the data, deterministically from a seed.
//! - [`queries`] is the fixed mixed query set.
//! - [`measure`] times searches with one or many concurrent tasks, bounded
//!   in count and time, and reads the process's memory.
//! - [`embedded`] and [`tantivy_search`] load each engine and search it.
//! - [`report`] collects figures from every run and prints the table.

pub mod embedded;
pub mod generate;
pub mod measure;
pub mod queries;
pub mod registry;
pub mod report;
#[cfg(feature = "tantivy")]
pub mod tantivy_search;

use std::time::Duration;

/// What can go wrong in a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The data cannot have the shape asked.
    #[error("impossible data shape: {0}")]
    Shape(String),
    /// The embedded catalogue failed.
    #[error(transparent)]
    Catalogue(#[from] sentinel_catalogue::CatalogueError),
    /// tantivy failed.
    #[cfg(feature = "tantivy")]
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON could not be written or read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A phase ran past its time limit.
    #[error("{phase} did not finish within {limit:?} ({done} of {total} done)")]
    TooSlow {
        /// What was running.
        phase: &'static str,
        /// Its limit.
        limit: Duration,
        /// How far it got.
        done: usize,
        /// How far it had to go.
        total: usize,
    },
    /// Two engines disagree on how many packages a query matches.
    #[error("{0}")]
    Mismatch(String),
}
