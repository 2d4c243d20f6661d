//! Content-addressed blob storage and resumable uploads, over `object_store`.
//!
//! A blob lives once, at `blobs/<algorithm>/<first two hex digits>/<hex>`,
//! however many repositories hold it (which repository holds what is the
//! metadata index's business, not this crate's). An upload is written through
//! a [`BlobUpload`] handle, which owns its bytes from the first append to the
//! commit or cancel. Its bytes are, on local disk, one file `uploads/<id>`
//! written in place; on an object store, a sequence of *parts*, one object
//! per request body, under `uploads/<id>/<n>`. Each request's bytes are
//! accepted completely or not at all, and the hash state after each request
//! is part of the [`UploadProgress`] the caller records, so an upload
//! survives a restart of the server. Committing an upload checks its digest,
//! then keeps the copy of the blob already stored or publishes its bytes at
//! the blob's path in one atomic step (a rename or a completed multipart
//! upload), so a reader never sees a partial blob. Upload bytes that no
//! session owns any more (a crash, a failed push) are listed by
//! [`BlobStore::stored_uploads`] and removed with [`BlobStore::discard`].
//!
//! Backends are chosen by URL with [`StorageLocation`]: a local directory (the
//! default, with fsync on every write), `s3://`, `gs://`, `az://`, or
//! `memory://`.

mod error;
mod local;
mod location;
mod multipart;
mod parts;
mod store;
#[cfg(test)]
mod suite;
#[cfg(test)]
mod test_support;
mod upload;

pub use error::StorageError;
pub use location::{StorageLocation, StorageLocationError};
pub use store::{BlobStore, BlobStream, StoredBlobs};
pub use upload::{BlobUpload, Committed, StoredUpload, UploadProgress};
