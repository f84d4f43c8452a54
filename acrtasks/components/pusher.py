"""Carry out the push part of a plan: preflight, up to N pushes at once with retries, progress, a summary.

The first push to each registry is a probe: the others to that registry
start once it is uploading (the registry took our credentials), or are
skipped when it was refused. And pushes run in two waves (see ``waves``): a
ref whose image shares big layers with an earlier ref bound for another
repository of the same registry waits until that one is pushed, then mounts
them instead of uploading them again.
"""

import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..util.console import Console, JobProgress
from ..engine.client import Engine, PushProgress
from ..errors import (ARTIFACT_REFUSED, Interrupted, Kind, PreflightError, PushFailed, RegistryError, explain,
                      login_hint)
from ..util.jobs import CANCELLED, run_jobs
from ..naming import ImageRef, short_digest
from .plan import PushStep
from ..release.record import ComponentEntry
from ..util.retry import TRIES, backoff_seconds, with_retries

DEFAULT_JOBS = 4
#: Shared layers smaller than this are uploaded by each push at once rather than waited for: below it, sending
#: a layer twice costs less than waiting for the first push (measured: docs/testing.md, "Push waves").
SHARED_WAIT_BYTES = 4 * 1024 * 1024


@dataclass
class PushResult:
    component: str
    ref: ImageRef
    status: str  # pushed | relabelled (unchanged: the earlier image with new labels) | failed | skipped
    digest: str = ""
    error: str = ""
    seconds: float = 0.0
    platforms: Tuple[str, ...] = ()  # relabelled: what the registry holds
    since: str = ""  # relabelled: the release it is unchanged since

    @property
    def ok(self) -> bool:
        return self.status in ("pushed", "relabelled")


def local_images(engine: Engine, steps: Sequence[PushStep]) -> Tuple[Dict[ImageRef, str], List[PushStep]]:
    """local ref -> image id of the steps whose image the engine has; and the steps whose image it has not."""
    found, missing = {}, []
    for step in steps:
        image_id = engine.image_id(step.local_ref)
        if image_id is None:
            missing.append(step)
        else:
            found[step.local_ref] = image_id
    return found, missing


def require_local(missing: Sequence[PushStep]) -> None:
    """Nothing is pushed while an image to push is neither in the engine nor unchanged since a release."""
    if missing:
        names = ", ".join(str(step.local_ref) for step in missing)
        components = " ".join(f"--component {step.component}" for step in missing)
        raise PreflightError(
            f"nothing pushed: {len(missing)} image(s) not in the engine: {names}; "
            f"build them first, e.g. `inv build push {components}` with the same --version/--registry"
        )


History = Sequence[Tuple[str, int]]  # (what made a step, bytes it added), oldest first: Engine.history


def shared_bytes(one: History, other: History) -> int:
    """The bytes of the layers two images share: their histories' common start (a base is copied verbatim)."""
    total = 0
    for mine, theirs in zip(one, other):
        if mine != theirs:
            break
        total += mine[1]
    return total


def needs_history(items: Sequence[Tuple[PushStep, ImageRef]], shared_within_repository: bool = True) -> bool:
    """Whether a push can wait for another: some registry gets refs in two repositories (or two refs at all,
    when the engine does not share uploads within one repository: see :func:`waves`)."""
    repositories: Dict[str, list] = {}
    for _, ref in items:
        repositories.setdefault(ref.host, []).append(ref.repository)
    if shared_within_repository:
        return any(len(set(names)) > 1 for names in repositories.values())
    return any(len(names) > 1 for names in repositories.values())


def waves(items: Sequence[Tuple[PushStep, ImageRef]], image_ids: Dict[str, str], histories: Dict[str, History],
          threshold: int = SHARED_WAIT_BYTES, shared_within_repository: bool = True
          ) -> Tuple[List[Tuple[PushStep, ImageRef]], List[Tuple[PushStep, ImageRef]]]:
    """Split the refs into what is pushed first and what waits, keeping the plan's order within each.

    A ref waits when its image shares ``threshold`` bytes or more of layers
    with a first-wave ref bound for another repository of the same registry:
    pushed together, both would upload those layers. The classic image store
    shares an upload within one repository, so there ACR's flat layout never
    waits; the containerd store (Docker 26) shares none
    (``shared_within_repository=False``: refs of one repository wait too).
    Smaller shared layers are cheaper to send twice than to wait for.
    """
    first: List[Tuple[PushStep, ImageRef]] = []
    later: List[Tuple[PushStep, ImageRef]] = []
    for step, ref in items:
        image = image_ids[step.local_ref]
        waits = any(
            ref.host == leader.host and (ref.repository != leader.repository or not shared_within_repository)
            and shared_bytes(histories.get(image, ()), histories.get(image_ids[leader_step.local_ref], ())) >= threshold
            for leader_step, leader in first)
        (later if waits else first).append((step, ref))
    return first, later


def _explain(exc: PushFailed, ref: ImageRef) -> str:
    host = ref.host
    if ARTIFACT_REFUSED in str(exc).lower():
        return f"{host}: {explain(exc)}"  # the fix is errors.explain's, for pushes and copies alike
    if exc.kind == "auth":
        return f"{host} refused the push ({exc}); {login_hint(host, str(exc))}"
    if exc.kind == "immutable":
        return f"{ref}: the registry refuses to overwrite an existing immutable tag ({exc}); push a new version"
    if exc.kind == "transient":
        return f"{host} unreachable after {TRIES} tries ({exc})"
    return str(exc)


#: What the registry holds at a ref (its manifest digest, None when it has no such tag): see
#: :func:`acrtasks.copy.remote.held_by`.
Held = Callable[[ImageRef], Optional[str]]


def check_held(held: Held, ref: ImageRef, digest: str, who: str = "the engine") -> None:
    """The engine's word for a push is checked against the registry: its digest is what ``ref`` now points at.

    The engine reports the digest in an ``aux`` record or, on the containerd image store, only in a status
    line; either way it is the engine's claim, and the metadata file and set-images pin what it says."""
    try:
        found = held(ref)
    except RegistryError as exc:
        raise PushFailed(f"pushed, but reading {ref} back from the registry failed: {exc}", Kind.OTHER,
                         ref.host) from None
    if found != digest:
        raise PushFailed(f"{who} reported {digest} but the registry holds {found or 'no such tag'} "
                         f"at {ref}", Kind.INTEGRITY, ref.host)


def run_pushes(engine: Engine, steps: Sequence[PushStep], image_ids: Dict[str, str],
               console: Console, jobs: int = DEFAULT_JOBS, held: Optional[Held] = None) -> List[PushResult]:
    """Push every ref, up to ``jobs`` at once; after an auth or connection failure the same registry's refs
    not yet started are skipped. Ctrl-C raises Interrupted with the pushes that finished (the engine stops a
    push when our connection to it closes). ``held`` reads each pushed ref back from the registry."""
    backoff = backoff_seconds()  # read once, before the first push: a bad value stops nothing half-done
    dead_hosts: Dict[str, str] = {}
    lock = threading.Lock()
    items: List[Tuple[PushStep, ImageRef]] = [(step, ref) for step in steps for ref in step.refs]
    shared = not engine.containerd_store  # does the engine share one upload between pushes to one repository?
    histories = {image: engine.history(image) for image in set(image_ids.values())} \
        if needs_history(items, shared) else {}
    first_wave, second_wave = waves(items, image_ids, histories, shared_within_repository=shared)
    # Each registry's first push probes it: N pushes refused at once would be N failed logins where one is
    # enough to skip the rest. The others wait only until it uploads a byte (or mounts a layer).
    probes = {ref.host: (step, ref) for step, ref in reversed(first_wave)}
    opened = {host: threading.Event() for host in probes}
    for step, ref in items:  # every tag first: cheap, and a push never waits for another's tag
        engine.tag(image_ids[step.local_ref], ref)

    def push(item: Tuple[PushStep, ImageRef]) -> PushResult:
        step, ref = item
        probe = probes[ref.host] == item
        while not probe and not opened[ref.host].wait(0.1):
            if CANCELLED.is_set():
                return PushResult(step.component, ref, "skipped", error="Ctrl-C")
        with lock:
            dead = dead_hosts.get(ref.host)
        if dead:
            return PushResult(step.component, ref, "skipped", error=dead)
        try:
            result, dead = _push_one(engine, step.component, ref, console, progress, backoff,
                                     opened[ref.host].set if probe else None, held)
            if dead:
                with lock:
                    dead_hosts.setdefault(ref.host, dead)
            return result
        finally:
            if probe:
                opened[ref.host].set()  # pushed, failed or skipped the rest: nobody waits any longer

    with console.progress("B", "push") as progress:
        first = run_jobs(push, first_wave, jobs)
        try:
            return first + run_jobs(push, second_wave, jobs)
        except Interrupted as exc:
            raise Interrupted(str(exc), [*first, *exc.finished]) from None


def _push_one(engine: Engine, component: str, ref: ImageRef, console: Console, jobs: JobProgress,
              backoff: float, on_accepted: Optional[Callable[[], None]] = None,
              held: Optional[Held] = None) -> Tuple[PushResult, str]:
    """One push with retries; and, after an auth or connection failure, why its registry's others are skipped.
    ``on_accepted`` is called once the registry takes an upload or a mount from it."""
    started = time.monotonic()
    name = str(ref)
    jobs.start(name)

    def on_progress(progress: PushProgress) -> None:
        jobs.update(name, progress.current, progress.total)
        if progress.accepted and on_accepted is not None:
            on_accepted()

    def on_retry(attempt: int, exc: PushFailed, delay: float) -> None:
        console.warn(f"push {ref}: try {attempt}/{TRIES} failed ({exc}); retrying in {delay:g}s")

    try:
        digest = with_retries(lambda: engine.push(ref, on_progress), TRIES, backoff, on_retry)
        if held is not None:
            check_held(held, ref, digest)
    except PushFailed as exc:
        message = _explain(exc, ref)
        jobs.end(name, "failed")
        dead = f"skipped after: {message}" if exc.kind in ("auth", "transient") else ""
        return PushResult(component, ref, "failed", error=message, seconds=time.monotonic() - started), dead
    jobs.end(name, f"pushed {digest}")
    return PushResult(component, ref, "pushed", digest=digest, seconds=time.monotonic() - started), ""


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


def run_relabels(clients, steps: Sequence[PushStep], decided: Dict, labels: Dict[str, str],
                 console: Console) -> List[PushResult]:
    """Unchanged components (components.changes): each one's refs put on its earlier image, relabelled with this
    version's labels (components.relabel): a config and a manifest written per platform, no layer uploaded."""
    from ..errors import AcrError
    from .plan import LABEL
    from .relabel import push_relabelled

    results = []
    for step in steps:
        decision = decided[step.component]
        started = time.monotonic()
        try:
            digest, platforms = push_relabelled(clients, decision.image, step.refs,
                                                {**labels, LABEL: decision.inputs.digest})
        except AcrError as exc:
            message = f"relabelling {decision.image}: {exc}"
            console.say(f"failed      {step.component}: {message}")
            results += [PushResult(step.component, ref, "failed", error=message) for ref in step.refs]
            continue
        seconds = time.monotonic() - started
        console.say(f"relabelled  {step.component}: unchanged since {decision.since}, no layer uploaded "
                    f"({seconds:.1f}s)")
        results += [PushResult(step.component, ref, "relabelled", digest, seconds=seconds,
                               platforms=tuple(platforms), since=decision.since) for ref in step.refs]
    return results


def refuse_overwrites(clients, settings, engine: Engine, steps: Sequence[PushStep], image_ids: Dict[ImageRef, str],
                      ) -> None:
    """Under a version rule that names many builds alike (``version_from = "branch-or-tag"``), a ref the registry
    holds for an image built from other inputs is not overwritten: the release record's input digest (else the
    ref's mere presence) against the local image's label. One line naming the first; ``--force`` pushes anyway."""
    from ..copy.remote import RegistrySource
    from ..release import record as records
    from ..errors import RegistryPreflightError
    from .plan import LABEL

    ref = records.record_ref(settings.naming, settings.version)
    found = records.read(clients, ref) if ref is not None else None
    problems = []
    for step in steps:
        mine = engine.facts(image_ids[step.local_ref])[0].get(LABEL, "")
        entry = found.components.get(step.component) if found is not None else None
        theirs = entry.input_digest if entry else ""
        if theirs and theirs != mine:
            problems.append(f"{step.refs[0]} holds a build of other inputs ({short_digest(theirs)}, this one "
                            f"{short_digest(mine) or 'unlabelled'})")
        elif not entry:  # digest(): None when the registry has no such tag
            ref = step.refs[0]
            if RegistrySource(clients.get(ref.host), ref.repository).digest(ref.tag):
                problems.append(f"{ref} exists and no release record says what it was built from")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RegistryPreflightError(f"nothing pushed: version {settings.version} (from [build] version_from = "
                                     f"\"branch-or-tag\") is taken: {problems[0]}{more}; pass --version for a new "
                                     "one, or --force to overwrite")


def pushed_components(settings, engine: Engine, steps: Sequence[PushStep], results: Sequence[PushResult],
                      image_ids: Dict[ImageRef, str], decision_of: Callable) -> Dict[str, ComponentEntry]:
    """The release record's entry of every component pushed whole. A pushed image's input digest is its own
    label (what it was built from), with the parts this chain's build worked out when they agree."""
    from .plan import LABEL

    entries = {}
    for step in steps:
        mine = [r for r in results if r.component == step.component]
        if not mine or not all(r.ok for r in mine):
            continue
        decision = decision_of(step.component)
        digests = {r.ref: r.digest for r in mine}
        relabelled = [r for r in mine if r.status == "relabelled"]
        if relabelled:
            entries[step.component] = ComponentEntry.made(
                settings, step.component, digests, relabelled[0].platforms, decision.inputs.digest,
                decision.inputs.parts, relabelled[0].since)
            continue
        labels, platform = engine.facts(image_ids[step.local_ref])
        digest = labels.get(LABEL, "")
        parts = decision.inputs.parts if decision is not None and decision.inputs.digest == digest else {}
        entries[step.component] = ComponentEntry.made(settings, step.component, digests, [platform], digest, parts)
    return entries
