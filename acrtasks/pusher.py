"""Carry out the push part of a plan: preflight, push with retries, progress, a summary."""

import time
from dataclasses import dataclass
from typing import Dict, List, Sequence

from .console import Console, JobProgress
from .engine import Engine, PushProgress
from .errors import PushFailed
from .retry import TRIES, backoff_seconds, with_retries
from .errors import Interrupted, PreflightError, login_hint
from .naming import ImageRef
from .plan import PushStep

@dataclass
class PushResult:
    component: str
    ref: ImageRef
    status: str  # pushed | failed | skipped
    digest: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "pushed"


def preflight(engine: Engine, steps: Sequence[PushStep]) -> Dict[str, str]:
    """Every local image exists, or nothing is pushed: return local ref -> image id."""
    found, missing = {}, []
    for step in steps:
        image_id = engine.image_id(step.local_ref)
        if image_id is None:
            missing.append(step)
        else:
            found[step.local_ref] = image_id
    if missing:
        names = ", ".join(str(step.local_ref) for step in missing)
        components = " ".join(f"--component {step.component}" for step in missing)
        raise PreflightError(
            f"nothing pushed: {len(missing)} image(s) not in the engine: {names}; "
            f"build them first, e.g. `inv build push {components}` with the same --version/--registry"
        )
    return found


def _explain(exc: PushFailed, ref: ImageRef) -> str:
    host = ref.host
    if exc.kind == "auth":
        return f"{host} refused the push ({exc}); {login_hint(host, str(exc))}"
    if exc.kind == "immutable":
        return f"{ref}: the registry refuses to overwrite an existing immutable tag ({exc}); push a new version"
    if exc.kind == "transient":
        return f"{host} unreachable after {TRIES} tries ({exc})"
    return str(exc)


def run_pushes(engine: Engine, steps: Sequence[PushStep], image_ids: Dict[str, str],
               console: Console) -> List[PushResult]:
    """Push every ref; after an auth or connection failure the same registry's other refs are skipped."""
    backoff = backoff_seconds()  # read once, before the first push: a bad value stops nothing half-done
    results: List[PushResult] = []
    dead_hosts: Dict[str, str] = {}
    total = sum(len(step.refs) for step in steps)
    try:
        with console.progress("B", "push") as jobs:
            for step in steps:
                for ref in step.refs:
                    host = ref.host
                    if host in dead_hosts:
                        results.append(PushResult(step.component, ref, "skipped", error=dead_hosts[host]))
                        continue
                    engine.tag(image_ids[step.local_ref], ref)
                    results.append(_push_one(engine, step.component, ref, console, jobs, dead_hosts, backoff))
    except KeyboardInterrupt:  # the engine stops the push when our connection to it closes
        raise Interrupted(f"{len(results)} of {total} push(es) finished before Ctrl-C; the rest was abandoned",
                          results) from None
    return results


def _push_one(engine: Engine, component: str, ref: ImageRef, console: Console, jobs: JobProgress,
              dead_hosts: Dict[str, str], backoff: float) -> PushResult:
    started = time.monotonic()
    name = str(ref)
    jobs.start(name)

    def on_progress(progress: PushProgress) -> None:
        jobs.update(name, progress.current, progress.total)

    def on_retry(attempt: int, exc: PushFailed, delay: float) -> None:
        console.warn(f"push {ref}: try {attempt}/{TRIES} failed ({exc}); retrying in {delay:g}s")

    try:
        digest = with_retries(lambda: engine.push(ref, on_progress), TRIES, backoff, on_retry)
    except PushFailed as exc:
        message = _explain(exc, ref)
        if exc.kind in ("auth", "transient"):
            dead_hosts[ref.host] = f"skipped after: {message}"
        jobs.end(name, "failed")
        return PushResult(component, ref, "failed", error=message, seconds=time.monotonic() - started)
    jobs.end(name, f"pushed {digest}")
    return PushResult(component, ref, "pushed", digest=digest, seconds=time.monotonic() - started)


def print_summary(results: Sequence[PushResult], console: Console) -> None:
    console.say()
    rows = [(r.ref, r.digest or "-", r.status, f"{r.seconds:.1f}") for r in results]
    console.table(("ref", "digest", "status", "seconds"), rows, keep=1)
    for result in results:
        if result.status == "failed":
            console.say(f"{result.ref}: {result.error}")


def metadata(results: Sequence[PushResult]) -> Dict[str, dict]:
    updates: Dict[str, dict] = {}
    for r in results:
        entry = {"status": r.status}
        if r.digest:
            entry["digest"] = r.digest
        if r.error:
            entry["error"] = r.error
        updates.setdefault(r.component, {"push": {}})["push"][str(r.ref)] = entry
    return updates
