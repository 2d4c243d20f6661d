//! Verify: find every signature of a manifest (through the referrers API,
//! or the referrers tag schema where a registry lacks it), or read a
//! detached signature file, and check each against the trusted keys.
//!
//! Something is verified when at least one signature is valid: made by a
//! trusted key, over a statement naming exactly the digest at hand. When
//! none is, the failure names the most serious reason found, in this order:
//! a signature that does not verify (a changed statement, a damaged or
//! malformed envelope), a valid signature for another digest (moved from
//! another manifest), signatures by untrusted keys only, and no signature.

use std::path::{Path, PathBuf};

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use sentinel_client::{ClientError, ErrorKind, RegistryClient, ResolvedReference};
use sentinel_oci::{Descriptor, Digest, ImageManifest};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, KEY_ID_ANNOTATION, MAX_ENVELOPE_BYTES, PublicKey,
    SIGNATURE_ARTIFACT_TYPE, VerifyError, verify_subject,
};
use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::pull::Resolved;
use crate::registries::{self, Registries, wanted};
use crate::trust::Trust;

/// How many signature artifacts are read before looking for a valid one;
/// more are read, this many at a time, only while none is valid.
const SIGNATURE_BATCH: usize = 256;
/// The most signature artifacts read for one manifest.
pub const MAX_SIGNATURE_ARTIFACTS: usize = 4096;
/// How many signature artifacts are fetched at once.
const CONCURRENT_FETCHES: usize = 16;

/// What a signature amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Made by a trusted key over a statement naming this digest.
    Valid,
    /// Made only by keys that are not trusted.
    Untrusted,
    /// Made by a trusted key, but the signature does not verify, or the
    /// envelope is malformed.
    Invalid,
    /// Valid, but for another digest.
    OtherSubject,
}

impl Verdict {
    /// The verdict as the table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Untrusted => "untrusted",
            Verdict::Invalid => "invalid",
            Verdict::OtherSubject => "other-subject",
        }
    }
}

/// One signature and what it amounts to.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    /// The signature artifact's manifest digest (none for a detached file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Digest>,
    /// For a valid signature, the trusted keys that signed; otherwise the
    /// key ids the envelope names.
    pub key_ids: Vec<String>,
    /// When it was signed, as the statement says (for a signature that is
    /// not valid, as it claims, unverified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// What it amounts to.
    pub verdict: Verdict,
    /// Why it does not count, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A successful verification: at least one valid signature.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// What was verified: a reference, or a file.
    pub subject: String,
    /// Its digest.
    pub digest: Digest,
    /// Every signature found, valid or not.
    pub signatures: Vec<SignatureCheck>,
}

impl VerifyReport {
    /// The valid signatures.
    pub fn valid(&self) -> impl Iterator<Item = &SignatureCheck> {
        self.signatures
            .iter()
            .filter(|check| check.verdict == Verdict::Valid)
    }
}

/// Why something is not verified; each reason has its own exit code in the
/// CLI.
#[derive(Debug, thiserror::Error)]
pub enum SignatureFailure {
    /// No signature at all.
    #[error("{what} is not signed")]
    Unsigned {
        /// What was verified.
        what: String,
    },
    /// Signatures, but only by keys that are not trusted.
    #[error("{what} is signed only by keys that are not trusted ({}); {trusted}", keyids.join(", "))]
    Untrusted {
        /// What was verified.
        what: String,
        /// The key ids of the signatures found.
        keyids: Vec<String>,
        /// Which keys were trusted.
        trusted: String,
    },
    /// A signature that does not verify.
    #[error("{what} has a signature that does not verify: {detail}")]
    BadSignature {
        /// What was verified.
        what: String,
        /// Which signature, and why.
        detail: String,
    },
    /// A valid signature, but for another digest.
    #[error("{what} has a signature for another digest: it was signed for {signed}")]
    OtherSubject {
        /// What was verified.
        what: String,
        /// The digest the signature is for.
        signed: Digest,
    },
}

/// An envelope found for a digest, or why it could not be read.
pub(crate) struct Candidate {
    /// The signature artifact it came from.
    pub artifact: Option<Digest>,
    /// The envelope, or why it is unreadable.
    pub envelope: std::result::Result<Envelope, String>,
}

/// Verifies the signatures of what `text` names now (resolved to a digest
/// first), against the keys `trust` gives for it.
pub async fn verify(
    registries: &dyn Registries,
    text: &str,
    trust: &Trust,
) -> Result<VerifyReport> {
    let reference = registries::reference(registries, text)?;
    let client = registries::client(registries, &reference)?;
    let head = client
        .head_manifest(reference.repository(), &wanted(&reference))
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("{reference} not found")))?;
    verify_digest(&client, &reference, &head.digest, trust).await
}

impl Resolved {
    /// Verifies the signatures of the resolved manifest, before anything of
    /// it is stored or extracted.
    pub async fn verify_signatures(&self, trust: &Trust) -> Result<VerifyReport> {
        verify_digest(
            self.client(),
            self.reference(),
            &self.manifest().digest,
            trust,
        )
        .await
    }
}

/// Verifies the signatures of `digest` in `reference`'s repository.
pub(crate) async fn verify_digest(
    client: &RegistryClient,
    reference: &ResolvedReference,
    digest: &Digest,
    trust: &Trust,
) -> Result<VerifyReport> {
    let (keys, trusted) = trust.keys_for(reference)?;
    let candidates = fetch_candidates(client, reference.repository(), digest, &keys).await?;
    let what = reference.with_digest(digest.clone()).to_string();
    decide(what, digest, &candidates, &keys, trusted)
}

/// The signature envelopes of `digest`, fetched concurrently: those whose
/// artifact says it is by one of `keys` first, then the rest, a batch at a
/// time until one is valid. So signatures pushed ahead of a valid one
/// (by anyone who may push) cannot hide it, up to
/// [`MAX_SIGNATURE_ARTIFACTS`].
async fn fetch_candidates(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<Vec<Candidate>> {
    let mut referrers: Vec<Descriptor> = client
        .referrers(repository, digest, Some(SIGNATURE_ARTIFACT_TYPE))
        .await?
        .into_iter()
        .filter(|referrer| referrer.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE))
        .take(MAX_SIGNATURE_ARTIFACTS)
        .collect();
    referrers.sort_by_key(|referrer| !claims_key(referrer, keys));
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut rest = referrers.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Candidate> = stream::iter(rest.by_ref().take(SIGNATURE_BATCH))
            .map(|referrer| fetch_envelope(client, repository, referrer))
            .buffer_unordered(CONCURRENT_FETCHES)
            .try_collect()
            .await?;
        candidates.extend(batch);
        if candidates.iter().any(|c| is_valid(c, keys, digest)) {
            break;
        }
    }
    candidates.sort_by(|a, b| a.artifact.cmp(&b.artifact));
    Ok(candidates)
}

/// Whether signature artifact `referrer` says (in its key-id annotation,
/// which nothing vouches for) that one of `keys` made it.
fn claims_key(referrer: &Descriptor, keys: &[PublicKey]) -> bool {
    referrer
        .annotations
        .get(KEY_ID_ANNOTATION)
        .is_some_and(|ids| {
            ids.split(',')
                .any(|id| keys.iter().any(|key| key.id().as_str() == id.trim()))
        })
}

/// Whether `candidate` is a valid signature of `digest` by one of `keys`.
fn is_valid(candidate: &Candidate, keys: &[PublicKey], digest: &Digest) -> bool {
    candidate
        .envelope
        .as_ref()
        .ok()
        .and_then(|envelope| envelope.verify(keys).ok())
        .is_some_and(|verified| verify_subject(&verified, digest).is_ok())
}

/// The envelope of one signature artifact. A failure of the connection
/// or of authentication stops the verification; content that is not a
/// readable signature is a candidate that does not verify.
async fn fetch_envelope(
    client: &RegistryClient,
    repository: &str,
    referrer: Descriptor,
) -> Result<Candidate> {
    let artifact = Some(referrer.digest.clone());
    let envelope = match read_envelope(client, repository, &referrer.digest).await {
        Ok(bytes) => Envelope::parse(&bytes).map_err(|error| error.to_string()),
        Err(Fetch::Stop(error)) => return Err(error.into()),
        Err(Fetch::Unreadable(why)) => Err(why),
    };
    Ok(Candidate { artifact, envelope })
}

/// Why a signature artifact's envelope was not read.
enum Fetch {
    /// The registry cannot be used: stop.
    Stop(ClientError),
    /// This artifact is not a readable signature.
    Unreadable(String),
}

impl From<ClientError> for Fetch {
    fn from(error: ClientError) -> Fetch {
        match error.kind() {
            ErrorKind::Auth | ErrorKind::Connect | ErrorKind::RateLimited => Fetch::Stop(error),
            _ => Fetch::Unreadable(error.to_string()),
        }
    }
}

async fn read_envelope(
    client: &RegistryClient,
    repository: &str,
    artifact: &Digest,
) -> std::result::Result<bytes::Bytes, Fetch> {
    let manifest = client.get_manifest(repository, artifact.as_str()).await?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|error| {
        Fetch::Unreadable(format!(
            "the signature manifest is not an image manifest: {error}"
        ))
    })?;
    let layer = manifest
        .layers
        .iter()
        .find(|layer| layer.media_type == ENVELOPE_MEDIA_TYPE)
        .ok_or_else(|| {
            Fetch::Unreadable(format!(
                "the signature manifest has no {ENVELOPE_MEDIA_TYPE} layer"
            ))
        })?;
    if layer.size > MAX_ENVELOPE_BYTES as u64 {
        return Err(Fetch::Unreadable(format!(
            "the envelope is {} bytes, more than the {MAX_ENVELOPE_BYTES} accepted",
            layer.size
        )));
    }
    Ok(client
        .pull_blob_bytes(repository, &layer.digest, MAX_ENVELOPE_BYTES as u64)
        .await?)
}

/// Checks one envelope against `digest` and the trusted `keys`.
fn check(candidate: &Candidate, digest: &Digest, keys: &[PublicKey]) -> SignatureCheck {
    let envelope = match &candidate.envelope {
        Ok(envelope) => envelope,
        Err(why) => {
            return SignatureCheck {
                artifact: candidate.artifact.clone(),
                key_ids: Vec::new(),
                created: None,
                verdict: Verdict::Invalid,
                detail: Some(why.clone()),
            };
        }
    };
    let claimed_keys: Vec<String> = envelope
        .signatures
        .iter()
        .map(|signature| signature.keyid.clone())
        .collect();
    let claimed_created = envelope.statement().ok().map(|statement| statement.created);
    let (verdict, key_ids, created, detail) = match envelope.verify(keys) {
        Ok(verified) => {
            let signers = verified.signers.iter().map(ToString::to_string).collect();
            let created = Some(verified.statement.created.clone());
            match verify_subject(&verified, digest) {
                Ok(()) => (Verdict::Valid, signers, created, None),
                Err(error) => (
                    Verdict::OtherSubject,
                    signers,
                    created,
                    Some(error.to_string()),
                ),
            }
        }
        Err(VerifyError::Untrusted { keyids }) => (
            Verdict::Untrusted,
            keyids,
            claimed_created,
            Some("signed by a key that is not trusted".to_string()),
        ),
        Err(error) => (
            Verdict::Invalid,
            claimed_keys,
            claimed_created,
            Some(error.to_string()),
        ),
    };
    SignatureCheck {
        artifact: candidate.artifact.clone(),
        key_ids,
        created,
        verdict,
        detail,
    }
}

/// The report when at least one signature is valid, else the most serious
/// reason why none is.
pub(crate) fn decide(
    what: String,
    digest: &Digest,
    candidates: &[Candidate],
    keys: &[PublicKey],
    trusted: String,
) -> Result<VerifyReport> {
    let checks: Vec<SignatureCheck> = candidates
        .iter()
        .map(|candidate| check(candidate, digest, keys))
        .collect();
    let first = |verdict: Verdict| checks.iter().find(|check| check.verdict == verdict);
    if first(Verdict::Valid).is_some() {
        return Ok(VerifyReport {
            subject: what,
            digest: digest.clone(),
            signatures: checks,
        });
    }
    if let Some(bad) = first(Verdict::Invalid) {
        let source = match &bad.artifact {
            Some(artifact) => format!("signature artifact {artifact}"),
            None => "the signature".to_string(),
        };
        let detail = bad.detail.clone().unwrap_or_default();
        return Err(SignatureFailure::BadSignature {
            what,
            detail: format!("{source}: {detail}"),
        }
        .into());
    }
    if let Some(moved) = first(Verdict::OtherSubject) {
        let signed = candidates
            .iter()
            .find(|candidate| candidate.artifact == moved.artifact)
            .and_then(|candidate| candidate.envelope.as_ref().ok())
            .and_then(|envelope| envelope.statement().ok())
            .map(|statement| statement.subject.digest)
            .unwrap_or_else(|| digest.clone());
        return Err(SignatureFailure::OtherSubject { what, signed }.into());
    }
    if !checks.is_empty() {
        let mut keyids: Vec<String> = checks
            .iter()
            .flat_map(|check| check.key_ids.iter().cloned())
            .map(|keyid| {
                if keyid.is_empty() {
                    "(no key id)".to_string()
                } else {
                    keyid
                }
            })
            .collect();
        keyids.sort();
        keyids.dedup();
        return Err(SignatureFailure::Untrusted {
            what,
            keyids,
            trusted,
        }
        .into());
    }
    Err(SignatureFailure::Unsigned { what }.into())
}

/// Verifies a detached signature of a package file: `signature` (default:
/// [`detached_signature_path`] of `file`) against the file's digest.
pub fn verify_detached(
    file: &Path,
    signature: Option<&Path>,
    keys: &[PublicKey],
    trusted: String,
) -> Result<VerifyReport> {
    let signature = signature
        .map(Path::to_path_buf)
        .unwrap_or_else(|| detached_signature_path(file));
    let (digest, _size) = crate::sign::file_digest(file)?;
    let bytes = read_signature_file(&signature)?;
    let candidate = Candidate {
        artifact: None,
        envelope: Envelope::parse(&bytes).map_err(|error| error.to_string()),
    };
    decide(
        file.display().to_string(),
        &digest,
        std::slice::from_ref(&candidate),
        keys,
        trusted,
    )
}

/// The detached signature file of a package file: its `.sntl` suffix
/// replaced with `.sig.sntl` (`hello-1.0.0.agent.sntl` ->
/// `hello-1.0.0.agent.sig.sntl`), or `.sig.sntl` appended.
pub fn detached_signature_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let signature = match name.strip_suffix(".sntl") {
        Some(stem) => format!("{stem}.sig.sntl"),
        None => format!("{name}.sig.sntl"),
    };
    file.with_file_name(signature)
}

/// A detached signature file, refusing one larger than an envelope may be.
fn read_signature_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let open = |source| WorkflowError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignatureFailure::Unsigned {
                what: format!("{} (no signature file)", path.display()),
            }
            .into());
        }
        Err(source) => return Err(open(source)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_ENVELOPE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(open)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_signature::{SigningKey, Statement, Subject};

    fn statement_for(digest: &Digest) -> Statement {
        Statement::new(Subject {
            digest: digest.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 10,
        })
    }

    fn candidate(envelope: Envelope) -> Candidate {
        Candidate {
            artifact: Some(Digest::sha256(&envelope.to_json())),
            envelope: Ok(envelope),
        }
    }

    #[test]
    fn the_most_serious_reason_is_reported() {
        let digest = Digest::sha256(b"manifest a");
        let other = Digest::sha256(b"manifest b");
        let trusted = SigningKey::generate();
        let stranger = SigningKey::generate();
        let keys = [trusted.public_key()];
        let decide = |candidates: &[Candidate]| {
            decide("x".into(), &digest, candidates, &keys, "trusted: k".into())
        };

        assert!(matches!(
            decide(&[]),
            Err(WorkflowError::Signature(SignatureFailure::Unsigned { .. }))
        ));
        let untrusted = candidate(Envelope::sign(&statement_for(&digest), &stranger));
        assert!(matches!(
            decide(std::slice::from_ref(&untrusted)),
            Err(WorkflowError::Signature(SignatureFailure::Untrusted { .. }))
        ));
        let moved = candidate(Envelope::sign(&statement_for(&other), &trusted));
        let error = decide(&[untrusted, moved]).unwrap_err();
        assert!(
            matches!(&error, WorkflowError::Signature(SignatureFailure::OtherSubject { signed, .. }) if signed == &other),
            "{error}"
        );
        let mut tampered = Envelope::sign(&statement_for(&digest), &trusted);
        tampered.signatures[0].sig[0] ^= 1;
        let tampered = candidate(tampered);
        let moved = candidate(Envelope::sign(&statement_for(&other), &trusted));
        assert!(matches!(
            decide(&[moved, tampered]),
            Err(WorkflowError::Signature(
                SignatureFailure::BadSignature { .. }
            ))
        ));
        let good = candidate(Envelope::sign(&statement_for(&digest), &trusted));
        let junk = Candidate {
            artifact: None,
            envelope: Err("not JSON".into()),
        };
        let report = decide(&[junk, good]).unwrap();
        assert_eq!(report.valid().count(), 1);
        assert_eq!(
            report.valid().next().unwrap().key_ids,
            vec![trusted.id().to_string()]
        );
    }

    #[test]
    fn a_detached_signature_sits_beside_its_package() {
        assert_eq!(
            detached_signature_path(Path::new("dir/hello-1.0.0.agent.sntl")),
            Path::new("dir/hello-1.0.0.agent.sig.sntl")
        );
        assert_eq!(
            detached_signature_path(Path::new("package.bin")),
            Path::new("package.bin.sig.sntl")
        );
    }
}
