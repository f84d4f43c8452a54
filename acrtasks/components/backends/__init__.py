"""Build backends: one interface, several ways to turn a build step into an image.

- ``classic``: the engine's classic builder through docker-py (no build secrets, one platform);
- ``buildkit``: BuildKit through a docker CLI that has it (``DOCKER_BUILDKIT=1 docker build``);
- ``buildx``: ``docker buildx build``, with ``--platform`` (several platforms are pushed straight to the
  registry) and ``--builder`` (remote BuildKit, docker-container or Kubernetes drivers).

Every backend takes a :class:`~acrtasks.components.plan.BuildStep` and gives back a :class:`BuildOutput` or raises
:class:`~acrtasks.errors.BuildFailed` with the failing step and the log tail; the builder, the plan and the
summary do not know which one ran. :func:`select.choose` picks one (``auto``: buildx, else buildkit, else classic).
"""

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Protocol

from ...naming import ImageRef


@dataclass
class BuildOutput:
    image_id: Optional[str]  # in the engine; None when the result went straight to the registry
    digest: str = ""  # the registry digest, when the backend pushed (buildx, several platforms)
    pushed: List[ImageRef] = field(default_factory=list)  # refs the backend pushed itself
    tagged: bool = False  # the backend gave the image every ref of the step already


class Backend(Protocol):
    """What the builder and the build task may ask of a backend (classic.py, cli.py implement it)."""

    name: str
    pushes: bool  # the build pushes its images itself (buildx, several platforms): nothing is loaded locally
    builder: str  # the buildx builder it builds with ("": the engine's own; always "" but for buildx)
    attests: bool  # it attaches provenance and SBOM attestations (a CLI with buildx), the plan says what

    def describe(self) -> str:
        """One line for the plan: which backend, which CLI."""

    def check_engine(self) -> None:
        """The engine answers, or EngineUnavailable: called before anything starts."""

    def pushes_step(self, step) -> bool:
        """Whether this step's image goes straight to the registry (so its bases are resolved there too, and an
        unchanged one is relabelled there), not into the engine."""

    def build(self, step, no_cache: bool, on_line: Callable[[str], None],
              on_step: Callable[[int, int], None]) -> "BuildOutput":
        """Build one step; raises BuildFailed with the failing step and the log tail."""

    def cancel_all(self) -> None:
        """Ctrl-C: stop every build still running."""
