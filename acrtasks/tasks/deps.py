"""push-deps: dependency images mirrored registry to registry (``acrtasks.deps`` plans, ``delivery`` copies)."""

from pathlib import Path
from typing import Optional

from ..config import check_attestations, check_platforms, drops_attestations, positive_int
from ..errors import OperationFailed, UsageError
from ..util.jsonfile import write_atomically
from ..util.console import Console
from .common import boundary, carry_out, dry_footer, is_dry, shared, start, task


@task(name="push-deps", iterable=["dep", "platform"], help=shared(
    "registry", "layout", "metadata_file", "attestations", "no_preflight", "no_record",
    deps_namespace="where dependencies go: host/ns or a Docker Hub namespace; default: [deps] namespace, then the "
                   "registry",
    dep="a dependency to mirror (repeatable), as written in build.toml or a compose file; default: all",
    skip_existing="leave a target alone when it already has the same digest; default: [deps] skip_existing (true)",
    no_skip_existing="copy even when the target already has the same digest (overrides [deps] skip_existing)",
    force="recopy everything, re-uploading blobs the target already has",
    platform="mirror only this platform, os/arch[/variant] (repeatable; the source must have each); default: an "
             "image's own --platform= (images.txt), else [deps] platforms, else every platform",
    jobs="images mirrored at once; default: [deps] jobs (4)",
    source="registry (copy registry to registry), engine (push from the local engine), or auto (default: "
           "registry, else the engine when only it has the image)",
    version="accepted so chained tasks share it (`inv push push-deps --version V`); dependencies keep their own "
            "tags",
    bases="also mirror the components' base images (their Dockerfiles' FROM); default: [deps] bases",
    keep_going="after a failure, go on with the other images (without it, none is started after the first "
               "failure); the failed ones are written to --failures-file",
    failures_file="where --keep-going writes the images that failed, as JSON (image, step, the registry's "
                  "answer); default: push-deps-failures.json beside build.toml",
    only_failed="mirror only the images a failures file names (a re-run of the ones that failed)",
    check="copy nothing: say whether each image is present, missing or different at the target (by the digest "
          "a copy would write); exit 1 unless all are present"))
@boundary
def push_deps(c, deps_namespace=None, dep=None, skip_existing=False, no_skip_existing=False, force=False,
              platform=None, jobs=None, source="auto", registry=None, layout=None, version=None, metadata_file=None,
              attestations=None, no_preflight=False, no_record=False, bases=False, keep_going=False,
              failures_file=None, only_failed=None, check=False):
    """Mirror dependency images registry-to-registry, all platforms, digest-verified, skipping unchanged."""
    from ..delivery import mirrorer
    from ..util import metadata

    _check_deps_flags(source, platform or (), attestations, skip_existing, no_skip_existing, check)
    run = start(c)
    settings = run.settings(registry=registry, layout=layout, version=version)  # its version is not used
    # Two flags, not one bool: Invoke cannot tell `--skip-existing` from its default, and the flag must be
    # able to override `[deps] skip_existing = false`.
    skip = True if skip_existing else False if no_skip_existing else settings.config.deps_skip_existing
    job_count = positive_int(jobs, "--jobs") if jobs is not None else settings.config.deps_jobs
    wanted = [*(dep or ()), *(mirrorer.read_failures(Path(only_failed)) if only_failed else ())]
    if only_failed and not wanted:
        Console().say(f"nothing to mirror: {only_failed} names no failed image")
        return None
    reads_only = is_dry(c) or check
    failures = None
    if keep_going and not reads_only:  # checked now: nothing is copied when it could not be written
        failures = Path(failures_file) if failures_file else settings.config.root / "push-deps-failures.json"
        _check_failures_file(failures)
    deps_plan = _plan(run, settings, deps_namespace, wanted, bases, job_count)
    record = metadata.MetadataFile(None if reads_only else metadata_file)
    record.check()
    if is_dry(c):
        dry_footer(run)
    worker = mirrorer.Mirrorer(run.clients(), Console(), deps_plan.mirrors,
                               platform or (), source, skip or check, force and not check, reads_only,
                               run.engine, lambda host: drops_attestations(settings.config, host, attestations),
                               settings.config.deps_platforms, keep_going or check, check,
                               settings.config.deps_signatures)
    worker.preflight(deps_plan.dependencies)
    if not no_preflight and not reads_only:
        run.preflight([d.target for d in deps_plan.dependencies], "nothing copied")
    results = _mirror(worker, deps_plan, job_count, record, failures, check)
    if not reads_only:
        from ..release.record import DependencyEntry

        run.recorder.add(settings, dependencies=[DependencyEntry.made(r.dep.source, r.dep.target, r.digest,
                                                                      r.source_digest)
                                                 for r in results if r.digest])
        run.recorder.write("push-deps", Console().say, no_record)


def _check_deps_flags(source: str, platforms, attestations, skip_existing: bool, no_skip_existing: bool,
                      check: bool) -> None:
    """Every flag checked before anything is read or started."""
    from ..delivery.mirrorer import SOURCES

    if source not in SOURCES:
        raise UsageError(f"--source {source!r} is not one of {', '.join(SOURCES)}")
    check_platforms(platforms)
    check_attestations(attestations)
    if skip_existing and no_skip_existing:
        raise UsageError("--skip-existing and --no-skip-existing contradict each other; give one")
    if check and source == "engine":
        raise UsageError("--check reads registries; --source engine pushes from the engine: give one")


def _check_failures_file(path: Path) -> None:
    """The failures file can be written, and what is there now is one of ours (nothing else is written over)."""
    from ..delivery.mirrorer import is_failures_file
    from ..errors import LocalSystemError
    from ..util.jsonfile import check_creatable

    if path.exists() and not is_failures_file(path):
        raise UsageError(f"--failures-file {path} exists and is not a push-deps failures file; pick another path")
    try:
        check_creatable(path, "--failures-file")
    except LocalSystemError as exc:  # a bad path given by the user: nothing was attempted
        raise UsageError(str(exc)) from None


def _plan(run, settings, deps_namespace, wanted, bases: bool, job_count: int):
    """The dependencies (tag rules resolved from their tag lists), printed before anything is copied."""
    from ..release.images import plan_deps

    deps_plan = plan_deps(settings, deps_namespace, wanted, bases, _tag_lister(run, settings.config))
    console = Console()
    for warning in deps_plan.warnings():
        console.warn(warning)
    for line in deps_plan.describe(job_count):
        console.say(line)
    return deps_plan


def _mirror(worker, deps_plan, job_count: int, record, failures: Optional[Path], check: bool) -> list:
    """The copies, the summary, the metadata; with ``failures`` (--keep-going), the failures file, emptied
    after a run where nothing failed (so that --only-failed does not try an old list again)."""
    from ..delivery import mirrorer

    console = Console()

    def failed_line(failed, total) -> str:
        what = "not present at the target" if check else "failed to mirror"
        return f"{len(failed)} of {total} dependenc{'y' if total == 1 else 'ies'} {what}"

    try:
        results = carry_out(lambda: worker.run(deps_plan.dependencies, job_count), record, mirrorer.metadata,
                            mirrorer.print_summary, console, failed_line)
    except OperationFailed:
        if failures is not None:
            write_atomically(failures, mirrorer.failures(worker.results), 0o644, indent=2)
            console.say(f"failures written to {failures}: `inv push-deps --only-failed {failures}` tries them again")
        raise
    if failures is not None and mirrorer.is_failures_file(failures):
        write_atomically(failures, mirrorer.failures(results), 0o644, indent=2)
    return results


def _tag_lister(run, config):
    """A source's tags (every page), read where its image would be read: a Docker Hub image through the
    mirrors first. For the tag rules, at plan time."""
    from ..deps import hub_mirrors, source_hosts
    from ..errors import RegistryError

    def list_tags(source):
        failure = None
        for host in source_hosts(source, hub_mirrors(config)):
            try:
                return run.clients().get(host).tags(source.repository)
            except RegistryError as exc:
                failure = exc
        raise failure

    return list_tags
