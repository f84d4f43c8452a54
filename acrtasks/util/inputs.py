"""Files from outside the program, read where they enter: bounded, decoded, parsed, shape-checked.

build.toml, compose files, ``.env``, docker's ``config.json`` and the metadata
file all come through here, so a file that is huge, not UTF-8, not valid
syntax or of the wrong shape becomes one :class:`UsageError` line (or the
subclass the caller names) instead of a traceback halfway through the work.
"""

import json
import os
from pathlib import Path
from typing import Any, Optional, Type, Union

from ..errors import UsageError

#: No configuration file we read is anywhere near this; a bigger one is a mistake or an attack.
MAX_FILE_BYTES = 4 << 20
#: Nodes a YAML document may expand to through its aliases ("billion laughs" expands to 10^9).
MAX_YAML_NODES = 100_000


def read_text(path: Path, what: str, error: Type[UsageError] = UsageError, limit: int = MAX_FILE_BYTES,
              missing_ok: bool = False, keep_bom: bool = False) -> Optional[str]:
    """The file's text (a UTF-8 BOM dropped unless ``keep_bom``), or None when it is missing and ``missing_ok``."""
    try:
        with open(path, "rb") as handle:
            if not os.path.isfile(path):
                raise error(f"{what} {path}: not a regular file")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{what} {path}: larger than {limit >> 20} MiB; that is not a file of this kind")
    try:
        return data.decode("utf-8" if keep_bom else "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{what} {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                    "save it as UTF-8") from None


#: JSON from outside nests no deeper: manifests, indexes, token replies, records and config files need a handful
#: of levels; 5,000 (10 KB) would end Python's parser in a RecursionError.
MAX_JSON_DEPTH = 64


def parse_json(data: Union[str, bytes]) -> Any:
    """``json.loads`` for what comes from outside: nesting past :data:`MAX_JSON_DEPTH` is a ValueError, as any
    other malformed JSON is, so every caller's one ``except ValueError`` covers it."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    stack = [(value, 1)]
    while stack:  # iterative: the check itself cannot recurse
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return value


def load_json(text: str, path: Path, what: str, error: Type[UsageError] = UsageError) -> Any:
    try:
        return parse_json(text)
    except ValueError as exc:
        raise error(f"{what} {path}: not valid JSON ({exc})") from None


def load_yaml(text: str, path: Path, what: str, error: Type[UsageError] = UsageError) -> Any:
    """Safe-load the one document of ``text``, refusing alias bombs and absurd nesting.

    PyYAML shares aliased nodes instead of copying them, so loading itself is
    cheap; it is walking the result (as we and every consumer do) that
    explodes. The node graph is measured first, each node's expanded size
    computed once, and a document past :data:`MAX_YAML_NODES` is refused;
    the same loader then builds the data from those nodes (one parse).
    """
    import yaml

    loader = _yaml_loader(text)
    try:
        roots = _bounded_nodes(loader, path, what, error)
        if not roots:
            return None
        if len(roots) > 1:
            raise error(f"{what} {path}: holds {len(roots)} YAML documents; one is expected")
        try:
            return loader.construct_document(roots[0])
        except yaml.YAMLError as exc:
            raise error(f"{what} {path}: not valid YAML ({_first_line(exc)})") from None
    finally:
        loader.dispose()


def compose_yaml(text: str, path: Path, what: str, error: Type[UsageError] = UsageError) -> list:
    """The node trees of every document of ``text`` (with their marks), with the same bounds as :func:`load_yaml`."""
    loader = _yaml_loader(text)
    try:
        return _bounded_nodes(loader, path, what, error)
    finally:
        loader.dispose()


# The node trees' shape, for the readers that need each value's place (compose, set-images).
def node_get(node, key: str, _depth: int = 0):
    """The value node under ``key`` of a mapping node, or None; a key the mapping lacks is looked up in its
    ``<<`` merge keys, in order, as YAML (and compose-go) merge them (``<<: *common``)."""
    if not is_map(node) or _depth > 32:
        return None
    merged = []
    for key_node, value_node in node.value:
        name = getattr(key_node, "value", None)
        if name == key:
            return value_node
        if name == "<<" and key_node.tag.endswith(":merge"):
            merged.extend(value_node.value if is_seq(value_node) else [value_node])
    for source in merged:
        found = node_get(source, key, _depth + 1)
        if found is not None:
            return found
    return None


def is_map(node) -> bool:
    return node is not None and node.tag.endswith(":map")


def is_seq(node) -> bool:
    return node is not None and node.tag.endswith(":seq")


def is_str(node) -> bool:
    return node is not None and node.tag.endswith(":str")


def _yaml_loader(text: str):
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml when PyYAML has it: 10x faster


def _bounded_nodes(loader, path: Path, what: str, error: Type[UsageError]) -> list:
    """Every document's node tree from ``loader``; a syntax error, deep nesting or an alias bomb is ``error``."""
    import yaml

    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
        too_big = any(_expanded_size(root) > MAX_YAML_NODES for root in roots)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: not valid YAML ({_first_line(exc)})") from None
    except RecursionError:
        raise error(f"{what} {path}: nested too deeply to be a configuration file") from None
    if too_big:
        raise error(f"{what} {path}: its aliases expand to more than {MAX_YAML_NODES} nodes; refused "
                    "(a YAML alias bomb?)")
    return roots


def _expanded_size(root) -> int:
    """How many nodes the document has with every alias expanded; a recursive alias counts as infinite."""
    sizes: dict = {}
    in_progress = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            return MAX_YAML_NODES + 1
        in_progress.add(key)
        total = 1
        value = node.value
        if isinstance(value, list):
            for item in value:
                children = item if isinstance(item, tuple) else (item,)
                for child in children:
                    total += size(child)
                    if total > MAX_YAML_NODES:
                        break
        in_progress.discard(key)
        sizes[key] = min(total, MAX_YAML_NODES + 1)
        return sizes[key]

    return size(root)


def expect(value: Any, kind: type, path: Path, where: str, error: Type[UsageError] = UsageError) -> Any:
    """``value`` if it is a ``kind``, else one line naming the file, the place and what was found."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    found = _KIND_NAMES.get(type(value), type(value).__name__)
    raise error(f"{path}: {where} must be {_KIND_NAMES.get(kind, kind.__name__)}, not {found}")


_KIND_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
               bool: "true/false", type(None): "nothing"}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in text[:3] if line.strip())[:300]
