"""A registry repository as a copy end, through the Registry HTTP API V2 (the OCI distribution spec).

Blobs are uploaded monolithically (one POST, one streamed PUT with the
digest), mounted across repositories when the registry already holds them,
and every open upload session is recorded so that Ctrl-C can cancel it at
the registry (:class:`UploadSessions`).
"""

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import Kind, NotFound, RegistryError
from ..naming import ImageRef, digest_problem
from ..registry.client import Clients, RegistryClient, cancel_upload, read_bounded, reason_of, upload_location
from ..registry.transport import TransportError
from ..util.inputs import parse_json
from . import Chunks, Source
from .locations import BlobLocations
from .manifests import (
    ACCEPT,
    CHUNK,
    MAX_MANIFEST,
    OCI_INDEX,
    Manifest,
    ManifestInvalid,
    parse_manifest,
)

MOUNT_TRIES = 3  # candidate repositories tried before uploading
RACED_PUT_TRIES = 3  # a manifest PUT refused (400) while another writer lands the same image, tried again
# An image has a few referrers (a signature per key, an attestation per kind, an SBOM per platform); a list of
# thousands is a registry misbehaving, and each would be a copy.
MAX_REFERRERS = 100
MAX_REFERRER_PAGES = 10


class RegistrySource:
    """``repo`` of the registry ``client`` talks to, read-only."""

    def __init__(self, client: RegistryClient, repo: str, locations: Optional[BlobLocations] = None):
        self.client = client
        self.repo = repo
        self.locations = locations
        self.where = f"{client.host}/{repo}"

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> RegistryError:
        return self.client.fail(message, kind)

    def manifest(self, reference: str) -> Manifest:
        """A manifest, checked: bounded, a JSON object, hashing to its digest."""
        where = f"{self.where}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        response = self.client.request("GET", f"/v2/{self.repo}/manifests/{reference}", scope=_pull(self.repo),
                                       headers={"Accept": ACCEPT}, stream=True)
        with response:
            try:
                raw = read_bounded(response, MAX_MANIFEST)
            except TransportError as exc:
                raise self.fail(f"{where}: the manifest download broke off ({reason_of(exc)})",
                                Kind.TRANSIENT) from None
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            claimed = response.headers.get("Docker-Content-Digest", "")
        expected = reference if reference.startswith("sha256:") else claimed
        try:
            return parse_manifest(raw, media_type, expected)
        except ManifestInvalid as exc:
            message = str(exc).replace("was expected", "the registry says") if not reference.startswith(
                "sha256:") else str(exc)
            raise self.fail(f"{where}: {message}", Kind.INTEGRITY if exc.integrity else Kind.OTHER) from None

    def digest(self, reference: str) -> Optional[str]:
        """What ``reference`` points at (one HEAD request), or None when the repository has no such tag."""
        return _head_manifest(self.client, self.repo, reference, _pull(self.repo))

    def referrers(self, digest: str) -> Optional[List[Dict[str, Any]]]:
        """The descriptors the OCI 1.1 Referrers API lists for ``digest`` (signatures, attestations stored with a
        ``subject``), or None where the registry has no such API (distribution 2.8 and ACR Personal answer 404).
        Paged as the API pages it (``Link``), each page bounded as a manifest, :data:`MAX_REFERRERS` in all;
        every descriptor's digest checked where it enters. What they point at is not trusted here:
        supply.carry.vetted reads each one."""
        what = f"{self.where}: the referrers list of {digest}"
        path = f"/v2/{self.repo}/referrers/{digest}"
        listed: List[Dict[str, Any]] = []
        for page in range(MAX_REFERRER_PAGES):
            try:
                response = self.client.request("GET", path, scope=_pull(self.repo),
                                               headers={"Accept": OCI_INDEX}, stream=True, retry=False)
            except RegistryError as exc:
                if page == 0 and exc.status in (400, 404, 405):
                    return None
                raise
            with response:
                media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                link, url = str(response.headers.get("Link", "")), response.url
                try:
                    raw = read_bounded(response, MAX_MANIFEST)
                except TransportError as exc:
                    raise self.fail(f"{what} broke off ({reason_of(exc)})", Kind.TRANSIENT) from None
            if media_type != OCI_INDEX:
                if page == 0:  # a page, a redirect's body: no Referrers API here
                    return None
                raise self.fail(f"{what}: a next page is not an image index", Kind.INTEGRITY)
            listed += _listed_descriptors(raw, what, self.fail)
            if len(listed) > MAX_REFERRERS:
                raise self.fail(f"{what} names more than {MAX_REFERRERS} referrers; refused", Kind.INTEGRITY)
            following = self.client.next_page(link, url, what, page, MAX_REFERRER_PAGES)
            if following is None:
                break
            path = following
        return listed

    def open_blob(self, digest: str, size: int) -> Tuple[Iterator[bytes], Callable[[], None]]:
        # One try: the copy retries the whole blob (a stream cannot be replayed), so tries here would multiply
        # with those (9 GETs a blob against a failing registry); the copy's retries honour Retry-After too.
        response = self.client.request("GET", f"/v2/{self.repo}/blobs/{digest}", scope=_pull(self.repo),
                                       stream=True, retry=False)
        if self.locations is not None:
            self.locations.remember(self.client.host, self.repo, digest)
        return response.iter_content(chunk_size=CHUNK), response.close


def _listed_descriptors(raw: Optional[bytes], what: str, fail: Callable[..., RegistryError]) -> List[Dict[str, Any]]:
    """The descriptors of one page of a referrers list (an OCI image index), each with a well-formed digest and
    an integer size; anything else is an integrity error."""
    if raw is None:
        raise fail(f"{what} is larger than {MAX_MANIFEST >> 20} MiB", Kind.INTEGRITY)
    try:
        index = parse_json(raw)
    except ValueError:
        raise fail(f"{what} is not JSON", Kind.INTEGRITY) from None
    found = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(found, list):
        raise fail(f"{what} is not an image index", Kind.INTEGRITY)
    for entry in found:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str) or \
                digest_problem(entry["digest"]) or not isinstance(entry.get("size"), int):
            raise fail(f"{what} holds a malformed descriptor", Kind.INTEGRITY)
    return found


class RegistryTarget:
    """``repo:tag`` of the registry ``client`` talks to."""

    parallel = 16
    checks_digests = True  # the registry refuses a blob that does not hash to its digest (distribution spec)

    def __init__(self, client: RegistryClient, repo: str, tag: str, sessions: "UploadSessions",
                 locations: Optional[BlobLocations] = None):
        self.client = client
        self.repo = repo
        self.tag = tag
        self.sessions = sessions
        self.locations = locations or BlobLocations()
        self.where = f"{client.host}/{repo}:{tag}"

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> RegistryError:
        return self.client.fail(message, kind)

    def tag_digest(self) -> Optional[str]:
        return _head_manifest(self.client, self.repo, self.tag, _push(self.repo))

    def reuse_blob(self, digest: str, size: int, source: Source) -> bool:
        """Already here, or mounted from a repository of this registry known to hold it.

        With a known location the mount is tried first: it succeeds as well
        when this repository has the blob, so one request does for two.
        """
        return self._mount(digest, source) or self._has(digest)

    def _has(self, digest: str) -> bool:
        try:
            self.client.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", scope=_push(self.repo)).close()
        except NotFound:
            return False
        self.locations.remember(self.client.host, self.repo, digest)
        return True

    def _mount(self, digest: str, source: Source) -> bool:
        """Mount from a repository of this registry known to hold the blob; False when none could."""
        host = self.client.host
        candidates = self.locations.candidates(host, digest, exclude=self.repo)
        # a registry source (or one built on it: copy.memory) of this registry, with our credentials, is the
        # first place to mount from
        client, repo = getattr(source, "client", None), getattr(source, "repo", None)
        if client is not None and client.host == host and client.credentials == self.client.credentials \
                and repo and repo != self.repo:
            candidates = [repo, *[c for c in candidates if c != repo]]
        for repo in candidates[:MOUNT_TRIES]:
            response = self.client.request(
                "POST", f"/v2/{self.repo}/blobs/uploads/", scope=f"{_push(self.repo)} {_pull(repo)}",
                params={"mount": digest, "from": repo}, ok=(201, 202))
            response.close()
            if response.status_code == 201:
                self.locations.remember(host, self.repo, digest)
                return True
            # 202: the registry opened an upload session instead (no such blob there, or no right to it)
            cancel_upload(self.client, upload_location(response), self.repo)
            self.locations.forget(host, repo, digest)
        return False

    def put_blob(self, digest: str, size: int, chunks: Chunks) -> None:
        """POST a session, then PUT the bytes with the digest; the registry checks it too."""
        start = self.client.request("POST", f"/v2/{self.repo}/blobs/uploads/", scope=_push(self.repo), ok=(202,))
        start.close()
        upload_url = upload_location(start)
        self.sessions.opened(self.client, upload_url, self.repo)
        finished = False
        try:
            separator = "&" if "?" in upload_url else "?"
            self.client.request("PUT", f"{upload_url}{separator}digest={digest}", scope=_push(self.repo),
                                headers={"Content-Type": "application/octet-stream"},
                                data=chunks, ok=(201,), retry=False).close()
            finished = True
        finally:
            self.sessions.closed(upload_url, cancel=not finished)
        self.locations.remember(self.client.host, self.repo, digest)

    def put_manifest(self, manifest: Manifest, reference: Optional[str]) -> str:
        """PUT under its digest (``reference`` None: a child of an index) or under the tag."""
        where = self.tag if reference else manifest.digest
        for attempt in range(1, RACED_PUT_TRIES + 1):
            try:
                response = self.client.request("PUT", f"/v2/{self.repo}/manifests/{where}", scope=_push(self.repo),
                                               headers={"Content-Type": manifest.media_type}, data=manifest.raw,
                                               ok=(200, 201))
            except RegistryError as exc:
                # Another writer of the same image (two push-deps into one target at once) can make the registry
                # refuse ours, e.g. distribution's DIGEST_INVALID on an index while the other run's children
                # land. What counts is what the target holds: if it is our digest now, this copy is done; if
                # not yet, the other writer is midway, and the same PUT a moment later finds everything there.
                if exc.kind in (Kind.AUTH, Kind.IMMUTABLE, Kind.TLS):
                    raise
                try:
                    held = _head_manifest(self.client, self.repo, where, _push(self.repo))
                except RegistryError:
                    held = None
                if held == manifest.digest:
                    return held
                if exc.status != 400 or attempt == RACED_PUT_TRIES:
                    raise exc from None
                time.sleep(0.2 * attempt)
                continue
            response.close()
            return response.headers.get("Docker-Content-Digest") or manifest.digest
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _head_manifest(client: RegistryClient, repo: str, reference: str, scope: str) -> Optional[str]:
    try:
        response = client.request("HEAD", f"/v2/{repo}/manifests/{reference}", scope=scope,
                                  headers={"Accept": ACCEPT})
    except NotFound:
        return None
    response.close()
    digest: Optional[str] = response.headers.get("Docker-Content-Digest")
    problem = digest_problem(digest) if digest else None
    if problem:  # what the registry says is checked where it enters, before a copy or a pin trusts it
        raise client.fail(f"{client.host}/{repo}:{reference}: the registry answered the digest {str(digest)[:80]!r}, "
                          f"which {problem}", Kind.INTEGRITY)
    return digest


class UploadSessions:
    """Upload sessions open right now, so that Ctrl-C can cancel them at the registries."""

    def __init__(self) -> None:
        self._open: Dict[str, Tuple[RegistryClient, str]] = {}
        self._lock = threading.Lock()
        self._cancelled = False

    def opened(self, client: RegistryClient, url: str, repo: str) -> None:
        """A session just opened; after Ctrl-C (a job that was already under way opens one late), it is
        cancelled at once."""
        with self._lock:
            late = self._cancelled
            if not late:
                self._open[url] = (client, repo)
        if late:
            cancel_upload(client, url, repo)

    def closed(self, url: str, cancel: bool) -> None:
        with self._lock:
            entry = self._open.pop(url, None)
        if cancel and entry is not None:
            cancel_upload(entry[0], url, entry[1])

    def cancel_all(self) -> int:
        with self._lock:
            entries, self._open, self._cancelled = dict(self._open), {}, True
        for url, (client, repo) in entries.items():
            cancel_upload(client, url, repo)
        return len(entries)


def held_by(clients: Clients) -> Callable[[ImageRef], Optional[str]]:
    """What the registry itself holds at a ref: one HEAD with the docker config's credentials; None when it has
    no such tag. Pushes through the engine are read back with it."""
    return lambda ref: RegistrySource(clients.get(ref.host), ref.repository).digest(ref.tag or "latest")


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"
