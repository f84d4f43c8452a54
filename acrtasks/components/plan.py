"""The plan: every build, tag and push a task will do, computed before doing any.

``--dry`` prints it, the executors (``builder``, ``pusher``) carry it out, and
tests read it: all three see the same value.
"""

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..util import gitinfo
from ..config import DROP_ALL, Settings, attestation_form, drops_attestations
from ..errors import PreflightError, UsageError
from ..naming import ImageRef
from ..release.images import release_of

_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
MASK = "***"

#: The label every built image carries: its input digest (README, "Build only what changed").
LABEL = "org.acrtasks.input.digest"


def is_secret_name(name: str) -> bool:
    """Build args whose name looks secret are never printed."""
    return bool(_SECRET_NAME.search(name))


def masked(args: Dict[str, str]) -> Dict[str, str]:
    return {name: (MASK if is_secret_name(name) else value) for name, value in args.items()}


@dataclass(frozen=True)
class BuildStep:
    component: str
    context: Path
    dockerfile: str
    target: str
    build_args: Dict[str, str]
    labels: Dict[str, str]
    refs: Tuple[ImageRef, ...]  # the local name first, then registry refs
    secrets: Tuple[Tuple[str, str, str], ...] = ()  # (id, "env" | "file", variable or path): never a value
    network: str = ""  # "" = the engine's default
    platforms: Tuple[str, ...] = ()  # () = the engine's own
    cache: Optional[ImageRef] = None  # the registry build cache (buildx: --cache-from/--cache-to there)
    drop_attestations: bool = False  # buildx: --provenance=false --sbom=false
    sbom: bool = False  # buildx: --sbom=true, where attestations are kept
    sbom_generator: str = ""  # buildx: --sbom=generator=IMAGE instead of BuildKit's default scanner
    provenance: str = ""  # buildx: --provenance=mode=min|max, or =false; "" = the builder's default (min)
    attestation_form: str = ""  # "index": inside the image's index (oci-artifact=false, ACR); "": builder's default
    arg_sources: Tuple[Tuple[str, str], ...] = ()  # (build arg, where it came from: table, env file), for the plan
    bases: Tuple[str, ...] = ()  # the images its Dockerfile builds on, as written (input_digest.dockerfile_bases)

    @property
    def local_ref(self) -> ImageRef:
        return self.refs[0]


@dataclass(frozen=True)
class PushStep:
    component: str
    refs: Tuple[ImageRef, ...]  # registry refs, all tags of one local image
    local_ref: ImageRef


def oci_labels(settings: Settings, created: Optional[str] = None) -> Dict[str, str]:
    """The OCI annotations every image gets: version, revision, created, source."""
    from ..release import record

    root = settings.config.root
    labels = {
        "org.opencontainers.image.version": settings.version,
        "org.opencontainers.image.revision": gitinfo.revision(root),
        "org.opencontainers.image.created": created or record.utc_now(),
        "org.opencontainers.image.source": gitinfo.source_url(root),
    }
    return {key: value for key, value in labels.items() if value}


def plan_builds(settings: Settings, selected: Sequence[str] = (), labels: Optional[Dict[str, str]] = None,
                network: Optional[str] = None, platforms: Sequence[str] = (),
                attestations: Optional[str] = None) -> List[BuildStep]:
    """One step per selected component, with every ref and expanded build arg; checks contexts exist and
    every secret's source is there (its value is never read here)."""
    from ..dockerfile import dockerfile_bases, dockerfile_text

    labels = oci_labels(settings) if labels is None else labels
    config = settings.config
    network = config.network if network is None else network
    steps = []
    release = release_of(settings)
    host = settings.naming.registry.host if settings.naming.registry else ""
    drop = drops_attestations(config, host, attestations) == DROP_ALL
    form = attestation_form(config, host)
    for component in settings.components(selected):
        dockerfile = component.context / component.dockerfile
        if not component.context.is_dir():
            raise PreflightError(f"component {component.name!r}: context {component.context} is not a directory")
        if not dockerfile.is_file():
            raise PreflightError(f"component {component.name!r}: no Dockerfile at {dockerfile}")
        refs = release.component(component.name).refs
        cache = None
        if (component.cache or config.cache) == "registry":
            cache = settings.naming.cache_ref(component.name)
            if cache is None:
                raise UsageError(f"component {component.name!r}: cache = \"registry\" keeps the build cache in "
                                 "the registry: pass --registry (or [registry] url)")
        for secret_id, kind, source in component.secrets:
            if kind == "env" and source not in os.environ:
                raise PreflightError(f"component {component.name!r}: secret {secret_id} comes from ${source}, "
                                     "which is not set; export it (its value is never printed)")
            if kind == "file" and not (os.path.isfile(source) and os.access(source, os.R_OK)):
                raise PreflightError(f"component {component.name!r}: secret {secret_id} comes from {source}, "
                                     "which is not a readable file")
        args = settings.build_args_from(component)
        values = {name: value for name, (value, _) in args.items()}
        text = dockerfile_text(component.name, dockerfile)
        steps.append(
            BuildStep(
                component=component.name,
                context=component.context,
                dockerfile=component.dockerfile,
                target=component.target,
                build_args=values,
                labels=dict(labels),
                refs=tuple(refs),
                secrets=component.secrets,
                network=network,
                platforms=tuple(platforms or component.platforms or config.platforms),  # the flag, then the table
                cache=cache,
                drop_attestations=drop,
                sbom=config.sbom and not drop,
                sbom_generator=config.sbom_generator,
                provenance="" if drop else config.provenance,
                attestation_form="" if drop else form,
                arg_sources=tuple((name, where) for name, (_, where) in args.items()),
                bases=tuple(dockerfile_bases(text, values, config.image_prefix)),
            )
        )
    return steps


def describe_attestations(step: BuildStep, attests: bool = True) -> str:
    """What the plan says a step's image carries: which attestations, in which form, or why none."""
    if step.drop_attestations:
        return "attestations dropped (--provenance=false --sbom=false)"
    if not attests:
        return "attestations: none (this builder makes none; buildx does)"
    what = [] if step.provenance == "false" else [f"provenance (mode={step.provenance or 'min'})"]
    if step.sbom:
        what.append("SBOM")
    if not what:
        return "attestations: none (provenance = false, no sbom)"
    form = ("inside the image's index (oci-artifact=false, the form ACR stores)" if step.attestation_form == "index"
            else "in the builder's default form")
    return f"attestations: {' and '.join(what)}, {form}"


def with_inputs(steps: Sequence[BuildStep], digests: Dict[str, str]) -> List[BuildStep]:
    """The steps with their input digest (input_digest) as a label: the image says what it was built from."""
    return [replace(step, labels={**step.labels, LABEL: digests[step.component]}) if step.component in digests
            else step for step in steps]


def plan_pushes(settings: Settings, selected: Sequence[str] = (), already_pushed=frozenset()) -> List[PushStep]:
    """One step per selected component: the registry refs its local image is pushed as. Refs a build of this
    run pushed itself (several platforms, buildx) are left out, and a component with none left is too."""
    if settings.naming.registry is None:
        raise PreflightError(
            "no registry to push to: pass --registry host[/namespace], set ACRTASKS_REGISTRY, "
            "or [registry] url in build.toml"
        )
    steps = []
    for images in release_of(settings).selected(selected):
        refs = tuple(ref for ref in images.registry_refs if ref not in already_pushed)
        if refs:
            steps.append(PushStep(component=images.name, refs=refs, local_ref=images.local))
    return steps


def describe_builds(steps: Sequence[BuildStep], parallel: int, no_cache: bool, root: Optional[Path] = None,
                    backend: str = "", decisions: Optional[Dict[str, object]] = None, registry: bool = False,
                    attests: bool = True) -> List[str]:
    """The plan in words, only what will be done; Dockerfiles inside ``root`` (build.toml's folder) are shown
    relative to it. ``decisions``: component -> components.changes.Decision (built, or unchanged since a release);
    ``registry``: an unchanged component gets its new refs in the registry at push, not tags here; ``attests``:
    the backend attaches attestations at all (buildx does; the classic builder and Docker 20.10's BuildKit
    do not)."""
    decisions = decisions or {}
    options = [f"up to {parallel} at once", *(["no cache"] if no_cache else [])]
    if steps and steps[0].network:
        options.append(f"network {steps[0].network}")
    unchanged = {name for name, decision in decisions.items() if not decision.build}
    built = sum(1 for step in steps if step.component not in unchanged)
    left = f", {len(steps) - built} unchanged" if built < len(steps) else ""
    lines = [f"build {built} image(s){left}, {', '.join(options)}:"]
    if backend:  # no `name:` form: it must not read as a component's line
        lines.append(f"  built with {backend}")
    for step in steps:
        where = step.context / step.dockerfile
        if root is not None and where.is_relative_to(root):
            where = where.relative_to(root)
        target = f" (target {step.target})" if step.target else ""
        lines.append(f"  {step.component}: {where}{target}")
        if step.component in decisions:
            lines.append(f"    {decisions[step.component].describe()}")
        if step.component in unchanged and registry:  # nothing is built or tagged in the engine for it
            lines.append("    not built here: push puts this version's refs on its image in the registry")
            continue
        if step.platforms:
            lines.append(f"    platform {','.join(step.platforms)}")
        if step.cache is not None:
            lines.append(f"    cache {step.cache} (registry, mode=max)")
        lines.append(f"    {describe_attestations(step, attests)}")
        lines.extend(f"    base {base}" for base in step.bases)
        sources = dict(step.arg_sources)
        for name, value in masked(step.build_args).items():
            lines.append(f"    --build-arg {name}={value}" + (f"  ({sources[name]})" if name in sources else ""))
        for secret_id, kind, source in step.secrets:
            lines.append(f"    --secret id={secret_id} (from {'$' + source if kind == 'env' else source})")
        for ref in step.refs:
            lines.append(f"    tag {ref}")
    return lines


def describe_pushes(steps: Sequence[PushStep], relabels: Optional[Dict[str, object]] = None) -> List[str]:
    """``relabels``: component -> components.changes.Decision of what is unchanged and not in the engine: its
    refs go on the earlier image in the registry, with new labels."""
    relabels = relabels or {}
    lines = [f"push {sum(len(s.refs) for s in steps)} ref(s):"]
    for step in steps:
        decision = relabels.get(step.component)
        if decision is not None:
            lines.append(f"  {step.component} (unchanged since {decision.since}: {decision.image} relabelled, no "
                         "layer uploaded):")
            lines.extend(f"    relabel {ref}" for ref in step.refs)
            continue
        lines.append(f"  {step.component} (local image {step.local_ref}):")
        lines.extend(f"    push {ref}" for ref in step.refs)
    return lines
