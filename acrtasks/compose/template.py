"""Compose's variable interpolation, as compose-go v2 (package ``template``, v2.13) does it.

Ported rather than approximated because set-images and push-deps must read a
value exactly as ``docker compose`` will: the same pattern (``$$``, ``$VAR``,
``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:?e}``, ``${VAR?e}``,
``${VAR:+r}``, ``${VAR+r}``, nested in defaults), the same choice of operator
(the one that occurs first), the same split at the first balanced ``}`` for a
greedy match that spans several expressions, defaults resolved only when they
are used, and the same refusals: ``${``, ``${}``, ``${ foo}``, ``${foo!}`` are
invalid templates, while a ``$`` that starts nothing (``a $ b``, ``^x$``) is
kept. An unset variable without an operator becomes "" (compose warns);
:func:`substitute` reports it through ``on_missing``.
"""

import re
from typing import Callable, List, Optional, Tuple

Lookup = Callable[[str], Optional[str]]  # a variable's value, None when it is unset

# compose-go: "\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|{(?:(?P<braced>...)}|(?P<invalid>)))".
# Go's (?i) folds by Unicode's simple case folding: [a-z] also takes the long s (U+017F) and the Kelvin sign
# (U+212A), but not the Turkish dotted and dotless i (U+0130, U+0131) that Python's re.I takes. Spelled out.
_LETTER = "_A-Za-z\u017f\u212a"
_PATTERN = re.compile(
    rf"\$(?:(?P<escaped>\$)|(?P<named>[{_LETTER}][{_LETTER}0-9]*)"
    rf"|\{{(?:(?P<braced>[{_LETTER}][{_LETTER}0-9]*(?::?[-+?](?:.*))?)\}}|(?P<invalid>)))"
)
# The operators, in the order compose-go lists them; the one found first in the expression wins.
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(ValueError):
    """``template`` is not a valid compose template (compose refuses the file)."""

    def __init__(self, template: str, message: str = ""):
        super().__init__(message or f"invalid interpolation template {template!r}")
        self.template = template


class MissingRequired(TemplateError):
    """``${VAR:?reason}`` / ``${VAR?reason}`` met an unset (or empty) variable."""

    def __init__(self, template: str, variable: str, reason: str):
        text = f"required variable {variable} is missing a value" + (f": {reason}" if reason else "")
        super().__init__(template, text)
        self.variable = variable
        self.reason = reason


def substitute(template: str, lookup: Lookup, on_missing: Optional[Callable[[str], None]] = None) -> str:
    """``template`` with every variable replaced, as compose does; raises :class:`TemplateError`."""
    errors: List[TemplateError] = []

    def replace(match: "re.Match[str]") -> str:
        try:
            return _replacement(match.group(0), lookup, on_missing)
        except TemplateError as exc:
            errors.append(exc)
            return ""

    result = _PATTERN.sub(replace, template)
    if errors:
        first = errors[0]
        if not isinstance(first, MissingRequired):
            raise TemplateError(template) from None
        raise first
    return result


def variables(template: str) -> List[Tuple[int, int, str]]:
    """(start, end, name) of every top-level expression of ``template``; ``$$`` is text, not a variable.

    set-images needs to know which characters of a value compose would
    replace (a variable that covers only the tag can be kept; one that covers
    the name cannot). Raises :class:`TemplateError` where compose would.
    """
    found: List[Tuple[int, int, str]] = []
    for match in _PATTERN.finditer(template):
        found.extend(_expressions(match.group(0), match.start()))
    return found


def _expressions(substring: str, offset: int) -> List[Tuple[int, int, str]]:
    head, rest = _split_at_closing_brace(substring)
    groups = _PATTERN.search(head)
    if groups is None or groups.group("invalid") is not None:
        raise TemplateError(substring)
    if groups.group("escaped"):
        return []
    name = groups.group("named") or _name(groups.group("braced"))
    found = [(offset, offset + len(head), name)]
    for match in _PATTERN.finditer(rest):  # compose interpolates the rest of a greedy match on its own
        found.extend(_expressions(match.group(0), offset + len(head) + match.start()))
    return found


def _name(braced: str) -> str:
    return re.match(rf"[{_LETTER}][{_LETTER}0-9]*", braced).group(0)


def _replacement(substring: str, lookup: Lookup, on_missing) -> str:
    operator = _first_operator(substring)
    head, rest = _split_at_closing_brace(substring)
    groups = _PATTERN.search(head)
    if groups is None:
        raise TemplateError(substring)
    if groups.group("escaped"):
        return "$"
    named, braced = groups.group("named"), groups.group("braced")
    if not named and not braced:
        raise TemplateError(substring)
    substitution = named or braced
    if braced and operator and operator in substitution:
        value = _apply(operator, substitution, lookup, on_missing, substring)
        return value + substitute(rest, lookup, on_missing)
    value = lookup(substitution)
    if value is None:
        if on_missing is not None:
            on_missing(substitution)
        return ""
    return value


def _first_operator(substring: str) -> Optional[str]:
    found = [(substring.find(op), op) for op in _OPERATORS if op in substring]
    return min(found)[1] if found else None


def _apply(operator: str, substitution: str, lookup: Lookup, on_missing, template: str) -> str:
    name, _, argument = substitution.partition(operator)
    value = lookup(name)
    if operator in (":-", "-"):
        if value is None or (operator == ":-" and value == ""):
            return substitute(argument, lookup, on_missing)  # a default is resolved only when used
        return value
    if operator in (":+", "+"):
        if value is not None and (operator == "+" or value != ""):
            return substitute(argument, lookup, on_missing)
        return value or ""
    if value is None or (operator == ":?" and value == ""):
        raise MissingRequired(template, name, substitute(argument, lookup, on_missing))
    return value


def _split_at_closing_brace(text: str) -> Tuple[str, str]:
    """compose-go's getFirstBraceClosingIndex: after the first ``}`` that balances the braces so far
    (each ``{`` opens one and hides the character after it)."""
    depth, index = 0, 0
    while index < len(text):
        char = text[index]
        if char == "}":
            depth -= 1
            if depth == 0:
                return text[:index + 1], text[index + 1:]
        if char == "{":
            depth += 1
            index += 1
        index += 1
    return text, ""
