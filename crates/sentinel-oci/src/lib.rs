//! OCI wire types and their validation, shared by the Sentinel server and clients.
//!
//! Everything that crosses the wire of the OCI Distribution Specification is
//! parsed here, once, into a type that can only hold a valid value:
//! [`Digest`] (and the streaming [`Digester`] and [`DigestingWriter`] that
//! produce one),
//! [`RepositoryName`], [`Tag`] and [`Reference`], the [`ImageReference`] users
//! write with its registry-host grammar, the manifest media types in
//! [`media_types`] and the annotation keys in [`annotations`], [`ParsedManifest`] for the four manifest formats a registry
//! stores, the serde types [`Descriptor`], [`ImageManifest`] and [`ImageIndex`]
//! for the documents Sentinel writes itself, [`MAX_MANIFEST_SIZE`], and
//! [`ErrorCode`] for the error envelope.

pub mod annotations;
mod digest;
mod digest_writer;
mod document;
mod error_code;
mod image_reference;
mod manifest;
pub mod media_types;
mod names;

pub use digest::{Digest, DigestAlgorithm, DigestError, Digester};
pub use digest_writer::DigestingWriter;
pub use document::{Descriptor, ImageIndex, ImageManifest, IndexEntry};
pub use error_code::{ErrorBody, ErrorCode, ErrorEntry};
pub use image_reference::{
    DOCKER_HUB, ImageReference, ImageReferenceError, canonical_registry, looks_like_registry,
    parse_repository, parse_tag, registry_api_host, validate_registry_host,
};
pub use manifest::{MAX_MANIFEST_SIZE, ManifestError, ManifestKind, ParsedManifest};
pub use names::{MAX_NAME_LEN, NameError, Reference, ReferenceError, RepositoryName, Tag};
