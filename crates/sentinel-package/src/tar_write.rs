//! A minimal tar writer producing exactly the headers the format specifies: POSIX ustar
//! headers, with the GNU long-name extension for paths that ustar cannot hold.

use std::io::{self, Read, Write};

/// The tar block size.
pub(crate) const BLOCK: usize = 512;

/// The largest file size an 11-digit octal size field holds: 8 GiB - 1.
pub(crate) const MAX_FILE_SIZE: u64 = (1 << 33) - 1;

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;

/// Which magic a header carries.
#[derive(Clone, Copy)]
enum Magic {
    /// `ustar\0` `00`.
    Ustar,
    /// `ustar ` ` \0`: GNU.
    Gnu,
}

/// Writes tar entries to `out`.
pub(crate) struct TarWriter<W> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        TarWriter { out }
    }

    /// Appends a regular file of `size` bytes, copying exactly `size` bytes from `data`; a
    /// shorter `data` is an `UnexpectedEof` error. Returns nothing but the bytes written.
    pub(crate) fn append_file(
        &mut self,
        path: &str,
        size: u64,
        mode: u32,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        for block in file_headers(path, size, mode) {
            self.out.write_all(&block)?;
        }
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than when it was listed",
            ));
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let remainder = (size % BLOCK as u64) as usize;
        if remainder != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - remainder])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

/// The header blocks of a regular file: one ustar header when the path fits (in `name`, or
/// split at a `/` into `prefix` and `name`), otherwise a GNU `L` header, its data blocks (the
/// path and a NUL), and a GNU header whose `name` holds the path's first 100 bytes.
pub(crate) fn file_headers(path: &str, size: u64, mode: u32) -> Vec<[u8; BLOCK]> {
    let bytes = path.as_bytes();
    if let Some((prefix, name)) = split_ustar_path(bytes) {
        return vec![header(name, prefix, size, mode, b'0', Magic::Ustar)];
    }
    let long_name_size = bytes.len() as u64 + 1;
    let mut blocks = vec![header(
        b"././@LongLink",
        b"",
        long_name_size,
        0,
        b'L',
        Magic::Gnu,
    )];
    let mut data = bytes.to_vec();
    data.push(0);
    for chunk in data.chunks(BLOCK) {
        let mut block = [0u8; BLOCK];
        block[..chunk.len()].copy_from_slice(chunk);
        blocks.push(block);
    }
    blocks.push(header(
        &bytes[..NAME_LEN],
        b"",
        size,
        mode,
        b'0',
        Magic::Gnu,
    ));
    blocks
}

/// `(prefix, name)` for a ustar header: the whole path in `name` when it has at most 100
/// bytes, else a split at the leftmost `/` that leaves at most 100 bytes after it, provided
/// at most 155 bytes come before it.
fn split_ustar_path(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= NAME_LEN {
        return Some((b"", path));
    }
    let slash = path
        .iter()
        .enumerate()
        .find(|&(index, &b)| b == b'/' && path.len() - index - 1 <= NAME_LEN)
        .map(|(index, _)| index)?;
    (slash <= PREFIX_LEN).then(|| (&path[..slash], &path[slash + 1..]))
}

/// One 512-byte header. Numeric fields are zero-padded octal followed by a NUL; uid, gid
/// and mtime are 0; linkname, uname, gname, devmajor and devminor are all NUL bytes; the
/// checksum is six octal digits, a NUL and a space.
fn header(
    name: &[u8],
    prefix: &[u8],
    size: u64,
    mode: u32,
    typeflag: u8,
    magic: Magic,
) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[..name.len()].copy_from_slice(name);
    put_octal(&mut block[100..108], u64::from(mode));
    put_octal(&mut block[108..116], 0);
    put_octal(&mut block[116..124], 0);
    put_octal(&mut block[124..136], size);
    put_octal(&mut block[136..148], 0);
    block[156] = typeflag;
    match magic {
        Magic::Ustar => block[257..265].copy_from_slice(b"ustar\x0000"),
        Magic::Gnu => block[257..265].copy_from_slice(b"ustar  \x00"),
    }
    block[345..345 + prefix.len()].copy_from_slice(prefix);
    block[148..156].copy_from_slice(b"        ");
    let checksum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    put_octal(&mut block[148..155], checksum);
    block[155] = b' ';
    block
}

/// Zero-padded octal filling all but the last byte of `field`, which is NUL.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(path: &str) -> (String, u64, u32) {
        let mut archive = Vec::new();
        let mut writer = TarWriter::new(&mut archive);
        writer
            .append_file(path, 3, 0o755, &mut &b"abc"[..])
            .unwrap();
        writer.finish().unwrap();
        let mut reader = tar::Archive::new(&archive[..]);
        let mut entries = reader.entries().unwrap();
        let entry = entries.next().unwrap().unwrap();
        let result = (
            String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            entry.header().size().unwrap(),
            entry.header().mode().unwrap(),
        );
        assert!(entries.next().is_none());
        result
    }

    #[test]
    fn short_long_and_very_long_paths_read_back_with_the_tar_crate() {
        let short = "src/main.py".to_owned();
        let split = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(150));
        for path in [short, split, long] {
            assert_eq!(read_back(&path), (path.clone(), 3, 0o755));
        }
    }

    #[test]
    fn chooses_ustar_prefix_when_it_fits() {
        let split = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        assert_eq!(file_headers(&split, 0, 0o644).len(), 1);
        let too_long_name = format!("d/{}", "f".repeat(101));
        assert_eq!(file_headers(&too_long_name, 0, 0o644).len(), 3);
        assert_eq!(split_ustar_path(b"a/b"), Some((&b""[..], &b"a/b"[..])));
    }

    #[test]
    fn header_fields_are_fixed() {
        let block = file_headers("a.txt", 5, 0o644).remove(0);
        assert_eq!(&block[100..108], b"0000644\0");
        assert_eq!(&block[124..136], b"00000000005\0");
        assert_eq!(&block[136..148], b"00000000000\0");
        assert_eq!(&block[257..265], b"ustar\x0000");
        assert_eq!(block[155], b' ');
        assert_eq!(block[154], 0);
        assert!(block[157..257].iter().all(|&b| b == 0), "linkname is empty");
        assert!(
            block[265..345].iter().all(|&b| b == 0),
            "uname, gname, devmajor, devminor"
        );
        let header = tar::Header::from_byte_slice(&block);
        assert_eq!(header.cksum().unwrap(), {
            let mut copy = block;
            copy[148..156].copy_from_slice(b"        ");
            copy.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
    }

    proptest::proptest! {
        #[test]
        fn any_path_reads_back_as_written(
            components in proptest::collection::vec("[a-zA-Z0-9._ -]{1,60}", 1..8),
            size in 0u64..2000,
        ) {
            let path = components.join("/");
            let data = vec![b'x'; size as usize];
            let mut archive = Vec::new();
            let mut writer = TarWriter::new(&mut archive);
            writer.append_file(&path, size, 0o644, &mut &data[..]).unwrap();
            writer.finish().unwrap();
            proptest::prop_assert_eq!(archive.len() % BLOCK, 0);
            let mut reader = tar::Archive::new(&archive[..]);
            let mut entries = reader.entries().unwrap();
            let mut entry = entries.next().unwrap().unwrap();
            proptest::prop_assert_eq!(entry.path_bytes().into_owned(), path.as_bytes().to_vec());
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            proptest::prop_assert_eq!(content, data);
        }
    }
}
