//! The trust policy: `trust.yaml` in the agent configuration directory says,
//! per scope of repositories, which public keys are trusted to sign and
//! whether every pull there must verify a signature.
//!
//! ```yaml
//! scopes:
//!   - scope: registry.example.com/acme/*
//!     require: true
//!     keys:
//!       - id: ed25519:0123456789abcdef
//!         pem: |
//!           -----BEGIN PUBLIC KEY-----
//!           ...
//!           -----END PUBLIC KEY-----
//!       - path: keys/release.pub     # relative to the directory of trust.yaml
//!   - scope: "*"
//!     keys: []
//! ```
//!
//! A scope is `*` (every repository of every registry), `HOST/*` (every
//! repository of a registry), `HOST/PREFIX/*` (every repository under
//! `PREFIX/`, at any depth) or `HOST/REPOSITORY` (that repository). `HOST`
//! is written as references write it, with its port. The scope with the
//! longest literal part (everything before the `*`) that matches wins, so an
//! exact repository beats any wildcard, `HOST/acme/*` beats `HOST/*`, and
//! `*` comes last. Only the winning scope counts: its keys are the trusted
//! ones and its `require` decides whether a pull verifies.

use std::path::{Path, PathBuf};

use sentinel_client::ResolvedReference;
use sentinel_durable::{FileMode, TempPath, replace_file, unique_temp_path};
use sentinel_signature::{KeyId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkflowError};

/// The policy's file name, in the agent configuration directory.
pub const TRUST_FILE: &str = "trust.yaml";

/// The whole `trust.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    /// The scopes, in the order written (the order does not matter for
    /// matching: the most specific scope wins).
    #[serde(default)]
    pub scopes: Vec<TrustScope>,
}

/// One scope of repositories and what is trusted there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustScope {
    /// `*`, `HOST/*`, `HOST/PREFIX/*` or `HOST/REPOSITORY`.
    pub scope: String,
    /// Whether every pull in the scope verifies a signature, without
    /// `--verify-signature`.
    #[serde(default)]
    pub require: bool,
    /// The keys trusted to sign in the scope.
    #[serde(default)]
    pub keys: Vec<TrustedKey>,
}

/// A trusted public key: inline SPKI PEM, or a file holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The key's id, for the reader (checked against the key when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<KeyId>,
    /// The public key, SPKI PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// A file holding the public key; relative to the directory of
    /// `trust.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// The policy as read from its file, with the directory its relative key
/// paths start from.
#[derive(Debug, Clone, Default)]
pub struct TrustFile {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub policy: TrustPolicy,
}

impl TrustFile {
    /// Reads `config_dir/trust.yaml`; a missing file is an empty policy.
    pub fn load(config_dir: &Path) -> Result<TrustFile> {
        let path = config_dir.join(TRUST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TrustFile {
                    path,
                    policy: TrustPolicy::default(),
                });
            }
            Err(source) => return Err(WorkflowError::Open { path, source }),
        };
        let invalid = |why: String| WorkflowError::Usage(format!("{}: {why}", path.display()));
        let policy: TrustPolicy = if text.trim().is_empty() {
            TrustPolicy::default()
        } else {
            serde_norway::from_str(&text).map_err(|error| invalid(error.to_string()))?
        };
        for (index, scope) in policy.scopes.iter().enumerate() {
            check_scope(&scope.scope).map_err(|why| invalid(format!("scopes[{index}]: {why}")))?;
            if policy.scopes[..index]
                .iter()
                .any(|earlier| earlier.scope == scope.scope)
            {
                return Err(invalid(format!("scope {:?} is written twice", scope.scope)));
            }
        }
        Ok(TrustFile { path, policy })
    }

    /// Writes the policy back, atomically (a temporary file renamed over
    /// it), readable by the owner only.
    pub fn save(&self) -> Result<()> {
        let dir = sentinel_durable::parent_dir(&self.path);
        sentinel_durable::create_dir_durably(dir).map_err(|source| WorkflowError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        let body = serde_norway::to_string(&self.policy).map_err(|error| {
            WorkflowError::Usage(format!("cannot write {}: {error}", self.path.display()))
        })?;
        let text = format!(
            "# The agent's trust policy: which keys may sign in which scope, and where\n# every pull must verify a signature. Edit it with agent trust add/remove.\n{body}"
        );
        let temp = TempPath::new(unique_temp_path(dir, ".trust.", ".tmp"));
        replace_file(temp, &self.path, text.as_bytes(), FileMode::OwnerOnly)?;
        Ok(())
    }

    /// Trusts `key` in `scope` (created when missing); `require` turns on
    /// verification of every pull there (an existing scope's `require` is
    /// kept when `require` is false). Returns whether the key was new there.
    pub fn add(&mut self, scope: &str, key: &PublicKey, require: bool) -> Result<bool> {
        check_scope(scope).map_err(|why| WorkflowError::Usage(format!("{scope:?}: {why}")))?;
        let index = match self.policy.scopes.iter().position(|s| s.scope == scope) {
            Some(index) => index,
            None => {
                self.policy.scopes.push(TrustScope {
                    scope: scope.to_string(),
                    require: false,
                    keys: Vec::new(),
                });
                self.policy.scopes.len() - 1
            }
        };
        let existing = self.keys_of(&self.policy.scopes[index])?;
        let entry = &mut self.policy.scopes[index];
        entry.require |= require;
        if existing.iter().any(|known| known.id() == key.id()) {
            return Ok(false);
        }
        entry.keys.push(TrustedKey {
            id: Some(key.id().clone()),
            pem: Some(key.to_pem()),
            path: None,
        });
        Ok(true)
    }

    /// Removes `scope`, or only the key `key_id` from it. Fails when there
    /// is no such scope or key.
    pub fn remove(&mut self, scope: &str, key_id: Option<&KeyId>) -> Result<()> {
        let Some(index) = self.policy.scopes.iter().position(|s| s.scope == scope) else {
            return Err(WorkflowError::NotFound(format!(
                "{} has no scope {scope:?}",
                self.path.display()
            )));
        };
        let Some(key_id) = key_id else {
            self.policy.scopes.remove(index);
            return Ok(());
        };
        let keys = self.keys_of(&self.policy.scopes[index])?;
        let Some(position) = keys.iter().position(|key| key.id() == key_id) else {
            return Err(WorkflowError::NotFound(format!(
                "scope {scope:?} does not trust the key {key_id}"
            )));
        };
        self.policy.scopes[index].keys.remove(position);
        Ok(())
    }

    /// The scope that decides for `reference`: the most specific match.
    pub fn scope_for(&self, reference: &ResolvedReference) -> Option<&TrustScope> {
        // Host names are case-insensitive (repository names are lowercase
        // anyway): `Registry.Example.com/acme/app` is in the scope
        // `registry.example.com/acme/*`, or writing a reference another way
        // would skip a `require`.
        let name =
            format!("{}/{}", reference.registry(), reference.repository()).to_ascii_lowercase();
        self.policy
            .scopes
            .iter()
            .filter_map(|scope| specificity(&scope.scope, &name).map(|rank| (rank, scope)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, scope)| scope)
    }

    /// The public keys `scope` trusts, read from its PEM or files.
    pub fn keys_of(&self, scope: &TrustScope) -> Result<Vec<PublicKey>> {
        let base = sentinel_durable::parent_dir(&self.path);
        scope
            .keys
            .iter()
            .map(|trusted| self.read_key(base, &scope.scope, trusted))
            .collect()
    }

    fn read_key(&self, base: &Path, scope: &str, trusted: &TrustedKey) -> Result<PublicKey> {
        let invalid = |why: String| {
            WorkflowError::Usage(format!("{}: scope {scope:?}: {why}", self.path.display()))
        };
        let key = match (&trusted.pem, &trusted.path) {
            (Some(pem), None) => {
                PublicKey::from_pem(pem).map_err(|error| invalid(format!("a key: {error}")))?
            }
            (None, Some(path)) => crate::keys::read_public_key(&base.join(path))?,
            _ => return Err(invalid("each key has either pem or path".to_string())),
        };
        if let Some(id) = &trusted.id
            && id != key.id()
        {
            return Err(invalid(format!("the key written as {id} is {}", key.id())));
        }
        Ok(key)
    }
}

/// Which keys a verification trusts and whether a pull must verify, for a
/// reference: the keys given on the command line, else the trust policy's.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    file: TrustFile,
    given: Option<Vec<PublicKey>>,
    always: bool,
}

impl Trust {
    /// The trust policy's keys and requirements.
    pub fn from_policy(file: TrustFile) -> Trust {
        Trust {
            file,
            given: None,
            always: false,
        }
    }

    /// Trusts exactly `keys` (from `--key`) for every reference, instead of
    /// the policy's.
    pub fn with_keys(mut self, keys: Vec<PublicKey>) -> Trust {
        if !keys.is_empty() {
            self.given = Some(keys);
        }
        self
    }

    /// Makes every pull verify (`--verify-signature`), whatever the policy
    /// says.
    pub fn always_verify(mut self, always: bool) -> Trust {
        self.always |= always;
        self
    }

    /// Whether a pull of `reference` must verify a signature first.
    pub fn must_verify(&self, reference: &ResolvedReference) -> bool {
        self.always
            || self
                .file
                .scope_for(reference)
                .is_some_and(|scope| scope.require)
    }

    /// The keys trusted for `reference`, and a note saying where they come
    /// from (for the message when none of them signed).
    pub fn keys_for(&self, reference: &ResolvedReference) -> Result<(Vec<PublicKey>, String)> {
        if let Some(keys) = &self.given {
            return Ok((
                keys.clone(),
                "trusted: the keys given with --key".to_string(),
            ));
        }
        match self.file.scope_for(reference) {
            Some(scope) => {
                let keys = self.file.keys_of(scope)?;
                let note = format!(
                    "trusted: the {} key(s) of trust scope {:?}",
                    keys.len(),
                    scope.scope
                );
                Ok((keys, note))
            }
            None => Ok((
                Vec::new(),
                format!(
                    "no trust scope covers {}/{}: trust a key with agent trust add, or give --key",
                    reference.registry(),
                    reference.repository()
                ),
            )),
        }
    }
}

/// Checks a scope's grammar: `*`, `HOST/*`, `HOST/PREFIX/*`, `HOST/REPOSITORY`.
fn check_scope(scope: &str) -> std::result::Result<(), String> {
    if scope == "*" {
        return Ok(());
    }
    let literal = scope.strip_suffix("/*").unwrap_or(scope);
    if literal.is_empty() || literal.contains('*') {
        return Err(format!(
            "invalid scope {scope:?}: write *, HOST/*, HOST/PREFIX/* or HOST/REPOSITORY (a * only at the end, after a /)"
        ));
    }
    if literal.split('/').any(str::is_empty) || literal.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid scope {scope:?}: an empty path component or a space"
        ));
    }
    Ok(())
}

/// How specific `scope` is when it matches `name` (`registry/repository`,
/// lowercase), ignoring the case of `scope`: the length of its literal
/// part; `None` when it does not match.
fn specificity(scope: &str, name: &str) -> Option<usize> {
    if scope == "*" {
        return Some(0);
    }
    let scope = scope.to_ascii_lowercase();
    match scope.strip_suffix('*') {
        Some(prefix) => name
            .strip_prefix(prefix)
            .filter(|rest| !rest.is_empty())
            .map(|_| prefix.len()),
        None => (scope == name).then_some(scope.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_signature::SigningKey;

    fn reference(text: &str) -> ResolvedReference {
        ResolvedReference::parse(text, None).unwrap()
    }

    fn scope(scope: &str, require: bool) -> TrustScope {
        TrustScope {
            scope: scope.to_string(),
            require,
            keys: Vec::new(),
        }
    }

    #[test]
    fn the_most_specific_scope_wins() {
        let file = TrustFile {
            path: PathBuf::from("trust.yaml"),
            policy: TrustPolicy {
                scopes: vec![
                    scope("*", false),
                    scope("registry.example.com/*", true),
                    scope("registry.example.com/acme/*", false),
                    scope("registry.example.com/acme/planner", true),
                ],
            },
        };
        let found = |text: &str| file.scope_for(&reference(text)).unwrap().scope.clone();
        assert_eq!(found("other.example/x:1"), "*");
        assert_eq!(
            found("registry.example.com/team/x:1"),
            "registry.example.com/*"
        );
        assert_eq!(
            found("registry.example.com/acme/x/y:1"),
            "registry.example.com/acme/*"
        );
        assert_eq!(
            found("registry.example.com/acme/planner:1"),
            "registry.example.com/acme/planner"
        );
        assert_eq!(
            found("registry.example.com/acme:1"),
            "registry.example.com/*"
        );
        let trust = Trust::from_policy(file);
        assert!(trust.must_verify(&reference("registry.example.com/team/x:1")));
        assert!(!trust.must_verify(&reference("registry.example.com/acme/x:1")));
        assert!(!trust.must_verify(&reference("localhost:5000/x:1")));
    }

    #[test]
    fn scopes_are_checked() {
        for good in ["*", "h/*", "h:5000/a/b/*", "h/a/b"] {
            assert!(check_scope(good).is_ok(), "{good}");
        }
        for bad in ["", "h/*/x", "h/a*", "*/x", "h//a", "/*", "h/a b"] {
            assert!(check_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_added_once_removed_and_saved_privately() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = TrustFile::load(dir.path()).unwrap();
        let key = SigningKey::generate().public_key();
        assert!(file.add("localhost:5000/*", &key, true).unwrap());
        assert!(!file.add("localhost:5000/*", &key, false).unwrap());
        file.save().unwrap();
        let loaded = TrustFile::load(dir.path()).unwrap();
        assert_eq!(loaded.policy, file.policy);
        let scope = loaded.scope_for(&reference("localhost:5000/a:1")).unwrap();
        assert!(scope.require);
        assert_eq!(loaded.keys_of(scope).unwrap(), vec![key.clone()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&loaded.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut loaded = loaded;
        loaded.remove("localhost:5000/*", Some(key.id())).unwrap();
        assert!(loaded.remove("localhost:5000/*", Some(key.id())).is_err());
        loaded.remove("localhost:5000/*", None).unwrap();
        assert!(loaded.policy.scopes.is_empty());
    }
}
