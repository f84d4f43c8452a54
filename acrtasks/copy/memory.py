"""Manifests and small blobs made here (a relabelled config, a release record), as a copy source.

Blobs it does not hold come from ``base`` (the registry the relabelled image lives in), so a copy of a
relabelled image reads only the new config from memory and mounts every layer where it is.
"""

from typing import Callable, Dict, Iterator, Optional, Tuple

from ..errors import AcrError, Kind
from . import Source
from .manifests import Manifest


class MemorySource:
    """A copy source serving ``manifests`` and ``blobs`` from memory, and any other blob from ``base``."""

    def __init__(self, where: str, manifests: Dict[str, Manifest], blobs: Dict[str, bytes],
                 base: Optional[Source] = None):
        self.where = where
        self.manifests = manifests  # by digest, and the top one also by the reference "top"
        self.blobs = blobs
        self.base = base
        # a target mounts from the base's repository when it is a registry source (RegistryTarget._mount)
        self.client = getattr(base, "client", None)
        self.repo = getattr(base, "repo", None)

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> AcrError:
        return self.base.fail(message, kind) if self.base is not None else AcrError(message)

    def manifest(self, reference: str) -> Manifest:
        found = self.manifests.get(reference)
        if found is None:
            if self.base is None:
                raise self.fail(f"{self.where}: no manifest {reference}")
            return self.base.manifest(reference)
        return found

    def open_blob(self, digest: str, size: int) -> Tuple[Iterator[bytes], Callable[[], None]]:
        data: Optional[bytes] = self.blobs.get(digest)
        if data is None:
            if self.base is None:
                raise self.fail(f"{self.where}: no blob {digest}")
            return self.base.open_blob(digest, size)
        return iter([data]), lambda: None
