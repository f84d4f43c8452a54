"""set-images: the release's refs written into deployment files, only their bytes changed (``acrtasks.deploy``)."""

import json
from pathlib import Path


from ..errors import OperationFailed, RegistryPreflightError, UsageError
from ..util.console import Console, count_line
from .common import boundary, dry_footer, is_dry, shared, start, task


@task(name="set-images", iterable=["file", "component"], help=shared(
    "component", "registry", "version", "layout",
    file="a deployment file to update (repeatable): compose, Kubernetes, Helm values, kustomization or .env; "
         "default: [deploy] files",
    deploy_registry="write refs for this endpoint of the registry (e.g. ACR's VPC endpoint); default: [deploy] "
                    "registry, then the registry",
    pin="tag (default: [deploy] pin) or digest (ref@sha256:..., from --metadata-file or the registry)",
    metadata_file="the metadata file build/push/push-deps wrote: where --pin digest looks first",
    strict="make images that are not the release's an error",
    check="write nothing; exit 1 with a diff when a file is not up to date (for CI)",
    json="print every image value found, its new value and status as JSON",
    no_verify="write refs without confirming that the registry holds them (files prepared offline); default: "
              "[deploy] verify"))
@boundary
def set_images(c, file=None, component=None, registry=None, version=None, layout=None, deploy_registry=None,
               pin=None, metadata_file=None, strict=False, check=False, json_=False, no_verify=False):
    """Write the refs of the release's images (what it pushed) into compose, Kubernetes, Helm, kustomize, .env."""
    from ..deploy import refs as deployrefs
    from ..deploy import rewrite
    from ..release.record import record_ref
    from ..deploy.digests import Confirmations

    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    config = settings.config
    pin_value = deployrefs.check_pin(pin or config.deploy_pin)
    files = rewrite.deployment_files(config, file or ())
    verify = not no_verify and config.deploy_verify
    confirmations = Confirmations(Path(metadata_file) if metadata_file else None, config.insecure_hosts,
                                  record_ref(settings.naming, settings.version), run.clients(), run.recorder.pushed(settings),
                                  ask_registry=verify)
    release = deployrefs.ReleaseRefs(settings, deploy_registry if deploy_registry is not None
                                     else (config.deploy_registry or None), confirmations.members(),
                                     component or ())
    # --no-verify with --pin digest: digests from the metadata file (and this chain's pushes) alone
    planner = rewrite.Planner(release, files, confirmations if verify or pin_value == "digest" else None,
                              pin_digest=pin_value == "digest")
    plans = planner.plan()
    changes = [change for plan in plans for change in plan.changes]
    console = Console()
    if json_:
        print(json.dumps([{"file": str(ch.file), "line": ch.line, "where": ch.where, "old": ch.old, "new": ch.new,
                           "status": ch.status} for ch in changes], indent=2))
    else:
        console.table(("file:line", "old", "new", "status"), [ch.row(config.root) for ch in changes], keep=2)
        console.say(count_line(ch.status.split(":")[0] for ch in changes) or "no image values found")
        console.say(_verified_line(confirmations.sources, verify, settings.naming.registry is not None))
    if planner.errors:
        for problem in planner.errors[1:]:
            console.warn(problem)
        more = f" (and {len(planner.errors) - 1} more above)" if len(planner.errors) > 1 else ""
        failure = RegistryPreflightError if planner.unpushed == len(planner.errors) else UsageError
        raise failure(f"nothing written: {planner.errors[0]}{more}")
    not_ours = [ch for ch in changes if ch.status == "not ours"]
    if strict and not_ours:
        raise UsageError(f"nothing written: {len(not_ours)} image(s) are not the release's (--strict), first "
                         f"{not_ours[0].old!r} at {not_ours[0].file}:{not_ours[0].line}")
    if len(not_ours) == len(changes):  # every value is someone else's: most likely a naming setting is off
        found = f"none of the {len(changes)} image value(s)" if changes else "no image value"
        first = f" (first: {not_ours[0].old!r})" if not_ours else ""
        raise OperationFailed(f"{found} in {len(files)} file(s) is one of {config.project}'s images{first}: check "
                              f"[project] image_prefix ({config.image_prefix!r}) and name ({config.project!r}) in "
                              "build.toml, and --file")
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


def _verified_line(sources, verify: bool, has_registry: bool) -> str:
    """How the refs written were confirmed to be in the registry (one HEAD request each at most)."""
    if not has_registry:
        return "local names (no registry): nothing to verify"
    if not verify:
        return "not verified: --no-verify ([deploy] verify = false): the registry was not asked"
    total = sum(sources.values())
    how = ", ".join(f"{count} from the {where}" if where != "HEAD" else f"{count} by HEAD request"
                    for where, count in sources.items())
    return f"verified {total} ref(s) in the registry" + (f": {how}" if how else "")
