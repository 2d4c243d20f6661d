//! Signatures of OCI manifests: ed25519 keys, the statement Sentinel signs,
//! and the DSSE envelope that carries it.
//!
//! A [`SigningKey`] signs a [`Statement`] naming a manifest by digest
//! ([`Subject`]), and, for a Sentinel package, the package
//! ([`SignedPackage`]). [`Envelope::sign`] wraps the statement's JSON in a
//! [DSSE](https://github.com/secure-systems-lab/dsse) v1 envelope of type
//! [`PAYLOAD_TYPE`]; [`Envelope::verify`] checks it against trusted
//! [`PublicKey`]s and [`verify_subject`] that it is about the manifest in
//! hand. Keys are named by a [`KeyId`] and stored as PEM (SPKI, PKCS#8,
//! optionally encrypted).
//!
//! No HTTP and no registry here: how an envelope is stored next to a
//! manifest (a signature artifact with these media types and annotations, or
//! a detached `.sig.sntl` file) is in `docs/signatures.md`.

mod envelope;
mod key;
mod statement;

pub use envelope::{
    Envelope, EnvelopeError, EnvelopeSignature, Verified, VerifyError, pae, verify_subject,
};
pub use key::{KeyError, KeyId, PublicKey, SigningKey};
pub use statement::{SignedPackage, Statement, Subject};

/// DSSE payloadType of Sentinel's signed statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.sentinel.signature.v1+json";
/// Media type of the layer holding an envelope in a signature artifact (and
/// of a detached `.sig.sntl` file's content).
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// artifactType of a signature artifact.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/x-sentinel-signature";
/// Annotation on the signature manifest: the signers' key ids,
/// comma-separated when several.
pub const KEY_ID_ANNOTATION: &str = "dev.sentinel.signature.key-id";
/// Annotation on the signature manifest: when it was signed (RFC 3339).
pub const SIGNED_AT_ANNOTATION: &str = "dev.sentinel.signature.created";
/// Largest envelope accepted by the parser (bytes).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Most signatures accepted in one envelope: verification tries each
/// against every trusted key, so an envelope cannot make it arbitrarily slow.
pub const MAX_SIGNATURES: usize = 16;
