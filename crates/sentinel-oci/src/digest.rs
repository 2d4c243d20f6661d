//! Content digests (`algorithm:encoded`) and the streaming hasher that makes them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256, Sha512};

/// A hash algorithm a registry can verify content with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, the algorithm every OCI implementation supports.
    Sha256,
    /// SHA-512, registered by the OCI image spec.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written in a digest (`sha256`, `sha512`).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// The length of the hex-encoded hash.
    pub fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a digest this registry accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string does not follow the `algorithm:encoded` grammar.
    #[error("invalid digest {0:?}: expected algorithm:encoded, e.g. sha256:<64 hex digits>")]
    Malformed(String),
    /// The algorithm is well-formed but not one this registry verifies.
    #[error("unsupported digest algorithm {0:?}: use sha256 or sha512")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or characters for its algorithm.
    #[error("invalid {algorithm} digest {digest:?}: expected {expected} lowercase hex digits")]
    BadEncoding {
        /// The algorithm named by the digest.
        algorithm: DigestAlgorithm,
        /// The digest as given.
        digest: String,
        /// The number of hex digits the algorithm needs.
        expected: usize,
    },
}

/// A verified-syntax content digest such as `sha256:e3b0c442...`.
///
/// Only `sha256` and `sha512` are accepted, with lowercase hex of the exact
/// length, so two equal digests always have equal strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    text: String,
}

impl Digest {
    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
        let mut digester = Digester::new(algorithm);
        digester.update(bytes);
        digester.finish()
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::of(DigestAlgorithm::Sha256, bytes)
    }

    /// The sha256 digest whose hash is `hash` (the raw 32 bytes, as a
    /// compact copy of a digest keeps them).
    pub fn from_sha256_hash(hash: &[u8; 32]) -> Digest {
        Digest::from_hash(DigestAlgorithm::Sha256, hash)
    }

    fn from_hash(algorithm: DigestAlgorithm, hash: &[u8]) -> Digest {
        Digest {
            algorithm,
            text: format!("{}:{}", algorithm.as_str(), hex::encode(hash)),
        }
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex-encoded hash, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole digest, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `algorithm-component ::= [a-z0-9]+`, joined by `[+._-]`.
fn is_valid_algorithm(algorithm: &str) -> bool {
    !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// `encoded ::= [a-zA-Z0-9=_-]+`.
fn is_valid_encoded(encoded: &str) -> bool {
    !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (algorithm, encoded) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(s.to_owned()))?;
        if !is_valid_algorithm(algorithm) || !is_valid_encoded(encoded) {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        let algorithm = match algorithm {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        };
        let hex_ok = encoded.len() == algorithm.hex_len()
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::BadEncoding {
                algorithm,
                digest: s.to_owned(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest {
            algorithm,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher whose state can be saved and restored, so that an
/// upload interrupted by a restart continues hashing where it stopped.
#[derive(Clone)]
pub enum Digester {
    /// A SHA-256 state.
    Sha256(Sha256),
    /// A SHA-512 state.
    Sha512(Sha512),
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digester({})", self.algorithm())
    }
}

impl Digester {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Digester::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => Digester::Sha512(Sha512::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Digester::Sha256(_) => DigestAlgorithm::Sha256,
            Digester::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    /// Feeds `bytes` into the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Digester::Sha256(h) => h.update(bytes),
            Digester::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        match self {
            Digester::Sha256(h) => Digest::from_hash(DigestAlgorithm::Sha256, &h.finalize()),
            Digester::Sha512(h) => Digest::from_hash(DigestAlgorithm::Sha512, &h.finalize()),
        }
    }

    /// The hasher's internal state as bytes, for [`Digester::restore`].
    pub fn save(&self) -> Vec<u8> {
        match self {
            Digester::Sha256(h) => h.serialize().to_vec(),
            Digester::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// Rebuilds a hasher from [`Digester::save`]'s bytes; `None` if they are not a valid state.
    pub fn restore(algorithm: DigestAlgorithm, state: &[u8]) -> Option<Self> {
        match algorithm {
            DigestAlgorithm::Sha256 => {
                let state = state.try_into().ok()?;
                Sha256::deserialize(state).ok().map(Digester::Sha256)
            }
            DigestAlgorithm::Sha512 => {
                let state = state.try_into().ok()?;
                Sha512::deserialize(state).ok().map(Digester::Sha512)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_known_vectors() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
        assert_eq!(
            Digest::of(DigestAlgorithm::Sha512, b"abc").hex(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn parses_and_displays_round_trip() {
        let digest: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(digest.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(digest.to_string(), EMPTY_SHA256);
        assert_eq!(digest.hex().len(), 64);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "SHA256:abc",
            "sha256:a b",
            "sha256$x:0",
        ] {
            assert!(
                matches!(bad.parse::<Digest>(), Err(DigestError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_wrong_length_or_case() {
        let upper = EMPTY_SHA256.to_uppercase().replace("SHA256", "sha256");
        let short = &EMPTY_SHA256[..EMPTY_SHA256.len() - 1];
        for bad in [upper.as_str(), short] {
            assert!(
                matches!(bad.parse::<Digest>(), Err(DigestError::BadEncoding { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_unknown_algorithms() {
        assert_eq!(
            "md5:d41d8cd98f00b204e9800998ecf8427e".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm("md5".into()))
        );
    }

    #[test]
    fn saved_state_continues_the_same_hash() {
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let mut first = Digester::new(algorithm);
            first.update(&data[..3_333]);
            let saved = first.save();
            let mut resumed = Digester::restore(algorithm, &saved).unwrap();
            resumed.update(&data[3_333..]);
            assert_eq!(resumed.finish(), Digest::of(algorithm, &data));
        }
    }

    #[test]
    fn restore_refuses_garbage() {
        assert!(Digester::restore(DigestAlgorithm::Sha256, b"nope").is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_split_of_the_input_hashes_the_same(data: Vec<u8>, cut in 0usize..1000) {
            let cut = cut.min(data.len());
            let mut digester = Digester::new(DigestAlgorithm::Sha256);
            digester.update(&data[..cut]);
            let mut digester = Digester::restore(DigestAlgorithm::Sha256, &digester.save()).unwrap();
            digester.update(&data[cut..]);
            proptest::prop_assert_eq!(digester.finish(), Digest::sha256(&data));
        }

        #[test]
        fn parsing_never_panics(s in ".*") {
            let _ = s.parse::<Digest>();
        }
    }
}
