//! Pulling a stack with its agents: the stack is pulled like any package,
//! then every agent it names is resolved (a member's reference may hold a
//! version requirement), pulled, verified and extracted under
//! `DIR/agents/<member name>/`, and `DIR/stack.lock` records what each
//! member resolved to. A later pull into the same directory takes exactly
//! the locked digests, unless asked to update.
//!
//! Everything is extracted into a fresh directory beside `DIR`, which then
//! takes `DIR`'s place: an interrupted pull leaves `DIR` as it was.
//!
//! When the [`Trust`] says a reference must be verified, its signatures are
//! verified before it is pulled: the stack before anything is stored, and
//! every member before any member is pulled. A member that fails leaves
//! `DIR` as it was and no member in the store (the stack itself, verified,
//! stays in the store).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sentinel_client::{RegistryClient, ResolvedReference};
use sentinel_local_store::LocalStore;
use sentinel_oci::Digest;
use sentinel_package::{Definition, PackageKind};
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, Result, WorkflowError};
use crate::progress::Progress;
use crate::pull::{Extract, PullReport, resolve};
use crate::registries::Registries;
use crate::trust::Trust;

/// The lock file's name, in the stack's directory.
pub const LOCK_FILE: &str = "stack.lock";

/// The directory agents are extracted under, in the stack's directory.
const AGENTS_DIR: &str = "agents";

/// What `stack.lock` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackLock {
    /// The stack pulled.
    pub stack: LockedPackage,
    /// Each member, in the order of `stack.yaml`.
    pub agents: Vec<LockedMember>,
}

/// A package as pulled: where from, and exactly which manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// The reference pulled, with its registry (`registry/repository:tag`).
    pub reference: String,
    /// Its version.
    pub version: String,
    /// The manifest's digest.
    pub digest: Digest,
}

/// One member of the stack, as resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedMember {
    /// The member's name in the stack.
    pub name: String,
    /// The reference as `stack.yaml` writes it (a tag, digest or requirement).
    #[serde(rename = "ref")]
    pub reference: String,
    /// What it resolved to.
    #[serde(flatten)]
    pub resolved: LockedPackage,
}

/// What to pull.
#[derive(Debug, Clone)]
pub struct StackPullRequest {
    /// The stack's reference (a tag, digest or version requirement).
    pub reference: String,
    /// Where to extract (default: `./<stack name>`).
    pub directory: Option<PathBuf>,
    /// Also pull and extract every agent the stack names, and write the lock.
    pub extract_agents: bool,
    /// Resolve the members afresh even when the directory has a lock.
    pub update: bool,
}

/// What a stack pull did.
pub struct StackPullReport {
    /// The stack.
    pub stack: PullReport,
    /// Where everything was extracted.
    pub directory: PathBuf,
    /// The lock written (with `extract_agents`).
    pub lock: Option<StackLock>,
    /// Whether the members came from an existing lock.
    pub from_lock: bool,
}

/// The registries of a stack's members: a member reference that names no
/// registry means the registry the stack came from.
struct Beside<'a, R: ?Sized> {
    registries: &'a R,
    registry: String,
}

impl<R: Registries + ?Sized> Registries for Beside<'_, R> {
    fn default_registry(&self) -> std::result::Result<Option<String>, BoxError> {
        Ok(Some(self.registry.clone()))
    }

    fn client(
        &self,
        reference: &ResolvedReference,
    ) -> std::result::Result<RegistryClient, BoxError> {
        self.registries.client(reference)
    }
}

/// Pulls a stack as `request` says, over `candidates` (as `agent pull`),
/// verifying the signatures of the stack and its members where `trust`
/// says so.
pub async fn pull_stack<R: Registries>(
    candidates: &[R],
    store: &LocalStore,
    request: &StackPullRequest,
    trust: &Trust,
    cancel: Option<Arc<AtomicBool>>,
    progress: &impl Progress,
) -> Result<StackPullReport> {
    if !request.extract_agents {
        let resolved = resolve(candidates, &request.reference).await?;
        require_kind(resolved.kind(), &request.reference, PackageKind::Stack)?;
        verify_if_needed(&resolved, trust).await?;
        let extract = match &request.directory {
            Some(directory) => Extract::Into(directory.clone()),
            None => Extract::NamedDirectory,
        };
        let stack = resolved.pull(store, extract, cancel, progress).await?;
        let directory = stack
            .extracted
            .as_ref()
            .map(|(directory, _)| directory.clone())
            .unwrap_or_default();
        return Ok(StackPullReport {
            stack,
            directory,
            lock: None,
            from_lock: false,
        });
    }
    let existing = match &request.directory {
        Some(directory) if !request.update => read_lock(directory)?,
        _ => None,
    };
    // With a lock, the stack is the one it names, by digest.
    let stack_text = match &existing {
        Some(lock) => pinned(&lock.stack, &request.reference)?,
        None => request.reference.clone(),
    };
    let resolved = resolve(candidates, &stack_text).await?;
    require_kind(resolved.kind(), &request.reference, PackageKind::Stack)?;
    verify_if_needed(&resolved, trust).await?;
    let registry = resolved.reference().registry().to_string();
    let stack = resolved
        .pull(store, Extract::No, cancel.clone(), progress)
        .await?;
    let Definition::Stack(definition) = &stack.definition else {
        return Err(WorkflowError::Usage(format!(
            "{} is not a stack",
            request.reference
        )));
    };
    let directory = request
        .directory
        .clone()
        .unwrap_or_else(|| PathBuf::from(&definition.name));
    let staging = Staging::beside(&directory)?;
    crate::unpack::unpack_file(
        &store.blob_path(&stack_package(store, &stack.manifest_digest)?),
        staging.path(),
        cancel.clone(),
    )
    .await?;
    if staging.path().join(AGENTS_DIR).exists() {
        return Err(WorkflowError::Usage(format!(
            "{} holds an {AGENTS_DIR}/ directory of its own, where its agents would go; extract it without --extract-agents",
            stack.reference
        )));
    }
    let members_registries = Beside {
        registries: candidates
            .first()
            .ok_or_else(|| WorkflowError::Usage("no registry to pull from".to_owned()))?,
        registry,
    };
    let agents = staging.path().join(AGENTS_DIR);
    std::fs::create_dir_all(&agents).map_err(|source| WorkflowError::Open {
        path: agents.clone(),
        source,
    })?;
    // Every member is resolved and verified before any is pulled.
    let mut members = Vec::new();
    for member in &definition.agents {
        let written = member.reference.to_string();
        let locked_entry = existing
            .as_ref()
            .and_then(|lock| lock.agents.iter().find(|a| a.name == member.name));
        let text = match locked_entry {
            Some(entry) => pinned(&entry.resolved, &written)?,
            None => written.clone(),
        };
        let resolved = resolve(std::slice::from_ref(&members_registries), &text).await?;
        require_kind(resolved.kind(), &written, PackageKind::Agent)?;
        verify_if_needed(&resolved, trust).await?;
        members.push((member, written, locked_entry, resolved));
    }
    let mut locked = Vec::new();
    for (member, written, locked_entry, resolved) in members {
        let target = agents.join(&member.name);
        let pulled = resolved
            .pull(store, Extract::Into(target), cancel.clone(), progress)
            .await?;
        // Pulled from the lock: the lock's reference (with its tag) stays.
        let reference = match locked_entry {
            Some(entry) => entry.resolved.reference.clone(),
            None => pulled.reference.to_string(),
        };
        locked.push(LockedMember {
            name: member.name.clone(),
            reference: written,
            resolved: LockedPackage {
                reference,
                version: pulled.definition.version().to_string(),
                digest: pulled.manifest_digest.clone(),
            },
        });
    }
    let lock = StackLock {
        stack: LockedPackage {
            reference: match &existing {
                Some(lock) => lock.stack.reference.clone(),
                None => stack.reference.to_string(),
            },
            version: stack.definition.version().to_string(),
            digest: stack.manifest_digest.clone(),
        },
        agents: locked,
    };
    write_lock(staging.path(), &lock)?;
    staging.replace(&directory)?;
    Ok(StackPullReport {
        stack,
        directory,
        lock: Some(lock),
        from_lock: existing.is_some(),
    })
}

/// Verifies the signatures of `resolved` when `trust` requires it.
async fn verify_if_needed(resolved: &crate::pull::Resolved, trust: &Trust) -> Result<()> {
    if trust.must_verify(resolved.reference()) {
        resolved.verify_signatures(trust).await?;
    }
    Ok(())
}

/// Refuses a package of another kind than `kind`.
fn require_kind(found: PackageKind, text: &str, kind: PackageKind) -> Result<()> {
    if found == kind {
        return Ok(());
    }
    Err(WorkflowError::Usage(match kind {
        PackageKind::Stack => format!("{text} is an agent, not a stack; pull it with agent pull"),
        PackageKind::Agent => {
            format!("{text} names a stack, but a stack's members must be agents")
        }
    }))
}

/// The locked package as a reference by digest (`registry/repository@digest`).
fn pinned(locked: &LockedPackage, written: &str) -> Result<String> {
    let reference = ResolvedReference::parse(&locked.reference, None).map_err(|error| {
        WorkflowError::Usage(format!(
            "{LOCK_FILE} names {:?} for {written}, which is not a reference ({error}); pull with --update to write it afresh",
            locked.reference
        ))
    })?;
    Ok(format!(
        "{}/{}@{}",
        reference.registry(),
        reference.repository(),
        locked.digest
    ))
}

/// The `.sntl` blob of a stored manifest.
fn stack_package(store: &LocalStore, manifest: &Digest) -> Result<Digest> {
    let bytes = store.read_blob(manifest, sentinel_oci::MAX_MANIFEST_SIZE)?;
    let view = sentinel_package::oci::parse_manifest(&bytes)
        .map_err(|error| WorkflowError::Integrity(format!("the stored stack manifest: {error}")))?;
    Ok(view.package.digest)
}

/// Reads `DIR/stack.lock`, if there is one.
fn read_lock(directory: &Path) -> Result<Option<StackLock>> {
    let path = directory.join(LOCK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(WorkflowError::Open { path, source }),
    };
    serde_norway::from_str(&text).map(Some).map_err(|error| {
        WorkflowError::Usage(format!(
            "{} is not a stack lock ({error}); remove it or pull with --update",
            path.display()
        ))
    })
}

/// Writes `stack.lock` into `directory`.
fn write_lock(directory: &Path, lock: &StackLock) -> Result<()> {
    let body = serde_norway::to_string(lock)
        .map_err(|error| WorkflowError::Usage(format!("cannot write {LOCK_FILE}: {error}")))?;
    let text = format!(
        "# Written by agent stack pull --extract-agents: the exact digests of the stack and its\n# agents. A later pull into this directory takes these digests unless --update is given.\n{body}"
    );
    let path = directory.join(LOCK_FILE);
    std::fs::write(&path, text).map_err(|source| WorkflowError::Open { path, source })
}

/// A directory beside the target, filled and then put in its place; removed
/// if dropped before that.
struct Staging {
    path: PathBuf,
    /// Where an earlier pull goes while the new one takes its place.
    old: PathBuf,
    done: bool,
}

impl Staging {
    /// A fresh (not yet existing) path beside `target`.
    fn beside(target: &Path) -> Result<Self> {
        if target.exists() && !is_replaceable(target)? {
            return Err(WorkflowError::Usage(format!(
                "{} exists and is neither empty nor an earlier stack pull (it has no {LOCK_FILE}); choose another directory",
                target.display()
            )));
        }
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stack".to_owned());
        let id = std::process::id();
        let path = parent.join(format!(".{name}.partial-{id}"));
        let old = parent.join(format!(".{name}.old-{id}"));
        for leftover in [&path, &old] {
            if leftover.exists() {
                std::fs::remove_dir_all(leftover).map_err(|source| WorkflowError::Open {
                    path: leftover.clone(),
                    source,
                })?;
            }
        }
        Ok(Staging {
            path,
            old,
            done: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the staged directory in `target`'s place; an earlier pull there
    /// is removed once the new one is in place.
    fn replace(mut self, target: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WorkflowError::Open { path, source }
        };
        let old = if target.exists() {
            std::fs::rename(target, &self.old).map_err(io(target))?;
            Some(self.old.clone())
        } else {
            None
        };
        std::fs::rename(&self.path, target).map_err(io(target))?;
        self.done = true;
        if let Some(old) = old {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Whether `target` may be replaced: empty, or holding a stack lock.
fn is_replaceable(target: &Path) -> Result<bool> {
    let open = |source| WorkflowError::Open {
        path: target.to_path_buf(),
        source,
    };
    if !target.is_dir() {
        return Ok(false);
    }
    let empty = std::fs::read_dir(target).map_err(open)?.next().is_none();
    Ok(empty || target.join(LOCK_FILE).is_file())
}
