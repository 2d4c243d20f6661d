//! Ed25519 keys: their ids, and their PEM forms (SPKI for public keys,
//! PKCS#8 for private keys, optionally encrypted with a passphrase).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::KeypairBytes;
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Document, SecretDocument};
use pkcs8::spki::{DecodePublicKey, EncodePublicKey, SubjectPublicKeyInfoRef};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The PEM label of a public key (SPKI, RFC 5280 and RFC 8410).
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
/// The PEM label of an unencrypted PKCS#8 private key (RFC 5208, RFC 8410).
const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
/// The PEM label of an encrypted PKCS#8 private key (RFC 5208, RFC 5958).
const ENCRYPTED_PRIVATE_KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";
/// What every key id starts with.
const KEY_ID_PREFIX: &str = "ed25519:";
/// How many hex digits of the SHA-256 follow the prefix.
const KEY_ID_HEX_LEN: usize = 16;

/// Why a key or a key id could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM.
    #[error("not a PEM key: {0}")]
    NotPem(String),
    /// PEM of another kind than the one expected (e.g. an OpenSSH key).
    #[error("a PEM \"{found}\" block where {expected} was expected")]
    UnexpectedPem {
        /// The label found.
        found: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// An encrypted private key, and no passphrase.
    #[error("the key is encrypted: give its passphrase")]
    Encrypted,
    /// An unencrypted private key, and a passphrase. Refused rather than
    /// ignored: whoever gives a passphrase believes the key file is
    /// protected, and it is not.
    #[error("the key is not encrypted, but a passphrase was given: give none, or encrypt the key")]
    NotEncrypted,
    /// An encrypted private key that does not decrypt with the passphrase.
    #[error("wrong passphrase or damaged key")]
    WrongPassphrase,
    /// An empty passphrase to encrypt with.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// A well-formed key of another algorithm.
    #[error("not an ed25519 key")]
    NotEd25519,
    /// A key of the right kind whose content is invalid.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// The key could not be encoded or encrypted.
    #[error("could not encode the key: {0}")]
    Encode(String),
    /// Text that is not a key id.
    #[error("invalid key id {0:?}: expected \"ed25519:\" and 16 lowercase hex digits")]
    InvalidKeyId(String),
}

/// The id of an ed25519 key: `ed25519:` followed by the first 16 lowercase
/// hex digits (8 bytes) of the SHA-256 of the key's DER-encoded
/// SubjectPublicKeyInfo (the 44 bytes `302a300506032b6570032100` followed by
/// the 32-byte public key), e.g. `ed25519:9a8b7c6d5e4f3a2b`.
///
/// The same for a key wherever it is stored; carried as `keyid` in envelope
/// signatures and in the signature manifest's annotations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The id of the key whose SubjectPublicKeyInfo DER is `spki_der`.
    fn of_spki_der(spki_der: &[u8]) -> KeyId {
        let hash = Sha256::digest(spki_der);
        let hex = hex::encode(&hash[..KEY_ID_HEX_LEN / 2]);
        KeyId(format!("{KEY_ID_PREFIX}{hex}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<KeyId, KeyError> {
        let valid = text.strip_prefix(KEY_ID_PREFIX).is_some_and(|hex| {
            hex.len() == KEY_ID_HEX_LEN
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(KeyId(text.to_owned()))
        } else {
            Err(KeyError::InvalidKeyId(text.to_owned()))
        }
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 public key, which verifies signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    fn from_dalek(inner: ed25519_dalek::VerifyingKey) -> PublicKey {
        let id = match inner.to_public_key_der() {
            Ok(der) => KeyId::of_spki_der(der.as_bytes()),
            // Encoding 32 bytes into a fixed structure cannot fail; should it
            // ever, the id is still derived from the same SPKI bytes.
            Err(_) => {
                let mut der = SPKI_PREFIX.to_vec();
                der.extend_from_slice(inner.as_bytes());
                KeyId::of_spki_der(&der)
            }
        };
        PublicKey { inner, id }
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// Reads a `PUBLIC KEY` PEM block (SubjectPublicKeyInfo, as
    /// `openssl pkey -pubout` writes it).
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let label = pkcs8::der::pem::decode_label(pem.as_bytes())
            .map_err(|e| KeyError::NotPem(e.to_string()))?;
        if label != PUBLIC_KEY_LABEL {
            return Err(KeyError::UnexpectedPem {
                found: label.to_owned(),
                expected: "a \"PUBLIC KEY\" (SPKI) block",
            });
        }
        let (_, der) = Document::from_pem(pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let spki = SubjectPublicKeyInfoRef::try_from(der.as_bytes())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        if spki.algorithm.oid != ed25519_dalek::pkcs8::ALGORITHM_OID {
            return Err(KeyError::NotEd25519);
        }
        let inner = ed25519_dalek::VerifyingKey::from_public_key_der(der.as_bytes())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(PublicKey::from_dalek(inner))
    }

    /// The key as a `PUBLIC KEY` PEM block (SubjectPublicKeyInfo), LF line
    /// endings.
    pub fn to_pem(&self) -> String {
        match self.inner.to_public_key_pem(LineEnding::LF) {
            Ok(pem) => pem,
            // Unreachable for a 32-byte key; the same bytes, encoded by hand.
            Err(_) => {
                use base64::Engine as _;
                let mut der = SPKI_PREFIX.to_vec();
                der.extend_from_slice(self.inner.as_bytes());
                let body = base64::engine::general_purpose::STANDARD.encode(der);
                format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
            }
        }
    }

    /// Whether `signature` is this key's signature of `message` (strict
    /// RFC 8032 verification: no malleable signatures, no weak keys).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.inner.verify_strict(message, &signature).is_ok()
    }
}

/// The DER bytes that precede the 32-byte key in an ed25519
/// SubjectPublicKeyInfo (RFC 8410, section 4).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// An ed25519 private key, which signs. Its secret is wiped from memory when
/// it is dropped, and never printed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    fn from_dalek(inner: ed25519_dalek::SigningKey) -> SigningKey {
        let public = PublicKey::from_dalek(inner.verifying_key());
        SigningKey { inner, public }
    }

    /// A fresh random key from the operating system's random source.
    pub fn generate() -> SigningKey {
        // The operating system's random source failing is not recoverable:
        // UnwrapErr panics then, as every other user of it would.
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        SigningKey::from_dalek(ed25519_dalek::SigningKey::generate(&mut rng))
    }

    /// The id of the key (that of its public key).
    pub fn id(&self) -> &KeyId {
        self.public.id()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The key as PEM: a PKCS#8 v1 `PRIVATE KEY` block (RFC 8410, as
    /// `openssl genpkey -algorithm ed25519` writes it), or with a passphrase
    /// an `ENCRYPTED PRIVATE KEY` block: PKCS#8 encrypted with PBES2, scrypt
    /// (N = 2^14, r = 8, p = 1, 16-byte random salt) and AES-256-CBC, which
    /// OpenSSL 3 reads. An empty passphrase is refused.
    pub fn to_pem(&self, passphrase: Option<&str>) -> Result<Zeroizing<String>, KeyError> {
        let keypair = KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        };
        let der = keypair
            .to_pkcs8_der()
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let Some(passphrase) = passphrase else {
            return der
                .to_pem(PRIVATE_KEY_LABEL, LineEnding::LF)
                .map_err(|e| KeyError::Encode(e.to_string()));
        };
        if passphrase.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let info = PrivateKeyInfoRef::try_from(der.as_bytes())
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let encrypted = info
            .encrypt(passphrase.as_bytes())
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        encrypted
            .to_pem(ENCRYPTED_PRIVATE_KEY_LABEL, LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Reads a private key from PEM: `PRIVATE KEY` (PKCS#8 v1 or v2) without
    /// a passphrase, or `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2: scrypt or
    /// PBKDF2, AES-CBC; what this crate and `openssl pkcs8 -topk8 -v2 aes256`
    /// write) with its passphrase.
    ///
    /// A passphrase given for an unencrypted key is an error
    /// ([`KeyError::NotEncrypted`]), not ignored: the user believes the file
    /// is protected.
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<SigningKey, KeyError> {
        let label = pkcs8::der::pem::decode_label(pem.as_bytes())
            .map_err(|e| KeyError::NotPem(e.to_string()))?;
        if label != PRIVATE_KEY_LABEL && label != ENCRYPTED_PRIVATE_KEY_LABEL {
            let expected = if label == PUBLIC_KEY_LABEL {
                "a private key (this is a public key)"
            } else {
                "a \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\" (PKCS#8) block"
            };
            return Err(KeyError::UnexpectedPem {
                found: label.to_owned(),
                expected,
            });
        }
        let (label, der) =
            SecretDocument::from_pem(pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        match (label, passphrase) {
            (PRIVATE_KEY_LABEL, None) => SigningKey::from_pkcs8_der(der.as_bytes()),
            (PRIVATE_KEY_LABEL, Some(_)) => Err(KeyError::NotEncrypted),
            (ENCRYPTED_PRIVATE_KEY_LABEL, None) => Err(KeyError::Encrypted),
            (ENCRYPTED_PRIVATE_KEY_LABEL, Some(passphrase)) => {
                let encrypted = EncryptedPrivateKeyInfoRef::try_from(der.as_bytes())
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                let plain = encrypted
                    .decrypt(passphrase.as_bytes())
                    .map_err(|_| KeyError::WrongPassphrase)?;
                // Padding that happens to check out under a wrong passphrase
                // leaves garbage that is not a PKCS#8 structure.
                match SigningKey::from_pkcs8_der(plain.as_bytes()) {
                    Err(KeyError::Invalid(_)) => Err(KeyError::WrongPassphrase),
                    other => other,
                }
            }
            (other, _) => Err(KeyError::UnexpectedPem {
                found: other.to_owned(),
                expected: "a \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\" (PKCS#8) block",
            }),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let info =
            PrivateKeyInfoRef::try_from(der).map_err(|e| KeyError::Invalid(e.to_string()))?;
        if info.algorithm.oid != ed25519_dalek::pkcs8::ALGORITHM_OID {
            return Err(KeyError::NotEd25519);
        }
        ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .map(SigningKey::from_dalek)
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// This key's signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret key of RFC 8032's test 1 (section 7.1).
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    /// Its public key.
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    pub(crate) fn rfc8032_key() -> SigningKey {
        let seed: [u8; 32] = hex::decode(RFC8032_SEED).unwrap().try_into().unwrap();
        SigningKey::from_dalek(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    #[test]
    fn key_id_is_a_prefix_of_the_spki_hash() {
        let key = rfc8032_key();
        let mut spki = SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&hex::decode(RFC8032_PUBLIC).unwrap());
        let hash = hex::encode(Sha256::digest(&spki));
        assert_eq!(key.id().as_str(), format!("ed25519:{}", &hash[..16]));
        assert_eq!(key.id().as_str(), "ed25519:06e3fd8fda29bb60");
        assert_eq!(key.public_key().id(), key.id());
    }

    #[test]
    fn key_ids_parse_and_serialise_as_strings() {
        let id: KeyId = "ed25519:0123456789abcdef".parse().unwrap();
        assert_eq!(id.to_string(), "ed25519:0123456789abcdef");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"ed25519:0123456789abcdef\""
        );
        let back: KeyId = serde_json::from_str("\"ed25519:0123456789abcdef\"").unwrap();
        assert_eq!(back, id);
        for bad in [
            "",
            "ed25519:",
            "ed25519:0123456789ABCDEF",
            "ed25519:0123456789abcde",
            "ed25519:0123456789abcdef0",
            "rsa:0123456789abcdef",
            "ed25519:0123456789abcdeg",
        ] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad:?}");
            assert!(serde_json::from_str::<KeyId>(&format!("{bad:?}")).is_err());
        }
    }

    #[test]
    fn public_keys_round_trip_through_pem() {
        let key = SigningKey::generate();
        let pem = key.public_key().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let back = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(back, key.public_key());
        assert_eq!(back.id(), key.id());
    }

    #[test]
    fn private_keys_round_trip_through_pem() {
        let key = SigningKey::generate();
        let pem = key.to_pem(None).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SigningKey::from_pem(&pem, None).unwrap();
        assert_eq!(back.id(), key.id());
        assert_eq!(back.sign(b"m"), key.sign(b"m"));
    }

    #[test]
    fn the_unencrypted_pem_is_pkcs8_v1_as_openssl_writes_it() {
        let pem = rfc8032_key().to_pem(None).unwrap();
        // openssl pkey -in k.pem (RFC 8410 section 10.3's form: the seed only).
        let expected = "-----BEGIN PRIVATE KEY-----\n\
                        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
                        -----END PRIVATE KEY-----\n";
        assert_eq!(pem.as_str(), expected);
        assert_eq!(
            SigningKey::from_pem(expected, None).unwrap().id(),
            rfc8032_key().id()
        );
    }

    #[test]
    fn encrypted_keys_need_their_passphrase() {
        let key = SigningKey::generate();
        let pem = key.to_pem(Some("correct horse")).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        assert!(!pem.contains(&hex::encode(key.inner.to_bytes())));

        let back = SigningKey::from_pem(&pem, Some("correct horse")).unwrap();
        assert_eq!(back.id(), key.id());

        let err = SigningKey::from_pem(&pem, None).unwrap_err();
        assert_eq!(err, KeyError::Encrypted);
        assert_eq!(err.to_string(), "the key is encrypted: give its passphrase");

        let err = SigningKey::from_pem(&pem, Some("battery staple")).unwrap_err();
        assert_eq!(err, KeyError::WrongPassphrase);
        assert_eq!(err.to_string(), "wrong passphrase or damaged key");

        let err = SigningKey::from_pem(&pem, Some("")).unwrap_err();
        assert_eq!(err, KeyError::WrongPassphrase);
    }

    #[test]
    fn an_unencrypted_key_given_a_passphrase_is_refused() {
        let pem = SigningKey::generate().to_pem(None).unwrap();
        let err = SigningKey::from_pem(&pem, Some("secret")).unwrap_err();
        assert_eq!(err, KeyError::NotEncrypted);
    }

    #[test]
    fn an_empty_passphrase_is_refused_when_encrypting() {
        let err = SigningKey::generate().to_pem(Some("")).unwrap_err();
        assert_eq!(err, KeyError::EmptyPassphrase);
    }

    /// `openssl genpkey -algorithm ed25519 | openssl pkcs8 -topk8 -v2 aes256
    /// -passout pass:sentinel` (PBES2 with PBKDF2-HMAC-SHA256, AES-256-CBC).
    const OPENSSL_ENCRYPTED: &str = include_str!("../tests/data/openssl-pbkdf2.pem");
    /// `openssl pkcs8 -topk8 -scrypt -passout pass:sentinel` of the same key.
    const OPENSSL_SCRYPT: &str = include_str!("../tests/data/openssl-scrypt.pem");
    /// The public key of both, `openssl pkey -pubout`.
    const OPENSSL_PUBLIC: &str = include_str!("../tests/data/openssl-public.pem");

    #[test]
    fn reads_keys_that_openssl_encrypted() {
        let public = PublicKey::from_pem(OPENSSL_PUBLIC).unwrap();
        for pem in [OPENSSL_ENCRYPTED, OPENSSL_SCRYPT] {
            let key = SigningKey::from_pem(pem, Some("sentinel")).unwrap();
            assert_eq!(key.public_key(), public);
            assert_eq!(
                SigningKey::from_pem(pem, Some("other")).unwrap_err(),
                KeyError::WrongPassphrase
            );
        }
    }

    /// An EC P-256 private key and its public key (`openssl genpkey
    /// -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
    const OPENSSL_P256: &str = include_str!("../tests/data/openssl-p256.pem");
    const OPENSSL_P256_PUBLIC: &str = include_str!("../tests/data/openssl-p256-public.pem");

    #[test]
    fn other_algorithms_and_other_pem_are_named_as_such() {
        assert_eq!(
            SigningKey::from_pem(OPENSSL_P256, None).unwrap_err(),
            KeyError::NotEd25519
        );
        assert_eq!(
            PublicKey::from_pem(OPENSSL_P256_PUBLIC).unwrap_err(),
            KeyError::NotEd25519
        );
        assert!(matches!(
            SigningKey::from_pem(OPENSSL_PUBLIC, None).unwrap_err(),
            KeyError::UnexpectedPem { .. }
        ));
        let private = SigningKey::generate().to_pem(None).unwrap();
        assert!(matches!(
            PublicKey::from_pem(&private).unwrap_err(),
            KeyError::UnexpectedPem { .. }
        ));
        let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let err = SigningKey::from_pem(openssh, None).unwrap_err();
        assert!(err.to_string().contains("OPENSSH PRIVATE KEY"), "{err}");
        for junk in [
            "",
            "hello",
            "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(SigningKey::from_pem(junk, None).is_err());
            assert!(PublicKey::from_pem(junk).is_err());
        }
        let truncated = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(truncated, None).unwrap_err(),
            KeyError::Invalid(_) | KeyError::NotPem(_)
        ));
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = rfc8032_key();
        let debug = format!("{key:?}");
        assert!(debug.contains("ed25519:06e3fd8fda29bb60"), "{debug}");
        assert!(!debug.contains("9d61"), "{debug}");
        assert!(!debug.to_lowercase().contains("secret"), "{debug}");
    }
}
