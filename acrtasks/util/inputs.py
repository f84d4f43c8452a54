"""Files from outside the program, read where they enter: bounded, decoded, parsed, shape-checked.

build.toml, compose files, ``.env``, docker's ``config.json`` and the metadata
file all come through here, so a file that is huge, not UTF-8, not valid
syntax or of the wrong shape becomes one :class:`UsageError` line (or the
subclass the caller names) instead of a traceback halfway through the work.
"""

import functools
import json
import os
import re
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


def compose_yaml(text: str, path: Path, what: str, error: Type[UsageError] = UsageError) -> list:
    """The node trees of every document of ``text`` (with their marks), read as compose and kubectl's Go YAML
    reads them: a plain scalar's type is YAML 1.2's (:func:`plain_scalar_tag`), a key written twice in one mapping
    is refused, and an alias bomb or absurd nesting is refused before anything walks the tree.

    Only the node trees are built: callers need each value's place (set-images edits it in the text), and
    PyYAML's constructors are YAML 1.1's.
    """
    loader = _go12_loader_class()(text)
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


# A plain scalar's type as Go's yaml.v3 (compose-go) resolves it: YAML 1.2's core schema, plus v3's leniencies
# (``_`` in numbers, ``0777`` octal, timestamps). YAML 1.1's ``yes``/``no``/``on``/``off`` and ``1:20`` (base 60)
# are strings there, so ``image: yes`` is an image.
_GO_NULL = {"", "~", "null", "Null", "NULL"}
_GO_BOOL = {"true", "True", "TRUE", "false", "False", "FALSE"}
_GO_SPECIAL_FLOAT = {f"{sign}{word}" for sign in ("", "+", "-") for word in (".inf", ".Inf", ".INF")} | {
    ".nan", ".NaN", ".NAN"}
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")


def plain_scalar_tag(value: str) -> str:
    """The YAML tag (``null``, ``bool``, ``int``, ``float``, ``timestamp``, ``merge`` or ``str``) Go's yaml.v3
    gives an unquoted scalar."""
    if value in _GO_NULL:
        return "null"
    if value in _GO_BOOL:
        return "bool"
    if value in _GO_SPECIAL_FLOAT:
        return "float"
    if value == "<<":
        return "merge"
    first = value[0]
    if first == ".":
        return "float" if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", value) else "str"
    if not (first.isascii() and (first.isdigit() or first in "+-")):
        return "str"
    if _go_timestamp(value):
        return "timestamp"  # compose-go refuses it where it wants a string ("invalid jsonType time.Time")
    plain = value.replace("_", "")
    number = _GO_INT.match(plain)
    if number and _fits_64_bits(number.group(1), number.group(2)):
        return "int"
    if _GO_FLOAT.match(plain):
        return "float"
    return "str"


# yaml.v3's timestamp layouts (Go time formats): 2006-1-2, with T/t 15:4:5.999999999Z07:00 or " 15:4:5.9…".
_GO_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
                           r"(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})"
                           r"| ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]+)?)?\Z")


def _go_timestamp(value: str) -> bool:
    import calendar

    match = _GO_TIMESTAMP.match(value)
    if not match:
        return False
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    clock = [int(part) for part in match.groups()[3:] if part is not None]
    return (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]
            and (not clock or (clock[0] < 24 and clock[1] < 60 and clock[2] < 60)))


def _fits_64_bits(sign: str, digits: str) -> bool:
    """Whether Go's ParseInt or ParseUint (base 0) takes the number: past 64 bits both fail."""
    lower = digits.lower()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(lower[:2], 8 if lower.startswith("0") and len(lower) > 1 else 10)
    magnitude = int(lower[2:] if base in (16, 2) or lower[:2] == "0o" else lower, base)
    return magnitude <= (1 << 63) if sign == "-" else magnitude < (1 << 64)


@functools.lru_cache(maxsize=None)  # made on first use: importing PyYAML costs every task that reads no YAML
def _go12_loader_class() -> type:
    import yaml
    from yaml.nodes import ScalarNode

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 10x faster

    class Go12Loader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind, value, implicit):
            if kind is ScalarNode and implicit[0]:
                return "tag:yaml.org,2002:" + plain_scalar_tag(value)
            return super().resolve(kind, value, implicit)

    return Go12Loader




def _bounded_nodes(loader, path: Path, what: str, error: Type[UsageError]) -> list:
    """Every document's node tree from ``loader``; a syntax error, deep nesting or an alias bomb is ``error``."""
    import yaml

    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
        too_big = any(_expanded_size(root) > MAX_YAML_NODES for root in roots)
        twice = None if too_big else next(filter(None, map(_key_written_twice, roots)), None)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: not valid YAML ({_first_line(exc)})") from None
    except RecursionError:
        raise error(f"{what} {path}: nested too deeply to be a configuration file") from None
    if too_big:
        raise error(f"{what} {path}: its aliases expand to more than {MAX_YAML_NODES} nodes; refused "
                    "(a YAML alias bomb?)")
    if twice:
        first, second = twice
        raise error(f"{what} {path}:{second.start_mark.line + 1}: key {second.value!r} is already defined on line "
                    f"{first.start_mark.line + 1} of this mapping (compose and kubectl refuse a key written twice)")
    return roots


def _key_written_twice(root):
    """The first (earlier, later) pair of key nodes naming one key in one mapping of the document, or None."""
    seen_maps, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_maps or not isinstance(node.value, list):
            continue
        seen_maps.add(id(node))
        keys: dict = {}
        for item in node.value:
            if isinstance(item, tuple):
                key, value = item
                if key.tag.endswith((":str", ":int", ":bool", ":null", ":float")) and isinstance(key.value, str):
                    earlier = keys.setdefault((key.tag, key.value), key)
                    if earlier is not key:
                        return earlier, key
                stack.extend((key, value))
            else:
                stack.append(item)
    return None


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


def seconds_from_env(name: str, default: float, minimum: float) -> float:
    """A number of seconds from the environment variable ``name``; a bad value is a usage error."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not minimum <= value <= 86400:
        raise UsageError(f"{name}={text!r} is not a number of seconds from {minimum:g} to 86400")
    return value


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
