"""push-deps: dependency images mirrored registry to registry (``acrtasks.deps`` plans, ``delivery`` copies)."""


from ..config import check_attestations, check_platforms, drops_attestations, positive_int
from ..errors import UsageError
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
    platform="mirror only this platform, os/arch[/variant] (repeatable); default: every platform",
    jobs="images mirrored at once; default: [deps] jobs (4)",
    source="registry (copy registry to registry), engine (push from the local engine), or auto (default: "
           "registry, else the engine when only it has the image)",
    version="accepted so chained tasks share it (`inv push push-deps --version V`); dependencies keep their own "
            "tags",
    bases="also mirror the components' base images (their Dockerfiles' FROM); default: [deps] bases"))
@boundary
def push_deps(c, deps_namespace=None, dep=None, skip_existing=False, no_skip_existing=False, force=False,
              platform=None, jobs=None, source="auto", registry=None, layout=None, version=None, metadata_file=None,
              attestations=None, no_preflight=False, no_record=False, bases=False):
    """Mirror dependency images registry-to-registry, all platforms, digest-verified, skipping unchanged."""
    from ..release.images import plan_deps
    from ..delivery import mirrorer
    from ..util import metadata

    run = start(c)
    settings = run.settings(registry=registry, layout=layout, version=version)  # its version is not used
    if source not in mirrorer.SOURCES:
        raise UsageError(f"--source {source!r} is not one of {', '.join(mirrorer.SOURCES)}")
    check_platforms(platform or ())
    check_attestations(attestations)
    if skip_existing and no_skip_existing:
        raise UsageError("--skip-existing and --no-skip-existing contradict each other; give one")
    # Two flags, not one bool: Invoke cannot tell `--skip-existing` from its default, and the flag must be
    # able to override `[deps] skip_existing = false`.
    skip = True if skip_existing else False if no_skip_existing else settings.config.deps_skip_existing
    job_count = positive_int(jobs, "--jobs") if jobs is not None else settings.config.deps_jobs
    deps_plan = plan_deps(settings, deps_namespace, dep or (), bases)
    console = Console()
    for warning in deps_plan.warnings():
        console.warn(warning)
    for line in deps_plan.describe(job_count):
        console.say(line)
    record = metadata.MetadataFile(None if is_dry(c) else metadata_file)
    record.check()
    if is_dry(c):
        dry_footer(run)
    worker = mirrorer.Mirrorer(run.clients(), console, deps_plan.mirrors,
                               platform or (), source, skip, force, is_dry(c), run.engine,
                               lambda host: drops_attestations(settings.config, host, attestations))
    worker.preflight(deps_plan.dependencies)
    if not no_preflight and not is_dry(c):
        run.preflight([d.target for d in deps_plan.dependencies], "nothing copied")
    results = carry_out(lambda: worker.run(deps_plan.dependencies, job_count), record, mirrorer.metadata,
                        mirrorer.print_summary, console,
                        lambda failed, total: f"{len(failed)} of {total} dependenc{'y' if total == 1 else 'ies'} "
                                              "failed to mirror")
    if not is_dry(c):
        from ..release.record import DependencyEntry

        run.recorder.add(settings, dependencies=[DependencyEntry.made(r.dep.source, r.dep.target, r.digest)
                                                 for r in results if r.digest])
        run.recorder.write("push-deps", console.say, no_record)
