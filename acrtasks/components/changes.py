"""Build only what changed: each planned build is ``build`` (and why) or ``unchanged since <version>``.

With a registry, the reference is a release record (:mod:`acrtasks.release.record`): ``--since V``'s, else the
newest one of the project other than this version's (a tag list, then the record: two requests, three with the
tag list, whatever the number of components). An unchanged component's image must still be where the record
says: one HEAD per component. Without a registry, the local engine's images are the reference: an image of the
component's local repository labelled with the same input digest.

A decision is computed once per chain (``Run.changes``): ``build`` skips what is unchanged, ``push`` (or a
build that pushes) relabels it (:mod:`acrtasks.components.relabel`).
"""

from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import AcrError, Kind, RegistryError, UsageError
from ..naming import ImageRef, short_digest
from .input_digest import Inputs, inputs_of, resolver, unresolved_bases
from .plan import LABEL
from .plan import BuildStep


class Decision(NamedTuple):
    """What becomes of one planned build."""

    component: str
    inputs: Inputs
    build: bool
    why: str
    since: str = ""  # unchanged: the release (or local version) whose image it reuses
    image: Optional[ImageRef] = None  # unchanged: that image, ref@digest in the registry or a local name
    platforms: Tuple[str, ...] = ()

    def describe(self) -> str:
        return f"build: {self.why}" if self.build else f"unchanged since {self.since} ({self.why})"


def decide_registry(step: BuildStep, inputs: Inputs, earlier, held: Callable[[ImageRef], Optional[str]]
                    ) -> Decision:
    """Against a release record (``earlier``, None: the project's repository has none)."""
    def build(why: str) -> Decision:
        return Decision(step.component, inputs, True, why)

    unresolved = unresolved_bases(inputs)
    if unresolved:
        return build(f"base image {unresolved[0]} not found (engine, registry)")
    if earlier is None:
        return build("no earlier release record")
    entry = earlier.components.get(step.component)
    if entry is None:
        return build(f"not in release {earlier.version}")
    if not entry.input:
        return build(f"release {earlier.version} records no input digest for it")
    if entry.input_digest != inputs.digest:
        return build(", ".join(inputs.changes(entry.input["parts"])))
    component_ref = entry.own_ref()
    if component_ref is None:
        return build(f"release {earlier.version} names no ref holding its digest")
    try:
        found = held(component_ref)
    except RegistryError:
        found = None
    if found != entry.digest:
        return build(f"release {earlier.version}'s image is no longer at {component_ref}")
    return Decision(step.component, inputs, False, f"input digest {short_digest(inputs.digest)}",
                    earlier.version, ImageRef(component_ref.host, component_ref.repository, None, entry.digest),
                    entry.platforms)


def decide_local(step: BuildStep, inputs: Inputs, engine) -> Decision:
    """Against the local engine's images of the component's repository."""
    unresolved = unresolved_bases(inputs)
    if unresolved:
        return Decision(step.component, inputs, True, f"base image {unresolved[0]} not found (engine)")
    repository = step.local_ref.repository
    for image in engine.images_labelled(repository, LABEL, inputs.digest):
        tags = [tag for tag in image.get("RepoTags") or [] if tag.startswith(f"{repository}:")]
        if tags:
            labels = image.get("Labels") or {}
            since = labels.get("org.opencontainers.image.version") or tags[0].split(":", 1)[1]
            return Decision(step.component, inputs, False, f"local image {tags[0]}", since,
                            ImageRef.parse_engine_name(tags[0]))
    return Decision(step.component, inputs, True, f"no local image of {repository} has these inputs")


def decide(steps: Sequence[BuildStep], settings, clients, engine_factory: Callable, pushes: Callable[[BuildStep], bool],
           rebuild: bool = False, since: str = "") -> List[Decision]:
    """One decision per step (see the module docstring); ``pushes(step)``: its builder pulls bases from registries
    (so their registry digest counts first) and pushes the result."""
    from ..release import record as records

    # Asked once, without retries: a base or a registry that does not answer is "unknown", which makes the
    # component a build (the safe side); an offline `--dry` or build does not wait a minute for it.
    quick = clients.trying_once(timeout=10)

    def registry_digest(name: str) -> Optional[str]:
        from ..copy.remote import RegistrySource

        try:
            ref = ImageRef.parse(name)
            return RegistrySource(quick.get(ref.host), ref.repository).digest(ref.reference)
        except Exception:  # noqa: BLE001 - an unreachable or unknown base is "unresolved", decided below
            return None

    engine_resolve = resolver(engine_factory, registry_digest, engine_first=True)
    registry_resolve = resolver(engine_factory, registry_digest, engine_first=False)
    inputs = {step.component: inputs_of(step, registry_resolve if pushes(step) else engine_resolve)
              for step in steps}
    if rebuild:
        return [Decision(step.component, inputs[step.component], True, "--rebuild") for step in steps]
    naming = settings.naming
    if naming.registry is None:
        try:
            engine = engine_factory()
        except AcrError:  # --dry without an engine: the plan is still printed; a build stops at check_engine
            return [Decision(step.component, inputs[step.component], True, "no engine to compare with")
                    for step in steps]
        return [decide_local(step, inputs[step.component], engine) for step in steps]
    probe = records.record_ref(naming, settings.version)
    try:  # a push's preflight, later, stops on a registry that does not answer
        if since:
            at = probe.with_tag(records.TAG_PREFIX + since)
            earlier = records.read(quick, at)
            if earlier is None:
                raise UsageError(f"--since {since}: there is no release record {at}")
        else:
            earlier = records.newest(quick, naming, settings.version)
    except RegistryError as exc:
        if exc.kind == Kind.INTEGRITY:
            raise
        return [Decision(step.component, inputs[step.component], True,
                         f"the earlier release could not be read from {probe.host} ({exc.kind})") for step in steps]
    from ..copy.remote import held_by

    held = held_by(quick)
    return [decide_registry(step, inputs[step.component], earlier, held) for step in steps]
