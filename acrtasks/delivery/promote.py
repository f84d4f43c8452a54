"""promote: a pushed release copied from one registry (or namespace) to others, nothing built.

The source is the release record (``release-<version>`` at ``--from``): every component with its aliases and
``latest`` refs, every dependency. Each destination names them by its own rules (flat on ACR, nested
elsewhere) and gets the record too. Each image is read once for all destinations (copy.fanout): a blob is
mounted where the registry already holds it (another namespace of the same registry mounts everything), and
streamed once to every destination that lacks it. A destination that refuses does not stop the others.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..config import DROP_ALL, DROP_ARTIFACTS
from ..copy.fanout import FanTarget, InFlight, copy_to_all
from ..copy.locations import BlobLocations
from ..copy.remote import RegistrySource, RegistryTarget, UploadSessions
from ..errors import AcrError, RegistryPreflightError, UsageError, explain
from ..naming import ImageRef, Naming, naming_for
from ..release.images import component_images
from ..util import retry
from ..util.console import Console, human_bytes
from ..util.jobs import run_jobs
from ..release import record as records


@dataclass
class Destination:
    text: str  # as given to --to
    naming: Naming
    drop_attestations: str = ""  # config.drops_attestations
    error: str = ""  # why nothing (more) goes there: the preflight refused, or a copy failed


@dataclass
class Item:
    """One image of the release: where it is read, and its refs at every destination."""

    kind: str  # component | dependency
    name: str  # the component, or the dependency's source
    source: ImageRef  # ref@digest at --from
    # (destination index, its refs in one repository): each is one fan-out target, whose other tags get the
    # manifest only
    targets: List[Tuple[int, List[ImageRef]]] = field(default_factory=list)
    results: Dict[int, FanTarget] = field(default_factory=dict)  # position in ``targets`` -> how it went

    def at(self, index: int):
        """(position, refs, result or None) of the destination ``index``."""
        return [(n, refs, self.results.get(n)) for n, (dest, refs) in enumerate(self.targets) if dest == index]


@dataclass
class PromotePlan:
    version: str
    record: records.Record
    source_ref: ImageRef  # where the record was read
    destinations: List[Destination]
    items: List[Item]
    platforms: Sequence[str] = ()  # only these platforms of an index (--platform, else [deps] platforms: no)


def _naming(settings, text: str, what: str) -> Naming:
    config = settings.config
    try:
        naming = naming_for(config.project, config.image_prefix, text, settings.layout_setting, config.flat_hosts)
    except AcrError as exc:
        raise UsageError(f"{what} {text!r}: {exc}") from None
    if naming.registry is None:
        raise UsageError(f"{what} needs a registry, host[:port][/namespace]")
    return naming


def plan_promote(settings, clients, source: str, destinations: Sequence[str], drops,
                 components: Sequence[str] = (), platforms: Sequence[str] = ()) -> PromotePlan:
    """Read the release record at ``source`` and name every image at each destination (nothing written);
    ``components``: only those, without the dependencies; ``platforms``: only those of each index."""
    if not source:
        raise UsageError("promote from where? --from host[/namespace] (where the release was pushed)")
    if not destinations:
        raise UsageError("promote to where? --to host[/namespace] (repeatable)")
    version = settings.version
    src_naming = _naming(settings, source, "--from")
    dests = [Destination(text, _naming(settings, text, "--to")) for text in dict.fromkeys(destinations)]
    for dest in dests:
        dest.drop_attestations = drops(dest.naming.registry.host)
        if dest.naming.registry == src_naming.registry and dest.naming.namespace == src_naming.namespace \
                and dest.naming.layout == src_naming.layout:
            raise UsageError(f"--to {dest.text} is where the release already is (--from {source})")
    ref = records.record_ref(src_naming, version)
    try:
        found = records.read(clients, ref)
    except AcrError as exc:
        raise RegistryPreflightError(f"nothing promoted: reading the release record: {explain(exc)}") from None
    if found is None:
        raise RegistryPreflightError(f"nothing promoted: there is no release record {ref} (push the release there first; "
                             "a push writes it)")
    items = []
    for name in records.components_of(found, components):
        entry = found.components[name]
        at = entry.own_ref()
        if at is None:
            raise RegistryPreflightError(f"nothing promoted: the record names no ref of {name} at its digest")
        item = Item("component", name, ImageRef(at.host, at.repository, None, entry.digest))
        for index, dest in enumerate(dests):
            refs = component_images(dest.naming, version, name, entry.aliases, entry.latest).registry_refs
            _group(item, index, refs)
        items.append(item)
    for dep in () if components else found.dependencies:
        at = ImageRef.parse(dep.target)
        item = Item("dependency", dep.source, ImageRef(at.host, at.repository, None, dep.digest))
        for index, dest in enumerate(dests):
            _group(item, index, [dest.naming.dependency(dep.source, settings.config.deps_rename).target])
        items.append(item)
    return PromotePlan(version, found, ref, dests, items, tuple(platforms))


def _group(item: Item, index: int, refs: Sequence[ImageRef]) -> None:
    """A destination's refs of one image, by repository."""
    by_repo: Dict[Tuple[str, str], List[ImageRef]] = {}
    for ref in refs:
        by_repo.setdefault((ref.host, ref.repository), []).append(ref)
    item.targets.extend((index, group) for group in by_repo.values())


def describe(plan: PromotePlan) -> List[str]:
    only = f", only {', '.join(plan.platforms)}" if plan.platforms else ""
    lines = [f"promote release {plan.version} from {plan.source_ref.locator} ({len(plan.items)} image(s){only}) to "
             f"{len(plan.destinations)} destination(s):"]
    for index, dest in enumerate(plan.destinations):
        extra = {DROP_ALL: ", attestations dropped",
                 DROP_ARTIFACTS: ", attestations in the OCI-artifact form dropped (refused there)"
                 }.get(dest.drop_attestations, "")
        lines.append(f"  {dest.text} ({dest.naming.layout}{extra}):")
        for item in plan.items:
            for _, refs, _ in item.at(index):
                lines.extend(f"    {item.source.repository}@{item.source.digest[7:19]} -> {ref}" for ref in refs)
        lines.append(f"    record {records.record_ref(dest.naming, plan.version)}")
    return lines


def preflight(plan: PromotePlan, check, console: Console) -> None:
    """Each destination's preflight (``check(refs, what)``: Run.preflight), all at once: one that refuses is
    left out and said why, the others go on. RegistryPreflightError when no destination takes a push."""

    def one(index: int) -> str:
        refs = [ref for item in plan.items for _, group, _ in item.at(index) for ref in group]
        try:
            check(refs, f"nothing promoted to {plan.destinations[index].text}")
        except RegistryPreflightError as exc:
            return str(exc)
        return ""

    count = len(plan.destinations)
    for dest, error in zip(plan.destinations, run_jobs(one, range(count), count)):
        if error:
            dest.error = error
            console.warn(error)
    if all(dest.error for dest in plan.destinations):
        raise RegistryPreflightError("nothing promoted: no destination takes a push (see above)")


def _carry(source, digest: str, fan, sessions, locations, finder) -> str:
    """Its signatures and attestations beside the promoted image (supply.carry), where it kept its digest."""
    from ..supply.carry import carry

    if fan.result.digest != digest:  # reduced: they sign the source's digest, not this one
        return ""
    carried = carry(source, digest, fan.target.client, fan.target.repo, sessions, locations, finder)
    return f"; {carried.describe()}" if carried.copied or carried.refused else ""


def run_promote(plan: PromotePlan, clients, console: Console, jobs: int) -> None:
    """Copy every image to every destination still standing, then write each destination's record."""
    from ..supply.carry import Finder

    sessions = UploadSessions()
    in_flight = InFlight()
    locations = BlobLocations.default()  # shared: a blob one repository received is mounted into the next
    finder = Finder()  # each source repository's signatures found from its tag list, read once

    def one(item: Item) -> Item:
        source = RegistrySource(clients.get(item.source.host), item.source.repository)
        fans = []
        for position, (index, refs) in enumerate(item.targets):
            dest = plan.destinations[index]
            if dest.error:
                continue
            first = refs[0]
            fan = FanTarget(RegistryTarget(clients.get(first.host), first.repository, first.tag, sessions, locations),
                            [ref.tag for ref in refs[1:]], dest.drop_attestations, first.host)
            item.results[position] = fan
            fans.append(fan)
        if fans:
            copy_to_all(source, item.source.digest, fans, in_flight=in_flight,
                        tag_for=lambda fan, tag: RegistryTarget(fan.target.client, fan.target.repo, tag, sessions),
                        platforms=plan.platforms)
        for position, fan in item.results.items():
            refs = item.targets[position][1]
            if fan.error is not None:
                console.say(f"failed    {item.source.repository} -> {refs[0]}: {explain(fan.error)}")
            else:
                size = f", {human_bytes(fan.result.bytes_uploaded)} uploaded" if fan.result.bytes_uploaded else ""
                reduced = f"; {fan.result.reduced}" if fan.result.reduced else ""
                attached = _carry(source, item.source.digest, fan, sessions, locations, finder)
                console.say(f"{fan.result.status:<9} {refs[0]} ({fan.result.digest}{size}{reduced}{attached})")
        return item

    try:
        run_jobs(one, plan.items, jobs, on_interrupt=sessions.cancel_all)
    finally:
        locations.save()

    def record(index: int) -> None:
        """The record at destination ``index``, unless something of the release failed to arrive there."""
        dest = plan.destinations[index]
        failed = [fan for item in plan.items for _, _, fan in item.at(index) if fan and fan.error is not None]
        if failed and not dest.error:
            dest.error = f"{len(failed)} image(s) failed, first: {explain(failed[0].error)}"
        if dest.error:
            return
        try:
            ref = records.record_ref(dest.naming, plan.version)
            records.write(clients, ref, record_at(plan, index), sessions)
            console.say(f"record    {ref}")
        except AcrError as exc:
            dest.error = f"the release record could not be written: {explain(exc)}"

    # every destination's at once: each is a few round trips (blobs, manifest, the check), far ones the longest
    count = len(plan.destinations)
    run_jobs(record, range(count), count, on_interrupt=sessions.cancel_all)


def record_at(plan: PromotePlan, index: int) -> records.Record:
    """The release record as it is at destination ``index``: its refs, the digests it holds."""
    components, dependencies = {}, []
    for item in plan.items:
        digests = {str(ref): fan.result.digest for _, refs, fan in item.at(index) for ref in refs}
        result = next(fan.result for _, _, fan in item.at(index))
        if item.kind == "component":
            own = plan.destinations[index].naming.component_ref(item.name, plan.version)
            components[item.name] = plan.record.components[item.name].promoted(
                digests, own, result.image_platforms, result.source_digest)
        else:
            target = next(iter(digests))
            dependencies.append(records.DependencyEntry(item.name, target, digests[target], result.source_digest))
    return records.Record(plan.record.project, plan.version, records.utc_now(), components, tuple(dependencies))


def summary(plan: PromotePlan, console: Console) -> Optional[str]:
    """The table of what went where; a failure line when a destination failed (None when none did)."""
    rows = []
    for item in plan.items:
        for position, fan in item.results.items():
            index, refs = item.targets[position]
            status = fan.result.status if fan.error is None and fan.result else "failed"
            rows.append((plan.destinations[index].text, str(refs[0]), status,
                         fan.result.digest if fan.result and fan.error is None else "-",
                         human_bytes(fan.bytes_uploaded)))
    console.say()
    console.table(("destination", "ref", "status", "digest", "uploaded"), rows, keep=2)
    retry.WAITED.say(console.say)
    failed = [dest for dest in plan.destinations if dest.error]
    for dest in failed:
        console.say(f"{dest.text}: {dest.error}")
    if failed:
        return (f"{len(failed)} of {len(plan.destinations)} destination(s) failed: "
                f"{', '.join(dest.text for dest in failed)}")
    return None
