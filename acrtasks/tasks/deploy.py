"""set-images: the release's refs written into deployment files, only their bytes changed (``acrtasks.deploy``)."""

import json
from pathlib import Path


from ..errors import OperationFailed, UsageError
from ..util.console import Console, count_line
from .common import boundary, dry_footer, is_dry, shared, start, task


@task(name="set-images", iterable=["file"], help=shared(
    "registry", "version", "layout",
    file="a deployment file to update (repeatable): compose, Kubernetes, Helm values, kustomization or .env; "
         "default: [deploy] files",
    deploy_registry="write refs for this endpoint of the registry (e.g. ACR's VPC endpoint); default: [deploy] "
                    "registry, then the registry",
    pin="tag (default: [deploy] pin) or digest (ref@sha256:..., from --metadata-file or the registry)",
    metadata_file="the metadata file build/push/push-deps wrote: where --pin digest looks first",
    strict="make images that are not the release's an error",
    check="write nothing; exit 1 with a diff when a file is not up to date (for CI)",
    json="print every image value found, its new value and status as JSON"))
@boundary
def set_images(c, file=None, registry=None, version=None, layout=None, deploy_registry=None, pin=None,
               metadata_file=None, strict=False, check=False, json_=False):
    """Write the release's image refs into compose, Kubernetes, Helm, kustomize and .env files, bytes kept."""
    from ..deploy import refs as deployrefs
    from ..deploy import rewrite
    from ..delivery.record import record_ref
    from ..deploy.digests import Digests

    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    config = settings.config
    pin_value = deployrefs.check_pin(pin or config.deploy_pin)
    files = rewrite.deployment_files(config, file or ())
    release = deployrefs.ReleaseRefs(settings, deploy_registry if deploy_registry is not None
                                     else (config.deploy_registry or None))
    digests = Digests(Path(metadata_file) if metadata_file else None, config.insecure_hosts,
                      record_ref(settings.naming, settings.version), run.clients()) if pin_value == "digest" else None
    planner = rewrite.Planner(release, files, digests)
    plans = planner.plan()
    changes = [change for plan in plans for change in plan.changes]
    console = Console()
    if json_:
        print(json.dumps([{"file": str(ch.file), "line": ch.line, "where": ch.where, "old": ch.old, "new": ch.new,
                           "status": ch.status} for ch in changes], indent=2))
    else:
        console.table(("file:line", "old", "new", "status"), [ch.row(config.root) for ch in changes], keep=2)
        console.say(count_line(ch.status.split(":")[0] for ch in changes) or "no image values found")
    if planner.errors:
        for problem in planner.errors[1:]:
            console.warn(problem)
        more = f" (and {len(planner.errors) - 1} more above)" if len(planner.errors) > 1 else ""
        raise UsageError(f"nothing written: {planner.errors[0]}{more}")
    not_ours = [ch for ch in changes if ch.status == "not ours"]
    if strict and not_ours:
        raise UsageError(f"nothing written: {len(not_ours)} image(s) are not the release's (--strict), first "
                         f"{not_ours[0].old!r} at {not_ours[0].file}:{not_ours[0].line}")
    stale = [plan for plan in plans if plan.changed]
    if check or is_dry(c):
        for plan in stale:
            console.say(plan.diff().rstrip("\n"))
        if check and stale:
            raise OperationFailed(f"{len(stale)} file(s) do not match the release; run `inv set-images` to update")
        return dry_footer(run) if is_dry(c) else None
    rewrite.write(plans)
    if stale and not json_:
        console.say(f"updated {len(stale)} file(s): {', '.join(str(p.path) for p in stale)}")
