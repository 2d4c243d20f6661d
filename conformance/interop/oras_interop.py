#!/usr/bin/env python3
"""Interop: oras-py (PyPI `oras`, 0.2.x) against a running sentinel-registry.

Usage: oras_interop.py ADDR WORKDIR   (ADDR is host:port, plain HTTP)

Steps, each named in any failure together with the registry's last response:
  1. push an artifact (custom layer and config media types, artifactType,
     manifest annotations) with upload_blob + upload_manifest; push() has no
     artifactType argument, so the manifest is built here. A second, plain
     artifact goes through oras-py's own push().
  2. attach two referrers (a signature and an SBOM) through `subject`.
  3. list referrers with GET /v2/<repo>/referrers/<digest> (oras-py has no API
     for it), unfiltered and with ?artifactType= (OCI-Filters-Applied).
  4. pull with pull() and get_manifest(), verifying every digest ourselves
     (oras-py does not) and byte-comparing the pulled file.
  5. get_tags, a DELETE by tag (the manifest stays), and delete_tag (which
     in oras-py deletes the tagged manifest by digest).
"""

import hashlib
import json
import os
import sys
import traceback

import requests

import oras.client
import oras.defaults
import oras.version
from oras.logger import logger as oras_logger

CLIENT = "oras-py"
REPO = "interop/oras"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
# Custom types of an artifact that is not a Sentinel package: manifests with
# Sentinel's own agent and stack types are validated as packages on push
# (docs/catalogue.md), and real packages through oras are interop-tested by
# agent-oras.sh. This script tests oras-py as a generic OCI client; so are
# signature artifacts (their envelope is verified on push, docs/signatures.md),
# so its referrers use types of its own too.
AGENT_TYPE = "application/vnd.example.interop.agent"
AGENT_DEF_TYPE = "application/vnd.example.interop.agent-def+yaml"
SIGNATURE_TYPE = "application/vnd.example.interop.signature"
SBOM_TYPE = "application/x-sentinel-sbom+json"


class Failure(Exception):
    pass


class Client(oras.client.OrasClient):
    # oras-py retries every failed request (and any 500) up to five times with
    # sleeps of 3 s to 83 s. Against a registry on loopback a retry only hides
    # a bug and blows the time budget: call the undecorated request directly.
    do_request = oras.client.OrasClient.do_request.__wrapped__


class Interop:
    def __init__(self, addr, work):
        self.addr = addr
        self.work = work
        self.step = "setup"
        self.last = None  # the last response the registry sent
        self.methods = []  # every request method sent, in order
        self.client = Client(hostname=addr, insecure=True)
        session = self.client.session
        session.hooks["response"].append(self._record)
        request = session.request

        def with_timeout(*args, **kwargs):
            self.last = None  # so a failure never shows an earlier request's response
            kwargs.setdefault("timeout", 10)
            return request(*args, **kwargs)

        session.request = with_timeout
        self.base = f"http://{addr}/v2/{REPO}"

    # ---- reporting ----------------------------------------------------------

    def _record(self, response, *args, **kwargs):
        self.last = response
        self.methods.append(response.request.method)

    @staticmethod
    def describe(response):
        if response is None:
            return "no response from the registry to the last request"
        req = response.request
        headers = "\n".join(f"    {k}: {v}" for k, v in response.headers.items())
        try:
            body = response.content[:800].decode("utf-8", "replace")
        except Exception as e:  # a streamed body already consumed
            body = f"<unavailable: {e}>"
        return (
            f"registry response to {req.method} {req.url}:\n"
            f"  status {response.status_code} {response.reason}\n"
            f"  headers:\n{headers}\n"
            f"  body: {body or '<empty>'}"
        )

    def fail(self, message, response=None):
        raise Failure(f"{message}\n{self.describe(response if response is not None else self.last)}")

    def check(self, condition, message, response=None):
        if not condition:
            self.fail(message, response)

    def expect_status(self, response, wanted, what):
        wanted = (wanted,) if isinstance(wanted, int) else wanted
        if response.status_code not in wanted:
            self.fail(f"{what}: expected HTTP {'/'.join(map(str, wanted))}", response)

    # ---- helpers ------------------------------------------------------------

    def target(self, reference):
        sep = "@" if reference.startswith("sha256:") else ":"
        return f"{self.addr}/{REPO}{sep}{reference}"

    def write(self, name, data):
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    @staticmethod
    def descriptor(media_type, data, annotations=None):
        d = {
            "mediaType": media_type,
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        if annotations:
            d["annotations"] = annotations
        return d

    def upload(self, path, desc, **kwargs):
        response = self.client.upload_blob(path, self.target("v0"), desc, **kwargs)
        # upload_blob answers a synthetic 200 when a HEAD finds the blob already there.
        self.expect_status(response, (200, 201), f"upload_blob {desc['digest']}")
        if response.status_code == 201:
            got = response.headers.get("Docker-Content-Digest")
            self.check(
                got == desc["digest"],
                f"upload_blob: Docker-Content-Digest {got!r} is not {desc['digest']}",
                response,
            )

    def push_manifest(self, manifest, reference):
        """upload_manifest; returns (digest, size) of the exact bytes sent."""
        response = self.client.upload_manifest(manifest, self.client.get_container(self.target(reference)))
        self.expect_status(response, 201, f"upload_manifest to {reference}")
        body = response.request.body
        body = body if isinstance(body, bytes) else body.encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        got = response.headers.get("Docker-Content-Digest")
        self.check(got == digest, f"upload_manifest: Docker-Content-Digest {got!r} is not the sent bytes' {digest}", response)
        if reference.startswith("sha256:"):
            self.check(reference == digest, f"test bug: pushed by digest {reference} but sent {digest}")
        return digest, len(body)

    @staticmethod
    def json_digest(manifest):
        # The exact bytes requests sends for json=manifest (json.dumps defaults).
        body = json.dumps(manifest).encode()
        return "sha256:" + hashlib.sha256(body).hexdigest(), len(body)

    def get(self, url, **kwargs):
        return self.client.session.get(url, **kwargs)

    # ---- steps --------------------------------------------------------------

    def push_artifact(self):
        self.step = "1. push an artifact with artifactType via upload_blob + upload_manifest"
        self.agent = os.urandom(300_000) + b"\nagent payload\n"
        self.agent_def = (
            b"apiVersion: sentinel/v1\nkind: Agent\nname: interop-oras\n"
            b"entrypoint: agent.bin\nnonce: " + os.urandom(8).hex().encode() + b"\n"
        )
        agent_path = self.write("agent.bin", self.agent)
        def_path = self.write("agent-def.yaml", self.agent_def)
        self.layer = self.descriptor(
            AGENT_TYPE, self.agent, {oras.defaults.annotation_title: "agent.bin"}
        )
        self.config = self.descriptor(AGENT_DEF_TYPE, self.agent_def)
        # The layer goes up in chunks (POST, PATCH x5, PUT), the config in one PUT.
        before = len(self.methods)
        self.upload(agent_path, self.layer, do_chunked=True, chunk_size=64 * 1024)
        sent = self.methods[before:]
        self.check(sent == ["HEAD", "POST"] + ["PATCH"] * 5 + ["PUT"],
                   f"chunked upload_blob sent {sent}, expected HEAD, POST, 5 PATCH, PUT")
        self.upload(def_path, self.config)
        self.annotations = {
            "org.opencontainers.image.title": "interop-oras",
            "org.opencontainers.image.version": "1.2.3",
            "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        }
        self.manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": AGENT_TYPE,
            "config": self.config,
            "layers": [self.layer],
            "annotations": self.annotations,
        }
        self.digest, self.size = self.push_manifest(self.manifest, "v1")
        # A second tag on the same manifest, and a plain artifact through push().
        digest, _ = self.push_manifest(self.manifest, "v1-alias")
        self.check(digest == self.digest, "the same manifest pushed to a second tag has another digest")

        self.step = "1b. push a plain artifact with oras-py push()"
        cwd = os.getcwd()
        os.chdir(self.work)  # push() wants files under the working directory
        try:
            plain = self.write("plain.txt", b"plain oras-py push " + os.urandom(8).hex().encode())
            self.write("plain-config.json", b'{"plain": true}')
            response = self.client.push(
                target=self.target("plain"),
                files=[f"plain.txt:{AGENT_TYPE}"],
                manifest_config=f"plain-config.json:{AGENT_DEF_TYPE}",
                manifest_annotations={"org.opencontainers.image.version": "0.0.1"},
                quiet=True,
            )
        finally:
            os.chdir(cwd)
        self.expect_status(response, 201, "push()")
        self.plain_digest = response.headers.get("Docker-Content-Digest")
        self.check(bool(self.plain_digest), "push(): no Docker-Content-Digest", response)
        self.plain_path = plain

    def attach_referrers(self):
        self.step = "2. attach referrers through subject"
        empty = b"{}"
        empty_desc = self.descriptor(OCI_EMPTY, empty)
        self.upload(self.write("empty.json", empty), empty_desc)
        subject = {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.size}
        self.referrers = {}
        for artifact_type, layer_type, extra in (
            (SIGNATURE_TYPE, "application/vnd.sentinel.signature.v1", {"io.sentinel.signer": "interop"}),
            (SBOM_TYPE, "application/spdx+json", {"io.sentinel.sbom.format": "spdx"}),
        ):
            data = artifact_type.encode() + b" " + os.urandom(64)
            layer = self.descriptor(layer_type, data)
            self.upload(self.write(artifact_type.split("/")[1], data), layer)
            annotations = {"org.opencontainers.image.created": "2024-01-02T00:00:00Z", **extra}
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "config": empty_desc,
                "layers": [layer],
                "subject": subject,
                "annotations": annotations,
            }
            digest, size = self.json_digest(manifest)
            container = self.client.get_container(self.target(digest))
            response = self.client.upload_manifest(manifest, container)
            self.expect_status(response, 201, f"upload_manifest of the {artifact_type} referrer by digest")
            got = response.headers.get("Docker-Content-Digest")
            self.check(got == digest, f"referrer: Docker-Content-Digest {got!r} is not {digest}", response)
            subject_header = response.headers.get("OCI-Subject")
            self.check(
                subject_header == self.digest,
                f"referrer push: OCI-Subject header {subject_header!r}, expected {self.digest}",
                response,
            )
            self.referrers[artifact_type] = {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "artifactType": artifact_type,
                "annotations": annotations,
            }
            # The referrer round-trips through get_manifest with subject and artifactType.
            back = self.client.get_manifest(container)
            self.check(back == manifest, f"get_manifest of the referrer {digest} differs from what was pushed")

    def list_referrers(self):
        self.step = "3. list referrers (GET /v2/<repo>/referrers/<digest>)"
        url = f"{self.base}/referrers/{self.digest}"
        response = self.get(url)
        self.expect_status(response, 200, "referrers listing")
        ctype = response.headers.get("Content-Type", "")
        self.check(ctype.split(";")[0].strip() == OCI_INDEX, f"referrers Content-Type {ctype!r}", response)
        self.check("OCI-Filters-Applied" not in response.headers, "OCI-Filters-Applied on an unfiltered listing", response)
        index = response.json()
        self.check(index.get("schemaVersion") == 2 and index.get("mediaType") == OCI_INDEX,
                   "referrers listing is not an OCI image index", response)
        listed = sorted(index.get("manifests", []), key=lambda d: d.get("digest", ""))
        wanted = sorted(self.referrers.values(), key=lambda d: d["digest"])
        self.check(listed == wanted,
                   f"referrers listing:\n  got    {json.dumps(listed)}\n  wanted {json.dumps(wanted)}", response)

        self.step = "3b. filter referrers with ?artifactType="
        response = self.get(url, params={"artifactType": SIGNATURE_TYPE})
        self.expect_status(response, 200, "filtered referrers listing")
        applied = response.headers.get("OCI-Filters-Applied")
        self.check(applied == "artifactType", f"OCI-Filters-Applied is {applied!r}, expected 'artifactType'", response)
        manifests = response.json().get("manifests")
        self.check(manifests == [self.referrers[SIGNATURE_TYPE]],
                   f"filtered listing: got {json.dumps(manifests)}", response)
        response = self.get(url, params={"artifactType": "application/x-nothing"})
        self.expect_status(response, 200, "referrers filtered on an unused artifactType")
        self.check(response.json().get("manifests") == [], "filter on an unused artifactType is not empty", response)

        self.step = "3c. referrers of a manifest without any"
        response = self.get(f"{self.base}/referrers/{self.referrers[SIGNATURE_TYPE]['digest']}")
        self.expect_status(response, 200, "referrers of a referrer")
        self.check(response.json().get("manifests") == [], "a referrer lists referrers of its own", response)

    def pull_and_verify(self):
        self.step = "4. pull() and verify every digest"
        outdir = os.path.join(self.work, "pulled")
        files = self.client.pull(target=self.target("v1"), outdir=outdir)
        wanted_file = os.path.join(outdir, "agent.bin")
        self.check(files == [wanted_file], f"pull() returned {files}, expected [{wanted_file}]")
        with open(wanted_file, "rb") as f:
            pulled = f.read()
        got = "sha256:" + hashlib.sha256(pulled).hexdigest()
        self.check(got == self.layer["digest"] and len(pulled) == self.layer["size"],
                   f"pulled agent.bin has digest {got} and {len(pulled)} bytes, expected "
                   f"{self.layer['digest']} and {self.layer['size']}")
        self.check(pulled == self.agent, "pulled agent.bin differs from the original")

        self.step = "4b. get_manifest and verify the manifest digest"
        for reference in ("v1", self.digest):
            manifest = self.client.get_manifest(self.target(reference))
            self.check(manifest == self.manifest, f"get_manifest({reference}) differs from what was pushed")
        # get_manifest returns only the parsed JSON; digest the raw bytes ourselves.
        response = self.get(f"{self.base}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        self.expect_status(response, 200, "GET manifest v1")
        got = "sha256:" + hashlib.sha256(response.content).hexdigest()
        self.check(got == self.digest, f"manifest bytes hash to {got}, expected {self.digest}", response)
        header = response.headers.get("Docker-Content-Digest")
        self.check(header == self.digest, f"Docker-Content-Digest {header!r} is not {self.digest}", response)
        self.check(response.headers.get("Content-Type") == OCI_MANIFEST, "manifest Content-Type", response)
        self.check(len(response.content) == self.size, "manifest size", response)

        self.step = "4c. download every blob and verify its digest"
        for desc, original in ((self.config, self.agent_def), (self.layer, self.agent)):
            out = os.path.join(self.work, "blob-" + desc["digest"].split(":")[1])
            self.client.download_blob(self.target("v1"), desc["digest"], out)
            with open(out, "rb") as f:
                data = f.read()
            got = "sha256:" + hashlib.sha256(data).hexdigest()
            self.check(got == desc["digest"] and len(data) == desc["size"],
                       f"blob {desc['digest']} ({desc['mediaType']}) came back as {got}, {len(data)} bytes")
            self.check(data == original, f"blob {desc['digest']} differs from the original")
        # And the artifact pushed by push() too.
        files = self.client.pull(target=self.target("plain"), outdir=os.path.join(self.work, "pulled-plain"))
        self.check(len(files) == 1, f"pull() of the plain artifact returned {files}")
        with open(files[0], "rb") as f, open(self.plain_path, "rb") as g:
            self.check(f.read() == g.read(), "pulled plain.txt differs from the original")
        manifest = self.client.get_manifest(self.target("plain"))
        for desc in [manifest["config"], *manifest["layers"]]:
            data = self.client.get_blob(self.target("plain"), desc["digest"]).content
            got = "sha256:" + hashlib.sha256(data).hexdigest()
            self.check(got == desc["digest"], f"plain artifact blob {desc['digest']} came back as {got}")

    def tags(self):
        self.step = "5. get_tags"
        tags = self.client.get_tags(self.target("v1"))
        self.check(tags == ["plain", "v1", "v1-alias"], f"get_tags returned {tags}")
        first = self.client.get_tags(self.target("v1"), N=1)
        self.check(first == ["plain"], f"get_tags(N=1) returned {first}")

        self.step = "5b. DELETE by tag (202, the manifest stays)"
        response = self.client.do_request(f"{self.base}/manifests/v1-alias", "DELETE")
        self.expect_status(response, 202, "DELETE /manifests/v1-alias")
        tags = self.client.get_tags(self.target("v1"))
        self.check(tags == ["plain", "v1"], f"get_tags after DELETE of tag v1-alias returned {tags}")
        response = self.get(f"{self.base}/manifests/v1-alias", headers={"Accept": OCI_MANIFEST})
        self.expect_status(response, 404, "GET of the deleted tag")
        manifest = self.client.get_manifest(self.target(self.digest))
        self.check(manifest == self.manifest, "the manifest is gone with its deleted tag")

        self.step = "5c. delete_tag (oras-py deletes by digest)"
        self.check(self.client.delete_tag(self.target("plain"), "plain") is True, "delete_tag('plain') did not return True")
        tags = self.client.get_tags(self.target("v1"))
        self.check(tags == ["v1"], f"get_tags after delete_tag('plain') returned {tags}")
        response = self.get(f"{self.base}/manifests/{self.plain_digest}", headers={"Accept": OCI_MANIFEST})
        self.expect_status(response, 404, "GET by digest of the manifest delete_tag removed")
        oras_logger.set_level(50)  # delete_tag logs an error for the unknown tag
        self.check(self.client.delete_tag(self.target("v1"), "no-such-tag") is False,
                   "delete_tag of an unknown tag did not return False")
        oras_logger.set_level(40)
        # The referrers survive and the artifact is still there under v1.
        self.check(self.client.get_manifest(self.target("v1")) == self.manifest, "v1 changed after the deletes")

    def run(self):
        self.push_artifact()
        self.attach_referrers()
        self.list_referrers()
        self.pull_and_verify()
        self.tags()


def main():
    if len(sys.argv) != 3:
        print("usage: oras_interop.py ADDR WORKDIR", file=sys.stderr)
        return 2
    oras_logger.set_level(40)  # errors only
    test = Interop(sys.argv[1], sys.argv[2])
    try:
        test.run()
    except Failure as e:
        print(f"interop {CLIENT}: FAILED at step '{test.step}': {e}", file=sys.stderr)
        return 1
    except Exception as e:
        # oras-py raises its own errors (ValueError, HTTPError, ...): name the
        # step and show the registry response that led to it.
        print(
            f"interop {CLIENT}: FAILED at step '{test.step}': {type(e).__name__}: {e}\n"
            f"{test.describe(test.last)}\n{traceback.format_exc(limit=4, chain=False)}",
            file=sys.stderr,
        )
        return 1
    print(
        f"interop {CLIENT} {oras.version.__version__}: "
        "push (artifactType, custom media types, chunked + monolithic), push(), "
        "referrers (+ artifactType filter), pull (digests verified, byte-identical), "
        "get_tags, DELETE by tag, delete_tag: ok"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
