"""A compose file as ``docker compose`` reads it: its environment, its valid templates, the images it runs.

The environment is compose's: the process environment, then the ``.env``
beside the file for what the process does not set (``.env`` values may use
variables: the process environment first, then the ``.env``'s earlier keys).
Every string value of a compose file is a template to compose, so an invalid
one anywhere (``${``, ``${ foo}``) makes compose refuse the file: so do we,
naming the file and line.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Type

from ..errors import ConfigError, NamingError, UsageError
from ..naming import ImageRef
from ..util import inputs
from .dotenv import DotenvError, parse
from .template import TemplateError, substitute, variables


@dataclass(frozen=True)
class Environment:
    """What compose interpolates a project's files with, and what its ``.env`` alone sets."""

    values: Dict[str, str]
    dotenv: Dict[str, str]
    dotenv_path: Path

    def resolve(self, template: str) -> Tuple[str, List[str]]:
        """(the value, the variables it used that are unset); raises TemplateError (MissingRequired too)."""
        missing: List[str] = []
        value = substitute(template, self.values.get, missing.append)
        return value, missing


def environment(directory: Path, environ: Mapping[str, str], error: Type[UsageError] = UsageError) -> Environment:
    """The environment for compose files in ``directory``: the process's, then its ``.env``."""
    path = directory / ".env"
    text = inputs.read_text(path, ".env file", error, missing_ok=True)
    try:
        dotenv, _ = parse(text or "", environ.get)
    except DotenvError as exc:
        raise error(f"{path}: {exc}") from None
    return Environment({**dotenv, **environ}, dotenv, path)


def check_templates(root, path: Path, error: Type[UsageError] = UsageError) -> None:
    """Refuse the file, naming the line, where a string value is not a valid compose template."""
    stack = [root]
    while stack:
        node = stack.pop()
        if inputs.is_map(node):
            stack.extend(value for _key, value in node.value)
        elif inputs.is_seq(node):
            stack.extend(node.value)
        elif inputs.is_str(node) and "$" in node.value:
            try:
                variables(node.value)
            except TemplateError:
                raise error(f"{path}:{node.start_mark.line + 1}: {node.value!r} is not a valid interpolation "
                            "template (compose refuses it: write $$ for a literal $)") from None


def compose_images(path: Path, image_prefix: str, environ: Mapping[str, str]) -> Tuple[List[str], List[str]]:
    """The dependency images of one compose file, and the problems met (one line each).

    An ``image:`` of a service that has ``build:``, or whose name starts with
    ``image_prefix``, is one of our components and is left out.
    """
    what = "[deps] compose_files:"
    text = inputs.read_text(path, what, ConfigError)
    services = _merged_services(inputs.compose_yaml(text, path, what, ConfigError), path)
    if not services:
        return [], []
    env = environment(path.parent, environ, ConfigError)
    images, problems = [], []
    for name, (image, build) in services.items():
        if image is None or build:
            continue
        if not inputs.is_str(image):
            raise ConfigError(f"{path}:{image.start_mark.line + 1}: services.{name}.image must be a string")
        where = f"{path.name}:{image.start_mark.line + 1}: service {name}"
        try:
            value, missing = env.resolve(image.value)
        except TemplateError as exc:
            problems.append(f"{where}: image {image.value!r}: {exc}; skipped")
            continue
        if missing:
            problems.append(f"{where}: image {image.value!r} needs {', '.join('$' + m for m in missing)}, "
                            "which has no default and is not set; skipped")
            continue
        try:
            if ImageRef.parse(value).name.startswith(image_prefix):
                continue
        except NamingError as exc:
            problems.append(f"{where}: {exc}; skipped")
            continue
        images.append(value)
    return images, problems


def _merged_services(roots: list, path: Path) -> Dict[str, Tuple[Optional[object], bool]]:
    """Each service's ``image`` node and whether it has ``build:``, over every YAML document of the file.

    compose merges a file's documents in order, as it merges ``-f`` files: a later document's ``image`` replaces
    an earlier one's, and a ``build`` in any of them makes the service one that is built.
    """
    merged: Dict[str, Tuple[Optional[object], bool]] = {}
    for root in roots:
        if root.tag.endswith(":null") and len(roots) == 1:
            continue  # an empty file: nothing to read
        if not inputs.is_map(root):  # an empty document among others too: compose refuses it
            raise ConfigError(f"{path}: the document must be a mapping")
        check_templates(root, path, ConfigError)
        services = inputs.node_get(root, "services")
        if services is None or services.tag.endswith(":null"):
            continue
        if not inputs.is_map(services):
            raise ConfigError(f"{path}: 'services' must be a mapping")
        for name_node, service in services.value:
            name = name_node.value
            if service.tag.endswith(":null"):
                merged.setdefault(name, (None, False))
                continue
            if not inputs.is_map(service):
                raise ConfigError(f"{path}: service {name!r} must be a mapping")
            image, built = merged.get(name, (None, False))
            build = inputs.node_get(service, "build")
            merged[name] = (inputs.node_get(service, "image") or image,
                            built or (build is not None and not build.tag.endswith(":null")))
    return merged
