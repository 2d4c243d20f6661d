//! The bytes around the archive: the 14-byte magic, the 4-byte format version, and the gzip
//! parameters that make the compressed stream reproducible.

use std::io::{self, Read, Write};

use flate2::{Compression, GzBuilder};

use crate::FORMAT_VERSION;
use crate::error::PackageError;
use crate::kind::PackageKind;

/// The length of the magic at the start of every `.sntl` file.
pub(crate) const MAGIC_LEN: usize = 14;

/// The deflate level every package is compressed with.
pub(crate) const COMPRESSION_LEVEL: u32 = 6;

/// Writes the magic of `kind` and the format version (big-endian).
pub(crate) fn write_preamble(out: &mut impl Write, kind: PackageKind) -> io::Result<()> {
    out.write_all(kind.magic())?;
    out.write_all(&FORMAT_VERSION.to_be_bytes())
}

/// Reads the magic and the format version, returning the kind.
pub(crate) fn read_preamble(input: &mut impl Read) -> Result<PackageKind, PackageError> {
    let mut magic = [0u8; MAGIC_LEN];
    read_exact_or(input, &mut magic, PackageError::NotAPackage)?;
    let kind = PackageKind::ALL
        .into_iter()
        .find(|kind| kind.magic() == magic)
        .ok_or(PackageError::NotAPackage)?;
    let mut version = [0u8; 4];
    read_exact_or(
        input,
        &mut version,
        PackageError::Corrupt {
            reason: "it ends inside its header".to_owned(),
        },
    )?;
    let version = u32::from_be_bytes(version);
    if version != FORMAT_VERSION {
        return Err(PackageError::UnsupportedFormatVersion { version });
    }
    Ok(kind)
}

fn read_exact_or(
    input: &mut impl Read,
    buf: &mut [u8],
    short: PackageError,
) -> Result<(), PackageError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(short),
        Err(error) => Err(PackageError::Corrupt {
            reason: format!("reading its header failed: {error}"),
        }),
    }
}

/// A gzip encoder with a fixed header (no name, no comment, no extra field, mtime 0, OS 255)
/// and a fixed compression level, so equal archives compress to equal bytes.
pub(crate) fn gzip_writer<W: Write>(out: W) -> flate2::write::GzEncoder<W> {
    GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, Compression::new(COMPRESSION_LEVEL))
}
