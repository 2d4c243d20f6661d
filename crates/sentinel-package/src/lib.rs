//! The Sentinel package format: agent and stack definitions, `.sntl` files and their OCI mapping.
//!
//! - [`Definition::parse`] validates `agent.yaml` / `stack.yaml`, collecting every problem.
//! - [`pack`] / [`pack_to_file`] turn a directory into a reproducible `.sntl` file.
//! - [`read_package`] reads a package's `sentinel.manifest.json` ([`PackageManifest`]) and
//!   definition without extracting it.
//! - [`unpack`] extracts a package safely: every path, type, size and hash is checked while
//!   it streams, under [`UnpackLimits`], into a temporary directory renamed into place.
//! - [`oci`] maps a package to an OCI image manifest and back.
//!
//! The byte-level format is specified in `docs/package-format.md`.

mod container;
mod definition;
mod error;
mod fsmode;
mod ignore;
mod kind;
mod limits;
pub mod oci;
mod pack;
mod package_manifest;
mod paths;
mod read;
mod source;
mod tar_write;
mod unpack;
pub mod versions;

/// The `.sntl` format version this library writes and reads.
pub const FORMAT_VERSION: u32 = 1;

pub use definition::{
    AgentDefinition, Compatibility, Connection, Definition, DefinitionError, Dependency,
    HealthCheck, MAX_NAME_LEN, MemberReference, MemberReferenceError, ModelSpec, Port, Problem,
    Protocol, StackAgent, StackDefinition, is_valid_package_name, starter_agent_yaml,
};
pub use error::PackageError;
pub use kind::PackageKind;
pub use limits::{RATIO_GRACE_BYTES, UnpackLimits, UnpackOptions};
pub use pack::{PackSummary, default_file_name, pack, pack_to_file};
pub use package_manifest::{FileEntry, PackageManifest};
pub use read::{PackageContents, read_package, read_package_file, verify_package};
pub use sentinel_oci::{Digest, ImageReference, ImageReferenceError};
pub use source::{MAX_DEFINITION_BYTES, SourceDir, load_dir};
pub use unpack::{UnpackSummary, unpack};
