//! Files too large to hold in memory: written from the kernel's random
//! source in a stream, and compared by digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sentinel_oci::{Digest, DigestAlgorithm, Digester};

/// Writes `size` random (incompressible) bytes to `path`, streaming.
pub fn write_random(path: &Path, size: u64) {
    let mut source = std::fs::File::open("/dev/urandom")
        .expect("open /dev/urandom")
        .take(size);
    let mut file = std::fs::File::create(path).expect("create the random file");
    let copied = std::io::copy(&mut source, &mut file).expect("write random bytes");
    assert_eq!(copied, size, "short read from /dev/urandom");
}

/// Every regular file under `root`, by relative path, with its digest.
pub fn digest_tree(root: &Path) -> BTreeMap<String, Digest> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                files.insert(relative.to_string_lossy().into_owned(), digest_file(&path));
            }
        }
    }
    files
}

/// The sha256 of a file, read in chunks.
fn digest_file(path: &Path) -> Digest {
    let mut file = std::fs::File::open(path)
        .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
    let mut digester = Digester::new(DigestAlgorithm::Sha256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).expect("read a file to digest");
        if read == 0 {
            return digester.finish();
        }
        digester.update(&buffer[..read]);
    }
}
