"""The copy algorithm, written once for every pair of ends (registry, OCI layout, Docker engine).

1. Resolve the source's manifest; for an index, pick the platforms asked for.
2. Skip the image when the target's tag already has that digest (unless forced).
3. Blobs first: each one the target lacks (and cannot get without bytes: a
   registry mounts it from another repository that has it) is streamed from
   the source in 1 MiB pieces and checked against its digest and size on the way.
4. Child manifests next, the tag last: a tag never points at missing content.
5. Read the tag back: the target must hold the source's digest.

An end is a :class:`~acrtasks.copy.Source` or :class:`~acrtasks.copy.Target` (declared once, in the
package); errors come out as the ends' own typed errors, each naming the end at fault. The fan-out
(:mod:`acrtasks.copy.fanout`: one source, several targets) shares this module's steps: committing the
manifests, blaming a failed upload on the right end, and retrying a blob.
"""

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ..config import DROP_ALL
from ..errors import AcrError, Kind
from ..util.jobs import CANCELLED, run_jobs
from ..util.retry import with_retries
from ..util.inputs import parse_json
from . import Source, Target
from .manifests import (
    MAX_CONFIG,
    Manifest,
    platform_matches,
    platform_of,
    sha256_digest,
)

@dataclass
class CopyResult:
    status: str  # copied | updated | recopied (same digest, forced) | unchanged; "would be ..." under --dry
    digest: str
    platforms: List[str] = field(default_factory=list)
    bytes_uploaded: int = 0  # blobs the target had or could mount cost nothing
    size: int = 0  # bytes of all blobs and manifests of the image
    images: List[Tuple[str, Manifest]] = field(default_factory=list)  # (platform, image manifest) copied
    source_digest: str = ""  # the source's own index, when only some of its entries were copied; else ""

    @property
    def image_platforms(self) -> List[str]:
        """The platforms of the images copied, without the attestations' (``unknown/unknown``)."""
        return [platform for platform in self.platforms if platform != "unknown/unknown"]

    @property
    def reduced(self) -> str:
        """``source index sha256:a… reduced to linux/amd64, linux/arm64``, or "" when copied whole."""
        if not self.source_digest:
            return ""
        return f"source index {self.source_digest} reduced to {', '.join(self.image_platforms)}"


#: What marks an index entry as an attestation rather than a platform image: buildx's annotation, or (OCI 1.1)
#: a manifest whose config is the empty descriptor or that names an artifactType.
ATTESTATION_ANNOTATION = ("vnd.docker.reference.type", "attestation-manifest")
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def is_artifact(manifest: Manifest) -> bool:
    """An OCI artifact (an attestation, an SBOM, a signature), not a runnable image: ACR refuses these."""
    data = manifest.data
    config: Dict[str, Any] = data["config"] if isinstance(data.get("config"), dict) else {}
    return bool(data.get("artifactType")) or config.get("mediaType") == EMPTY_CONFIG


def is_attestation_entry(entry: Dict[str, Any]) -> bool:
    annotations: Dict[str, Any] = entry["annotations"] if isinstance(entry.get("annotations"), dict) else {}
    return annotations.get(ATTESTATION_ANNOTATION[0]) == ATTESTATION_ANNOTATION[1] or bool(entry.get("artifactType"))


class Resolved(NamedTuple):
    """What a copy puts at the target, decided before anything is sent."""

    top: Manifest  # under the tag
    children: List[Manifest]  # the child manifests it needs (an index's entries that are kept)
    platforms: List[str]  # of each child, in order (an attestation's is unknown/unknown)
    dropped: bool  # attestations were left out
    source_digest: str  # the source's own manifest (differs from top's when an index was reduced)

    @property
    def reduced_from(self) -> str:
        """The source's index when ``top`` is not it (platforms or attestations left out), else ""."""
        return self.source_digest if self.source_digest != self.top.digest else ""


def resolve(source: Source, reference: str, platforms: Sequence[str] = (), drop_attestations: str = ""
            ) -> Resolved:
    """The manifest to put under the tag, the child manifests it needs, the platforms they cover, and whether
    attestations were left out.

    ``drop_attestations`` (config.drops_attestations): ``"all"``: an index's attestation entries are left out;
    ``"artifacts"``: only those in the OCI-artifact form (empty config or an artifactType), which ACR refuses,
    while the older form, image manifests inside the index, goes along; ``""``: nothing. The index is rewritten
    when something is left out, so its digest changes; every platform image keeps its own."""
    top = source.manifest(reference)
    original = top.digest
    dropped = False
    if not top.is_index:
        return Resolved(top, [], [], dropped, original)
    entries = top.children()
    fetched: Dict[str, Manifest] = {}  # each child manifest read once, whichever step needs it first

    def child(entry: Dict[str, Any]) -> Manifest:
        if entry["digest"] not in fetched:
            fetched[entry["digest"]] = source.manifest(entry["digest"])
        return fetched[entry["digest"]]

    if drop_attestations:
        kept = [e for e in entries if not (drop_attestations == DROP_ALL and is_attestation_entry(e))
                and not is_artifact(child(e))]
        if kept and len(kept) < len(entries):
            top, entries, dropped = with_entries(top, kept), kept, True
    if platforms:
        top, entries = _reduced(source, reference, top, entries, platforms)
        images = [e for e in entries if not is_attestation_entry(e)]
        if len(images) == 1:  # one platform: the tag gets that platform's manifest, as skopeo does
            return Resolved(child(images[0]), [], [platform_of(images[0])], dropped, original)
    return Resolved(top, [child(e) for e in entries], [platform_of(e) for e in entries], dropped, original)


#: buildx's annotation on an attestation entry: the digest of the platform image it describes.
ATTESTS = "vnd.docker.reference.digest"


def _reduced(source: Source, reference: str, top: Manifest, entries: List[Dict[str, Any]],
             platforms: Sequence[str]) -> Tuple[Manifest, List[Dict[str, Any]]]:
    """``top`` reduced to the images of ``platforms`` and the attestations of those images, in the source's
    order (each entry as the source has it: per-platform digests do not change). Every platform asked for
    must be there: a mirror that silently lacks one is found out only on the machine that needed it."""
    images = [e for e in entries if not is_attestation_entry(e)]
    missing = [p for p in platforms if not any(platform_matches(e, p) for e in images)]
    if missing:
        have = ", ".join(platform_of(e) for e in images) or "no platform images"
        at = "@" if reference.startswith("sha256:") else ":"
        raise source.fail(f"{source.where}{at}{reference} has no {', '.join(missing)} (it has {have})")
    kept = {e["digest"] for e in images if any(platform_matches(e, p) for p in platforms)}
    chosen = [e for e in entries if e["digest"] in kept or _annotation(e, ATTESTS) in kept]
    if len(chosen) == len(entries):
        return top, entries
    return with_entries(top, chosen), chosen


def _annotation(entry: Dict[str, Any], key: str) -> Any:
    annotations = entry.get("annotations")
    return annotations.get(key) if isinstance(annotations, dict) else None


def with_entries(index: Manifest, entries: List[Dict[str, Any]]) -> Manifest:
    """``index`` rewritten to hold only ``entries`` (a new digest; each entry's manifest keeps its own)."""
    data = {**index.data, "manifests": entries}  # a copy: index.data is the index's own parse
    raw = json.dumps(data, indent=3).encode()
    return Manifest(index.media_type, raw, sha256_digest(raw))


def image_platform(source: Source, manifest: Manifest) -> str:
    """The platform of a single image manifest, read from its config (one small blob)."""
    config = manifest.config()
    if config is None:
        return "unknown/unknown"
    data = read_small_blob(source, *config, MAX_CONFIG)
    try:
        body = parse_json(data)
    except ValueError:
        raise source.fail(f"{source.where}: the image config {config[0]} is not JSON") from None
    return platform_of(body) if isinstance(body, dict) else "unknown/unknown"


def read_small_blob(source: Source, digest: str, size: int, limit: int) -> bytes:
    if size > limit:
        raise source.fail(f"{source.where}: blob {digest} is {size} bytes, more than the {limit >> 20} MiB "
                          "allowed for it")
    def read() -> bytes:
        chunks, close = source.open_blob(digest, size)
        stream = BlobStream(source, digest, size, iter(chunks))
        try:
            return b"".join(stream)
        except Exception:
            if stream.error is not None:  # a break-off: the source's fault, retried when transient
                raise stream.source_error() from None
            raise
        finally:
            close()

    return with_retries(read)


def copy_image(source: Source, reference: str, target: Target, platforms: Sequence[str] = (),
               skip_existing: bool = True, force: bool = False, dry: bool = False, workers: int = 4,
               on_bytes: Optional[Callable[[int, int], None]] = None, tries: int = 3,
               backoff: Optional[float] = None, with_platforms: bool = False,
               drop_attestations: str = "") -> CopyResult:
    """Copy ``reference`` of ``source`` to ``target`` (see the module's docstring for the order of things).

    ``with_platforms``: also name the platform of a single-manifest image
    (from its config), for a target that files images by platform.
    ``drop_attestations``: leave an index's attestations out (see :func:`resolve`); the status says so.
    """
    resolved = resolve(source, reference, platforms, drop_attestations)
    top, children, platform_names, dropped = resolved[:4]
    said = " (attestations dropped)" if dropped else ""  # only those the target refuses, where "artifacts"
    images = list(zip(platform_names, children)) if children else []
    if not top.is_index:
        platform = platform_names[0] if platform_names else (image_platform(source, top) if with_platforms else "")
        images = [(platform, top)]
    blobs = {}
    for manifest in [*children, top]:
        for digest, size in manifest.blobs():
            blobs[digest] = size
    size = sum(blobs.values()) + sum(len(m.raw) for m in [*children, top])
    existing = target.tag_digest()
    if existing == top.digest and skip_existing and not force:
        return CopyResult("unchanged", top.digest, platform_names, size=size, images=images,
                          source_digest=resolved.reduced_from)
    status = ("copied" if existing is None else "recopied" if existing == top.digest else "updated") + said
    if dry:
        return CopyResult(f"would be {status}", top.digest, platform_names, size=size, images=images,
                          source_digest=resolved.reduced_from)
    result = CopyResult(status, top.digest, platform_names, size=size, images=images,
                          source_digest=resolved.reduced_from)
    transfer = _Transfer(sum(blobs.values()), on_bytes)

    def one(item: Tuple[str, int]) -> int:
        digest, size = item
        uploaded = _copy_blob(source, target, digest, size, transfer, force, tries, backoff)
        if not uploaded:
            transfer.add(size)  # already there, or mounted: done all the same
        return size if uploaded else 0

    result.bytes_uploaded = sum(run_jobs(one, list(blobs.items()), max(1, min(workers, target.parallel))))
    commit_manifests(children, top, [target])
    return result


def commit_manifests(children: Sequence[Manifest], top: Manifest, targets: Sequence[Target]) -> None:
    """Once every blob is there: the child manifests (by digest, into the first target: the others are tags
    of its repository), then the top one under each target's tag, each read back: a tag never points at
    missing content, and the target must hold the source's digest."""
    for child in children:
        targets[0].put_manifest(child, None)
    for target in targets:
        pushed = target.put_manifest(top, "tag")
        after = target.tag_digest()
        if pushed != top.digest or after != top.digest:
            raise target.fail(f"{target.where}: digest after copy is {after or pushed}, source is {top.digest}")


def upload_failure(source: Source, target: Target, digest: str, exc: BaseException, stream: "BlobStream") -> BaseException:
    """Why a blob's upload failed, blaming the right end: the source broke off (the target's failure is only its
    symptom), or the target refused bytes that do not hash to the digest (the source's corrupt blob), or else
    the target's own failure, ``exc`` itself."""
    if stream.error is not None:
        return stream.source_error()
    if getattr(exc, "status", None) == 400 and "DIGEST_INVALID" in str(exc):  # the registry's own check
        return source.fail(f"{source.where}: blob {digest} does not hash to its digest (the target refused it); "
                           "refused (corrupt or tampered)", Kind.INTEGRITY)
    return exc


def _copy_blob(source: Source, target: Target, digest: str, size: int, transfer: "_Transfer", force: bool,
               tries: int, backoff: Optional[float]) -> bool:
    """Make ``digest`` exist in the target; True when its bytes had to be sent."""
    if not force and target.reuse_blob(digest, size, source):
        return False
    # a stream cannot be replayed, so a transient failure restarts the whole blob
    with_retries(lambda: _stream_blob(source, target, digest, size, transfer), tries, backoff)
    return True


def _stream_blob(source: Source, target: Target, digest: str, size: int, transfer: "_Transfer") -> None:
    chunks, close = source.open_blob(digest, size)
    stream = BlobStream(source, digest, size, iter(chunks), transfer, hashed=not target.checks_digests)
    finished = False
    try:
        try:
            target.put_blob(digest, size, stream)
        except Exception as exc:
            failure = upload_failure(source, target, digest, exc, stream)
            if failure is exc:
                raise
            raise failure from None
        if stream.error is not None:
            raise stream.source_error()
        if not stream.complete:
            raise target.fail(f"{target.where}: blob {digest} was stored before all of it was read")
        finished = True
    finally:
        close()
        if not finished:
            transfer.add(-stream.received)  # a retry streams these bytes again


class BlobStream:
    """A blob's bytes on their way from a source to a target, checked against the digest and size.

    A failure while reading is remembered (``error``), so that it is reported
    as the source's fault, though it surfaces in the target as a broken upload.
    The check happens as the last byte passes: a target that stores the blob
    only after the iterator is exhausted never keeps bad bytes.
    """

    def __init__(self, source: Source, digest: str, size: int, chunks: Iterator[bytes],
                 transfer: Optional["_Transfer"] = None, hashed: bool = True):
        self._source = source
        self.digest = digest
        self.size = size
        self._chunks = chunks
        self._transfer = transfer
        self._hash = hashlib.sha256() if hashed else None  # None: the target checks the digest itself
        self.error: Optional[BaseException] = None
        self.received = 0
        self.complete = False

    def __iter__(self) -> "BlobStream":
        return self

    def __len__(self) -> int:
        """The blob's size: an HTTP upload then carries a Content-Length instead of chunked framing, which
        would copy every piece once more (urllib3 frames each chunk in a new bytes object)."""
        return self.size

    def __next__(self) -> bytes:
        if CANCELLED.is_set():
            self.error = InterruptedError("interrupted")
            raise self.error
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._finish()
            raise
        except AcrError as exc:
            self.error = exc
            raise
        except Exception as exc:  # requests/urllib3 wrap resets and stalls in several types
            self.error = exc
            raise
        self.received += len(chunk)
        if self.received > self.size:
            self.error = self._source.fail(f"{self._source.where}: blob {self.digest} is longer than its "
                                           f"{self.size} bytes", Kind.INTEGRITY)
            raise self.error
        if self._hash is not None:
            self._hash.update(chunk)
        if self._transfer is not None:
            self._transfer.add(len(chunk))
        return chunk

    def _finish(self) -> None:
        if self.received != self.size:
            self.error = self._source.fail(f"{self._source.where}: blob {self.digest} ended after "
                                           f"{self.received} of {self.size} bytes", Kind.TRANSIENT)
            raise self.error
        got = "sha256:" + self._hash.hexdigest() if self._hash is not None else self.digest
        if got != self.digest:
            self.error = self._source.fail(f"{self._source.where}: blob {self.digest} does not hash to its digest "
                                           f"(it hashes to {got}); refused (corrupt or tampered)", Kind.INTEGRITY)
            raise self.error
        self.complete = True

    def source_error(self) -> AcrError:
        if isinstance(self.error, AcrError):
            return self.error
        from ..registry.client import reason_of

        reason = "interrupted" if isinstance(self.error, (InterruptedError, type(None))) else \
            reason_of(self.error)
        return self._source.fail(f"{self._source.where}: the download of blob {self.digest} broke off after "
                                 f"{self.received} bytes ({reason})", Kind.TRANSIENT)


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
