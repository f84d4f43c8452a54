"""Which docker CLIs on PATH can build with BuildKit, and which have buildx.

A docker CLI before 23 has BuildKit built in (``DOCKER_BUILDKIT=1``); from 23
on, ``docker build`` hands BuildKit builds to the buildx plugin, and a newer
CLI without the plugin may well come first on PATH. So every ``docker`` on PATH
is asked, in PATH order, without contacting the engine.
"""

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ...util.programs import run_bounded

_VERSION = re.compile(r"Docker version (\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class DockerCli:
    path: str
    version: Tuple[int, int, int]
    buildx: bool  # `docker buildx version` works

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def buildkit(self) -> bool:
        """Can run ``DOCKER_BUILDKIT=1 docker build``: built in before 23 (from 18.09), via buildx after."""
        return self.buildx or (18, 9, 0) <= self.version < (23, 0, 0)

    def describe(self, short: bool = False) -> str:
        """``/usr/bin/docker 26.1.5 with buildx``; ``short``: plain ``docker`` for the one PATH finds first
        (the plan's line fits a terminal however deep the CLI is installed)."""
        plugin = "with buildx" if self.buildx else "without buildx"
        first = shutil.which("docker") if short else None
        name = "docker" if first and os.path.realpath(first) == os.path.realpath(self.path) else self.path
        return f"{name} {self.version_text} {plugin}"


def _run(args: List[str]) -> Optional[str]:
    try:
        done = run_bounded(args, limit=64 << 10, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.text() if done.returncode == 0 else None


def inspect_cli(path: str) -> Optional[DockerCli]:
    text = _run([path, "--version"])
    match = _VERSION.search(text or "")
    if not match:
        return None
    version = tuple(int(part) for part in match.groups())
    return DockerCli(path, version, _has_buildx(path))  # type: ignore[arg-type]


def _has_buildx(path: str) -> bool:
    """``docker buildx version`` answers, and it is the plugin that answers (a CLI without it says
    ``unknown command`` on stderr, and older ones exit 0 with their help on stdout)."""
    text = _run([path, "buildx", "version"])
    return bool(text) and "buildx" in text.lower() and "usage" not in text.lower()


@functools.lru_cache(maxsize=None)
def docker_clis(path_variable: Optional[str] = None) -> Tuple[DockerCli, ...]:
    """Every distinct ``docker`` executable on PATH, in PATH order."""
    seen, candidates = set(), []
    for directory in (path_variable if path_variable is not None else os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(directory or ".", "docker")
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        real = os.path.realpath(candidate)
        if real not in seen:
            seen.add(real)
            candidates.append(candidate)
    if len(candidates) < 2:
        found = [inspect_cli(path) for path in candidates]
    else:  # each asks two short-lived processes: ask every CLI at once
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(candidates)) as pool:
            found = list(pool.map(inspect_cli, candidates))
    return tuple(cli for cli in found if cli is not None)
