"""Copy one image between registries through the Registry HTTP API V2, like ``skopeo copy --all``.

The whole index with every platform by default; blobs streamed (never a
whole blob in memory), mounted across repositories when source and target
share a registry, skipped when the target has them; child manifests pushed
before the index and the tag last, so a tag never points at missing blobs.
The target digest is checked against the source's afterwards.
"""

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urljoin

import requests

from ..errors import Kind, RegistryError
from ..jobs import CANCELLED, run_jobs
from ..retry import with_retries
from .client import RegistryClient, read_bounded, reason_of

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
CHUNK = 1 << 20  # streamed in 1 MiB pieces: memory stays flat whatever the layer size
MAX_MANIFEST = 4 << 20  # the limit docker and containerd apply to manifests


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
        described = ([data["config"]] if data.get("config") else []) + list(data.get("layers") or [])
        return [(_descriptor_digest(d), _descriptor_size(d)) for d in described if not d.get("urls")]

    def children(self) -> List[dict]:
        entries = list(self.data.get("manifests") or [])
        for entry in entries:
            _descriptor_digest(entry)
        return entries


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}\Z")


def _descriptor_size(descriptor: dict) -> int:
    size = descriptor.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TypeError(f"bad size {size!r}")
    return size


def _descriptor_digest(descriptor: dict) -> str:
    """A descriptor's digest, which ends up in a URL path: only ``sha256:<64 hex>`` passes."""
    digest = descriptor["digest"]
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise TypeError(f"bad digest {digest!r}")
    return digest


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

    def __init__(self, source: RegistryClient, target: RegistryClient, blob_workers: int = 4, force: bool = False,
                 sessions: Optional["UploadSessions"] = None,
                 on_bytes: Optional[Callable[[int, int], None]] = None):
        self.source = source
        self.target = target
        self.blob_workers = blob_workers
        self.force = force
        self.sessions = sessions or UploadSessions()
        self.on_bytes = on_bytes  # (bytes done, bytes in all) of the blobs, as they stream

    # -- manifests ------------------------------------------------------------------------------

    def fetch_manifest(self, repo: str, reference: str) -> Manifest:
        """A manifest, checked before anything is built on it: bounded, a JSON object, hashing to its digest."""
        where = f"{self.source.host}/{repo}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        response = self.source.request("GET", f"/v2/{repo}/manifests/{reference}", scope=_pull(repo),
                                       headers={"Accept": ACCEPT}, stream=True)
        with response:
            try:
                raw = read_bounded(response, MAX_MANIFEST)
            except requests.exceptions.RequestException as exc:
                raise self.source._fail(f"{where}: the manifest download broke off ({reason_of(exc)})",
                                        Kind.TRANSIENT) from None
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            claimed = response.headers.get("Docker-Content-Digest", "")
        if raw is None:  # docker and containerd refuse these too, without reading them
            raise self.source._fail(f"{where}: the manifest is larger than {MAX_MANIFEST >> 20} MiB; refused")
        try:
            body = json.loads(raw)
        except ValueError:
            raise self.source._fail(f"{where}: the manifest is not JSON") from None
        if not isinstance(body, dict):
            raise self.source._fail(f"{where}: the manifest is JSON but not an object")
        media_type = body.get("mediaType") or media_type
        if not isinstance(media_type, str):
            raise self.source._fail(f"{where}: the manifest's mediaType is not a string")
        if body.get("schemaVersion") == 1 or "prettyjws" in media_type:
            raise self.source._fail(f"{where}: schema 1 manifests are not supported")
        digest = sha256_digest(raw)
        expected = reference if reference.startswith("sha256:") else claimed
        if expected and expected.startswith("sha256:") and digest != expected:
            raise self.source._fail(f"{where}: the manifest's bytes hash to {digest}, but the registry says "
                                    f"{expected}; refused (corrupt or tampered)", Kind.INTEGRITY)
        manifest = Manifest(media_type, raw, digest)
        try:
            manifest.blobs()
            manifest.children()
        except (TypeError, KeyError, AttributeError) as exc:
            raise self.source._fail(f"{where}: the manifest's config, layers or manifests are malformed "
                                    f"({exc})") from None
        return manifest

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
        transfer = _Transfer(sum(blobs.values()), self.on_bytes)

        def one(item):
            digest, size = item
            uploaded = self._copy_blob(src_repo, dst_repo, digest, transfer)
            if not uploaded:
                transfer.add(size)  # already there, or mounted: done all the same
            return size if uploaded else 0

        result.bytes_uploaded += sum(run_jobs(one, list(blobs.items()), self.blob_workers))

    def _blob_exists(self, repo: str, digest: str) -> bool:
        try:
            self.target.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=_push(repo)).close()
            return True
        except RegistryError as exc:
            if exc.kind == "not_found":
                return False
            raise

    def _copy_blob(self, src_repo: str, dst_repo: str, digest: str, transfer: "_Transfer") -> bool:
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
        with_retries(lambda: self._stream_blob(src_repo, dst_repo, digest, transfer, next(attempts, None)),
                     self.target.tries, self.target.backoff)
        return True

    def _stream_blob(self, src_repo: str, dst_repo: str, digest: str, transfer: "_Transfer",
                     upload_url: Optional[str] = None) -> None:
        """GET from the source and PUT to the target in 1 MiB chunks; the registry checks the digest.

        A failure while reading the source is the source's, even though it
        surfaces as a broken upload; an upload that does not finish has its
        session cancelled (DELETE), so the target keeps no half-written blob.
        """
        download = self.source.request("GET", f"/v2/{src_repo}/blobs/{digest}", scope=_pull(src_repo), stream=True)
        source = _SourceStream(download, transfer)
        finished = False
        try:
            if upload_url is None:
                start = self.target.request("POST", f"/v2/{dst_repo}/blobs/uploads/", scope=_push(dst_repo),
                                            ok=(202,))
                start.close()
                upload_url = _location(start)
            self.sessions.opened(self.target, upload_url, dst_repo)
            separator = "&" if "?" in upload_url else "?"
            try:
                upload = self.target.request(
                    "PUT", f"{upload_url}{separator}digest={digest}", scope=_push(dst_repo),
                    headers={"Content-Type": "application/octet-stream"}, data=source, ok=(201,), retry=False)
            except RegistryError:
                if source.error is not None:
                    raise self.source._fail(
                        f"{self.source.host}/{src_repo}: the download of blob {digest} broke off after "
                        f"{source.received} bytes ({reason_of(source.error)})", Kind.TRANSIENT) from None
                raise
            upload.close()
            finished = True
        finally:
            download.close()
            if not finished:
                transfer.add(-source.received)  # a retry streams these bytes again
            if upload_url is not None:
                self.sessions.closed(upload_url, cancel=not finished)


class _Transfer:
    """Bytes streamed so far over all blobs of one copy, reported to a progress callback."""

    def __init__(self, total: int, on_bytes: Optional[Callable[[int, int], None]]):
        self.total = total
        self.done = 0
        self._on_bytes = on_bytes
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            done = self.done
        if self._on_bytes is not None:
            self._on_bytes(done, self.total)


class _SourceStream:
    """The source's blob bytes as the upload's body, remembering why reading them failed, if it did."""

    def __init__(self, download, transfer: _Transfer):
        self._chunks = download.iter_content(chunk_size=CHUNK)
        self._transfer = transfer
        self.error: Optional[Exception] = None
        self.received = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if CANCELLED.is_set():
            self.error = InterruptedError("interrupted")
            raise self.error
        try:
            chunk = next(self._chunks)
        except StopIteration:
            raise
        except Exception as exc:  # requests/urllib3 wrap resets and stalls in several types
            self.error = exc
            raise
        self.received += len(chunk)
        self._transfer.add(len(chunk))
        return chunk


class UploadSessions:
    """Upload sessions open right now, so that Ctrl-C can cancel them at the registries."""

    def __init__(self):
        self._open: Dict[str, Tuple[RegistryClient, str]] = {}
        self._lock = threading.Lock()

    def opened(self, client: RegistryClient, url: str, repo: str) -> None:
        with self._lock:
            self._open[url] = (client, repo)

    def closed(self, url: str, cancel: bool) -> None:
        with self._lock:
            entry = self._open.pop(url, None)
        if cancel and entry is not None:
            _cancel_upload(entry[0], url, entry[1])

    def cancel_all(self) -> int:
        with self._lock:
            entries, self._open = dict(self._open), {}
        for url, (client, repo) in entries.items():
            _cancel_upload(client, url, repo)
        return len(entries)


def _cancel_upload(client: RegistryClient, url: str, repo: str) -> None:
    """DELETE an upload session, best effort and quickly: the copy has failed or been interrupted already."""
    try:
        client.request("DELETE", url, scope=_push(repo), ok=(204, 200, 202, 404), retry=False,
                       timeout=2).close()
    except Exception:  # noqa: BLE001 - the session expires at the registry anyway
        pass


def _location(response) -> str:
    """An upload session's URL (registries may answer with a relative Location)."""
    return urljoin(response.url, response.headers["Location"])


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"
