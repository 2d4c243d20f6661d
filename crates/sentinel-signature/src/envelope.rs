//! DSSE envelopes: the signed statement, its signatures, their JSON form,
//! and their verification.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sentinel_oci::Digest;
use serde::{Deserialize, Serialize};

use crate::key::{KeyId, PublicKey, SigningKey};
use crate::statement::{Statement, is_rfc3339_seconds};
use crate::{MAX_ENVELOPE_BYTES, MAX_SIGNATURES, PAYLOAD_TYPE};

/// Standard base64, padded or not.
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe base64, padded or not.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why bytes are not a valid envelope, or its payload not a valid statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// More than [`MAX_ENVELOPE_BYTES`]; not parsed.
    #[error("the envelope is {size} bytes, more than the {MAX_ENVELOPE_BYTES} accepted")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
    },
    /// Not the JSON of a DSSE envelope.
    #[error("not a DSSE envelope: {0}")]
    Json(String),
    /// A field that should be base64 is not.
    #[error("{field} is not base64")]
    Base64 {
        /// Which field: `payload` or `signatures[N].sig`.
        field: String,
    },
    /// More than [`MAX_SIGNATURES`] signatures.
    #[error("the envelope has {count} signatures, more than the {MAX_SIGNATURES} accepted")]
    TooManySignatures {
        /// How many it has.
        count: usize,
    },
    /// The payload is of another type than [`PAYLOAD_TYPE`].
    #[error("the payload type is {0:?}, not {PAYLOAD_TYPE:?}")]
    WrongPayloadType(String),
    /// The payload is not a valid statement.
    #[error("the payload is not a valid statement: {0}")]
    Statement(String),
}

/// Why an envelope does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The payload is of another type than [`PAYLOAD_TYPE`].
    #[error("the payload type is {0:?}, not {PAYLOAD_TYPE:?}")]
    WrongPayloadType(String),
    /// The envelope has no signature at all.
    #[error("the envelope has no signatures")]
    NoSignatures,
    /// Every signature is by a key that is not trusted (or does not verify
    /// under any trusted key).
    #[error("signed only by keys that are not trusted: {}", display_keyids(.keyids))]
    Untrusted {
        /// The signatures' key ids as written (empty when a signature named
        /// none).
        keyids: Vec<String>,
    },
    /// A signature names a trusted key but does not verify with it, and no
    /// other signature verifies: the payload was changed, or the signature
    /// damaged.
    #[error(
        "the signature by trusted key {keyid} does not verify: the statement was changed or the signature damaged"
    )]
    BadSignature {
        /// The trusted key named by the signature.
        keyid: String,
    },
    /// Validly signed by a trusted key, but the payload is not a valid
    /// statement.
    #[error(transparent)]
    Statement(EnvelopeError),
    /// Validly signed, but for another manifest than the one wanted.
    #[error("the signature is for {signed}, not for {wanted}")]
    OtherSubject {
        /// The digest the statement names.
        signed: Digest,
        /// The digest that was to be verified.
        wanted: Digest,
    },
}

fn display_keyids(keyids: &[String]) -> String {
    keyids
        .iter()
        .map(|k| if k.is_empty() { "(no keyid)" } else { k })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id as written; empty when the signer named none.
    /// Sentinel writes a [`KeyId`]; other DSSE implementations write their
    /// own ids. Unsigned: a hint for finding the key, nothing more.
    pub keyid: String,
    /// The raw signature bytes (64 for ed25519).
    pub sig: Vec<u8>,
}

/// A DSSE v1 envelope: a typed payload and its signatures over
/// [`pae`]`(payload_type, payload)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The payload's type; [`PAYLOAD_TYPE`] for Sentinel's statements.
    pub payload_type: String,
    /// The payload bytes (for Sentinel, the JSON of a [`Statement`]).
    pub payload: Vec<u8>,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// A verified envelope: its statement and who signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The statement, parsed after its signature verified.
    pub statement: Statement,
    /// The distinct trusted keys with a valid signature, sorted.
    pub signers: Vec<KeyId>,
}

/// The envelope's JSON form, as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEnvelopeOut<'a> {
    payload_type: &'a str,
    payload: String,
    signatures: Vec<WireSignatureOut<'a>>,
}

#[derive(Serialize)]
struct WireSignatureOut<'a> {
    keyid: &'a str,
    sig: String,
}

/// The envelope's JSON form, as read. Unknown fields are ignored, as in
/// other DSSE implementations: nothing outside the payload is signed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEnvelopeIn {
    payload_type: String,
    payload: String,
    signatures: Vec<WireSignatureIn>,
}

#[derive(Deserialize)]
struct WireSignatureIn {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

/// The DSSE v1 pre-authentication encoding of a payload, the bytes that are
/// signed: `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, where
/// SP is one space and LEN a byte count in ASCII decimal without leading
/// zeros.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut bytes = Vec::with_capacity(header.len() + payload.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Decodes base64, standard or URL-safe, padded or not (as DSSE allows).
fn decode_base64(text: &str, field: impl FnOnce() -> String) -> Result<Vec<u8>, EnvelopeError> {
    STANDARD_ANY_PADDING
        .decode(text)
        .or_else(|_| URL_SAFE_ANY_PADDING.decode(text))
        .map_err(|_| EnvelopeError::Base64 { field: field() })
}

impl Envelope {
    /// An envelope of `statement` (its JSON as payload, of type
    /// [`PAYLOAD_TYPE`]) signed by `key`.
    pub fn sign(statement: &Statement, key: &SigningKey) -> Envelope {
        let payload = serde_json::to_vec(statement)
            .expect("a statement (strings, a digest and a number) always serialises");
        let mut envelope = Envelope {
            payload_type: PAYLOAD_TYPE.to_owned(),
            payload,
            signatures: Vec::new(),
        };
        envelope.add_signature(key);
        envelope
    }

    /// Adds `key`'s signature of the same payload (a second signer). A key
    /// that already signed is not added twice.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let keyid = key.id().to_string();
        let sig = key.sign(&pae(&self.payload_type, &self.payload)).to_vec();
        if !self
            .signatures
            .iter()
            .any(|s| s.keyid == keyid && s.sig == sig)
        {
            self.signatures.push(EnvelopeSignature { keyid, sig });
        }
    }

    /// Parses an envelope's JSON: refused unread if larger than
    /// [`MAX_ENVELOPE_BYTES`]; `payloadType`, `payload` (base64) and
    /// `signatures` (each with `sig` in base64 and an optional `keyid`) are
    /// required; base64 may be standard or URL-safe, padded or not; at most
    /// [`MAX_SIGNATURES`] signatures. The payload is not looked at.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge { size: bytes.len() });
        }
        let wire: WireEnvelopeIn =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::TooManySignatures {
                count: wire.signatures.len(),
            });
        }
        let payload = decode_base64(&wire.payload, || "payload".to_owned())?;
        let signatures = wire
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(EnvelopeSignature {
                    keyid: s.keyid.unwrap_or_default(),
                    sig: decode_base64(&s.sig, || format!("signatures[{i}].sig"))?,
                })
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// The envelope's JSON: `{"payloadType", "payload", "signatures":
    /// [{"keyid", "sig"}]}`, payload and signatures in padded standard
    /// base64, no whitespace.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireEnvelopeOut {
            payload_type: &self.payload_type,
            payload: STANDARD.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignatureOut {
                    keyid: &s.keyid,
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        serde_json::to_vec(&wire).expect("an envelope (strings only) always serialises")
    }

    /// The payload as a statement, without verifying anything: the payload
    /// type must be [`PAYLOAD_TYPE`], the payload a statement's JSON with no
    /// unknown fields, and `created` RFC 3339 UTC in whole seconds.
    pub fn statement(&self) -> Result<Statement, EnvelopeError> {
        if self.payload_type != PAYLOAD_TYPE {
            return Err(EnvelopeError::WrongPayloadType(self.payload_type.clone()));
        }
        let statement: Statement = serde_json::from_slice(&self.payload)
            .map_err(|e| EnvelopeError::Statement(e.to_string()))?;
        if !is_rfc3339_seconds(&statement.created) {
            return Err(EnvelopeError::Statement(format!(
                "created {:?} is not RFC 3339 UTC in whole seconds (YYYY-MM-DDTHH:MM:SSZ)",
                statement.created
            )));
        }
        Ok(statement)
    }

    /// Verifies against `trusted`: a signature counts when its keyid names a
    /// trusted key and verifies, or (keyid empty or unknown to us, e.g. made
    /// by another DSSE implementation) when some trusted key verifies it.
    ///
    /// In order: no signatures is [`VerifyError::NoSignatures`]; a payload
    /// type other than [`PAYLOAD_TYPE`] is [`VerifyError::WrongPayloadType`];
    /// then each signature is checked over [`pae`] with strict ed25519
    /// verification. With no valid trusted signature, a trusted key's
    /// signature that fails is [`VerifyError::BadSignature`], otherwise
    /// [`VerifyError::Untrusted`]. Only then is the payload parsed as a
    /// statement ([`VerifyError::Statement`]). Extra signatures that fail,
    /// next to a valid trusted one, do not matter.
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<Verified, VerifyError> {
        if self.signatures.is_empty() {
            return Err(VerifyError::NoSignatures);
        }
        if self.payload_type != PAYLOAD_TYPE {
            return Err(VerifyError::WrongPayloadType(self.payload_type.clone()));
        }
        let message = pae(&self.payload_type, &self.payload);
        let mut signers = BTreeSet::new();
        let mut bad = None;
        let mut untrusted = Vec::new();
        for signature in &self.signatures {
            let named: Vec<&PublicKey> = trusted
                .iter()
                .filter(|k| k.id().as_str() == signature.keyid)
                .collect();
            if !named.is_empty() {
                match named.iter().find(|k| k.verifies(&message, &signature.sig)) {
                    Some(key) => {
                        signers.insert(key.id().clone());
                    }
                    None => {
                        bad.get_or_insert_with(|| signature.keyid.clone());
                    }
                }
                continue;
            }
            match trusted
                .iter()
                .find(|k| k.verifies(&message, &signature.sig))
            {
                Some(key) => {
                    signers.insert(key.id().clone());
                }
                None => untrusted.push(signature.keyid.clone()),
            }
        }
        if signers.is_empty() {
            return Err(match bad {
                Some(keyid) => VerifyError::BadSignature { keyid },
                None => VerifyError::Untrusted { keyids: untrusted },
            });
        }
        let statement = self.statement().map_err(VerifyError::Statement)?;
        Ok(Verified {
            statement,
            signers: signers.into_iter().collect(),
        })
    }
}

/// Checks that a verified statement is about the manifest `digest`
/// ([`VerifyError::OtherSubject`] if not): a valid signature of another
/// manifest, replayed next to this one, vouches for nothing.
pub fn verify_subject(verified: &Verified, digest: &Digest) -> Result<(), VerifyError> {
    if &verified.statement.subject.digest == digest {
        Ok(())
    } else {
        Err(VerifyError::OtherSubject {
            signed: verified.statement.subject.digest.clone(),
            wanted: digest.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SignedPackage, Subject};

    /// A statement with every field.
    fn example_statement() -> Statement {
        Statement {
            subject: Subject {
                digest: "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
                    .parse()
                    .unwrap(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 1234,
            },
            repository: Some("registry.example/team/planner".into()),
            package: Some(SignedPackage {
                name: "planner".into(),
                kind: "agent".into(),
                version: "1.2.0".into(),
            }),
            created: "2026-12-07T03:20:00Z".into(),
        }
    }

    fn signed(key: &SigningKey) -> Envelope {
        Envelope::sign(&example_statement(), key)
    }

    /// `envelope` with its JSON changed by `change`.
    fn edited(envelope: &Envelope, change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        change(&mut json);
        serde_json::to_vec(&json).unwrap()
    }

    #[test]
    fn pae_matches_the_dsse_specification() {
        // The example of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        assert_eq!(
            pae(PAYLOAD_TYPE, b"{}"),
            b"DSSEv1 42 application/vnd.sentinel.signature.v1+json 2 {}"
        );
        // Lengths are bytes, not characters.
        assert_eq!(pae("é", "ü".as_bytes()), "DSSEv1 2 é 2 ü".as_bytes());
    }

    #[test]
    fn an_envelope_round_trips_and_verifies() {
        let key = SigningKey::generate();
        let envelope = signed(&key);
        assert_eq!(envelope.payload_type, PAYLOAD_TYPE);
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.signatures[0].keyid, key.id().as_str());

        let parsed = Envelope::parse(&envelope.to_json()).unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(parsed.statement().unwrap(), example_statement());

        let verified = parsed.verify(&[key.public_key()]).unwrap();
        assert_eq!(verified.statement, example_statement());
        assert_eq!(verified.signers, vec![key.id().clone()]);
        verify_subject(&verified, &example_statement().subject.digest).unwrap();
    }

    #[test]
    fn two_signers_are_both_reported_sorted_and_once() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        let mut envelope = signed(&a);
        envelope.add_signature(&b);
        envelope.add_signature(&a);
        assert_eq!(envelope.signatures.len(), 2);
        let trusted = [b.public_key(), a.public_key(), a.public_key()];
        let verified = Envelope::parse(&envelope.to_json())
            .unwrap()
            .verify(&trusted)
            .unwrap();
        let mut expected = vec![a.id().clone(), b.id().clone()];
        expected.sort();
        assert_eq!(verified.signers, expected);
        // Trusting one of them is enough, and only it is reported.
        let verified = envelope.verify(&[b.public_key()]).unwrap();
        assert_eq!(verified.signers, vec![b.id().clone()]);
    }

    #[test]
    fn a_wrong_payload_type_is_refused() {
        let key = SigningKey::generate();
        let mut envelope = Envelope {
            payload_type: "application/vnd.in-toto+json".into(),
            payload: signed(&key).payload,
            signatures: Vec::new(),
        };
        envelope.add_signature(&key);
        assert_eq!(
            envelope.verify(&[key.public_key()]),
            Err(VerifyError::WrongPayloadType(
                "application/vnd.in-toto+json".into()
            ))
        );
        assert_eq!(
            envelope.statement(),
            Err(EnvelopeError::WrongPayloadType(
                "application/vnd.in-toto+json".into()
            ))
        );
    }

    #[test]
    fn invalid_base64_is_refused_and_named() {
        let envelope = signed(&SigningKey::generate());
        let bad_payload = edited(&envelope, |j| j["payload"] = "not base64!".into());
        assert_eq!(
            Envelope::parse(&bad_payload),
            Err(EnvelopeError::Base64 {
                field: "payload".into()
            })
        );
        let bad_sig = edited(&envelope, |j| j["signatures"][0]["sig"] = "a b".into());
        assert_eq!(
            Envelope::parse(&bad_sig),
            Err(EnvelopeError::Base64 {
                field: "signatures[0].sig".into()
            })
        );
        // Mixed alphabets, stray whitespace and a lone character are not base64.
        for text in ["ab+_", "YWJj\n", "Y", "YWJj=", "YW=Jj"] {
            let bytes = edited(&envelope, |j| j["payload"] = text.into());
            assert!(Envelope::parse(&bytes).is_err(), "{text:?}");
        }
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let key = SigningKey::generate();
        let envelope = signed(&key);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let bytes = edited(&envelope, |j| {
            j["payload"] = url_safe.encode(&envelope.payload).into();
            j["signatures"][0]["sig"] = url_safe.encode(&envelope.signatures[0].sig).into();
        });
        let parsed = Envelope::parse(&bytes).unwrap();
        assert_eq!(parsed, envelope);
        parsed.verify(&[key.public_key()]).unwrap();
    }

    #[test]
    fn an_extra_bad_signature_next_to_a_good_one_does_not_matter() {
        let (good, other, stranger) = (
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
        );
        let mut envelope = signed(&good);
        envelope.add_signature(&stranger);
        envelope.signatures.push(EnvelopeSignature {
            keyid: other.id().to_string(),
            sig: vec![0; 64],
        });
        envelope.signatures.push(EnvelopeSignature {
            keyid: String::new(),
            sig: b"short".to_vec(),
        });
        let verified = envelope
            .verify(&[good.public_key(), other.public_key()])
            .unwrap();
        assert_eq!(verified.signers, vec![good.id().clone()]);
    }

    #[test]
    fn signatures_only_by_untrusted_keys_are_untrusted() {
        let (signer, trusted) = (SigningKey::generate(), SigningKey::generate());
        let mut envelope = signed(&signer);
        envelope.signatures.push(EnvelopeSignature {
            keyid: String::new(),
            sig: vec![1; 64],
        });
        assert_eq!(
            envelope.verify(&[trusted.public_key()]),
            Err(VerifyError::Untrusted {
                keyids: vec![signer.id().to_string(), String::new()]
            })
        );
        assert!(matches!(
            envelope.verify(&[]),
            Err(VerifyError::Untrusted { .. })
        ));
    }

    #[test]
    fn a_signature_with_an_unknown_or_no_keyid_is_tried_with_every_trusted_key() {
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        for keyid in [
            "",
            "2f9a7cc0b1a8e4b3c6d9e1f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0",
        ] {
            let mut envelope = signed(&key);
            envelope.signatures[0].keyid = keyid.into();
            let bytes = if keyid.is_empty() {
                edited(&envelope, |j| {
                    j["signatures"][0].as_object_mut().unwrap().remove("keyid");
                })
            } else {
                envelope.to_json()
            };
            let verified = Envelope::parse(&bytes)
                .unwrap()
                .verify(&[other.public_key(), key.public_key()])
                .unwrap();
            assert_eq!(verified.signers, vec![key.id().clone()]);
        }
    }

    #[test]
    fn a_statement_changed_after_signing_is_a_bad_signature() {
        let key = SigningKey::generate();
        let envelope = signed(&key);
        let mut changed = example_statement();
        changed.subject.digest = Digest::sha256(b"something else");
        let forged = edited(&envelope, |j| {
            j["payload"] = STANDARD
                .encode(serde_json::to_vec(&changed).unwrap())
                .into();
        });
        let forged = Envelope::parse(&forged).unwrap();
        assert_eq!(
            forged.verify(&[key.public_key()]),
            Err(VerifyError::BadSignature {
                keyid: key.id().to_string()
            })
        );
        // One flipped bit of the signature: the same.
        let mut damaged = envelope.clone();
        damaged.signatures[0].sig[10] ^= 1;
        assert!(matches!(
            damaged.verify(&[key.public_key()]),
            Err(VerifyError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_signature_of_another_manifest_is_another_subject() {
        let key = SigningKey::generate();
        let verified = signed(&key).verify(&[key.public_key()]).unwrap();
        let wanted = Digest::sha256(b"the manifest in hand");
        assert_eq!(
            verify_subject(&verified, &wanted),
            Err(VerifyError::OtherSubject {
                signed: example_statement().subject.digest,
                wanted,
            })
        );
    }

    #[test]
    fn no_signatures_is_its_own_error() {
        let key = SigningKey::generate();
        let mut envelope = signed(&key);
        envelope.signatures.clear();
        let parsed = Envelope::parse(&envelope.to_json()).unwrap();
        assert_eq!(
            parsed.verify(&[key.public_key()]),
            Err(VerifyError::NoSignatures)
        );
    }

    #[test]
    fn a_megabyte_of_junk_is_refused_by_its_size_unread() {
        let junk = vec![b'{'; 1024 * 1024];
        assert_eq!(
            Envelope::parse(&junk),
            Err(EnvelopeError::TooLarge { size: 1024 * 1024 })
        );
        let just_over = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            Envelope::parse(&just_over),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }

    #[test]
    fn too_many_signatures_are_refused() {
        let key = SigningKey::generate();
        let mut envelope = signed(&key);
        let first = envelope.signatures[0].clone();
        envelope.signatures = vec![first; MAX_SIGNATURES];
        assert!(Envelope::parse(&envelope.to_json()).is_ok());
        envelope.signatures.push(envelope.signatures[0].clone());
        assert_eq!(
            Envelope::parse(&envelope.to_json()),
            Err(EnvelopeError::TooManySignatures {
                count: MAX_SIGNATURES + 1
            })
        );
    }

    #[test]
    fn a_signed_payload_that_is_not_a_statement_is_a_statement_error() {
        let key = SigningKey::generate();
        for payload in [
            &b"not json"[..],
            br#"{"subject":{"digest":"sha256:00","mediaType":"m","size":1},"created":"2026-12-07T03:20:00Z"}"#,
            br#"{"subject":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","mediaType":"m","size":1},"created":"2026-12-07T03:20:00Z","expires":"2027-01-01T00:00:00Z"}"#,
            br#"{"subject":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","mediaType":"m","size":1},"created":"yesterday"}"#,
            br#"{"subject":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","mediaType":"m","size":-1},"created":"2026-12-07T03:20:00Z"}"#,
        ] {
            let mut envelope = Envelope {
                payload_type: PAYLOAD_TYPE.into(),
                payload: payload.to_vec(),
                signatures: Vec::new(),
            };
            envelope.add_signature(&key);
            assert!(
                matches!(
                    envelope.verify(&[key.public_key()]),
                    Err(VerifyError::Statement(EnvelopeError::Statement(_)))
                ),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn malformed_envelopes_are_json_errors() {
        for bytes in [
            &b""[..],
            b"[]",
            b"null",
            b"{}",
            br#"{"payloadType":"t","payload":"","signatures":{}}"#,
            br#"{"payloadType":"t","payload":"","signatures":[{"keyid":"k"}]}"#,
            br#"{"payloadType":"t","payload":"","signatures":[{"sig":"","keyid":7}]}"#,
            br#"{"payloadType":"t","payloadType":"u","payload":"","signatures":[]}"#,
            b"\xff\xfe",
        ] {
            assert!(
                matches!(Envelope::parse(bytes), Err(EnvelopeError::Json(_))),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Unknown fields outside the payload are not signed; they are ignored.
        let ok = br#"{"payloadType":"t","payload":"","signatures":[],"extra":1}"#;
        assert!(Envelope::parse(ok).is_ok());
    }

    #[test]
    fn no_input_makes_it_panic() {
        let key = SigningKey::generate();
        let trusted = [key.public_key()];
        let mut envelope = signed(&key);
        envelope.add_signature(&SigningKey::generate());
        let good = envelope.to_json();
        // A small deterministic mutator (xorshift): flip, drop and insert
        // bytes of a valid envelope. The fuzz target does this at scale.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..800 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b"\"{}[],:\\0aA=+/-_"[(next() % 16) as usize]),
                }
            }
            if let Ok(parsed) = Envelope::parse(&bytes) {
                let _ = parsed.statement();
                let _ = parsed.verify(&trusted);
                let _ = parsed.to_json();
            }
        }
    }
}
