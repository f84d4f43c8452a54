"""Registries: the CNCF distribution registry on a free loopback port (plain, htpasswd, TLS with a CA made here),
images written straight through its API (layers, platform images, indexes)."""

import functools
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from .fakes import TokenServer
from .processes import HarnessError, free_port, stop_process, wait_for

ENGINES_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "engines"


def host_registry() -> str:
    """The host's registry binary (Debian's docker-registry), never the other release's that engines.sh unpacked
    for the benchmarks (an engine26 test puts that release's bin/ first on PATH)."""
    path = os.pathsep.join(entry for entry in os.environ.get("PATH", "").split(os.pathsep)
                           if entry and not Path(entry).resolve().is_relative_to(ENGINES_CACHE))
    binary = shutil.which("docker-registry", path=path) or shutil.which("registry", path=path)
    if not binary:
        raise HarnessError("docker-registry not found: apt-get install docker-registry")
    return binary


def registry_builds() -> dict:
    """Every registry build on this machine, by a label naming its Debian release and the Go that built it: the
    host's, and the other release's that scripts/engines.sh unpacked (.cache/engines/<suite>/root)."""
    host = host_registry()
    codename = re.search(r"^VERSION_CODENAME=(\S+)", Path("/etc/os-release").read_text(), re.M)
    builds = {f"{codename.group(1) if codename else 'host'} ({go_version(host)})": host}
    for binary in sorted(ENGINES_CACHE.glob("*/root/usr/bin/docker-registry")):
        builds[f"{binary.parents[3].name} ({go_version(str(binary))})"] = str(binary)
    return builds


@functools.lru_cache(maxsize=None)  # a 20 MB read each: registry_builds' label and the bench's pick ask twice
def go_version(binary: str) -> str:
    """The Go release that built ``binary`` ("go1.24.4"), from its build info (what `go version FILE` reads:
    the header after the "\\xff Go buildinf:" magic, with the version inline since Go 1.18); "go?" otherwise."""
    with open(binary, "rb") as handle:
        data = handle.read()
    at = data.find(b"\xff Go buildinf:")
    if at < 0 or at + 32 > len(data) or not data[at + 15] & 2:  # flag 2: inline strings (Go >= 1.18)
        return "go?"
    length, offset = 0, at + 32
    for shift in range(0, 70, 7):  # a uvarint length (10 bytes at most), then the version's bytes
        byte = data[offset] if offset < len(data) else 0
        length |= (byte & 0x7F) << shift
        offset += 1
        if byte < 0x80:
            break
    version = data[offset:offset + min(length, 64)].decode(errors="replace")
    return version if re.fullmatch(r"go\d+\.\d+(\.\d+)?\S*", version) else "go?"


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


MANIFEST_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


class Registry:
    """A distribution registry on a free loopback port; ``users`` enables htpasswd auth, ``tls`` HTTPS."""

    def __init__(self, users: Optional[dict] = None, tls: Optional[dict] = None, token: "Optional[TokenServer]" = None,
                 log_level: str = "warn", binary: Optional[str] = None):
        self.binary = binary  # None: the host's (host_registry)
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
        binary = self.binary or host_registry()
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
        wait_for(lambda: self.proc.poll() is None and self._answers(), timeout, f"registry on {self.host}", log)
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
            stop_process(self.proc)
            self.proc = None

    def write_requests(self) -> int:
        """How many requests that store something the registry has served (needs ``log_level="info"``): PUT,
        PATCH and cross-repository mounts. A bare upload POST stores nothing (a push's PUT follows it; the
        preflight's DELETE cancels it), so it does not count."""
        log = (self.root / "registry.log").read_text(errors="replace")
        return sum(1 for line in log.splitlines() if "response completed" in line
                   and (any(f"http.request.method={m}" in line for m in ("PUT", "PATCH"))
                        or ("http.request.method=POST" in line and "mount=" in line)))

    def log_size(self) -> int:
        """Where the request log ends now: :meth:`uploaded_blobs` from here reads what came after."""
        return (self.root / "registry.log").stat().st_size

    def uploaded_blobs(self, since: int = 0) -> list:
        """The digests of the blobs uploaded (a PUT closing an upload session) after log offset ``since``, read
        from the registry's own request log (needs ``log_level="info"``)."""
        import re

        with open(self.root / "registry.log", "rb") as handle:
            handle.seek(since)
            log = handle.read().decode(errors="replace")
        return [f"sha256:{m.group(1)}" for line in log.splitlines()
                if "response completed" in line and "http.request.method=PUT" in line and "/blobs/uploads/" in line
                for m in [re.search(r"digest=sha256(?:%3A|:)([0-9a-f]{64})", line)] if m]

    def requests(self, since: int = 0) -> list:
        """(method, uri) of every request answered after log offset ``since``, from the access-log line the
        registry writes for each (``"GET /v2/... HTTP/1.1" 200``), errors included."""
        import re

        with open(self.root / "registry.log", "rb") as handle:
            handle.seek(since)
            log = handle.read().decode(errors="replace")
        return [(m.group(1), m.group(2)) for m in re.finditer(r'"([A-Z]+) (\S+) HTTP/[\d.]+" \d{3} ', log)]

    def manifest(self, repository: str, reference: str) -> dict:
        with self._request("GET", f"/v2/{repository}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT}) as response:
            return json.load(response)

    def blob(self, repository: str, digest: str) -> bytes:
        with self._request("GET", f"/v2/{repository}/blobs/{digest}") as response:
            return response.read()

    def config(self, repository: str, reference: str) -> dict:
        """The image config of a single-platform image (the first platform of an index)."""
        manifest = self.manifest(repository, reference)
        if "manifests" in manifest:
            first = next(m for m in manifest["manifests"] if (m.get("platform") or {}).get("os") != "unknown")
            manifest = self.manifest(repository, first["digest"])
        return json.loads(self.blob(repository, manifest["config"]["digest"]))

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

    def platforms(self, repository: str, tag: str) -> list:
        """The platforms an index at ``tag`` holds (buildx's attestations, ``unknown/unknown``, left out)."""
        with self._request("GET", f"/v2/{repository}/manifests/{tag}", {"Accept": MANIFEST_ACCEPT}) as response:
            body = json.load(response)
        found = [f"{m['platform']['os']}/{m['platform']['architecture']}" for m in body.get("manifests") or []
                 if isinstance(m.get("platform"), dict)]
        return [platform for platform in found if platform != "unknown/unknown"]

    def digest(self, repository: str, tag: str) -> Optional[str]:
        accept = MANIFEST_ACCEPT
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
