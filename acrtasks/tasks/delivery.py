"""export, import and pull: released images taken where they are needed (``acrtasks.delivery``)."""

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple


from ..config import check_attestations, check_platforms, drops_attestations, positive_int
from ..errors import OperationFailed, UsageError
from ..util import retry
from ..util.console import Console, count_line
from .common import boundary, dry_footer, is_dry, shared, start, task

if TYPE_CHECKING:  # loaded by the tasks that verify, not by `inv --list`
    from ..supply.cosign import Cosign


@task(iterable=["component", "platform"], help=shared(
    "component", "registry", "version", "layout", "attestations",
    deps="include the dependency images ([deps] images and compose files); --no-deps leaves them out",
    output="the bundle file; default: <project>-<version>.tar (.tar.gz with --compress gzip)",
    platform="take only this platform of registry images, os/arch[/variant] (repeatable); default: all",
    source="registry (where images were pushed, every platform), engine (the local images, one platform), or auto "
           "(default: registry, else the engine for what was never pushed)",
    compress="none (default) or gzip; never zstd, which docker 20.10 cannot load",
    load_platform="the platform `docker load` of the bundle gets (its manifest.json); default: the one --platform "
                  "given, else linux/amd64"))
@boundary
def export(c, component=None, deps=True, output=None, platform=None, source="auto", registry=None, version=None,
           layout=None, compress="none", load_platform=None, attestations=None):
    """Write an offline bundle: one tar that is an OCI layout, a `docker load` archive and a checksummed record."""
    from ..delivery import bundle
    from ..release.record import record_ref
    from ..deps import hub_mirrors

    check_attestations(attestations)
    if load_platform is None:  # a bundle of one platform loads that platform (an arm64 host's export)
        load_platform = platform[0] if platform and len(platform) == 1 else "linux/amd64"
    bundle.check_export_flags(compress, platform or (), load_platform, source)
    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    clients = run.clients()
    found = bundle.read_record(clients, source, record_ref(settings.naming, settings.version))
    plan = bundle.plan_export(settings, component or (), deps, output, compress, platform or (), load_platform,
                              found)
    bundle.locate(plan, clients, source, run.engine, hub_mirrors(settings.config), found)
    console = Console()
    for line in plan.describe():
        console.say(line)
    if is_dry(c):
        return dry_footer(run)
    bound = settings.naming.registry.host if settings.naming.registry else ""  # the registry the bundle is for
    path = bundle.run_export(plan, settings, clients, run.engine, console,
                             drops_attestations(settings.config, bound, attestations))
    console.say(f"wrote {path} ({path.stat().st_size} bytes, {len(plan.images)} image(s)); check it with "
                f"`inv import {path} --check`, load it with `docker load -i {path}`")


@task(name="import", positional=["bundle"], help=shared(
    "layout", "attestations", "no_preflight", "no_record",
    bundle="the bundle (.tar, .tar.gz, or an unpacked directory) that `inv export` wrote",
    registry="push every image, every platform, to this registry under the naming rules",
    engine="load into the Docker engine and tag the local names (one platform)",
    platform="with --engine: the platform to load; default: the engine's own",
    check="only verify the bundle's checksums and contents; change nothing",
    jobs="images pushed at once with --registry (default 4)",
    verify_key="verify each image's cosign signature, from the bundle alone, with this public key (a file, or a "
               "KMS URI) before anything is pushed or loaded; one unsigned or badly signed image stops the import; "
               "default: [verify] key"))
@boundary
def import_(c, bundle=None, registry=None, engine=False, platform=None, check=False, layout=None, jobs=None,
            attestations=None, no_preflight=False, no_record=False, verify_key=None):
    """Verify an offline bundle, then push it to a registry (--registry) or load it into the engine (--engine)."""
    from ..delivery import bundle as bundles

    if not bundle:
        raise UsageError("which bundle? `inv import FILE [--registry R | --engine | --check]`")
    if registry is not None and engine:
        raise UsageError("--registry and --engine exclude each other; give one")
    if not check and registry is None and not engine:
        raise UsageError("import to where? add --registry R or --engine (or --check to only verify)")
    if platform:
        check_platforms([platform])
    check_attestations(attestations)
    job_count = positive_int(jobs, "--jobs") if jobs is not None else 4
    run = start(c)
    console = Console()
    opened = bundles.open_bundle(Path(bundle))
    with opened.reader:
        _same_project(run, opened, bundle)
        console.say(f"verified {bundle}: {opened.files} files, {opened.bytes} bytes; {opened.project} "
                    f"{opened.version}, {len(opened.images)} image(s)")
        config = _config_or_none(run)
        key = verify_key if verify_key is not None else (config.verify_key if config else "")
        if key:
            _verify_bundle(run, opened, key, console)
        if check:
            return None
        if engine:
            engine_api = run.engine()
            chosen = platform or bundles.engine_platform(engine_api)
            bundles.import_to_engine(opened, engine_api, chosen, console, is_dry(c))
        else:
            settings = run.settings(registry=registry, layout=layout, version=opened.version)
            targets = bundles.registry_targets(opened, settings)
            if not no_preflight and not is_dry(c):
                run.preflight([ref for _, ref in targets], "nothing imported")
            results = bundles.import_to_registry(opened, targets, run.clients(), console, is_dry(c), job_count,
                                                 lambda host: drops_attestations(settings.config, host, attestations))
            console.say(count_line(r.status for _, _, r in results))
            retry.WAITED.say(console.say)
            if not is_dry(c):
                components, dependencies = bundles.record_of_import(opened, results, settings)
                run.recorder.add(settings, components, dependencies)
                run.recorder.write("import", console.say, no_record)
    if is_dry(c):
        dry_footer(run)


@task(iterable=["component"], help=shared(
    "component", "registry", "version", "layout",
    deps="also pull the dependencies from where push-deps put them, tagged with their source names",
    verify_key="verify each image's cosign signature with this public key (a file, or a KMS URI) before anything "
               "is pulled; one unsigned or badly signed image stops the pull; default: [verify] key"))
@boundary
def pull(c, component=None, deps=False, registry=None, version=None, layout=None, verify_key=None):
    """Pull released images through the engine and tag them with their local names (compose runs unchanged)."""
    from ..delivery import puller
    from ..naming import ImageRef

    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    key = verify_key if verify_key is not None else settings.config.verify_key
    verifier = _Verifier.of(settings.config, key) if key else None  # checked before any request
    found = puller.read_record(settings, run.clients())
    steps = puller.plan_pulls(settings, component or (), deps, found)
    console = Console()
    for line in puller.describe(steps):
        console.say(line)
    puller.preflight(steps, run.clients(), found)
    if verifier is not None:  # by the digest the pull will take: what is verified is what is pulled
        from ..supply.signing import verify_images

        images = [(step.kind, ImageRef(step.ref.host, step.ref.repository, digest=step.digest)) for step in steps]
        verifier.say(len(images), console)
        verifier.refuse(verify_images(verifier.tool, verifier.key, run.clients(), images, verifier.tlog),
                        len(images), console, "nothing pulled")
    if is_dry(c):
        return dry_footer(run)
    results = puller.run_pulls(run.engine(), steps, console)
    failed = [s for s in results if s.status != "pulled"]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} pull(s) failed")


class _Verifier(NamedTuple):
    """What pull and import verify with: cosign (found, its version checked) and the key, before any request."""

    tool: "Cosign"
    key: str
    tlog: bool

    @classmethod
    def of(cls, config, key: str) -> "_Verifier":
        """``config`` None: no build.toml (``import --check``): cosign from PATH, the key from here."""
        from ..supply import cosign, signing

        root = config.root if config else Path.cwd()
        return cls(cosign.find(config.sign_cosign if config else "", root), signing.key_path(key, root, "verify"),
                   config.verify_tlog if config else False)

    def say(self, count: int, console: Console, where: str = "") -> None:
        console.say(f"verify {count} image(s)' signatures with {self.key} ({self.tool.describe()}){where}")

    def refuse(self, failures, count: int, console: Console, nothing_done: str) -> None:
        """One line naming the first image cosign refused (the task stops), else how many were verified."""
        if failures:
            what, image, why = failures[0]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise OperationFailed(f"{nothing_done}: {what} {image} is not signed by {self.key}: {why}{more}")
        console.say(f"verified  {count} signature(s)")


def _verify_bundle(run, opened, key: str, console: Console) -> None:
    """import --verify-key: every image's signature, from the bundle, checked by cosign before anything moves."""
    from ..supply.signing import verify_bundle

    verifier = _Verifier.of(_config_or_none(run), key)
    count = sum(1 for image in opened.images if image.kind != "attached")
    verifier.say(count, console, ", from the bundle")
    verifier.refuse(verify_bundle(verifier.tool, verifier.key, opened, verifier.tlog), count, console,
                    "nothing imported")


def _config_or_none(run):
    """build.toml's settings, or None where there is none (import --check, --engine need none)."""
    from ..config import find_config
    from ..errors import ConfigError

    try:
        find_config(str(run.project_dir) if run.project_dir else None)
    except ConfigError:
        return None
    return run.config()


def _same_project(run, opened, bundle) -> None:
    """A bundle of another project would merge its images into this one's release record: refused (checked by
    --check too), where a build.toml says which project this is."""
    config = _config_or_none(run)
    if config is None:
        return  # no build.toml (a bare --check): nothing to compare with
    project = config.project
    if opened.project != project:
        raise UsageError(f"bundle {bundle} holds project {opened.project[:100]!r}, not {project!r} (build.toml "
                         "[project] name); nothing imported")
