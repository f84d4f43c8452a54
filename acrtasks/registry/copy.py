"""Copy one image between registries through the Registry HTTP API V2, like ``skopeo copy --all``.

The whole index with every platform by default; blobs streamed (never a
whole blob in memory), mounted across repositories when source and target
share a registry, skipped when the target has them; child manifests pushed
before the index and the tag last, so a tag never points at missing blobs.
The target digest is checked against the source's afterwards.
"""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple
from urllib.parse import urljoin

from ..retry import with_retries
from .client import RegistryClient, RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
CHUNK = 1 << 20  # streamed in 1 MiB pieces: memory stays flat whatever the layer size


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    media_type: str
    raw: bytes
    digest: str

    @property
    def data(self) -> dict:
        return json.loads(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def blobs(self) -> List[Tuple[str, int]]:
        """(digest, size) of the config and every layer; foreign layers (with ``urls``) stay where they are."""
        data = self.data
        found = []
        if data.get("config"):
            found.append((data["config"]["digest"], data["config"].get("size", 0)))
        for layer in data.get("layers") or []:
            if not layer.get("urls"):
                found.append((layer["digest"], layer.get("size", 0)))
        return found

    def children(self) -> List[dict]:
        return list(self.data.get("manifests") or [])


def platform_of(entry: dict) -> str:
    """``linux/arm64/v8`` from an index entry's ``platform``."""
    platform = entry.get("platform") or {}
    parts = [platform.get("os", "unknown"), platform.get("architecture", "unknown")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts)


def platform_matches(entry: dict, wanted: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8``; a variant, when given, must match."""
    have = platform_of(entry).split("/")
    want = wanted.strip().lower().split("/")
    return have[: len(want)] == want


@dataclass
class CopyResult:
    status: str  # copied | updated | recopied (same digest, forced) | unchanged; "would be ..." under --dry
    digest: str
    platforms: List[str] = field(default_factory=list)
    bytes_uploaded: int = 0  # blobs the target had or could mount cost nothing


class ImageCopier:
    """Copies images from ``source`` to ``target`` (clients of one registry each; may be the same host)."""

    def __init__(self, source: RegistryClient, target: RegistryClient, blob_workers: int = 4, force: bool = False):
        self.source = source
        self.target = target
        self.blob_workers = blob_workers
        self.force = force

    # -- manifests ------------------------------------------------------------------------------

    def fetch_manifest(self, repo: str, reference: str) -> Manifest:
        response = self.source.request("GET", f"/v2/{repo}/manifests/{reference}", scope=_pull(repo),
                                       headers={"Accept": ACCEPT})
        raw = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            body = json.loads(raw)
        except ValueError:
            raise self.source._fail(f"{self.source.host}/{repo}:{reference}: the manifest is not JSON") from None
        media_type = body.get("mediaType") or media_type
        if body.get("schemaVersion") == 1 or "prettyjws" in media_type:
            raise self.source._fail(f"{self.source.host}/{repo}:{reference}: schema 1 manifests are not supported")
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise self.source._fail(f"{self.source.host}/{repo}@{reference}: content does not match its digest "
                                    f"({digest})")
        return Manifest(media_type, raw, digest)

    def target_digest(self, repo: str, tag: str) -> Optional[str]:
        """The digest the target tag points at now, or None (one HEAD request)."""
        try:
            response = self.target.request("HEAD", f"/v2/{repo}/manifests/{tag}", scope=_push(repo),
                                           headers={"Accept": ACCEPT})
        except RegistryError as exc:
            if exc.kind == "not_found":
                return None
            raise
        response.close()
        return response.headers.get("Docker-Content-Digest")

    def _put_manifest(self, repo: str, reference: str, manifest: Manifest) -> str:
        response = self.target.request("PUT", f"/v2/{repo}/manifests/{reference}", scope=_push(repo),
                                       headers={"Content-Type": manifest.media_type}, data=manifest.raw,
                                       ok=(200, 201))
        response.close()
        return response.headers.get("Docker-Content-Digest") or manifest.digest

    # -- the copy -------------------------------------------------------------------------------

    def resolve(self, repo: str, reference: str, platforms: Sequence[str] = ()
                ) -> Tuple[Manifest, List[Manifest], List[str]]:
        """The manifest to put under the tag, the child manifests it needs, and the platforms they cover."""
        top = self.fetch_manifest(repo, reference)
        if not top.is_index:
            return top, [], []
        entries = top.children()
        if platforms:
            chosen = [e for e in entries if any(platform_matches(e, p) for p in platforms)]
            if not chosen:
                have = ", ".join(platform_of(e) for e in entries)
                raise self.source._fail(f"{self.source.host}/{repo}:{reference} has none of "
                                    f"{', '.join(platforms)} (it has {have})")
            if len(chosen) == 1:  # one platform: the tag gets that platform's manifest, as skopeo does
                return self.fetch_manifest(repo, chosen[0]["digest"]), [], [platform_of(chosen[0])]
            if len(chosen) < len(entries):
                data = top.data
                data["manifests"] = chosen
                raw = json.dumps(data, indent=3).encode()
                top = Manifest(top.media_type, raw, sha256_digest(raw))
            entries = chosen
        return top, [self.fetch_manifest(repo, e["digest"]) for e in entries], [platform_of(e) for e in entries]

    def copy(self, src_repo: str, src_reference: str, dst_repo: str, dst_tag: str, platforms: Sequence[str] = (),
             skip_existing: bool = True, dry: bool = False) -> CopyResult:
        top, children, platform_names = self.resolve(src_repo, src_reference, platforms)
        existing = self.target_digest(dst_repo, dst_tag)
        if existing == top.digest and skip_existing and not self.force:
            return CopyResult("unchanged", top.digest, platform_names)
        status = "copied" if existing is None else "recopied" if existing == top.digest else "updated"
        if dry:
            return CopyResult(f"would be {status}", top.digest, platform_names)
        result = CopyResult(status, top.digest, platform_names)
        blobs = {}
        for manifest in [*children, top]:
            for digest, size in manifest.blobs():
                blobs[digest] = size
        self._copy_blobs(src_repo, dst_repo, blobs, result)
        for child in children:
            self._put_manifest(dst_repo, child.digest, child)
        pushed = self._put_manifest(dst_repo, dst_tag, top)
        after = self.target_digest(dst_repo, dst_tag)
        if pushed != top.digest or after != top.digest:
            raise self.target._fail(f"{self.target.host}/{dst_repo}:{dst_tag}: digest after copy is {after or pushed}, "
                                f"source is {top.digest}")
        return result

    # -- blobs ----------------------------------------------------------------------------------

    def _copy_blobs(self, src_repo: str, dst_repo: str, blobs: dict, result: CopyResult) -> None:
        def one(item):
            digest, size = item
            return size if self._copy_blob(src_repo, dst_repo, digest) else 0

        with ThreadPoolExecutor(max_workers=max(1, min(self.blob_workers, len(blobs)))) as pool:
            result.bytes_uploaded += sum(pool.map(one, blobs.items()))

    def _blob_exists(self, repo: str, digest: str) -> bool:
        try:
            self.target.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=_push(repo)).close()
            return True
        except RegistryError as exc:
            if exc.kind == "not_found":
                return False
            raise

    def _copy_blob(self, src_repo: str, dst_repo: str, digest: str) -> bool:
        """Make ``digest`` exist in the target; True when its bytes had to be uploaded."""
        if not self.force and self._blob_exists(dst_repo, digest):
            return False
        upload_url = None
        same_registry = self.source.host == self.target.host and self.source.credentials == self.target.credentials
        if same_registry and src_repo != dst_repo:
            response = self.target.request(
                "POST", f"/v2/{dst_repo}/blobs/uploads/", scope=f"{_push(dst_repo)} {_pull(src_repo)}",
                params={"mount": digest, "from": src_repo}, ok=(201, 202))
            response.close()
            if response.status_code == 201:
                return False
            upload_url = _location(response)  # 202: the registry opened an upload session instead; use it
        # a stream cannot be replayed, so a transient failure restarts the whole blob (with a new session)
        attempts = iter([upload_url])
        with_retries(lambda: self._stream_blob(src_repo, dst_repo, digest, next(attempts, None)),
                     self.target.tries, self.target.backoff)
        return True

    def _stream_blob(self, src_repo: str, dst_repo: str, digest: str, upload_url: Optional[str] = None) -> None:
        """GET from the source and PUT to the target in 1 MiB chunks; the registry checks the digest."""
        download = self.source.request("GET", f"/v2/{src_repo}/blobs/{digest}", scope=_pull(src_repo), stream=True)
        try:
            if upload_url is None:
                start = self.target.request("POST", f"/v2/{dst_repo}/blobs/uploads/", scope=_push(dst_repo),
                                            ok=(202,))
                start.close()
                upload_url = _location(start)
            separator = "&" if "?" in upload_url else "?"
            upload = self.target.request(
                "PUT", f"{upload_url}{separator}digest={digest}", scope=_push(dst_repo),
                headers={"Content-Type": "application/octet-stream"},
                data=download.iter_content(chunk_size=CHUNK), ok=(201,), retry=False)
            upload.close()
        finally:
            download.close()


def _location(response) -> str:
    """An upload session's URL (registries may answer with a relative Location)."""
    return urljoin(response.url, response.headers["Location"])


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"
