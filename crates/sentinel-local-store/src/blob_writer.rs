//! Writing a blob: hash while writing into `ingest/`, verify, then rename into `blobs/`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use sentinel_oci::{Digest, DigestAlgorithm, DigestingWriter};

use crate::durable::{self, BUFFER_SIZE, TempPath};
use crate::error::{IoContext, LocalStoreError};
use crate::paths::LayoutPaths;

/// A blob being written. Bytes go to a temporary file under `<root>/ingest/`
/// and are hashed (sha256) on the way; [`BlobWriter::commit`] checks them and
/// makes them visible under their digest. Dropping the writer without
/// committing removes the temporary file.
#[derive(Debug)]
pub struct BlobWriter {
    // Declared before `temp` so that the file is closed before it is removed.
    file: DigestingWriter<BufWriter<File>>,
    temp: TempPath,
    paths: LayoutPaths,
}

impl BlobWriter {
    /// Creates a fresh temporary file under the layout's `ingest/` directory.
    pub(crate) fn create(paths: &LayoutPaths) -> Result<Self, LocalStoreError> {
        let temp = TempPath::new(paths.fresh_ingest("blob"));
        let file = File::create_new(temp.path()).at("create", temp.path())?;
        Ok(BlobWriter {
            file: DigestingWriter::new(
                BufWriter::with_capacity(BUFFER_SIZE, file),
                DigestAlgorithm::Sha256,
            ),
            temp,
            paths: paths.clone(),
        })
    }

    /// The temporary file the bytes go to. Bytes written to it other than
    /// through this writer are not hashed; for a file written by other means,
    /// use `LocalStore::ingest_path` and `LocalStore::adopt_file`.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// How many bytes have been written so far.
    pub fn written(&self) -> u64 {
        self.file.written()
    }

    /// The sha256 digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.file.digest()
    }

    /// Checks that the bytes written hash to `expected` (and number
    /// `expected_size`, if given), makes them durable and moves them to
    /// `blobs/<alg>/<hex>`. Returns the blob's size.
    ///
    /// On a mismatch nothing becomes visible and the temporary file is removed.
    /// A sha512 `expected` is checked by re-reading the file.
    pub fn commit(
        self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<u64, LocalStoreError> {
        let BlobWriter { file, temp, paths } = self;
        let (file, sha256, written) = file.finish();
        let mut file = file
            .into_inner()
            .map_err(|e| LocalStoreError::io("write", temp.path(), e.into_error()))?;
        if let Some(size) = expected_size
            && size != written
        {
            return Err(LocalStoreError::SizeMismatch {
                path: temp.path().to_path_buf(),
                expected: size,
                actual: written,
            });
        }
        let actual = if expected.algorithm() == DigestAlgorithm::Sha256 {
            sha256
        } else {
            file.seek(SeekFrom::Start(0)).at("read", temp.path())?;
            durable::hash_stream(&mut file, expected.algorithm(), temp.path())?.0
        };
        if actual != *expected {
            return Err(LocalStoreError::DigestMismatch {
                path: temp.path().to_path_buf(),
                expected: expected.clone(),
                actual,
            });
        }
        file.sync_all().at("sync", temp.path())?;
        drop(file);
        install(&paths, temp, expected)?;
        Ok(written)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Moves a verified, synced temporary file to `blobs/<alg>/<hex>`.
///
/// If the blob is already there it is replaced by the new copy (same bytes),
/// which also renews its modification time, so a garbage collection in
/// another process treats it as freshly written.
pub(crate) fn install(
    paths: &LayoutPaths,
    temp: TempPath,
    digest: &Digest,
) -> Result<(), LocalStoreError> {
    let dir = paths.blob_dir(digest);
    fs::create_dir_all(&dir).at("create directory", &dir)?;
    durable::rename_durably(temp, &paths.blob(digest))
}
