"""Build backends: one interface, several ways to turn a build step into an image.

- ``classic``: the engine's classic builder through docker-py (no build secrets, one platform);
- ``buildkit``: BuildKit through a docker CLI that has it (``DOCKER_BUILDKIT=1 docker build``);
- ``buildx``: ``docker buildx build``, with ``--platform`` (several platforms are pushed straight to the
  registry) and ``--builder`` (remote BuildKit, docker-container or Kubernetes drivers).

Every backend takes a :class:`~acrtasks.build.plan.BuildStep` and gives back a :class:`BuildOutput` or raises
:class:`~acrtasks.errors.BuildFailed` with the failing step and the log tail; the builder, the plan and the
summary do not know which one ran. :func:`select.choose` picks one (``auto``: buildx, else buildkit, else classic).
"""

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class BuildOutput:
    image_id: Optional[str]  # in the engine; None when the result went straight to the registry
    digest: str = ""  # the registry digest, when the backend pushed (buildx, several platforms)
    pushed: List[str] = field(default_factory=list)  # refs the backend pushed itself
    tagged: bool = False  # the backend gave the image every ref of the step already
