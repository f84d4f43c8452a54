"""The Invoke tasks. Each stays thin: read flags, compute a plan, hand it to an executor.

``_boundary`` is the one place where acrtasks' own errors become one line on
stderr and an exit code (2: bad input, nothing attempted; 1: an operation
failed).

The modules that plan and carry out builds and pushes (and docker-py behind
them) are imported inside the tasks that use them: ``inv --list`` and
``inv test-naming`` must start about as fast as Invoke itself
(bench/cli_latency.py).
"""

import atexit
import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

from invoke import Collection, Exit, task

from .config import Config, Settings, find_config, load_config, positive_int, resolve
from .util.console import Console, count_line
from .errors import AcrError, Interrupted, OperationFailed, RegistryError, UsageError
from .naming_cases import CASES, SEED, passed, run_case

# Help shared by the flags several tasks have: chained tasks share their values.
HELP = {
    "component": "component to work on (repeatable); default: all in build.toml",
    "registry": "registry as host[:port][/namespace] or a Docker Hub namespace; '' = local tags only",
    "version": "image version; default: build.toml, then git describe (tag, tag-N-gSHA, dev-SHA; -dirty)",
    "mode": "build mode (dev, prod or a [modes.<name>] table) supplying build args",
    "layout": "auto | flat | nested; auto is flat on hosts ending with [registry] flat_hosts (ACR)",
    "tag_latest": "also tag (and push) the latest refs",
    "parallel": "how many builds run at once; default: [build] parallel",
    "no_cache": "build without the engine's layer cache",
    "metadata_file": "write a JSON record of refs, image ids and digests here (merged across chained tasks)",
    "json": "print the cases and the preview as JSON",
    "cases": "show every naming case in a table (default: one summary line)",
    "preview_latest": "also preview the latest refs (as build/push --tag-latest would make)",
    "progress": "auto (live lines on a terminal, else plain), plain (every log line) or quiet (summary, and the "
                "failing step's log)",
    "backend": "auto (buildx, else BuildKit through a docker CLI that has it, else classic), classic, buildkit or "
               "buildx; default: [build] backend",
    "network": "network for RUN steps: default, host, none or an engine network; default: [build] network",
    "build_platform": "build for this platform, os/arch[/variant] (repeatable; several need buildx, which pushes "
                      "them); default: [build] platforms",
    "builder": "the buildx builder to use (remote BuildKit, docker-container, kubernetes); default: [build] builder",
    "push_jobs": "refs pushed at once (default 4)",
    "username": "registry user; default: $ACRTASKS_USERNAME, [registry] username, else a prompt on a terminal",
    "password_stdin": "read the password (or ACR temporary token) from standard input",
    "deps_namespace": "where dependencies go: host/ns or a Docker Hub namespace; default: [deps] namespace, "
                      "then the registry",
    "dep": "a dependency to mirror (repeatable), as written in build.toml or a compose file; default: all",
    "skip_existing": "leave a target alone when it already has the same digest; default: [deps] skip_existing "
                     "(true)",
    "no_skip_existing": "copy even when the target already has the same digest (overrides [deps] skip_existing)",
    "force": "recopy everything, re-uploading blobs the target already has",
    "platform": "mirror only this platform, os/arch[/variant] (repeatable); default: every platform",
    "jobs": "images mirrored at once; default: [deps] jobs (4)",
    "source": "registry (copy registry to registry), engine (push from the local engine), or auto (default: "
              "registry, else the engine when only it has the image)",
    "file": "a deployment file to update (repeatable): compose, Kubernetes, Helm values, kustomization or .env; "
            "default: [deploy] files",
    "deploy_registry": "write refs for this endpoint of the registry (e.g. ACR's VPC endpoint); default: "
                       "[deploy] registry, then the registry",
    "pin": "tag (default: [deploy] pin) or digest (ref@sha256:..., from --metadata-file or the registry)",
    "deploy_metadata": "the metadata file build/push/push-deps wrote: where --pin digest looks first",
    "strict": "make images that are not the release's an error",
    "check": "write nothing; exit 1 with a diff when a file is not up to date (for CI)",
    "changes_json": "print every image value found, its new value and status as JSON",
    "export_deps": "include the dependency images ([deps] images and compose files); --no-deps leaves them out",
    "output": "the bundle file; default: <project>-<version>.tar (.tar.gz with --compress gzip)",
    "export_platform": "take only this platform of registry images, os/arch[/variant] (repeatable); default: all",
    "export_source": "registry (where images were pushed, every platform), engine (the local images, one "
                     "platform), or auto (default: registry, else the engine for what was never pushed)",
    "compress": "none (default) or gzip; never zstd, which docker 20.10 cannot load",
    "load_platform": "the platform `docker load` of the bundle gets (its manifest.json); default linux/amd64",
    "bundle": "the bundle (.tar, .tar.gz, or an unpacked directory) that `inv export` wrote",
    "import_registry": "push every image, every platform, to this registry under the naming rules",
    "import_engine": "load into the Docker engine and tag the local names (one platform)",
    "import_platform": "with --engine: the platform to load; default: the engine's own",
    "import_check": "only verify the bundle's checksums and contents; change nothing",
    "import_jobs": "images pushed at once with --registry (default 4)",
    "pull_deps": "also pull the dependencies from where push-deps put them, tagged with their source names",
    "deps_version": "accepted so chained tasks share it (`inv push push-deps --version V`); dependencies keep "
                    "their own tags",
}


def _boundary(func):
    """Turn acrtasks' errors (and Ctrl-C) into one line and an exit code; nothing else is caught."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Interrupted as exc:
            raise Exit(f"interrupted: {exc}" if str(exc) else "interrupted", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=Interrupted.exit_code) from None
        except AcrError as exc:
            raise Exit(f"error: {exc}" if str(exc) else None, code=exc.exit_code) from None

    return wrapper


_said_once = set()


def _once(text: str, say) -> None:
    """Say ``text`` once per process: chained tasks share the warnings as they share flags."""
    if text and text not in _said_once:
        _said_once.add(text)
        say(text)


def _config(c) -> Config:
    """build.toml beside tasks.py (or $ACRTASKS_CONFIG, or in the current directory)."""
    from .chain import unshared_chain_warning

    _once(unshared_chain_warning(sys.argv, ns.task_names), Console().warn)
    return load_config(find_config(getattr(c.config, "_project_prefix", None)))


def _dry_footer() -> None:
    """``--dry`` ends with one line, after the last task of the chain."""
    _once("dry run: nothing was built, tagged, pushed or copied",
          lambda text: atexit.register(print, text))


def _settings(c, uses_version: bool = True, **flags) -> Settings:
    """build.toml with environment and flags applied; its warnings (about the version) said on stderr."""
    settings = resolve(_config(c), **flags)
    for warning in settings.warnings if uses_version else ():
        _once(warning, Console().warn)
    return settings


def _login_target(c, registry: Optional[str]):
    """build.toml and the registry host to log in to: the flag, else $ACRTASKS_REGISTRY, else [registry] url."""
    from .registry.login import registry_host

    config = _config(c)
    text = registry if registry is not None else os.environ.get("ACRTASKS_REGISTRY") or config.registry
    return config, registry_host(text)


def _dry(c) -> bool:
    return bool(c.config.run.dry)


def _engine():
    from .build.engine import Engine

    return Engine.connect()


@task(help={**{k: HELP[k] for k in ("component", "registry", "version", "mode", "layout", "tag_latest", "parallel",
                                    "no_cache", "metadata_file", "progress", "backend", "network", "builder")},
            "platform": HELP["build_platform"]},
      iterable=["component", "platform"])
@_boundary
def build(c, component=None, registry=None, version=None, mode=None, layout=None, tag_latest=False,
          no_cache=False, parallel=None, metadata_file=None, progress="auto", backend=None, network=None,
          platform=None, builder=None):
    """Build component images (classic builder, BuildKit or buildx), in parallel, tagged for the registry."""
    from .build import builder as builds
    from .util import metadata
    from .build import plan
    from .build.backends.select import choose

    if progress not in builds.PROGRESS_MODES:
        raise UsageError(f"--progress {progress!r} is not one of {', '.join(builds.PROGRESS_MODES)}")
    _check_build_flags(backend, network, platform or ())
    settings = _settings(c, registry=registry, version=version, mode=mode, layout=layout,
                         tag_latest=tag_latest or None, parallel=parallel)
    config = settings.config
    steps = plan.plan_builds(settings, component or (), network=network, platforms=platform or ())
    engine = _engine_once()
    chosen = choose(backend or config.backend, engine, steps[0].platforms if steps else (),
                    config.builder if builder is None else builder, any(step.secrets for step in steps))
    if getattr(chosen, "pushes", False) and settings.naming.registry is None:
        raise UsageError("several platforms are pushed by the build itself: pass --registry (or [registry] url)")
    console = Console()
    for line in plan.describe_builds(steps, settings.parallel, no_cache, config.root, chosen.describe()):
        console.say(line)
    if _dry(c):
        return _dry_footer()
    record = metadata.MetadataFile(metadata_file)
    record.check()
    chosen.check_engine()  # the engine answers, or nothing is started
    try:
        results = builds.run_builds(chosen, engine, steps, settings.parallel, no_cache, console, progress)
    except Interrupted as exc:
        record.merge({r.step.component: r.metadata() for r in exc.finished})
        raise
    builds.print_summary(results, console)
    record.merge({r.step.component: r.metadata() for r in results})
    failed = [r.step.component for r in results if not r.ok]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} build(s) failed: {', '.join(failed)}")


@task(help={**{k: HELP[k] for k in ("component", "registry", "version", "layout", "tag_latest", "metadata_file")},
            "jobs": HELP["push_jobs"]},
      iterable=["component"])
@_boundary
def push(c, component=None, registry=None, version=None, layout=None, tag_latest=False, metadata_file=None,
         jobs=None):
    """Push built component images to the registry, N at once, after checking every one exists locally."""
    from .build import builder, plan, pusher
    from .util import metadata

    job_count = positive_int(jobs, "--jobs") if jobs is not None else pusher.DEFAULT_JOBS
    settings = _settings(c, registry=registry, version=version, layout=layout, tag_latest=tag_latest or None)
    steps = plan.plan_pushes(settings, component or (), already_pushed=builder.PUSHED_BY_BUILD)
    if not steps:
        Console().say("nothing to push: the build pushed every image itself (several platforms, buildx)")
        return None
    console = Console()
    for line in plan.describe_pushes(steps):
        console.say(line)
    if _dry(c):
        return _dry_footer()
    record = metadata.MetadataFile(metadata_file)
    record.check()
    engine = _engine()
    image_ids = pusher.preflight(engine, steps)
    try:
        results = pusher.run_pushes(engine, steps, image_ids, console, job_count)
    except Interrupted as exc:
        record.merge(pusher.metadata(exc.finished))
        raise
    pusher.print_summary(results, console)
    record.merge(pusher.metadata(results))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} push(es) did not complete")


@task(name="test-naming", help={**{k: HELP[k] for k in ("registry", "version", "layout", "json", "cases")},
                                 "tag_latest": HELP["preview_latest"]})
@_boundary
def test_naming(c, registry=None, version=None, layout=None, json_=False, cases_=False, tag_latest=False):
    """Check the naming rules on the seed's cases and preview every image name for a registry."""
    cases = [(case, run_case(case)) for case in CASES]
    settings = _settings(c, registry=registry, version=version, layout=layout, tag_latest=tag_latest or None)
    preview = _preview(settings)
    failures = [case for case, actual in cases if not passed(case, actual)]
    if json_:
        print(json.dumps({
            "cases": [{"case": case.label, "registry": case.registry, "input": case.name, "version": case.version,
                       "layout": case.layout, "expected": case.expected, "actual": actual,
                       "passed": passed(case, actual)} for case, actual in cases],
            "preview": preview,
        }, indent=2))
    else:
        _print_naming(cases, preview, show_cases=cases_ or bool(failures))
    if failures:
        raise OperationFailed(f"{len(failures)} of {len(cases)} naming case(s) failed")


@task(name="push-deps", iterable=["dep", "platform"],
      help={**{k: HELP[k] for k in ("deps_namespace", "dep", "skip_existing", "no_skip_existing", "force",
                                    "platform", "jobs", "source",
                                    "registry", "layout", "metadata_file")}, "version": HELP["deps_version"]})
@_boundary
def push_deps(c, deps_namespace=None, dep=None, skip_existing=False, no_skip_existing=False, force=False,
              platform=None, jobs=None,
              source="auto", registry=None, layout=None, version=None, metadata_file=None):
    """Mirror dependency images registry-to-registry, all platforms, digest-verified, skipping unchanged."""
    from . import deps as depsmod
    from .util import metadata
    from .config import check_platforms
    from .delivery import mirrorer
    from .registry.client import Clients

    settings = _settings(c, uses_version=False, registry=registry, layout=layout, version=version)
    if source not in mirrorer.SOURCES:
        raise UsageError(f"--source {source!r} is not one of {', '.join(mirrorer.SOURCES)}")
    check_platforms(platform or ())
    if skip_existing and no_skip_existing:
        raise UsageError("--skip-existing and --no-skip-existing contradict each other; give one")
    # Two flags, not one bool: Invoke cannot tell `--skip-existing` from its default, and the flag must be
    # able to override `[deps] skip_existing = false`.
    skip = True if skip_existing else False if no_skip_existing else settings.config.deps_skip_existing
    job_count = positive_int(jobs, "--jobs") if jobs is not None else settings.config.deps_jobs
    deps_plan = depsmod.plan_deps(settings, deps_namespace, dep or ())
    console = Console()
    for warning in deps_plan.warnings():
        console.warn(warning)
    for line in deps_plan.describe(job_count):
        console.say(line)
    record = metadata.MetadataFile(None if _dry(c) else metadata_file)
    record.check()
    if _dry(c):
        _dry_footer()
    worker = mirrorer.Mirrorer(Clients(settings.config.insecure_hosts), console, deps_plan.mirrors,
                               platform or (), source, skip,
                               force, _dry(c), _engine)
    worker.preflight(deps_plan.dependencies)
    try:
        results = worker.run(deps_plan.dependencies, job_count)
    except Interrupted as exc:
        record.merge(mirrorer.metadata(exc.finished))
        raise
    mirrorer.print_summary(results, console)
    record.merge(mirrorer.metadata(results))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} dependenc{'y' if len(results) == 1 else 'ies'} "
                              "failed to mirror")


@task(help={k: HELP[k] for k in ("registry", "username", "password_stdin")})
@_boundary
def login(c, registry=None, username=None, password_stdin=False):
    """Verify registry credentials and store them where docker and acrtasks both find them."""
    from .registry import login as account

    config, host = _login_target(c, registry)
    user = username or os.environ.get("ACRTASKS_USERNAME") or config.username
    if _dry(c):
        print(f"would verify credentials for {host} and store them in the docker config")
        return _dry_footer()
    credentials = account.ask_credentials(host, user, password_stdin)
    try:
        account.verify(host, credentials, config.insecure_hosts)
    except RegistryError as exc:
        if exc.kind == "auth":
            raise OperationFailed(f"login to {host} as {credentials.username} refused: {exc}") from None
        raise
    where, plaintext = account.store(host, credentials)
    if plaintext:
        Console().warn(f"the password is stored unencrypted in {where}; configure a credential helper "
                       "(credsStore in config.json) to avoid it")
    print(f"Login succeeded: {host} as {credentials.username} (stored in {where})")


@task(help={k: HELP[k] for k in ("registry",)})
@_boundary
def logout(c, registry=None):
    """Remove stored credentials for a registry (helper or config.json), like docker logout."""
    from .registry import login as account

    _, host = _login_target(c, registry)
    if _dry(c):
        print(f"would remove stored credentials for {host}")
        return _dry_footer()
    where = account.erase(host)
    print(f"Logged out of {host} (removed from {where})" if where else f"Not logged in to {host}")


def _preview(settings: Settings) -> dict:
    """Every component, alias, latest and dependency name for the effective registry, each with its kind."""
    from . import deps as depsmod

    config, naming = settings.config, settings.naming
    components = []
    for comp in config.components.values():
        labelled = naming.labelled_refs(comp.name, settings.version, comp.aliases, settings.tag_latest)
        components.append({"component": comp.name, "refs": [str(ref) for ref, _ in labelled],
                           "kinds": [kind for _, kind in labelled]})
    deps: dict = {"images": []}
    sources, _ = depsmod.dependency_sources(config)
    if sources:
        deps_naming = depsmod.dependency_naming(settings)
        if deps_naming is None:
            deps["error"] = depsmod.NO_TARGET
        else:
            deps["images"] = [
                {"source": str(d.source), "target": str(d.target), "unpinned": d.unpinned}
                for d in deps_naming.dependencies(sources, config.deps_rename)
            ]
    return {"registry": settings.registry, "layout": settings.layout, "version": settings.version,
            "components": components, "deps": deps}


def _print_naming(cases, preview: dict, show_cases: bool) -> None:
    console = Console()
    seed = sum(1 for case, actual in cases if case.label == SEED and passed(case, actual))
    total = sum(1 for case, actual in cases if passed(case, actual))
    if show_cases:
        rows = [(case.label, case.registry or "(none)", f"{case.name} @ {case.version}", case.expected, actual,
                 "pass" if passed(case, actual) else "FAIL") for case, actual in cases]
        console.table(("case", "registry", "input", "expected", "actual", "result"), rows, keep=2)
        console.say()
    console.say(f"naming cases: {total}/{len(cases)} pass ({seed}/{sum(1 for c, _ in cases if c.label == SEED)} "
                f"from the seed){'' if show_cases else '; --cases shows them'}")
    console.say(f"\nPreview for registry {preview['registry'] or '(none: local tags only)'} "
                f"(layout {preview['layout']}, version {preview['version']}):")
    rows = [(item["component"] if n == 0 else "", ref, kind) for item in preview["components"]
            for n, (ref, kind) in enumerate(zip(item["refs"], item["kinds"]))]
    console.table(("component", "ref", "kind"), rows, keep=2)
    deps = preview["deps"]
    if deps.get("error"):
        console.say(f"\ndependencies: {deps['error']}")
    elif deps["images"]:
        console.say()
        console.table(("dependency", "target", "note"),
                      [(d["source"], d["target"], "unpinned: latest" if d["unpinned"] else "")
                       for d in deps["images"]], keep=2)


@task(name="set-images", iterable=["file"],
      help={**{k: HELP[k] for k in ("file", "registry", "version", "layout", "deploy_registry", "pin", "strict",
                                    "check")}, "metadata_file": HELP["deploy_metadata"], "json": HELP["changes_json"]})
@_boundary
def set_images(c, file=None, registry=None, version=None, layout=None, deploy_registry=None, pin=None,
               metadata_file=None, strict=False, check=False, json_=False):
    """Write the release's image refs into compose, Kubernetes, Helm, kustomize and .env files, bytes kept."""
    from .deploy import refs as deployrefs
    from .deploy import rewrite
    from .deploy.digests import Digests

    settings = _settings(c, registry=registry, version=version, layout=layout)
    config = settings.config
    pin_value = deployrefs.check_pin(pin or config.deploy_pin)
    files = _deploy_files(config, file or ())
    release = deployrefs.ReleaseRefs(settings, deploy_registry if deploy_registry is not None
                                     else (config.deploy_registry or None))
    digests = Digests(Path(metadata_file) if metadata_file else None, config.insecure_hosts) \
        if pin_value == "digest" else None
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
    if check or _dry(c):
        for plan in stale:
            console.say(plan.diff().rstrip("\n"))
        if check and stale:
            raise OperationFailed(f"{len(stale)} file(s) do not match the release; run `inv set-images` to update")
        return _dry_footer() if _dry(c) else None
    rewrite.write(plans)
    if stale and not json_:
        console.say(f"updated {len(stale)} file(s): {', '.join(str(p.path) for p in stale)}")


def _deploy_files(config: Config, given) -> list:
    """``--file`` paths, else ``[deploy] files`` globs relative to build.toml; each must exist."""
    if given:
        paths = [Path(name) for name in given]
    else:
        paths = sorted({p for pattern in config.deploy_files for p in config.root.glob(pattern) if p.is_file()})
        if not paths:
            raise UsageError("no deployment files: pass --file PATH or set [deploy] files (globs) in build.toml")
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--file {path}: no such file")
    return [path.resolve() for path in paths]


@task(iterable=["component", "platform"],
      help={**{k: HELP[k] for k in ("component", "registry", "version", "layout", "output", "compress",
                                    "load_platform")},
            "deps": HELP["export_deps"], "platform": HELP["export_platform"], "source": HELP["export_source"]})
@_boundary
def export(c, component=None, deps=True, output=None, platform=None, source="auto", registry=None, version=None,
           layout=None, compress="none", load_platform="linux/amd64"):
    """Write an offline bundle: one tar that is an OCI layout, a `docker load` archive and a checksummed record."""
    from .delivery import bundle
    from .deps import hub_mirrors
    from .registry.client import Clients

    settings = _settings(c, registry=registry, version=version, layout=layout)
    plan = bundle.plan_export(settings, component or (), deps, output, compress, platform or (), load_platform)
    clients = Clients(settings.config.insecure_hosts)
    bundle.locate(plan, clients, source, _engine_once(), hub_mirrors(settings.config))
    console = Console()
    for line in plan.describe():
        console.say(line)
    if _dry(c):
        return _dry_footer()
    path = bundle.run_export(plan, settings, clients, _engine_once(), console)
    console.say(f"wrote {path} ({path.stat().st_size} bytes, {len(plan.images)} image(s)); check it with "
                f"`inv import {path} --check`, load it with `docker load -i {path}`")


@task(name="import", positional=["bundle"],
      help={"bundle": HELP["bundle"], "registry": HELP["import_registry"], "engine": HELP["import_engine"],
            "platform": HELP["import_platform"], "check": HELP["import_check"], "layout": HELP["layout"],
            "jobs": HELP["import_jobs"]})
@_boundary
def import_(c, bundle=None, registry=None, engine=False, platform=None, check=False, layout=None, jobs=None):
    """Verify an offline bundle, then push it to a registry (--registry) or load it into the engine (--engine)."""
    from .config import check_platforms
    from .delivery import bundle as bundles
    from .registry.client import Clients

    if not bundle:
        raise UsageError("which bundle? `inv import FILE [--registry R | --engine | --check]`")
    if registry is not None and engine:
        raise UsageError("--registry and --engine exclude each other; give one")
    if not check and registry is None and not engine:
        raise UsageError("import to where? add --registry R or --engine (or --check to only verify)")
    if platform:
        check_platforms([platform])
    job_count = positive_int(jobs, "--jobs") if jobs is not None else 4
    console = Console()
    opened = bundles.open_bundle(Path(bundle))
    with opened.reader:
        console.say(f"verified {bundle}: {opened.files} files, {opened.bytes} bytes; {opened.project} "
                    f"{opened.version}, {len(opened.images)} image(s)")
        if check:
            return None
        if engine:
            engine_api = _engine()
            chosen = platform or bundles.engine_platform(engine_api)
            bundles.import_to_engine(opened, engine_api, chosen, console, _dry(c))
        else:
            settings = _settings(c, uses_version=False, registry=registry, layout=layout, version=opened.version)
            targets = bundles.registry_targets(opened, settings)
            clients = Clients(settings.config.insecure_hosts)
            results = bundles.import_to_registry(opened, targets, clients, console, _dry(c), job_count)
            console.say(count_line(r.status for _, _, r in results))
    if _dry(c):
        _dry_footer()


@task(iterable=["component"],
      help={**{k: HELP[k] for k in ("component", "registry", "version", "layout")}, "deps": HELP["pull_deps"]})
@_boundary
def pull(c, component=None, deps=False, registry=None, version=None, layout=None):
    """Pull released images through the engine and tag them with their local names (compose runs unchanged)."""
    from .delivery import puller
    from .registry.client import Clients

    settings = _settings(c, registry=registry, version=version, layout=layout)
    steps = puller.plan_pulls(settings, component or (), deps)
    console = Console()
    for line in puller.describe(steps):
        console.say(line)
    puller.preflight(steps, Clients(settings.config.insecure_hosts))
    if _dry(c):
        return _dry_footer()
    results = puller.run_pulls(_engine(), steps, console)
    failed = [s for s in results if s.status != "pulled"]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} pull(s) failed")


def _check_build_flags(backend, network, platforms) -> None:
    from .config import BACKENDS, NETWORK, check_platforms

    if backend is not None and backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if network is not None and network and not NETWORK.match(network):
        raise UsageError(f"--network {network!r} is not a network name (default, host, none or an engine network)")
    check_platforms(platforms)


def _engine_once():
    """The engine, connected on first use only (an export from registries alone never needs it)."""
    engine = []

    def get():
        if not engine:
            engine.append(_engine())
        return engine[0]

    return get


ns = Collection(build, push, push_deps, login, logout, test_naming, set_images, export, import_, pull)
