//! Digests as memory keeps them: a sha256 digest (every digest in practice)
//! as its 32 raw bytes instead of 71 characters of text on the heap.

use sentinel_oci::{Digest, DigestAlgorithm};

/// A digest, compactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// A sha256 digest's hash.
    Sha256([u8; 32]),
    /// Any other digest, as text.
    Text(Box<str>),
}

impl Key {
    /// The key of `digest`.
    pub(super) fn of(digest: &Digest) -> Key {
        if digest.algorithm() == DigestAlgorithm::Sha256 {
            let hex = digest.hex().as_bytes();
            let mut bytes = [0u8; 32];
            let mut ok = hex.len() == 64;
            for (at, byte) in bytes.iter_mut().enumerate() {
                match (nibble(hex.get(2 * at)), nibble(hex.get(2 * at + 1))) {
                    (Some(high), Some(low)) => *byte = high << 4 | low,
                    _ => ok = false,
                }
            }
            if ok {
                return Key::Sha256(bytes);
            }
        }
        Key::Text(digest.as_str().into())
    }

    /// The digest again.
    pub(super) fn digest(&self) -> Digest {
        match self {
            Key::Sha256(bytes) => Digest::from_sha256_hash(bytes),
            // Invariant: made from a valid digest, so it parses back.
            Key::Text(text) => text.parse().expect("a key is made from a valid digest"),
        }
    }
}

/// The value of a lowercase hex digit.
fn nibble(digit: Option<&u8>) -> Option<u8> {
    match digit? {
        digit @ b'0'..=b'9' => Some(digit - b'0'),
        digit @ b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_give_their_digests_back() {
        let sha256 = Digest::sha256(b"x");
        assert!(matches!(Key::of(&sha256), Key::Sha256(_)));
        assert_eq!(Key::of(&sha256).digest(), sha256);
        let sha512 = Digest::of(DigestAlgorithm::Sha512, b"x");
        assert!(matches!(Key::of(&sha512), Key::Text(_)));
        assert_eq!(Key::of(&sha512).digest(), sha512);
        assert_ne!(Key::of(&sha256), Key::of(&Digest::sha256(b"y")));
    }
}
