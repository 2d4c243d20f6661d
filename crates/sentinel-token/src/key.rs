//! The Ed25519 key that signs tokens, and its file.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::error::TokenError;

/// The DER bytes that precede a 32-byte seed in a PKCS#8 v1 Ed25519 private
/// key (RFC 8410, section 7).
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 token signing key, with its key id (`kid`).
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> SigningKey {
        // The operating system's random source failing is not recoverable:
        // UnwrapErr panics then, as uuid and every other user of it would.
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        SigningKey::from_dalek(ed25519_dalek::SigningKey::generate(&mut rng))
    }

    /// Loads the PKCS#8 PEM private key at `path`, or, if there is no file,
    /// creates one (mode 0600, written atomically) holding a fresh key. If
    /// another process creates the file first, its key is used.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, TokenError> {
        let key_error = |source: io::Error| TokenError::Key {
            path: path.to_owned(),
            source,
        };
        match fs::read_to_string(path) {
            Ok(pem) => parse_pem(&pem).map_err(key_error),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let key = SigningKey::generate();
                match write_new_key_file(path, &key.inner) {
                    Ok(()) => Ok(key),
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                        let pem = fs::read_to_string(path).map_err(key_error)?;
                        parse_pem(&pem).map_err(key_error)
                    }
                    Err(err) => Err(key_error(err)),
                }
            }
            Err(err) => Err(key_error(err)),
        }
    }

    fn from_dalek(inner: ed25519_dalek::SigningKey) -> SigningKey {
        let public = inner.verifying_key().to_bytes();
        let kid = hex::encode(&Sha256::digest(public)[..20]);
        let mut pkcs8 = Vec::with_capacity(PKCS8_V1_PREFIX.len() + 32);
        pkcs8.extend_from_slice(&PKCS8_V1_PREFIX);
        pkcs8.extend_from_slice(&inner.to_bytes());
        SigningKey {
            kid,
            encoding: EncodingKey::from_ed_der(&pkcs8),
            decoding: DecodingKey::from_ed_der(&public),
            inner,
        }
    }

    /// The key id: hex of the first 20 bytes of the SHA-256 of the public
    /// key. Stable for a key, and carried in every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.inner.verifying_key().to_bytes()
    }

    /// The public key as a JSON Web Key, for a JWKS endpoint.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn parse_pem(pem: &str) -> io::Result<SigningKey> {
    ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
        .map(SigningKey::from_dalek)
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is not a PKCS#8 PEM Ed25519 private key",
            )
        })
}

/// Writes the key to a temporary file beside `path` (mode 0600), syncs it
/// and moves it into place without replacing an existing file.
fn write_new_key_file(path: &Path, key: &ed25519_dalek::SigningKey) -> io::Result<()> {
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the key could not be encoded as PKCS#8",
        )
    })?;
    let dir = sentinel_durable::parent_dir(path);
    fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".signing-key")
        .tempfile_in(dir)?;
    restrict_to_owner(file.as_file())?;
    file.write_all(pem.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|err| err.error)?;
    sentinel_durable::sync_dir(dir)
}

#[cfg(unix)]
fn restrict_to_owner(file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_to_owner(_file: &fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_file_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("token.pem");
        let created = SigningKey::load_or_create(&path).unwrap();
        let pem = fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let reloaded = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(created.kid(), reloaded.kid());
        assert_eq!(created.public_key_bytes(), reloaded.public_key_bytes());
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "only the key file remains");
    }

    #[test]
    fn loads_a_pkcs8_v1_key_as_openssl_writes_it() {
        let seed = [7u8; 32];
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openssl.pem");
        fs::write(&path, pem).unwrap();
        let loaded = SigningKey::load_or_create(&path).unwrap();
        let expected = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        assert_eq!(loaded.public_key_bytes(), expected.to_bytes());
    }

    #[test]
    fn a_garbled_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.pem");
        fs::write(&path, "not a key").unwrap();
        let err = SigningKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, TokenError::Key { .. }));
        assert!(err.to_string().contains("token.pem"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[test]
    fn kid_and_jwk_describe_the_public_key() {
        let key = SigningKey::generate();
        assert_eq!(key.kid().len(), 40);
        assert_ne!(key.kid(), SigningKey::generate().kid());
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["kid"], key.kid());
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x, key.public_key_bytes());
        assert!(!format!("{key:?}").contains(&hex::encode(key.inner.to_bytes())));
    }
}
