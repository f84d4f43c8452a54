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
import stat
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from ..errors import PreflightError
from ..dockerfile import base_images, dockerfile_bytes
from .plan import BuildStep

CHUNK = 1 << 20


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


#: Resolves a base image, as written, to a digest ("" when neither the engine nor a registry knows it).
Resolver = Callable[[str], str]


def read_dockerfile(step: BuildStep) -> bytes:
    return dockerfile_bytes(step.component, step.context / step.dockerfile)


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
        "attestations": "drop" if step.drop_attestations else ";".join(
            [f"sbom={step.sbom_generator or 'default'}" if step.sbom else "builder",
             *([f"provenance={step.provenance}"] if step.provenance else []),
             *([f"form={step.attestation_form}"] if step.attestation_form else [])]),
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
