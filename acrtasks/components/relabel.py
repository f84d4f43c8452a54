"""An unchanged component's image under the new version: a new config stating it, over the same layers.

``build`` skips a component whose inputs equal those of an image the registry already holds; ``push`` (or a
build that pushes) then puts the new version's refs on that image without a build and without uploading a
layer. Its OCI labels must not lie, so each platform image gets a new config with the new labels (its only new
blob, a few KiB), and a new manifest naming it; an index is rewritten over the new manifests. The layers are
mounted (another repository) or already there (flat layout: the same repository). Attestations of the earlier
build are left out: they attest manifests the new refs do not point at.
"""

import json
from typing import Dict, List, Tuple

from ..copy.copier import is_attestation_entry, with_entries, is_artifact, read_small_blob
from ..copy.manifests import MAX_CONFIG, Manifest, platform_of, sha256_digest
from ..copy.memory import MemorySource
from ..util.inputs import parse_json


def relabelled(source, digest: str, labels: Dict[str, str]) -> Tuple[MemorySource, Manifest, List[str]]:
    """The image ``digest`` of ``source`` with ``labels`` set in its config(s): a copy source holding the new
    manifests and configs (every other blob comes from ``source``), the new top manifest, its platforms."""
    manifests: Dict[str, Manifest] = {}
    blobs: Dict[str, bytes] = {}

    def relabel(image: Manifest) -> Manifest:
        described = image.config()
        if described is None:
            raise source.fail(f"{source.where}@{image.digest}: an image manifest without a config")
        raw = read_small_blob(source, *described, MAX_CONFIG)
        try:
            body = parse_json(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise source.fail(f"{source.where}: the image config {described[0]} is not a JSON object")
        for key in ("config", "container_config"):  # docker 20.10's classic builder writes both
            section = body.get(key)
            if key == "config" and not isinstance(section, dict):
                section = body["config"] = {}
            if isinstance(section, dict):
                section["Labels"] = {**(section.get("Labels") or {}), **labels}
        new_config = json.dumps(body, separators=(",", ":")).encode()
        config_digest = sha256_digest(new_config)
        blobs[config_digest] = new_config
        data = {**image.data, "config": {**image.data["config"], "digest": config_digest, "size": len(new_config)}}
        raw_manifest = json.dumps(data, indent=3).encode()
        new = Manifest(image.media_type, raw_manifest, sha256_digest(raw_manifest))
        manifests[new.digest] = new
        return new

    top = source.manifest(digest)
    platforms: List[str] = []
    if top.is_index:
        entries = []
        for entry in top.children():
            if is_attestation_entry(entry):
                continue
            child = source.manifest(entry["digest"])
            if is_artifact(child):
                continue
            new = relabel(child)
            entries.append({**entry, "digest": new.digest, "size": len(new.raw)})
            platforms.append(platform_of(entry))
        new_top = with_entries(top, entries)
        manifests[new_top.digest] = new_top
    else:
        new_top = relabel(top)
    return MemorySource(source.where, manifests, blobs, base=source), new_top, platforms


def push_relabelled(clients, image, refs, labels: Dict[str, str], sessions=None) -> Tuple[str, List[str]]:
    """Put every ref of ``refs`` on ``image`` (a registry ref@digest) relabelled with ``labels``: only the new
    configs and manifests are written, every layer is mounted or already there. The new digest, its platforms."""
    from ..copy.copier import copy_image
    from ..copy.remote import RegistrySource, RegistryTarget, UploadSessions

    source = RegistrySource(clients.get(image.host), image.repository)
    memory, top, platforms = relabelled(source, image.digest, labels)
    sessions = sessions or UploadSessions()
    for ref in refs:
        target = RegistryTarget(clients.get(ref.host), ref.repository, ref.tag or "latest", sessions)
        copied = copy_image(memory, top.digest, target, with_platforms=True, tries=target.client.tries,
                            backoff=target.client.backoff)
        platforms = platforms or [p for p, _ in copied.images if p]
    return top.digest, platforms
