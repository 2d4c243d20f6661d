#!/usr/bin/env python3
"""Interop: Sentinel's signature envelopes against an independent DSSE
implementation, securesystemslib (PyPI `securesystemslib[crypto]`, 1.x, over
pyca/cryptography).

Usage: dsse_interop.py DIR

Run by crates/sentinel-signature/tests/dsse_interop.rs, which writes into DIR
(from the Rust crate):
  rust.key.pem        the signing key, PKCS#8 "PRIVATE KEY"
  rust.key.enc.pem    the same key, "ENCRYPTED PRIVATE KEY" (scrypt,
                      AES-256-CBC), passphrase in passphrase.txt
  rust.pub.pem        its public key, SPKI "PUBLIC KEY"
  rust.keyid          its key id (ed25519:...)
  rust.envelope.json  an envelope of a statement, signed by that key
  statement.json      what the statement says, for comparison

Steps, each named in any failure:
  1. securesystemslib verifies rust.envelope.json with rust.pub.pem, and the
     payload is the statement Rust signed.
  2. pyca/cryptography reads both of Rust's private key files, and they are
     the key of rust.pub.pem.
  3. securesystemslib signs a statement of its own with a key it generates:
     python.envelope.json, with its default key id (a hash Sentinel does not
     know); python.pub.pem is that key's public key as cryptography writes it.
  4. securesystemslib signs a second statement with Rust's key, loaded from
     the encrypted PEM, under Rust's key id: python-rustkey.envelope.json.

The Rust test then verifies the envelopes of steps 3 and 4 with its own code.
"""

import base64
import json
import os
import sys
import traceback

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

PAYLOAD_TYPE = "application/vnd.sentinel.signature.v1+json"


def read(directory: str, name: str) -> bytes:
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()


def write(directory: str, name: str, data: bytes) -> None:
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def statement_bytes(statement: dict) -> bytes:
    # Compact JSON, fields in the order of docs/signatures.md.
    return json.dumps(statement, separators=(",", ":")).encode()


def step1_verify_rust_envelope(d: str) -> None:
    public = serialization.load_pem_public_key(read(d, "rust.pub.pem"))
    keyid = read(d, "rust.keyid").decode().strip()
    key = SSlibKey.from_crypto(public, keyid=keyid)
    envelope = Envelope.from_dict(json.loads(read(d, "rust.envelope.json")))
    assert envelope.payload_type == PAYLOAD_TYPE, envelope.payload_type
    accepted = envelope.verify([key], 1)
    assert list(accepted) == [keyid], accepted
    expected = json.loads(read(d, "statement.json"))
    assert json.loads(envelope.payload) == expected, envelope.payload
    # The DSSE pre-authentication encoding is the same on both sides.
    assert envelope.pae().startswith(
        b"DSSEv1 %d %s %d " % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(envelope.payload))
    )
    # A changed payload does not verify.
    tampered = Envelope(envelope.payload.replace(b"planner", b"plannex"),
                        envelope.payload_type, envelope.signatures)
    try:
        tampered.verify([key], 1)
    except Exception:  # securesystemslib.exceptions.VerificationError
        pass
    else:
        raise AssertionError("a changed payload verified")


def step2_read_rust_private_keys(d: str) -> Ed25519PrivateKey:
    public = serialization.load_pem_public_key(read(d, "rust.pub.pem"))
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    plain = serialization.load_pem_private_key(read(d, "rust.key.pem"), password=None)
    passphrase = read(d, "passphrase.txt").strip()
    encrypted = serialization.load_pem_private_key(read(d, "rust.key.enc.pem"), password=passphrase)
    for key in (plain, encrypted):
        got = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert got == raw, "a private key file is not the public key's key"
    return encrypted


def step3_sign_with_own_key(d: str) -> None:
    private_key = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private_key)  # securesystemslib's default key id
    statement = {
        "subject": {
            "digest": "sha256:" + "ab" * 32,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 512,
        },
        "repository": "registry.example/python/made",
        "package": {"name": "made-in-python", "kind": "agent", "version": "0.1.0"},
        "created": "2026-12-07T04:00:00Z",
    }
    envelope = Envelope(statement_bytes(statement), PAYLOAD_TYPE, {})
    signature = envelope.sign(signer)
    assert not signature.keyid.startswith("ed25519:"), signature.keyid
    write(d, "python.envelope.json", json.dumps(envelope.to_dict()).encode())
    write(d, "python.statement.json", json.dumps(statement).encode())
    write(d, "python.pub.pem", private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    # securesystemslib verifies its own envelope (a check of the step itself).
    Envelope.from_dict(json.loads(read(d, "python.envelope.json"))).verify([signer.public_key], 1)


def step4_sign_with_rust_key(d: str, private_key: Ed25519PrivateKey) -> None:
    keyid = read(d, "rust.keyid").decode().strip()
    public = SSlibKey.from_crypto(private_key.public_key(), keyid=keyid)
    signer = CryptoSigner(private_key, public)
    statement = json.loads(read(d, "statement.json"))
    statement["created"] = "2026-12-07T04:30:00Z"
    envelope = Envelope(statement_bytes(statement), PAYLOAD_TYPE, {})
    envelope.sign(signer)
    document = envelope.to_dict()
    # URL-safe base64, as DSSE allows and Sentinel accepts.
    document["payload"] = base64.urlsafe_b64encode(envelope.payload).decode()
    write(d, "python-rustkey.envelope.json", json.dumps(document).encode())
    write(d, "python-rustkey.statement.json", json.dumps(statement).encode())


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    keys = {}
    steps = [
        ("1. securesystemslib verifies Sentinel's envelope",
         lambda: step1_verify_rust_envelope(d)),
        ("2. cryptography reads Sentinel's private keys, plain and encrypted",
         lambda: keys.update(rust=step2_read_rust_private_keys(d))),
        ("3. securesystemslib signs with its own key",
         lambda: step3_sign_with_own_key(d)),
        ("4. securesystemslib signs with Sentinel's key, read from its encrypted PEM",
         lambda: step4_sign_with_rust_key(d, keys["rust"])),
    ]
    for name, run in steps:
        try:
            run()
        except Exception:
            print(f"dsse interop: step {name} failed", file=sys.stderr)
            traceback.print_exc()
            return 1
        print(f"ok: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
