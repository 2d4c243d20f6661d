//! The worked example of docs/signatures.md (sections 1 and 4) is what this
//! crate writes and accepts: RFC 8032's test 1 key signs deterministically,
//! so the key id, the statement, the PAE, the signature and the envelope
//! are fixed bytes.

use sentinel_signature::{
    Envelope, PAYLOAD_TYPE, PublicKey, SignedPackage, SigningKey, Statement, Subject, pae,
    verify_subject,
};

const DOCS: &str = include_str!("../../../docs/signatures.md");

/// RFC 8032's test 1 key, as docs/signatures.md shows it.
const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
                           MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
                           -----END PRIVATE KEY-----\n";
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
                          MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                          -----END PUBLIC KEY-----\n";

fn statement() -> Statement {
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

fn assert_in_docs(what: &str, text: &str) {
    assert!(
        DOCS.contains(text),
        "docs/signatures.md lacks the {what}:\n{text}"
    );
}

#[test]
fn the_keys_of_the_example_are_as_documented() {
    assert_in_docs("private key", PRIVATE_PEM);
    assert_in_docs("public key", PUBLIC_PEM);
    let key = SigningKey::from_pem(PRIVATE_PEM, None).unwrap();
    assert_eq!(key.to_pem(None).unwrap().as_str(), PRIVATE_PEM);
    assert_eq!(key.public_key().to_pem(), PUBLIC_PEM);
    assert_eq!(key.id().as_str(), "ed25519:06e3fd8fda29bb60");
    assert_in_docs("key id", key.id().as_str());
    assert_eq!(PublicKey::from_pem(PUBLIC_PEM).unwrap(), key.public_key());
}

#[test]
fn the_envelope_of_the_example_is_as_documented() {
    let key = SigningKey::from_pem(PRIVATE_PEM, None).unwrap();
    let envelope = Envelope::sign(&statement(), &key);

    let payload = String::from_utf8(envelope.payload.clone()).unwrap();
    assert_eq!(payload.len(), 305);
    assert_in_docs("statement", &payload);

    let signed = pae(PAYLOAD_TYPE, &envelope.payload);
    let header = &signed[..signed.len() - envelope.payload.len()];
    assert_eq!(
        header,
        b"DSSEv1 42 application/vnd.sentinel.signature.v1+json 305 "
    );
    assert_in_docs("PAE header", std::str::from_utf8(header).unwrap());
    assert_in_docs("PAE header in hex", &hex(header));

    assert_in_docs("signature", &hex(&envelope.signatures[0].sig));

    let json = String::from_utf8(envelope.to_json()).unwrap();
    assert_eq!(json.len(), 630);
    assert_in_docs("envelope", &json);

    let verified = Envelope::parse(json.as_bytes())
        .unwrap()
        .verify(&[PublicKey::from_pem(PUBLIC_PEM).unwrap()])
        .unwrap();
    assert_eq!(verified.statement, statement());
    verify_subject(&verified, &statement().subject.digest).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
