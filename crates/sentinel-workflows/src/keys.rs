//! Signing keys on disk: `keys/NAME.key` (the private key, PKCS#8 PEM, mode
//! 0600, encrypted when it has a passphrase) and `keys/NAME.pub` (the public
//! key, SPKI PEM) in the agent configuration directory.
//!
//! A new key never replaces an existing one unless asked: the private key is
//! written to a temporary file and hard-linked to its name, which fails when
//! the name exists, so two `agent key generate` at once cannot both win.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sentinel_durable::{FileMode, TempPath, replace_file, unique_temp_path};
use sentinel_signature::{KeyError, KeyId, PublicKey, SigningKey};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Result, WorkflowError};

/// The directory of keys, inside the agent configuration directory.
pub const KEYS_DIR: &str = "keys";
/// The key used when none is named.
pub const DEFAULT_KEY_NAME: &str = "default";
/// The private key's file extension.
const PRIVATE_SUFFIX: &str = ".key";
/// The public key's file extension.
const PUBLIC_SUFFIX: &str = ".pub";
/// The PEM label of an encrypted PKCS#8 private key.
const ENCRYPTED_LABEL: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
/// The longest key name.
const MAX_NAME_LEN: usize = 64;
/// The largest key file read (a PEM key is a few hundred bytes).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The keys of one configuration directory.
#[derive(Debug, Clone)]
pub struct KeyDirectory {
    dir: PathBuf,
}

/// A key pair just written.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedKey {
    /// The key's name.
    pub name: String,
    /// Its key id.
    pub key_id: KeyId,
    /// The private key file.
    pub private_path: PathBuf,
    /// The public key file.
    pub public_path: PathBuf,
    /// Whether the private key is encrypted with a passphrase.
    pub encrypted: bool,
}

/// A key pair found in the directory, as `agent key list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry {
    /// The key's name (the file name without `.key`).
    pub name: String,
    /// Its key id, from the public key (`None` when `NAME.pub` is missing
    /// or unreadable).
    pub key_id: Option<KeyId>,
    /// Whether the private key is encrypted.
    pub encrypted: bool,
    /// When the private key file was written (RFC 3339, UTC).
    pub created: Option<String>,
    /// The private key file.
    pub private_path: PathBuf,
}

impl KeyDirectory {
    /// The keys under `config_dir/keys`.
    pub fn new(config_dir: &Path) -> KeyDirectory {
        KeyDirectory {
            dir: config_dir.join(KEYS_DIR),
        }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The private key file of `name`.
    pub fn private_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{PRIVATE_SUFFIX}"))
    }

    /// The public key file of `name`.
    pub fn public_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{PUBLIC_SUFFIX}"))
    }

    /// Generates an ed25519 key pair named `name`, the private key encrypted
    /// with `passphrase` when given. An existing key of that name is
    /// refused unless `force`.
    pub fn generate(
        &self,
        name: &str,
        passphrase: Option<&str>,
        force: bool,
    ) -> Result<GeneratedKey> {
        check_name(name)?;
        let private_path = self.private_path(name);
        let public_path = self.public_path(name);
        if !force {
            // Either half is someone's: a `.pub` without its `.key` (a
            // colleague's public key kept here) is not replaced either.
            for path in [&private_path, &public_path] {
                if path.exists() {
                    return Err(exists(name, path));
                }
            }
        }
        sentinel_durable::create_dir_durably(&self.dir).map_err(|source| WorkflowError::Open {
            path: self.dir.clone(),
            source,
        })?;
        restrict_dir(&self.dir)?;
        let key = SigningKey::generate();
        let private_pem = key
            .to_pem(passphrase)
            .map_err(|source| WorkflowError::Key {
                path: private_path.clone(),
                source,
            })?;
        let public_pem = key.public_key().to_pem();
        let temp = TempPath::new(unique_temp_path(&self.dir, ".key.", ".tmp"));
        if force {
            replace_file(
                temp,
                &private_path,
                private_pem.as_bytes(),
                FileMode::OwnerOnly,
            )?;
        } else {
            write_new(temp, &private_path, private_pem.as_bytes(), name)?;
        }
        let temp = TempPath::new(unique_temp_path(&self.dir, ".pub.", ".tmp"));
        if force {
            replace_file(
                temp,
                &public_path,
                public_pem.as_bytes(),
                FileMode::OwnerOnly,
            )?;
        } else if let Err(error) = write_new(temp, &public_path, public_pem.as_bytes(), name) {
            // The `.pub` appeared meanwhile: no half pair is left behind.
            let _ = std::fs::remove_file(&private_path);
            return Err(error);
        }
        Ok(GeneratedKey {
            name: name.to_string(),
            key_id: key.id().clone(),
            private_path,
            public_path,
            encrypted: passphrase.is_some(),
        })
    }

    /// Every key pair in the directory, by name.
    pub fn list(&self) -> Result<Vec<KeyEntry>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(WorkflowError::Open {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut keys = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(PRIVATE_SUFFIX) else {
                continue;
            };
            if check_name(name).is_err() {
                continue;
            }
            let private_path = entry.path();
            let encrypted = read_small(&private_path)
                .map(|text| text.contains(ENCRYPTED_LABEL))
                .unwrap_or(false);
            let key_id = read_small(&self.public_path(name))
                .ok()
                .and_then(|pem| PublicKey::from_pem(&pem).ok())
                .map(|key| key.id().clone());
            let created = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .map(rfc3339);
            keys.push(KeyEntry {
                name: name.to_string(),
                key_id,
                encrypted,
                created,
                private_path,
            });
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    /// The public key of `name` as SPKI PEM.
    pub fn public_pem(&self, name: &str) -> Result<String> {
        check_name(name)?;
        let path = self.public_path(name);
        let pem = read_key_file(&path, name)?;
        let key = PublicKey::from_pem(&pem).map_err(|source| WorkflowError::Key {
            path: path.clone(),
            source,
        })?;
        Ok(key.to_pem())
    }

    /// The signing key `spec` names: a file when it names one (a path with
    /// a `/`, or an existing file), else `keys/<spec>.key`. An encrypted
    /// key asks `passphrase` for its passphrase; `None` from it leaves the
    /// key locked (an error saying so).
    pub fn load_signing_key(
        &self,
        spec: &str,
        passphrase: impl FnOnce() -> Option<Zeroizing<String>>,
    ) -> Result<SigningKey> {
        let path = self.key_path(spec)?;
        let pem = Zeroizing::new(read_key_file(&path, spec)?);
        let key_error = |source| WorkflowError::Key {
            path: path.clone(),
            source,
        };
        match SigningKey::from_pem(&pem, None) {
            Err(KeyError::Encrypted) => match passphrase() {
                Some(passphrase) => {
                    SigningKey::from_pem(&pem, Some(&passphrase)).map_err(key_error)
                }
                None => Err(key_error(KeyError::Encrypted)),
            },
            other => other.map_err(key_error),
        }
    }

    /// Whether the key `spec` names is encrypted (so a passphrase is needed).
    pub fn is_encrypted(&self, spec: &str) -> Result<bool> {
        let path = self.key_path(spec)?;
        Ok(read_key_file(&path, spec)?.contains(ENCRYPTED_LABEL))
    }

    /// The private key file `spec` names.
    fn key_path(&self, spec: &str) -> Result<PathBuf> {
        let as_path = Path::new(spec);
        if spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) || as_path.is_file() {
            return Ok(as_path.to_path_buf());
        }
        check_name(spec)?;
        Ok(self.private_path(spec))
    }
}

/// Reads a public key file (SPKI PEM): a trusted key given with `--key` or
/// `agent trust add`.
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let text = read_small(path).map_err(|source| WorkflowError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    PublicKey::from_pem(&text).map_err(|source| WorkflowError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses a key name that is not a plain file name: lowercase letters,
/// digits, `.`, `_` and `-`, starting with a letter or digit.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(WorkflowError::Usage(format!(
            "invalid key name {name:?}: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most {MAX_NAME_LEN} characters"
        )))
    }
}

fn exists(name: &str, path: &Path) -> WorkflowError {
    WorkflowError::Usage(format!(
        "a key named {name:?} exists ({}); choose another --name, or replace it with --force",
        path.display()
    ))
}

/// Writes `bytes` to `temp` (0600) and links it to `target`, failing when
/// `target` exists.
fn write_new(temp: TempPath, target: &Path, bytes: &[u8], name: &str) -> Result<()> {
    use std::io::Write as _;
    let open = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkflowError::Open { path, source }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(temp.path()).map_err(open(temp.path()))?;
    file.write_all(bytes).map_err(open(temp.path()))?;
    file.sync_all().map_err(open(temp.path()))?;
    drop(file);
    match std::fs::hard_link(temp.path(), target) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(exists(name, target));
        }
        Err(source) => return Err(open(target)(source)),
    }
    drop(temp);
    let dir = sentinel_durable::parent_dir(target);
    sentinel_durable::sync_dir(dir).map_err(open(dir))
}

/// Makes the keys directory readable by its owner only.
fn restrict_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| WorkflowError::Open {
                path: dir.to_path_buf(),
                source,
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A key file's text; a missing file names the key.
fn read_key_file(path: &Path, spec: &str) -> Result<String> {
    match read_small(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(WorkflowError::NotFound(format!(
                "no key {spec:?} ({} does not exist); create one with agent key generate",
                path.display()
            )))
        }
        Err(source) => Err(WorkflowError::Open {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A small text file, refusing one larger than a key file can be.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than a key file can be",
        ));
    }
    Ok(text)
}

/// `time` as RFC 3339 UTC, whole seconds.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_generated_listed_exported_and_not_clobbered() {
        let config = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(config.path());
        assert!(keys.list().unwrap().is_empty());
        let made = keys.generate("default", None, false).unwrap();
        assert!(!made.encrypted);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&made.private_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let error = keys.generate("default", None, false).unwrap_err();
        assert!(error.to_string().contains("--force"), "{error}");
        let listed = keys.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key_id.as_ref(), Some(&made.key_id));
        let pem = keys.public_pem("default").unwrap();
        assert_eq!(PublicKey::from_pem(&pem).unwrap().id(), &made.key_id);
        let loaded = keys.load_signing_key("default", || None).unwrap();
        assert_eq!(loaded.id(), &made.key_id);
        let again = keys.generate("default", None, true).unwrap();
        assert_ne!(again.key_id, made.key_id);
        assert_eq!(std::fs::read_dir(keys.dir()).unwrap().count(), 2);
    }

    #[test]
    fn a_public_key_alone_is_not_clobbered_either() {
        let config = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(config.path());
        std::fs::create_dir_all(keys.dir()).unwrap();
        let colleague = SigningKey::generate().public_key().to_pem();
        std::fs::write(keys.public_path("release"), &colleague).unwrap();
        let error = keys.generate("release", None, false).unwrap_err();
        assert!(error.to_string().contains("--force"), "{error}");
        assert_eq!(
            std::fs::read_to_string(keys.public_path("release")).unwrap(),
            colleague
        );
        assert!(!keys.private_path("release").exists());
        keys.generate("release", None, true).unwrap();
        assert_ne!(
            std::fs::read_to_string(keys.public_path("release")).unwrap(),
            colleague
        );
    }

    #[test]
    fn an_encrypted_key_needs_its_passphrase() {
        let config = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(config.path());
        let made = keys.generate("ci", Some("correct horse"), false).unwrap();
        assert!(made.encrypted && keys.is_encrypted("ci").unwrap());
        assert!(keys.list().unwrap()[0].encrypted);
        let locked = keys.load_signing_key("ci", || None).unwrap_err();
        assert!(matches!(
            locked,
            WorkflowError::Key {
                source: KeyError::Encrypted,
                ..
            }
        ));
        let wrong = keys
            .load_signing_key("ci", || Some(Zeroizing::new("wrong".into())))
            .unwrap_err();
        assert!(matches!(
            wrong,
            WorkflowError::Key {
                source: KeyError::WrongPassphrase,
                ..
            }
        ));
        let key = keys
            .load_signing_key("ci", || Some(Zeroizing::new("correct horse".into())))
            .unwrap();
        assert_eq!(key.id(), &made.key_id);
    }

    #[test]
    fn names_are_file_names() {
        for bad in ["", "../x", "a/b", "Upper", ".hidden", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["default", "ci-2026", "team.release_1"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
