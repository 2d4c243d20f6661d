//! Signatures and the signature policy (issue 13, section 3).
//!
//! A signature is an OCI artifact (`artifactType`
//! `application/x-sentinel-signature`) whose one layer is a DSSE envelope
//! and whose `subject` is the signed manifest. When one is pushed, its
//! envelope is read and checked: one that can never verify (junk, too
//! large, the wrong payload type, a statement for another manifest than its
//! `subject`, a signature by a trusted key that does not verify) is
//! refused. The rest is stored, and what it proves is recorded: which
//! trusted keys signed which manifest, and when.
//!
//! Pulls in a repository whose policy requires signatures are answered from
//! a per-repository view, built once and then looked up: the manifests
//! signed by a trusted key, the children of signed indexes, the blobs they
//! reference, and the signature artifacts and their blobs. A change to the
//! repository's manifests drops its view; a change of the policies bumps
//! the policy generation, so every view and every recorded verdict is
//! rebuilt lazily, on the first read that needs it (and a signature whose
//! key left the policy stops counting then).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use arc_swap::ArcSwap;
use sentinel_durable::FileStamp;
use sentinel_oci::{Digest, ParsedManifest, RepositoryName};
use sentinel_signature::{
    ENVELOPE_MEDIA_TYPE, Envelope, KeyId, MAX_ENVELOPE_BYTES, PublicKey, SIGNATURE_ARTIFACT_TYPE,
    VerifyError,
};
use sentinel_trust::{Policies, PolicyFile, RepositoryPattern, SignaturePolicy, TrustError};

use super::{KeyedLocks, Registry, RegistryError};

/// One signer of a manifest, as the registry sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// The signature artifact that holds it.
    pub artifact: Digest,
    /// The signer's key id, as the envelope names it (empty when it names none).
    pub key_id: String,
    /// When it was signed, as the signed statement says (RFC 3339).
    pub created: String,
    /// Whether the key is trusted by the policy covering the repository and
    /// the signature verifies.
    pub trusted: bool,
}

/// The policies, and what the registry has worked out from them.
pub(crate) struct Trust {
    /// The policies of the configuration file (fixed while running).
    configured: Vec<SignaturePolicy>,
    /// The policy file.
    file: PolicyFile,
    /// The stamp of the policy file as last read.
    loaded: Mutex<Option<FileStamp>>,
    /// The policies in force, with their generation: one snapshot, so
    /// that what is worked out from a policy is stamped with its own
    /// generation, never with that of a policy installed meanwhile.
    in_force: ArcSwap<InForce>,
    /// Per repository: the view, and a counter of changes to its manifests.
    views: RwLock<HashMap<String, Slot>>,
    /// What each signature artifact proves, per repository, as of a generation.
    verdicts: Mutex<HashMap<(RepositoryName, Digest), Verdict>>,
    /// One view build per repository at a time.
    builds: KeyedLocks,
}

/// The policies in force and their generation (bumped on every change).
struct InForce {
    generation: u64,
    policies: Arc<Policies>,
}

/// A repository's view and the number of changes to its manifests.
#[derive(Default)]
struct Slot {
    changes: u64,
    view: Option<Arc<View>>,
}

/// What may be read from a repository whose policy requires signatures.
#[derive(Clone)]
struct View {
    /// The policy generation it was built for.
    generation: u64,
    /// Manifests signed by a trusted key, and the children of signed indexes.
    trusted: HashSet<Digest>,
    /// Signature artifacts (always readable).
    signature_artifacts: HashSet<Digest>,
    /// Blobs of trusted manifests, and the envelopes (and empty configs) of
    /// signature artifacts.
    blobs: HashSet<Digest>,
}

/// What one pushed manifest adds to a view.
#[derive(Default)]
struct Opened {
    trusted: Vec<Digest>,
    signature_artifacts: Vec<Digest>,
    blobs: Vec<Digest>,
}

impl Opened {
    fn is_empty(&self) -> bool {
        self.trusted.is_empty() && self.signature_artifacts.is_empty() && self.blobs.is_empty()
    }
}

/// What one signature artifact proves, as of a policy generation.
#[derive(Clone)]
struct Verdict {
    generation: u64,
    entries: Arc<[SignatureEntry]>,
}

impl Trust {
    /// The policies of the configuration, over the policy file in `data_dir`.
    pub(crate) fn new(
        configured: Vec<SignaturePolicy>,
        data_dir: &std::path::Path,
    ) -> Result<Trust, TrustError> {
        let file = PolicyFile::new(data_dir);
        let stamp = file.stamp();
        let policies = Policies::new(configured.clone(), file.load()?);
        Ok(Trust {
            configured,
            file,
            loaded: Mutex::new(stamp),
            in_force: ArcSwap::from_pointee(InForce {
                generation: 0,
                policies: Arc::new(policies),
            }),
            views: RwLock::default(),
            verdicts: Mutex::default(),
            builds: KeyedLocks::default(),
        })
    }

    /// Makes `file` (the policy file's new content) the policies in force.
    fn install(&self, file: Vec<SignaturePolicy>) {
        let policies = Policies::new(self.configured.clone(), file);
        let previous = self.in_force.rcu(|current| {
            if *current.policies == policies {
                Arc::clone(current)
            } else {
                Arc::new(InForce {
                    generation: current.generation + 1,
                    policies: Arc::new(policies.clone()),
                })
            }
        });
        if *previous.policies == policies {
            return;
        }
        self.views
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Notes a change to `repository`'s manifests: its view is dropped.
    fn changed(&self, repository: &RepositoryName) {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = views.get_mut(repository.as_str()) {
            slot.changes += 1;
            slot.view = None;
        }
    }

    /// Notes a push to `repository`: the view stays in place (a build under
    /// way is not kept), and the count of changes is returned with it, for
    /// [`Trust::extend_view`].
    fn pushed(&self, repository: &RepositoryName) -> Option<(u64, Arc<View>)> {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        let slot = views.get_mut(repository.as_str())?;
        slot.changes += 1;
        Some((slot.changes, Arc::clone(slot.view.as_ref()?)))
    }

    /// Adds what a push opened to `repository`'s view, if nothing else
    /// changed it since [`Trust::pushed`] returned `changes`; otherwise the
    /// view is dropped and built again on the next read.
    fn extend_view(&self, repository: &RepositoryName, changes: u64, opened: Opened) {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = views.get_mut(repository.as_str()) else {
            return;
        };
        match &mut slot.view {
            Some(view) if slot.changes == changes => {
                if opened.is_empty() {
                    return;
                }
                let view = Arc::make_mut(view);
                view.trusted.extend(opened.trusted);
                view.signature_artifacts.extend(opened.signature_artifacts);
                view.blobs.extend(opened.blobs);
            }
            _ => slot.view = None,
        }
    }

    /// `repository`'s view, if it is built for `generation`.
    fn current_view(&self, repository: &str, generation: u64) -> Option<Arc<View>> {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        views
            .get(repository)
            .and_then(|slot| slot.view.as_ref())
            .filter(|view| view.generation == generation)
            .cloned()
    }
}

/// The envelope layer of a signature artifact, as its manifest describes it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest {
    #[serde(default)]
    config: Option<Described>,
    #[serde(default)]
    layers: Vec<Layer>,
}

/// A descriptor, for its digest.
#[derive(serde::Deserialize)]
struct Described {
    digest: Digest,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: Digest,
    size: u64,
}

/// The blobs a signature artifact (`body`) opens: its envelope layer,
/// and its config when that is the empty `{}`.
fn signature_blobs(body: &[u8]) -> Vec<Digest> {
    let Ok(described) = serde_json::from_slice::<SignatureManifest>(body) else {
        return Vec::new();
    };
    let empty_config = Digest::sha256(b"{}");
    described
        .layers
        .into_iter()
        .map(|layer| layer.digest)
        .chain(
            described
                .config
                .map(|config| config.digest)
                .filter(|config| *config == empty_config),
        )
        .collect()
}

/// Whether `parsed` is a signature artifact; if so, its subject.
pub(super) fn signature_subject(parsed: &ParsedManifest) -> Option<&Digest> {
    (parsed.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE))
        .then_some(parsed.subject.as_ref())
        .flatten()
}

/// What an envelope proves about `subject` against `keys`: its signers,
/// trusted or not; or why it can never count.
fn examine(
    artifact: &Digest,
    bytes: &[u8],
    subject: &Digest,
    keys: &[PublicKey],
) -> Result<Vec<SignatureEntry>, String> {
    let envelope = Envelope::parse(bytes).map_err(|e| format!("the envelope is invalid: {e}"))?;
    let statement = envelope
        .statement()
        .map_err(|e| format!("the envelope is invalid: {e}"))?;
    if statement.subject.digest != *subject {
        return Err(format!(
            "the envelope signs {}, but the signature's subject is {subject}",
            statement.subject.digest
        ));
    }
    let signers: Vec<KeyId> = match envelope.verify(keys) {
        Ok(verified) => verified.signers,
        Err(VerifyError::Untrusted { .. }) => Vec::new(),
        Err(VerifyError::BadSignature { keyid }) => {
            return Err(format!(
                "the signature by trusted key {keyid} does not verify"
            ));
        }
        Err(error) => return Err(format!("the envelope is invalid: {error}")),
    };
    let mut entries: Vec<SignatureEntry> = signers
        .iter()
        .map(|key| SignatureEntry {
            artifact: artifact.clone(),
            key_id: key.to_string(),
            created: statement.created.clone(),
            trusted: true,
        })
        .collect();
    for signature in &envelope.signatures {
        // A signature a trusted key verified is that key's entry already,
        // whatever id the envelope wrote for it (another DSSE
        // implementation's, or none): it is not listed again as untrusted.
        let by_trusted_key = || {
            Envelope {
                payload_type: envelope.payload_type.clone(),
                payload: envelope.payload.clone(),
                signatures: vec![signature.clone()],
            }
            .verify(keys)
            .is_ok()
        };
        if !entries.iter().any(|e| e.key_id == signature.keyid) && !by_trusted_key() {
            entries.push(SignatureEntry {
                artifact: artifact.clone(),
                key_id: signature.keyid.clone(),
                created: statement.created.clone(),
                trusted: false,
            });
        }
    }
    Ok(entries)
}

impl Registry {
    /// The signature policies in force.
    pub fn signature_policies(&self) -> Arc<Policies> {
        Arc::clone(&self.trust.in_force.load().policies)
    }

    /// Sets the policy of `policy.repositories` in the policy file; a
    /// pattern the configuration sets is refused.
    pub fn set_signature_policy(&self, policy: SignaturePolicy) -> Result<(), TrustError> {
        if self
            .trust
            .in_force
            .load()
            .policies
            .configured(&policy.repositories)
        {
            return Err(TrustError::Configured(policy.repositories.to_string()));
        }
        let file = self.trust.file.set(policy)?;
        self.trust.install(file);
        Ok(())
    }

    /// Removes the policy of `pattern` from the policy file.
    pub fn remove_signature_policy(&self, pattern: &RepositoryPattern) -> Result<(), TrustError> {
        if self.trust.in_force.load().policies.configured(pattern) {
            return Err(TrustError::Configured(pattern.to_string()));
        }
        let file = self.trust.file.remove(pattern)?;
        self.trust.install(file);
        Ok(())
    }

    /// Reads the policy file again if another process changed it.
    pub fn reload_signature_policies(&self) -> Result<bool, TrustError> {
        let trust = &self.trust;
        let mut loaded = trust.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = trust.file.stamp();
        if stamp == *loaded {
            return Ok(false);
        }
        trust.install(trust.file.load()?);
        *loaded = stamp;
        Ok(true)
    }

    /// Whether the policy covering `repository` requires signatures of pulls.
    pub fn signature_required(&self, repository: &RepositoryName) -> bool {
        self.trust
            .in_force
            .load()
            .policies
            .covering(repository.as_str())
            .is_some_and(|policy| policy.require_signature)
    }

    /// Refuses a pull of manifest `digest` from `repository` when its policy
    /// requires signatures and no trusted key signed it (a signature
    /// artifact, or a child of a signed index, is readable).
    pub async fn check_signed_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.check_readable(repository, |view| {
            view.trusted.contains(digest) || view.signature_artifacts.contains(digest)
        })
        .await
    }

    /// Refuses a pull of blob `digest` from `repository` when its policy
    /// requires signatures and only unsigned manifests reference it.
    pub async fn check_signed_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.check_readable(repository, |view| view.blobs.contains(digest))
            .await
    }

    async fn check_readable(
        &self,
        repository: &RepositoryName,
        readable: impl FnOnce(&View) -> bool,
    ) -> Result<(), RegistryError> {
        let in_force = self.trust.in_force.load_full();
        let Some(policy) = in_force
            .policies
            .covering(repository.as_str())
            .filter(|policy| policy.require_signature)
        else {
            return Ok(());
        };
        let view = self
            .trust_view(repository, in_force.generation, policy)
            .await?;
        if readable(&view) {
            Ok(())
        } else {
            Err(RegistryError::NotSigned {
                pattern: policy.repositories.to_string(),
            })
        }
    }

    /// The signers of manifest `digest` in `repository`, trusted or not by
    /// the policy covering it.
    pub async fn signatures(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<SignatureEntry>, RegistryError> {
        let in_force = self.trust.in_force.load_full();
        let keys = in_force
            .policies
            .covering(repository.as_str())
            .map_or(&[][..], |policy| &policy.keys[..]);
        let mut entries = Vec::new();
        for referrer in self.index.referrers(repository, digest).await? {
            if referrer.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE) {
                entries.extend(
                    self.verdict(
                        repository,
                        &referrer.digest,
                        digest,
                        in_force.generation,
                        keys,
                    )
                    .await?
                    .iter()
                    .cloned(),
                );
            }
        }
        Ok(entries)
    }

    /// The signers of the catalogued `version` of the package in `repository`.
    pub async fn version_signatures(
        &self,
        repository: &RepositoryName,
        version: &semver::Version,
    ) -> Result<Vec<SignatureEntry>, RegistryError> {
        match self
            .catalogue
            .holding(repository, version)
            .await?
            .and_then(|held| held.version)
        {
            Some(digest) => self.signatures(repository, &digest).await,
            None => Ok(Vec::new()),
        }
    }

    /// Checks a signature artifact about to be stored in `repository` and
    /// records what it proves; refuses one that can never count.
    pub(super) async fn check_signature_artifact(
        &self,
        repository: &RepositoryName,
        artifact: &Digest,
        body: &[u8],
        subject: &Digest,
    ) -> Result<(), RegistryError> {
        let in_force = self.trust.in_force.load_full();
        let generation = in_force.generation;
        let keys = in_force
            .policies
            .covering(repository.as_str())
            .map_or(&[][..], |policy| &policy.keys[..]);
        let bytes = self.envelope_bytes(repository, body).await?;
        let entries = examine(artifact, &bytes, subject, keys).map_err(|problem| {
            RegistryError::SignatureInvalid(format!("signature artifact {artifact}: {problem}"))
        })?;
        self.trust
            .verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (repository.clone(), artifact.clone()),
                Verdict {
                    generation,
                    entries: entries.into(),
                },
            );
        Ok(())
    }

    /// Notes that a manifest of `repository` was deleted: its view is
    /// built again on the next read.
    pub(super) fn signatures_changed(&self, repository: &RepositoryName) {
        self.trust.changed(repository);
    }

    /// Notes that manifest `digest` was pushed to `repository`: what it
    /// opens is added to the repository's view, so that a push costs a look
    /// at the pushed manifest (and, when it makes something signed, at what
    /// that references), not a rebuild of the view from every manifest of
    /// the repository. When that cannot be worked out, the view is dropped.
    pub(super) async fn signatures_pushed(&self, repository: &RepositoryName, digest: &Digest) {
        let Some((changes, view)) = self.trust.pushed(repository) else {
            return;
        };
        let in_force = self.trust.in_force.load_full();
        let policy = in_force
            .policies
            .covering(repository.as_str())
            .filter(|policy| policy.require_signature);
        let opened = match policy {
            Some(policy) if view.generation == in_force.generation => self
                .opened_by(repository, digest, &view, in_force.generation, &policy.keys)
                .await
                .ok(),
            _ => None,
        };
        match opened {
            Some(opened) => self.trust.extend_view(repository, changes, opened),
            None => self.trust.changed(repository),
        }
    }

    /// What pushing manifest `digest` to `repository` opens in `view`, the
    /// view of policy generation `generation` (whose keys are `keys`).
    async fn opened_by(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        view: &View,
        generation: u64,
        keys: &[PublicKey],
    ) -> Result<Opened, RegistryError> {
        let mut opened = Opened::default();
        let mut roots = Vec::new();
        let Some(pushed) = self.index.manifest(repository, digest).await? else {
            return Ok(opened);
        };
        let parsed = ParsedManifest::parse(Some(&pushed.media_type), &pushed.body)?;
        if let Some(subject) = signature_subject(&parsed) {
            let entries = self
                .verdict(repository, digest, subject, generation, keys)
                .await?;
            opened.signature_artifacts.push(digest.clone());
            if !entries.is_empty() {
                opened.blobs.extend(signature_blobs(&pushed.body));
            }
            if entries.iter().any(|entry| entry.trusted) {
                roots.push(subject.clone());
            }
        } else if view.trusted.contains(digest) {
            // Signed before it was pushed: its references are now known.
            roots.push(digest.clone());
        }
        let mut seen = HashSet::new();
        while let Some(digest) = roots.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            opened.trusted.push(digest.clone());
            let Some(manifest) = self.index.manifest(repository, &digest).await? else {
                continue;
            };
            let Ok(parsed) = ParsedManifest::parse(Some(&manifest.media_type), &manifest.body)
            else {
                continue;
            };
            if signature_subject(&parsed).is_none() {
                opened.blobs.extend(parsed.blobs);
                roots.extend(parsed.manifests);
            }
        }
        Ok(opened)
    }

    /// The envelope of the signature artifact `body` of `repository`: its
    /// one layer, of the envelope media type, at most
    /// [`MAX_ENVELOPE_BYTES`], held by the repository.
    async fn envelope_bytes(
        &self,
        repository: &RepositoryName,
        body: &[u8],
    ) -> Result<bytes::Bytes, RegistryError> {
        let invalid = |problem: String| RegistryError::SignatureInvalid(problem);
        let manifest: SignatureManifest = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the signature manifest is malformed: {e}")))?;
        let [layer] = manifest.layers.as_slice() else {
            return Err(invalid(format!(
                "a signature artifact has exactly one layer (the envelope), not {}",
                manifest.layers.len()
            )));
        };
        if layer.media_type != ENVELOPE_MEDIA_TYPE {
            return Err(invalid(format!(
                "the signature's layer is {}, not {ENVELOPE_MEDIA_TYPE}",
                layer.media_type
            )));
        }
        if layer.size > MAX_ENVELOPE_BYTES as u64 {
            return Err(invalid(format!(
                "the envelope is {} bytes; at most {MAX_ENVELOPE_BYTES} are accepted",
                layer.size
            )));
        }
        if self
            .index
            .repository_blob(repository, &layer.digest)
            .await?
            .is_none()
        {
            return Err(RegistryError::ManifestBlobUnknown(layer.digest.clone()));
        }
        let mut read = self
            .small_blobs(&[(layer.digest.clone(), layer.size)])
            .await?;
        Ok(read.pop().unwrap_or_default())
    }

    /// What signature artifact `artifact` (of `subject`) proves in
    /// `repository` against `keys`, the keys of policy generation
    /// `generation`: recorded at push, worked out again once per policy
    /// generation. One that does not verify any more proves nothing, and
    /// so does one whose envelope is missing (a deleted blob, an incomplete
    /// copy): that is not recorded, so the envelope counts again once it
    /// is back.
    async fn verdict(
        &self,
        repository: &RepositoryName,
        artifact: &Digest,
        subject: &Digest,
        generation: u64,
        keys: &[PublicKey],
    ) -> Result<Arc<[SignatureEntry]>, RegistryError> {
        let key = (repository.clone(), artifact.clone());
        if let Some(verdict) = self
            .trust
            .verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|verdict| verdict.generation == generation)
        {
            return Ok(Arc::clone(&verdict.entries));
        }
        let Some(manifest) = self.index.manifest(repository, artifact).await? else {
            return Ok(Arc::from(Vec::new()));
        };
        let entries: Arc<[SignatureEntry]> =
            match self.envelope_bytes(repository, &manifest.body).await {
                Ok(bytes) => examine(artifact, &bytes, subject, keys)
                    .unwrap_or_default()
                    .into(),
                Err(RegistryError::SignatureInvalid(_) | RegistryError::PackageInvalid(_)) => {
                    Arc::from(Vec::new())
                }
                Err(RegistryError::ManifestBlobUnknown(_) | RegistryError::BlobUnknown(_)) => {
                    return Ok(Arc::from(Vec::new()));
                }
                Err(error) => return Err(error),
            };
        self.trust
            .verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key,
                Verdict {
                    generation,
                    entries: Arc::clone(&entries),
                },
            );
        Ok(entries)
    }

    /// `repository`'s view for policy generation `generation`, whose policy
    /// covering `repository` is `policy`: looked up, or built (once at a
    /// time per repository) from its manifests.
    async fn trust_view(
        &self,
        repository: &RepositoryName,
        generation: u64,
        policy: &SignaturePolicy,
    ) -> Result<Arc<View>, RegistryError> {
        if let Some(view) = self.trust.current_view(repository.as_str(), generation) {
            return Ok(view);
        }
        let _building = self.trust.builds.lock(repository.as_str()).await;
        if let Some(view) = self.trust.current_view(repository.as_str(), generation) {
            return Ok(view);
        }
        let changes = {
            let mut views = self
                .trust
                .views
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            views.entry(repository.to_string()).or_default().changes
        };
        let view = Arc::new(
            self.build_view(repository, generation, &policy.keys)
                .await?,
        );
        let mut views = self
            .trust
            .views
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = views.entry(repository.to_string()).or_default();
        // Kept only if nothing changed while it was built; either way it
        // answers this request.
        if slot.changes == changes && self.trust.in_force.load().generation == generation {
            slot.view = Some(Arc::clone(&view));
        }
        Ok(view)
    }

    /// Reads every manifest of `repository` and works out what is signed.
    async fn build_view(
        &self,
        repository: &RepositoryName,
        generation: u64,
        keys: &[PublicKey],
    ) -> Result<View, RegistryError> {
        let mut view = View {
            generation,
            trusted: HashSet::new(),
            signature_artifacts: HashSet::new(),
            blobs: HashSet::new(),
        };
        let mut signed_subjects: HashSet<Digest> = HashSet::new();
        let mut references: HashMap<Digest, (Vec<Digest>, Vec<Digest>)> = HashMap::new();
        for digest in self.index.repository_manifests(repository).await? {
            let Some(manifest) = self.index.manifest(repository, &digest).await? else {
                continue;
            };
            let Ok(parsed) = ParsedManifest::parse(Some(&manifest.media_type), &manifest.body)
            else {
                continue;
            };
            if let Some(subject) = signature_subject(&parsed) {
                let entries = self
                    .verdict(repository, &digest, subject, generation, keys)
                    .await?;
                if entries.iter().any(|entry| entry.trusted) {
                    signed_subjects.insert(subject.clone());
                }
                // Only its envelope and the empty config: any other blob
                // (a `config` naming an unsigned image's layer, say) stays
                // behind the policy. An artifact whose envelope proves
                // nothing opens nothing.
                if !entries.is_empty() {
                    view.blobs.extend(signature_blobs(&manifest.body));
                }
                view.signature_artifacts.insert(digest);
            } else {
                references.insert(digest, (parsed.blobs, parsed.manifests));
            }
        }
        let mut signed: Vec<Digest> = signed_subjects.into_iter().collect();
        while let Some(digest) = signed.pop() {
            if !view.trusted.insert(digest.clone()) {
                continue;
            }
            if let Some((blobs, children)) = references.get(&digest) {
                view.blobs.extend(blobs.iter().cloned());
                signed.extend(children.iter().cloned());
            }
        }
        Ok(view)
    }
}
