"""Docker Compose itself, as an oracle: ``docker-compose config`` on a project the test wrote.

The binary is sid's ``docker-compose`` package (Compose v2.40), unpacked by ``scripts/engines.sh`` under
``.cache/engines/sid``; it is a static Go program and needs no engine for ``config``.
"""

import json
import subprocess
from pathlib import Path
from typing import Dict, Tuple, Union

from .processes import HarnessError
from .registries import ENGINES_CACHE

COMPOSE = ENGINES_CACHE / "sid" / "root" / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-compose"


def compose_binary() -> str:
    if not COMPOSE.is_file():
        raise HarnessError(f"{COMPOSE} is missing: run scripts/provision.sh (it unpacks sid's docker-compose)")
    return str(COMPOSE)


def compose_config(directory: Path, environ: Dict[str, str], timeout: float = 30
                   ) -> Tuple[bool, Union[dict, str]]:
    """(True, the project compose resolved) or (False, compose's error) for ``directory/compose.yaml`` and the
    ``.env`` beside it, with ``environ`` as the whole process environment (nothing of ours leaks in)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(directory), "DOCKER_HOST": "unix:///nonexistent",
           "DOCKER_CONFIG": str(directory / ".docker"), **environ}
    done = subprocess.run([compose_binary(), "--project-directory", str(directory), "-f",
                           str(directory / "compose.yaml"), "-p", "oracle", "config", "--format", "json"],
                          env=env, capture_output=True, timeout=timeout)
    if done.returncode:
        return False, done.stderr.decode("utf-8", "replace").strip()
    return True, json.loads(done.stdout)
