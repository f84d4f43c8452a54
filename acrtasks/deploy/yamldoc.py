"""Image values in YAML deployment files, found with their exact places so only their bytes change.

PyYAML's composer gives every scalar node its start and end offset in the
text; replacing exactly that span (re-quoted in the node's own style) leaves
comments, key order, quoting, indentation and line endings as they were.
ruamel.yaml's round trip re-emits whole lines, so it was not used.

Sites flagged ``is_env_entry`` are values that are not images by their schema:
:meth:`..refs.ReleaseRefs.for_value` decides, strictly, whether they are.

The kind of each document is read from its content:

- compose: ``services.*.image``, and ``services.*.environment`` values;
- Kubernetes: the ``image`` of ``containers``, ``initContainers`` and ``ephemeralContainers`` at any depth,
  and their ``env`` values; a ConfigMap's ``data`` values;
- kustomization: ``images`` entries (``name`` stays; ``newName``, ``newTag``, ``digest`` are set);
- Helm values: ``image: {registry?, repository, tag, digest?}`` maps at any depth.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from ..util.inputs import is_map as _is_map
from ..util.inputs import is_seq as _is_seq
from ..util.inputs import is_str as _is_str
from ..util.inputs import node_get as _get

Replacement = Tuple[int, int, str]  # replace text[start:end] with the string


@dataclass
class Site:
    """One image value in a file and how to write another ref there."""

    line: int
    where: str  # e.g. "services.backend.image", "kustomize images[postgres]"
    value: str  # the value as the file holds it (compose interpolation not resolved)
    render: Callable[[str, Optional[str]], List[Replacement]]  # (new value, digest) -> replacements
    skip: str = ""  # why it is left alone (a template, a block scalar)
    is_env_entry: bool = False  # not an image by its schema (environment, env, ConfigMap): strict matching


@dataclass
class Document:
    kind: str  # compose | kubernetes | kustomization | helm | other
    sites: List[Site] = field(default_factory=list)


_PLAIN_START = re.compile(r"[A-Za-z0-9$._/-]")


def plain_is_safe(value: str, allowed: str = "") -> bool:
    """Whether ``value`` reads back unchanged as a plain scalar; ``allowed``: flow indicators the old
    plain value already held (``${VAR:-v1}`` in block context), so they are safe where it stood."""
    forbidden = set(",[]{}'\"\t") - set(allowed)
    return (bool(value) and bool(_PLAIN_START.match(value)) and not forbidden & set(value) and ": " not in value
            and " #" not in value and not value.endswith((":", " ")))


def render_scalar(node, value: str) -> str:
    """``value`` written the way ``node`` was: plain, single- or double-quoted."""
    style = node.style
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not plain_is_safe(value, node.value):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    return value


_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")


def value_span(text: str, node) -> Tuple[int, int]:
    """Where a scalar's own text is: a node's marks include its anchor (``&img``) and tag (``!!str``)."""
    start = node.start_mark.index
    if text[start:start + 1] in ("&", "!"):
        start += _PROPERTIES.match(text, start).end() - start
    return start, node.end_mark.index


def _scalar_site(text: str, node, where: str, value: Optional[str] = None,
                 wrap: Callable[[str], str] = lambda v: v, env_entry: bool = False) -> Site:
    """A site for one scalar node; ``wrap`` turns the new image value into the scalar's new content."""
    line = node.start_mark.line + 1
    skip = ""
    if node.style in ("|", ">"):
        skip = "block scalar"

    def render(new: str, digest: Optional[str]) -> List[Replacement]:
        full = f"{new}@{digest}" if digest else new
        return [(*value_span(text, node), render_scalar(node, wrap(full)))]

    return Site(line, where, node.value if value is None else value, render, skip, env_entry)


def classify(root, name: str) -> str:
    if not _is_map(root):
        return "other"
    if _is_map(_get(root, "services")):
        return "compose"
    kind = _get(root, "kind")
    if (_is_str(kind) and kind.value == "Kustomization") or (name.startswith("kustomization") and
                                                              _is_seq(_get(root, "images"))):
        return "kustomization"
    if _is_str(_get(root, "apiVersion")) and _is_str(kind):
        return "kubernetes"
    return "helm"


def find_sites(text: str, root, name: str) -> Document:
    kind = classify(root, name)
    finder = {"compose": _compose, "kubernetes": _kubernetes, "kustomization": _kustomization,
              "helm": _helm}.get(kind)
    return Document(kind, finder(text, root) if finder else [])


def _compose(text: str, root) -> List[Site]:
    sites = []
    for service_key, service in _get(root, "services").value:
        if not _is_map(service):
            continue
        image = _get(service, "image")
        if _is_str(image):
            sites.append(_scalar_site(text, image, f"services.{service_key.value}.image"))
        environment = _get(service, "environment")
        for entry in environment.value if _is_seq(environment) else ():
            if _is_str(entry) and "=" in entry.value:
                key, _, value = entry.value.partition("=")
                sites.append(_scalar_site(text, entry, f"services.{service_key.value}.environment.{key}", value,
                                          wrap=lambda v, key=key: f"{key}={v}", env_entry=True))
        for key_node, value_node in environment.value if _is_map(environment) else ():
            if _is_str(value_node):
                sites.append(_scalar_site(text, value_node, f"services.{service_key.value}.environment."
                                                            f"{key_node.value}", env_entry=True))
    return sites


_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _walk(node, visit, path="") -> None:
    if _is_map(node):
        visit(node, path)
        for key_node, value_node in node.value:
            _walk(value_node, visit, f"{path}.{getattr(key_node, 'value', '?')}".lstrip("."))
    elif _is_seq(node):
        for index, item in enumerate(node.value):
            _walk(item, visit, f"{path}[{index}]")


def _kubernetes(text: str, root) -> List[Site]:
    sites: List[Site] = []

    def visit(node, path):
        for list_name in _CONTAINER_LISTS:
            containers = _get(node, list_name)
            for container in containers.value if _is_seq(containers) else ():
                image = _get(container, "image")
                if _is_str(image):
                    name = _get(container, "name")
                    label = name.value if _is_str(name) else "?"
                    sites.append(_scalar_site(text, image, f"{path}.{list_name}[{label}].image".lstrip(".")))
                env = _get(container, "env")
                for variable in env.value if _is_seq(env) else ():
                    name, value = _get(variable, "name"), _get(variable, "value")
                    if _is_str(name) and _is_str(value):
                        sites.append(_scalar_site(text, value, f"{path}.{list_name}[{label}].env.{name.value}"
                                                  .lstrip("."), env_entry=True))

    _walk(root, visit)
    if _is_str(_get(root, "kind")) and _get(root, "kind").value == "ConfigMap":
        data = _get(root, "data")
        for key_node, value_node in data.value if _is_map(data) else ():
            if _is_str(value_node):
                sites.append(_scalar_site(text, value_node, f"ConfigMap data.{key_node.value}", env_entry=True))
    return sites


def _set_fields(text: str, mapping, fields: Dict[str, Optional[str]], anchor_key: str) -> List[Replacement]:
    """Set (or add, after ``anchor_key``'s line) the given string fields of a block mapping; None removes nothing."""
    replacements: List[Replacement] = []
    added: List[str] = []
    for key, value in fields.items():
        if value is None:
            continue
        node = _get(mapping, key)
        if _is_str(node):
            replacements.append((*value_span(text, node), render_scalar(node, value)))
        elif node is None:
            added.append(f"{key}: {value if plain_is_safe(value) else json.dumps(value)}")
    if added:
        if mapping.flow_style:
            raise ValueError(f"cannot add {', '.join(a.split(':')[0] for a in added)} to a flow-style mapping "
                             "(write it in block style)")
        anchor = _get(mapping, anchor_key)
        key_node = next(k for k, v in mapping.value if v is anchor)
        newline = "\r\n" if "\r\n" in text else "\n"
        column = " " * key_node.start_mark.column
        end = anchor.end_mark.index
        replacements.append((end, end, "".join(f"{newline}{column}{line}" for line in added)))
    return replacements


def _kustomization(text: str, root) -> List[Site]:
    sites = []
    images = _get(root, "images")
    for entry in images.value if _is_seq(images) else ():
        name = _get(entry, "name")
        if not (_is_map(entry) and _is_str(name)):
            continue
        new_name, new_tag, digest = (_get(entry, k) for k in ("newName", "newTag", "digest"))
        current = new_name.value if _is_str(new_name) else name.value
        if _is_str(new_tag) and new_tag.value:
            current += f":{new_tag.value}"
        if _is_str(digest) and digest.value:
            current += f"@{digest.value}"

        def render(new: str, pinned: Optional[str], entry=entry) -> List[Replacement]:
            from ..naming import ImageRef

            ref = ImageRef.parse(new)
            fields = {"newName": ref.locator, "newTag": ref.tag, "digest": pinned}
            return _set_fields(text, entry, fields, "name")

        sites.append(Site(name.start_mark.line + 1, f"kustomize images[{name.value}]", current, render))
    return sites


def _helm(text: str, root) -> List[Site]:
    sites: List[Site] = []

    def visit(node, path):
        image = _get(node, "image")
        if not _is_map(image):
            return
        repository = _get(image, "repository")
        if not _is_str(repository):
            return
        registry, tag, digest = (_get(image, k) for k in ("registry", "tag", "digest"))
        current = repository.value
        if _is_str(registry) and registry.value:
            current = f"{registry.value}/{current}"
        if _is_str(tag) and tag.value:
            current += f":{tag.value}"
        if _is_str(digest) and digest.value:
            current += f"@{digest.value}"

        def render(new: str, pinned: Optional[str], image=image, registry=registry) -> List[Replacement]:
            from ..naming import ImageRef

            ref = ImageRef.parse(new)
            if _is_str(registry):
                fields = {"registry": ref.host, "repository": ref.repository}
            else:
                fields = {"repository": ref.locator}
            fields["tag"] = ref.tag
            if pinned or _is_str(_get(image, "digest")):
                fields["digest"] = pinned or ""
            return _set_fields(text, image, fields, "tag" if _is_str(_get(image, "tag")) else "repository")

        sites.append(Site(image.start_mark.line + 1, f"{path}.image".lstrip("."), current, render))

    _walk(root, visit)
    return sites


def template_reason(value: str) -> str:
    """Why a value with templates cannot be rewritten, or "". A Helm or Go template opens with ``{{``; a lone
    ``}}`` closes nested compose defaults (``${A:-${B:-v1}}``), which compose's own rules read."""
    if "{{" in value:
        return "template ({{ }})"
    return ""
