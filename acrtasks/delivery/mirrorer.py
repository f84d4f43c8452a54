"""Carry out push-deps: mirror each dependency registry-to-registry, N at once, with a summary.

Docker Hub sources try the configured pull-through mirrors first. With
``--source engine`` (or ``auto`` when no registry has the image) the image is
pushed from the local engine instead, which mirrors only the local platform.
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..copy.copier import copy_image
from ..copy.locations import BlobLocations
from ..copy.remote import RegistrySource, RegistryTarget, UploadSessions
from ..deps import source_hosts
from ..errors import AcrError, RegistryError, UsageError, explain
from ..naming import DOCKER_HUB, Dependency
from ..registry.client import Clients
from ..util.console import Console, count_line, human_bytes
from ..util.text import printable
from ..util.jobs import run_jobs
from ..util.retry import with_retries

SOURCES = ("registry", "engine", "auto")
#: --check's words for what a dry copy would do: the target holds the digest the copy would write, holds none,
#: or holds another.
CHECKED = {"unchanged": "present", "would be copied": "missing", "would be updated": "different"}


@dataclass
class DepResult:
    dep: Dependency
    status: str  # copied | updated | recopied | unchanged | failed, or "would be ..." under --dry
    digest: str = ""
    platforms: List[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    seconds: float = 0.0
    via: str = ""  # the registry the image came from, or "engine"
    error: str = ""
    reduced: str = ""  # "source index sha256:… reduced to linux/amd64, ...": the source's digest, when filtered
    source_digest: str = ""  # that index, when reduced; else ""
    step: str = ""  # of a failure: source (reading it), target (writing it), engine, or "not started"
    status_code: Optional[int] = None  # of a failure: the registry's HTTP answer, when it gave one
    attached: str = ""  # signatures and attestations carried beside it ([deps] signatures; supply.carry)

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "not started", "missing", "different")


class Mirrorer:
    def __init__(self, clients: Clients, console: Console, mirrors: Sequence[str] = (), platforms: Sequence[str] = (),
                 source: str = "auto", skip_existing: bool = True, force: bool = False, dry: bool = False,
                 engine_factory: Optional[Callable] = None, drops: Callable[[str], str] = lambda host: "",
                 default_platforms: Sequence[str] = (), keep_going: bool = True, check: bool = False,
                 signatures: bool = False):
        """``platforms``: --platform, for every image; else an image's own (images.txt), else
        ``default_platforms`` ([deps] platforms); none: every platform. ``keep_going`` False: after a failure,
        no further image is started (the ones under way finish)."""
        self.clients = clients
        self.keep_going = keep_going
        self.check = check  # --check: read only; each image present, missing or different at the target
        self.signatures = signatures  # [deps] signatures: an image's cosign tags and referrers go along
        self._finder = None  # supply.carry.Finder: each source repository's tag list, read once
        if signatures:
            from ..supply.carry import Finder

            self._finder = Finder()
        self.failed = threading.Event()
        self.results: List[DepResult] = []
        self.default_platforms = list(default_platforms)
        self.drops = drops  # target host -> leave attestations out (config.drops_attestations)
        self.console = console
        self.mirrors = list(mirrors)
        self.platforms = list(platforms)
        self.source = source
        self.skip_existing = skip_existing
        self.force = force
        self.dry = dry
        self._engine_factory = engine_factory
        self._engine = None
        self._engine_lock = threading.Lock()
        self.sessions = UploadSessions()  # cancelled at the registries on Ctrl-C
        self.locations = BlobLocations.default()  # blobs seen in other repositories: mounted, not uploaded
        self.jobs = console.progress("B", "copy", quiet=True)  # the real one is set by run()

    def engine(self):
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    def preflight(self, deps: Sequence[Dependency]) -> None:
        """Before any copy: every target registry answers and accepts our credentials."""
        for host in dict.fromkeys(dep.target.host for dep in deps):
            try:
                self.clients.get(host).check_login()
            except RegistryError as exc:
                raise AcrError(f"nothing copied: target {explain(exc)}") from None
        if self.source == "engine":
            self.engine()

    def run(self, deps: Sequence[Dependency], jobs: int) -> List[DepResult]:
        try:
            with self.console.progress("B", "copy", quiet=self.dry) as self.jobs:
                self.results = run_jobs(self.mirror_one, deps, jobs, on_interrupt=self.sessions.cancel_all)
            for line in self.pull_notes():
                self.console.say(line)
            return self.results
        finally:
            self.locations.save()

    def mirror_one(self, dep: Dependency) -> DepResult:
        if self.failed.is_set() and not self.keep_going:
            result = DepResult(dep, "not started", step="not started",
                               error="not started: an earlier image failed (--keep-going tries every one)")
            self._report(result)
            return result
        started = time.monotonic()
        self.jobs.start(str(dep.source))
        if self.source == "engine":
            result = self._from_engine(dep)
        else:
            result = self._from_registries(dep)
        result.seconds = time.monotonic() - started
        if not result.ok:
            self.failed.set()
        self.jobs.end(str(dep.source), None)  # the report below is its end line
        self._report(result)
        return result

    def _from_registries(self, dep: Dependency) -> DepResult:
        reference = dep.source.reference
        failure = None
        target = RegistryTarget(self.clients.get(dep.target.host), dep.target.repository, dep.target.tag,
                                self.sessions, self.locations)
        for host in source_hosts(dep.source, self.mirrors):  # the first that works wins
            source = RegistrySource(self.clients.get(host), dep.source.repository, self.locations)
            try:
                copied = copy_image(source, reference, target, self.platforms_of(dep), self.skip_existing, self.force,
                                    self.dry, on_bytes=lambda done, total: self.jobs.update(str(dep.source), done,
                                                                                            total),
                                    tries=target.client.tries, backoff=target.client.backoff,
                                    drop_attestations=self.drops(dep.target.host))
            except RegistryError as exc:
                at_target = exc.host == dep.target.host and exc.host != host
                failure = DepResult(dep, "failed", via=host, error=explain(exc),
                                    step="target" if at_target else "source", status_code=exc.status)
                if at_target:
                    return failure  # the target refused: another source would not help
                continue
            status = CHECKED.get(copied.status, copied.status) if self.check else copied.status
            attached = ""
            if self.signatures and not (self.check or self.dry or copied.source_digest):  # reduced: theirs no longer
                from ..supply.carry import carry

                carried = carry(source, copied.digest, target.client, target.repo, self.sessions, self.locations,
                                self._finder)
                attached = carried.describe()
            return DepResult(dep, status, copied.digest, copied.image_platforms, copied.bytes_uploaded, via=host,
                             reduced=copied.reduced, source_digest=copied.source_digest, attached=attached)
        if self.source == "auto" and self._engine_factory is not None and self._engine_has(dep):
            return self._from_engine(dep)
        return failure

    def pull_notes(self) -> List[str]:
        """Per source registry that states a pull limit (Docker Hub always counts): pulls anonymous or as whom,
        and what is left of the window."""
        notes = []
        for host in dict.fromkeys(r.via for r in self.results if r.via and r.via != "engine"):
            client = self.clients.get(host)
            seen = client.pulls.seen if client.pulls is not None else None
            if seen is None and host != DOCKER_HUB:
                continue
            who = "anonymous" if client.credentials is None else f"as {printable(client.credentials.username)}"
            left = f"; {seen.remaining} of {seen.limit} left in the window" if seen is not None else ""
            hint = " (inv login --registry docker.io raises the limit)" if who == "anonymous" else ""
            notes.append(f"pulls from {host}: {who}{left}{hint if host == DOCKER_HUB else ''}")
        return notes

    def platforms_of(self, dep: Dependency) -> List[str]:
        return self.platforms or list(dep.platforms) or self.default_platforms

    def _engine_has(self, dep: Dependency) -> bool:
        try:
            return self.engine().image_id(dep.source.with_tag(dep.source.tag)) is not None
        except AcrError:
            return False

    def _from_engine(self, dep: Dependency) -> DepResult:
        source = dep.source.with_tag(dep.source.tag)  # the engine knows it by name:tag
        try:
            engine = self.engine()
            image_id = engine.image_id(source)
            if image_id is None:
                return DepResult(dep, "failed", via="engine", step="engine",
                                 error=f"{source} is neither in a reachable registry nor in the engine")
            self.console.warn(f"{source}: pushed from the local engine, so only its platform is mirrored")
            if self.dry:
                return DepResult(dep, "would be copied", via="engine")
            engine.tag(image_id, dep.target)
            digest = with_retries(lambda: engine.push(dep.target, lambda _progress: None))
        except AcrError as exc:
            return DepResult(dep, "failed", via="engine", error=explain(exc), step="engine")
        return DepResult(dep, "copied", digest, via="engine")

    def _report(self, r: DepResult) -> None:
        if r.ok:
            extra = f", {len(r.platforms)} platforms" if r.platforms else ""
            size = f", {human_bytes(r.bytes_uploaded)} uploaded" if r.bytes_uploaded else ""
            reduced = f"; {r.reduced}" if r.reduced else ""
            attached = f"; {r.attached}" if r.attached else ""
            self.console.say(f"{r.status:<9} {r.dep.source} -> {r.dep.target} ({r.digest or '-'}{extra}{size}, "
                             f"{r.seconds:.1f}s{reduced}{attached})")
        elif r.status == "failed":
            self.console.say(f"failed    {r.dep.source} -> {r.dep.target}: {r.error}")


def print_summary(results: Sequence[DepResult], console: Console) -> None:
    console.say()
    rows = [(r.status, str(r.dep.source), str(r.dep.target), r.digest or "-", ",".join(r.platforms) or "-",
             human_bytes(r.bytes_uploaded), r.via) for r in results]
    console.table(("status", "source", "target", "digest", "platforms", "uploaded", "from"), rows, keep=3)
    console.say(count_line(r.status for r in results))
    for r in results:
        if r.reduced:
            console.say(f"{r.dep.source}: {r.reduced}: {r.digest}")
    for r in results:
        if r.status == "failed":
            console.say(f"{r.dep.source}: {r.error}")
    skipped = sum(1 for r in results if r.status == "not started")
    if skipped:
        console.say(f"{skipped} image(s) not started after the first failure: --keep-going tries every one")


def metadata(results: Sequence[DepResult]) -> Dict[str, dict]:
    """Under the key ``@deps`` (never a component name): source -> target, status, digest, platforms."""
    entries = {}
    for r in results:
        entry = {"target": str(r.dep.target), "status": r.status, "from": r.via}
        if r.digest:
            entry["digest"] = r.digest
        if r.platforms:
            entry["platforms"] = r.platforms
        if r.source_digest:
            entry["source_digest"] = r.source_digest
        if r.error:
            entry["error"] = r.error
        entries[str(r.dep.source)] = entry
    return {"@deps": entries}


FAILURES_SCHEMA = "acrtasks.push-deps.failures.v1"


def failures(results: Sequence[DepResult]) -> Dict[str, Any]:
    """The failures file: each image that failed or was not started (``image`` is what ``--dep`` and
    ``--only-failed FILE`` take), the step, and the registry's answer."""
    return {"schema": FAILURES_SCHEMA, "failed": [
        {"image": str(r.dep.source), "target": str(r.dep.target), "step": r.step,
         "status": r.status_code, "error": r.error, "platforms": list(r.dep.platforms)}
        for r in results if not r.ok]}


def is_failures_file(path: Path) -> bool:
    """Whether ``path`` holds a failures file of ours (one we may write over), not something else."""
    try:
        read_failures(path)
    except UsageError:
        return False
    return True


def read_failures(path: Path) -> List[str]:
    """The images a failures file names (``--only-failed``), each checked as a dependency entry."""
    from ..util import inputs

    text = inputs.read_text(path, "--only-failed", limit=inputs.MAX_FILE_BYTES) or ""
    try:
        body = inputs.parse_json(text)
    except ValueError as exc:
        raise UsageError(f"--only-failed {path}: not JSON ({exc})") from None
    entries = body.get("failed") if isinstance(body, dict) and body.get("schema") == FAILURES_SCHEMA else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("image"), str)
                                                for e in entries):
        raise UsageError(f"--only-failed {path}: not a push-deps failures file ({FAILURES_SCHEMA})")
    return [entry["image"] for entry in entries]
