//! Choosing a storage backend from a path or URL.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use url::Url;

/// Where blobs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// A directory on the local file system.
    Local(PathBuf),
    /// An object store URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (also `azure://`, `abfs://`), or `memory://`.
    Url(Url),
}

/// Why a storage location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageLocationError {
    /// The URL's scheme names no supported backend.
    #[error(
        "unsupported storage URL scheme {0:?}: use a directory, file://, s3://, gs://, az:// or memory://"
    )]
    UnsupportedScheme(String),
    /// The local directory could not be created or opened.
    #[error("cannot use storage directory {path}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The backend rejected its configuration (bucket, credentials, options).
    #[error("cannot configure storage {url}")]
    Backend {
        /// The URL as given.
        url: String,
        /// What the backend said.
        source: object_store::Error,
    },
}

impl FromStr for StorageLocation {
    type Err = StorageLocationError;

    /// Parses a URL with a scheme, or else takes the string as a directory path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Url::parse(s) {
            Ok(url) if url.scheme() == "file" => url
                .to_file_path()
                .map(StorageLocation::Local)
                .map_err(|()| StorageLocationError::UnsupportedScheme(s.to_owned())),
            // A one-letter "scheme" is a Windows drive letter, not a URL.
            Ok(url) if url.scheme().len() > 1 => Ok(StorageLocation::Url(url)),
            _ => Ok(StorageLocation::Local(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageLocation::Local(path) => write!(f, "{}", path.display()),
            StorageLocation::Url(url) => write!(f, "{url}"),
        }
    }
}

fn with_prefix(store: Arc<dyn ObjectStore>, url: &Url) -> Arc<dyn ObjectStore> {
    let prefix = url.path().trim_matches('/');
    if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    }
}

fn local(path: &Path) -> Result<Arc<dyn ObjectStore>, StorageLocationError> {
    let directory_error = |source| StorageLocationError::Directory {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(directory_error)?;
    let store = LocalFileSystem::new_with_prefix(path)
        .map_err(|e| directory_error(std::io::Error::other(e)))?
        .with_fsync(true)
        .with_automatic_cleanup(true);
    Ok(Arc::new(store))
}

impl StorageLocation {
    /// Opens the backend; cloud credentials come from the usual environment
    /// variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub fn open(&self) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>), StorageLocationError> {
        let url = match self {
            StorageLocation::Local(path) => return Ok((local(path)?, Some(path.clone()))),
            StorageLocation::Url(url) => url,
        };
        let backend_error = |source| StorageLocationError::Backend {
            url: url.to_string(),
            source,
        };
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => Arc::new(
                AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(backend_error)?,
            ),
            "gs" => Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(backend_error)?,
            ),
            "az" | "azure" | "abfs" | "abfss" => Arc::new(
                MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(backend_error)?,
            ),
            "memory" => Arc::new(InMemory::new()),
            other => return Err(StorageLocationError::UnsupportedScheme(other.to_owned())),
        };
        Ok((with_prefix(store, url), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_urls() {
        assert_eq!(
            "data/blobs".parse::<StorageLocation>().unwrap(),
            StorageLocation::Local("data/blobs".into())
        );
        assert_eq!(
            "/var/lib/x".parse::<StorageLocation>().unwrap(),
            StorageLocation::Local("/var/lib/x".into())
        );
        assert_eq!(
            "file:///srv/blobs".parse::<StorageLocation>().unwrap(),
            StorageLocation::Local("/srv/blobs".into())
        );
        assert!(matches!(
            "s3://bucket/prefix".parse::<StorageLocation>().unwrap(),
            StorageLocation::Url(u) if u.scheme() == "s3"
        ));
    }

    #[test]
    fn rejects_unknown_schemes() {
        let location: StorageLocation = "ftp://host/x".parse().unwrap();
        assert!(matches!(
            location.open(),
            Err(StorageLocationError::UnsupportedScheme(s)) if s == "ftp"
        ));
    }

    #[test]
    fn local_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b");
        let (_, local_root) = StorageLocation::Local(path.clone()).open().unwrap();
        assert_eq!(local_root, Some(path.clone()));
        assert!(path.is_dir());
    }
}
