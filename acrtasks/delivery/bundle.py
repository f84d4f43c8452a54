"""Offline delivery: ``export`` writes a bundle, ``import`` reads one back into a registry or the engine.

A bundle is one tar that is at once an OCI image layout (``index.json``,
``blobs/sha256``; one entry per image, named by its full ref), a ``docker
load`` archive (``manifest.json`` for one platform, tagged with the local
names and registry refs), and a record (``acrtasks-bundle.json``) with
checksums of every file (``checksums.sha256``, for ``sha256sum -c``).

What cosign keeps beside an image in its registry (``sha256-<hex>.sig``, ``.att``, ``.sbom``, the referrers
tag) goes into the bundle as ``attached`` entries (``of``: the image's ref) and back beside the image at import;
``import --verify-key`` checks each image's signature from the bundle alone (cosign's ``--local-image``).

Everything is planned and preflighted first (each image found in a registry
or the engine, the target reachable, the bundle verified); then the copy
engine (:mod:`acrtasks.copy`) moves the bytes.
"""

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..config import Settings, check_platforms
from ..copy.copier import CopyResult, copy_image
from ..copy.layout import LayoutReader, LayoutSource, LayoutTarget, LayoutWriter
from ..copy.manifests import Manifest, platform_matches
from ..copy.remote import RegistrySource, RegistryTarget, UploadSessions
from ..deps import source_hosts
from ..errors import (
    AcrError,
    BundleError,
    Kind,
    RegistryPreflightError,
    RegistryError,
    UsageError,
    explain,
)
from ..naming import DOCKER_HUB, ImageRef, check_path_component, check_tag
from ..registry.client import Clients
from ..release.record import ComponentEntry, DependencyEntry
from ..util import gitinfo
from ..util.console import Console, human_bytes
from ..util.inputs import parse_json
from ..release.images import release_of

RECORD = "acrtasks-bundle.json"
FORMAT = "acrtasks-bundle/1"
COMPRESSIONS = ("none", "gzip")
SOURCES = ("registry", "engine", "auto")
KINDS = ("component", "dependency", "attached")  # attached: a signature or attestation of another entry


def familiar(ref: ImageRef) -> ImageRef:
    """The name docker shows, as an engine name: ``docker.io/library/postgres:15`` -> ``postgres:15``."""
    if ref.host != DOCKER_HUB:
        return ref
    repository = ref.repository
    if repository.startswith("library/") and repository.count("/") == 1:
        repository = repository[len("library/"):]
    return ImageRef("", repository, ref.tag, ref.digest)


@dataclass
class BundleImage:
    """One image of a bundle: what it is, what it is called, and where its bytes come from."""

    kind: str  # component | dependency
    name: str  # the component, or the dependency as configured
    ref: ImageRef  # its name in the bundle: the registry ref of a component, the source of a dependency
    tags: List[ImageRef]  # what `docker load` tags it as: the local name first
    origin: str = ""  # registry host the bytes come from, or "engine"
    origin_ref: Optional[ImageRef] = None  # the ref at the origin (a mirror's, the engine's local name)
    result: Optional[CopyResult] = None
    of: Optional[ImageRef] = None  # an attached entry's image (its bundle ref)

    @property
    def local(self) -> ImageRef:
        return self.tags[0]


# -- export ---------------------------------------------------------------------------------------

@dataclass
class ExportPlan:
    output: Path
    compress: str
    images: List[BundleImage]
    platforms: List[str]
    load_platform: str

    def describe(self) -> List[str]:
        lines = [f"export {len(self.images)} image(s) to {self.output}"
                 f"{' (gzip)' if self.compress == 'gzip' else ''}; docker load gets {self.load_platform}:"]
        for image in self.images:
            lines.append(f"  {image.kind:<10} {image.ref} from {image.origin or '?'}")
        return lines


def default_output(settings: Settings, compress: str) -> Path:
    return Path(f"{settings.config.project}-{settings.version}.tar{'.gz' if compress == 'gzip' else ''}")


def check_export_flags(compress: str, platforms: Sequence[str], load_platform: str, source: str) -> None:
    """export's flags, checked before anything is asked of a registry."""
    if compress not in COMPRESSIONS:
        raise UsageError(f"--compress {compress!r} is not one of {', '.join(COMPRESSIONS)} (zstd is not offered: "
                         "docker 20.10 cannot load it)")
    check_platforms([*platforms, load_platform])
    if source not in SOURCES:
        raise UsageError(f"--source {source!r} is not one of {', '.join(SOURCES)}")


def read_record(clients: Clients, source: str, record_ref: Optional[ImageRef]):
    """The release record (record.Record) of the release to export, or None: none, no registry, or ``--source
    engine``. Unreadable is fatal where the registry is the only source (or the record is corrupt)."""
    from ..release import record

    if source == "engine" or record_ref is None:
        return None
    try:
        return record.read(clients, record_ref)
    except RegistryError as exc:
        if source == "registry" or exc.kind == Kind.INTEGRITY:
            raise RegistryPreflightError(f"nothing exported: {explain(exc)}") from None
        return None


def plan_export(settings: Settings, components: Sequence[str], with_deps: bool, output: Optional[str],
                compress: str, platforms: Sequence[str], load_platform: str, found=None) -> ExportPlan:
    """The images of the bundle and their names: the components the release record holds (``found``; narrowed
    by ``components``), else build.toml's; where their bytes come from is decided by :func:`locate`."""
    from ..release.record import components_of

    release = release_of(settings)
    chosen = ([release.component(name) for name in components_of(found, components)] if found is not None
              else release.selected(components) if components or release.components else [])
    images = [BundleImage("component", c.name, c.ref, list(dict.fromkeys([c.local, c.ref]))) for c in chosen]
    if with_deps:
        for text in release.dependency_sources.images:
            source = ImageRef.parse(text)
            source = source if source.tag or source.digest else source.with_tag("latest")
            images.append(BundleImage("dependency", text, source, [familiar(source)]))
    if not images:
        raise UsageError("nothing to export: no components in build.toml and --no-deps (or no [deps])")
    path = Path(output) if output else default_output(settings, compress)
    if path.is_dir():
        raise UsageError(f"--output {path} is a directory; name the bundle file, e.g. {path / default_output(settings, compress).name}")
    return ExportPlan(path, compress, images, list(platforms), load_platform)


def locate(plan: ExportPlan, clients: Clients, source: str, engine_factory, mirrors: Sequence[str],
           found_record=None) -> None:
    """Preflight: find every image before a byte is written: the release record (:func:`read_record`) names the
    whole release, else one HEAD request each, or the engine."""
    missing = []
    for image in plan.images:
        if found_record is not None and image.ref.host and found_record.digest_of(image.ref):
            image.origin, image.origin_ref = image.ref.host, image.ref
            continue
        if source != "engine":
            # a component without a registry is only in the engine
            hosts = source_hosts(image.ref, mirrors) if image.ref.host else []
            for host in hosts:
                try:
                    found = RegistrySource(clients.get(host), image.ref.repository).digest(image.ref.reference)
                except RegistryError as exc:
                    if source == "registry":
                        raise RegistryPreflightError(f"nothing exported: {explain(exc)}") from None
                    found = None
                if found:
                    image.origin, image.origin_ref = host, image.ref
                    break
        if not image.origin and source != "registry":
            engine = engine_factory()
            local = _engine_name(image)
            if engine.image_id(local) is not None:
                image.origin, image.origin_ref = "engine", local
        if not image.origin:
            missing.append(str(image.ref))
    if missing:
        where = {"registry": "in its registry", "engine": "in the engine"}.get(source, "in a registry or the engine")
        raise RegistryPreflightError(f"nothing exported: not found {where}: {', '.join(missing)} (build and push it, or "
                             "run push-deps / docker pull first)")


def _engine_name(image: BundleImage) -> ImageRef:
    return image.local if image.kind == "component" else image.ref


def run_export(plan: ExportPlan, settings: Settings, clients: Clients, engine_factory, console: Console,
               drop_attestations: str = "") -> Path:
    """Write the bundle; on any failure (or Ctrl-C) the partial file is removed."""
    from ..copy.daemon import EngineSource

    writer = LayoutWriter(plan.output, plan.compress if plan.compress != "none" else None)
    try:
        with console.progress("B", "export") as jobs:
            for image in plan.images:
                started = time.monotonic()
                name = str(image.ref)
                jobs.start(name)
                if image.origin == "engine":
                    source = EngineSource(engine_factory(), image.origin_ref)
                    reference = "engine"
                else:
                    source = RegistrySource(clients.get(image.origin), image.ref.repository)
                    reference = image.ref.reference
                try:
                    image.result = copy_image(
                        source, reference, LayoutTarget(writer, name), plan.platforms if image.origin != "engine"
                        else (), with_platforms=True, on_bytes=lambda done, total: jobs.update(name, done, total),
                        workers=1, drop_attestations=drop_attestations)
                finally:
                    if hasattr(source, "close"):
                        source.close()
                jobs.end(name, None)
                result = image.result
                console.say(f"exported  {image.ref} ({len(result.images)} platform(s), {human_bytes(result.size)}, "
                            f"from {image.origin}, {time.monotonic() - started:.1f}s)")
        plan.images += _export_attached(plan, clients, writer, console)
        docker_manifest, skipped, loads = _docker_manifest(plan, writer.images)
        for image in skipped:
            console.warn(f"{image.ref} has no {plan.load_platform}: `docker load` of the bundle leaves it out "
                         "(import --engine --platform P loads it)")
        writer.finish({"manifest.json": json.dumps(docker_manifest, indent=2).encode(),
                       RECORD: json.dumps(_record(plan, settings), indent=2).encode()}, loads)
    except BaseException:
        writer.abort()
        raise
    return plan.output


def _export_attached(plan: ExportPlan, clients: Clients, writer: LayoutWriter, console: Console
                     ) -> List[BundleImage]:
    """Each exported image's signatures and attestations (supply.carry's tags) from its registry, where the
    bundle keeps the image's own digest (not reduced to platforms, nothing dropped)."""
    from ..supply.carry import Finder, WithReferrersTag, referrers_index, vetted
    from ..supply.signing import signature_tag

    found = []
    finder = Finder()  # one tag list per repository, not a request per image and tag
    for image in list(plan.images):
        if image.origin in ("", "engine") or image.result is None or image.result.source_digest:
            continue
        source = RegistrySource(clients.get(image.origin), image.ref.repository)
        tags = {tag: source for tag in finder.beside(source, image.result.digest)}
        listed = finder.referrers(source, image.result.digest)
        kept, left = vetted(source, image.result.digest, listed or [])
        for what, why in left:
            console.warn(f"{image.ref}: {what} left out of the bundle ({why})")
        if kept:  # the Referrers API's list goes into the bundle as the referrers tag (the fallback form)
            tag = signature_tag(image.result.digest, "")
            tags[tag] = WithReferrersTag(source, tag, referrers_index(kept))
        for tag, origin in tags.items():
            ref = ImageRef(image.ref.host, image.ref.repository, tag)
            attached = BundleImage("attached", image.name, ref, [ref], image.origin, ref, of=image.ref)
            attached.result = copy_image(origin, tag, LayoutTarget(writer, str(ref)), workers=1)
            console.say(f"exported  {ref} (beside {image.ref})")
            found.append(attached)
    return found


def _docker_manifest(plan: ExportPlan, written: Dict[str, Manifest]) -> Tuple[List[dict], List[BundleImage],
                                                                             List[Tuple[List[str], Manifest]]]:
    """``manifest.json`` (what ``docker load`` on the classic store reads: one platform of each image), the
    images it leaves out, and each entry's names with the whole image as ``written`` (index.json's entries
    for them: the containerd store's ``docker load`` reads those, and keeps every platform, as it held it)."""
    from ..copy.layout import blob_path

    entries, skipped, tagged, loads = [], [], set(), []
    for image in plan.images:
        if image.kind == "attached":  # a signature is no image to load
            continue
        chosen = [m for platform, m in image.result.images if not platform or platform_matches(platform, plan.load_platform)]
        if not chosen:
            skipped.append(image)
            continue
        manifest = chosen[0]
        tags = [t for t in image.tags if t not in tagged]
        tagged.update(tags)
        entries.append({"Config": blob_path(manifest.config()[0]), "RepoTags": [str(tag) for tag in tags],
                        "Layers": [blob_path(d) for d, _ in manifest.layers()]})
        loads.append(([str(tag) for tag in tags], written.get(str(image.ref), manifest)))
    return entries, skipped, loads


def _record(plan: ExportPlan, settings: Settings) -> dict:
    return {
        "format": FORMAT,
        "project": settings.config.project,
        "version": settings.version,
        "revision": gitinfo.revision(settings.config.root),
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "load_platform": plan.load_platform,
        "images": [{"kind": i.kind, "name": i.name, "ref": str(i.ref), "tags": [str(t) for t in i.tags], "source": i.origin,
                    "digest": i.result.digest, "size": i.result.size,
                    "platforms": {p or "unknown": m.digest for p, m in i.result.images},
                    **({"of": str(i.of)} if i.of is not None else {})}
                   for i in plan.images],
    }


# -- import ---------------------------------------------------------------------------------------

@dataclass
class Bundle:
    """A verified bundle and its record."""

    reader: LayoutReader
    project: str
    version: str
    images: List[BundleImage]
    files: int = 0
    bytes: int = 0


def open_bundle(path: Path, on_file=lambda name, size: None) -> Bundle:
    """Verify every checksum, then read the record and the index; any fault names the file."""
    reader = LayoutReader(path)
    try:
        listed = reader.verify(on_file)
        record = reader.read_json(RECORD)
        bad = lambda what: BundleError(f"bundle {path}: {RECORD}: {what}")  # noqa: E731
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise bad(f"not a {FORMAT} record")
        project, version = record.get("project"), record.get("version")
        if not isinstance(project, str) or not isinstance(version, str) or not isinstance(record.get("images"), list):
            raise bad("project, version or images missing")
        try:  # both are shown and stored: a raw ESC in them would reach the terminal and the release record
            check_path_component(project, "project")
            check_tag(version, "version")
        except AcrError as exc:
            raise bad(str(exc)) from None
        named = {(e.get("annotations") or {}).get("org.opencontainers.image.ref.name"): e for e in reader.index()}
        images = []
        for entry in record["images"]:
            try:
                kind, name, ref, tags = entry["kind"], entry["name"], entry["ref"], entry["tags"]
                assert kind in KINDS and isinstance(name, str) and isinstance(tags, list) and tags
                assert all(isinstance(t, str) for t in tags)
                image = BundleImage(kind, name, ImageRef.parse_engine_name(ref),
                                    [ImageRef.parse_engine_name(tag) for tag in tags])  # read once, here
                if kind == "component":
                    check_path_component(name, "component")
                if kind == "attached":  # beside an image listed before it
                    image.of = ImageRef.parse_engine_name(entry["of"])
                    assert any(str(other.ref) == entry["of"] for other in images if other.kind != "attached")
            except (KeyError, TypeError, AssertionError, AcrError):
                raise bad(f"image entry {json.dumps(entry)[:120]} is malformed") from None
            if ref not in named:
                raise BundleError(f"bundle {path}: index.json has no image named {ref}")
            _check_blobs(reader, named[ref]["digest"], listed)
            images.append(image)
        return Bundle(reader, project, version, images, len(listed), sum(reader.size(n) for n in listed))
    except BaseException:
        reader.close()
        raise


def _check_blobs(reader: LayoutReader, digest: str, listed: Dict[str, str]) -> None:
    """Every manifest and blob an image needs is in the bundle (and was verified)."""
    from ..copy.layout import blob_path

    if blob_path(digest) not in listed:
        raise BundleError(f"bundle {reader.path}: {blob_path(digest)} is missing")
    manifest = reader.manifest(digest)
    for child in manifest.children():
        _check_blobs(reader, child["digest"], listed)
        _check_size(reader, child["digest"], child.get("size"))
    for blob, size in manifest.blobs():
        if blob_path(blob) not in listed:
            raise BundleError(f"bundle {reader.path}: {blob_path(blob)} is missing")
        _check_size(reader, blob, size)


def _check_size(reader: LayoutReader, digest: str, size) -> None:
    """A descriptor's size is its blob's: checked before import, so a verified bundle imports whole."""
    from ..copy.layout import blob_path

    name = blob_path(digest)
    if isinstance(size, int) and reader.size(name) != size:
        raise BundleError(f"bundle {reader.path}: {name} is {reader.size(name)} bytes; its descriptor says {size}")


def registry_targets(bundle: Bundle, settings: Settings) -> List[Tuple[BundleImage, ImageRef]]:
    """Where each image goes in the registry: components by the naming rules (with the aliases and ``latest``
    of build.toml, as ``push`` would), dependencies as push-deps names them."""
    if settings.naming.registry is None:
        raise UsageError("import needs --registry R (or [registry] url), or --engine")
    release = release_of(settings)  # at the bundle's version: the task resolves the settings with it
    targets: List[Tuple[BundleImage, ImageRef]] = []
    for image in bundle.images:
        if image.kind == "component":  # every ref a push makes: the component's, its aliases', latest's
            targets.extend((image, ref) for ref in release.component(image.name).registry_refs)
        elif image.kind == "dependency":
            targets.append((image, release.dependency(image.name).target))
    for image in bundle.images:  # beside its image, in every repository the image goes to
        if image.kind == "attached":
            places = dict.fromkeys((ref.host, ref.repository) for owner, ref in targets if owner.ref == image.of)
            targets.extend((image, ImageRef(host, repository, image.ref.tag)) for host, repository in places)
    return targets


def import_to_registry(bundle: Bundle, targets: Sequence[Tuple[BundleImage, ImageRef]], clients: Clients,
                       console: Console, dry: bool, jobs: int = 4, drops=lambda host: ""
                       ) -> List[Tuple[BundleImage, ImageRef, CopyResult]]:
    """``drops``: target host -> leave attestations out (config.drops_attestations)."""
    from ..util.jobs import run_jobs

    for host in dict.fromkeys(ref.host for _, ref in targets):
        try:
            clients.get(host).check_login()
        except RegistryError as exc:
            raise RegistryPreflightError(f"nothing imported: target {explain(exc)}") from None
    sessions = UploadSessions()
    from ..copy.locations import BlobLocations

    locations = BlobLocations.default()

    def one(item):
        image, ref = item
        target = RegistryTarget(clients.get(ref.host), ref.repository, ref.tag, sessions, locations)
        try:
            result = copy_image(LayoutSource(bundle.reader, str(image.ref)), str(image.ref), target, dry=dry,
                                tries=target.client.tries, backoff=target.client.backoff,
                                drop_attestations="" if image.kind == "attached" else drops(ref.host))
        except RegistryError as exc:
            if image.kind != "attached":
                raise
            # a signature or attestation the target refuses (ACR: OCI artifacts) stays behind; the image went
            console.say(f"left      {image.ref} behind: {explain(exc)[:300]}")
            return image, ref, CopyResult("left behind", "")
        console.say(f"{result.status:<9} {image.ref} -> {ref} ({result.digest}, "
                    f"{human_bytes(result.bytes_uploaded)} uploaded)")
        return image, ref, result

    try:
        return run_jobs(one, list(targets), jobs, on_interrupt=sessions.cancel_all)
    finally:
        locations.save()


def import_to_engine(bundle: Bundle, engine, platform: str, console: Console, dry: bool) -> List[Tuple[BundleImage, str]]:
    from ..copy.daemon import EngineTarget

    done = []
    for image in bundle.images:
        if image.kind == "attached":  # signatures stay in registries: the engine keeps none
            continue
        if dry:
            console.say(f"would load {image.ref} ({platform}) as {', '.join(map(str, image.tags))}")
            continue
        target = EngineTarget(engine, [str(tag) for tag in image.tags])
        try:
            result = copy_image(LayoutSource(bundle.reader, str(image.ref)), str(image.ref), target, [platform])
        finally:
            target.close()
        console.say(f"loaded    {image.ref} ({platform}, {result.digest}) as {', '.join(map(str, image.tags))}")
        done.append((image, result.digest))
    return done


def engine_platform(engine) -> str:
    """The engine's own platform, ``linux/amd64`` style."""
    version = engine.api.version()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(version.get("Arch", ""), version.get("Arch", "amd64"))
    return f"{version.get('Os', 'linux')}/{arch}"


def record_of_import(bundle: Bundle, results: Sequence[Tuple[BundleImage, ImageRef, CopyResult]],
                     settings: Settings) -> Tuple[Dict[str, ComponentEntry], List[DependencyEntry]]:
    """The release record's entries for what an import pushed: each component's refs and digests, its
    platforms and the input digest its image carries (its label; the parts stay with the release it was built
    in)."""
    digests: Dict[str, Dict[str, str]] = {}
    facts: Dict[str, Tuple[List[str], str]] = {}  # component -> (platforms, input digest), from its first image
    dependencies: List[DependencyEntry] = []
    for image, ref, result in results:
        if image.kind == "attached":
            continue
        if image.kind != "component":
            dependencies.append(DependencyEntry.made(release_source(settings, image), ref, result.digest))
            continue
        digests.setdefault(image.name, {})[str(ref)] = result.digest
        if image.name not in facts:
            facts[image.name] = ([p for p, _ in result.images], _input_label(bundle, image, result))
    components = {name: ComponentEntry.made(settings, name, refs, facts[name][0], facts[name][1])
                  for name, refs in digests.items()}
    return components, dependencies


def _input_label(bundle: Bundle, image: BundleImage, result: CopyResult) -> str:
    """The input digest an imported image's config carries as its label; "" without one."""
    from ..components.plan import LABEL
    from ..copy.copier import read_small_blob
    from ..copy.manifests import MAX_CONFIG

    if not (result.images and result.images[0][1].config()):
        return ""
    source = LayoutSource(bundle.reader, str(image.ref))
    try:
        config = parse_json(read_small_blob(source, *result.images[0][1].config(), MAX_CONFIG))
        labels = ((config.get("config") or {}).get("Labels") or {}) if isinstance(config, dict) else {}
    except (ValueError, AttributeError):
        return ""
    digest = labels.get(LABEL, "") if isinstance(labels, dict) else ""
    return digest if isinstance(digest, str) else ""


def release_source(settings: Settings, image: BundleImage) -> ImageRef:
    """A dependency's source as push-deps records it (the bundle names it by its configured source)."""
    return release_of(settings).dependency(image.name).source
