"""Carry out the build part of a plan: up to N builds at once, live logs, a summary.

The backend (classic, buildkit, buildx: :mod:`acrtasks.backends`) turns each
step into an image; everything here is the same whichever one it is.
"""

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..util.console import Console
from ..errors import BuildFailed, PushFailed
from ..naming import ImageRef, short_digest
from ..util.jobs import run_jobs
from ..util.retry import TRIES, with_retries
from .plan import LABEL
from .plan import BuildStep
from .pusher import check_held


@dataclass
class BuildResult:
    step: BuildStep
    status: str = "pending"  # ok | failed
    image_id: Optional[str] = None
    digest: str = ""  # when the backend pushed the result itself (several platforms)
    pushed: List[ImageRef] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    failed_step: str = ""
    tail: List[str] = field(default_factory=list)
    since: str = ""  # unchanged: the release (or local version) whose image it is, relabelled
    platforms: List[str] = field(default_factory=list)  # what a build that pushed (or a relabel) holds

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "unchanged")

    def metadata(self) -> dict:
        fields = {
            "refs": [str(ref) for ref in self.step.refs],
            "build": {"status": self.status, "seconds": round(self.seconds, 2),
                      **({"since": self.since} if self.since else {})},
        }
        if LABEL in self.step.labels:
            fields["input.digest"] = self.step.labels[LABEL]
        if self.image_id:
            fields["image.id"] = self.image_id
        if self.digest:
            fields["containerimage.digest"] = self.digest
        if self.pushed:
            fields["push"] = {str(ref): {"status": "pushed", "digest": self.digest} for ref in self.pushed}
        if self.error:
            fields["build"]["error"] = self.error
        return fields


PROGRESS_MODES = ("auto", "plain", "quiet")


def run_builds(backend, engine_factory, steps: Sequence[BuildStep], parallel: int, no_cache: bool,
               console: Console, progress: str = "auto", held=None) -> List[BuildResult]:
    """Build every step; a failure does not stop the builds already running or queued.

    ``progress`` is like bake's: ``plain`` streams every log line prefixed with
    its component; ``quiet`` shows nothing until the summary; ``auto`` shows a
    live line per build on a terminal and is ``plain`` elsewhere. ``held``
    (copy.remote.held_by) reads back each ref a build pushed itself: its digest must
    be the one buildx reported, as for ``push``.
    """
    width = max(len(step.component) for step in steps)
    show_logs = progress == "plain" or (progress == "auto" and not console.is_tty)

    def build_one(step: BuildStep) -> BuildResult:
        result = BuildResult(step)
        started = time.monotonic()

        def on_line(line: str) -> None:
            if show_logs:
                console.prefixed(step.component, width, line)

        jobs.start(step.component)
        try:
            def on_retry(attempt: int, exc, delay: float) -> None:
                console.warn(f"build {step.component}: try {attempt}/{TRIES} failed on a registry ({exc}); "
                             f"retrying in {delay:g}s")

            # A registry's 5xx during the build's pull or push (BuildFailed's kind) is tried again, as a push is.
            output = with_retries(lambda: backend.build(step, no_cache, on_line,
                                                        lambda done, total: jobs.update(step.component, done,
                                                                                        total)),
                                  on_retry=on_retry)
            result.image_id, result.digest, result.pushed = output.image_id, output.digest, output.pushed
            if output.pushed and held is not None:
                for ref in output.pushed:
                    check_held(held, ref, output.digest, who="the build")
            if output.image_id and not output.tagged:
                engine = engine_factory()
                for ref in step.refs[1:]:
                    engine.tag(output.image_id, ref)
            result.status = "ok"
        except BuildFailed as exc:
            result.status, result.error, result.failed_step, result.tail = "failed", str(exc), exc.step, exc.tail
        except PushFailed as exc:  # the registry does not hold what the build said it pushed
            result.status, result.error, result.pushed = "failed", str(exc), []
        result.seconds = time.monotonic() - started
        jobs.end(step.component, result.status)
        return result

    with console.progress("steps", "build", quiet=progress == "quiet") as jobs:
        return run_jobs(build_one, steps, parallel, on_interrupt=backend.cancel_all)


class LocalRelabels:
    """Without a registry, an unchanged component is relabelled in the engine: a build of ``FROM <its earlier
    image>`` with the new labels (no RUN, no layer; seconds, whatever the component costs to build). The
    one-line Dockerfiles live in a scratch folder that exists while the builds run."""

    def __enter__(self) -> "LocalRelabels":
        self._scratch = tempfile.TemporaryDirectory(prefix="acrtasks-relabel-")
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.cleanup()

    def step(self, step: BuildStep, image: ImageRef) -> BuildStep:
        context = Path(self._scratch.name) / step.component
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {image}\n")
        return dataclasses.replace(step, context=context, dockerfile="Dockerfile", target="", build_args={},
                                   secrets=(), platforms=(), cache=None)  # attestations as asked


def relabel_in_registry(clients, step: BuildStep, decision) -> BuildResult:
    """An unchanged component whose builder pushes: its registry refs put on the earlier image, relabelled."""
    from ..errors import AcrError
    from .relabel import push_relabelled

    started = time.monotonic()
    refs = [ref for ref in step.refs if ref.host]
    result = BuildResult(step, since=decision.since)
    try:
        result.digest, result.platforms = push_relabelled(clients, decision.image, refs, step.labels)
        result.status, result.pushed = "unchanged", refs
    except AcrError as exc:
        result.status, result.error = "failed", f"relabelling {decision.image}: {exc}"
    result.seconds = time.monotonic() - started
    return result


def run_changed(backend, engine_factory, steps: Sequence[BuildStep], decided: Dict, parallel: int, no_cache: bool,
                console: Console, progress: str, held, pushes: Callable[[BuildStep], bool],
                relabel: Optional[Callable], local: LocalRelabels) -> List[BuildResult]:
    """Build what changed (``decided``: component -> components.changes.Decision); of the rest, relabel in the
    engine what the engine holds, and in the registry what a pushing builder would have pushed. What a push
    follows up is left to it (push relabels in the registry). Results in the plan's order."""
    done: Dict[str, BuildResult] = {}
    to_build: List[BuildStep] = []
    for step in steps:
        decision = decided[step.component]
        if decision.build:
            to_build.append(step)
        elif not decision.image.host:  # a local image: relabelled by a one-line build
            to_build.append(local.step(step, decision.image))
        elif pushes(step) and relabel is not None:
            done[step.component] = relabel(step, decision)
        else:
            done[step.component] = BuildResult(step, "unchanged", since=decision.since)
    planned = {step.component: step for step in steps}
    for result in run_builds(backend, engine_factory, to_build, parallel, no_cache, console, progress, held) \
            if to_build else []:
        original = planned[result.step.component]
        if result.step is not original:  # a relabel
            result.step, result.since = original, decided[original.component].since
            result.status = "unchanged" if result.ok else result.status
        else:
            result.platforms = list(original.platforms) if result.pushed else []
        done[original.component] = result
    return [done[step.component] for step in steps]


def print_summary(results: Sequence[BuildResult], console: Console) -> None:
    rows = []
    for result in results:
        short_id = short_digest(result.image_id or result.digest or "-")
        refs = result.pushed or result.step.refs  # what the build pushed itself has no local name
        status = f"unchanged since {result.since}" if result.status == "unchanged" else result.status
        rows.append((result.step.component, refs[0], short_id, status, f"{result.seconds:.1f}"))
        rows.extend(("", ref, "", "", "") for ref in refs[1:])
    console.say()
    console.table(("component", "refs", "image id", "status", "seconds"), rows)
    for result in results:
        if not result.ok:
            console.say()
            console.say(f"{result.step.component} failed at: {result.failed_step or '(before the first step)'}")
            console.say(f"  error: {result.error}")
            for line in result.tail[-8:]:
                console.say(f"  | {line}")
