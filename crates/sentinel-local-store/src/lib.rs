//! A local package store that is an OCI image layout on disk.
//!
//! The `agent` CLI keeps the packages it pulls and builds in a directory laid
//! out as the image-spec's `image-layout.md` describes: an `oci-layout` file,
//! an `index.json` image index whose entries carry the full reference in
//! `org.opencontainers.image.ref.name`, and content-addressed
//! `blobs/<alg>/<hex>`. Tools that read layouts (`skopeo copy
//! oci:<dir>:<ref> ...`, `oras --oci-layout`, umoci) read it too.
//!
//! [`LocalStore`] is the whole interface. Blobs are written through a
//! [`BlobWriter`] that hashes into a temporary file under `ingest/` and
//! renames it into place only once the digest is verified; `index.json` is
//! replaced atomically under an exclusive file lock, so concurrent `agent`
//! processes never lose each other's changes. See `docs/local-store.md`.

mod blob_writer;
mod blobs;
mod durable;
mod entry;
mod error;
mod gc;
mod index_file;
mod ingest;
mod init;
mod lock;
mod lookup;
mod manifests;
mod paths;
mod ref_name;
mod store;

pub use blob_writer::BlobWriter;
pub use entry::Entry;
pub use error::LocalStoreError;
pub use gc::GcReport;
pub use index_file::CONTAINERD_NAME_ANNOTATION;
pub use init::IMAGE_LAYOUT_VERSION;
pub use lookup::MIN_DIGEST_PREFIX;
pub use store::LocalStore;
