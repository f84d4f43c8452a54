"""Throwaway real services for tests, the demo and the benchmarks.

- :class:`DockerEngine`: an isolated ``dockerd`` (own socket, data-root,
  exec-root, pidfile under a temp dir), or the engine ``$DOCKER_HOST`` already
  points at.
- :class:`Registry`: the CNCF distribution registry (Debian's
  ``docker-registry``) on a free loopback port, plain or htpasswd-protected.
- :func:`ensure_base_image`: the examples' base image, a busybox rootfs from
  Debian's ``busybox-static`` imported into the engine (no network needed).

Everything started here is stopped by pid; every wait is bounded.
"""

import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Optional

BASE_IMAGE = "acrtasks-examples/busybox:local"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "ls", "cat", "echo", "sleep", "sha256sum", "dd", "mkdir", "true", "false", "env")


class HarnessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str, log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise HarnessError(f"{what} not ready after {timeout:.0f}s{tail}")


def _stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def engine_reachable(docker_host: str) -> bool:
    import docker

    try:
        docker.APIClient(base_url=docker_host, timeout=5).ping()
        return True
    except Exception:
        return False


def _free_subnet() -> str:
    """A /24 in 10.231.0.0/16 that no route of the host uses yet (containers of the engine live there)."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=False).stdout
    for third in range(os.getpid() % 200, os.getpid() % 200 + 50):
        prefix = f"10.231.{third % 250}."
        if prefix not in routes:
            return prefix
    raise HarnessError("no free 10.231.x.0/24 subnet for the test engine's bridge")


class Bridge:
    """A bridge of the engine's own, made and removed by the harness.

    ``dockerd --bridge=none`` would delete the host's ``docker0`` (moby removes
    the default bridge when bridging is disabled), and the default ``docker0``
    is the host engine's; a bridge of our own name and subnet touches neither.
    """

    def __init__(self, name: str):
        self.name = name
        self.created = False

    def create(self) -> "Bridge":
        if not shutil.which("ip"):
            raise HarnessError("ip not found: apt-get install iproute2")
        prefix = _free_subnet()
        for args in (["link", "add", "name", self.name, "type", "bridge"],
                     ["addr", "add", f"{prefix}1/24", "dev", self.name],
                     ["link", "set", self.name, "up"]):
            done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                self.remove()
                raise HarnessError(f"ip {' '.join(args)}: {done.stderr.strip()}")
            self.created = True
        return self

    def remove(self) -> None:
        if self.created:
            subprocess.run(["ip", "link", "delete", self.name, "type", "bridge"], capture_output=True, check=False)
            self.created = False


class DockerEngine:
    """A Docker engine for the duration of a test session."""

    def __init__(self, docker_host: str, proc: Optional[subprocess.Popen] = None, root: Optional[Path] = None,
                 bridge: Optional[Bridge] = None):
        self.docker_host = docker_host
        self.proc = proc
        self.root = root
        self.bridge = bridge

    @classmethod
    def start(cls, timeout: float = 60) -> "DockerEngine":
        """Reuse a reachable ``$DOCKER_HOST``; otherwise start an isolated dockerd (needs root)."""
        existing = os.environ.get("DOCKER_HOST")
        if existing and engine_reachable(existing):
            return cls(existing)
        dockerd = shutil.which("dockerd")
        if not dockerd:
            raise HarnessError("dockerd not found (apt-get install docker.io) and $DOCKER_HOST is not reachable")
        if os.geteuid() != 0:
            raise HarnessError("starting an isolated dockerd needs root; or set DOCKER_HOST to a running engine")
        root = Path(tempfile.mkdtemp(prefix="acrd-", dir="/tmp"))  # short: unix socket paths are limited
        (root / "daemon.json").write_text("{}")
        try:
            bridge = Bridge(f"acrbr{os.getpid() % 100000}-{root.name[-3:]}"[:15]).create()
        except HarnessError:
            shutil.rmtree(root, ignore_errors=True)
            raise
        sock = root / "docker.sock"
        log = root / "dockerd.log"
        args = [
            dockerd,
            f"--host=unix://{sock}",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
            f"--config-file={root / 'daemon.json'}",
            f"--bridge={bridge.name}",
            "--iptables=false",
            "--ip6tables=false",
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        engine = cls(f"unix://{sock}", proc, root, bridge)
        try:
            _wait(lambda: proc.poll() is None and sock.exists() and engine_reachable(engine.docker_host),
                  timeout, "dockerd", log)
        except BaseException:
            engine.stop()
            raise
        return engine

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)
            self.proc = None
        if self.root is not None:
            subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True, check=False)
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if self.bridge is not None:
            self.bridge.remove()
            self.bridge = None


def ensure_base_image(docker_host: str, name: str = BASE_IMAGE) -> str:
    """Import a busybox rootfs as ``name`` unless the engine has it; return the image id."""
    import docker

    api = docker.APIClient(base_url=docker_host, timeout=120)
    try:
        return api.inspect_image(name)["Id"]
    except docker.errors.ImageNotFound:
        pass
    if not Path(BUSYBOX).is_file():
        raise HarnessError(f"{BUSYBOX} not found: apt-get install busybox-static")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "srv"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    repository, tag = name.rsplit(":", 1)
    api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag, changes=["ENV PATH=/bin"])
    return api.inspect_image(name)["Id"]


def make_tls(directory: Path, host_ip: str = "127.0.0.1", names: tuple = ()) -> dict:
    """A throwaway CA and a server certificate for ``host_ip``, localhost and ``names``, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    dns = "".join(f",DNS:{name}" for name in ("localhost", *names))
    ext.write_text(f"subjectAltName=IP:{host_ip}{dns}\nextendedKeyUsage=serverAuth\n")

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
            "-days", "2", "-subj", "/CN=acrtasks test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host_ip}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return {"ca": ca_crt, "cert": crt, "key": key}


class Registry:
    """A distribution registry on a free loopback port; ``users`` enables htpasswd auth, ``tls`` HTTPS."""

    def __init__(self, users: Optional[dict] = None, tls: Optional[dict] = None, token: "Optional[TokenServer]" = None,
                 log_level: str = "warn"):
        self.log_level = log_level  # "info" logs every request (see write_requests)
        self.users = users or {}
        self.tls = tls
        self.token = token
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="acrreg-"))
        self.proc: Optional[subprocess.Popen] = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def _context(self):
        if not self.tls:
            return None
        import ssl

        return ssl.create_default_context(cafile=str(self.tls["ca"]))

    def start(self, timeout: float = 20) -> "Registry":
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if not binary:
            raise HarnessError("docker-registry not found: apt-get install docker-registry")
        config = {
            "version": 0.1,
            "log": {"level": self.log_level},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "acrtasks-test"},
        }
        if self.token:
            config["auth"] = self.token.registry_auth()
        elif self.users:
            htpasswd = self.root / "htpasswd"
            lines = []
            for user, password in self.users.items():
                done = subprocess.run(["htpasswd", "-niB", user], input=password, capture_output=True, text=True,
                                      check=True)
                lines.append(done.stdout.strip())
            htpasswd.write_text("\n".join(lines) + "\n")
            config["auth"] = {"htpasswd": {"realm": "acrtasks-test", "path": str(htpasswd)}}
        if self.tls:
            config["http"]["tls"] = {"certificate": str(self.tls["cert"]), "key": str(self.tls["key"])}
        config_path = self.root / "config.yml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        log = self.root / "registry.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([binary, "serve", str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        _wait(lambda: self.proc.poll() is None and self._answers(), timeout, f"registry on {self.host}", log)
        return self

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/v2/", timeout=2, context=self._context())
            return True
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)
            self.proc = None

    def write_requests(self) -> int:
        """How many POST/PUT/PATCH requests the registry has served (needs ``log_level="info"``)."""
        log = (self.root / "registry.log").read_text(errors="replace")
        return sum(1 for line in log.splitlines() if "response completed" in line
                   and any(f"http.request.method={m}" in line for m in ("POST", "PUT", "PATCH")))

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- reading back through the registry API --------------------------------------------

    def _request(self, method: str, path: str, headers: Optional[dict] = None):
        import base64

        request = urllib.request.Request(f"{self.url}{path}", method=method, headers=headers or {})
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return urllib.request.urlopen(request, timeout=10, context=self._context())

    def tags(self, repository: str) -> list:
        try:
            with self._request("GET", f"/v2/{repository}/tags/list") as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def repositories(self) -> list:
        with self._request("GET", "/v2/_catalog") as response:
            return sorted(json.load(response).get("repositories") or [])

    def digest(self, repository: str, tag: str) -> Optional[str]:
        accept = ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        ])
        try:
            with self._request("HEAD", f"/v2/{repository}/manifests/{tag}", {"Accept": accept}) as response:
                return response.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


# -- images made through the registry API ---------------------------------------------------------

def make_layer(size: int, seed: int = 0) -> dict:
    """A real gzip'd tar layer holding one file of ``size`` pseudo-random bytes (engines can pull it)."""
    import gzip
    import hashlib
    import random

    payload = random.Random(seed).randbytes(size)
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"data/blob-{seed}")
        info.size = size
        tar.addfile(info, io.BytesIO(payload))
    raw = tar_buffer.getvalue()
    compressed = gzip.compress(raw, compresslevel=1, mtime=0)
    return {"data": compressed, "digest": "sha256:" + hashlib.sha256(compressed).hexdigest(),
            "diff_id": "sha256:" + hashlib.sha256(raw).hexdigest(), "size": len(compressed)}


class RegistryWriter:
    """Pushes blobs and manifests straight through the registry API (for seeding test sources)."""

    def __init__(self, registry: "Registry"):
        import requests

        self.registry = registry
        self.session = requests.Session()
        self.session.trust_env = False
        if registry.users:
            self.session.auth = next(iter(registry.users.items()))
        if registry.tls:
            self.session.verify = str(registry.tls["ca"])

    def blob(self, repo: str, data=None, digest: Optional[str] = None, path: Optional[Path] = None) -> str:
        import hashlib

        if digest is None:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
        base = self.registry.url
        if self.session.head(f"{base}/v2/{repo}/blobs/{digest}").status_code == 200:
            return digest
        start = self.session.post(f"{base}/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["Location"]
        location = location if location.startswith("http") else base + location
        body = open(path, "rb") if path else data
        try:
            done = self.session.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", data=body,
                                    headers={"Content-Type": "application/octet-stream"})
        finally:
            if path:
                body.close()
        done.raise_for_status()
        return digest

    def manifest(self, repo: str, reference: str, body: dict, media_type: str) -> str:
        import hashlib

        raw = json.dumps(body).encode()
        done = self.session.put(f"{self.registry.url}/v2/{repo}/manifests/{reference}", data=raw,
                                headers={"Content-Type": media_type})
        done.raise_for_status()
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def image(self, repo: str, tag: Optional[str], layers: list, arch: str = "amd64", variant: str = "",
              oci: bool = False) -> dict:
        """A single-platform image from ``make_layer`` layers (Docker or OCI media types); returns its descriptor."""
        for layer in layers:
            self.blob(repo, layer["data"], layer["digest"])
        platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        config = json.dumps({**platform, "config": {}, "rootfs": {"type": "layers",
                                                                  "diff_ids": [l["diff_id"] for l in layers]}},
                            sort_keys=True).encode()
        config_digest = self.blob(repo, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": l["size"],
                        "digest": l["digest"]} for l in layers],
        }
        if oci:
            manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
            manifest["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json"
            for layer in manifest["layers"]:
                layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        import hashlib

        raw = json.dumps(manifest).encode()
        digest = self.manifest(repo, tag or "sha256:" + hashlib.sha256(raw).hexdigest(), manifest,
                               manifest["mediaType"])
        return {"mediaType": manifest["mediaType"], "size": len(raw), "digest": digest, "platform": platform}

    def index(self, repo: str, tag: str, images: list, oci: bool = False) -> str:
        """A multi-platform index (a Docker manifest list, or an OCI index) over ``image`` descriptors."""
        body = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json" if oci else
                "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": images}
        return self.manifest(repo, tag, body, body["mediaType"])


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as clients expect of a registry), no request log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


class LoopbackServer:
    """A small HTTP server on a free loopback port, with what the fake registries and proxies share:
    reading a request body (chunked or not), forwarding a request to a real registry, sending an answer.
    Handler threads are daemons, so a stalled answer never holds up ``stop``."""

    def __init__(self):
        self.port = free_port()
        self._server = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handler_class(self):  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def start(self):
        import threading
        from http.server import ThreadingHTTPServer

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", self.port), self.handler_class())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def read_body(handler) -> bytes:
    """The request body of a BaseHTTPRequestHandler, with or without chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    data = b""
    while True:
        size = int(handler.rfile.readline().strip().split(b";")[0], 16)
        if size == 0:
            handler.rfile.readline()
            return data
        data += handler.rfile.read(size)
        handler.rfile.readline()


_HOP_BY_HOP = ("host", "transfer-encoding", "content-length", "connection", "proxy-connection")


def forward(handler, upstream_host: str, path: str, body: bytes):
    """Send the handler's request to ``upstream_host``; return (status, headers, body) of the answer."""
    import http.client

    conn = http.client.HTTPConnection(upstream_host, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers["Content-Length"] = str(len(body))
    conn.request(handler.command, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
    conn.close()
    return response.status, out, data


def send(handler, status: int, headers: dict, body: bytes) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class TokenServer(LoopbackServer):
    """A Docker token service (Bearer auth) for a distribution registry in token mode.

    Checks Basic credentials, grants every requested action to a valid user, and
    signs RS256 JWTs whose ``x5c`` header carries a self-signed certificate
    that the registry trusts through ``rootcertbundle``.
    """

    SERVICE = "acrtasks-test-registry"
    ISSUER = "acrtasks-test-tokens"

    def __init__(self, users: dict, directory: Path):
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.users = users
        self.refresh_tokens: dict = {}  # identity (refresh) token -> user, for token logins
        self.requests_seen: list = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acrtasks test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle = directory / "token-signer.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._der = self.cert.public_bytes(serialization.Encoding.DER)
        super().__init__()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": str(self.bundle)}}

    def _sign(self, claims: dict) -> str:
        import base64

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._der).decode()]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def token_for(self, authorization: Optional[str], scopes: list, user: str = "") -> Optional[str]:
        import base64
        import secrets

        if authorization and not user:
            if not authorization.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return None
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and user:
                access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        return self._sign({"iss": self.ISSUER, "sub": user, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 10,
                           "iat": now, "jti": secrets.token_hex(8), "access": access})

    def handler_class(self):
        from urllib.parse import parse_qs, urlparse

        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.0"  # answers end with the connection, as before

            def do_POST(self):
                """OAuth2 refresh-token grant, as docker uses an ``identitytoken``."""
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                outer.requests_seen.append({"POST": form})
                user = outer.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                token = None
                if user and form.get("grant_type") == ["refresh_token"]:
                    token = outer.token_for(None, " ".join(form.get("scope", [])).split(), user=user)
                self._answer(token)

            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                outer.requests_seen.append(query)
                self._answer(outer.token_for(self.headers.get("Authorization"), query.get("scope", [])))

            def _answer(self, token):
                if token is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": token, "access_token": token, "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class FaultyRegistry(LoopbackServer):
    """A loopback proxy in front of a real registry that misbehaves in one way, on purpose.

    Faults: ``manifest_not_object`` (a JSON list), ``manifest_huge`` (claims 5 MiB and never sends it),
    ``manifest_endless`` (streams JSON with no Content-Length, past 4 MiB), ``manifest_wrong_digest`` (bytes
    that do not hash to the Docker-Content-Digest it sends), ``blob_reset`` (half a blob, then the connection
    drops), ``blob_stall`` (half a blob, then silence), ``token_html`` (a Bearer challenge whose token
    service answers an HTML page), ``upload_stall`` (accepts an upload session, then never answers the
    upload), ``blob_slow`` (every blob over 1000 bytes takes a second; ``intervals`` records when each was
    served, to see downloads overlap), ``target_wrong_digest`` (after a manifest PUT, the tag answers with
    another digest), ``tag_put_raced`` (a PUT of a manifest by tag reaches the registry, but the answer is
    distribution's ``DIGEST_INVALID``, as a concurrent writer causes), ``tag_put_refused`` (the same answer, and
    nothing stored). ``hit`` is set once the fault has been served. Handler threads are daemons: a stall
    never holds up ``stop``.
    """

    def __init__(self, upstream: Optional["Registry"], fault: str, stall_seconds: float = 30):
        import threading

        super().__init__()
        self.upstream = upstream
        self.fault = fault
        self.stall_seconds = stall_seconds
        self.hit = threading.Event()
        self.requests_seen: list = []
        self.intervals: list = []  # (start, end) of each slowed blob, monotonic seconds
        self.manifest_put = False

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def _upstream(self, body: bytes):
                status, headers, data = forward(self, outer.upstream.host, self.path, body)
                location = headers.get("Location")
                if location and location.startswith(f"http://{outer.upstream.host}"):
                    headers["Location"] = location.replace(outer.upstream.host, outer.host, 1)
                return status, headers, data

            def _stall(self) -> None:
                outer.hit.set()
                deadline = time.monotonic() + outer.stall_seconds
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                self.close_connection = True

            def handle_one(self) -> None:
                outer.requests_seen.append((self.command, self.path))
                fault, path = outer.fault, self.path
                body = read_body(self)
                if fault == "token_html":
                    if path.startswith("/token"):
                        outer.hit.set()
                        return send(self, 200, {"Content-Type": "text/html"}, b"<html><body>Sign in</body></html>")
                    return send(self, 401, {"WWW-Authenticate": f'Bearer realm="http://{outer.host}/token",'
                                                                  'service="faulty"'}, b"")
                tag_put = (self.command == "PUT" and "/manifests/" in path
                           and not path.rsplit("/", 1)[-1].startswith("sha256:"))
                if fault in ("tag_put_raced", "tag_put_refused") and tag_put and not outer.hit.is_set():
                    if fault == "tag_put_raced":
                        self._upstream(body)
                    outer.hit.set()
                    error = {"errors": [{"code": "DIGEST_INVALID", "message": "provided digest did not match "
                                                                              "uploaded content"}]}
                    return send(self, 400, {"Content-Type": "application/json"}, json.dumps(error).encode())
                if fault == "upload_stall" and self.command in ("PATCH", "PUT") and "/blobs/uploads/" in path:
                    return self._stall()
                if fault == "upload_slow" and self.command in ("PATCH", "PUT") and "/blobs/uploads/" in path:
                    started = time.monotonic()
                    time.sleep(0.5)
                    outer.intervals.append((started, time.monotonic(), path.split("/blobs/")[0]))
                    outer.hit.set()
                status, headers, data = self._upstream(body)
                if self.command == "PUT" and "/manifests/" in path and status in (200, 201):
                    outer.manifest_put = True
                if (fault == "target_wrong_digest" and outer.manifest_put and "/manifests/" in path
                        and self.command in ("HEAD", "GET") and status == 200):
                    outer.hit.set()
                    headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
                is_manifest = "/manifests/" in path and self.command == "GET" and status == 200
                is_blob = "/blobs/sha256:" in path and self.command == "GET" and status == 200
                if fault == "manifest_not_object" and is_manifest:
                    outer.hit.set()
                    data = b"[1, 2, 3]"
                    headers["Docker-Content-Digest"] = "sha256:" + __import__("hashlib").sha256(data).hexdigest()
                elif fault == "manifest_wrong_digest" and is_manifest:
                    outer.hit.set()
                    data = data.replace(b'"schemaVersion"', b'"schemaVersion" ', 1)  # same JSON, other bytes
                elif fault == "manifest_huge" and is_manifest:
                    outer.hit.set()
                    self.send_response(200)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(5 << 20))
                    self.end_headers()
                    self.wfile.write(data[:10])
                    self.wfile.flush()
                    return self._stall()
                elif fault == "manifest_endless" and is_manifest:
                    outer.hit.set()
                    self.send_response(200)
                    for key, value in headers.items():
                        if key.lower() != "docker-content-digest":
                            self.send_header(key, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * (256 << 10)
                    try:
                        for _ in range(40):  # 10 MiB at most, then the fault ends by itself
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    except OSError:
                        pass
                    self.close_connection = True
                    return None
                elif fault == "blob_corrupt" and is_blob and len(data) > 1000:
                    outer.hit.set()
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])  # same length, one bit pattern off
                elif fault == "blob_slow" and is_blob and len(data) > 1000:
                    started = time.monotonic()
                    time.sleep(1.0)
                    outer.intervals.append((started, time.monotonic()))
                    outer.hit.set()
                elif fault in ("blob_reset", "blob_stall") and is_blob and len(data) > 1000:
                    self.send_response(200)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if fault == "blob_stall":
                        return self._stall()
                    outer.hit.set()
                    self.close_connection = True
                    return None
                return send(self, status, headers, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler


class ForwardProxy(LoopbackServer):
    """A plain HTTP forward proxy on loopback (absolute-URI requests; CONNECT refused), sending every
    request to one upstream registry whatever host it names. ``hosts_seen``: the hosts clients asked for."""

    def __init__(self, upstream: "Registry"):
        super().__init__()
        self.upstream = upstream
        self.hosts_seen: list = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handler_class(self):
        from urllib.parse import urlsplit

        outer = self

        class Handler(QuietHandler):
            def do_CONNECT(self):
                outer.hosts_seen.append(("CONNECT", self.path))
                send(self, 405, {}, b"")

            def relay(self):
                target = urlsplit(self.path)
                outer.hosts_seen.append((self.command, target.netloc))
                path = target.path + (f"?{target.query}" if target.query else "")
                send(self, *forward(self, outer.upstream.host, path, read_body(self)))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        return Handler


class TunnelProxy(ForwardProxy):
    """An HTTPS forward proxy on loopback: every CONNECT is tunnelled to one upstream (a TLS registry), whatever
    host it names, so a test can give a loopback registry a public name (an ACR host) without touching DNS."""

    def handler_class(self):
        import select

        outer = self

        class Handler(QuietHandler):
            def do_CONNECT(self):
                outer.hosts_seen.append(self.path)
                upstream = socket.create_connection(("127.0.0.1", outer.upstream.port), timeout=30)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                sockets = [self.connection, upstream]
                try:
                    for _ in range(1_000_000):  # bounded: ends when either side closes
                        readable, _, _ = select.select(sockets, [], [], 30)
                        if not readable:
                            return
                        for sock in readable:
                            try:
                                data = sock.recv(1 << 16)
                            except OSError:  # a side hung up hard: the tunnel is over
                                return
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()
                    self.close_connection = True

        return Handler


class LatencyRelay:
    """A TCP relay on a free loopback port that holds every byte ``delay`` seconds in each direction before
    passing it on to ``upstream_port``: a registry as far away as a WAN one (round trip 2 x delay), with no
    cap on bandwidth (bytes in flight are timestamped, not slept on one by one). For benchmarks."""

    def __init__(self, upstream_port: int, delay: float):
        import threading

        self.upstream_port = upstream_port
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import threading

        for _ in range(100_000):  # bounded: ends when close() shuts the listener
            try:
                client, _ = self._listener.accept()
            except OSError:  # close() shut the listener
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            except OSError:  # upstream gone: this client is refused, the relay goes on
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for reader, writer in ((client, upstream), (upstream, client)):
                held = queue.Queue()
                threading.Thread(target=self._read, args=(reader, held), daemon=True).start()
                threading.Thread(target=self._write, args=(writer, held), daemon=True).start()

    def _read(self, sock, held) -> None:
        for _ in range(10_000_000):  # bounded: ends at end of stream
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            held.put((time.monotonic() + self.delay, data))
            if not data:
                return

    @staticmethod
    def _write(sock, held) -> None:
        for _ in range(10_000_000):
            due, data = held.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sock.shutdown(socket.SHUT_WR)
                    return
                sock.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
