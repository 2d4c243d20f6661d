//! The signature of a delivery.
//!
//! Each delivery carries the headers [`TIMESTAMP_HEADER`] (the Unix time
//! in seconds when it was sent) and [`SIGNATURE_HEADER`]:
//! `sha256=` followed by the lowercase hex HMAC-SHA256, keyed with the
//! webhook's secret (its UTF-8 bytes), of the timestamp, a `.`, and the
//! exact body bytes. A receiver recomputes it, compares in constant time,
//! and refuses timestamps too far from its clock, so a captured delivery
//! cannot be replayed later. [`ID_HEADER`] carries the event id (the same
//! in every retry).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `X-Sentinel-Signature: sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-sentinel-signature";
/// `X-Sentinel-Timestamp: <unix seconds>`, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "x-sentinel-timestamp";
/// `webhook-id: <event id>`.
pub const ID_HEADER: &str = "webhook-id";
/// `X-Sentinel-Event: <event type>`.
pub const EVENT_HEADER: &str = "x-sentinel-event";

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` sent at `timestamp`
/// (compared in constant time).
pub fn verify(secret: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        // Computed independently with Python:
        // hmac.new(b"key", b"1700000000.{}", "sha256").hexdigest()
        let header = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            header,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert!(verify("key", 1_700_000_000, b"{}", &header));
        assert!(!verify("key", 1_700_000_001, b"{}", &header));
        assert!(!verify("key", 1_700_000_000, b"{ }", &header));
        assert!(!verify("other", 1_700_000_000, b"{}", &header));
        assert!(!verify("key", 1_700_000_000, b"{}", "md5=00"));
    }
}
