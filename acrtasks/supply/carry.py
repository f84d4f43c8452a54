"""Signatures and attestations travel with a copied image: cosign's tags beside it (``sha256-<hex>.sig``,
``.att``, ``.sbom``) and the OCI 1.1 referrers tag (``sha256-<hex>``, the fallback a registry without the
Referrers API keeps), each copied as any image is (every blob and manifest checked by digest).

They sign or describe a digest, so they go only where the image keeps its source digest: a copy that reduced
an index (``--platform``, attestations dropped) made another image, which they would not match; the caller says
so. A tag the target refuses (ACR refuses OCI artifacts: an ``.att`` bundle, a referrers index of artifacts) is
left behind and reported; the image stays copied.

They are found in the source repository's tag list, read once per repository (one request for a flat
release's whole repository, a few pages for a Docker Hub image), not by a request per image and tag; and, on a
source with the Referrers API (asked once per registry), in its list for the image: those referrers are copied by
digest, and a target without the API gets them in its referrers tag, as the OCI distribution spec 1.1 has clients
do (cosign and oras find them there).
"""

import json
import threading
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

from ..copy.copier import copy_image
from ..copy.manifests import OCI_INDEX, parse_manifest, sha256_digest
from ..copy.remote import RegistrySource, RegistryTarget
from ..errors import AcrError, Kind, NotFound, explain
from .signing import COSIGN_SUFFIXES, signature_tag


# A referrer's descriptor (its annotations, copied from its manifest into the referrers tag) is a few hundred
# bytes from cosign and notation; this bounds the memory the referrers of one image can take.
MAX_DESCRIPTOR = 64 << 10


class Carried(NamedTuple):
    """What went along with one image: the tags copied, and those left behind with why."""

    copied: List[str]
    refused: List[Tuple[str, str]]

    def describe(self) -> str:
        parts = []
        if self.copied:
            parts.append(f"with {', '.join(self.copied)}")
        parts += [f"{tag} left behind ({why})" for tag, why in self.refused]
        return "; ".join(parts)


def attached_tags(digest: str) -> List[str]:
    """The tags a copy of ``digest`` looks for beside it, in that order."""
    return [*(signature_tag(digest, suffix) for suffix in COSIGN_SUFFIXES), signature_tag(digest, "")]


class Finder:
    """Which of :func:`attached_tags` a source repository holds, from its tag list, read once per repository."""

    def __init__(self) -> None:
        self._tags: Dict[Tuple[str, str], frozenset] = {}
        self._without_api: Set[str] = set()  # registries whose Referrers API answered "none here"
        self._lock = threading.Lock()

    def referrers(self, source: RegistrySource, digest: str) -> Optional[List[Dict[str, Any]]]:
        """The Referrers API's list for ``digest``; None where the registry has no API (asked once per host)."""
        host = source.client.host
        if host in self._without_api:
            return None
        listed = source.referrers(digest)
        if listed is None:
            with self._lock:
                self._without_api.add(host)
        return listed

    def beside(self, source: RegistrySource, digest: str) -> List[str]:
        key = (source.client.host, source.repo)
        with self._lock:  # one listing per repository, however many images of it are copied at once
            if key not in self._tags:
                self._tags[key] = frozenset(source.client.tags(source.repo))
            tags = self._tags[key]
        return [tag for tag in attached_tags(digest) if tag in tags]


def carry(source: RegistrySource, digest: str, target_client, target_repo: str, sessions, locations=None,
          finder: "Finder | None" = None) -> Carried:
    """Copy what the source keeps beside ``digest`` into ``target_repo`` of ``target_client``'s registry."""
    copied: List[str] = []
    refused: List[Tuple[str, str]] = []
    finder = finder or Finder()
    try:
        present = finder.beside(source, digest)
    except AcrError as exc:
        return Carried([], [("its tag list", explain(exc)[:300])])
    for tag in present:
        try:
            copy_image(source, tag, RegistryTarget(target_client, target_repo, tag, sessions, locations), workers=2)
        except AcrError as exc:
            refused.append((tag, explain(exc)[:300]))
            continue
        copied.append(tag)
    try:
        listed = finder.referrers(source, digest)
    except AcrError as exc:
        return Carried(copied, [*refused, ("its referrers", explain(exc)[:300])])
    if listed:
        _carry_referrers(source, digest, listed, target_client, target_repo, sessions, locations, finder, copied,
                         refused)
    return Carried(copied, refused)


def vetted(source: RegistrySource, digest: str, listed: List[Dict[str, Any]]
           ) -> Tuple[List[Dict[str, Any]], List[Tuple[str, str]]]:
    """The referrers of ``listed`` worth carrying, and those left behind with why. A registry's list is not
    trusted: each manifest is read by its digest (checked), must name ``digest`` as its ``subject`` (a list
    could name any image, to be copied beside ours), and its descriptor is made from the manifest itself, as
    the OCI distribution spec 1.1 has a client make it for the referrers tag (its size; its artifactType, else
    its config's media type; its annotations), not taken from the list. A digest listed twice counts once."""
    kept: List[Dict[str, Any]] = []
    refused: List[Tuple[str, str]] = []
    for name in dict.fromkeys(descriptor["digest"] for descriptor in listed):
        try:
            manifest = source.manifest(name)
        except AcrError as exc:
            refused.append((f"referrer {name[:19]}", explain(exc)[:300]))
            continue
        subject = manifest.data.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != digest:
            refused.append((f"referrer {name[:19]}", f"its subject is not {digest[:19]}: not carried"))
            continue
        descriptor = descriptor_of(manifest)
        if len(json.dumps(descriptor)) > MAX_DESCRIPTOR:
            refused.append((f"referrer {name[:19]}", f"its annotations are over {MAX_DESCRIPTOR >> 10} KiB"))
            continue
        kept.append(descriptor)
    return kept, refused


def descriptor_of(manifest) -> Dict[str, Any]:
    """A referrer's descriptor, from the manifest itself (OCI distribution spec 1.1, "Pushing Manifests with
    Subject": artifactType, else the config's mediaType; all of its annotations)."""
    data = manifest.data
    descriptor: Dict[str, Any] = {"mediaType": manifest.media_type, "digest": manifest.digest,
                                  "size": len(manifest.raw)}
    config = data.get("config")
    artifact_type = data.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else None)
    if isinstance(artifact_type, str) and artifact_type:
        descriptor["artifactType"] = artifact_type
    if isinstance(data.get("annotations"), dict) and data["annotations"]:
        descriptor["annotations"] = data["annotations"]
    return descriptor


def _carry_referrers(source: RegistrySource, digest: str, listed: List[Dict[str, Any]], target_client,
                     target_repo: str, sessions, locations, finder: Finder, copied: List[str],
                     refused: List[Tuple[str, str]]) -> None:
    """Each referrer copied by digest (a target with the API indexes it by its subject); for a target without
    the API, the referrers tag ``sha256-<hex>`` lists them (merged with what it listed)."""
    kept, left = vetted(source, digest, listed)
    refused += left
    arrived = []
    for descriptor in kept:
        name = descriptor["digest"]
        try:
            copy_image(source, name, RegistryTarget(target_client, target_repo, name, sessions, locations), workers=2)
        except AcrError as exc:
            refused.append((f"referrer {name[:19]}", explain(exc)[:300]))
            continue
        arrived.append(descriptor)
        copied.append(f"referrer {name[:19]}")
    target = RegistrySource(target_client, target_repo)
    tag = signature_tag(digest, "")
    try:
        if not arrived or finder.referrers(target, digest) is not None:  # the target lists them by their subject
            return
        try:
            held = target.manifest(tag)
        except NotFound:
            held = None
        if held is not None and held.media_type != OCI_INDEX:  # the spec: report it, leave the tag alone
            refused.append((tag, f"{target.where}:{tag} is not a referrers index; left as it is"))
            return
        known = list(held.data.get("manifests") or []) if held is not None else []
        have = {entry.get("digest") for entry in known}
        merged = referrers_index([*known, *(d for d in arrived if d["digest"] not in have)])
        RegistryTarget(target_client, target_repo, tag, sessions).put_manifest(merged, "tag")
    except AcrError as exc:
        refused.append((tag, explain(exc)[:300]))


def referrers_index(listed: List[Dict[str, Any]]):
    """The referrers tag's index of ``listed`` (OCI distribution spec 1.1's fallback form), as a Manifest."""
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}).encode()
    return parse_manifest(raw, OCI_INDEX, sha256_digest(raw))


class WithReferrersTag:
    """A registry source that also serves, at the referrers tag of one image, the index of what its Referrers
    API lists: so that a copy of that tag (into a bundle) takes the referrers along in the fallback form."""

    def __init__(self, source: RegistrySource, tag: str, index) -> None:
        self.source, self.tag, self.index = source, tag, index
        self.where = source.where

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> AcrError:
        return self.source.fail(message, kind)

    def manifest(self, reference: str):
        return self.index if reference == self.tag else self.source.manifest(reference)

    def open_blob(self, digest: str, size: int):
        return self.source.open_blob(digest, size)
