"""The Docker engine as a copy end: ``docker save`` as a source, ``docker load`` as a target.

The engine holds one platform of an image, with uncompressed layers. As a
source, its save stream (docker 20.10's format or docker 25's OCI one; both
carry a ``manifest.json``) is unpacked to a temporary directory, hashing as
it goes, and an OCI manifest is made for it: the layers stay uncompressed,
so their digests are the image's diff ids. As a target, blobs are spooled to
a temporary directory and streamed to ``/images/load`` as a docker-archive,
whose ``manifest.json`` names the local tags; the load is then read back
(image id == config digest).
"""

import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, cast

from ..errors import EngineError, Kind
from ..naming import ImageRef
from . import Chunks, Source
from .layout import (
    TAR_END,
    blob_path,
    load_entries,
    extract_files,
    safe_member_name,
    tar_file,
    tar_header,
    tar_padding,
)
from ..util.inputs import parse_json
from .manifests import (
    CHUNK,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    Manifest,
    ManifestInvalid,
    parse_manifest,
    sha256_digest,
)

GZIP_LAYER = OCI_LAYER_TAR + "+gzip"

if TYPE_CHECKING:
    from ..engine.client import Engine


class _ChunkReader:
    """A file-like ``read(n)`` over an iterator of byte chunks (the engine's save stream)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class EngineSource:
    """The local image ``ref`` of the engine, one platform."""

    def __init__(self, engine: "Engine", ref: ImageRef):
        self.engine = engine
        self.ref = ref
        self.where = f"engine: {ref}"
        self._dir: Optional[Path] = None
        self._files: Dict[str, Tuple[str, int]] = {}  # digest -> (file in the spool, size)
        self._manifest: Optional[Manifest] = None
        self._children: Dict[str, Manifest] = {}  # an index's manifests, by digest (the containerd store)

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> EngineError:
        return EngineError(message)

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def manifest(self, reference: str) -> Manifest:
        if self._manifest is None:
            self._manifest = self._save()
        if reference.startswith("sha256:") and reference != self._manifest.digest:
            if reference not in self._children:
                raise self.fail(f"{self.where}: no manifest {reference}")
            return self._children[reference]
        return self._manifest

    def open_blob(self, digest: str, size: int) -> Tuple[Iterator[bytes], Callable[[], None]]:
        if digest not in self._files:
            raise self.fail(f"{self.where}: the saved image has no blob {digest}")
        handle = open(self._spool() / self._files[digest][0], "rb")
        return iter(lambda: handle.read(CHUNK), b""), handle.close

    def _spool(self) -> Path:
        if self._dir is None:
            raise self.fail(f"{self.where}: the image was not saved")
        return self._dir

    def _save(self) -> Manifest:
        """``docker save`` into the spool; an OCI manifest for what it holds."""
        from docker.errors import APIError, DockerException

        self._dir = Path(tempfile.mkdtemp(prefix="acrtasks-save-"))
        try:
            stream = self.engine.api.get_image(str(self.ref), chunk_size=CHUNK)
            with tarfile.open(fileobj=cast(IO[bytes], _ChunkReader(iter(stream))), mode="r|") as tar:
                hashes = extract_files(tar, self._dir, hashed=True)  # file -> (digest, size)
        except (APIError, DockerException) as exc:
            raise self.fail(f"{self.where}: docker save failed ({_explain(exc)})") from None
        except (tarfile.TarError, OSError) as exc:
            raise self.fail(f"{self.where}: the engine's save stream broke off ({exc})") from None
        own = self._own_manifest(hashes)
        if own is not None:
            return own
        try:
            entries = parse_json((self._spool() / "manifest.json").read_bytes())
            entry = entries[0]
            config_file, layer_files = _member(entry["Config"]), [_member(n) for n in entry["Layers"]]
            config_digest, config_size = hashes[config_file]
            layers = [(hashes[name], name) for name in layer_files]
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise self.fail(f"{self.where}: the engine's save stream has no usable manifest.json ({exc})") from None
        self._files[config_digest] = (config_file, config_size)
        descriptors = []
        for (digest, size), name in layers:
            self._files[digest] = (name, size)
            with open(self._spool() / name, "rb") as handle:
                gzipped = handle.read(2) == b"\x1f\x8b"
            descriptors.append({"mediaType": GZIP_LAYER if gzipped else OCI_LAYER_TAR, "digest": digest,
                                "size": size})
        body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                "layers": descriptors}
        raw = json.dumps(body, indent=2).encode()
        return Manifest(OCI_MANIFEST, raw, sha256_digest(raw))


    def _own_manifest(self, hashes: Dict[str, Tuple[str, int]]) -> Optional[Manifest]:
        """The manifest the engine itself keeps, when its save stream has one (Docker 25+ writes an OCI
        ``index.json``; on the containerd store that manifest's digest is the image id, so a bundle loaded
        there gives back the same id). None: make one from ``manifest.json`` (20.10's format)."""
        def present(digest: str) -> bool:  # in the stream, and hashing to its name
            return hashes.get(blob_path(digest), ("", 0))[0] == digest

        def saved(digest: str, media_type: str) -> Optional[Manifest]:
            if not present(digest):
                return None
            return parse_manifest((self._spool() / blob_path(digest)).read_bytes(), media_type, digest)

        try:
            entry = parse_json((self._spool() / "index.json").read_bytes())["manifests"][0]
            top = saved(entry["digest"], entry.get("mediaType", ""))
            # An index (the containerd store: buildx's build with its attestation, several platforms) goes
            # whole, every manifest of it, as the engine holds it; so its digest, the image id, survives.
            images = [saved(c["digest"], c.get("mediaType", "")) for c in top.children()] if top and top.is_index \
                else [top]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, ManifestInvalid) as exc:
            raise self.fail(f"{self.where}: the engine's save stream has no usable index.json ({exc})") from None
        files = {}
        for manifest in images:
            if manifest is None or manifest.is_index or manifest.config() is None:
                return None  # not all of it is in the stream: make one from manifest.json instead
            for digest, _ in manifest.blobs():
                if not present(digest):
                    return None
                files[digest] = (blob_path(digest), hashes[blob_path(digest)][1])
        self._files.update(files)
        self._children = {m.digest: m for m in images if m is not None and m is not top}
        return top


class EngineTarget:
    """Loads one image into the engine under ``local_names`` (the docker-archive's ``RepoTags``)."""

    parallel = 1
    checks_digests = False

    def __init__(self, engine: "Engine", local_names: Sequence[str]):
        self.engine = engine
        self.local_names = list(local_names)
        self.where = f"engine: {', '.join(self.local_names)}"
        self._dir = Path(tempfile.mkdtemp(prefix="acrtasks-load-"))
        self._loaded: Optional[str] = None

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> EngineError:
        return EngineError(message)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def tag_digest(self) -> Optional[str]:
        return self._loaded

    def reuse_blob(self, digest: str, size: int, source: Source) -> bool:
        return (self._dir / blob_path(digest)).is_file()

    def put_blob(self, digest: str, size: int, chunks: Chunks) -> None:
        path = self._dir / blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        partial.rename(path)  # only a complete, checked blob gets its name

    def put_manifest(self, manifest: Manifest, reference: Optional[str]) -> str:
        if not reference:
            return manifest.digest
        if manifest.is_index:
            raise self.fail(f"{self.where}: the engine loads one platform; choose one with --platform")
        config = manifest.config()
        if config is None:
            raise self.fail(f"{self.where}: the manifest has no image config; it is not a container image")
        files = [config[0], *(digest for digest, _ in manifest.layers())]
        archive = {"Config": blob_path(config[0]), "RepoTags": self.local_names,
                   "Layers": [blob_path(d) for d in files[1:]]}
        # One archive for both stores: the classic one reads manifest.json, the containerd one index.json.
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": load_entries(self.local_names, manifest)}
        self._spool(manifest.digest, manifest.raw)
        self._load([*files, manifest.digest], {"manifest.json": json.dumps([archive]).encode(),
                                               "index.json": json.dumps(index).encode(),
                                               "oci-layout": b'{"imageLayoutVersion": "1.0.0"}'})
        # What the engine calls the image it loaded: its config digest on the classic store, the manifest's
        # digest on the containerd store (which keeps the manifest as it is).
        expected = manifest.digest if self.engine.containerd_store else config[0]
        image_ids = {name: self._image_id(name) for name in self.local_names}
        wrong = [f"{name} is {got or 'missing'}" for name, got in image_ids.items() if got != expected]
        if wrong:
            raise self.fail(f"{self.where}: after the load {'; '.join(wrong)}, expected {expected}")
        self._loaded = manifest.digest
        return manifest.digest

    def _spool(self, digest: str, data: bytes) -> None:
        path = self._dir / blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _archive(self, files: List[str], metadata: Dict[str, bytes]) -> Iterator[bytes]:
        for digest in dict.fromkeys(files):
            path = self._dir / blob_path(digest)
            size = path.stat().st_size
            yield tar_header(blob_path(digest), size)
            with open(path, "rb") as handle:
                yield from iter(lambda: handle.read(CHUNK), b"")
            yield tar_padding(size)
        for name, data in metadata.items():
            yield tar_file(name, data)
        yield TAR_END

    def _load(self, files: List[str], metadata: Dict[str, bytes]) -> None:
        from docker.errors import APIError, DockerException

        try:
            for message in self.engine.api.load_image(self._archive(files, metadata)) or ():
                if isinstance(message, dict) and (message.get("error") or message.get("errorDetail")):
                    detail = (message.get("errorDetail") or {}).get("message") or message.get("error")
                    raise self.fail(f"{self.where}: docker load failed ({detail})")
        except (APIError, DockerException) as exc:
            raise self.fail(f"{self.where}: docker load failed ({_explain(exc)})") from None

    def _image_id(self, name: str) -> Optional[str]:
        return self.engine.image_id(ImageRef.parse_engine_name(name))


def _member(name: object) -> str:
    """A file named by ``manifest.json``, inside the spool; KeyError otherwise."""
    safe = safe_member_name(name) if isinstance(name, str) else None
    if safe is None:
        raise KeyError(f"{str(name)[:100]!r} is not a file of the stream")
    return safe


def _explain(exc: BaseException) -> str:
    return (getattr(exc, "explanation", None) or str(exc)).strip()[:300]
