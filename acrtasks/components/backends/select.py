"""Choosing a backend: what was asked for, what the machine has, and what the plan needs."""

from typing import Callable, Optional, Sequence

from ...errors import UsageError
from . import Backend
from .detect import DockerCli, docker_clis


def _none_found(what: str, clis: Sequence[DockerCli], install: str) -> str:
    checked = "; ".join(cli.describe() for cli in clis) or "no docker CLI on PATH"
    return f"no docker CLI can build with {what} (checked: {checked}); install {install}, or use --backend classic"


def refuse_unfit(chosen: Backend, cached: Sequence[str], has_registry: bool) -> None:
    """What the chosen backend cannot do for this plan, as one UsageError before anything starts: images its
    build pushes itself need a registry; a registry build cache (``cached``: those components) needs buildx."""
    if chosen.pushes and not has_registry:
        what = f"builder {chosen.builder}'s images are" if chosen.builder else "several platforms are"
        raise UsageError(f"{what} pushed by the build itself: pass --registry (or [registry] url)")
    if cached and chosen.name != "buildx":
        raise UsageError(f"cache = \"registry\" ({', '.join(cached)}) needs --backend buildx; the {chosen.name} "
                         "backend cannot export a build cache")


def choose(name: str, engine_factory: Callable, platforms: Sequence[str] = (), builder: str = "",
           secrets: bool = False, clis: Optional[Sequence[DockerCli]] = None) -> Backend:
    """The backend for ``name`` (auto | classic | buildkit | buildx, checked by :func:`config.backend_problem`),
    or a UsageError saying what is missing."""
    from .classic import ClassicBackend
    from .cli import BuildKitBackend, BuildxBackend

    if clis is None:  # asking the CLIs runs them: not for a backend that does not use one
        clis = () if name == "classic" else docker_clis()
    buildx = next((cli for cli in clis if cli.buildx), None)
    buildkit = next((cli for cli in clis if cli.buildkit), None)
    if name == "auto":
        name = "buildx" if buildx else "buildkit" if buildkit else "classic"
    if name != "buildx":
        if len(platforms) > 1:
            raise UsageError(f"{len(platforms)} platforms ({', '.join(platforms)}) need --backend buildx "
                             f"(the {name} backend builds one platform); or build one with --platform")
        if builder:
            raise UsageError(f"--builder {builder} needs --backend buildx (the {name} backend has no builders)")
    if name == "classic":
        if secrets:
            raise UsageError("build secrets need BuildKit: the classic builder cannot pass them without leaving "
                             "them in the image; use --backend buildkit (or buildx)")
        return ClassicBackend(engine_factory)
    if name == "buildkit":
        if buildkit is None:
            raise UsageError(_none_found("BuildKit", clis, "Debian's docker.io (its 20.10 CLI has BuildKit built in) "
                                                           "or the docker-buildx plugin"))
        return BuildKitBackend(buildkit, engine_factory)
    if buildx is None:
        raise UsageError(_none_found("buildx", clis, "the docker-buildx plugin"))
    return BuildxBackend(buildx, engine_factory, platforms, builder)
