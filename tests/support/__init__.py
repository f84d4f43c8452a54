"""What tests import (fixtures live in conftest.py, which tests never import): ``Project`` and ``Inv`` (run
``inv`` for real in a scratch project), ``unique_version``, ``wait_for_line``, ``REPO``. The throwaway services
(engines, registries, fakes) are the ``harness`` package beside this one."""

import itertools
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import BASE_IMAGE

REPO = Path(__file__).resolve().parents[2]

#: A quick Dockerfile on the examples' offline base: two RUN steps, a version and a secret-looking build arg.
QUICK = f"""FROM {BASE_IMAGE}
ARG VERSION=dev
ARG API_TOKEN=none
RUN echo "$VERSION" > /version
RUN mkdir -p /data && echo data > /data/x
"""

RUN_ID = secrets.token_hex(3)  # versions made by this run can't collide with an earlier run's leftovers
_versions = itertools.count(1)


def unique_version(prefix: str = "v") -> str:
    """A version no other test and no earlier run has used: an engine image found with it is this test's."""
    return f"{prefix}{next(_versions)}-{RUN_ID}"


class Inv:
    """Runs ``inv`` for real, in a project directory, and keeps what it printed."""

    def __init__(self, cwd: Path):
        self.cwd = cwd

    def __call__(self, *args, env=None, timeout=600, input=None):
        full_env = {**os.environ, **(env or {})}  # os.environ is the test's own (conftest's ``isolated``)
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout, input=input)

    def popen(self, *args, env=None) -> subprocess.Popen:
        """The same, started and left running (several at once); read it with ``communicate(timeout=...)``."""
        return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=self.cwd,
                                env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)


class Project:
    """A scratch project: tasks.py, invoke.yaml and a build.toml of its components."""

    def __init__(self, root: Path):
        self.root = root
        (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
        (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
        self.inv = Inv(root)
        self.components = {}

    def component(self, name: str, dockerfile: str, build_args: str = "{}") -> None:
        context = self.root / name
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile)
        self.components[name] = build_args
        self.write()

    def write(self, extra: str = "") -> None:
        text = '[project]\nname = "demo"\nimage_prefix = "demo-"\n' + extra
        for name, args in self.components.items():
            text += f'\n[components.{name}]\ncontext = "{name}"\nbuild_args = {args}\n'
        (self.root / "build.toml").write_text(text)


def local_tags(api, repository: str) -> list:
    """The engine's tags of ``repository`` (docker-py's APIClient), sorted: what a build or a pull left there."""
    return sorted(tag for image in api.images(name=repository) for tag in image["RepoTags"] or [])


def wait_for_line(stream, pattern: str, timeout: float) -> str:
    """Read ``stream`` (a text pipe) until a line matches ``pattern``; return what was read. Bounded in time."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if not ready:
            continue
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"{pattern!r} did not show within {timeout:.0f} s:\n{''.join(seen)}")


def upload_dirs(registry) -> list:
    """Upload sessions open at the registry, from its storage (a cancelled one loses its ``startedat``)."""
    root = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    return [p.parent for p in root.rglob("_uploads/*/startedat")] if root.exists() else []


def interrupt_promptly(child, ready) -> None:
    """Once ``ready()`` returns, SIGINT the child: it must end within 3 s with exit 130 and one
    ``interrupted`` line, no traceback."""
    try:
        ready()
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, out + err
    assert took < 3, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1].startswith("interrupted"), err


def read_record(registry, repository, version):
    """release-<version> read straight from the registry: manifest, then its one layer, a tar of release.json."""
    import io
    import json
    import tarfile

    manifest = registry.manifest(repository, f"release-{version}")
    blob = registry.blob(repository, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return manifest, json.load(tar.extractfile("release.json"))


SCANNER = r"""set -e
cat > "$BUILDKIT_SCAN_DESTINATION/offline.spdx.json" <<'JSON'
{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document", "predicate": {
 "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "acrtasks-offline-scan", "dataLicense": "CC0-1.0",
 "documentNamespace": "https://acrtasks.invalid/scan", "creationInfo": {"created": "2026-01-01T00:00:00Z",
 "creators": ["Tool: acrtasks-test-scanner"]}, "packages": []}}
JSON
"""


def sbom_scanner(api) -> str:
    """An SBOM generator image made here, in the engine ``api`` talks to (BuildKit's generator protocol: it writes
    an SPDX in-toto statement into $BUILDKIT_SCAN_DESTINATION), since BuildKit's own scanner is on Docker Hub."""
    import io
    import tarfile

    from harness import BASE_IMAGE

    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("scan.sh", SCANNER.encode()),
                           ("Dockerfile", f'FROM {BASE_IMAGE}\nCOPY scan.sh /scan.sh\nENTRYPOINT ["sh", '
                                          '"/scan.sh"]\n'.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    scanner = f"acrtasks-test/sbom-scanner:{unique_version()}"
    list(api.build(fileobj=io.BytesIO(context.getvalue()), custom_context=True, tag=scanner, rm=True, decode=True))
    return scanner
