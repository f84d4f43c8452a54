"""What git knows about the project: the default version and the OCI source labels."""

import re
import subprocess
from pathlib import Path
from typing import Optional

_VERSION_BRANCH = re.compile(r"v[0-9][A-Za-z0-9_.-]*\Z")


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def derive_version(root: Path) -> str:
    """The branch if it looks like ``v<digit>...``, else the nearest tag, else ``dev-<sha>``, else ``dev-unknown``."""
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and _VERSION_BRANCH.match(branch):
        return branch
    tag = _git(root, "describe", "--tags", "--abbrev=0")
    if tag:
        return tag
    sha = _git(root, "rev-parse", "--short", "HEAD")
    return f"dev-{sha}" if sha else "dev-unknown"


def revision(root: Path) -> str:
    """The full commit sha, or '' outside a git checkout."""
    return _git(root, "rev-parse", "HEAD") or ""


def source_url(root: Path) -> str:
    """The ``origin`` remote without credentials, or ''."""
    url = _git(root, "remote", "get-url", "origin") or ""
    return re.sub(r"//[^/@]*@", "//", url)
