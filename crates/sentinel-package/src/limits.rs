//! Limits on what a package may expand to, and the readers that enforce them while the
//! stream is read, before anything beyond a limit reaches the disk.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The size limits an unpack enforces. Each is an inclusive maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// The sum of all file sizes.
    pub max_total_bytes: u64,
    /// The size of any one file.
    pub max_file_bytes: u64,
    /// The number of files (entries besides the manifest).
    pub max_entries: u64,
    /// Decompressed bytes per compressed byte, enforced once more than
    /// [`RATIO_GRACE_BYTES`] have been decompressed.
    pub max_ratio: u64,
}

/// Decompressed bytes allowed before the ratio limit applies, so that small, highly
/// compressible packages are not refused.
pub const RATIO_GRACE_BYTES: u64 = 1024 * 1024;

impl Default for UnpackLimits {
    /// 4 GiB in total, 2 GiB per file, 100 000 files, a ratio of 200.
    fn default() -> Self {
        UnpackLimits {
            max_total_bytes: 4 * 1024 * 1024 * 1024,
            max_file_bytes: 2 * 1024 * 1024 * 1024,
            max_entries: 100_000,
            max_ratio: 200,
        }
    }
}

/// How [`crate::unpack`] runs: its limits, and an optional flag that stops it.
#[derive(Clone, Debug, Default)]
pub struct UnpackOptions {
    /// The size limits.
    pub limits: UnpackLimits,
    /// When set to `true` (e.g. by a Ctrl-C handler), the unpack stops at its next read,
    /// removes everything it wrote and returns [`crate::PackageError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl UnpackOptions {
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// Which guard stopped the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Breach {
    Ratio,
    Cancelled,
}

/// Byte counts shared between the readers of one stream.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    compressed: Cell<u64>,
    decompressed: Cell<u64>,
    breach: Cell<Option<Breach>>,
}

impl StreamCounters {
    /// Bytes of the archive (after decompression) read so far.
    pub(crate) fn decompressed(&self) -> u64 {
        self.decompressed.get()
    }

    /// The guard that stopped the stream, if one did.
    pub(crate) fn breach(&self) -> Option<Breach> {
        self.breach.get()
    }
}

/// Counts the compressed bytes pulled from the input.
pub(crate) struct CountingReader<R> {
    inner: R,
    counters: Rc<StreamCounters>,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R, counters: Rc<StreamCounters>) -> Self {
        CountingReader { inner, counters }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let counters = &self.counters;
        counters
            .compressed
            .set(counters.compressed.get() + n as u64);
        Ok(n)
    }
}

/// Wraps the decompressed stream: counts it, stops it when it expands past the ratio limit,
/// and stops it when the cancellation flag is raised.
pub(crate) struct GuardReader<'o, R> {
    inner: R,
    counters: Rc<StreamCounters>,
    options: &'o UnpackOptions,
}

impl<'o, R> GuardReader<'o, R> {
    pub(crate) fn new(inner: R, counters: Rc<StreamCounters>, options: &'o UnpackOptions) -> Self {
        GuardReader {
            inner,
            counters,
            options,
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    fn stop(&self, breach: Breach) -> io::Error {
        self.counters.breach.set(Some(breach));
        io::Error::other(match breach {
            Breach::Ratio => "the decompression ratio limit was exceeded",
            Breach::Cancelled => "cancelled",
        })
    }
}

impl<R: Read> Read for GuardReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.options.is_cancelled() {
            return Err(self.stop(Breach::Cancelled));
        }
        let n = self.inner.read(buf)?;
        let counters = &self.counters;
        let decompressed = counters.decompressed.get() + n as u64;
        counters.decompressed.set(decompressed);
        let allowed = counters
            .compressed
            .get()
            .saturating_mul(self.options.limits.max_ratio);
        if decompressed > RATIO_GRACE_BYTES && decompressed > allowed {
            return Err(self.stop(Breach::Ratio));
        }
        Ok(n)
    }
}
