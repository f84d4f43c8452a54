"""A Dockerfile read as far as the plan needs it: its text (bounded), and the images it builds on.

Both the build plan and the dependencies (``[deps] bases``) read Dockerfiles; neither needs the other.
"""

import re
from pathlib import Path
from typing import Dict, List, Tuple

from .errors import NamingError, PreflightError
from .naming import ImageRef

MAX_DOCKERFILE = 4 << 20


_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _substitute(text: str, values: Dict[str, str]) -> str:
    """Dockerfile variable substitution, as far as FROM lines use it: $X, ${X}, ${X:-word}, ${X:+word}."""
    def replace(match: "re.Match[str]") -> str:
        name = match.group(1) or match.group(4)
        value = values.get(name, "")
        operator, word = match.group(2), match.group(3) or ""
        if operator in (":-", "-"):
            return value if (value or (operator == "-" and name in values)) else word
        if operator in (":+", "+"):
            return word if (value or (operator == "+" and name in values)) else ""
        return value

    return _VARIABLE.sub(replace, text)


def _instructions(text: str) -> List[Tuple[str, str]]:
    """(INSTRUCTION, rest) of each instruction, continuation lines joined and comments dropped."""
    escape = "\\"
    lines = text.splitlines()
    for line in lines:  # parser directives come first, before any other line
        match = re.match(r"\s*#\s*escape\s*=\s*(\S)\s*$", line, re.IGNORECASE)
        if match:
            escape = match.group(1)
            break
        if not re.match(r"\s*#\s*\w+\s*=", line):
            break
    result, current = [], ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.endswith(escape):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def base_images(dockerfile_text: str, build_args: Dict[str, str]) -> List[str]:
    """The images a Dockerfile builds on, as the builder names them: ``FROM`` images (global ARGs and build
    args substituted) and ``COPY/ADD --from=image``; not ``scratch``, not its own stages."""
    args: Dict[str, str] = {}
    stages: set = set()
    bases: List[str] = []
    seen_from = False
    for word, rest in _instructions(dockerfile_text):
        if word == "ARG" and not seen_from:
            for item in rest.split():
                name, has_default, default = item.partition("=")
                args[name] = build_args.get(name, default.strip("\"'") if has_default else args.get(name, ""))
        elif word == "FROM":
            seen_from = True
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                continue
            image = _substitute(words[0], args)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image and image.lower() != "scratch" and image.lower() not in stages:  # blank: the build fails
                bases.append(image)
        elif word in ("COPY", "ADD"):
            for option in rest.split():
                if option.startswith("--from="):
                    name = _substitute(option[len("--from="):], args)
                    if name.lower() not in stages and not name.isdigit():
                        bases.append(name)
    return list(dict.fromkeys(bases))


def dockerfile_bases(dockerfile_text: str, build_args: Dict[str, str], image_prefix: str) -> List[str]:
    """:func:`base_images` less those named with ``image_prefix`` (our own components: not dependencies, never
    pulled from elsewhere) and those no registry could hold (an unset build arg)."""
    kept = []
    for base in base_images(dockerfile_text, build_args):
        try:
            if not ImageRef.parse(base).name.startswith(image_prefix):
                kept.append(base)
        except NamingError:
            continue
    return kept


def dockerfile_text(component: str, path: Path) -> str:
    """A Dockerfile's text as the plan reads it (bytes that are not UTF-8 replaced: only the builder judges)."""
    return dockerfile_bytes(component, path).decode("utf-8", "replace")


def dockerfile_bytes(component: str, path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DOCKERFILE + 1)
    except OSError as exc:
        raise PreflightError(f"component {component!r}: reading {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCKERFILE:
        raise PreflightError(f"component {component!r}: {path} is over {MAX_DOCKERFILE >> 20} MiB; that is not a "
                             "Dockerfile")
    return data
