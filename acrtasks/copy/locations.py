"""Where blobs were last seen in each registry, kept between runs (like skopeo's blob-info cache).

A copy into a registry asks here before uploading: when another repository
of that registry holds the blob (an earlier push-deps into another
namespace, a component pushed beside it), the blob is mounted, not sent
again. It is only a hint: a mount the registry refuses falls back to an
upload, and the stale location is forgotten.

The file is ``$ACRTASKS_CACHE_DIR/blob-locations.json`` (default
``$XDG_CACHE_HOME/acrtasks``, else ``~/.cache/acrtasks``), mode 0600 since
it names repositories. Bounded: the oldest digests go first past
:data:`MAX_DIGESTS`. A cache that cannot be read or written is ignored.
"""

import os
import threading
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import AcrError
from ..util import inputs, jsonfile

MAX_DIGESTS = 20_000  # ~2 MB of JSON; enough for hundreds of images
MAX_REPOS_PER_DIGEST = 4
MAX_FILE = 8 << 20


def default_path() -> Path:
    base = os.environ.get("ACRTASKS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "acrtasks")
    return Path(base) / "blob-locations.json"


class BlobLocations:
    """``{host: {digest: [repo, ...]}}``, newest repo first; thread-safe."""

    def __init__(self, path: Optional[Path] = None):
        self.path = path
        self._lock = threading.Lock()
        self._seen: Dict[str, Dict[str, List[str]]] = {}
        self._forgotten: Dict[str, Dict[str, List[str]]] = {}
        self._dirty = False
        self._loaded = path is None

    @classmethod
    def default(cls) -> "BlobLocations":
        return cls(default_path())

    def _load(self) -> Dict[str, Dict[str, List[str]]]:
        if self.path is None:
            return {}
        try:
            text = inputs.read_text(self.path, "blob location cache", missing_ok=True, limit=MAX_FILE)
            data = inputs.load_json(text, self.path, "blob location cache") if text else {}
        except AcrError:
            return {}  # a cache: unreadable means empty
        clean: Dict[str, Dict[str, List[str]]] = {}
        if isinstance(data, dict):
            for host, digests in data.items():
                if isinstance(host, str) and isinstance(digests, dict):
                    clean[host] = {d: [r for r in repos if isinstance(r, str)][:MAX_REPOS_PER_DIGEST]
                                   for d, repos in digests.items() if isinstance(d, str) and isinstance(repos, list)}
        return clean

    def _ensure_loaded(self) -> None:
        """Read the file on first use (every method calls this first, so nothing learnt is overwritten)."""
        if not self._loaded:
            self._loaded = True
            self._seen = self._load()

    def candidates(self, host: str, digest: str, exclude: str = "") -> List[str]:
        with self._lock:
            self._ensure_loaded()
            return [r for r in self._seen.get(host, {}).get(digest, []) if r != exclude]

    def remember(self, host: str, repo: str, digest: str) -> None:
        with self._lock:
            self._ensure_loaded()
            _merge(self._seen.setdefault(host, {}), digest, [repo])
            self._dirty = True

    def forget(self, host: str, repo: str, digest: str) -> None:
        with self._lock:
            self._ensure_loaded()
            repos = self._seen.get(host, {}).get(digest, [])
            if repo in repos:
                repos.remove(repo)
                self._forgotten.setdefault(host, {}).setdefault(digest, []).append(repo)
                self._dirty = True

    def save(self) -> None:
        """Merge this run's knowledge into the file, under its lock; best effort."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with jsonfile.locked(self.path):
                    on_disk = self._load()
                    for host, digests in self._seen.items():
                        for digest, repos in digests.items():
                            _merge(on_disk.setdefault(host, {}), digest, repos)
                    for host, digests in self._forgotten.items():
                        for digest, repos in digests.items():
                            kept = [r for r in on_disk.get(host, {}).get(digest, []) if r not in repos]
                            if digest in on_disk.get(host, {}):
                                on_disk[host][digest] = kept
                    _bound(on_disk)
                    jsonfile.write_atomically(self.path, on_disk, 0o600)
                self._dirty = False
            except (AcrError, OSError):
                pass  # a cache that cannot be written costs uploads next time, nothing more


def _merge(digests: Dict[str, List[str]], digest: str, repos: List[str]) -> None:
    known = digests.pop(digest, [])  # re-inserted last: the most recent digests survive the bound
    digests[digest] = list(dict.fromkeys([*repos, *known]))[:MAX_REPOS_PER_DIGEST]


def _bound(data: Dict[str, Dict[str, List[str]]]) -> None:
    total = sum(len(d) for d in data.values())
    for digests in data.values():
        while total > MAX_DIGESTS and digests:
            digests.pop(next(iter(digests)))
            total -= 1
