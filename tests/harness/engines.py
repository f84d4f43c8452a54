"""Engines: an isolated dockerd on a bridge of its own (or the one $DOCKER_HOST names), the examples' base image."""

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Optional

from .processes import HarnessError, stop_process, wait_for

BASE_IMAGE = "acrtasks-examples/busybox:local"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "ls", "cat", "echo", "sleep", "sha256sum", "dd", "mkdir", "true", "false", "env")


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
            wait_for(lambda: proc.poll() is None and sock.exists() and engine_reachable(engine.docker_host),
                  timeout, "dockerd", log)
        except BaseException:
            engine.stop()
            raise
        return engine

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
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
