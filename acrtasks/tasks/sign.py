"""sign: every image of a release signed by digest with cosign (``acrtasks.supply``); the record lists each."""

from typing import TYPE_CHECKING, List, NamedTuple, Optional, Sequence

from ..config import positive_int
from ..errors import OperationFailed, RegistryPreflightError, UsageError
from ..util.console import Console, count_line
from .common import boundary, dry_footer, is_dry, shared, start, task

if TYPE_CHECKING:  # loaded by the task, not by `inv --list`
    from ..supply.cosign import Cosign

DEFAULT_JOBS = 4


@task(iterable=["component"], help=shared(
    "component", "registry", "version", "layout", "no_record",
    key="a cosign key file, or a KMS URI cosign knows (awskms://, gcpkms://, azurekms://, hashivault://, "
        "k8s://); its password: $COSIGN_PASSWORD, else a prompt (never a flag); default: [sign] key",
    deps="sign the release's dependencies (push-deps' copies) too; default: [sign] deps",
    tlog="also upload each signature to the transparency log (Rekor; needs the internet); default: [sign] tlog",
    jobs=f"images signed at once (default {DEFAULT_JOBS})"))
@boundary
def sign(c, component=None, registry=None, version=None, layout=None, key=None, deps=False, tlog=False, jobs=None,
         no_record=False):
    """Sign each image the release pushed, by digest, with cosign; the signatures go beside them (.sig tags)."""
    run = start(c)
    settings = run.settings(Console().warn, registry=registry, version=version, layout=layout)
    job_count = positive_int(jobs, "--jobs") if jobs is not None else DEFAULT_JOBS
    try:
        setup = prepare(settings, key, tlog, dry=is_dry(c))
        sign_release(run, settings, setup, component or (), deps or settings.config.sign_deps, job_count,
                     dry=is_dry(c))
    finally:  # what this chain pushed is recorded even when signing failed (sign writes the chain's record)
        run.recorder.write("sign", Console().say, no_record or is_dry(c))
    if is_dry(c):
        dry_footer(run)


class Setup(NamedTuple):
    """What signing needs, checked before anything is pushed or signed."""

    tool: "Cosign"
    key: str  # a file path or a KMS URI
    password: Optional[str]
    tlog: bool


def prepare(settings, key: Optional[str] = None, tlog: bool = False, dry: bool = False) -> Setup:
    """cosign found and its version checked, the key there, its password in hand: the preflight of signing."""
    from ..supply import cosign, signing

    config = settings.config
    if settings.naming.registry is None:
        raise UsageError("sign signs what a registry holds: pass --registry host[/namespace] (or [registry] url)")
    key_text = signing.key_path(key or config.sign_key, config.root, "sign")
    tool = cosign.find(config.sign_cosign, config.root)
    password = None if dry else signing.key_password(key_text)
    return Setup(tool, key_text, password, tlog or config.sign_tlog)


def sign_release(run, settings, setup: Setup, selected: Sequence[str], deps: bool, jobs: int = DEFAULT_JOBS,
                 dry: bool = False) -> None:
    """Sign what the release holds (the record in the registry, with this chain's own pushes over it); the
    signatures go to the chain's record."""
    from ..release import record as records
    from ..supply import cosign, signing
    from ..util.jobs import run_jobs

    ref = records.record_ref(settings.naming, settings.version)
    assert ref is not None  # prepare() refused a run without a registry
    earlier = records.read(run.clients(), ref)
    pushed = run.recorder.pushed(settings)
    found = earlier.merged(pushed) if earlier and pushed else earlier or pushed
    if found is None:
        raise RegistryPreflightError(f"nothing to sign: no release record {ref} (a push of version "
                                     f"{settings.version} writes it)")
    targets = signing.to_sign(found, selected, deps)
    console = Console()
    log = "uploaded to the transparency log" if setup.tlog else "no transparency log (offline)"
    console.say(f"sign {len(targets)} image(s) of release {settings.version} with {setup.key} "
                f"({setup.tool.describe()}); signatures as sha256-<digest>.sig beside each, {log}:")
    for what, image in targets:
        console.say(f"  {what}: {image}")
    if dry or not targets:
        return
    signer = signing.Signer(setup.tool, setup.key, setup.password, setup.tlog, run.clients())
    try:
        with console.progress("images", "sign") as progress:
            def one(item) -> "signing.Signed":
                progress.start(str(item[1]))
                result = signer.sign(*item)
                progress.end(str(item[1]), "ok" if result.ok else "failed")
                return result

            results: List[signing.Signed] = run_jobs(one, targets, jobs, on_interrupt=cosign.cancel_all)
    finally:
        signer.close()
    console.table(("status", "image", "signature", "digest"),
                  [(r.status, f"{r.what}: {r.image}", r.entry.signature if r.entry else r.error,
                    r.entry.digest if r.entry else "") for r in results], keep=2)
    console.say(count_line(r.status for r in results))
    run.recorder.add(settings, signatures=[r.entry for r in results if r.entry is not None])
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(results)} image(s) not signed; first: {failed[0].image}: "
                              f"{failed[0].error}")
