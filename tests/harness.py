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
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
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


class DockerEngine:
    """A Docker engine for the duration of a test session."""

    def __init__(self, docker_host: str, proc: Optional[subprocess.Popen] = None, root: Optional[Path] = None):
        self.docker_host = docker_host
        self.proc = proc
        self.root = root

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
        sock = root / "docker.sock"
        log = root / "dockerd.log"
        args = [
            dockerd,
            f"--host=unix://{sock}",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
            f"--config-file={root / 'daemon.json'}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        engine = cls(f"unix://{sock}", proc, root)
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
    api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    return api.inspect_image(name)["Id"]


def make_tls(directory: Path, host_ip: str = "127.0.0.1") -> dict:
    """A throwaway CA and a server certificate for ``host_ip`` (and localhost), made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text(f"subjectAltName=IP:{host_ip},DNS:localhost\nextendedKeyUsage=serverAuth\n")

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

    def __init__(self, users: Optional[dict] = None, tls: Optional[dict] = None):
        self.users = users or {}
        self.tls = tls
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
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "acrtasks-test"},
        }
        if self.users:
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
