//! Interop with an independent DSSE implementation: Python's
//! securesystemslib (over pyca/cryptography), driven for real by
//! `conformance/interop/dsse_interop.py`.
//!
//! (a) securesystemslib verifies an envelope this crate made, and
//! cryptography reads this crate's private key files, plain and encrypted;
//! (b) this crate verifies envelopes securesystemslib made, with its own key
//! (an id Sentinel does not know, found by trying the trusted keys) and with
//! Sentinel's key loaded from PEM (found by key id).
//!
//! Skipped (with a message) when `python3 -c 'import securesystemslib.dsse'`
//! fails; with `SENTINEL_REQUIRE_INTEROP=1`, as CI sets after installing it,
//! that fails the test instead. Install: `pip install 'securesystemslib[crypto]'`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sentinel_signature::{
    Envelope, PublicKey, SignedPackage, SigningKey, Statement, Subject, VerifyError, verify_subject,
};

const PASSPHRASE: &str = "interop passphrase";

/// Whether python3 with securesystemslib and cryptography is there.
fn python_has_securesystemslib() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import securesystemslib.dsse, securesystemslib.signer, cryptography",
        ])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/interop/dsse_interop.py")
}

fn statement() -> Statement {
    Statement {
        subject: Subject {
            digest: sentinel_oci::Digest::sha256(b"a manifest"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 10,
        },
        repository: Some("localhost:5000/team/planner".into()),
        package: Some(SignedPackage {
            name: "planner".into(),
            kind: "agent".into(),
            version: "1.2.0".into(),
        }),
        created: "2026-12-07T03:20:00Z".into(),
    }
}

fn read_statement(dir: &Path, name: &str) -> Statement {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

#[test]
fn securesystemslib_and_sentinel_verify_each_other() {
    if !python_has_securesystemslib() {
        let required = std::env::var("SENTINEL_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "python3 with securesystemslib is missing and SENTINEL_REQUIRE_INTEROP=1 \
             (pip install 'securesystemslib[crypto]')"
        );
        eprintln!(
            "skipped: python3 cannot import securesystemslib (pip install 'securesystemslib[crypto]')"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // What Sentinel writes.
    let key = SigningKey::generate();
    std::fs::write(d.join("rust.key.pem"), key.to_pem(None).unwrap().as_bytes()).unwrap();
    std::fs::write(
        d.join("rust.key.enc.pem"),
        key.to_pem(Some(PASSPHRASE)).unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::write(d.join("passphrase.txt"), PASSPHRASE).unwrap();
    std::fs::write(d.join("rust.pub.pem"), key.public_key().to_pem()).unwrap();
    std::fs::write(d.join("rust.keyid"), key.id().as_str()).unwrap();
    std::fs::write(
        d.join("rust.envelope.json"),
        Envelope::sign(&statement(), &key).to_json(),
    )
    .unwrap();
    std::fs::write(
        d.join("statement.json"),
        serde_json::to_vec(&statement()).unwrap(),
    )
    .unwrap();

    // (a) securesystemslib verifies it, and writes its own envelopes.
    let output = Command::new("python3")
        .arg(script())
        .arg(d)
        .output()
        .expect("run python3");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "dsse_interop.py failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // (b) Sentinel verifies securesystemslib's envelope made with its own
    // key, whose key id it does not know.
    let python_key =
        PublicKey::from_pem(&std::fs::read_to_string(d.join("python.pub.pem")).unwrap()).unwrap();
    let envelope =
        Envelope::parse(&std::fs::read(d.join("python.envelope.json")).unwrap()).unwrap();
    assert!(!envelope.signatures[0].keyid.starts_with("ed25519:"));
    let verified = envelope
        .verify(&[key.public_key(), python_key.clone()])
        .unwrap();
    assert_eq!(verified.signers, vec![python_key.id().clone()]);
    let python_statement = read_statement(d, "python.statement.json");
    assert_eq!(verified.statement, python_statement);
    verify_subject(&verified, &python_statement.subject.digest).unwrap();
    assert!(matches!(
        envelope.verify(&[key.public_key()]),
        Err(VerifyError::Untrusted { .. })
    ));

    // ... and its envelope made with Sentinel's key, read from the encrypted
    // PEM, under Sentinel's key id (payload in URL-safe base64).
    let envelope =
        Envelope::parse(&std::fs::read(d.join("python-rustkey.envelope.json")).unwrap()).unwrap();
    assert_eq!(envelope.signatures[0].keyid, key.id().as_str());
    let verified = envelope.verify(&[python_key, key.public_key()]).unwrap();
    assert_eq!(verified.signers, vec![key.id().clone()]);
    assert_eq!(
        verified.statement,
        read_statement(d, "python-rustkey.statement.json")
    );
}
