"""Tag rules: a dependency that names the tags it wants instead of one tag, resolved from the source's tag list.

    postgres:~15-alpine          the newest 15.x.y-alpine
    redis:>=7.2 <8               the newest 7.x from 7.2 on (npm's range grammar: ~ ^ >= > <= < = x * - ||)
    nginx:/^1\\.27\\.\\d+$/          the newest tag the regex matches in full
    busybox:^1 newest 3          the three newest (each is mirrored)

Versions are read from Docker tags as they are written: ``[v]MAJOR[.MINOR[.PATCH]][-VARIANT]``. The variant is
not a prerelease (``15.10-alpine`` is a release of 15.10 on Alpine): a rule matches only tags of its own variant
(``~15-alpine``: ``-alpine`` ones; ``~15``: tags with none). npm's prerelease rules are left out for that reason;
everything else follows node-semver's ranges (its own test tables are among ours).

A plain tag is never a rule: ``15.x`` is a tag; a rule starts with an operator or holds ``*``, a space, ``,``,
``||``, or is a ``/regex/``. Handwritten rather than python-semanticversion's NpmSpec: that needs full semver
(three numbers, ``-`` meaning a prerelease), which Docker tags are not; the grammar is 80 lines.
"""

import re
from typing import List, NamedTuple, Optional, Sequence, Tuple

from .errors import UsageError

Version = Tuple[int, int, int]
MAX_NEWEST = 100
_TAG_VERSION = re.compile(r"v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?(?:-([A-Za-z0-9][A-Za-z0-9._-]{0,100}))?\Z")
_COMPARATOR = re.compile(r"\s*(~>|~|\^|>=|<=|>|<|=)?\s*v?([0-9xX*]{1,9}(?:\.[0-9xX*]{1,9}){0,2})"
                         r"(?:-([A-Za-z0-9][A-Za-z0-9._-]{0,100}))?\s*,?")
_NEWEST = re.compile(r"(.*?)\s*\bnewest\s+(\d{1,3})\s*\Z", re.S)
_RULE_MARK = re.compile(r"^[~^<>=]|[*\s,]|\|\|")


class TagVersion(NamedTuple):
    numbers: Version
    given: int  # how many numbers the tag wrote (15.10: 2)
    variant: str


def tag_version(tag: str) -> Optional[TagVersion]:
    match = _TAG_VERSION.match(tag)
    if not match:
        return None
    given = [int(part) for part in match.groups()[:3] if part is not None]
    return TagVersion(tuple(given + [0] * (3 - len(given))), len(given), match.group(4) or "")  # type: ignore[arg-type]


Bound = Tuple[str, Version]  # (">=" | ">" | "<" | "<=" | "=", version)


class TagRule(NamedTuple):
    text: str  # as written, for messages
    sets: Tuple[Tuple[Tuple[Bound, ...], str], ...] = ()  # range: (bounds, variant) per ``||`` alternative
    pattern: Optional["re.Pattern[str]"] = None  # or a regex, matched in full
    newest: int = 1

    def matches(self, tag: str) -> bool:
        if self.pattern is not None:
            return self.pattern.fullmatch(tag) is not None
        version = tag_version(tag)
        return version is not None and any(
            version.variant == variant and all(_holds(version.numbers, op, bound) for op, bound in bounds)
            for bounds, variant in self.sets)

    def pick(self, tags: Sequence[str]) -> List[str]:
        """The tags this rule takes from ``tags``: the ``newest`` matching ones, newest first; a UsageError
        naming what was found when none matches or the newest cannot be told apart."""
        found = [tag for tag in dict.fromkeys(tags) if self.matches(tag)]
        if not found:
            near = ", ".join(sorted(tags, key=_order_key, reverse=True)[:8]) or "no tags at all"
            raise UsageError(f"tag rule {self.text!r} matches none of the {len(tags)} tag(s) (newest: {near})")
        versions = {tag: tag_version(tag) for tag in found}
        if any(version is None for version in versions.values()):
            if len(found) == 1:
                return found
            raise UsageError(f"tag rule {self.text!r} matches {len(found)} tags that are not all versions, so none "
                             f"is the newest: {', '.join(found[:8])}; narrow it to one")
        ordered = sorted(found, key=lambda tag: versions[tag].numbers, reverse=True)  # type: ignore[union-attr]
        chosen = ordered[:self.newest]
        last = versions[chosen[-1]].numbers  # type: ignore[union-attr]
        tied = [tag for tag in ordered[len(chosen):] if versions[tag].numbers == last]  # type: ignore[union-attr]
        if tied:
            same = [tag for tag in ordered if versions[tag].numbers == last]  # type: ignore[union-attr]
            raise UsageError(f"tag rule {self.text!r} is ambiguous: {', '.join(same)} are the same version; write "
                             "one of them as the tag")
        return chosen


def _order_key(tag: str) -> Tuple[int, Version, str]:
    version = tag_version(tag)
    return (1, version.numbers, tag) if version is not None else (0, (0, 0, 0), tag)


def _holds(version: Version, op: str, bound: Version) -> bool:
    return {">=": version >= bound, ">": version > bound, "<": version < bound, "<=": version <= bound,
            "=": version == bound}[op]


def split_rule(text: str) -> Optional[Tuple[str, TagRule]]:
    """``(image name, rule)`` when ``text`` names a tag rule, else None (a plain reference). A malformed rule is
    a UsageError naming it."""
    slash = text.find(":/")
    if slash > 0 and "/" in text[slash + 2:]:
        name, rest = text[:slash], text[slash + 1:]
        end = rest.rfind("/")
        pattern, tail = rest[1:end], rest[end + 1:]
        newest = _newest(tail, text, alone=True)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"tag rule {text!r}: the regex does not compile ({exc})") from None
        return name, TagRule(text, pattern=compiled, newest=newest)
    colon = text.find(":", text.rfind("/") + 1)  # the tag's colon: after the last path component's start
    if colon < 0:
        return None
    name, spec = text[:colon], text[colon + 1:]
    newest_match = _NEWEST.match(spec)
    if newest_match is None and not _RULE_MARK.search(spec):
        return None  # a plain tag (15.x and 15 are tags)
    newest = 1
    if newest_match is not None:
        spec, newest = newest_match.group(1), _newest(spec[len(newest_match.group(1)):], text, alone=False)
    return name, TagRule(text, _range(spec, text), newest=newest)


def _newest(tail: str, text: str, alone: bool) -> int:
    tail = tail.strip()
    if not tail:
        return 1
    match = re.fullmatch(r"newest\s+(\d{1,3})", tail)
    if not match or not 1 <= int(match.group(1)) <= MAX_NEWEST:
        raise UsageError(f"tag rule {text!r}: after the rule, only 'newest N' (1 to {MAX_NEWEST}) may follow")
    return int(match.group(1))


def _range(spec: str, text: str) -> Tuple[Tuple[Tuple[Bound, ...], str], ...]:
    sets = []
    for alternative in spec.split("||"):
        alternative = alternative.strip()
        if " - " in alternative:  # a hyphen range: A - B
            low, _, high = alternative.partition(" - ")
            (lo_op, lo_parts, lo_variant), (hi_op, hi_parts, hi_variant) = (
                _comparators(low, text)[0], _comparators(high, text)[0])
            if lo_op or hi_op or lo_variant != hi_variant:
                raise UsageError(f"tag rule {text!r}: a range A - B takes two plain versions")
            bounds = [b for b in _bounds(">=", lo_parts) if b[0] != "<"] + \
                [b for b in _bounds("<=", hi_parts) if b[0] in ("<", "<=")]
            sets.append((tuple(bounds), lo_variant))
            continue
        any_version: List[Tuple[str, List[Optional[int]], str]] = [("", [None], "")]  # "" and "||": any
        comparators = _comparators(alternative, text) if alternative else any_version
        variants = {variant for _, _, variant in comparators}
        if len(variants) > 1:
            raise UsageError(f"tag rule {text!r}: one variant per range (found {', '.join(sorted(variants))})")
        sets.append((tuple(b for op, parts, _ in comparators for b in _bounds(op, parts)), variants.pop()))
    return tuple(sets)


def _comparators(text: str, whole: str) -> List[Tuple[str, List[Optional[int]], str]]:
    found, at = [], 0
    while at < len(text):
        match = _COMPARATOR.match(text, at)
        if match is None or match.end() == at:
            raise UsageError(f"tag rule {whole!r}: cannot read {text[at:at + 20]!r} (a range is like ~15, ^7.2, "
                             ">=7.2 <8, 1.2.* or a /regex/)")
        parts = [None if part in "xX*" else int(part) for part in match.group(2).split(".")]
        found.append((match.group(1) or "", parts, match.group(3) or ""))
        at = match.end()
    if not found:
        raise UsageError(f"tag rule {whole!r}: an empty range")
    return found


def _bounds(op: str, parts: List[Optional[int]]) -> List[Bound]:
    """node-semver's desugaring of one comparator over a partial version (``1.2``, ``1.x``) into bounds."""
    numbers: List[int] = []
    for part in parts:
        if part is None:
            break
        numbers.append(part)
    given = len(numbers)
    base: Version = tuple(numbers + [0] * (3 - given))  # type: ignore[assignment]

    def bump(index: int) -> Version:
        head = numbers[:index + 1]
        head[index] += 1
        return tuple(head + [0] * (3 - len(head)))  # type: ignore[return-value]

    if given == 0:  # *, x, ~x, ^x, >=*: any version; <* none
        return [("<", (0, 0, 0))] if op in ("<", ">") else []
    if op in ("", "="):
        return [("=", base)] if given == 3 else [(">=", base), ("<", bump(given - 1))]
    if op in ("~", "~>"):
        return [(">=", base), ("<", bump(1 if given >= 2 else 0))]
    if op == "^":
        first = next((i for i, n in enumerate(numbers) if n != 0), given - 1)
        return [(">=", base), ("<", bump(min(first, given - 1)))]
    if op == ">=":
        return [(">=", base)]
    if op == ">":
        return [(">", base)] if given == 3 else [(">=", bump(given - 1))]
    if op == "<":
        return [("<", base)]
    return [("<=", base)] if given == 3 else [("<", bump(given - 1))]  # <=
