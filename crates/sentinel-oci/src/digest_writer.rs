//! A writer that hashes and counts what passes through it.

use std::io::{self, Write};

use crate::digest::{Digest, DigestAlgorithm, Digester};

/// Writes to an inner writer, hashing and counting every byte it accepts.
#[derive(Debug)]
pub struct DigestingWriter<W> {
    inner: W,
    digester: Digester,
    written: u64,
}

impl<W: Write> DigestingWriter<W> {
    /// Hashes with `algorithm` what is written to `inner`.
    pub fn new(inner: W, algorithm: DigestAlgorithm) -> Self {
        DigestingWriter {
            inner,
            digester: Digester::new(algorithm),
            written: 0,
        }
    }

    /// How many bytes have been written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.digester.clone().finish()
    }

    /// The inner writer, the digest of everything written, and its length.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.digester.finish(), self.written)
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_counts_what_it_writes() {
        let mut writer = DigestingWriter::new(Vec::new(), DigestAlgorithm::Sha256);
        writer.write_all(b"hello ").unwrap();
        assert_eq!(writer.written(), 6);
        assert_eq!(writer.digest(), Digest::sha256(b"hello "));
        writer.write_all(b"world").unwrap();
        let (bytes, digest, written) = writer.finish();
        assert_eq!(bytes, b"hello world");
        assert_eq!(digest, Digest::sha256(b"hello world"));
        assert_eq!(written, 11);
    }
}
