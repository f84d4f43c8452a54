"""cosign itself, as the oracle of what ``inv sign`` wrote and the peer that checks it: sid's ``cosign`` package
(3.1), unpacked by ``scripts/engines.sh`` under ``.cache/engines/sid``; a static Go program.

Every run gets a HOME, TUF root and docker config of the test's own (nothing of the machine's is read or
written), and reaches loopback registries over plain HTTP as docker would.
"""

import subprocess
from pathlib import Path
from typing import Sequence

from .processes import HarnessError
from .registries import ENGINES_CACHE

COSIGN = ENGINES_CACHE / "sid" / "root" / "usr" / "bin" / "cosign"


def cosign_binary() -> str:
    if not COSIGN.is_file():
        raise HarnessError(f"{COSIGN} is missing: run scripts/provision.sh (it unpacks sid's cosign)")
    return str(COSIGN)


def cosign(args: Sequence[str], home: Path, docker_config: Path, password: str = "", timeout: float = 120
           ) -> subprocess.CompletedProcess:
    """``cosign ARGS`` with ``home`` as its HOME and TUF root; ``password`` as COSIGN_PASSWORD."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TUF_ROOT": str(home / "tuf"),
           "DOCKER_CONFIG": str(docker_config), "COSIGN_PASSWORD": password}
    return subprocess.run([cosign_binary(), *args], env=env, cwd=home, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def make_key_pair(folder: Path, password: str) -> tuple:
    """A cosign key pair made by cosign in ``folder``: (cosign.key, cosign.pub)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = cosign(["generate-key-pair"], folder, folder / ".docker", password)
    if done.returncode != 0:
        raise HarnessError(f"cosign generate-key-pair failed: {done.stderr[-300:]}")
    return folder / "cosign.key", folder / "cosign.pub"


def verify(image: str, public_key: Path, home: Path, docker_config: Path) -> subprocess.CompletedProcess:
    """cosign's own verdict on ``image``'s signature by ``public_key`` (offline: no transparency log)."""
    return cosign(["verify", "--key", str(public_key), "--insecure-ignore-tlog=true", "--allow-http-registry",
                   "--allow-insecure-registry", image], home, docker_config)
