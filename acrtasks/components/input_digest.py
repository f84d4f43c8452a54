"""A component's input digest: everything its build reads, hashed, so an unchanged component is not rebuilt.

The parts (each hashed on its own, so the plan can say *which* changed):

- ``context``: every file the builder is sent, ``.dockerignore`` applied (docker-py's port of moby's
  pattern matcher, the rules ``docker build`` applies), with each file's path, mode and bytes;
- ``dockerfile``: the Dockerfile's bytes (it may live outside the context);
- ``build_args``: each expanded build arg's value, by name (hashed: the record is public);
- ``target``, ``platforms`` and ``secrets`` (their ids only: a value is never read here);
- ``network`` (what RUN steps can reach) and ``attestations`` (dropped, an SBOM, or the builder's default);
- ``bases``: each base image (``FROM``, ``COPY --from=image``) resolved to a digest, so a moved tag is a
  change; a base that cannot be resolved makes the component a change every time.

The OCI labels (version, created, revision) are not inputs: a component whose inputs are unchanged gets a new
config stating them (see :mod:`acrtasks.components.relabel`).
"""

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import PreflightError
from .plan import BuildStep

#: The label every built image carries: its input digest (README, "Build only what changed").
LABEL = "org.acrtasks.input.digest"
CHUNK = 1 << 20
#: A Dockerfile bigger than this is not one (moby's parser refuses far less in practice).
MAX_DOCKERFILE = 4 << 20


class Inputs(NamedTuple):
    """A component's input digest and the digests of its parts (see the module docstring)."""

    digest: str
    parts: Dict[str, object]

    def changes(self, earlier: Dict[str, object]) -> List[str]:
        """What differs from an earlier build's parts, in words: ``build arg VERSION changed``, ..."""
        said = []
        for name in ("context", "dockerfile", "target", "platforms", "secrets", "network", "attestations"):
            if self.parts.get(name) != earlier.get(name):
                said.append(f"{name} changed")
        for kind, what in (("build_args", "build arg"), ("bases", "base image")):
            mine = self.parts.get(kind) or {}
            theirs = earlier.get(kind) if isinstance(earlier.get(kind), dict) else {}
            for name in sorted(set(mine) | set(theirs)):
                if mine.get(name) != theirs.get(name):
                    said.append(f"{what} {name} {'changed' if name in mine and name in theirs else 'added' if name in mine else 'removed'}")
        return said or ["inputs changed"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def context_digest(context: Path, dockerfile: str) -> str:
    """The build context as the builder receives it: paths, modes and bytes of what .dockerignore lets through."""
    from docker.utils.build import exclude_paths

    patterns = _ignore_patterns(context)
    total = hashlib.sha256()
    try:
        paths = sorted(exclude_paths(str(context), patterns, dockerfile=dockerfile))
    except OSError as exc:
        raise PreflightError(f"reading the build context {context}: {exc.strerror or exc}") from None
    for relative in paths:
        path = context / relative
        try:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entry = f"L {relative} {os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                entry = f"D {relative} {info.st_mode & 0o7777:o}"
            elif stat.S_ISREG(info.st_mode):
                entry = f"F {relative} {info.st_mode & 0o7777:o} {_file_sha256(path)}"
            else:
                continue  # sockets, fifos: the builder does not send them either
        except OSError as exc:
            raise PreflightError(f"reading the build context: {path}: {exc.strerror or exc}") from None
        total.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    return "sha256:" + total.hexdigest()


def churn_warnings(settings, steps: Sequence[BuildStep]) -> List[str]:
    """What makes a component's input digest change in every release, each with its one-line fix: a build arg
    taking ``{version}``, and a context that sends ``.git`` to the builder (no ``.dockerignore`` leaving it out)."""
    from docker.utils.build import PatternMatcher

    said = []
    for step in steps:
        component = settings.config.components[step.component]
        versioned = [name for name, (value, _) in settings.written_build_args(component).items()
                     if "{version}" in value]
        if versioned:
            said.append(f"component {step.component}: build arg {', '.join(versioned)} takes {{version}}, so every "
                        "release rebuilds it; drop it and read the image's version label instead "
                        "(docs/releases.md, \"Keeping the version out of the image\")")
        if (step.context / ".git").exists() and not PatternMatcher(_ignore_patterns(step.context)).matches(".git"):
            said.append(f"component {step.component}: its context {step.context} sends .git to the builder, so "
                        "every commit changes its input digest; add `.git` to its .dockerignore")
    return said


def _ignore_patterns(context: Path) -> List[str]:
    """The context's ``.dockerignore`` patterns, as ``docker build`` reads them."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    return [line.strip() for line in ignore.read_text(errors="replace").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    from ..errors import NamingError
    from ..naming import ImageRef

    kept = []
    for base in base_images(dockerfile_text, build_args):
        try:
            if not ImageRef.parse(base).name.startswith(image_prefix):
                kept.append(base)
        except NamingError:
            continue
    return kept


#: Resolves a base image, as written, to a digest ("" when neither the engine nor a registry knows it).
Resolver = Callable[[str], str]


def read_dockerfile(step: BuildStep) -> bytes:
    return _dockerfile_bytes(step.component, step.context / step.dockerfile)


def dockerfile_text(component: str, path: Path) -> str:
    """A Dockerfile's text as the plan reads it (bytes that are not UTF-8 replaced: only the builder judges)."""
    return _dockerfile_bytes(component, path).decode("utf-8", "replace")


def _dockerfile_bytes(component: str, path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DOCKERFILE + 1)
    except OSError as exc:
        raise PreflightError(f"component {component!r}: reading {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCKERFILE:
        raise PreflightError(f"component {component!r}: {path} is over {MAX_DOCKERFILE >> 20} MiB; that is not a "
                             "Dockerfile")
    return data


def inputs_of(step: BuildStep, resolve: Resolver) -> Inputs:
    """The input digest of one planned build (see the module docstring)."""
    dockerfile = read_dockerfile(step)
    bases = base_images(dockerfile.decode("utf-8", "replace"), step.build_args)
    parts: Dict[str, object] = {
        "context": context_digest(step.context, step.dockerfile),
        "dockerfile": sha256(dockerfile),
        "build_args": {name: sha256(value.encode()) for name, value in sorted(step.build_args.items())},
        "target": step.target,
        "platforms": sorted(step.platforms),
        "secrets": sorted(secret_id for secret_id, _, _ in step.secrets),
        "bases": {name: resolve(name) for name in bases},
        # what else changes the result: RUN's network, and the attestations attached (an SBOM, or none)
        "network": step.network,
        "attestations": "drop" if step.drop_attestations else f"sbom={step.sbom_generator or 'default'}"
        if step.sbom else "builder",
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return Inputs(sha256(canonical), parts)


def unresolved_bases(inputs: Inputs) -> Sequence[str]:
    """Bases no digest was found for: such a component is built every time."""
    bases = inputs.parts.get("bases") or {}
    return [name for name, digest in bases.items() if not digest]


def resolver(engine_factory: Callable, registry_digest: Optional[Callable[[str], Optional[str]]],
             engine_first: bool) -> Resolver:
    """A base image's digest: pinned in its name, else the local engine's image id (what a build in the engine
    uses), else what its registry's tag points at (what a remote builder pulls); ``engine_first`` False (a builder
    that pulls) asks the registry first. Each name is resolved once."""
    cache: Dict[str, str] = {}

    def from_engine(name: str) -> str:
        from ..errors import AcrError
        from ..naming import ImageRef

        try:
            return engine_factory().image_id(ImageRef.parse(name)) or ""
        except AcrError:
            return ""

    def from_registry(name: str) -> str:
        return (registry_digest(name) or "") if registry_digest is not None else ""

    def resolve(name: str) -> str:
        if name not in cache:
            if "@" in name:
                cache[name] = name.rsplit("@", 1)[1]
            else:
                order = (from_engine, from_registry) if engine_first else (from_registry, from_engine)
                cache[name] = order[0](name) or order[1](name)
        return cache[name]

    return resolve
