"""Engines: an isolated dockerd on a bridge of its own (or the one $DOCKER_HOST names), the examples' base image.

Two kinds every engine test runs on (:data:`ENGINE_KINDS`), found by :func:`find_kind`: ``engine20``, Debian 12's
docker.io 20.10 with the classic image store, and ``engine26``, Debian 13's docker.io 26.1 with the containerd
image store and buildx. One is the host's own docker.io, the other is unpacked under ``.cache/engines`` by
``scripts/engines.sh``. A third, ``engine28``, sid's docker.io 28.5 with containerd 2.1 and buildx 0.29 (the
containerd image store), serves the tests that name it (attestations, signing); its runc is the host's.
"""

import functools
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from .processes import HarnessError, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
ENGINE_KINDS = ("engine20", "engine26")  # every engine test runs on each; engine28 only where a test names it
_MAJOR = {"engine20": (20, 20), "engine26": (23, 27), "engine28": (28, 99)}  # dockerd majors each kind takes


@dataclass(frozen=True)
class EngineKind:
    """Where one engine's programs are: its dockerd, the directories its CLI, containerd and shims are in."""

    name: str
    dockerd: str
    version: str
    bin_dirs: Tuple[str, ...]  # first on PATH for the engine (containerd, shims) and for the tests (its CLI)
    plugins: Optional[str]  # its docker CLI plugins (buildx), or None
    daemon_json: Dict  # engine26 and engine28: the containerd image store
    libraries: str = ""  # LD_LIBRARY_PATH for an unpacked dockerd (20.10's libdevmapper on Debian 13)

    @property
    def containerd_store(self) -> bool:
        return bool(self.daemon_json.get("features", {}).get("containerd-snapshotter"))

    def path(self, rest: str) -> str:
        """``PATH`` with this engine's directories first."""
        return os.pathsep.join([*self.bin_dirs, rest])


def _libraries(root: Path) -> str:
    """The library directories of an unpacked release, for LD_LIBRARY_PATH ("" for the host's own)."""
    if root == Path("/"):
        return ""
    found = sorted(root.glob("*/*-linux-gnu")) + sorted(root.glob("usr/lib/*-linux-gnu"))
    return os.pathsep.join(str(directory) for directory in found if directory.is_dir())


def _dockerd_version(dockerd: str, libraries: str = "") -> Optional[str]:
    env = {**os.environ, "LD_LIBRARY_PATH": libraries} if libraries else None
    try:
        out = subprocess.run([dockerd, "--version"], capture_output=True, text=True, timeout=30, env=env).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Docker version (\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=None)  # each is a few `dockerd --version` runs; engines start several times a run
def find_kind(name: str) -> EngineKind:
    """The engine of kind ``name``: the host's dockerd if it is that release, else the one engines.sh unpacked."""
    if name not in _MAJOR:
        raise HarnessError(f"unknown engine kind {name!r}: {', '.join(_MAJOR)}")
    low, high = _MAJOR[name]
    host = shutil.which("dockerd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    candidates = [(host, Path("/"))] if host else []
    candidates += [(str(root / "usr/sbin/dockerd"), root)
                   for root in sorted((REPO / ".cache" / "engines").glob("*/root"))]
    for dockerd, root in candidates:
        libraries = _libraries(root)
        version = _dockerd_version(dockerd, libraries) if Path(dockerd).is_file() else None
        if version and low <= int(version.split(".")[0]) <= high:
            plugins = root / "usr/libexec/docker/cli-plugins"
            features = {"features": {"containerd-snapshotter": True}} if name != "engine20" else {}
            return EngineKind(name, dockerd, version, (str(root / "usr/bin"), str(root / "usr/sbin")),
                              str(plugins) if (plugins / "docker-buildx").exists() else None, features, libraries)
    found = ", ".join(f"{d} ({_dockerd_version(d)})" for d, _ in candidates if Path(d).is_file()) or "none"
    raise HarnessError(f"no dockerd for {name} (found: {found}): run scripts/provision.sh")

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
                 bridge: Optional[Bridge] = None, kind: Optional[EngineKind] = None):
        self.docker_host = docker_host
        self.proc = proc
        self.root = root
        self.bridge = bridge
        self.kind = kind  # None: the engine $DOCKER_HOST named

    @property
    def name(self) -> str:
        return self.kind.name if self.kind else "DOCKER_HOST"

    @classmethod
    def start(cls, kind: Optional[str] = None, timeout: float = 60, tcp_port: Optional[int] = None) -> "DockerEngine":
        """Start an isolated dockerd of ``kind`` (needs root); without a kind, reuse a reachable ``$DOCKER_HOST``
        first, else start the host's own. ``tcp_port``: also listen on 127.0.0.1 there (a remote engine)."""
        existing = os.environ.get("DOCKER_HOST")
        if kind is None and existing and engine_reachable(existing):
            return cls(existing)
        if kind is None:
            host = _dockerd_version(shutil.which("dockerd") or "/usr/sbin/dockerd") or ""
            kind = "engine20" if host.startswith("20.") else "engine26"
        found = find_kind(kind)
        if os.geteuid() != 0:
            raise HarnessError("starting an isolated dockerd needs root; or set DOCKER_HOST to a running engine")
        root = Path(tempfile.mkdtemp(prefix="acrd-", dir="/tmp"))  # short: unix socket paths are limited
        (root / "daemon.json").write_text(json.dumps(found.daemon_json))
        dockerd = found.dockerd
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
        if tcp_port:
            args.append(f"--host=tcp://127.0.0.1:{tcp_port}")  # loopback only; tests reach it as a docker context
        env = {**os.environ, "PATH": found.path(os.environ.get("PATH", ""))}  # its own containerd and shims
        if found.libraries:
            env["LD_LIBRARY_PATH"] = found.libraries
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        engine = cls(f"unix://{sock}", proc, root, bridge, found)
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
