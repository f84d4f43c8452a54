"""One copy algorithm (``copier``) with pluggable ends, as crane and skopeo are built.

- ``remote``: a repository of a registry (Registry HTTP API V2), source or target;
- ``layout``: an OCI image layout in a tar (the offline bundle), source or target;
- ``daemon``: the Docker engine (``docker save`` as a source, ``docker load`` as a target);
- ``manifests``: what the ends exchange: checked manifests and descriptors;
- ``locations``: where blobs were last seen in each registry, so a copy mounts instead of uploading.

push-deps, export and import go through :func:`copier.copy_image`; promote through :func:`fanout.copy_to_all`
(one source, several targets), which shares the copier's steps and retries.
"""

from typing import TYPE_CHECKING, Callable, Iterator, Optional, Protocol, Tuple

from ..errors import AcrError, Kind

if TYPE_CHECKING:  # the package stays cheap to import; the types are only named here
    from .manifests import Manifest


class Chunks(Protocol):
    """A blob's bytes on their way (``copier.BlobStream``, the fan-out's queue): chunks, and the blob's size (an
    HTTP upload then carries a Content-Length)."""

    def __iter__(self) -> Iterator[bytes]:
        ...

    def __len__(self) -> int:
        ...


class Source(Protocol):
    """An end bytes come from (``RegistrySource``, ``LayoutSource``, ``EngineSource``)."""

    where: str  # named in every error about this end

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> AcrError:
        """An error that blames this end (a corrupt blob is the source's fault, not the target's)."""

    def manifest(self, reference: str) -> "Manifest":
        """A manifest or index by tag or digest, checked (bounded, JSON, hashing to its digest)."""

    def open_blob(self, digest: str, size: int) -> Tuple[Iterator[bytes], Callable[[], None]]:
        """The blob's bytes as chunks, and how to close the stream early."""


class Target(Protocol):
    """An end bytes go to (``RegistryTarget``, ``LayoutTarget``, ``EngineTarget``)."""

    where: str
    parallel: int  # blobs written at once
    checks_digests: bool  # the end refuses a blob that does not hash to its digest (else the copier hashes)

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> AcrError:
        """An error that blames this end."""

    def tag_digest(self) -> Optional[str]:
        """What the tag points at now, or None."""

    def reuse_blob(self, digest: str, size: int, source: Source) -> bool:
        """Make the blob exist without sending it (it is there, or mounted); False when it must be sent."""

    def put_blob(self, digest: str, size: int, chunks: Chunks) -> None:
        """Store a blob from its chunks."""

    def put_manifest(self, manifest: "Manifest", reference: Optional[str]) -> str:
        """Store a manifest under its digest (``reference`` None) or the tag; the digest the end holds."""
