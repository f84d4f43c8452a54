"""Base images before a build: what build.sh's pre-pull did, for machines that cannot reach Docker Hub.

A base the engine lacks is pulled, before the first build, from where ``[build] bases_from`` says: ``hub``
tries ``[deps] mirrors`` (Docker Hub's pull-through mirrors, in order) for a Docker Hub image, then the
engine's own pull (which goes through its daemon.json mirrors); ``registry`` takes the copy ``push-deps``
made in the user's registry (``[deps] bases = true``). The image is then tagged with the name its Dockerfile
uses, so the builder finds it in the engine. A base of another registry is left to the builder.
"""

from typing import Callable, Dict, List, Sequence, Tuple

from ..errors import AcrError, RegistryPreflightError, UsageError
from ..naming import DOCKER_HUB, ImageRef
from ..release.images import release_of


def sources(base: ImageRef, bases_from: str, mirrors: Sequence[str], registry_copy: Callable[[str], ImageRef],
            text: str) -> List[Tuple[ImageRef, str]]:
    """Where ``base`` (written ``text``) may be pulled from, in order, each with how the plan names it."""
    if bases_from == "registry":
        return [(registry_copy(text), "the registry (push-deps' copy)")]
    if base.host != DOCKER_HUB:
        return []
    return [*((ImageRef(host, base.repository, base.tag, base.digest), f"mirror {host}") for host in mirrors),
            (base, "Docker Hub")]


def prepare(engine, bases: Dict[str, List[str]], bases_from: str, mirrors: Sequence[str],
            registry_copy: Callable[[str], ImageRef], say: Callable[[str], None]) -> None:
    """Put every base the engine lacks into it, or stop before any build naming what was tried."""
    for text in dict.fromkeys(base for found in bases.values() for base in found):
        try:
            base = ImageRef.parse(text)
        except AcrError:
            continue  # not a name an engine could hold: the build says why
        base = base if base.tag or base.digest else base.with_tag("latest")
        if engine.image_id(base) is not None:
            continue
        tried = []
        for ref, where in sources(base, bases_from, mirrors, registry_copy, text):
            try:
                image_id = engine.pull(ref)
            except AcrError as exc:
                tried.append(f"{where}: {exc}")
                continue
            if ref != base and base.tag:
                engine.tag(image_id, base)
            say(f"base {text}: pulled from {where} ({ref})")
            break
        else:
            if tried:
                raise RegistryPreflightError(f"nothing built: base image {text} is not in the engine and could not "
                                             f"be pulled ({'; '.join(tried)})")


def registry_copies(settings) -> Callable[[str], ImageRef]:
    """A base's copy in the user's registry, named as push-deps names it (``[build] bases_from = "registry"``);
    refused at once when there is no such registry."""
    naming = release_of(settings).deps_naming
    if naming is None and settings.config.bases_from == "registry":
        raise UsageError('[build] bases_from = "registry" takes bases from the registry push-deps mirrored them '
                         "to: pass --registry (or set [deps] namespace)")
    return lambda text: naming.dependency(text, settings.config.deps_rename).target
