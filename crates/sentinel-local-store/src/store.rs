//! [`LocalStore`]: the public face of the layout.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sentinel_oci::{Descriptor, Digest, ImageIndex, IndexEntry, MAX_MANIFEST_SIZE};

use crate::blob_writer::{self, BlobWriter};
use crate::durable::{self, BUFFER_SIZE, TempPath, is_not_found};
use crate::entry::Entry;
use crate::error::{IoContext, LocalStoreError};
use crate::gc::{self, GcReport};
use crate::index_file::{self, CONTAINERD_NAME_ANNOTATION};
use crate::ingest::{self, Lease};
use crate::lock::StoreLock;
use crate::manifests;
use crate::paths::LayoutPaths;
use crate::{blobs, init, lookup, ref_name};

/// A local store that is an OCI image layout: `oci-layout`, `index.json` and
/// `blobs/<alg>/<hex>` under its root, readable by skopeo, oras and umoci.
///
/// Blobs become visible only under the digest they hash to; `index.json` is
/// replaced atomically under an exclusive lock on `<root>/.lock`, so several
/// processes can use one store. Each open store holds a lease in `ingest/`
/// that keeps a collection run elsewhere from deleting the blobs it writes
/// before it names them.
#[derive(Debug)]
pub struct LocalStore {
    paths: LayoutPaths,
    lease: Lease,
}

impl LocalStore {
    /// Opens the store at `root`, creating the directory and an empty layout
    /// if there is none. Refuses a layout of another `imageLayoutVersion`, and
    /// a directory that holds other files but no `oci-layout`. Removes files
    /// under `ingest/` abandoned more than a day ago.
    pub fn open(root: &Path) -> Result<Self, LocalStoreError> {
        fs::create_dir_all(root).at("create directory", root)?;
        let paths = LayoutPaths::new(root);
        init::prepare(&paths)?;
        ingest::sweep(&paths, SystemTime::now())?;
        let lease = Lease::acquire(&paths)?;
        Ok(LocalStore { paths, lease })
    }

    /// The default store directory: `$AGENT_STORE`, else
    /// `$XDG_DATA_HOME/agent/store` (if that is an absolute path), else
    /// `$HOME/.local/share/agent/store`. `None` if none of these is set.
    pub fn default_root() -> Option<PathBuf> {
        default_root_from(|name| std::env::var_os(name))
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        self.paths.root()
    }

    /// Where the blob `digest` is (or would be) stored: `<root>/blobs/<alg>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.paths.blob(digest)
    }

    /// The size of the blob `digest`, or `None` if the store does not hold it.
    ///
    /// A blob found is also marked as recently used (its modification time
    /// is renewed), so that a caller that skips fetching it because it is
    /// present can still name it after a collection in another process.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, LocalStoreError> {
        let size = blobs::size(&self.paths, digest)?;
        if size.is_some() {
            // Best effort: a store the user may read but not write still
            // answers; the mark only matters to a concurrent collection.
            let _ = File::options()
                .write(true)
                .open(self.paths.blob(digest))
                .and_then(|file| file.set_modified(SystemTime::now()));
        }
        Ok(size)
    }

    /// Starts writing a blob; see [`BlobWriter`].
    pub fn begin_blob(&self) -> Result<BlobWriter, LocalStoreError> {
        BlobWriter::create(&self.paths)
    }

    /// A fresh path under `<root>/ingest/` (nothing is created there) for a
    /// caller that writes a file itself, e.g. a streaming download; hand the
    /// file to [`LocalStore::adopt_file`] (or, if the caller hashed it while
    /// writing, [`LocalStore::adopt_verified_file`]) when it is complete. If it is never
    /// adopted, the next `open` a day later removes it.
    pub fn ingest_path(&self) -> PathBuf {
        self.paths.fresh_ingest("download")
    }

    /// Makes the file `temp` (a path from [`LocalStore::ingest_path`]) the
    /// blob `expected`: re-hashes it while streaming, fsyncs it and renames it
    /// into `blobs/`. Returns its size. If it does not hash to `expected`, or
    /// anything else fails, the file is deleted and nothing becomes visible.
    pub fn adopt_file(&self, temp: &Path, expected: &Digest) -> Result<u64, LocalStoreError> {
        self.check_in_ingest(temp)?;
        let guard = TempPath::new(temp.to_path_buf());
        let mut file = File::options()
            .read(true)
            .write(true)
            .open(temp)
            .at("open", temp)?;
        let (actual, size) = durable::hash_stream(&mut file, expected.algorithm(), temp)?;
        if actual != *expected {
            return Err(LocalStoreError::DigestMismatch {
                path: temp.to_path_buf(),
                expected: expected.clone(),
                actual,
            });
        }
        file.sync_all().at("sync", temp)?;
        drop(file);
        blob_writer::install(&self.paths, guard, expected)?;
        Ok(size)
    }

    /// Makes the file `temp` (a path from [`LocalStore::ingest_path`]) the
    /// blob `digest` without reading it again: for a caller that hashed
    /// exactly these bytes while writing them (a verifying download), where
    /// a second pass would double the cost of the transfer. The size must
    /// match `size`; the file is fsynced and renamed into `blobs/`. On any
    /// failure the file is deleted and nothing becomes visible.
    pub fn adopt_verified_file(
        &self,
        temp: &Path,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LocalStoreError> {
        self.check_in_ingest(temp)?;
        let guard = TempPath::new(temp.to_path_buf());
        let file = File::open(temp).at("open", temp)?;
        let actual = file.metadata().at("stat", temp)?.len();
        if actual != size {
            return Err(LocalStoreError::SizeMismatch {
                path: temp.to_path_buf(),
                expected: size,
                actual,
            });
        }
        // Blobs are world-readable like every other blob of the layout
        // (downloaders often create their files 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
                .at("set the mode of", temp)?;
        }
        file.sync_all().at("sync", temp)?;
        drop(file);
        blob_writer::install(&self.paths, guard, digest)?;
        Ok(())
    }

    /// Copies the file `src` into the store as a blob, hashing it on the way
    /// (sha256). Returns its digest and size. `src` is left untouched.
    pub fn import_file(&self, src: &Path) -> Result<(Digest, u64), LocalStoreError> {
        let mut source = File::open(src).at("open", src)?;
        let mut writer = self.begin_blob()?;
        let mut buffer = vec![0u8; BUFFER_SIZE];
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LocalStoreError::io("read", src, e)),
            };
            writer
                .write_all(&buffer[..n])
                .at("write", writer.temp_path())?;
        }
        let digest = writer.digest();
        let size = writer.written();
        writer.commit(&digest, Some(size))?;
        Ok((digest, size))
    }

    /// Stores `bytes` as a blob and returns its sha256 digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, LocalStoreError> {
        let mut writer = self.begin_blob()?;
        writer.write_all(bytes).at("write", writer.temp_path())?;
        let digest = writer.digest();
        writer.commit(&digest, Some(bytes.len() as u64))?;
        Ok(digest)
    }

    /// Reads the whole blob `digest` into memory, refusing one larger than
    /// `max_size` bytes. For large blobs use [`LocalStore::open_blob`].
    pub fn read_blob(&self, digest: &Digest, max_size: u64) -> Result<Vec<u8>, LocalStoreError> {
        blobs::read_limited(&self.paths, digest, max_size)
    }

    /// Opens the blob `digest` for streaming reads.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, LocalStoreError> {
        blobs::open(&self.paths, digest)
    }

    /// Stores the manifest `bytes`, of type `media_type`, exactly as given and
    /// returns its sha256 digest. Refuses a manifest that does not parse, is
    /// larger than [`MAX_MANIFEST_SIZE`], or references a blob or child
    /// manifest the store does not hold. It is not named: see
    /// [`LocalStore::set_name`] and [`LocalStore::add_unnamed`].
    pub fn put_manifest(&self, bytes: &[u8], media_type: &str) -> Result<Digest, LocalStoreError> {
        let digest = Digest::sha256(bytes);
        let size = bytes.len() as u64;
        if size > MAX_MANIFEST_SIZE {
            return Err(LocalStoreError::ManifestTooLarge {
                digest,
                size,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let parsed = manifests::parse(&digest, Some(media_type), bytes)?;
        manifests::check_references(&self.paths, &digest, &parsed)?;
        self.write_blob(bytes)
    }

    /// Names the stored manifest `digest` `name`, a full reference such as
    /// `localhost:5000/me/hello:0.1.0` that follows the image-spec grammar
    /// for `org.opencontainers.image.ref.name`. If the name exists it is moved
    /// (the manifest it named stays until [`LocalStore::garbage_collect`]);
    /// an untagged entry for the same manifest is dropped, the name keeping it.
    ///
    /// The entry's `mediaType`, `size` and `artifactType` are read from the
    /// manifest, whose referenced blobs must all be stored. Its annotations
    /// are `extra_annotations` plus `org.opencontainers.image.ref.name` and
    /// `io.containerd.image.name`, both set to `name` (they override keys of
    /// the same name in `extra_annotations`).
    pub fn set_name(
        &self,
        name: &str,
        digest: &Digest,
        extra_annotations: BTreeMap<String, String>,
    ) -> Result<(), LocalStoreError> {
        ref_name::validate(name)?;
        let mut annotations = extra_annotations;
        annotations.insert(
            sentinel_oci::annotations::REF_NAME.to_owned(),
            name.to_owned(),
        );
        annotations.insert(CONTAINERD_NAME_ANNOTATION.to_owned(), name.to_owned());
        self.update_index(|index| {
            let descriptor = self.descriptor(digest, annotations)?;
            index
                .manifests
                .retain(|e| e.descriptor.ref_name().is_some() || e.descriptor.digest != *digest);
            match index
                .manifests
                .iter()
                .position(|e| e.descriptor.ref_name() == Some(name))
            {
                Some(position) => index.manifests[position] = descriptor,
                None => index.manifests.push(descriptor),
            }
            Ok(())
        })
    }

    /// Keeps the stored manifest `digest` without a name (a pull by digest).
    /// Does nothing if an entry, named or not, already keeps it.
    pub fn add_unnamed(&self, digest: &Digest) -> Result<(), LocalStoreError> {
        self.update_index(|index| {
            let descriptor = self.descriptor(digest, BTreeMap::new())?;
            if !index
                .manifests
                .iter()
                .any(|e| e.descriptor.digest == *digest)
            {
                index.manifests.push(descriptor);
            }
            Ok(())
        })
    }

    /// Every entry of `index.json`, in its order.
    pub fn entries(&self) -> Result<Vec<Entry>, LocalStoreError> {
        let index = index_file::read(&self.paths)?;
        Ok(index
            .manifests
            .iter()
            .map(|e| Entry::from(&e.descriptor))
            .collect())
    }

    /// The entry named exactly `name_or_digest`; else the first entry with
    /// that digest; else the entry whose digest starts with that hex prefix
    /// (at least [`MIN_DIGEST_PREFIX`](crate::MIN_DIGEST_PREFIX) lowercase hex
    /// digits, `sha256:` optional), which is an error if several digests do.
    pub fn find(&self, name_or_digest: &str) -> Result<Option<Entry>, LocalStoreError> {
        lookup::find(self.entries()?, name_or_digest)
    }

    /// Removes the name `name`. Returns whether the name existed. The blobs
    /// only it reached stay until [`LocalStore::garbage_collect`], so a
    /// caller removing several names collects once and can report it.
    pub fn remove_name(&self, name: &str) -> Result<bool, LocalStoreError> {
        let removed = self.remove_where(|d| d.ref_name() == Some(name))?;
        Ok(removed > 0)
    }

    /// Removes every entry (named or not) for the manifest `digest`. Returns
    /// how many entries were removed. As with
    /// [`LocalStore::remove_name`], blobs stay until
    /// [`LocalStore::garbage_collect`].
    pub fn remove_digest(&self, digest: &Digest) -> Result<usize, LocalStoreError> {
        self.remove_where(|d| d.digest == *digest)
    }

    /// Deletes every blob that no entry reaches (entry → manifest → config
    /// and layers; index → child manifests, recursively), except blobs
    /// written since another open store took its lease.
    pub fn garbage_collect(&self) -> Result<GcReport, LocalStoreError> {
        let _lock = StoreLock::acquire(&self.paths)?;
        let index = index_file::read(&self.paths)?;
        self.collect_locked(&index)
    }

    /// Removes the entries matching `doomed`, under the lock.
    fn remove_where(&self, doomed: impl Fn(&Descriptor) -> bool) -> Result<usize, LocalStoreError> {
        let _lock = StoreLock::acquire(&self.paths)?;
        let mut index = index_file::read(&self.paths)?;
        let before = index.manifests.len();
        index.manifests.retain(|e| !doomed(&e.descriptor));
        let removed = before - index.manifests.len();
        if removed > 0 {
            index_file::write(&index, &self.paths)?;
        }
        Ok(removed)
    }

    /// Garbage collection; the caller holds the store lock.
    fn collect_locked(&self, index: &ImageIndex) -> Result<GcReport, LocalStoreError> {
        let keep = gc::reachable(&self.paths, index)?;
        let in_use_since = ingest::oldest_foreign_lease(&self.paths, self.lease.path())?;
        gc::sweep(&self.paths, &keep, in_use_since)
    }

    /// Reads, changes and (if changed) rewrites `index.json` under the store lock.
    fn update_index(
        &self,
        change: impl FnOnce(&mut ImageIndex) -> Result<(), LocalStoreError>,
    ) -> Result<(), LocalStoreError> {
        let _lock = StoreLock::acquire(&self.paths)?;
        let mut index = index_file::read(&self.paths)?;
        let before = index.clone();
        change(&mut index)?;
        if index != before {
            index_file::write(&index, &self.paths)?;
        }
        Ok(())
    }

    /// The `index.json` descriptor of the stored manifest `digest`, checked
    /// to reference only stored blobs. Called under the store lock, so no
    /// collection can delete those blobs before the entry is written.
    fn descriptor(
        &self,
        digest: &Digest,
        annotations: BTreeMap<String, String>,
    ) -> Result<IndexEntry, LocalStoreError> {
        let facts = manifests::describe(&self.paths, digest)?;
        Ok(IndexEntry::from(Descriptor {
            artifact_type: facts.artifact_type,
            annotations,
            ..Descriptor::new(facts.media_type, digest.clone(), facts.size)
        }))
    }

    /// Fails unless `temp` is directly inside `<root>/ingest/`, where a rename
    /// into `blobs/` stays on one file system.
    fn check_in_ingest(&self, temp: &Path) -> Result<(), LocalStoreError> {
        let ingest = self.paths.ingest();
        let not_in_ingest = || LocalStoreError::NotInIngest {
            path: temp.to_path_buf(),
            ingest: ingest.clone(),
        };
        let parent = temp.parent().ok_or_else(not_in_ingest)?;
        let same = match (fs::canonicalize(parent), fs::canonicalize(&ingest)) {
            (Ok(parent), Ok(ingest)) => parent == ingest,
            (Err(e), _) if is_not_found(&e) => false,
            (Err(e), _) => return Err(LocalStoreError::io("inspect", parent, e)),
            (_, Err(e)) => return Err(LocalStoreError::io("inspect", &ingest, e)),
        };
        if same { Ok(()) } else { Err(not_in_ingest()) }
    }
}

/// [`LocalStore::default_root`] with the environment given by `lookup`.
fn default_root_from(lookup: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| lookup(name).filter(|value| !value.is_empty());
    if let Some(store) = set("AGENT_STORE") {
        return Some(PathBuf::from(store));
    }
    if let Some(data_home) = set("XDG_DATA_HOME").map(PathBuf::from)
        && data_home.is_absolute()
    {
        return Some(data_home.join("agent").join("store"));
    }
    set("HOME").map(|home| {
        PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("agent")
            .join("store")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn default_root_prefers_agent_store_then_xdg_then_home() {
        let all = [
            ("AGENT_STORE", "/s"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(default_root_from(env(&all)), Some(PathBuf::from("/s")));
        assert_eq!(
            default_root_from(env(&all[1..])),
            Some(PathBuf::from("/x/agent/store"))
        );
        assert_eq!(
            default_root_from(env(&all[2..])),
            Some(PathBuf::from("/h/.local/share/agent/store"))
        );
        assert_eq!(default_root_from(env(&[])), None);
    }

    #[test]
    fn empty_or_relative_values_are_skipped() {
        let vars = [
            ("AGENT_STORE", ""),
            ("XDG_DATA_HOME", "rel"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            default_root_from(env(&vars)),
            Some(PathBuf::from("/h/.local/share/agent/store"))
        );
    }
}
