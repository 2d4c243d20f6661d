//! Fuzzes the signature envelope: `Envelope::parse`, `statement()` and
//! `verify` against a fixed trusted key (RFC 8032's test 1 key) and another.
//!
//! Nothing may panic. An envelope that parses must write back as JSON that
//! parses to the same envelope (when that JSON is within the size cap); a
//! statement that parses must serialise back to itself; a verified envelope
//! must name only trusted signers, sorted and distinct, and its statement
//! must be the one `statement()` reads, about its own subject. The input is
//! also signed as a payload with the trusted key: that envelope verifies
//! exactly when its payload is a valid statement.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sentinel_signature::{
    Envelope, MAX_ENVELOPE_BYTES, PAYLOAD_TYPE, PublicKey, SigningKey, VerifyError, verify_subject,
};

/// RFC 8032's test 1 key (its seed `9d61b19d...`).
const SIGNING_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
                           MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
                           -----END PRIVATE KEY-----\n";
/// Another trusted key (RFC 8032's test 2 public key).
const OTHER_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
                                MCowBQYDK2VwAyEAPUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=\n\
                                -----END PUBLIC KEY-----\n";

struct Keys {
    signing: SigningKey,
    trusted: Vec<PublicKey>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing = SigningKey::from_pem(SIGNING_PEM, None).expect("the fixed key");
        let other = PublicKey::from_pem(OTHER_PUBLIC_PEM).expect("the other key");
        let trusted = vec![other, signing.public_key()];
        Keys { signing, trusted }
    })
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    check_parsed(data, &keys.trusted);
    check_signed_payload(data, keys);
});

/// `data` as an envelope.
fn check_parsed(data: &[u8], trusted: &[PublicKey]) {
    let Ok(envelope) = Envelope::parse(data) else {
        return;
    };
    let json = envelope.to_json();
    if json.len() <= MAX_ENVELOPE_BYTES {
        let again = Envelope::parse(&json).expect("an envelope's own JSON parses");
        assert_eq!(again, envelope, "the JSON round trip changed the envelope");
    }
    let statement = envelope.statement();
    if let Ok(statement) = &statement {
        let bytes = serde_json::to_vec(statement).expect("a statement serialises");
        let back: sentinel_signature::Statement =
            serde_json::from_slice(&bytes).expect("a statement's own JSON parses");
        assert_eq!(&back, statement);
    }
    match envelope.verify(trusted) {
        Ok(verified) => {
            assert!(!verified.signers.is_empty());
            assert!(verified.signers.windows(2).all(|w| w[0] < w[1]));
            for signer in &verified.signers {
                assert!(trusted.iter().any(|k| k.id() == signer));
            }
            assert_eq!(Ok(&verified.statement), statement.as_ref());
            verify_subject(&verified, &verified.statement.subject.digest)
                .expect("a statement is about its own subject");
        }
        Err(VerifyError::NoSignatures) => assert!(envelope.signatures.is_empty()),
        Err(VerifyError::WrongPayloadType(t)) => assert_ne!(t, PAYLOAD_TYPE),
        Err(_) => {}
    }
}

/// `data` as a payload, signed by the trusted key.
fn check_signed_payload(data: &[u8], keys: &Keys) {
    let mut envelope = Envelope {
        payload_type: PAYLOAD_TYPE.to_owned(),
        payload: data.to_vec(),
        signatures: Vec::new(),
    };
    envelope.add_signature(&keys.signing);
    let verified = envelope.verify(&keys.trusted);
    match envelope.statement() {
        Ok(statement) => {
            let verified = verified.expect("a signed statement verifies");
            assert_eq!(verified.statement, statement);
            assert_eq!(verified.signers, vec![keys.signing.id().clone()]);
        }
        Err(error) => assert_eq!(verified, Err(VerifyError::Statement(error))),
    }
    // Through its JSON, when small enough.
    let json = envelope.to_json();
    if json.len() <= MAX_ENVELOPE_BYTES {
        assert_eq!(Envelope::parse(&json).as_ref(), Ok(&envelope));
    }
}
