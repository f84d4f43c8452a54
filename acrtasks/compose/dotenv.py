"""``.env`` files, read as compose-go v2 (package ``dotenv``, v2.13) reads them, with each value's place.

The rules, all compose-go's: ``[export ]KEY=value`` and ``KEY: value``; a
``KEY`` alone on its line takes the value from the lookup (the process
environment) or stays unset; unquoted values end at the line, lose a `` #``
comment and trailing space; single quotes are literal; double quotes expand
``\\n``, ``\\t``, ``\\"``, ``\\\\``, ``\\$``, octal ``\\0NNN`` and may span lines;
unquoted and double-quoted values are interpolated (the lookup first, then
the file's own earlier keys). Keys are letters, digits, ``_ . - [ ]``.

Each :class:`Entry` keeps the span of its raw value, so that set-images can
rewrite one value and leave every other byte of the file as it was.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .template import Lookup, TemplateError, substitute

_EXPORT = re.compile(r"export[\t\n\f\r ]+")  # Go's \s is ASCII white space only: a no-break space is no separator
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"',
                   "\\": "\\"}
_SPACE = "\t\v\f\r \x85\xa0"  # compose-go's isSpace: white space that is not a line break


def _go_space(char: str) -> bool:
    """Go's unicode.IsSpace: Python's str.isspace also takes the separators U+001C-U+001F, which Go does not."""
    return char.isspace() and char not in "\x1c\x1d\x1e\x1f"


def _go_rstrip(text: str) -> str:
    """strings.TrimRightFunc(text, unicode.IsSpace)."""
    end = len(text)
    while end and _go_space(text[end - 1]):
        end -= 1
    return text[:end]


class DotenvError(ValueError):
    """The file is not a valid ``.env`` (compose refuses it); the message names the line."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: Optional[str]  # None: a bare ``KEY`` the lookup did not set
    line: int  # 1-based line of the key
    start: int  # text[start:end] is the raw value (inside its quotes)
    end: int
    quote: str  # "", "'" or '"'

    def raw(self, text: str) -> str:
        return text[self.start:self.end]


def parse(text: str, lookup: Optional[Lookup] = None) -> Tuple[Dict[str, str], List[Entry]]:
    """The variables of a ``.env`` text (a leading BOM is skipped) and every statement with its place."""
    lookup = lookup or (lambda _name: None)
    values: Dict[str, str] = {}
    entries: List[Entry] = []
    pos = 1 if text.startswith("\ufeff") else 0
    while True:
        pos = _statement_start(text, pos)
        if pos is None:
            return values, entries
        line = text.count("\n", 0, pos) + 1
        key, pos, inherited = _key(text, pos, line)
        if inherited:
            value = lookup(key)
            if value is not None:
                values[key] = value
            entries.append(Entry(key, value, line, pos, pos, ""))
            continue
        entry, pos = _value(text, pos, key, line, values, lookup)
        values[key] = entry.value
        entries.append(entry)


def _statement_start(text: str, pos: int) -> Optional[int]:
    """Past white space and ``#`` comment lines; None at the end of the text."""
    while True:
        while pos < len(text) and _go_space(text[pos]):
            pos += 1
        if pos >= len(text):
            return None
        if text[pos] != "#":
            return pos
        newline = text.find("\n", pos)
        if newline < 0:
            return None
        pos = newline


def _key(text: str, pos: int, line: int) -> Tuple[str, int, bool]:
    export = _EXPORT.match(text, pos)
    if export:
        pos += len("export")
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
    start = pos
    for index in range(pos, len(text)):
        char = text[index]
        if char in _SPACE:
            continue
        if char in "=:\n":
            key = _go_rstrip(text[start:index])
            if " " in key:
                raise DotenvError(f"line {line}: key cannot contain a space")
            after = index + 1
            while after < len(text) and text[after] in _SPACE:
                after += 1
            return key, after, char == "\n"
        if not (char in "_.-[]" or unicodedata.category(char)[0] in "LN"):  # Go: IsLetter or IsNumber
            first_line = text[start:].split("\n", 1)[0]
            raise DotenvError(f"line {line}: unexpected character {char!r} in variable name {first_line!r}")
    return "", start, False  # compose-go: a last line without '=' is a value of the empty key


def _value(text: str, pos: int, key: str, line: int, values: Dict[str, str], lookup: Lookup
           ) -> Tuple[Entry, int]:
    quote = text[pos] if pos < len(text) and text[pos] in "'\"" else ""

    def expand(raw: str) -> str:
        try:  # compose-go v2.13: the lookup (process environment) first, then this file's earlier keys
            return substitute(raw, lambda name: lookup(name) if lookup(name) is not None else values.get(name))
        except TemplateError as exc:
            raise DotenvError(f"line {line}: {key}: {exc}") from None

    if not quote:
        newline = text.find("\n", pos)
        end = len(text) if newline < 0 else newline
        raw = text[pos:end]
        comment = raw.find(" #")
        if comment >= 0:
            raw = raw[:comment]
        raw = _go_rstrip(raw)
        return Entry(key, expand(raw), line, pos, pos + len(raw), ""), end
    chars: List[str] = []
    escaped = False
    for index in range(pos + 1, len(text)):
        char = text[index]
        if escaped:
            escaped = False
            if char != quote:  # an escaped quote drops its backslash; any other escape keeps it
                chars.append("\\")
            chars.append(char)
        elif char == "\\":
            escaped = True
        elif char == quote:
            raw = "".join(chars)
            value = expand(_expand_escapes(raw)) if quote == '"' else raw
            return Entry(key, value, line, pos + 1, index, quote), index + 1
        else:
            chars.append(char)
    first_line = text[pos:].split("\n", 1)[0]
    raise DotenvError(f"line {line}: unterminated quoted value {first_line}")


def _expand_escapes(value: str) -> str:
    def replace(match: "re.Match[str]") -> str:
        escape = match.group(0)
        if escape == "\\$":
            return "$$"  # a literal dollar for the interpolation that follows
        if escape.startswith("\\0"):
            escape = "\\" + escape[2:]
            digits = escape[1:]
            if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) < 256:
                return chr(int(digits, 8))
            return escape
        return _SIMPLE_ESCAPES.get(escape[1:], escape)

    return _ESCAPE.sub(replace, value)
