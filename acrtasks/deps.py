"""Which dependency images there are (``[deps] images`` plus compose files' images) and where they go.

Compose files are read by :mod:`acrtasks.compose` (interpolation and ``.env``
exactly as compose does it); what cannot be resolved is reported and skipped.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .config import Config, Settings, platform_problem
from .errors import NamingError, UsageError
from .naming import DOCKER_HUB, Dependency, ImageRef
from .util import inputs
from .util.text import printable

if TYPE_CHECKING:
    from .tagrules import TagRule


class Sources(NamedTuple):
    """Every dependency image as written, de-duplicated in order; the problems met reading them; and the
    platforms an entry asked for itself (``--platform=`` in images.txt or ``[deps] images``)."""

    images: Tuple[str, ...]
    problems: Tuple[str, ...]
    platforms: Dict[str, Tuple[str, ...]]


def dependency_sources(config: Config, environ: Mapping[str, str] = os.environ) -> Sources:
    """``[deps] images``, then ``[deps] list_file``'s lines, then every compose file's images."""
    entries = [parse_entry(text, f"{config.path.name} [deps] images") for text in config.deps_images]
    if config.deps_list_file:
        entries += read_list_file(config.root / config.deps_list_file)
    sources: List[str] = [entry.image for entry in entries if entry is not None]
    platforms = {entry.image: entry.platforms for entry in entries if entry is not None and entry.platforms}
    problems: List[str] = []
    if config.deps_compose_files:  # imported here: inv test-naming's start-up needs no compose reader
        from .compose.project import compose_images
    for name in config.deps_compose_files:
        found, trouble = compose_images(config.root / name, config.image_prefix, environ)
        sources.extend(found)
        problems.extend(trouble)
    return Sources(tuple(dict.fromkeys(sources)), tuple(problems), platforms)


_RULE_CHARACTERS = frozenset("~^<>=*|, ")  # none is in a reference; ":/" starts a regex


def rule_of(text: str) -> "Optional[Tuple[str, TagRule]]":
    """tagrules.split_rule, without loading it for a plain reference (every start reads [deps] images)."""
    if ":/" not in text and _RULE_CHARACTERS.isdisjoint(text):
        return None
    from .tagrules import split_rule

    return split_rule(text)


def _is_plain(text: str) -> bool:
    try:
        return rule_of(text) is None and bool(ImageRef.parse(text))
    except (UsageError, NamingError):
        return False


class Entry(NamedTuple):
    image: str
    platforms: Tuple[str, ...] = ()


MAX_LIST_FILE = 1 << 20  # 1 MiB: some ten thousand images


def read_list_file(path: Path) -> List[Optional[Entry]]:
    """images.txt as mirroring jobs keep it: one image per line, ``#`` comments, ``--platform=...`` options."""
    text = inputs.read_text(path, "[deps] list_file", limit=MAX_LIST_FILE) or ""
    return [parse_entry(line, f"{path.name}:{number}") for number, line in enumerate(text.splitlines(), 1)]


def parse_entry(text: str, where: str) -> Optional[Entry]:
    """One dependency as written: ``[--platform=os/arch[,os/arch...]] image`` (the option before or after the
    image, as ``docker pull`` takes it; several options add up); ``#`` starts a comment. None: nothing on the
    line. A bad platform, a bad name, an unknown option or a second image is a UsageError naming ``where``."""
    tokens = text.split()
    for index, token in enumerate(tokens):
        if token.startswith("#"):
            tokens = tokens[:index]
            break
    images: List[str] = []
    platforms: List[str] = []
    words = iter(tokens)
    for token in words:
        if token == "--platform":
            token = "--platform=" + next(words, "")
        if token.startswith("--platform="):
            for platform in token.split("=", 1)[1].split(","):
                problem = platform_problem(platform.strip())
                if problem:
                    raise UsageError(f"{where}: --platform {problem}")
                platforms.append(platform.strip())
        elif token.startswith("-"):
            raise UsageError(f"{where}: unknown option {printable(token)!r}; an image line takes --platform= only")
        else:
            images.append(token)
    if not images:
        if platforms:
            raise UsageError(f"{where}: --platform without an image")
        return None
    if len(images) > 1 and not images[1].startswith(("<", ">", "=", "~", "^", "|", "newest")) \
            and _is_plain(images[0]):
        raise UsageError(f"{where}: one image per line, found {len(images)}: {printable(' '.join(images))}")
    image = " ".join(images)  # a tag rule may hold spaces: redis:>=7.2 <8 newest 2
    try:
        rule = rule_of(image)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if rule is None and len(images) > 1:
        raise UsageError(f"{where}: one image per line, found {len(images)}: {printable(image)}")
    try:
        ImageRef.parse(rule[0] if rule is not None else image)
    except NamingError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return Entry(image, tuple(dict.fromkeys(platforms)))


def component_bases(settings: Settings) -> Dict[str, List[str]]:
    """Each component's base images as its Dockerfile names them (``FROM`` and ``COPY --from``, build args of
    this mode applied; stages, ``scratch`` and images named with ``image_prefix``, ours, left out). A component
    whose Dockerfile cannot be read has none here: the build's own checks say why."""
    from .dockerfile import dockerfile_bases, dockerfile_text

    found: Dict[str, List[str]] = {}
    for component in settings.config.components.values():
        try:
            text = dockerfile_text(component.name, component.context / component.dockerfile)
        except UsageError:
            continue
        found[component.name] = dockerfile_bases(text, settings.build_args(component), settings.config.image_prefix)
    return found


def select(sources: Sequence[str], wanted: Sequence[str]) -> List[str]:
    """Narrow ``sources`` to ``wanted`` (``--dep``), matching as written or after normalisation."""
    if not wanted:
        return list(sources)
    normal = {}
    for text in sources:
        normal.setdefault(_normalise(text), text)
    chosen = []
    for text in wanted:
        key = _normalise(text)
        if key not in normal:
            raise UsageError(f"--dep {text!r} is not a configured dependency; known: {', '.join(sources)}")
        chosen.append(normal[key])
    return list(dict.fromkeys(chosen))


def _normalise(text: str) -> str:
    try:
        ref = ImageRef.parse(text)
    except NamingError:
        return text
    return str(ImageRef(ref.host, ref.repository, ref.tag or "latest", ref.digest))


def source_hosts(source: ImageRef, mirrors: Sequence[str]) -> List[str]:
    """Where an image can be read: a Docker Hub image from its pull-through mirrors first, in order."""
    return [*mirrors, DOCKER_HUB] if source.host == DOCKER_HUB else [source.host]


def daemon_mirrors(path: Optional[Path] = None) -> List[str]:
    """``registry-mirrors`` of the engine's daemon.json (``$ACRTASKS_DAEMON_JSON`` overrides the path)."""
    path = path or Path(os.environ.get("ACRTASKS_DAEMON_JSON") or "/etc/docker/daemon.json")
    try:  # the engine's file: if it cannot be read, the engine's mirrors are simply unknown
        data = inputs.parse_json(inputs.read_text(path, "daemon.json", missing_ok=True) or "{}")
    except (UsageError, ValueError):
        return []
    mirrors = data.get("registry-mirrors") if isinstance(data, dict) else None
    return [m for m in mirrors or [] if isinstance(m, str)]


def mirror_host(url: str) -> str:
    """``https://mirror.example.com/`` -> ``mirror.example.com``."""
    return url.split("://", 1)[-1].strip("/").split("/", 1)[0]


# NamedTuple, not a frozen dataclass: cheaper to define on every start (see config.Component).
class DepsPlan(NamedTuple):
    """What push-deps will mirror, where to, and through which Docker Hub mirrors."""

    target: str
    layout: str
    dependencies: List[Dependency]
    mirrors: List[str]
    problems: List[str]  # compose images that were skipped, one line each
    resolved: List[str] = []  # tag rules, each with what it resolved to: "postgres:~15 -> 15.10"

    def describe(self, jobs: int) -> List[str]:
        count = len(self.dependencies)
        via = f", Docker Hub via {', '.join(self.mirrors)}" if self.mirrors else ""
        return [f"mirror {count} dependenc{'y' if count == 1 else 'ies'} to {self.target} ({self.layout} layout), "
                f"{jobs} at once{via}", *(f"  tag rule {line}" for line in self.resolved)]

    def warnings(self) -> List[str]:
        unpinned = [f"{d.source} is not pinned (no tag, or latest): each mirror copies whatever it is that day; pin a "
                    "version (name:tag, or name:tag@sha256:...)"
                    for d in self.dependencies if d.unpinned]
        return [*self.problems, *unpinned]


def hub_mirrors(config: Config) -> List[str]:
    """Docker Hub's pull-through mirrors, as hosts: ``[deps] mirrors``, else the engine's daemon.json."""
    return [mirror_host(m) for m in (config.deps_mirrors or daemon_mirrors())]
