"""One source, several targets: each blob read once and streamed to every target that lacks it.

skopeo and image-syncer copy one source to one target; writing a release to three registries with them reads
the source three times. Here the copier's steps (see :mod:`acrtasks.copy.copier`) run for every target at
once: the manifests are resolved once, each target is asked for each blob (it has it, or mounts it), and the
blobs some target lacks are read from the source once, checked once (size, digest) and teed to those
targets, each through a bounded queue (8 MiB: memory stays flat whatever the layer). A target that fails is
left behind; the others go on, and its error is its own result. A blob that a copy of another image is
already sending to the same registry is waited for and then mounted, not sent twice (:class:`InFlight`).
"""

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import AcrError, Interrupted
from ..util.jobs import CANCELLED, run_jobs
from ..util import retry
from . import Source, Target
from .copier import BlobStream, CopyResult, Resolved, commit_manifests, resolve, upload_failure

QUEUE_CHUNKS = 8  # per target: 8 MiB of a blob in flight at most


@dataclass
class FanTarget:
    """A repository to copy to, and every tag the image gets there (the first is the copy's; the others get
    the manifest only)."""

    target: Target  # a RegistryTarget
    tags: Sequence[str] = ()  # further tags in the same repository
    drop_attestations: str = ""  # config.drops_attestations: "", "artifacts" or "all"
    host: str = ""  # blobs in flight are shared per registry: another repository mounts what one received
    result: Optional[CopyResult] = None
    error: Optional[AcrError] = None
    bytes_uploaded: int = 0
    _plan: Optional[Resolved] = field(default=None, repr=False)  # once decided

    @property
    def alive(self) -> bool:
        return self.error is None


class InFlight:
    """Blobs being sent to a registry right now, so a second copy into it waits for the first, then finds the
    blob there or mounts it from the repository that received it (the targets share their BlobLocations)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: Dict[Tuple[str, str], threading.Event] = {}

    def claim(self, host: str, digest: str) -> Optional[threading.Event]:
        """None: ours to send (call :meth:`done`); else the event to wait for."""
        with self._lock:
            event = self._events.get((host, digest))
            if event is None:
                self._events[(host, digest)] = threading.Event()
            return event

    def done(self, host: str, digest: str) -> None:
        with self._lock:
            event = self._events.get((host, digest))
        if event is not None:
            event.set()


def copy_to_all(source: Source, reference: str, targets: Sequence[FanTarget], workers: int = 4,
                in_flight: Optional[InFlight] = None,
                tag_for: Optional[Callable[[FanTarget, str], Target]] = None,
                platforms: Sequence[str] = ()) -> Sequence[FanTarget]:
    """Copy ``reference`` of ``source`` to every target; each one's ``result`` or ``error`` says how it went.

    ``tag_for(fan_target, tag)``: the copy Target for another tag of the same repository. ``platforms``: only
    those of an index (copier.resolve)."""
    fan_out = _FanOut(source, in_flight or InFlight(), tag_for, platforms)
    todo = fan_out.decide(reference, targets)
    run_jobs(fan_out.blob, list(_needs(todo).items()), workers)
    alive = [fan for fan in todo if fan.alive]
    run_jobs(fan_out.finish, alive, len(alive))  # every target's at once: a far one's round trips are not the others'
    return targets


def _needs(todo: Sequence[FanTarget]) -> Dict[str, Tuple[int, List[FanTarget]]]:
    """Every blob of the copies to make: its size and the targets whose image holds it."""
    needs: Dict[str, Tuple[int, List[FanTarget]]] = {}
    for fan in todo:
        assert fan._plan is not None  # decided
        top, children = fan._plan.top, fan._plan.children
        for manifest in [*children, top]:
            for digest, size in manifest.blobs():
                entry = needs.setdefault(digest, (size, []))
                if fan not in entry[1]:
                    entry[1].append(fan)
    return needs


class _FanOut:
    """The steps of one fan-out: decide per target, send each blob to the targets lacking it, commit."""

    def __init__(self, source: Source, in_flight: InFlight,
                 tag_for: Optional[Callable[[FanTarget, str], Target]], platforms: Sequence[str]):
        self.source = source
        self.platforms = platforms
        self.in_flight = in_flight
        self.tag_for = tag_for

    def decide(self, reference: str, targets: Sequence[FanTarget]) -> List[FanTarget]:
        """Each target's result as if copied (or its error); the targets that need a copy. The source is
        resolved once per way of treating attestations."""
        plans: Dict[str, Resolved] = {}
        for fan in targets:
            if fan.drop_attestations not in plans:
                plans[fan.drop_attestations] = resolve(self.source, reference, self.platforms,
                                                       fan.drop_attestations)
            fan._plan = plans[fan.drop_attestations]
            top, _, platforms, dropped, _ = fan._plan
            try:
                existing = fan.target.tag_digest()
            except AcrError as exc:
                fan.error = exc
                continue
            said = " (attestations dropped)" if dropped else ""
            status = "unchanged" if existing == top.digest else ("copied" if existing is None else "updated") + said
            fan.result = CopyResult(status, top.digest, platforms, source_digest=fan._plan.reduced_from)
        return [fan for fan in targets if fan.alive and fan.result is not None and fan.result.status != "unchanged"]

    def blob(self, item: Tuple[str, Tuple[int, List[FanTarget]]]) -> None:
        """One blob to every target that needs it. The registries no other copy is sending it to are ours; the
        others are waited for only after ours are done, so two copies never wait for each other."""
        digest, (size, fans) = item
        fans = [fan for fan in fans if fan.alive]
        claims = {host: self.in_flight.claim(host, digest) for host in dict.fromkeys(fan.host for fan in fans)}
        mine = [fan for fan in fans if claims[fan.host] is None]
        try:
            self._send(digest, size, mine)
        finally:
            for host in {fan.host for fan in mine}:
                self.in_flight.done(host, digest)
        later = [fan for fan in fans if claims[fan.host] is not None]
        for host in {fan.host for fan in later}:
            event = claims[host]
            while event is not None and not event.wait(0.1):
                if CANCELLED.is_set():
                    return
        self._send(digest, size, [fan for fan in later if fan.alive])

    def _send(self, digest: str, size: int, fans: List[FanTarget]) -> None:
        """Each of ``fans`` gets the blob: it has it or mounts it, else the bytes are teed to those lacking it."""
        lacking: List[FanTarget] = []
        second: List[FanTarget] = []  # another repository of a registry already in ``lacking``: mounted after
        for fan in fans:
            try:
                if not fan.target.reuse_blob(digest, size, self.source):
                    (second if any(other.host == fan.host for other in lacking) else lacking).append(fan)
            except AcrError as exc:
                fan.error = exc
        if lacking:
            _tee_with_retries(self.source, digest, size, lacking)
        if second:
            self._send(digest, size, [fan for fan in second if fan.alive])

    def finish(self, fan: FanTarget) -> None:
        """The manifests, once every blob is there (copier.commit_manifests, as a single copy commits them)."""
        assert fan._plan is not None  # decided
        top, children = fan._plan.top, fan._plan.children
        try:
            more = [self.tag_for(fan, tag) for tag in fan.tags] if self.tag_for is not None else []
            commit_manifests(children, top, [fan.target, *more])
        except AcrError as exc:
            fan.error = exc
            return
        if fan.result is not None:
            fan.result.bytes_uploaded = fan.bytes_uploaded


class _QueueStream:
    """The bytes of one blob for one target, as they come off the source (see :func:`_tee`)."""

    END = object()

    def __init__(self, size: int):
        self.size = size
        self.queue: "queue.Queue[Any]" = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.sent = 0

    def __iter__(self) -> "_QueueStream":
        return self

    def __len__(self) -> int:  # a Content-Length, as BlobStream gives (see there)
        return self.size

    def __next__(self) -> bytes:
        while True:
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                if CANCELLED.is_set():
                    raise InterruptedError("interrupted") from None
                continue
            if item is self.END:
                raise StopIteration
            if isinstance(item, BaseException):
                raise item
            self.sent += len(item)
            chunk: bytes = item
            return chunk


def _tee_with_retries(source: Source, digest: str, size: int, fans: List[FanTarget]) -> None:
    """:func:`_tee`, tried again for the targets it failed with a transient error (the source broke off, a
    registry answered 5xx or 429), by the single copy's policy (``util.retry.with_retries``: three tries in all,
    the backoff, Retry-After). Each target that still fails gets that error as its own; a target's error from
    another blob (another job's) is never cleared here."""
    todo = list(fans)
    failed: Dict[int, AcrError] = {}
    raised: List[AcrError] = []

    def attempt() -> None:
        nonlocal todo
        errors = _tee(source, digest, size, todo)
        for fan, error in zip(todo, errors):
            if error is None:
                failed.pop(id(fan), None)
            else:
                failed[id(fan)] = error
        todo = [fan for fan, error in zip(todo, errors) if error is not None and retry.is_transient(error)]
        if todo:
            raised.append(failed[id(todo[0])])
            raise raised[-1]

    try:
        retry.with_retries(attempt)
    except AcrError as exc:
        if not raised or exc is not raised[-1]:
            raise
    for fan in fans:
        if id(fan) in failed and fan.error is None:
            fan.error = failed[id(fan)]


def _tee(source: Source, digest: str, size: int, fans: List[FanTarget]) -> List[Optional[AcrError]]:
    """Read the blob once, checked on the way (BlobStream), and upload it to every one of ``fans`` at once; each
    one's failure, in order (the source's, for all of them, when the source fails), None where it arrived."""
    try:
        chunks, close = source.open_blob(digest, size)  # before any upload starts: nothing waits on a failure
    except AcrError as exc:
        return [exc for _ in fans]
    streams = [_QueueStream(size) for _ in fans]
    failures: List[Optional[BaseException]] = [None] * len(fans)

    def upload(index: int) -> None:
        try:
            fans[index].target.put_blob(digest, size, streams[index])
        except BaseException as exc:  # noqa: BLE001 - this target's own failure, reported as its result
            failures[index] = exc

    threads = [threading.Thread(target=upload, args=(i,), daemon=True, name=f"acrtasks-tee-{i}")
               for i in range(len(fans))]
    for thread in threads:
        thread.start()
    checked = BlobStream(source, digest, size, iter(chunks))
    source_error: Optional[AcrError] = None
    try:
        try:
            for chunk in checked:
                for index, stream in enumerate(streams):
                    _hand(stream, chunk, threads[index])
        except Exception:  # noqa: BLE001 - the stream remembers why, as the source's fault
            source_error = checked.source_error() if checked.error is not None else None
            if source_error is None:
                raise
        end = source_error if source_error is not None else _QueueStream.END
        for index, stream in enumerate(streams):
            _hand(stream, end, threads[index])
    finally:
        close()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
                if CANCELLED.is_set():
                    raise Interrupted("interrupted")
    errors: List[Optional[AcrError]] = []
    for fan, failure in zip(fans, failures):
        if source_error is not None:
            errors.append(source_error)
        elif failure is not None:
            failure = upload_failure(source, fan.target, digest, failure, checked)
            errors.append(failure if isinstance(failure, AcrError) else fan.target.fail(
                f"{fan.target.where}: the upload of blob {digest} failed ({failure})"))
        else:
            errors.append(None)
            fan.bytes_uploaded += size
    return errors


def _hand(stream: _QueueStream, item: Any, thread: threading.Thread) -> None:
    """Queue ``item`` for one upload, unless that upload has ended (it failed: nothing waits for it)."""
    while thread.is_alive():
        try:
            stream.queue.put(item, timeout=0.1)
            return
        except queue.Full:
            if CANCELLED.is_set():
                raise Interrupted("interrupted") from None
