"""show-release and promote: a release as one unit, read from its record (``acrtasks.release.record``)."""

from ..config import check_attestations, check_platforms, drops_attestations, positive_int
from ..errors import OperationFailed, RegistryPreflightError, UsageError
from ..util.console import Console
from .common import boundary, dry_footer, is_dry, shared, start, task


@task(name="show-release", help=shared(
    "registry", "version", "layout",
    json="print the record as JSON (as stored) instead of tables"))
@boundary
def show_release(c, registry=None, version=None, layout=None, json_=False):
    """Print a release's record: each component's refs, digest, input digest and platforms; dependencies; signatures."""
    from ..release import record as records

    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    ref = records.record_ref(settings.naming, settings.version)
    if ref is None:
        raise UsageError("which registry? pass --registry host[/namespace] (or [registry] url)")
    found = records.read(run.clients(), ref)
    if found is None:
        raise RegistryPreflightError(f"no release record {ref} (a push of version {settings.version} writes it)")
    if json_:
        print(found.to_json().decode())
        return
    console = Console()
    console.say(f"release {found.version} of {found.project or settings.config.project}, recorded {found.created} "
                f"at {ref}")
    rows = []
    for name, entry in sorted(found.components.items()):
        since = f"unchanged since {entry.since}" if entry.since else "built"
        refs = sorted(entry.refs, key=lambda r: (entry.refs[r] != entry.digest, r))
        rows.append((name, refs[0], entry.digest, ",".join(entry.platforms) or "-", since))
        rows.extend(("", other, entry.refs[other] if entry.refs[other] != entry.digest else "", "", "")
                    for other in refs[1:])
    console.say()
    console.table(("component", "refs", "digest", "platforms", "build"), rows, keep=2)
    if found.dependencies:
        console.say()
        console.table(("dependency", "target", "digest"),
                      [(d.source, d.target, d.digest) for d in found.dependencies], keep=2)
    if found.signatures:
        console.say()
        console.table(("signed image", "signature", "digest"),
                      [(entry.image, entry.signature, entry.digest) for entry in found.signatures], keep=2)


@task(iterable=["to", "component", "platform"], help=shared(
    "version", "layout", "attestations", "no_preflight",
    component="only this component of the release (repeatable, or a,b), without the dependencies; default: every "
              "component its record holds, and its dependencies",
    **{"from": "where the release is: host[:port][/namespace], as pushed (its release record is read there)"},
    to="where it goes: host[:port][/namespace] (repeatable: each image is read once for all of them)",
    jobs="images copied at once (default 4)",
    platform="copy only this platform of each index, os/arch[/variant] (repeatable; every image must have each); "
             "default: every platform"))
@boundary
def promote(c, version=None, from_=None, to=None, component=None, layout=None, attestations=None, no_preflight=False,
            jobs=None, platform=None):
    """Copy a pushed release (components, aliases, latest, dependencies) to other registries; nothing built."""
    from ..delivery import promote as promotion

    check_attestations(attestations)
    check_platforms(platform or ())
    job_count = positive_int(jobs, "--jobs") if jobs is not None else 4
    run = start(c)
    settings = run.settings(Console().warn, version=version, layout=layout)
    plan = promotion.plan_promote(settings, run.clients(), from_ or "", to or [],
                                  lambda host: drops_attestations(settings.config, host, attestations), component or (),
                                  platform or ())
    console = Console()
    for line in promotion.describe(plan):
        console.say(line)
    if is_dry(c):
        return dry_footer(run)
    if not no_preflight:
        promotion.preflight(plan, run.preflight, console)
    promotion.run_promote(plan, run.clients(), console, job_count)
    failed = promotion.summary(plan, console)
    if failed:
        raise OperationFailed(failed)

