"""What a release signs, and how: each image it pushed, by digest, in every repository it lives in.

cosign's tag form puts a signature beside the image, in the same repository, at ``sha256-<hex>.sig``; so an
image pushed to two repositories (a component's alias, a second registry) is signed in each, or a verifier
there finds nothing. An image whose ``.sig`` already verifies with the public half of the key is not signed
again (cosign would append another signature to the same manifest at every run).
"""

import getpass
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import AcrError, OperationFailed, PreflightError
from ..naming import ImageRef
from ..release.record import Record, SignatureEntry, components_of
from .cosign import Cosign, CosignFailed, Registry, cancel_all, is_kms

#: cosign's tags beside an image: its signatures, attestations and SBOMs (``cosign attest``, ``attach sbom``).
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
#: cosign 3's signature stored as a referrer: its artifactType in the Referrers API's list.
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def signature_tag(digest: str, suffix: str = ".sig") -> str:
    """``sha256:abc`` -> ``sha256-abc.sig``: where cosign's tag form keeps what it attaches to that image."""
    return digest.replace(":", "-", 1) + suffix


def to_sign(record: Record, selected: Sequence[str] = (), deps: bool = False) -> List[Tuple[str, ImageRef]]:
    """(what, image by digest) for each distinct repository@digest of the release's components (``selected``,
    default all) and, with ``deps``, of its dependencies' targets; in the record's order."""
    found: Dict[str, Tuple[str, ImageRef]] = {}
    for name in components_of(record, selected):
        for ref_text, digest in record.components[name].refs.items():
            ref = ImageRef.parse(ref_text)
            image = ImageRef(ref.host, ref.repository, digest=digest)
            found.setdefault(str(image), (name, image))
    if deps:
        for dep in record.dependencies:
            target = ImageRef.parse(dep.target)
            image = ImageRef(target.host, target.repository, digest=dep.digest)
            found.setdefault(str(image), (dep.source, image))
    return list(found.values())


def registry_for(clients, host: str) -> Registry:
    """How cosign reaches ``host``: the credentials our docker config gives it, and docker's trust rules."""
    from ..registry.client import certs_dir

    client = clients.get(host)
    credentials = client.credentials
    directory = certs_dir() / host
    try:
        present = directory.is_dir()
    except OSError:
        present = False
    cas = tuple(sorted(directory.glob("*.crt"))) if present else ()
    pairs = [c for c in sorted(directory.glob("*.cert")) if c.with_suffix(".key").is_file()] if present else []
    return Registry(host, credentials.username if credentials else "", credentials.password if credentials else "",
                    credentials.identity_token if credentials else "", client.plain_http_allowed, cas,
                    (pairs[0], pairs[0].with_suffix(".key")) if pairs else None)


def key_path(key: str, root: Path, what: str) -> str:
    """A key as cosign takes it: a KMS URI unchanged, a file (relative to build.toml's folder) that must exist."""
    if not key:
        raise PreflightError(f"no key to {what} with: pass --key (a cosign key file or a KMS URI), or set [sign] key")
    if is_kms(key):
        return key
    path = Path(key).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise PreflightError(f"key {key!r}: no such file ({path})")
    return str(path)


def key_password(key: str, environ=os.environ, ask: Optional[Callable[[str], str]] = None) -> Optional[str]:
    """The password of a key file: ``$COSIGN_PASSWORD`` (cosign's own variable; "" for a key without one), else a
    prompt on a terminal; never a flag. None for a KMS key (the KMS holds it)."""
    if is_kms(key):
        return None
    if "COSIGN_PASSWORD" in environ:
        return environ["COSIGN_PASSWORD"]
    if ask is None and sys.stdin.isatty():
        ask = getpass.getpass
    if ask is None:
        raise PreflightError(f"the key {key} needs its password: set COSIGN_PASSWORD (\"\" for a key without one); "
                             "it is never taken as a flag")
    return ask(f"password of {key}: ")


@dataclass
class Signed:
    """One image's outcome: ``signed``, ``kept`` (its signature by this key was there), or ``failed``."""

    what: str
    image: ImageRef
    status: str
    entry: Optional[SignatureEntry] = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class Signer:
    """Signs images with one key through one cosign; the public half, asked of cosign once, checks what is
    there already."""

    def __init__(self, tool: Cosign, key: str, password: Optional[str], tlog: bool, clients):
        self.tool, self.key, self.password, self.tlog, self.clients = tool, key, password, tlog, clients
        self._scratch = tempfile.TemporaryDirectory(prefix="acrtasks-sign-")
        self._made: Dict[str, Path] = {}  # the public key, the offline signing config: each made once
        self._lock = threading.Lock()  # images are signed several at once

    def close(self) -> None:
        self._scratch.cleanup()

    def _once(self, name: str, make: Callable[[Path], Path]) -> Path:
        with self._lock:
            if name not in self._made:
                self._made[name] = make(Path(self._scratch.name) / name)
            return self._made[name]

    def public_key(self) -> str:
        return str(self._once("key.pub", lambda into: self.tool.public_key(self.key, self.password, into)))

    def offline_config(self) -> Path:
        return self._once("signing-config.json", self.tool.offline_signing_config)

    def signed_by_us(self, image: ImageRef, registry: Registry) -> bool:
        """A signature by this key is there already (cosign verifies it with the public half)."""
        try:
            self.tool.verify(image, self.public_key(), registry, self.tlog)
        except CosignFailed:
            return False  # signatures by other keys only: ours goes beside them
        return True

    def signature_digest(self, image: ImageRef) -> Optional[str]:
        from ..copy.remote import held_by

        assert image.digest is not None
        return held_by(self.clients)(image.with_tag(signature_tag(image.digest)))

    def bundles(self, image: ImageRef) -> Optional[List[str]]:
        """The digests of cosign bundles the Referrers API lists for ``image``; None without the API (or with
        a cosign that writes only the tag form)."""
        from ..copy.remote import RegistrySource

        if not self.tool.bundles_by_default:
            return None
        assert image.digest is not None
        listed = RegistrySource(self.clients.get(image.host), image.repository).referrers(image.digest)
        return None if listed is None else [d["digest"] for d in listed if d.get("artifactType") == BUNDLE_TYPE]

    def sign(self, what: str, image: ImageRef) -> Signed:
        assert image.digest is not None
        try:
            before = self.bundles(image)
        except AcrError as exc:
            return Signed(what, image, "failed", error=str(exc))
        if before is not None:  # the registry has the Referrers API: cosign 3's own form, a referrer
            return self._sign_as_referrer(what, image, before)
        registry = registry_for(self.clients, image.host)
        try:
            status = "kept" if self.signature_digest(image) and self.signed_by_us(image, registry) else "signed"
            if status == "signed":
                self.tool.sign(image, self.key, self.password, registry, self.tlog)
            digest = self.signature_digest(image)
            if not digest:
                raise OperationFailed(f"cosign reported {image} signed, but {image.host} holds no "
                                      f"{signature_tag(image.digest)}")
        except AcrError as exc:
            return Signed(what, image, "failed", error=str(exc))
        signature = image.with_tag(signature_tag(image.digest))
        return Signed(what, image, status, SignatureEntry(str(image), str(signature), digest))

    def _sign_as_referrer(self, what: str, image: ImageRef, before: List[str]) -> Signed:
        registry = registry_for(self.clients, image.host)
        try:
            if before and self.signed_by_us(image, registry):
                return Signed(what, image, "kept", SignatureEntry(str(image), f"{image.locator}@{before[-1]}",
                                                                  before[-1]))
            config = None if self.tlog else self.offline_config()
            self.tool.sign(image, self.key, self.password, registry, self.tlog, referrer=True, signing_config=config)
            after = self.bundles(image) or []
            made = [digest for digest in after if digest not in before]
            if not made:
                raise OperationFailed(f"cosign reported {image} signed, but {image.host}'s Referrers API lists no "
                                      "new signature of it")
        except AcrError as exc:
            return Signed(what, image, "failed", error=str(exc))
        return Signed(what, image, "signed", SignatureEntry(str(image), f"{image.locator}@{made[-1]}", made[-1]))


def verify_images(tool: Cosign, key: str, clients, images: Sequence[Tuple[str, ImageRef]], tlog: bool,
                  workers: int = 4) -> List[Tuple[str, ImageRef, str]]:
    """Each image's signature verified with ``key``; the (what, image, cosign's reason) of those that fail."""
    from ..util.jobs import run_jobs

    def one(item: Tuple[str, ImageRef]) -> Optional[Tuple[str, ImageRef, str]]:
        what, image = item
        try:
            tool.verify(image, key, registry_for(clients, image.host), tlog)
        except CosignFailed as exc:
            return what, image, exc.reason
        except AcrError as exc:  # cosign could not be run, or did not finish
            return what, image, str(exc)
        return None

    return [failure for failure in run_jobs(one, list(images), workers, on_interrupt=cancel_all)
            if failure is not None]


#: ``cosign save``'s names for what an OCI layout's index.json lists (cosign's pkg/oci/layout; seen in the layout
#: cosign 3.1 saves, tests/integration/test_supply_chain.py).
LAYOUT_KINDS = {"image": "dev.cosignproject.cosign/image", "index": "dev.cosignproject.cosign/imageIndex",
                "sigs": "dev.cosignproject.cosign/sigs"}


def verify_bundle(tool: Cosign, key: str, bundle, tlog: bool) -> List[Tuple[str, str, str]]:
    """Each component and dependency of an opened bundle (delivery.bundle.Bundle) verified with ``key`` from the
    bundle alone: its top manifest and its ``.sig`` entry written as a layout in cosign's own form, checked by
    ``cosign verify --local-image``. The (kind, image, why) of those that fail: unsigned ones too."""
    import json
    import shutil

    from ..copy.layout import blob_path

    reader = bundle.reader
    named = {(e.get("annotations") or {}).get("org.opencontainers.image.ref.name"): e for e in reader.index()}
    signatures = {str(image.of): image for image in bundle.images
                  if image.kind == "attached" and (image.ref.tag or "").endswith(".sig")}
    failures = []
    for image in bundle.images:
        if image.kind == "attached":
            continue
        entry = named[str(image.ref)]
        sig = signatures.get(str(image.ref))
        if sig is None or sig.ref.tag != signature_tag(entry["digest"]):
            failures.append((image.kind, str(image.ref), f"no signature in the bundle for {entry['digest']}"))
            continue
        folder = Path(tempfile.mkdtemp(prefix="acrtasks-verify-"))
        try:
            blobs = folder / "blobs" / "sha256"
            blobs.mkdir(parents=True)
            top = reader.manifest(entry["digest"])
            signature = reader.manifest(named[str(sig.ref)]["digest"])
            for manifest in (top, signature):
                (folder / blob_path(manifest.digest)).write_bytes(manifest.raw)
            for digest, size in signature.blobs():
                (folder / blob_path(digest)).write_bytes(reader.read(blob_path(digest), size))
            index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
                {"mediaType": top.media_type, "size": len(top.raw), "digest": top.digest,
                 "annotations": {"kind": LAYOUT_KINDS["index" if top.is_index else "image"]}},
                {"mediaType": signature.media_type, "size": len(signature.raw), "digest": signature.digest,
                 "annotations": {"kind": LAYOUT_KINDS["sigs"]}}]}
            (folder / "index.json").write_text(json.dumps(index))
            (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
            try:
                tool.verify_layout(folder, key, tlog, str(image.ref))
            except CosignFailed as exc:
                failures.append((image.kind, str(image.ref), exc.reason))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return failures
