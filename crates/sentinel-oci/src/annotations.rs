//! The pre-defined annotation keys of the OCI image spec that Sentinel reads or writes.

/// A human-readable title: a layer's file name, or a package's name on its manifest.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The version of the packaged software.
pub const VERSION: &str = "org.opencontainers.image.version";
/// A human-readable description.
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// Who is responsible for the content.
pub const AUTHORS: &str = "org.opencontainers.image.authors";
/// When the content was created (RFC 3339).
pub const CREATED: &str = "org.opencontainers.image.created";
/// Where the source lives (a URL).
pub const SOURCE: &str = "org.opencontainers.image.source";
/// The license expression (SPDX).
pub const LICENSES: &str = "org.opencontainers.image.licenses";
/// The name of a manifest in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
