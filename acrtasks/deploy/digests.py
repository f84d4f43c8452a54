"""Digests for ``--pin digest``: from the metadata file a push wrote, else the release record (two requests for
the whole release), else one HEAD request per image to the registry."""

from pathlib import Path
from typing import Dict, Optional, Sequence

from ..errors import UsageError
from ..naming import ImageRef, digest_problem
from ..util import metadata
from .refs import ReleaseImage


class Digests:
    """Looks up (and caches) the digest each release image was pushed with."""

    def __init__(self, metadata_path: Optional[Path], insecure_hosts: Sequence[str] = (),
                 record_ref: Optional[ImageRef] = None, clients=None):
        self.recorded = metadata.load(metadata_path) if metadata_path else {}
        self.insecure_hosts = tuple(insecure_hosts)
        self.record_ref = record_ref  # release-<version>, read on the first lookup the metadata cannot answer
        self._record = None
        self._cache: Dict[str, Optional[str]] = {}
        self._clients = clients

    def __call__(self, release: ReleaseImage) -> Optional[str]:
        key = str(release.pushed)
        if key not in self._cache:
            self._cache[key] = self._recorded(release) or self._from_record(release) or self._ask_registry(release)
        return self._cache[key]

    def _from_record(self, release: ReleaseImage) -> Optional[str]:
        if self.record_ref is None or not release.pushed.host:
            return None
        if self._record is None:
            from ..delivery import record

            self._record = record.read(self.clients(), self.record_ref) or False  # False: there is none
        return self._record.digest_of(release.pushed) if self._record else None

    def clients(self):
        if self._clients is None:
            from ..registry.client import Clients

            self._clients = Clients(self.insecure_hosts)
        return self._clients

    def _recorded(self, release: ReleaseImage) -> Optional[str]:
        entry = self.recorded.get(release.metadata_key)
        if not isinstance(entry, dict):
            return None
        if release.kind == "component":
            pushed = (entry.get("push") or {}).get(str(release.pushed))
        else:
            pushed = entry.get(release.name)
        digest = pushed.get("digest") if isinstance(pushed, dict) else None
        if digest is None:
            return None
        problem = digest_problem(digest) if isinstance(digest, str) else "is not a string"
        if problem:  # checked where it enters: a digest written into deployments must be one
            raise UsageError(f"metadata file: the digest of {release.pushed} ({digest!r}) {problem}")
        return digest

    def _ask_registry(self, release: ReleaseImage) -> Optional[str]:
        from ..copy.remote import RegistrySource

        ref = release.pushed
        if not ref.host:
            return None
        return RegistrySource(self.clients().get(ref.host), ref.repository).digest(ref.tag)
