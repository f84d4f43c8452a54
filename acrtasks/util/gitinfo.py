"""What git knows about the project: the default version and the OCI source labels."""

import re
import subprocess
from pathlib import Path
from typing import Optional, Tuple

from .programs import run_bounded

UNKNOWN = "dev-unknown"
_LONG = re.compile(r"(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+)(?P<dirty>-dirty)?\Z")


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        done = run_bounded(["git", *args], cwd=str(root), limit=64 << 10, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.text().strip()
    return out if done.returncode == 0 and out else None


def derive_version(root: Path) -> Tuple[str, Optional[str]]:
    """The default version, and a warning when there is no git to derive it from.

    It never names another commit's release: HEAD on a tag gets the tag
    (``v0.9.0``); commits after it get ``git describe --tags``
    (``v0.9.0-3-gabc1234``); without any tag, ``dev-<sha>``; uncommitted
    changes add ``-dirty``. So a later push cannot overwrite a release.
    """
    # One git call (start-up time counts): --long always gives tag-N-gSHA when a tag exists, a bare SHA when none.
    described = _git(root, "describe", "--tags", "--always", "--long", "--dirty")
    if described:
        match = _LONG.match(described)
        if match is None:
            return f"dev-{described}", None
        tag, distance, dirty = match.group("tag"), match.group("distance"), match.group("dirty") or ""
        if distance == "0":
            return f"{tag}{dirty}", None
        return f"{tag}-{distance}-g{match.group('sha')}{dirty}", None
    return UNKNOWN, (f"{root} is not in a git checkout (or git is missing): version {UNKNOWN!r}; "
                     "pass --version or set [build] version")


#: How the default version is derived: ``describe`` names every commit apart; ``branch-or-tag`` is build.sh's
#: rule (a ``v*`` branch, else the newest tag reachable), which names every commit of a branch alike.
VERSION_RULES = ("describe", "branch-or-tag")
_VERSION_BRANCH = re.compile(r"v[0-9][A-Za-z0-9_.-]{0,127}\Z")  # a v* branch that is a valid tag


def branch_or_tag_version(root: Path) -> Tuple[str, Optional[str]]:
    """build.sh's rule: the branch name when it is ``v<digit>...``, else the newest tag reachable from HEAD
    (``git describe --tags --abbrev=0``), else ``dev-<sha>``; a warning when there is no git at all."""
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and _VERSION_BRANCH.match(branch):
        return branch, None
    tag = _git(root, "describe", "--tags", "--abbrev=0")
    if tag:
        return tag, None
    sha = _git(root, "rev-parse", "--short", "HEAD")
    if sha:
        return f"dev-{sha}", None
    return UNKNOWN, (f"{root} is not in a git checkout (or git is missing): version {UNKNOWN!r}; "
                     "pass --version or set [build] version")


def revision(root: Path) -> str:
    """The full commit sha, or '' outside a git checkout."""
    return _git(root, "rev-parse", "HEAD") or ""


def source_url(root: Path) -> str:
    """The ``origin`` remote without credentials, or ''."""
    url = _git(root, "remote", "get-url", "origin") or ""
    return re.sub(r"//[^/@]*@", "//", url)
