#!/usr/bin/env python3
"""Benchmark Sentinel against CNCF Distribution with the same workload.

Started by run.sh (see there, and docs/performance.md). Both registries run
side by side on loopback ports, each with its data in a fresh temporary
directory, and every workload is run against each in turn, alternating which
goes first, so that background load on the machine hits both alike.

Only the Python standard library, curl, wrk and hload (hload.c, compiled by
run.sh) are used. Every loop is bounded in count and in time; only servers
and tools started here are stopped, by their PIDs.
"""

import argparse
import hashlib
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

MIB = 1024 * 1024
MB = 1000 * 1000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# A Sentinel agent package (docs/package-format.md, section 11), and the media
# types of the same bytes pushed as an artifact the registry does not catalogue.
AGENT_ARTIFACT = "application/x-sentinel-agent"
AGENT_CONFIG = "application/x-sentinel-agent-def+yaml"
AGENT_LAYER = "application/x-sentinel-agent"
PLAIN_ARTIFACT = "application/vnd.example.bench"
PLAIN_CONFIG = "application/vnd.example.bench.config"
PLAIN_LAYER = "application/vnd.example.bench.layer"
TITLE = "org.opencontainers.image.title"
VERSION = "org.opencontainers.image.version"
HTTP_TIMEOUT = 300  # seconds, for any single request
HERE = os.path.dirname(os.path.abspath(__file__))


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# servers


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_status(pid):
    """VmRSS and VmHWM of `pid`, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                values[name] = int(value.split()[0])
    return values


def cpu_seconds(pid):
    """User + system CPU time of `pid` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1 that answers every POST with 204 and
    counts them: the webhook of the webhooks-off baseline."""

    def __init__(self):
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                outer.received += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.received = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Server:
    """A registry process on 127.0.0.1:port, stopped by its PID."""

    def __init__(self, name, argv, env, workdir, port):
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.process = None
        self.peak_rss_sampled = 0
        self.phase_peaks = {}

    @property
    def pid(self):
        return self.process.pid

    def start(self, timeout=30):
        log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited at start-up; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v2/")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer on port {self.port} within {timeout}s")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def memory(self):
        return read_status(self.pid)

    def cpu(self):
        return cpu_seconds(self.pid)


class Sampler(threading.Thread):
    """Samples each server's VmRSS every `interval` seconds, per phase."""

    def __init__(self, servers, interval=0.1):
        super().__init__(daemon=True)
        self.servers = servers
        self.interval = interval
        self.phase = "start"
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(self.interval):
            for server in self.servers:
                try:
                    rss = server.memory()["VmRSS"]
                except (OSError, KeyError):
                    continue
                server.peak_rss_sampled = max(server.peak_rss_sampled, rss)
                peaks = server.phase_peaks
                peaks[self.phase] = max(peaks.get(self.phase, 0), rss)


# ---------------------------------------------------------------------------
# HTTP


class Client:
    """One keep-alive connection to a registry."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, target, body=None, headers=None, expect=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        headers = dict(headers or {})
        if body is not None and "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        try:
            self.conn.request(method, target, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        if expect is not None and response.status not in expect:
            raise BenchError(
                f"{method} {target} on port {self.port}: {response.status} "
                f"{data[:300]!r} (expected {expect})"
            )
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def relative(location, port):
    """A Location header as a request target on the server at `port`."""
    parts = urllib.parse.urlsplit(location)
    if parts.netloc and parts.netloc not in (f"127.0.0.1:{port}", f"localhost:{port}"):
        raise BenchError(f"upload location on another host: {location}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_digest(target, digest):
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}digest={urllib.parse.quote(digest, safe='')}"


def start_upload(client, repo):
    _, headers, _ = client.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"", expect=(202,))
    return relative(headers["location"], client.port)


def push_small_blob(client, repo, data, digest):
    """A blob as docker pushes it: HEAD, POST, PUT with the whole body."""
    client.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(404,))
    location = start_upload(client, repo)
    client.request(
        "PUT",
        with_digest(location, digest),
        body=data,
        headers={"Content-Type": "application/octet-stream"},
        expect=(201,),
    )


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(index, layer_size=1024):
    """A small image: config, one layer, and the manifest naming them."""
    layer = index.to_bytes(8, "big") + os.urandom(layer_size - 8)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            "config": {"Labels": {"bench.index": str(index)}},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        },
        separators=(",", ":"),
    ).encode()
    return config, layer, manifest


def put_manifest(client, repo, reference, manifest):
    client.request(
        "PUT",
        f"/v2/{repo}/manifests/{reference}",
        body=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        expect=(201,),
    )


def package_manifest(package, catalogued):
    """The manifest `agent push` writes for `package` (compact JSON, keys in
    section 11's order, annotations sorted, no `created`), or, with
    `catalogued` false, one for the same blobs under media types that are not
    Sentinel's, which the registry stores without reading them."""
    config, layer = package["config"], package["layer"]
    if catalogued:
        artifact, config_type, layer_type = AGENT_ARTIFACT, AGENT_CONFIG, AGENT_LAYER
    else:
        artifact, config_type, layer_type = PLAIN_ARTIFACT, PLAIN_CONFIG, PLAIN_LAYER
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact,
            "config": {"mediaType": config_type, "digest": sha256(config), "size": len(config)},
            "layers": [{
                "mediaType": layer_type, "digest": sha256(layer), "size": len(layer),
                "annotations": {TITLE: package["file"]},
            }],
            "annotations": {TITLE: package["name"], VERSION: package["version"]},
        },
        separators=(",", ":"),
    ).encode()


def build_packages(agent, count, workdir, timeout, threads=2):
    """`count` distinct small agent packages made with the real CLI: `agent
    init`, version 1.0.<i>, a short README, `agent pack`. The CLI gets its own
    HOME, configuration and store under `workdir`. Returns, per package, its
    name, version, file name, definition bytes (the config blob) and `.sntl`
    bytes (the layer)."""
    root = os.path.join(workdir, "packages")
    home = os.path.join(root, "home")
    os.makedirs(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "XDG_"))}
    env.update(
        HOME=home,
        AGENT_CONFIG_DIR=os.path.join(home, "config"),
        AGENT_STORE=os.path.join(home, "store"),
        XDG_CONFIG_HOME=os.path.join(home, "xdg"),
    )
    name = f"bench-{count}"
    deadline = time.monotonic() + timeout

    def cli(*argv):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"building {count} packages took over {timeout}s")
        result = subprocess.run([agent, *argv], env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=left)
        if result.returncode != 0:
            raise BenchError(f"agent {' '.join(argv)} failed ({result.returncode}): "
                             f"{result.stderr.strip()[:500]}")

    def one(i):
        directory = os.path.join(root, f"p{i:05d}")
        version = f"1.0.{i}"
        cli("init", directory, "--name", name)
        definition = os.path.join(directory, "agent.yaml")
        with open(definition) as f:
            text = f.read()
        text, found = re.subn(r"(?m)^version:.*$", f"version: {version}", text)
        if found != 1:
            raise BenchError(f"agent init wrote no single version line in {definition}")
        with open(definition, "w") as f:
            f.write(text)
        with open(os.path.join(directory, "README.md"), "w") as f:
            f.write(f"# {name} {version}\n\nA package made by the benchmark harness, "
                    f"number {i}.\n")
        file_name = f"{name}-{version}.agent.sntl"
        packed = os.path.join(root, file_name)
        cli("pack", directory, "-o", packed)
        # pack does not change agent.yaml: its bytes are the definition in the
        # package (the registry checks that on every catalogued push).
        with open(definition, "rb") as f:
            config = f.read()
        with open(packed, "rb") as f:
            layer = f.read()
        return {"name": name, "version": version, "file": file_name,
                "config": config, "layer": layer}

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


# ---------------------------------------------------------------------------
# workloads


class Blob:
    """A file of `size` random bytes whose first 16 bytes change per push,
    so that no push finds its blob already stored."""

    def __init__(self, path, size):
        self.path = path
        self.size = size
        self.serial = 0
        with open(path, "wb") as f:
            remaining = size
            while remaining > 0:
                n = min(remaining, 8 * MIB)
                f.write(os.urandom(n))
                remaining -= n

    def next(self):
        self.serial += 1
        with open(self.path, "r+b") as f:
            f.write(self.serial.to_bytes(8, "big") + os.urandom(8))
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(8 * MIB):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()


def quiesce():
    """Write back dirty pages so one run's writeback does not land in the next."""
    os.sync()
    time.sleep(0.2)


def run_curl(args, timeout):
    started = time.perf_counter()
    result = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"curl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout, elapsed


def mono_push(server, blob, digest, repo):
    """POST, then PUT ?digest= streaming the whole file with curl."""
    client = Client(server.port)
    started = time.perf_counter()
    location = start_upload(client, repo)
    url = f"http://127.0.0.1:{server.port}{with_digest(location, digest)}"
    out, _ = run_curl(
        [
            "-X", "PUT", "-T", blob.path, "-H", "Expect:",
            "-H", "Content-Type: application/octet-stream",
            "-o", "/dev/null", "-w", "%{http_code}", url,
        ],
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    client.close()
    if out.strip() != "201":
        raise BenchError(f"{server.name}: monolithic PUT answered {out.strip()}")
    return elapsed


def single_post_push(server, path, digest, repo):
    """One POST ?digest= with the whole file (the spec's single-request
    upload); returns the status and the seconds taken. Distribution 2.8 does
    not implement it (it opens a session and answers 202), so a failure to
    send the body is an answer here, not an error."""
    # With -T, curl appends the file's name to a URL ending in "/"; giving
    # the path with --request-target keeps it as it is.
    target = f"/v2/{repo}/blobs/uploads/?digest={digest}"
    started = time.perf_counter()
    result = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-X", "POST", "-T", path, "-H", "Expect:",
         "-H", "Content-Type: application/octet-stream", "--request-target", target,
         "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{server.port}/v2"],
        capture_output=True, text=True, timeout=600,
    )
    elapsed = time.perf_counter() - started
    return (result.stdout.strip() or f"curl error {result.returncode}"), elapsed


def chunked_push(server, blob, digest, repo, chunk_size):
    """POST, PATCH each chunk with Content-Range, PUT ?digest= with no body."""
    client = Client(server.port)
    with open(blob.path, "rb") as f:
        started = time.perf_counter()
        location = start_upload(client, repo)
        offset = 0
        for _ in range(blob.size // chunk_size + 2):
            data = f.read(chunk_size)
            if not data:
                break
            _, headers, _ = client.request(
                "PATCH",
                location,
                body=data,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}",
                },
                expect=(202,),
            )
            offset += len(data)
            location = relative(headers["location"], server.port)
        client.request("PUT", with_digest(location, digest), body=b"", expect=(201,))
        elapsed = time.perf_counter() - started
    client.close()
    if offset != blob.size:
        raise BenchError("chunked push sent the wrong number of bytes")
    return elapsed


def pull(server, repo, digest, size):
    url = f"http://127.0.0.1:{server.port}/v2/{repo}/blobs/{digest}"
    out, elapsed = run_curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", url], 600)
    status, downloaded = out.split()
    if status != "200" or int(downloaded) != size:
        raise BenchError(f"{server.name}: pull answered {status} with {downloaded} bytes")
    return elapsed


WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def run_wrk(args, url, duration, connections, threads):
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
        "--timeout", "10s", *args, url,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    out = result.stdout
    if result.returncode != 0 or "Requests/sec" not in out:
        raise BenchError(f"wrk failed: {result.stderr.strip()} {out}")
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    figures["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M):
        figures[f"p{pct}_ms"] = float(value) * WRK_UNITS[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["errors"] = sum(int(x) for x in errors.groups()) if errors else 0
    figures["tool"] = "wrk"
    return figures


def run_hload(hload, method, headers, url, duration, connections, threads):
    argv = [hload, "-c", str(connections), "-t", str(threads), "-d", str(duration), "-m", method]
    for header in headers:
        argv += ["-H", header]
    result = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0:
        raise BenchError(f"hload failed: {result.stderr.strip()}")
    figures = json.loads(result.stdout)
    figures["tool"] = "hload"
    return figures


# ---------------------------------------------------------------------------
# the run


class Bench:
    def __init__(self, args, sentinel, distribution, workdir):
        self.args = args
        self.servers = [sentinel, distribution]
        self.workdir = workdir
        self.results = {}  # workload -> server name -> list of per-run dicts
        self.attached = []

    def record(self, workload, server, figures):
        self.results.setdefault(workload, {}).setdefault(server.name, []).append(figures)

    def orders(self, reps):
        """Alternate which server goes first: s,d then d,s (ABBA)."""
        for rep in range(reps):
            yield rep, (self.servers if rep % 2 == 0 else list(reversed(self.servers)))

    def measure(self, workload, server, work):
        """Runs `work()` and records its figures plus the server's CPU time."""
        quiesce()
        attach = self.attach(workload, server)
        cpu_before = server.cpu()
        try:
            figures = work()
        finally:
            self.detach(attach)
        figures["server_cpu_s"] = server.cpu() - cpu_before
        figures["loadavg"] = open("/proc/loadavg").read().split()[0]
        self.record(workload, server, figures)
        return figures

    def attach(self, workload, server):
        """Optionally attaches a profiler (--attach) to Sentinel for this run."""
        template = self.args.attach
        if not template or server.name != "sentinel":
            return None
        wanted = self.args.attach_only and self.args.attach_only.split(",")
        if wanted and workload not in wanted and workload.split("-")[0] not in wanted:
            return None
        command = template.format(pid=server.pid, workload=workload, workdir=self.workdir)
        process = subprocess.Popen(shlex.split(command), start_new_session=True)
        time.sleep(self.args.attach_delay)
        return process

    @staticmethod
    def detach(process):
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def wanted(self, workload):
        only = self.args.only
        return not only or workload in only.split(",")

    # -- blobs ----------------------------------------------------------------

    def blob_workloads(self):
        a = self.args
        if not any(self.wanted(w) for w in ("mono", "single", "chunked", "pull")):
            return
        blob = Blob(os.path.join(self.workdir, "blob.bin"), a.blob_mib * MIB)
        pulled = {}
        if self.wanted("mono") or self.wanted("pull"):
            log(f"monolithic push (POST + PUT) of {a.blob_mib} MiB, {a.reps} runs each")
            for rep, order in self.orders(a.reps):
                for server in order:
                    digest = blob.next()
                    f = self.measure(
                        "mono", server,
                        lambda: {"seconds": mono_push(server, blob, digest, "bench/mono")},
                    )
                    f["mb_s"] = blob.size / MB / f["seconds"]
                    pulled[server.name] = digest
                    log(f"  {server.name:12} {f['mb_s']:8.1f} MB/s")
        if self.wanted("single"):
            log("single-request push (POST ?digest=)")
            probe = os.path.join(self.workdir, "probe.bin")
            with open(probe, "wb") as f:
                f.write(os.urandom(4096))
            with open(probe, "rb") as f:
                probe_digest = sha256(f.read())
            supported = {}
            for server in self.servers:
                status, _ = single_post_push(server, probe, probe_digest, "bench/single")
                supported[server.name] = status == "201"
                if not supported[server.name]:
                    log(f"  {server.name:12} answers {status}: not supported, not timed")
                    self.record("single", server, {"status": status, "mb_s": None})
            for rep, order in self.orders(a.reps):
                for server in order:
                    if not supported[server.name]:
                        continue
                    digest = blob.next()
                    f = self.measure(
                        "single", server,
                        lambda: dict(zip(("status", "seconds"),
                                         single_post_push(server, blob.path, digest, "bench/single"))),
                    )
                    if f["status"] != "201":
                        raise BenchError(f"{server.name}: single-request push answered {f['status']}")
                    f["mb_s"] = blob.size / MB / f["seconds"]
                    log(f"  {server.name:12} {f['mb_s']:8.1f} MB/s")
        if self.wanted("chunked"):
            chunk = a.chunk_mib * MIB
            log(f"chunked push, {a.chunk_mib} MiB chunks")
            for rep, order in self.orders(a.reps):
                for server in order:
                    digest = blob.next()
                    f = self.measure(
                        "chunked", server,
                        lambda: {"seconds": chunked_push(server, blob, digest, "bench/chunked", chunk)},
                    )
                    f["mb_s"] = blob.size / MB / f["seconds"]
                    log(f"  {server.name:12} {f['mb_s']:8.1f} MB/s")
        if self.wanted("pull") and pulled:
            log(f"blob pull, {a.pull_reps} runs each")
            for server in self.servers:  # one untimed pull: the page cache is warm for both
                pull(server, "bench/mono", pulled[server.name], blob.size)
            for rep, order in self.orders(a.pull_reps):
                for server in order:
                    f = self.measure(
                        "pull", server,
                        lambda: {"seconds": pull(server, "bench/mono", pulled[server.name], blob.size)},
                    )
                    f["mb_s"] = blob.size / MB / f["seconds"]
                    log(f"  {server.name:12} {f['mb_s']:8.1f} MB/s")
        os.unlink(blob.path)

    # -- setup: one image with many tags, many repositories -------------------

    def parallel(self, server, jobs, work, deadline_s):
        """Runs work(client, job) for each job on `self.args.setup_threads`
        connections; returns how many ran."""
        local = threading.local()
        clients = []
        lock = threading.Lock()
        deadline = time.monotonic() + deadline_s

        def run(job):
            if time.monotonic() > deadline:
                raise BenchError(f"{server.name}: setup took over {deadline_s}s")
            if not hasattr(local, "client"):
                local.client = Client(server.port)
                with lock:
                    clients.append(local.client)
            work(local.client, job)

        with ThreadPoolExecutor(self.args.setup_threads) as pool:
            done = sum(1 for _ in pool.map(run, jobs))
        for client in clients:
            client.close()
        return done

    def setup(self):
        a = self.args
        config, layer, manifest = image(0)
        self.base_image = (config, layer, manifest)
        need_tags = any(self.wanted(w) for w in ("get", "head", "tags"))
        need_repos = self.wanted("catalog")
        if not (need_tags or need_repos):
            return

        def one_server(server):
            started = time.perf_counter()
            client = Client(server.port)
            push_small_blob(client, "bench/tags", config, sha256(config))
            push_small_blob(client, "bench/tags", layer, sha256(layer))
            put_manifest(client, "bench/tags", "latest", manifest)
            client.close()
            tags = [f"t{i:04d}" for i in range(a.tags)]
            self.parallel(
                server, tags,
                lambda c, tag: put_manifest(c, "bench/tags", tag, manifest),
                a.setup_timeout,
            )
            if need_repos:
                def make_repo(c, i):
                    repo = f"catalog/r{i:04d}"
                    for blob in (config, layer):
                        c.request(
                            "POST",
                            f"/v2/{repo}/blobs/uploads/?mount={sha256(blob)}&from=bench/tags",
                            body=b"",
                            expect=(201,),
                        )
                    put_manifest(c, repo, "v1", manifest)

                self.parallel(server, range(a.repos), make_repo, a.setup_timeout)
            return time.perf_counter() - started

        log(f"setup: {a.tags} tags and {a.repos if need_repos else 0} repositories "
            f"on both servers at once ({a.setup_threads} connections each)")
        with ThreadPoolExecutor(len(self.servers)) as pool:
            took = dict(zip((s.name for s in self.servers), pool.map(one_server, self.servers)))
        for name, seconds in took.items():
            log(f"  {name:12} setup took {seconds:.1f}s")
        self.setup_seconds = took

        for server in self.servers:
            client = Client(server.port)
            if need_tags:
                _, _, body = client.request("GET", "/v2/bench/tags/tags/list", expect=(200,))
                count = len(json.loads(body)["tags"])
                if count != a.tags + 1:
                    raise BenchError(f"{server.name}: tags list has {count} tags, not {a.tags + 1}")
            if need_repos:
                _, _, body = client.request("GET", f"/v2/_catalog?n={a.repos}", expect=(200,))
                count = len(json.loads(body)["repositories"])
                if count != a.repos:
                    raise BenchError(f"{server.name}: catalog page has {count} names, not {a.repos}")
            client.close()

    # -- request rates and latencies -------------------------------------------

    def manifest_workloads(self):
        a = self.args
        path = f"/v2/bench/tags/manifests/t{a.tags // 2:04d}"
        accept = f"Accept: {OCI_MANIFEST}"
        for server in self.servers:
            # Check the answer once, and warm up both servers alike.
            client = Client(server.port)
            _, headers, body = client.request("GET", path, headers={"Accept": OCI_MANIFEST}, expect=(200,))
            if body != self.base_image[2] or headers.get("content-type") != OCI_MANIFEST:
                raise BenchError(f"{server.name}: manifest GET returned other bytes or type")
            client.request("HEAD", path, headers={"Accept": OCI_MANIFEST}, expect=(200,))
            client.close()
            run_wrk(["-H", accept], f"http://127.0.0.1:{server.port}{path}", 2, a.connections, a.wrk_threads)
        for workload, method in (("get", "GET"), ("head", "HEAD")):
            if not self.wanted(workload):
                continue
            log(f"manifest {method} by tag, {a.connections} connections, {a.reps} x {a.duration}s")
            for rep, order in self.orders(a.reps):
                for server in order:
                    url = f"http://127.0.0.1:{server.port}{path}"
                    if method == "GET":
                        work = lambda: run_wrk(["-H", accept], url, a.duration, a.connections, a.wrk_threads)
                    else:
                        work = lambda: run_hload(a.hload, "HEAD", [accept], url, a.duration,
                                                 a.connections, a.wrk_threads)
                    f = self.measure(workload, server, work)
                    f["cpu_us_per_request"] = f["server_cpu_s"] / max(f["requests"], 1) * 1e6
                    log(f"  {server.name:12} {f['rps']:10.0f} req/s  p99 {f['p99_ms']:.2f} ms "
                        f"({f['tool']}, non-2xx {f['non_2xx']}, errors {f['errors']})")
        if self.wanted("get") and a.cross_check:
            log("cross-check: manifest GET with hload (the HEAD tool)")
            for server in self.servers:
                url = f"http://127.0.0.1:{server.port}{path}"
                f = self.measure(
                    "get-hload", server,
                    lambda: run_hload(a.hload, "GET", [accept], url, a.duration, a.connections, a.wrk_threads),
                )
                log(f"  {server.name:12} {f['rps']:10.0f} req/s  p99 {f['p99_ms']:.2f} ms (hload)")

    def latency_workload(self, workload, path, what):
        a = self.args
        log(f"{what}: 1 connection, {a.reps} x {a.latency_duration}s")
        for rep, order in self.orders(a.reps):
            for server in order:
                url = f"http://127.0.0.1:{server.port}{path}"
                f = self.measure(workload, server, lambda: run_wrk([], url, a.latency_duration, 1, 1))
                log(f"  {server.name:12} p50 {f['p50_ms']:.2f} ms  p99 {f['p99_ms']:.2f} ms "
                    f"({f['requests']} requests)")

    # -- small pushes -----------------------------------------------------------

    def small_pushes(self):
        a = self.args
        log(f"{a.small_pushes} sequential small pushes (HEAD/POST/PUT config and layer, "
            f"PUT manifest), {a.reps} runs each")
        for rep, order in self.orders(a.reps):
            for server in order:
                # Fresh content for every push, made before the clock starts.
                images = [image(100000 * (rep + 1) + i) for i in range(a.small_pushes)]
                repo = "bench/small"

                def work():
                    client = Client(server.port)
                    deadline = time.monotonic() + a.small_timeout
                    started = time.perf_counter()
                    done = 0
                    for i, (config, layer, manifest) in enumerate(images):
                        if time.monotonic() > deadline:
                            break
                        push_small_blob(client, repo, config, sha256(config))
                        push_small_blob(client, repo, layer, sha256(layer))
                        put_manifest(client, repo, f"r{rep}-{i:04d}", manifest)
                        done += 1
                    elapsed = time.perf_counter() - started
                    client.close()
                    return {"pushes": done, "seconds": elapsed, "complete": done == len(images)}

                f = self.measure("small", server, work)
                f["pushes_s"] = f["pushes"] / f["seconds"]
                f["cpu_ms_per_push"] = f["server_cpu_s"] / max(f["pushes"], 1) * 1000
                log(f"  {server.name:12} {f['pushes_s']:8.1f} pushes/s "
                    f"({f['pushes']} in {f['seconds']:.1f}s)")

    # -- package pushes, with and without cataloguing ---------------------------

    def package_pushes(self):
        """Issue 12's figure: small agent packages pushed as `agent push` does
        (the registry reads, checks and catalogues each), against the same
        blobs under a manifest the registry does not read (`plain`). On
        Sentinel only: Distribution does not catalogue."""
        a = self.args
        if not a.agent or not os.access(a.agent, os.X_OK):
            log(f"packages: skipped, no agent binary at {a.agent} (give --agent BIN)")
            return
        count = a.packages or a.small_pushes
        sentinel = next(s for s in self.servers if s.name == "sentinel")
        log(f"packages: building {count} agent packages with {a.agent} (init, pack)")
        started = time.perf_counter()
        packages = build_packages(a.agent, count, self.workdir, a.setup_timeout)
        self.package_build_seconds = time.perf_counter() - started
        sizes = sorted(len(p["layer"]) for p in packages)
        log(f"  built in {self.package_build_seconds:.1f}s; .sntl {sizes[0]}-{sizes[-1]} bytes, "
            f"agent.yaml {len(packages[0]['config'])} bytes")
        manifests = {variant: [package_manifest(p, variant == "catalogued") for p in packages]
                     for variant in ("catalogued", "plain")}
        # Both variants push the same blobs. The registry keeps one copy of a
        # blob whatever repository it is pushed to, and an upload of a blob
        # it already stores is cheaper (no rename, no directory sync); so
        # store every blob once, untimed, and both variants take that path.
        client = Client(sentinel.port)
        for p in packages:
            push_small_blob(client, "bench/pkg-seed", p["config"], sha256(p["config"]))
            push_small_blob(client, "bench/pkg-seed", p["layer"], sha256(p["layer"]))
        client.close()
        log(f"{count} sequential package pushes on sentinel only (distribution does not "
            f"catalogue packages): catalogued vs plain, {a.reps} runs each, order alternating")
        for rep in range(a.reps):
            order = ("catalogued", "plain") if rep % 2 == 0 else ("plain", "catalogued")
            pair = {}
            for variant in order:
                repo = f"bench/pkg-{rep}" if variant == "catalogued" else f"bench/plain-{rep}"
                pushes = list(zip(packages, manifests[variant]))

                def work():
                    client = Client(sentinel.port)
                    deadline = time.monotonic() + a.small_timeout
                    started = time.perf_counter()
                    done = 0
                    manifest_puts = []  # where the variants differ: the manifest PUT
                    for package, manifest in pushes:
                        if time.monotonic() > deadline:
                            break
                        push_small_blob(client, repo, package["config"], sha256(package["config"]))
                        push_small_blob(client, repo, package["layer"], sha256(package["layer"]))
                        put_started = time.perf_counter()
                        put_manifest(client, repo, package["version"], manifest)
                        manifest_puts.append(time.perf_counter() - put_started)
                        done += 1
                    elapsed = time.perf_counter() - started
                    client.close()
                    return {"pushes": done, "seconds": elapsed, "complete": done == len(pushes),
                            "rep": rep,
                            "manifest_put_ms_p50": statistics.median(manifest_puts) * 1000,
                            "manifest_put_ms_mean": statistics.fmean(manifest_puts) * 1000}

                f = self.measure(f"packages-{variant}", sentinel, work)
                f["pushes_s"] = f["pushes"] / f["seconds"]
                f["cpu_ms_per_push"] = f["server_cpu_s"] / max(f["pushes"], 1) * 1000
                pair[variant] = f["pushes_s"]
                log(f"  {variant:12} {f['pushes_s']:8.1f} pushes/s ({f['pushes']} in "
                    f"{f['seconds']:.1f}s, server CPU {f['cpu_ms_per_push']:.2f} ms/push, "
                    f"manifest PUT p50 {f['manifest_put_ms_p50']:.2f} ms, "
                    f"mean {f['manifest_put_ms_mean']:.2f} ms, load {f['loadavg']})")
                if variant == "catalogued":
                    self.check_catalogued(sentinel, repo, f["pushes"], count)
                else:
                    self.check_not_catalogued(sentinel, repo)
            ratio = pair["catalogued"] / pair["plain"]
            self.results.setdefault("packages-ratio", {}).setdefault("sentinel", []).append(
                {"rep": rep, "ratio": ratio, "order": list(order)})
            log(f"  catalogued / plain = {ratio:.3f}")

    @staticmethod
    def check_catalogued(server, repo, pushed, count):
        """The catalogue lists every version pushed to `repo`, and that is all of them."""
        client = Client(server.port)
        _, _, body = client.request("GET", f"/v1/packages/{repo}/versions", expect=(200,))
        client.close()
        versions = json.loads(body).get("versions", [])
        if pushed != count or len(versions) != count:
            raise BenchError(
                f"{server.name}: {pushed} of {count} packages pushed to {repo} in time, and "
                f"GET /v1/packages/{repo}/versions lists {len(versions)} versions, not {count}")

    @staticmethod
    def check_not_catalogued(server, repo):
        """The plain manifests are stored, but not as packages."""
        client = Client(server.port)
        status, _, body = client.request("GET", f"/v1/packages/{repo}/versions")
        client.close()
        if status != 404:
            raise BenchError(f"{server.name}: {repo} holds plain artifacts, but "
                             f"GET /v1/packages/{repo}/versions answered {status} {body[:200]!r}")

    # -- manifest GET under a signature policy ----------------------------------

    def signed_gets(self):
        """Issue 13's figure: manifest GET by tag and by digest in a repository
        whose signature policy requires signatures (the image signed by the
        trusted key), against the same image in a repository no policy covers,
        on one Sentinel started with that policy. Authentication is off, so
        every read goes through the policy. On Sentinel only: Distribution has
        no signature policy."""
        a = self.args
        if not a.sign_manifest or not os.access(a.sign_manifest, os.X_OK):
            log(f"signed-get: skipped, no sign_manifest binary at {a.sign_manifest} "
                "(cargo build --release -p sentinel-registry --example sign_manifest)")
            return
        if shutil.which("openssl") is None:
            log("signed-get: skipped, openssl is needed to make the trusted key")
            return
        directory = os.path.join(self.workdir, "signed-get")
        os.makedirs(directory)
        key, public = os.path.join(directory, "signer.pem"), os.path.join(directory, "signer.pub")
        for argv in (["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
                     ["openssl", "pkey", "-in", key, "-pubout", "-out", public]):
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
        config = os.path.join(directory, "sentinel.toml")
        with open(config, "w") as f:
            f.write('[[signature-policy]]\nrepositories = "bench/signed/*"\n'
                    'require = true\nkeys = ["signer.pub"]\n')
        port = free_port()
        main_sentinel = next(s for s in self.servers if s.name == "sentinel")
        server = Server(
            "sentinel",
            [a.sentinel, "serve", "--listen", f"127.0.0.1:{port}",
             "--data-dir", os.path.join(directory, "data"), "--config", config],
            main_sentinel.env, directory, port,
        )
        server.start()
        log(f"signed-get: sentinel with a policy requiring signatures on bench/signed/* "
            f"on 127.0.0.1:{port} (pid {server.pid})")
        try:
            self.signed_get_runs(server, key)
        finally:
            server.stop()

    def signed_get_runs(self, server, key):
        a = self.args
        config, layer, manifest = self.base_image
        digest = sha256(manifest)
        client = Client(server.port)
        for repo in ("bench/plain/img", "bench/signed/img", "bench/signed/unsigned"):
            push_small_blob(client, repo, config, sha256(config))
            push_small_blob(client, repo, layer, sha256(layer))
            put_manifest(client, repo, "latest", manifest)
        base = f"http://127.0.0.1:{server.port}"
        result = subprocess.run(
            [a.sign_manifest, key, base, "bench/signed/img", digest, OCI_MANIFEST,
             str(len(manifest))],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise BenchError(f"sign_manifest failed: {result.stderr.strip()[:500]}")
        # The policy is in force: the unsigned image is refused, the signed
        # one and the one outside the policy are served, by tag and digest.
        status, _, body = client.request(
            "GET", "/v2/bench/signed/unsigned/manifests/latest", headers={"Accept": OCI_MANIFEST})
        if status != 403 or b"bench/signed/*: not signed by a trusted key" not in body:
            raise BenchError(f"an unsigned manifest under the policy answered {status} "
                             f"{body[:200]!r}, not 403 DENIED")
        paths = {}
        for variant, repo in (("plain", "bench/plain/img"), ("signed", "bench/signed/img")):
            for by, reference in (("tag", "latest"), ("digest", digest)):
                path = f"/v2/{repo}/manifests/{reference}"
                _, headers, body = client.request(
                    "GET", path, headers={"Accept": OCI_MANIFEST}, expect=(200,))
                if body != manifest or headers.get("docker-content-digest") != digest:
                    raise BenchError(f"GET {path} returned other bytes or digest")
                paths[by, variant] = path
        client.close()
        accept = f"Accept: {OCI_MANIFEST}"
        for path in paths.values():  # warm up, as the get workload does
            run_wrk(["-H", accept], f"{base}{path}", 2, a.connections, a.wrk_threads)
        log(f"manifest GET by tag and by digest, signed repository (policy requires "
            f"signatures) vs plain repository (no policy), {a.connections} connections, "
            f"{a.reps} x {a.duration}s each, order alternating")
        for rep in range(a.reps):
            kinds = ("tag", "digest") if rep % 2 == 0 else ("digest", "tag")
            variants = ("plain", "signed") if rep % 2 == 0 else ("signed", "plain")
            ratios = {"rep": rep}
            for by in kinds:
                pair = {}
                for variant in variants:
                    url = f"{base}{paths[by, variant]}"
                    f = self.measure(
                        f"signed-get-{by}-{variant}", server,
                        lambda: run_wrk(["-H", accept], url, a.duration, a.connections,
                                        a.wrk_threads),
                    )
                    if f["non_2xx"] or f["errors"]:
                        raise BenchError(f"GET {paths[by, variant]}: {f['non_2xx']} answers "
                                         f"other than 2xx/3xx, {f['errors']} socket errors")
                    f["cpu_us_per_request"] = f["server_cpu_s"] / max(f["requests"], 1) * 1e6
                    f["rep"] = rep
                    pair[variant] = f["rps"]
                    log(f"  by {by:6} {variant:6} {f['rps']:10.0f} req/s  p99 {f['p99_ms']:.2f} ms"
                        f"  server CPU {f['cpu_us_per_request']:.1f} µs/req  load {f['loadavg']}")
                ratios[by] = pair["signed"] / pair["plain"]
                log(f"  by {by:6} signed / plain = {ratios[by]:.3f}")
            self.results.setdefault("signed-get-ratio", {}).setdefault("sentinel", []).append(ratios)

    # -- all -------------------------------------------------------------------

    def run(self, sampler):
        a = self.args
        time.sleep(1.0)
        self.idle = {s.name: s.memory() for s in self.servers}
        for s in self.servers:
            log(f"{s.name}: idle RSS {self.idle[s.name]['VmRSS'] / 1024:.1f} MiB (pid {s.pid})")

        def phase(name):
            sampler.phase = name

        phase("blobs")
        self.blob_workloads()
        phase("setup")
        self.setup()
        if self.wanted("get") or self.wanted("head"):
            phase("manifests")
            self.manifest_workloads()
        if self.wanted("tags"):
            phase("tags")
            self.latency_workload("tags", "/v2/bench/tags/tags/list", f"tags list of {a.tags + 1} tags")
        if self.wanted("small"):
            phase("small")
            self.small_pushes()
        if self.wanted("packages"):
            phase("packages")
            self.package_pushes()
        if self.wanted("signed-get"):
            phase("signed-get")
            self.signed_gets()
        if self.wanted("catalog"):
            phase("catalog")
            self.latency_workload("catalog", f"/v2/_catalog?n={a.repos}", f"catalog page of {a.repos} names")
        phase("end")
        time.sleep(2.0)
        self.final = {s.name: s.memory() for s in self.servers}


# ---------------------------------------------------------------------------
# report


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine_facts(args):
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def command(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"

    fs = "?"
    where = os.path.realpath(args.workdir or tempfile.gettempdir())
    best = ""
    with open("/proc/mounts") as f:
        for line in f:
            _device, mount, kind, options = line.split()[:4]
            inside = where == mount or where.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, fs = mount, f"{kind} ({options}) on {mount}"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "cpu flags (of interest)": " ".join(
            flag for flag in first("/proc/cpuinfo", "flags").split()
            if flag in ("sha_ni", "avx2", "avx512f", "aes")),
        "kernel": platform.release(),
        "memory": first("/proc/meminfo", "MemTotal"),
        "data filesystem": fs,
        "load average at start": open("/proc/loadavg").read().split()[:3],
        "sentinel": command([args.sentinel, "--version"]),
        "sentinel binary built": time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.stat(args.sentinel).st_mtime)),
        "repository HEAD at run time": command(
            ["git", "-C", os.path.dirname(HERE), "log", "-1", "--format=%h %ci %s"]),
        "agent": command([args.agent, "--version"]) if args.agent and os.access(args.agent, os.X_OK)
        else "none",
        "distribution": command([args.distribution, "--version"]),
        "wrk": command(["wrk", "-v"]).split(" Copyright")[0],
        "curl": " ".join(command(["curl", "--version"]).split()[:2]),
        "python": platform.python_version(),
    }


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 1 else f"{value:.{max(digits, 2)}f}"


def report(bench, facts, args, elapsed, command_line):
    r = bench.results
    # The second server: Distribution, or Sentinel with --metrics=false.
    base = bench.servers[1].name

    def med(workload, server, key):
        return median(f.get(key) for f in r.get(workload, {}).get(server, []))

    rows = []  # (workload, unit, higher_is_better, s, d, target text, verdict)

    def ratio(s, d):
        return s / d if s is not None and d not in (None, 0) else None

    def row(label, s, d, target="—", verdict="—"):
        rows.append((label, fmt(s), fmt(d), fmt(ratio(s, d), 2), target, verdict))

    def absolute(value, minimum):
        if value is None:
            return "—"
        return "met" if value >= minimum else "**MISSED**"

    if "mono" in r:
        s, d = med("mono", "sentinel", "mb_s"), med("mono", base, "mb_s")
        row(f"monolithic push {args.blob_mib} MiB, POST+PUT (MB/s)", s, d, "≥ 700 MB/s", absolute(s, 700))
    if "single" in r:
        s, d = med("single", "sentinel", "mb_s"), med("single", base, "mb_s")
        statuses = {f["status"] for f in r["single"].get(base, [])}
        note = "" if d is not None else f"; {base}: unsupported ({'/'.join(sorted(statuses))})"
        row(f"single-request push {args.blob_mib} MiB, POST ?digest= (MB/s{note})", s, d,
            "≥ 700 MB/s", absolute(s, 700))
    if "chunked" in r:
        s, d = med("chunked", "sentinel", "mb_s"), med("chunked", base, "mb_s")
        row(f"chunked push {args.blob_mib} MiB in {args.chunk_mib} MiB PATCHes (MB/s)", s, d,
            "≥ 700 MB/s", absolute(s, 700))
    if "pull" in r:
        s, d = med("pull", "sentinel", "mb_s"), med("pull", base, "mb_s")
        row(f"blob pull {args.blob_mib} MiB (MB/s)", s, d, "≥ 1,500 MB/s", absolute(s, 1500))
    for workload, method in (("get", "GET"), ("head", "HEAD")):
        if workload not in r:
            continue
        s, d = med(workload, "sentinel", "rps"), med(workload, base, "rps")
        tool = r[workload]["sentinel"][0]["tool"]
        verdict = "—" if s is None or d is None else ("met" if s >= 3 * d else "**MISSED**")
        row(f"manifest {method} by tag, {args.connections} conns, {tool} (req/s)", s, d, f"≥ 3× {base}", verdict)
        s, d = med(workload, "sentinel", "p99_ms"), med(workload, base, "p99_ms")
        verdict = "—" if s is None or d is None else ("met" if s < d else "**MISSED**")
        row(f"manifest {method} p99 latency (ms)", s, d, f"< {base}", verdict)
    if "get-hload" in r:
        s, d = med("get-hload", "sentinel", "rps"), med("get-hload", base, "rps")
        row(f"(cross-check) manifest GET, {args.connections} conns, hload (req/s)", s, d)
    for workload, what in (("tags", f"tags list, {args.tags + 1} tags"),
                           ("catalog", f"catalog, GET /v2/_catalog?n={args.repos}")):
        if workload not in r:
            continue
        for pct in ("p50", "p99"):
            s, d = med(workload, "sentinel", f"{pct}_ms"), med(workload, base, f"{pct}_ms")
            row(f"{what}, 1 conn: {pct} latency (ms)", s, d)
    if "small" in r:
        s, d = med("small", "sentinel", "pushes_s"), med("small", base, "pushes_s")
        verdict = "—" if s is None or d is None else ("met" if s >= 3 * d else "**MISSED**")
        row(f"{args.small_pushes} sequential small pushes (pushes/s)", s, d, f"≥ 3× {base}", verdict)
    if "packages-catalogued" in r and "packages-plain" in r:
        count = r["packages-catalogued"]["sentinel"][0]["pushes"]
        plain = med("packages-plain", "sentinel", "pushes_s")
        catalogued = med("packages-catalogued", "sentinel", "pushes_s")
        q = med("packages-ratio", "sentinel", "ratio")
        na = "n/a (does not catalogue)"
        rows.append((f"{count} sequential agent package pushes, plain manifest (pushes/s)",
                     fmt(plain), na, "—", "—", "—"))
        rows.append((f"{count} sequential agent package pushes, catalogued (pushes/s; "
                     "ratio = catalogued ÷ plain)", fmt(catalogued), na, fmt(q, 2),
                     "≥ 0.90 × plain", "—" if q is None else ("met" if q >= 0.90 else "**MISSED**")))
    if "signed-get-ratio" in r:
        na = "n/a (no signature policy)"
        for by in ("tag", "digest"):
            plain = med(f"signed-get-{by}-plain", "sentinel", "rps")
            signed = med(f"signed-get-{by}-signed", "sentinel", "rps")
            q = median(f.get(by) for f in r["signed-get-ratio"]["sentinel"])
            rows.append((f"manifest GET by {by}, {args.connections} conns, wrk, repository "
                         "without a policy (req/s)", fmt(plain), na, "—", "—", "—"))
            rows.append((f"manifest GET by {by}, {args.connections} conns, wrk, signed image in a "
                         "repository requiring signatures (req/s; ratio = signed ÷ without)",
                         fmt(signed), na, fmt(q, 2), "≥ 0.90 × without",
                         "—" if q is None else ("met" if q >= 0.90 else "**MISSED**")))
    mib = lambda kib: kib / 1024
    s, d = mib(bench.idle["sentinel"]["VmRSS"]), mib(bench.idle[base]["VmRSS"])
    row("RSS at idle, after start-up (MiB)", s, d, "< 30 MiB", "met" if s < 30 else "**MISSED**")
    s, d = mib(bench.final["sentinel"]["VmHWM"]), mib(bench.final[base]["VmHWM"])
    row("RSS peak during the run, VmHWM (MiB)", s, d)
    s, d = mib(bench.final["sentinel"]["VmRSS"]), mib(bench.final[base]["VmRSS"])
    row("RSS at idle after the run (MiB)", s, d)

    lines = []
    lines.append(f"| workload | sentinel | {base} | ratio | target | verdict |")
    lines.append("|---|---:|---:|---:|---|---|")
    for label, s, d, q, target, verdict in rows:
        lines.append(f"| {label} | {s} | {d} | {q} | {target} | {verdict} |")
    lines.append("")
    lines.append(f"ratio = sentinel ÷ {base} (for latency and RSS, lower is better). "
                 f"MB = 10^6 bytes. Figures are medians of {args.reps} runs "
                 f"({args.pull_reps} for pulls), run alternately against each server.")
    if "packages-ratio" in r:
        lines.append("Package pushes run on Sentinel only, the catalogued and the plain "
                     "variant alternately in each run; their ratio is the median of the "
                     "runs' ratios.")
    if "signed-get-ratio" in r:
        lines.append("Manifest GETs under a signature policy run on Sentinel only, on a second "
                     "server whose configuration requires signatures on `bench/signed/*`, "
                     "the two repositories alternately in each run; their ratio is the median "
                     "of the runs' ratios.")
    lines.append("")

    # Server CPU per unit of work: independent of the client's share of the CPUs.
    cpu_rows = []
    for workload, key, unit in (
        ("mono", "server_cpu_s", "CPU s per push"),
        ("chunked", "server_cpu_s", "CPU s per push"),
        ("pull", "server_cpu_s", "CPU s per pull"),
        ("get", "cpu_us_per_request", "CPU µs per request"),
        ("head", "cpu_us_per_request", "CPU µs per request"),
        ("small", "cpu_ms_per_push", "CPU ms per push"),
        ("packages-plain", "cpu_ms_per_push", "CPU ms per push"),
        ("packages-catalogued", "cpu_ms_per_push", "CPU ms per push"),
        ("packages-plain", "manifest_put_ms_p50", "manifest PUT ms, p50 (client)"),
        ("packages-catalogued", "manifest_put_ms_p50", "manifest PUT ms, p50 (client)"),
        ("signed-get-tag-plain", "cpu_us_per_request", "CPU µs per request"),
        ("signed-get-tag-signed", "cpu_us_per_request", "CPU µs per request"),
        ("signed-get-digest-plain", "cpu_us_per_request", "CPU µs per request"),
        ("signed-get-digest-signed", "cpu_us_per_request", "CPU µs per request"),
        ("signed-get-tag-plain", "p99_ms", "p99 latency ms"),
        ("signed-get-tag-signed", "p99_ms", "p99 latency ms"),
        ("signed-get-digest-plain", "p99_ms", "p99 latency ms"),
        ("signed-get-digest-signed", "p99_ms", "p99 latency ms"),
    ):
        if workload in r:
            s, d = med(workload, "sentinel", key), med(workload, base, key)
            cpu_rows.append(f"| {workload} | {unit} | {fmt(s, 2)} | {fmt(d, 2)} |")
    if cpu_rows:
        extras = []
        if "packages-plain" in r:
            extras.append("for packages, the manifest PUT's time at the client, where the "
                          "variants differ")
        if "signed-get-ratio" in r:
            extras.append("for signed-get, the p99 latency")
        lines.append("Server CPU time (user + system, from /proc/PID/stat) per unit of work"
                     + (f" (and, {'; '.join(extras)}):" if extras else ":"))
        lines.append("")
        lines.append(f"| workload | unit | sentinel | {base} |")
        lines.append("|---|---|---:|---:|")
        lines.extend(cpu_rows)
        lines.append("")

    peaks = []
    for phase in ("blobs", "setup", "manifests", "tags", "small", "packages", "signed-get",
                  "catalog"):
        s = bench.servers[0].phase_peaks.get(phase)
        d = bench.servers[1].phase_peaks.get(phase)
        if s or d:
            peaks.append(f"| {phase} | {fmt((s or 0) / 1024)} | {fmt((d or 0) / 1024)} |")
    if peaks:
        lines.append("Highest sampled VmRSS per phase (MiB, sampled every 0.1 s):")
        lines.append("")
        lines.append(f"| phase | sentinel | {base} |")
        lines.append("|---|---:|---:|")
        lines.extend(peaks)
        lines.append("")

    facts = dict(facts)
    facts["load average at end"] = open("/proc/loadavg").read().split()[:3]
    facts["harness run time"] = f"{elapsed:.0f} s"
    if getattr(bench, "package_build_seconds", None):
        facts["packages built (agent init + pack, untimed)"] = f"{bench.package_build_seconds:.1f} s"
    if getattr(bench, "setup_seconds", None):
        facts["setup time (tags + repositories)"] = ", ".join(
            f"{k} {v:.1f} s" for k, v in bench.setup_seconds.items())
    lines.append("Machine and run:")
    lines.append("")
    for key, value in facts.items():
        if isinstance(value, list):
            value = " ".join(value)
        lines.append(f"- {key}: {value}")
    lines.append(f"- command: `{command_line}`")
    if args.attach:
        lines.append(f"- **profiler attached to sentinel ({args.attach}): figures are not valid benchmarks**")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------


DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
catalog:
  maxentries: {maxentries}
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sentinel", required=True, help="sentinel-registry binary")
    p.add_argument("--distribution", required=True, help="docker-registry (Distribution) binary")
    p.add_argument("--hload", required=True, help="compiled hload.c")
    p.add_argument("--output", help="write the markdown report here too")
    p.add_argument("--workdir", help="parent of the temporary data directories (default: $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    p.add_argument("--only", help="comma-separated workloads: "
                   "mono,single,chunked,pull,get,head,tags,small,packages,signed-get,catalog")
    p.add_argument("--agent", help="the agent CLI binary, for the packages workload "
                   "(skipped without it)")
    p.add_argument("--sign-manifest", help="the sign_manifest example of sentinel-registry, "
                   "for the signed-get workload (skipped without it)")
    p.add_argument("--packages", type=int, default=0,
                   help="packages pushed per run of the packages workload (default: --small-pushes)")
    p.add_argument("--blob-mib", type=int, default=256)
    p.add_argument("--chunk-mib", type=int, default=8)
    p.add_argument("--reps", type=int, default=3, help="runs per workload and server")
    p.add_argument("--pull-reps", type=int, default=5)
    p.add_argument("--duration", type=int, default=8, help="seconds per wrk/hload run (manifests)")
    p.add_argument("--latency-duration", type=int, default=5, help="seconds per tags/catalog run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--tags", type=int, default=1000)
    p.add_argument("--repos", type=int, default=2000)
    p.add_argument("--small-pushes", type=int, default=500)
    p.add_argument("--small-timeout", type=int, default=300, help="seconds allowed for the small pushes")
    p.add_argument("--setup-threads", type=int, default=4)
    p.add_argument("--setup-timeout", type=int, default=600)
    p.add_argument("--cross-check", action="store_true", help="also measure manifest GET with hload")
    p.add_argument("--baseline", choices=("distribution", "metrics-off", "webhooks-off"),
                   default="distribution",
                   help="the second server: Distribution; or the same Sentinel with "
                   "--metrics=false (the cost of metrics; the second column is then 'metrics-off'); "
                   "or the same Sentinel without the webhook the first one then has, which "
                   "receives every event (pushes, pulls, ...) on a receiver in this process "
                   "(the cost of webhooks; the second column is then 'webhooks-off')")
    p.add_argument("--attach", help="command started around each sentinel run, e.g. "
                   "'perf record -g -p {pid} -o /tmp/{workload}.data'; stopped with SIGINT")
    p.add_argument("--attach-only", help="comma-separated workloads to attach to")
    p.add_argument("--attach-delay", type=float, default=1.0)
    p.add_argument("--command-line", default=" ".join(sys.argv), help=argparse.SUPPRESS)
    args = p.parse_args()

    facts = machine_facts(args)
    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="sentinel-bench-", dir=args.workdir)
    servers = []
    receiver = None
    stop_requested = []

    def on_signal(signum, _frame):
        stop_requested.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    failed = True
    interrupted = False
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
        env["SENTINEL_LOG"] = "info"
        s_port, d_port = free_port(), free_port()
        sentinel = Server(
            "sentinel",
            [args.sentinel, "serve", "--listen", f"127.0.0.1:{s_port}",
             "--data-dir", os.path.join(workdir, "sentinel-data")],
            env, workdir, s_port,
        )
        if args.baseline == "webhooks-off":
            receiver = WebhookReceiver()
            receiver.start()
            add = subprocess.run(
                [args.sentinel, "webhook", "add", "bench", "--url", receiver.url, "--events", "all",
                 "--data-dir", os.path.join(workdir, "sentinel-data")],
                env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if add.returncode != 0:
                raise BenchError(f"sentinel-registry webhook add failed: {add.stderr.strip()}")
            log(f"the sentinel column delivers every event to a webhook at {receiver.url}")
        if args.baseline in ("metrics-off", "webhooks-off"):
            name = args.baseline
            distribution = Server(
                name,
                [args.sentinel, "serve", "--listen", f"127.0.0.1:{d_port}",
                 "--data-dir", os.path.join(workdir, f"{name}-data")]
                + (["--metrics=false"] if name == "metrics-off" else []),
                env, workdir, d_port,
            )
        else:
            config_path = os.path.join(workdir, "distribution.yml")
            with open(config_path, "w") as f:
                f.write(DISTRIBUTION_CONFIG.format(
                    root=os.path.join(workdir, "distribution-data"), port=d_port,
                    maxentries=max(args.repos, 1000)))
            distribution = Server(
                "distribution",
                [args.distribution, "serve", config_path],
                {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
                workdir, d_port,
            )
        servers = [sentinel, distribution]
        for server in servers:
            server.start()
        log(f"sentinel on 127.0.0.1:{s_port} (pid {sentinel.pid}), "
            f"{distribution.name} on 127.0.0.1:{d_port} (pid {distribution.pid}); data in {workdir}")
        sampler = Sampler(servers)
        sampler.start()
        bench = Bench(args, sentinel, distribution, workdir)
        bench.run(sampler)
        sampler.stopping.set()
        elapsed = time.perf_counter() - started
        text = report(bench, facts, args, elapsed, args.command_line)
        print(text)
        if args.output:
            with open(args.output, "w") as f:
                f.write(text)
            with open(args.output + ".json", "w") as f:
                json.dump({"facts": facts, "results": bench.results, "idle": bench.idle,
                           "final": bench.final,
                           "phase_peaks_kib": {s.name: s.phase_peaks for s in servers}},
                          f, indent=1, default=str)
        failed = False
    except KeyboardInterrupt:
        log("interrupted")
        interrupted = True
    finally:
        for server in servers:
            server.stop()
        if receiver is not None:
            log(f"the webhook receiver got {receiver.received} deliveries")
            receiver.stop()
        if args.keep or (failed and not interrupted):
            log(f"data and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
