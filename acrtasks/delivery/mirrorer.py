"""Carry out push-deps: mirror each dependency registry-to-registry, N at once, with a summary.

Docker Hub sources try the configured pull-through mirrors first. With
``--source engine`` (or ``auto`` when no registry has the image) the image is
pushed from the local engine instead, which mirrors only the local platform.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from ..copy.copier import copy_image
from ..copy.locations import BlobLocations
from ..copy.remote import RegistrySource, RegistryTarget, UploadSessions
from ..deps import source_hosts
from ..errors import AcrError, RegistryError, explain
from ..naming import Dependency
from ..registry.client import Clients
from ..util.console import Console, count_line, human_bytes
from ..util.jobs import run_jobs
from ..util.retry import with_retries

SOURCES = ("registry", "engine", "auto")


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

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class Mirrorer:
    def __init__(self, clients: Clients, console: Console, mirrors: Sequence[str] = (), platforms: Sequence[str] = (),
                 source: str = "auto", skip_existing: bool = True, force: bool = False, dry: bool = False,
                 engine_factory: Optional[Callable] = None, drops: Callable[[str], bool] = lambda host: False):
        self.clients = clients
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
                return run_jobs(self.mirror_one, deps, jobs, on_interrupt=self.sessions.cancel_all)
        finally:
            self.locations.save()

    def mirror_one(self, dep: Dependency) -> DepResult:
        started = time.monotonic()
        self.jobs.start(str(dep.source))
        if self.source == "engine":
            result = self._from_engine(dep)
        else:
            result = self._from_registries(dep)
        result.seconds = time.monotonic() - started
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
                copied = copy_image(source, reference, target, self.platforms, self.skip_existing, self.force,
                                    self.dry, on_bytes=lambda done, total: self.jobs.update(str(dep.source), done,
                                                                                            total),
                                    tries=target.client.tries, backoff=target.client.backoff,
                                    drop_attestations=self.drops(dep.target.host))
            except RegistryError as exc:
                failure = DepResult(dep, "failed", via=host, error=explain(exc))
                if exc.host == dep.target.host and exc.host != host:
                    return failure  # the target refused: another source would not help
                continue
            return DepResult(dep, copied.status, copied.digest, copied.platforms, copied.bytes_uploaded, via=host)
        if self.source == "auto" and self._engine_factory is not None and self._engine_has(dep):
            return self._from_engine(dep)
        return failure

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
                return DepResult(dep, "failed", via="engine",
                                 error=f"{source} is neither in a reachable registry nor in the engine")
            self.console.warn(f"{source}: pushed from the local engine, so only its platform is mirrored")
            if self.dry:
                return DepResult(dep, "would be copied", via="engine")
            engine.tag(image_id, dep.target)
            digest = with_retries(lambda: engine.push(dep.target, lambda _progress: None))
        except AcrError as exc:
            return DepResult(dep, "failed", via="engine", error=explain(exc))
        return DepResult(dep, "copied", digest, via="engine")

    def _report(self, r: DepResult) -> None:
        if r.ok:
            extra = f", {len(r.platforms)} platforms" if r.platforms else ""
            size = f", {human_bytes(r.bytes_uploaded)} uploaded" if r.bytes_uploaded else ""
            self.console.say(f"{r.status:<9} {r.dep.source} -> {r.dep.target} ({r.digest or '-'}{extra}{size}, "
                             f"{r.seconds:.1f}s)")
        else:
            self.console.say(f"failed    {r.dep.source} -> {r.dep.target}: {r.error}")


def print_summary(results: Sequence[DepResult], console: Console) -> None:
    console.say()
    rows = [(r.status, str(r.dep.source), str(r.dep.target), r.digest or "-", ",".join(r.platforms) or "-",
             human_bytes(r.bytes_uploaded), r.via) for r in results]
    console.table(("status", "source", "target", "digest", "platforms", "uploaded", "from"), rows, keep=3)
    console.say(count_line(r.status for r in results))
    for r in results:
        if not r.ok:
            console.say(f"{r.dep.source}: {r.error}")


def metadata(results: Sequence[DepResult]) -> Dict[str, dict]:
    """Under the key ``@deps`` (never a component name): source -> target, status, digest, platforms."""
    entries = {}
    for r in results:
        entry = {"target": str(r.dep.target), "status": r.status, "from": r.via}
        if r.digest:
            entry["digest"] = r.digest
        if r.platforms:
            entry["platforms"] = r.platforms
        if r.error:
            entry["error"] = r.error
        entries[str(r.dep.source)] = entry
    return {"@deps": entries}
