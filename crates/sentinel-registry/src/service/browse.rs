//! What the web UI reads beyond the OCI listings: how many tags a
//! repository has (counted up to a bound) and whether it holds a
//! catalogued package (both cheap, for a page listing many), and the host
//! of the registry's public URL (where its forms may come from).

use sentinel_catalogue::Holding;
use sentinel_oci::RepositoryName;

use super::{PageRequest, Registry, RegistryError};

impl Registry {
    /// How many tags `repository` has, counting no further than `bound`:
    /// the count, and whether there are more.
    pub async fn tag_count(
        &self,
        repository: &RepositoryName,
        bound: usize,
    ) -> Result<(usize, bool), RegistryError> {
        let page = self
            .tags(
                repository,
                &PageRequest {
                    last: None,
                    limit: bound,
                },
            )
            .await?;
        Ok((page.items.len(), page.more))
    }

    /// The package `repository` holds (its name and kind), if it holds a
    /// catalogued one.
    pub async fn package_held(
        &self,
        repository: &RepositoryName,
    ) -> Result<Option<Holding>, RegistryError> {
        let any = semver::Version::new(0, 0, 0);
        Ok(self.catalogue.holding(repository, &any).await?)
    }

    /// The `host[:port]` of the configured public URL, if there is one:
    /// what clients should name this registry by.
    pub fn public_host(&self) -> Option<&str> {
        self.policy.own_host.as_deref()
    }
}

/// The largest `.sntl` whose files the UI reads: reading a file streams and
/// decompresses the package up to it.
pub const MAX_BROWSED_PACKAGE_BYTES: u64 = 64 * 1024 * 1024;

/// Packages being read for their files at once, in the whole process:
/// reading one may decompress tens of MiB, so many visitors at once wait
/// their turn rather than take every core from pushes and pulls. A turn
/// lasts as long as the read on the blocking pool, even when the visitor
/// who asked has gone.
static PACKAGE_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// What [`Registry::package_file`] read from a package's `.sntl`.
#[derive(Debug)]
pub struct PackageFile {
    /// The package's inventory.
    pub manifest: sentinel_package::PackageManifest,
    /// The file's first bytes (as many as asked for), when a file was asked
    /// for and the inventory lists it.
    pub content: Option<Vec<u8>>,
}

impl Registry {
    /// Reads the `.sntl` file `package` (a catalogued version's layer):
    /// its inventory and, when `path` is given and listed, that file's first
    /// `max` bytes, verified against the inventory as they stream. Only the
    /// start of the package is read for the inventory alone; a file is read
    /// only from packages of at most [`MAX_BROWSED_PACKAGE_BYTES`] (else
    /// `content` is `None`). At most four packages are read at once.
    pub async fn package_file(
        &self,
        package: &sentinel_catalogue::BlobRef,
        path: Option<&str>,
        max: usize,
    ) -> Result<PackageFile, RegistryError> {
        let path = path
            .filter(|_| package.size <= MAX_BROWSED_PACKAGE_BYTES)
            .map(str::to_owned);
        let turn = PACKAGE_READS
            .acquire()
            .await
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        let read = self
            .read_blob_blocking(&package.digest, RegistryError::BlobUnknown, move |reader| {
                let _turn = turn;
                match path {
                    Some(path) => sentinel_package::read_package_file(reader, &path, max),
                    None => sentinel_package::read_package(reader).map(|contents| (contents, None)),
                }
            })
            .await?;
        let (contents, content) = read.map_err(|e| {
            RegistryError::PackageInvalid(format!(
                "the package {} is not a valid package: {e}",
                package.digest
            ))
        })?;
        Ok(PackageFile {
            manifest: contents.manifest,
            content,
        })
    }
}
