"""Digests for ``--pin digest``: from the metadata file a push wrote, else one HEAD request to the registry."""

from pathlib import Path
from typing import Dict, Optional, Sequence

from .. import metadata
from ..errors import Kind, RegistryError
from .refs import Release


class Digests:
    """Looks up (and caches) the digest each release image was pushed with."""

    def __init__(self, metadata_path: Optional[Path], insecure_hosts: Sequence[str] = ()):
        self.recorded = metadata.load(metadata_path) if metadata_path else {}
        self.insecure_hosts = tuple(insecure_hosts)
        self._cache: Dict[str, Optional[str]] = {}
        self._clients = None

    def __call__(self, release: Release) -> Optional[str]:
        key = str(release.pushed)
        if key not in self._cache:
            self._cache[key] = self._recorded(release) or self._ask_registry(release)
        return self._cache[key]

    def _recorded(self, release: Release) -> Optional[str]:
        entry = self.recorded.get(release.metadata_key)
        if not isinstance(entry, dict):
            return None
        if release.kind == "component":
            pushed = (entry.get("push") or {}).get(str(release.pushed))
        else:
            pushed = entry.get(release.name)
        digest = pushed.get("digest") if isinstance(pushed, dict) else None
        return digest if isinstance(digest, str) and digest.startswith("sha256:") else None

    def _ask_registry(self, release: Release) -> Optional[str]:
        from ..mirrorer import Clients
        from ..copy.manifests import ACCEPT

        ref = release.pushed
        if not ref.host:
            return None
        if self._clients is None:
            self._clients = Clients(self.insecure_hosts)
        client = self._clients.get(ref.host)
        try:
            response = client.request("HEAD", f"/v2/{ref.repository}/manifests/{ref.tag}",
                                      scope=f"repository:{ref.repository}:pull", headers={"Accept": ACCEPT})
        except RegistryError as exc:
            if exc.kind == Kind.NOT_FOUND:
                return None
            raise
        response.close()
        return response.headers.get("Docker-Content-Digest")
