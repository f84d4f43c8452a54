"""The one boundary to the cosign program: found, its version checked, run, its failures turned into one line.

Nothing secret reaches its arguments. The key's password goes in ``COSIGN_PASSWORD`` (cosign's own variable);
the registry's credentials go in a docker config of their own (a 0700 folder, a 0600 file, removed after the
run) holding that one host's entry, so that cosign, which reads credentials from ``DOCKER_CONFIG``, sends them
only there. A key is a file path or a KMS URI (``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``,
``k8s://``...), passed through as cosign takes it.

cosign 2.x and 3.x differ in how the tag form of a signature is asked for (3.x writes a Sigstore bundle by
default, which registries without the Referrers API, ACR among them, refuse as they refuse attestations). 3.x
is told by its ``--use-signing-config`` flag in ``cosign sign --help`` (Debian's builds print no version, and 3.x
hides the flags it deprecated, ``--tlog-upload`` and ``--new-bundle-format``, though it still takes them).
"""

import atexit
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from ..errors import OperationFailed, PreflightError
from ..naming import ImageRef
from ..util.programs import run_bounded

MIN_MAJOR = 2  # --tlog-upload, --insecure-ignore-tlog and keys from KMS URIs are all there from 2.0 on
TIMEOUT = 300.0  # one sign or verify; cosign's own --timeout is 3 min per registry operation
MAX_OUTPUT = 64 << 10  # of cosign's stdout or stderr kept: its errors are one line, its verify output small
_VERSION = re.compile(r"GitVersion:\s*v?(\d+)\.(\d+)\.(\d+)")
_FLAG = re.compile(r"^\s+--([a-z0-9-]+)=", re.MULTILINE)
_KMS = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class CosignFailed(OperationFailed):
    """cosign ran and said no; ``reason`` is its own words, one line."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class _Live:
    """The cosign processes running and the credential folders made for them: Ctrl-C stops the one and removes
    the other at once (job threads are daemons, so their own ``finally`` may never run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processes: set = set()
        self.folders: set = set()

    def cancel_all(self) -> None:
        with self.lock:
            processes, folders = list(self.processes), list(self.folders)
        for process in processes:
            try:
                process.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C would: cosign stops
            except OSError:
                pass
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


LIVE = _Live()
cancel_all = LIVE.cancel_all
atexit.register(lambda: [shutil.rmtree(folder, ignore_errors=True) for folder in list(LIVE.folders)])


def is_kms(key: str) -> bool:
    """A KMS URI (``awskms://...``), not a key file."""
    return bool(_KMS.match(key))


@dataclass(frozen=True)
class Registry:
    """How cosign reaches one registry: its host, credentials (username, password or identity token), whether
    plain HTTP or unverified TLS is allowed (loopback and ``insecure_hosts``, as docker allows), and the extra
    CA and client certificates docker's ``certs.d/<host>`` holds."""

    host: str
    username: str = ""
    password: str = ""
    identity_token: str = ""
    insecure: bool = False
    ca_files: Tuple[Path, ...] = ()
    client_cert: Optional[Tuple[Path, Path]] = None

    def __repr__(self) -> str:  # never the password, whoever prints it
        return f"Registry({self.host!r}, insecure={self.insecure})"


@dataclass(frozen=True)
class Cosign:
    path: str
    version: str  # "3.1.1", or "" where the build does not say (Debian's: "devel")
    flags: FrozenSet[str]  # the flags its `sign --help` lists

    @property
    def bundles_by_default(self) -> bool:
        """3.x: a Sigstore bundle unless told otherwise (its signing-config flag tells it apart)."""
        return "use-signing-config" in self.flags

    def describe(self) -> str:
        return f"cosign {self.version or '(version not stated)'} ({self.path})"

    def sign(self, image: ImageRef, key: str, password: Optional[str], registry: Registry, tlog: bool,
             referrer: bool = False, signing_config: Optional[Path] = None) -> None:
        """Sign ``image`` (by digest) with ``key``. ``tlog``: also upload the signature to the transparency log
        (Rekor). ``referrer`` (3.x, a registry with the Referrers API): cosign 3's own form, a Sigstore bundle
        stored as a referrer of the image, signed with ``signing_config`` (one naming no service: offline)
        unless ``tlog``; else the tag form (``sha256-<hex>.sig`` beside the image), which every registry
        stores."""
        argv = [self.path, "sign", "--key", key, "--yes"]
        if referrer and self.bundles_by_default:
            if not tlog and signing_config is not None:
                argv += ["--signing-config", str(signing_config)]
        else:
            if self.bundles_by_default:  # 3.x: the tag form, service URLs from flags (so --tlog-upload counts)
                argv += ["--new-bundle-format=false", "--use-signing-config=false"]
            if not tlog:
                argv.append("--tlog-upload=false")
        self._run(argv, image, registry, _password(password), "sign")

    def offline_signing_config(self, into: Path) -> Path:
        """A signing config naming no service (no Fulcio, Rekor or TSA): cosign 3 signs with the key alone."""
        self._exec([self.path, "signing-config", "create", "--out", str(into)], _environment(), "signing-config create")
        if not into.is_file():
            raise OperationFailed(f"{self.path} signing-config create wrote nothing")
        return into

    def verify(self, image: ImageRef, key: str, registry: Registry, tlog: bool) -> None:
        """Verify ``image``'s signature with ``key`` (a public key file, or a KMS URI); OperationFailed with
        cosign's reason when there is none by that key."""
        self._run(_verify_argv(self.path, key, tlog), image, registry, {}, "verify")

    def verify_layout(self, layout: Path, key: str, tlog: bool, what: str) -> None:
        """Verify the image of an OCI layout in cosign's own form (``cosign save``: index.json naming the image
        and its signatures by their ``kind``), offline: no registry is asked."""
        self._exec([*_verify_argv(self.path, key, tlog), "--local-image", str(layout)], _environment(),
                   f"verify of {what}")

    def public_key(self, key: str, password: Optional[str], into: Path) -> Path:
        """The public half of ``key`` written to ``into`` (what verify needs when only the private key is
        named)."""
        out = self._exec([self.path, "public-key", "--key", key, "--outfile", str(into)],
                         _environment(_password(password)), "public-key")
        if not into.is_file():
            raise OperationFailed(f"{self.path} public-key wrote no key ({out})")
        return into

    def _run(self, argv: List[str], image: ImageRef, registry: Registry, extra_env: dict, what: str) -> None:
        if image.digest is None:
            raise ValueError(f"cosign {what} takes an image by digest, not {image}")
        with registry_access(registry) as (env_dir, flags):
            self._exec([*argv, *flags, str(image)], _environment({"DOCKER_CONFIG": env_dir, **extra_env}), what,
                       image)

    def _exec(self, argv: Sequence[str], env: dict, what: str, image: Optional[ImageRef] = None) -> str:
        """Run cosign, its output bounded; its last error line as an OperationFailed."""
        with tempfile.TemporaryDirectory(prefix="acrtasks-cosign-out-") as scratch:
            out_path, err_path = Path(scratch) / "out", Path(scratch) / "err"
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                try:
                    process = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
                except OSError as exc:
                    raise OperationFailed(f"cannot run {self.path} ({exc.strerror or exc})") from None
                with LIVE.lock:
                    LIVE.processes.add(process)
                try:
                    returncode = process.wait(TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise OperationFailed(f"cosign {what} of {image or ''} did not finish within "
                                          f"{TIMEOUT:g} s") from None
                finally:
                    with LIVE.lock:
                        LIVE.processes.discard(process)
            stdout, stderr = _tail(out_path), _tail(err_path)
        if returncode != 0:
            why = reason(stderr or stdout)
            raise CosignFailed(f"cosign {what}{' of ' + str(image) if image else ''} failed: {why}", why)
        return stdout


def _environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """cosign's environment: ours, without a ``COSIGN_PASSWORD`` of the user's shell (only a run that signs or
    reads the key gets the key's, in ``extra``), with ``extra``."""
    return {**{name: value for name, value in os.environ.items() if name != "COSIGN_PASSWORD"}, **(extra or {})}


def _password(password: Optional[str]) -> Dict[str, str]:
    return {"COSIGN_PASSWORD": password} if password is not None else {}


def _verify_argv(path: str, key: str, tlog: bool) -> List[str]:
    """``cosign verify --key K``, offline (no transparency log) unless ``tlog``."""
    return [path, "verify", "--key", key, *([] if tlog else ["--insecure-ignore-tlog=true"])]


def _tail(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - MAX_OUTPUT))
        return handle.read(MAX_OUTPUT).decode("utf-8", "replace")


def reason(output: str) -> str:
    """cosign's own words for a failure: its ``Error:`` line (else its last line), cut to one line of 300."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith(("error:", "error during command execution:")):
            return line.split(":", 1)[1].strip()[:300] or line[:300]
    return lines[-1][:300] if lines else "no output"


@contextmanager
def registry_access(registry: Registry) -> Iterator[Tuple[str, List[str]]]:
    """A docker config holding only ``registry``'s credentials (0700 folder, 0600 file, removed on exit), and the
    flags cosign needs to reach it; yields (the folder, the flags)."""
    folder = tempfile.mkdtemp(prefix="acrtasks-cosign-")  # mkdtemp: 0700
    with LIVE.lock:
        LIVE.folders.add(folder)
    try:
        entry = {}
        if registry.identity_token:
            entry["identitytoken"] = registry.identity_token
        elif registry.username or registry.password:
            entry["auth"] = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
        config = {"auths": {_auth_key(registry.host): entry} if entry else {}}
        path = Path(folder) / "config.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(config, handle)
        # docker's rule for loopback and insecure_hosts: plain HTTP allowed; unverified TLS only without a CA
        flags = ["--allow-http-registry"] if registry.insecure else []
        if registry.insecure and not registry.ca_files:
            flags.append("--allow-insecure-registry")
        if registry.ca_files:
            bundle = Path(folder) / "ca.pem"
            bundle.write_bytes(b"\n".join(ca.read_bytes() for ca in registry.ca_files))
            flags += ["--registry-cacert", str(bundle)]
        if registry.client_cert:
            flags += ["--registry-client-cert", str(registry.client_cert[0]),
                      "--registry-client-key", str(registry.client_cert[1])]
        yield folder, flags
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with LIVE.lock:
            LIVE.folders.discard(folder)


def _auth_key(host: str) -> str:
    from ..registry.credentials import auth_key

    return auth_key(host)


def find(configured: str = "", root: Optional[Path] = None) -> Cosign:
    """cosign from ``[sign] cosign`` (relative to ``root``), else PATH; its version checked (2.0 or newer), or a
    PreflightError saying what to install."""
    if configured:
        candidate = Path(configured).expanduser()
        if not candidate.is_absolute() and root is not None and "/" in configured:
            candidate = root / candidate
        path = str(candidate) if "/" in configured else shutil.which(configured)
        if not path or not os.access(path, os.X_OK) or not Path(path).is_file():
            raise PreflightError(f"[sign] cosign {configured!r} is not an executable file")
    else:
        path = shutil.which("cosign")
        if not path:
            raise PreflightError("cosign is not on PATH: install it (Debian: apt install cosign; or "
                                 "https://github.com/sigstore/cosign/releases), or name it in [sign] cosign")
    version_text = _probe([path, "version"])
    match = _VERSION.search(version_text)
    help_text = _probe([path, "sign", "--help"])
    flags = frozenset(_FLAG.findall(help_text))
    if match and int(match.group(1)) < MIN_MAJOR:
        raise PreflightError(f"{path} is cosign {'.'.join(match.groups())}; acrtasks needs {MIN_MAJOR}.0 or newer")
    if not match and not flags & {"tlog-upload", "use-signing-config"}:  # no version stated: judged by its flags
        raise PreflightError(f"{path} does not look like cosign {MIN_MAJOR}.0 or newer (its `sign --help` lists "
                             "neither --tlog-upload nor --use-signing-config)")
    return Cosign(path, ".".join(match.groups()) if match else "", flags)


def _probe(argv: List[str]) -> str:
    try:
        done = run_bounded(argv, limit=MAX_OUTPUT, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PreflightError(f"cannot run {argv[0]} ({getattr(exc, 'strerror', None) or exc})") from None
    return (done.stdout + done.stderr).decode("utf-8", "replace")
