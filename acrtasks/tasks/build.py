"""build and push: component images, built in parallel and pushed N at once (the build stage, ``acrtasks.components``)."""

from typing import NamedTuple

from ..config import backend_problem, check_attestations, check_platforms, network_problem, positive_int
from ..errors import EngineUnavailable, UsageError
from ..util.console import Console
from .common import boundary, carry_out, dry_footer, is_dry, shared, start, task


@task(iterable=["component", "platform"], help=shared(
    "component", "registry", "version", "layout", "tag_latest", "metadata_file", "attestations", "no_preflight",
    "no_record",
    mode="build mode (dev, prod or a [modes.<name>] table) supplying build args",
    parallel="how many builds run at once; default: [build] parallel",
    no_cache="build without the engine's layer cache (every component: it implies --rebuild)",
    progress="auto (live lines on a terminal, else plain), plain (every log line) or quiet (summary, and the "
             "failing step's log)",
    backend="auto (buildx, else BuildKit through a docker CLI that has it, else classic), classic, buildkit or "
            "buildx; default: [build] backend",
    network="network for RUN steps: default, host, none or an engine network; default: [build] network",
    platform="build for this platform, os/arch[/variant] (repeatable; several need buildx, which pushes them); "
             "default: [build] platforms",
    builder="the buildx builder (remote BuildKit, docker-container, kubernetes) or a docker context of another "
            "engine; its images are pushed by the build; default: [build] builder",
    rebuild="build every component, even one whose inputs equal an earlier release's; default: [build] rebuild",
    since="compare inputs with this release's record; default: the newest other release record in the registry"))
@boundary
def build(c, component=None, registry=None, version=None, mode=None, layout=None, tag_latest=False,
          no_cache=False, parallel=None, metadata_file=None, progress="auto", backend=None, network=None,
          platform=None, builder=None, attestations=None, no_preflight=False, rebuild=False, since=None,
          no_record=False):
    """Build the components whose inputs changed (classic builder, BuildKit or buildx), in parallel, tagged."""
    _check_build_flags(progress, backend, network, platform or (), attestations, since)
    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, mode=mode, layout=layout,
                            tag_latest=tag_latest or None, parallel=parallel)
    planned = _plan_build(run, settings, component or (), network, platform or (), attestations,
                          settings.config.builder if builder is None else builder,
                          backend or settings.config.backend,
                          rebuild or no_cache or settings.config.rebuild, since or "", no_cache)
    if is_dry(c):
        return dry_footer(run)
    _carry_out_build(run, settings, planned, metadata_file, no_preflight, no_cache, progress, no_record)


def _check_build_flags(progress: str, backend, network, platforms, attestations, since) -> None:
    """Every flag checked before anything is read or started (each by its one validator in config)."""
    from ..components.builder import PROGRESS_MODES
    from ..naming import check_tag

    if progress not in PROGRESS_MODES:
        raise UsageError(f"--progress {progress!r} is not one of {', '.join(PROGRESS_MODES)}")
    for flag, problem in (("--backend", backend_problem(backend) if backend is not None else ""),
                          ("--network", network_problem(network) if network is not None else "")):
        if problem:
            raise UsageError(f"{flag} {problem}")
    check_platforms(platforms)
    check_attestations(attestations)
    if since:
        check_tag(since, "--since")


class _BuildPlan(NamedTuple):
    steps: list  # components.plan.BuildStep, with their input digests
    backend: object  # components.backends.Backend
    decided: dict  # component -> components.changes.Decision
    copies: dict  # components.bases.registry_copies


def _plan_build(run, settings, selected, network, platforms, attestations, builder: str, backend: str,
                rebuild: bool, since: str, no_cache: bool) -> _BuildPlan:
    """The plan, computed and printed before anything is built: the steps, the backend that fits them, and
    which components changed."""
    from ..components import bases, plan
    from ..components.backends.select import choose, refuse_unfit
    from ..components.input_digest import churn_warnings

    copies = bases.registry_copies(settings)  # [build] bases_from = "registry" without a registry: refused now
    steps = plan.plan_builds(settings, selected, network=network, platforms=platforms, attestations=attestations)
    widest = max((step.platforms for step in steps), key=len, default=())
    chosen = choose(backend, run.engine, widest, builder, any(step.secrets for step in steps))
    refuse_unfit(chosen, [step.component for step in steps if step.cache is not None],
                 settings.naming.registry is not None)
    decided = run.changes(settings, steps, chosen.pushes_step, rebuild, since)
    steps = plan.with_inputs(steps, {name: d.inputs.digest for name, d in decided.items()})
    console = Console()
    for warning in churn_warnings(settings, steps):
        run.once(warning, console.warn)
    for line in plan.describe_builds(steps, settings.parallel, no_cache, settings.config.root, chosen.describe(),
                                     decided, settings.naming.registry is not None, chosen.attests):
        console.say(line)
    return _BuildPlan(steps, chosen, decided, copies)


def _carry_out_build(run, settings, planned: _BuildPlan, metadata_file, no_preflight: bool, no_cache: bool,
                     progress: str, no_record: bool) -> None:
    """Preflight, bases, the builds, the summary and the release record, in that order."""
    from ..components import bases
    from ..components import builder as builds
    from ..deps import hub_mirrors
    from ..util import metadata

    steps, chosen, decided = planned.steps, planned.backend, planned.decided
    config, console = settings.config, Console()
    record = metadata.MetadataFile(metadata_file)
    record.check()
    chosen.check_engine()  # the engine answers, or nothing is started
    pushes_next = "push" in run.chain[run.chain.index("build") + 1:] if "build" in run.chain else False
    if (chosen.pushes or pushes_next) and settings.naming.registry is not None and not no_preflight:
        run.preflight([ref for step in steps for ref in step.refs if ref.host], "nothing built")
    if not chosen.pushes:  # a build in this engine: its missing bases first, through mirrors (build.sh's pre-pull)
        bases.prepare(run.engine(), {step.component: list(step.bases) for step in steps
                                     if decided[step.component].build},
                      config.bases_from, hub_mirrors(config), planned.copies, console.say)
    held = None
    if chosen.pushes:  # what buildx says it pushed is read back from the registry, as push does
        from ..copy.remote import held_by

        held = held_by(run.clients())
    relabel = (lambda step, decision: builds.relabel_in_registry(run.clients(), step, decision)) \
        if settings.naming.registry is not None else None
    with builds.LocalRelabels() as local:
        results = carry_out(lambda: builds.run_changed(chosen, run.engine, steps, decided, settings.parallel,
                                                       no_cache, console, progress, held, chosen.pushes_step,
                                                       relabel, local),
                            record, lambda done: {r.step.component: r.metadata() for r in done},
                            builds.print_summary, console,
                            lambda failed, total: f"{len(failed)} of {total} build(s) failed: "
                                                  f"{', '.join(r.step.component for r in failed)}")
    for result in results:
        run.pushed_by_build.update(result.pushed)
    pushed = [result for result in results if result.pushed]
    if pushed:
        from ..release.record import ComponentEntry

        run.recorder.add(settings, {r.step.component: ComponentEntry.made(
            settings, r.step.component, {ref: r.digest for ref in r.pushed}, r.platforms,
            decided[r.step.component].inputs.digest, decided[r.step.component].inputs.parts, r.since)
            for r in pushed})
        run.recorder.write("build", console.say, no_record)


@task(iterable=["component"], help=shared("component", "registry", "version", "layout", "tag_latest", "metadata_file",
                                          "no_preflight", "no_record", jobs="refs pushed at once (default 4)",
                                          force="push over a tag that holds another build of the same version "
                                                "([build] version_from = \"branch-or-tag\" refuses that)",
                                          rebuild="relabel nothing: every image must be in the engine (`inv build "
                                                  "push --rebuild` shares it with the build)",
                                          since="an image not in the engine may be this release's, unchanged: "
                                                "compare with this release's record (as build does)",
                                          sign="sign what was pushed with cosign as the last step (as `inv sign`; "
                                               "[sign] key); default: [sign] on_push"))
@boundary
def push(c, component=None, registry=None, version=None, layout=None, tag_latest=False, metadata_file=None,
         jobs=None, no_preflight=False, no_record=False, rebuild=False, since=None, force=False, sign=False):
    """Push built component images, N at once; an unchanged one is relabelled in the registry, no layer sent."""
    from ..components import plan, pusher
    from ..copy.remote import held_by
    from ..util import metadata

    job_count = positive_int(jobs, "--jobs") if jobs is not None else pusher.DEFAULT_JOBS
    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout,
                            tag_latest=tag_latest or None)
    steps = plan.plan_pushes(settings, component or (), already_pushed=run.pushed_by_build)
    signing = None
    if sign or settings.config.sign_on_push:  # cosign, the key and its password checked before the first push
        from .sign import prepare

        signing = prepare(settings, dry=is_dry(c))
    if not steps:
        Console().say("nothing to push: the build pushed every image itself (several platforms, buildx)")
        _sign_and_record(c, run, settings, signing, component, no_record)
        return None
    try:
        engine = run.engine()
        image_ids, missing = pusher.local_images(engine, steps)
    except EngineUnavailable:
        if not is_dry(c):
            raise
        image_ids, missing = {}, []  # --dry without an engine: the plan as if every image were built
    # an image this chain's build skipped (or an earlier one did not make) may be unchanged: relabelled then
    decided = run.changes(settings, plan.plan_builds(settings, [step.component for step in missing]),
                          rebuild=rebuild or settings.config.rebuild, since=since or "") if missing else {}
    relabels = [step for step in missing if not decided[step.component].build]
    if not is_dry(c):  # under --dry, a build earlier in the chain has not made them yet
        pusher.require_local([step for step in missing if step not in relabels])
    console = Console()
    for line in plan.describe_pushes(steps, {step.component: decided[step.component] for step in relabels}):
        console.say(line)
    if is_dry(c):
        return dry_footer(run)
    record = metadata.MetadataFile(metadata_file)
    record.check()
    engine_steps = [step for step in steps if step not in relabels]
    if settings.shared_version and not force:
        pusher.refuse_overwrites(run.clients(), settings, engine, engine_steps, image_ids)
    if not no_preflight:
        run.preflight([ref for step in steps for ref in step.refs], "nothing pushed")
    held = held_by(run.clients())
    labels = plan.oci_labels(settings)
    results = carry_out(
        lambda: [*pusher.run_relabels(run.clients(), relabels, decided, labels, console),
                 *(pusher.run_pushes(engine, engine_steps, image_ids, console, job_count, held)
                   if engine_steps else [])],
        record, pusher.metadata, pusher.print_summary, console,
        lambda failed, total: f"{len(failed)} of {total} push(es) did not complete")
    run.recorder.add(settings, pusher.pushed_components(
        settings, engine, steps, results, image_ids, lambda name: run.decision(settings, name)))
    _sign_and_record(c, run, settings, signing, component, no_record)


def _sign_and_record(c, run, settings, signing, component, no_record: bool) -> None:
    """push's last steps: sign what was pushed (``--sign``, [sign] on_push), then the record, written even when
    signing failed (it lists what was pushed, and the signatures made)."""
    try:
        if signing is not None:
            from .sign import sign_release

            sign_release(run, settings, signing, component or (), settings.config.sign_deps, dry=is_dry(c))
    finally:
        run.recorder.write("push", Console().say, no_record)
