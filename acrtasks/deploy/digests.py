"""Where set-images learns what the release is and that each ref it writes is in the registry.

The release is what was pushed: this chain's pushes merged over the release
record ``release-<version>`` (its components and dependencies), else, with no
record at all, every image of build.toml. Each ref about to be written is
confirmed, and its digest found for ``--pin digest``, from the metadata file a
push wrote, else that record (two requests for the whole release), else one
HEAD request to the registry; :attr:`Confirmations.sources` counts each.
"""

from collections import Counter
from pathlib import Path
from typing import Dict, FrozenSet, Optional, Sequence

from ..errors import UsageError
from ..naming import ImageRef, digest_problem
from ..util import metadata
from .refs import ReleaseImage


class Confirmations:
    """Looks up (and caches) the digest each release image was pushed with, and what the release holds."""

    def __init__(self, metadata_path: Optional[Path], insecure_hosts: Sequence[str] = (),
                 record_ref: Optional[ImageRef] = None, clients=None, pushed=None, ask_registry: bool = True):
        self.recorded = metadata.load(metadata_path) if metadata_path else {}
        self.insecure_hosts = tuple(insecure_hosts)
        self.record_ref = record_ref  # release-<version>, read once, on first use
        self.pushed = pushed  # release.record.Record of what this chain pushed, or None
        self.ask_registry = ask_registry  # False (--no-verify): the metadata file and this chain's pushes only
        self._record = None
        self._cache: Dict[str, Optional[str]] = {}
        self._clients = clients
        self.sources: Counter = Counter()  # where each confirmed ref was found: "metadata file", ...

    def record(self):
        """The release as recorded: the registry's record with this chain's pushes over it; None: neither."""
        if self._record is None:
            found = None
            if self.record_ref is not None and self.ask_registry:
                from ..release import record

                found = record.read(self.clients(), self.record_ref)
            if found is not None and self.pushed is not None:
                found = found.merged(self.pushed)
            self._record = found or self.pushed or False  # False: there is none
        return self._record or None

    def members(self) -> Optional[FrozenSet[str]]:
        """The release's components and dependency targets (``dep:<target>``); None: no record, so every image
        of build.toml is the release's."""
        found = self.record()
        if found is None:
            return None
        return frozenset([*found.components, *(f"dep:{dep.target}" for dep in found.dependencies)])

    def __call__(self, release: ReleaseImage) -> Optional[str]:
        key = str(release.pushed)
        if key not in self._cache:
            for source, look in (("metadata file", self._recorded), ("release record", self._from_record),
                                 ("HEAD", self._ask_registry)):
                digest = look(release)
                if digest:
                    self.sources[source] += 1
                    break
            self._cache[key] = digest
        return self._cache[key]

    def _from_record(self, release: ReleaseImage) -> Optional[str]:
        found = self.record() if release.pushed.host else None
        return found.digest_of(release.pushed) if found else None

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
        if not ref.host or not self.ask_registry:
            return None
        return RegistrySource(self.clients().get(ref.host), ref.repository).digest(ref.tag)
