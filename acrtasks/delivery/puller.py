"""``pull``: released images back into the engine under their local names.

Compose files written for local names (``ai-infra-backend:V``,
``postgres:15-alpine``) then run unchanged against a registry's images.
Every ref is checked first (one HEAD request each); only when all exist
does the first pull start.
"""

import time
from dataclasses import dataclass
from typing import List, Sequence

from ..config import Settings
from ..copy.remote import RegistrySource
from ..errors import AcrError, RegistryPreflightError, RegistryError, UsageError, explain
from ..naming import ImageRef
from ..registry.client import Clients
from ..util.console import Console, count_line
from ..release.images import release_of


@dataclass
class PullStep:
    kind: str  # component | dependency
    ref: ImageRef  # in the registry
    local: ImageRef  # the name it gets in the engine
    digest: str = ""
    status: str = ""
    error: str = ""


def read_record(settings: Settings, clients: Clients):
    """The release record (release.record.Record) of the release to pull, None when it has none."""
    from ..release import record

    ref = record.record_ref(settings.naming, settings.version)
    if ref is None:
        raise UsageError("nothing to pull from: pass --registry host[/namespace], set ACRTASKS_REGISTRY or "
                         "[registry] url")
    try:
        return record.read(clients, ref)
    except RegistryError as exc:
        raise RegistryPreflightError(f"nothing pulled: {explain(exc)}") from None


def plan_pulls(settings: Settings, components: Sequence[str], with_deps: bool, found=None) -> List[PullStep]:
    """What to pull: the components the release record holds (``found``; narrowed by ``components``), else
    build.toml's; with ``with_deps``, the dependencies from where push-deps put them."""
    from ..release.record import components_of

    release = release_of(settings)
    chosen = ([release.component(name) for name in components_of(found, components)] if found is not None
              else release.selected(components))
    steps = [PullStep("component", images.ref, images.local) for images in chosen]
    if with_deps:
        release.require_deps_target()
        for dep in release.dependencies:
            steps.append(PullStep("dependency", dep.target, dep.source.with_tag(dep.source.tag)))
    return steps


def describe(steps: Sequence[PullStep]) -> List[str]:
    return [f"pull {len(steps)} image(s):", *(f"  pull {s.ref}, tag {s.local}" for s in steps)]


def preflight(steps: Sequence[PullStep], clients: Clients, found=None) -> None:
    """Every ref must exist before the first pull: the release record (``found``) says so for the whole release,
    else one HEAD request each."""
    missing = []
    for step in steps:
        step.digest = (found.digest_of(step.ref) if found else None) or ""
        if step.digest:
            continue
        try:
            step.digest = RegistrySource(clients.get(step.ref.host), step.ref.repository).digest(step.ref.tag) or ""
        except RegistryError as exc:
            raise RegistryPreflightError(f"nothing pulled: {explain(exc)}") from None
        if not step.digest:
            missing.append(str(step.ref))
    if missing:
        raise RegistryPreflightError(f"nothing pulled: not in the registry: {', '.join(missing)} (push it first, or check "
                             "--registry and --version)")


def run_pulls(engine, steps: Sequence[PullStep], console: Console) -> List[PullStep]:
    """Each image pulled by the digest the preflight found (what the record or the registry named: a tag
    moved since is not pulled instead), then tagged with its registry ref and its local name."""
    for step in steps:
        started = time.monotonic()
        try:
            image_id = engine.pull(ImageRef(step.ref.host, step.ref.repository, None, step.digest)
                                   if step.digest else step.ref)
            engine.tag(image_id, step.ref)
            engine.tag(image_id, step.local)
            step.status = "pulled"
        except AcrError as exc:
            step.status, step.error = "failed", str(exc)
            console.say(f"failed    {step.ref}: {exc}")
            continue
        console.say(f"pulled    {step.ref} as {step.local} ({step.digest}, {time.monotonic() - started:.1f}s)")
    console.say(count_line(s.status for s in steps))
    return list(steps)
