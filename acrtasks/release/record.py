"""The release record: ``release-<version>`` in the project's repository, what one release is.

It is a plain OCI image manifest (no ``artifactType``, no empty config: ACR stores it) with a JSON config
and one layer, a tar holding ``release.json``::

    {"schema": "acrtasks.release.v1", "project": "...", "version": "v2", "created": "...",
     "components": {"backend": {"refs": {"<ref>": "<digest>", ...}, "digest": "<digest of its own ref>",
                                "input": {"digest": "...", "parts": {...}} (or {}), "platforms": ["linux/amd64"],
                                "aliases": ["backend-init"], "latest": false, "since": "v1"}},
     "dependencies": [{"source": "docker.io/library/postgres:15-alpine", "target": "...", "digest": "..."}],
     "signatures": [{"image": "<repo>@<digest>", "signature": "<repo>:sha256-<hex>.sig", "digest": "..."}]}

``build`` compares inputs with the newest record; ``pull``, ``export``, ``set-images --pin digest`` read
digests from it (two requests for the whole release); ``promote`` copies what it names. Everything read
back is checked where it enters: sizes bounded, every ref and digest valid.
"""

import io
from datetime import datetime, timezone
import json
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from ..errors import Kind, NotFound, RegistryError, UsageError
from ..naming import TAG, ImageRef, Naming, check_tag, digest_problem
from ..util.inputs import parse_json

SCHEMA = "acrtasks.release.v1"
RECORD_FILE = "release.json"
TAG_PREFIX = "release-"
MAX_RECORD = 4 << 20  # a record of a thousand components stays far below
LABEL = "org.acrtasks.release.record"

if TYPE_CHECKING:  # imported where used: every task reads this module, few copy a record
    from ..config import Settings
    from ..copy.manifests import Manifest
    from ..copy.memory import MemorySource
    from ..copy.remote import UploadSessions
    from ..registry.client import Clients, RegistryClient


def own_digest(digests: Mapping[str, str], own: Optional[ImageRef]) -> str:
    """A component's own digest: its own ref's (``<repo>:<version>``, or the flat tag), else its first ref's
    (the one rule, for every way an entry is made)."""
    return digests[str(own)] if own is not None and str(own) in digests else next(iter(digests.values()))


class ComponentEntry(NamedTuple):
    """One component of a release, as its record states it."""

    refs: Dict[str, str]  # every ref pushed -> the digest it holds
    digest: str  # its own ref's (see own_digest)
    input: Dict[str, Any]  # {"digest": ..., "parts": {...}}; {}: no input digest (built by hand, or imported)
    platforms: Tuple[str, ...]
    aliases: Tuple[str, ...]
    latest: bool
    since: str = ""  # unchanged since that version: its image relabelled, not built
    source_digest: str = ""  # promoted with --platform: the index it was reduced from

    @classmethod
    def made(cls, settings: "Settings", name: str, digests: Mapping[Any, str], platforms: Sequence[str],
             input_digest: str = "", parts: Optional[Dict[str, Any]] = None, since: str = "") -> "ComponentEntry":
        """The entry of ``settings``' release for component ``name``, whose refs hold ``digests`` (ImageRef or
        text -> digest): what push, a build that pushed and import record. Aliases and ``latest`` come from
        build.toml as this release names them."""
        from .images import release_of

        refs = {str(ref): digest for ref, digest in digests.items()}
        component = settings.config.components.get(name)
        return cls(refs, own_digest(refs, release_of(settings).component(name).ref),
                   {"digest": input_digest, "parts": dict(parts or {})} if input_digest else {},
                   tuple(sorted(p for p in platforms if p)), tuple(component.aliases) if component else (),
                   settings.tag_latest, since)

    def promoted(self, digests: Mapping[str, str], own: ImageRef, platforms: Sequence[str] = (),
                 source_digest: str = "") -> "ComponentEntry":
        """The same entry where promote copied it: the destination's refs, its own ref there; with
        ``platforms``, reduced to those from the index ``source_digest``."""
        entry = self._replace(refs=dict(digests), digest=own_digest(digests, own))
        return entry._replace(platforms=tuple(platforms), source_digest=source_digest) if source_digest else entry

    @property
    def input_digest(self) -> str:
        return self.input.get("digest", "") if self.input else ""

    def own_ref(self) -> Optional[ImageRef]:
        """Its own ref at its digest, not a ``latest`` one (a later release may have moved it)."""
        refs = sorted((ref for ref, digest in self.refs.items() if digest == self.digest),
                      key=lambda ref: ref.endswith("latest"))
        return ImageRef.parse(refs[0]) if refs else None

    def to_json(self) -> Dict[str, Any]:
        body = {"refs": self.refs, "digest": self.digest, "input": self.input, "platforms": list(self.platforms),
                "aliases": list(self.aliases), "latest": self.latest}
        if self.since:
            body["since"] = self.since
        if self.source_digest:
            body["source_digest"] = self.source_digest
        return body


class DependencyEntry(NamedTuple):
    """One dependency of a release: where it came from, where it went, what it is."""

    source: str
    target: str
    digest: str
    source_digest: str = ""  # the source's index, when only some of its platforms were mirrored

    @classmethod
    def made(cls, source: Any, target: Any, digest: str, source_digest: str = "") -> "DependencyEntry":
        return cls(str(source), str(target), digest, source_digest)

    def to_json(self) -> Dict[str, Any]:
        return {key: value for key, value in self._asdict().items() if value or key != "source_digest"}


class SignatureEntry(NamedTuple):
    """One signature ``inv sign`` made: the image it signs (by digest), where cosign put it (the tag form), and
    the digest of the signature manifest there."""

    image: str  # host/repository@sha256:...
    signature: str  # host/repository:sha256-<hex>.sig
    digest: str

    def to_json(self) -> Dict[str, Any]:
        return self._asdict()


class Record(NamedTuple):
    """One release, as written in (or read from) ``release-<version>``."""

    project: str
    version: str
    created: str
    components: Dict[str, ComponentEntry]
    dependencies: Tuple[DependencyEntry, ...] = ()
    signatures: Tuple[SignatureEntry, ...] = ()

    def digests(self) -> Set[str]:
        """Every image digest the record names (components' refs and dependencies)."""
        return {d for entry in self.components.values() for d in entry.refs.values()} | \
            {dep.digest for dep in self.dependencies}

    @classmethod
    def of(cls, settings: "Settings", components: Mapping[str, ComponentEntry],
           dependencies: Sequence[DependencyEntry] = ()) -> "Record":
        """A record of ``settings``' release, made now."""
        return cls(settings.config.project, settings.version, utc_now(), dict(components), tuple(dependencies))

    def merged(self, newer: "Record") -> "Record":
        """This record with ``newer``'s components, dependencies and signatures written over (a later push of the
        same version: one component again, push-deps after push, sign after push). A signature of an image the
        merged record no longer names (a component pushed again) is left out: it signs nothing of the release."""
        deps = {d.source: d for d in self.dependencies}
        deps.update({d.source: d for d in newer.dependencies})
        merged = Record(self.project, self.version, newer.created, {**self.components, **newer.components},
                        tuple(deps.values()))
        signatures = {s.image: s for s in self.signatures}
        signatures.update({s.image: s for s in newer.signatures})
        named = merged.digests()
        return merged._replace(signatures=tuple(s for s in signatures.values()
                                                if s.image.rsplit("@", 1)[-1] in named))

    def digest_of(self, ref: ImageRef) -> Optional[str]:
        """The digest the record holds for ``ref`` (a component's ref or a dependency's target)."""
        text = str(ref.with_tag(ref.tag))
        for entry in self.components.values():
            if text in entry.refs:
                return entry.refs[text]
        for dep in self.dependencies:
            if dep.target == text:
                return dep.digest
        return None

    def to_json(self) -> bytes:
        body = {"schema": SCHEMA, "project": self.project, "version": self.version, "created": self.created,
                "components": {name: entry.to_json() for name, entry in self.components.items()},
                "dependencies": [dep.to_json() for dep in self.dependencies]}
        if self.signatures:
            body["signatures"] = [signature.to_json() for signature in self.signatures]
        return json.dumps(body, indent=2, sort_keys=True).encode()


def components_of(found: Record, selected: Sequence[str]) -> List[str]:
    """The components a task takes of a recorded release: the record's, narrowed by ``--component``; a
    component the record does not hold is an error naming what it holds."""
    from ..config import component_names

    names = component_names(selected, sorted(found.components))
    missing = [name for name in names if name not in found.components]
    if missing:
        raise UsageError(f"release {found.version} holds no {', '.join(missing)} (its record lists "
                         f"{', '.join(sorted(found.components)) or 'no component'})")
    return names or sorted(found.components)


def utc_now() -> str:
    """Now, as the OCI ``created`` annotation writes it: RFC 3339, UTC, whole seconds (``2026-12-02T05:21:55Z``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_ref(naming: Naming, version: str) -> Optional[ImageRef]:
    """``<ns>/<project>:release-<version>``, flat or nested (nested: the project's own repository); None without
    a registry."""
    if naming.registry is None:
        return None
    tag = check_tag(TAG_PREFIX + version, "release record tag (release-<version>)")
    path = f"{naming.namespace}/{naming.project}" if naming.namespace else naming.project
    return ImageRef(naming.registry.host, path, tag)


# -- the manifest ------------------------------------------------------------------------------------------

def _tar(data: bytes) -> bytes:
    """One file in a tar, every field fixed: the same record is the same blob."""
    import tarfile  # here: every task reads this module, few write a record

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(RECORD_FILE)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def as_source(record: Record, where: str) -> Tuple["MemorySource", "Manifest"]:
    """The record as a copy source (copy.memory) and its manifest: copied to a registry like any image."""
    from ..copy.manifests import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, Manifest, sha256_digest
    from ..copy.memory import MemorySource

    layer = _tar(record.to_json())
    layer_digest = sha256_digest(layer)
    config = json.dumps({
        "architecture": "unknown", "os": "unknown", "created": record.created,
        "config": {"Labels": {LABEL: SCHEMA, "org.opencontainers.image.version": record.version,
                              "org.opencontainers.image.title": f"{record.project} release {record.version}"}},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": record.created, "created_by": "acrtasks release record"}],
    }, sort_keys=True, separators=(",", ":")).encode()
    config_digest = sha256_digest(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": RECORD_FILE}}],
        "annotations": {"org.opencontainers.image.version": record.version, LABEL: SCHEMA},
    }, indent=2, sort_keys=True).encode()
    top = Manifest(OCI_MANIFEST, manifest, sha256_digest(manifest))
    return MemorySource(where, {top.digest: top}, {layer_digest: layer, config_digest: config}), top


def write(clients: "Clients", ref: ImageRef, record: Record, sessions: Optional["UploadSessions"] = None) -> str:
    """Write ``record`` at ``ref`` through the copy engine; the digest the registry holds."""
    from ..copy.copier import copy_image
    from ..copy.remote import RegistryTarget, UploadSessions

    source, top = as_source(record, f"release record {record.version}")
    target = RegistryTarget(clients.get(ref.host), ref.repository, ref.tag or "latest", sessions or UploadSessions())
    return copy_image(source, top.digest, target, tries=target.client.tries, backoff=target.client.backoff).digest


# -- reading it back -----------------------------------------------------------------------------------------

def read(clients: "Clients", ref: ImageRef) -> Optional[Record]:
    """The record at ``ref``, checked; None when there is none (no such tag)."""
    from ..copy.copier import read_small_blob
    from ..copy.manifests import OCI_LAYER_TAR
    from ..copy.remote import RegistrySource

    client = clients.get(ref.host)
    source = RegistrySource(client, ref.repository)
    try:
        manifest = source.manifest(ref.tag or "latest")
    except NotFound:
        return None
    where = f"{ref}"
    layers = [] if manifest.is_index else manifest.data.get("layers") or []
    if len(layers) != 1 or not isinstance(layers[0], dict) or layers[0].get("mediaType") != OCI_LAYER_TAR:
        raise client.fail(f"{where} is not a release record (one tar layer expected); another tool wrote this "
                          "tag", Kind.INTEGRITY)
    digest, size = manifest.layers()[0]
    data = read_small_blob(source, digest, size, MAX_RECORD)
    return parse(_untar(data, client, where), client, where, (ref.tag or "")[len(TAG_PREFIX):])


def _untar(data: bytes, client: "RegistryClient", where: str) -> bytes:
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            member = tar.next()
            if member is None or member.name != RECORD_FILE or not member.isfile() or member.size > MAX_RECORD:
                raise ValueError(f"its layer holds no {RECORD_FILE}")
            handle = tar.extractfile(member)
            return handle.read(MAX_RECORD + 1) if handle else b""
    except (tarfile.TarError, ValueError, OSError) as exc:
        raise client.fail(f"{where} is not a release record ({exc})", Kind.INTEGRITY) from None


class _Checks:
    """The checks of a record's fields; each failure blames the registry ``where`` the record came from."""

    def __init__(self, client: "RegistryClient", where: str):
        self.client, self.where = client, where

    def bad(self, why: str) -> RegistryError:
        return self.client.fail(f"{self.where} is not a valid release record: {why}", Kind.INTEGRITY)

    def digest(self, value: Any, what: str) -> str:
        problem = digest_problem(value) if isinstance(value, str) else "is not a string"
        if problem:
            raise self.bad(f"{what} {str(value)[:80]!r} {problem}")
        return str(value)

    def ref_text(self, value: Any, what: str) -> str:
        if not isinstance(value, str):
            raise self.bad(f"{what} is not a string")
        try:
            ImageRef.parse(value)
        except RegistryError:
            raise
        except Exception:  # noqa: BLE001 - NamingError: not a reference
            raise self.bad(f"{what} {value[:80]!r} is not an image reference") from None
        return value

    def strings(self, value: Any, what: str) -> List[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) and len(item) < 256 for item in value):
            raise self.bad(f"{what} is not a list of strings")
        return value

    def component(self, name: Any, entry: Any) -> ComponentEntry:
        if not isinstance(name, str) or not re.match(r"[a-z0-9][a-z0-9._-]{0,127}\Z", name) \
                or not isinstance(entry, dict):
            raise self.bad(f"component {str(name)[:80]!r} is malformed")
        refs = entry.get("refs")
        if not isinstance(refs, dict):
            raise self.bad(f"component {name}: \"refs\" is not an object")
        inputs = entry.get("input") or {}  # {}: an image without an input digest (built by hand, imported)
        if not isinstance(inputs, dict) or (inputs and not isinstance(inputs.get("parts"), dict)):
            raise self.bad(f"component {name}: \"input\" is malformed")
        return ComponentEntry(
            {self.ref_text(ref, f"component {name}'s ref"): self.digest(d, f"component {name}'s digest")
             for ref, d in refs.items()},
            self.digest(entry.get("digest"), f"component {name}'s digest"),
            {"digest": self.digest(inputs.get("digest"), f"component {name}'s input digest"),
             "parts": inputs["parts"]} if inputs else {},
            tuple(self.strings(entry.get("platforms", []), f"component {name}'s platforms")),
            tuple(self.strings(entry.get("aliases", []), f"component {name}'s aliases")),
            bool(entry.get("latest", False)),
            entry["since"][:128] if isinstance(entry.get("since"), str) else "",
            self.digest(entry["source_digest"], f"component {name}'s source digest") if "source_digest" in entry
            else "")

    def signature(self, entry: Any) -> SignatureEntry:
        if not isinstance(entry, dict):
            raise self.bad("a signature is not an object")
        return SignatureEntry(self.ref_text(entry.get("image"), "a signature's image"),
                              self.ref_text(entry.get("signature"), "a signature's ref"),
                              self.digest(entry.get("digest"), "a signature's digest"))

    def dependency(self, dep: Any) -> DependencyEntry:
        if not isinstance(dep, dict):
            raise self.bad("a dependency is not an object")
        return DependencyEntry(self.ref_text(dep.get("source"), "a dependency's source"),
                               self.ref_text(dep.get("target"), "a dependency's target"),
                               self.digest(dep.get("digest"), "a dependency's digest"),
                               self.digest(dep["source_digest"], "a dependency's source digest")
                               if "source_digest" in dep else "")


def parse(raw: bytes, client: "RegistryClient", where: str, version: str) -> Record:
    """A record's JSON, every field checked (it came from a registry: anyone may have written it)."""
    check = _Checks(client, where)
    try:
        body = parse_json(raw)
    except ValueError:
        raise check.bad("not JSON") from None
    if not isinstance(body, dict) or body.get("schema") != SCHEMA:
        raise check.bad(f"no \"schema\": \"{SCHEMA}\"")
    if body.get("version") != version:
        raise check.bad(f"it records version {str(body.get('version'))[:80]!r}, not {version!r}")
    components = body.get("components")
    if not isinstance(components, dict):
        raise check.bad("\"components\" is not an object")
    dependencies = body.get("dependencies", [])
    if not isinstance(dependencies, list):
        raise check.bad("\"dependencies\" is not a list")
    signatures = body.get("signatures", [])
    if not isinstance(signatures, list):
        raise check.bad("\"signatures\" is not a list")
    created = body["created"] if isinstance(body.get("created"), str) else ""
    project = body["project"] if isinstance(body.get("project"), str) else ""
    return Record(project[:256], version, created[:64],
                  {name: check.component(name, entry) for name, entry in components.items()},
                  tuple(check.dependency(dep) for dep in dependencies),
                  tuple(check.signature(entry) for entry in signatures))


def release_tags(clients: "Clients", repo_ref: ImageRef) -> List[str]:
    """The versions that have a record in ``repo_ref``'s repository (the registry client pages its tag list)."""
    tags = clients.get(repo_ref.host).tags(repo_ref.repository)
    return [tag[len(TAG_PREFIX):] for tag in tags
            if tag.startswith(TAG_PREFIX) and len(tag) > len(TAG_PREFIX) and TAG.match(tag)]


def version_key(version: str) -> List[Tuple[int, int, str]]:
    """Versions in the order people mean: v0.0.10 after v0.0.9 (runs of digits compared as numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", version)]


def newest(clients: "Clients", naming: Naming, exclude: str) -> Optional[Record]:
    """The newest release record in the project's repository other than ``exclude``'s; None when none."""
    probe = record_ref(naming, exclude)
    if probe is None:
        return None
    versions = sorted((v for v in release_tags(clients, probe) if v != exclude), key=version_key)
    for version in reversed(versions[-3:]):  # a tag that is not ours (or vanished) falls back to the one before
        try:
            found = read(clients, probe.with_tag(TAG_PREFIX + version))
        except RegistryError as exc:
            if exc.kind != Kind.INTEGRITY:
                raise
            continue
        if found is not None:
            return found
    return None
