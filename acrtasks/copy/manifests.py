"""Manifests and descriptors, checked before anything is built on them.

Everything here is pure: the ends fetch bytes, these functions decide whether
the bytes are an image manifest or an index we can copy.
"""

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Dict, List, Optional, Tuple, Union

from ..util.inputs import parse_json
from ..util.text import printable

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
CHUNK = 1 << 20  # streamed in 1 MiB pieces: memory stays flat whatever the layer size
MAX_MANIFEST = 4 << 20  # the limit docker and containerd apply to manifests
MAX_CONFIG = 8 << 20  # image configs are a few KiB; a long history stays far below

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}\Z")


class ManifestInvalid(ValueError):
    """Bytes that are not a manifest we can copy; the end that read them turns this into its own error."""

    def __init__(self, message: str, integrity: bool = False):
        super().__init__(message)
        self.integrity = integrity


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(text: str) -> bool:
    return bool(_SHA256.match(text or ""))


@dataclass(frozen=True)
class Manifest:
    media_type: str
    raw: bytes
    digest: str

    @cached_property
    def data(self) -> Dict[str, Any]:
        """The manifest's JSON, parsed once (an index of 5,000 entries was parsed again on every look); read
        only: a rewrite copies it (copier.with_entries)."""
        data: Dict[str, Any] = parse_json(self.raw)  # parse_manifest checked it is an object
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def config(self) -> Optional[Tuple[str, int]]:
        described = self.data.get("config")
        return (_descriptor_digest(described), _descriptor_size(described)) if described else None

    def layers(self) -> List[Tuple[str, int]]:
        """(digest, size) of every layer that travels with the image; foreign layers (``urls``) stay put."""
        return [(_descriptor_digest(d), _descriptor_size(d)) for d in self.data.get("layers") or []
                if not d.get("urls")]

    def blobs(self) -> List[Tuple[str, int]]:
        """The config, then the layers."""
        config = self.config()
        return ([config] if config else []) + self.layers()

    def children(self) -> List[Dict[str, Any]]:
        entries = list(self.data.get("manifests") or [])
        for entry in entries:
            _descriptor_digest(entry)
            _descriptor_size(entry)
        return entries

    def descriptor(self) -> Dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.raw)}


def parse_manifest(raw: Optional[bytes], media_type: str, expected_digest: str = "") -> Manifest:
    """Check ``raw`` (None: it was over :data:`MAX_MANIFEST`) and make a Manifest of it.

    ``expected_digest``: what the bytes must hash to (the reference asked for,
    or what the registry claims); a mismatch is an integrity failure.
    """
    if raw is None:  # docker and containerd refuse these too, without reading them
        raise ManifestInvalid(f"the manifest is larger than {MAX_MANIFEST >> 20} MiB; refused")
    try:
        body = parse_json(raw)
    except ValueError as exc:
        raise ManifestInvalid(f"the manifest is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ManifestInvalid("the manifest is JSON but not an object")
    media_type = body.get("mediaType") or media_type
    if not isinstance(media_type, str):
        raise ManifestInvalid("the manifest's mediaType is not a string")
    if body.get("schemaVersion") == 1 or "prettyjws" in media_type:
        raise ManifestInvalid("schema 1 manifests are not supported")
    if not media_type:  # an OCI manifest may leave mediaType out; its shape tells
        media_type = OCI_INDEX if "manifests" in body else OCI_MANIFEST
    digest = sha256_digest(raw)
    if expected_digest and is_digest(expected_digest) and digest != expected_digest:
        raise ManifestInvalid(f"the manifest's bytes hash to {digest}, but {expected_digest} was expected; "
                              "refused (corrupt or tampered)", integrity=True)
    if media_type in INDEX_TYPES and not isinstance(body.get("manifests"), list):
        raise ManifestInvalid("the manifest's config, layers or manifests are malformed (an index's manifests "
                              "must be a list)")
    if media_type not in INDEX_TYPES and not (isinstance(body.get("config", {}), dict)
                                              and isinstance(body.get("layers", []), list)):
        raise ManifestInvalid("the manifest's config, layers or manifests are malformed (the config is not a "
                              "descriptor, or the layers not a list)")
    manifest = Manifest(media_type, raw, digest)
    manifest.__dict__["data"] = body  # parsed once: the cached_property's value
    try:
        manifest.blobs()
        manifest.children()
    except (TypeError, KeyError, AttributeError) as exc:
        raise ManifestInvalid(f"the manifest's config, layers or manifests are malformed ({exc})") from None
    return manifest


def _descriptor_size(descriptor: Dict[str, Any]) -> int:
    size = descriptor.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TypeError(f"bad size {size!r}")
    return size


def _descriptor_digest(descriptor: Dict[str, Any]) -> str:
    """A descriptor's digest, which ends up in a URL path or a file name: only ``sha256:<64 hex>`` passes."""
    digest = descriptor["digest"]
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise TypeError(f"bad digest {digest!r}")
    return digest


def platform_of(entry: Dict[str, Any]) -> str:
    """``linux/arm64/v8`` from an index entry's ``platform`` (or an image config, which has the same keys)."""
    platform = entry.get("platform", entry) if isinstance(entry, dict) else None
    if not isinstance(platform, dict):  # a registry's index may say anything: a string, a list, null
        return "unknown/unknown"
    parts = [str(platform.get("os") or "unknown"), str(platform.get("architecture") or "unknown")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return printable("/".join(parts))[:200]


def platform_matches(entry_or_name: Union[Dict[str, Any], str], wanted: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8``; a variant, when given, must match."""
    have = (entry_or_name if isinstance(entry_or_name, str) else platform_of(entry_or_name)).split("/")
    want = wanted.strip().lower().split("/")
    return have[: len(want)] == want
