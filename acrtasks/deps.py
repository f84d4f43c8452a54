"""Which dependency images there are: ``[deps] images`` plus the ``image:`` values of compose files.

An ``image:`` of a service that has ``build:``, or whose name starts with the
project's ``image_prefix``, is one of our components and is left out.
Interpolations resolve the way compose does: the environment, then the
``.env`` file beside the compose file, then the default written in the
expression (``${TAG:-15}``); what cannot be resolved is reported and skipped.
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import inputs
from .config import Config, Settings
from .errors import ConfigError, NamingError, UsageError
from .naming import DOCKER_HUB, Dependency, ImageRef, Naming, naming_for

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> Tuple[Optional[str], List[str]]:
    """Compose-style interpolation; returns (value, names that could not be resolved)."""
    missing: List[str] = []

    def replace(match: "re.Match[str]") -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("plain")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
            return value
        if op in (":+", "+"):
            return arg if value not in (None, "") or (op == "+" and value is not None) else ""
        if value is None or (op == ":?" and value == ""):
            missing.append(name)
            return ""
        return value

    result = _INTERPOLATION.sub(replace, text)
    return (None if missing else result), missing


# One ``.env`` line, as compose reads it: ``[export ]KEY=value``, the value maybe quoted, maybe a `` # comment``.
# set-images rewrites lines with the same groups, so they go back together byte for byte.
DOTENV_LINE = re.compile(r"(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<eq>\s*=\s*)"
                         r"(?P<quote>['\"]?)(?P<value>.*?)(?P=quote)(?P<trail>\s*(?:#.*)?)(?P<end>\r?\n?)\Z")


def dotenv_values(path: Path) -> Dict[str, str]:
    """The variables of a ``.env`` file ({} when there is none)."""
    text = inputs.read_text(path, ".env file", ConfigError, missing_ok=True)
    values: Dict[str, str] = {}
    for line in (text or "").splitlines():
        match = DOTENV_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            values[match.group("key")] = match.group("value")
    return values


def compose_images(path: Path, image_prefix: str, environ: Mapping[str, str] = os.environ
                   ) -> Tuple[List[str], List[str]]:
    """The dependency images of one compose file, and the problems met (one line each)."""
    what = "[deps] compose_files:"
    text = inputs.read_text(path, what, ConfigError)
    data = inputs.load_yaml(text, path, what, ConfigError)  # JSON is YAML
    env = {**dotenv_values(path.parent / ".env"), **environ}
    images, problems = [], []
    services = inputs.expect(data if data is not None else {}, dict, path, "the document", ConfigError)
    services = inputs.expect(services.get("services") or {}, dict, path, "'services'", ConfigError)
    for name, service in services.items():
        service = inputs.expect(service if service is not None else {}, dict, path, f"service {name!r}",
                                ConfigError)
        if not service.get("image") or service.get("build"):
            continue
        image = inputs.expect(service["image"], str, path, f"services.{name}.image", ConfigError)
        value, missing = interpolate(image, env)
        if value is None:
            problems.append(f"{path.name}: service {name}: image {service['image']!r} needs "
                            f"{', '.join('$' + m for m in missing)}, which has no default and is not set; skipped")
            continue
        try:
            if ImageRef.parse(value).name.startswith(image_prefix):
                continue
        except NamingError as exc:
            problems.append(f"{path.name}: service {name}: {exc}; skipped")
            continue
        images.append(value)
    return images, problems


def dependency_sources(config: Config, environ: Mapping[str, str] = os.environ) -> Tuple[List[str], List[str]]:
    """``[deps] images`` then every compose file's, de-duplicated in order; and the problems met."""
    sources: List[str] = list(config.deps_images)
    problems: List[str] = []
    for name in config.deps_compose_files:
        found, trouble = compose_images(config.root / name, config.image_prefix, environ)
        sources.extend(found)
        problems.extend(trouble)
    return list(dict.fromkeys(sources)), problems


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
        data = json.loads(inputs.read_text(path, "daemon.json", missing_ok=True) or "{}")
    except (UsageError, ValueError):
        return []
    mirrors = data.get("registry-mirrors") if isinstance(data, dict) else None
    return [m for m in mirrors or [] if isinstance(m, str)]


def mirror_host(url: str) -> str:
    """``https://mirror.example.com/`` -> ``mirror.example.com``."""
    return url.split("://", 1)[-1].strip("/").split("/", 1)[0]


@dataclass(frozen=True)
class DepsPlan:
    """What push-deps will mirror, where to, and through which Docker Hub mirrors."""

    target: str
    layout: str
    dependencies: List[Dependency]
    mirrors: List[str]
    problems: List[str]  # compose images that were skipped, one line each

    def describe(self, jobs: int) -> List[str]:
        count = len(self.dependencies)
        via = f", Docker Hub via {', '.join(self.mirrors)}" if self.mirrors else ""
        return [f"mirror {count} dependenc{'y' if count == 1 else 'ies'} to {self.target} ({self.layout} layout), "
                f"{jobs} at once{via}"]

    def warnings(self) -> List[str]:
        unpinned = [f"{d.source} has no tag in the configuration: mirroring 'latest' (pin a version)"
                    for d in self.dependencies if d.unpinned]
        return [*self.problems, *unpinned]


NO_TARGET = ("no registry for dependencies: pass --deps-namespace host/ns, set [deps] namespace, "
             "[registry] url or ACRTASKS_REGISTRY")


def dependency_naming(settings: Settings, deps_namespace: Optional[str] = None) -> Optional[Naming]:
    """Where dependencies go: the one decision push-deps and the test-naming preview share.

    The target is ``--deps-namespace``, else ``[deps] namespace``, else the
    registry; the configured layout (``auto`` by default) is applied to that
    target's own host, not to the components' registry. None: there is no target.
    """
    config = settings.config
    target = deps_namespace or config.deps_namespace or settings.registry
    if not target:
        return None
    return naming_for(config.project, config.image_prefix, target, settings.layout_setting, config.flat_hosts)


def plan_deps(settings: Settings, deps_namespace: Optional[str], selected: Sequence[str] = ()) -> DepsPlan:
    """Every dependency with its target; collisions and bad names are refused here, before any copy."""
    config = settings.config
    naming = dependency_naming(settings, deps_namespace)
    if naming is None:
        raise UsageError(NO_TARGET)
    target = str(naming.registry)
    sources, problems = dependency_sources(config)
    dependencies = naming.dependencies(select(sources, selected), config.deps_rename)
    if not dependencies:
        raise UsageError(f"no dependencies: add [deps] images or compose_files to {config.path.name}")
    return DepsPlan(target, naming.layout, dependencies, hub_mirrors(config), problems)


def hub_mirrors(config: Config) -> List[str]:
    """Docker Hub's pull-through mirrors, as hosts: ``[deps] mirrors``, else the engine's daemon.json."""
    return [mirror_host(m) for m in (config.deps_mirrors or daemon_mirrors())]
