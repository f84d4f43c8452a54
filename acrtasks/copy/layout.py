"""An OCI image layout in a tar (or a directory) as a copy end: the offline bundle's format.

Writing streams: each blob goes into the tar as it arrives from its source,
checked on the way, so memory stays flat and the tar is written once. The
tar is built beside the output under a temporary name and renamed into place
only when complete: an interrupted or failed export leaves no half bundle.

Reading checks before trusting: ``checksums.sha256`` is verified over every
file it lists (:meth:`LayoutReader.verify`) before an image is read, and each
blob is checked against its digest again as it streams out.
"""

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import BundleError, Kind, LocalSystemError
from ..naming import ImageRef
from ..util.jsonfile import describe_os_error
from ..util.inputs import parse_json
from . import Chunks, Source

from .manifests import (
    CHUNK,
    MAX_MANIFEST,
    OCI_INDEX,
    Manifest,
    ManifestInvalid,
    is_digest,
    parse_manifest,
)

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # what containerd and docker >= 25 name a loaded image by
CHECKSUMS = "checksums.sha256"
MAX_INDEX = 16 << 20  # index.json, manifest.json, the bundle record, the checksums
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S.*)\Z")


def containerd_name(name: str) -> str:
    """A name as containerd stores it (``demo-api:v1`` -> ``docker.io/library/demo-api:v1``), the way
    ``docker save`` on the containerd image store writes ``io.containerd.image.name``."""
    ref = ImageRef.parse(name)
    return f"{ref.host}/{ref.repository}:{ref.tag or 'latest'}"


def load_entries(names: Sequence[str], manifest: Manifest, taken: Iterable[str] = ()) -> List[Dict[str, Any]]:
    """index.json entries that make ``docker load`` on the containerd image store (which reads index.json, not
    manifest.json's RepoTags) name ``manifest`` as each of ``names``; names already in ``taken`` are left out."""
    known = {containerd_name(name) for name in taken}
    named = {containerd_name(name): name for name in reversed(names)}  # the first spelling of each name
    return [{**manifest.descriptor(), "annotations": {REF_NAME: named[full], CONTAINERD_NAME: full}}
            for full in dict.fromkeys(containerd_name(name) for name in names) if full not in known]


def blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


# -- tar pieces, shared by the bundle writer and the stream `docker load` reads -------------------------

def tar_header(name: str, size: int, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0  # the same images give the same bytes
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def tar_file(name: str, data: bytes) -> bytes:
    """A whole small file as tar bytes: header, data, padding."""
    return tar_header(name, len(data)) + data + tar_padding(len(data))


TAR_END = b"\0" * tarfile.RECORDSIZE  # two zero blocks, padded to a record, as tar(1) writes


def extract_files(tar: tarfile.TarFile, directory: Path, hashed: bool = False,
                  wanted: Callable[[str], bool] = lambda name: True,
                  max_files: Optional[int] = None, max_bytes: Optional[int] = None) -> Dict[str, Tuple[str, int]]:
    """Every regular file of a tar read as a stream (``r|``) whose name stays inside ``directory`` and that
    ``wanted`` takes, written there in 1 MiB pieces; name -> (its ``sha256:`` digest when ``hashed``, else "", its
    size). ``max_files``/``max_bytes``: past either, BundleError (a 2 MiB bundle of zeros wrote 3 GiB)."""
    found: Dict[str, Tuple[str, int]] = {}
    total = 0
    for member in tar:
        name = safe_member_name(member.name)
        if not member.isfile() or not name or not wanted(name):
            continue
        if max_files is not None and len(found) >= max_files:
            raise BundleError(f"{tar.name!s}: more than {max_files} files; not a bundle acrtasks wrote")
        if max_bytes is not None and total + member.size > max_bytes:
            raise BundleError(f"{tar.name!s}: unpacks to more than {max_bytes >> 20} MiB, far more "
                              "than it holds packed; refused (a compression bomb, or not a bundle acrtasks wrote)")
        total += member.size
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # a regular file always has a reader; not one: nothing to write
            continue
        digest, size = hashlib.sha256() if hashed else None, 0
        with open(target, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                if digest is not None:
                    digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        found[name] = ("sha256:" + digest.hexdigest() if digest is not None else "", size)
    return found


class LayoutWriter:
    """Builds one tar: ``oci-layout``, ``blobs/sha256/*`` (each once), then the files given to :meth:`finish`."""

    def __init__(self, path: Path, compress: Optional[str] = None):
        self.path = path
        self.blobs: Dict[str, int] = {}
        self.checksums: Dict[str, str] = {}  # file in the tar -> sha256 hex
        self.images: Dict[str, Manifest] = {}  # ref name -> the manifest under it, in order
        self._lock = threading.Lock()
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
        except OSError as exc:
            raise LocalSystemError(describe_os_error(path, exc)) from None
        self._tmp = Path(tmp)
        self._raw = os.fdopen(fd, "wb")
        self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0) if compress else self._raw
        self._write(tar_header("blobs", 0, True) + tar_header("blobs/sha256", 0, True))
        self.add_file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())

    def _write(self, data: bytes) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            raise LocalSystemError(describe_os_error(self.path, exc)) from None

    def add_file(self, name: str, data: bytes) -> None:
        with self._lock:
            self._write(tar_file(name, data))
            self.checksums[name] = hashlib.sha256(data).hexdigest()

    def add_blob(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Stream a blob in; ``chunks`` (a BlobStream) raises before the end if the bytes are not ``digest``."""
        with self._lock:
            if digest in self.blobs:
                return
            self._write(tar_header(blob_path(digest), size))
            for chunk in chunks:
                self._write(chunk)
            self._write(tar_padding(size))
            self.blobs[digest] = size
            self.checksums[blob_path(digest)] = digest.split(":", 1)[1]

    def add_blob_bytes(self, digest: str, data: bytes) -> None:
        with self._lock:
            if digest in self.blobs:
                return
        self.add_file(blob_path(digest), data)
        with self._lock:
            self.blobs[digest] = len(data)

    def finish(self, files: Dict[str, bytes], load_names: Sequence[Tuple[Sequence[str], Manifest]] = ()) -> None:
        """``index.json`` from the images (and entries naming each of ``load_names``' manifests as ``docker load``
        on the containerd store should: the local names), then ``files``, then the checksums of everything;
        rename into place."""
        entries = [{**manifest.descriptor(), "annotations": {REF_NAME: name, CONTAINERD_NAME: containerd_name(name)}}
                   for name, manifest in self.images.items()]
        taken = list(self.images)
        for names, manifest in load_names:
            entries += load_entries(names, manifest, taken)
            taken += names
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        self.add_file("index.json", json.dumps(index, indent=2).encode())
        for name, data in files.items():
            self.add_file(name, data)
        listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(self.checksums.items()))
        self.add_file(CHECKSUMS, listing.encode())
        self._write(TAR_END)
        try:
            if self._out is not self._raw:
                self._out.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise LocalSystemError(describe_os_error(self.path, exc)) from None

    def abort(self) -> None:
        for handle in (self._out, self._raw):
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - closing a file that already failed
                pass
        self._tmp.unlink(missing_ok=True)


class LayoutTarget:
    """One image of a bundle being written, under ``ref_name``."""

    parallel = 1  # a tar is written front to back
    checks_digests = False

    def __init__(self, writer: LayoutWriter, ref_name: str):
        self.writer = writer
        self.ref_name = ref_name
        self.where = f"{writer.path.name}: {ref_name}"

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> LocalSystemError:
        return LocalSystemError(message)

    def tag_digest(self) -> Optional[str]:
        manifest = self.writer.images.get(self.ref_name)
        return manifest.digest if manifest else None

    def reuse_blob(self, digest: str, size: int, source: Source) -> bool:
        return digest in self.writer.blobs  # each blob is in the tar once, whichever images share it

    def put_blob(self, digest: str, size: int, chunks: Chunks) -> None:
        self.writer.add_blob(digest, size, chunks)

    def put_manifest(self, manifest: Manifest, reference: Optional[str]) -> str:
        self.writer.add_blob_bytes(manifest.digest, manifest.raw)
        if reference:
            self.writer.images[self.ref_name] = manifest
        return manifest.digest


# -- reading ------------------------------------------------------------------------------------------

class LayoutReader:
    """A bundle to read: a tar, a gzip'd tar (unpacked to a temporary directory first), or a directory."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self._members: Dict[str, Tuple[int, int]] = {}  # tar: name -> (data offset, size)
        self._dir: Optional[Path] = None
        self._scratch: Optional[Path] = None
        self._index: Optional[List[Dict[str, Any]]] = None
        if not path.exists():
            raise BundleError(f"bundle {path} does not exist")
        try:
            if path.is_dir():
                self._dir = path
            elif _is_gzip(path):
                self._scratch = Path(tempfile.mkdtemp(prefix="acrtasks-bundle-"))
                self._dir = self._scratch
                self._unpack_gzip()
            else:
                self._index_tar()
        except OSError as exc:
            self.close()
            raise LocalSystemError(describe_os_error(path, exc)) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> "LayoutReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bad(self, message: str) -> BundleError:
        return BundleError(f"bundle {self.path}: {message}")

    def _index_tar(self) -> None:
        try:
            with tarfile.open(self.path, "r:") as tar:
                for member in tar:
                    name = safe_member_name(member.name)
                    if member.isfile() and name:
                        self._members[name] = (member.offset_data, member.size)
        except tarfile.TarError as exc:
            raise self._bad(f"not a readable tar ({exc}); the file is truncated or corrupt") from None

    def _unpack_gzip(self) -> None:
        """Only a layout's own files (``blobs/sha256/<hex>`` and the few top-level ones), at most
        :data:`MAX_BUNDLE_FILES` of them, unpacking to at most :data:`MAX_UNPACK_RATIO` times the packed size."""
        assert self._dir is not None
        try:
            with tarfile.open(self.path, "r|gz") as tar:
                extract_files(tar, self._dir, wanted=is_layout_file, max_files=MAX_BUNDLE_FILES,
                              max_bytes=max(self.path.stat().st_size * MAX_UNPACK_RATIO, 64 << 20))
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, (EOFError, gzip.BadGzipFile)) \
                    and exc.errno is not None:
                raise
            raise self._bad(f"not a readable tar.gz ({exc}); the file is truncated or corrupt") from None

    # -- files ------------------------------------------------------------------------------

    def names(self) -> List[str]:
        if self._dir is not None:
            return sorted(str(p.relative_to(self._dir)) for p in self._dir.rglob("*")
                          if p.is_file() and not p.is_symlink())
        return sorted(self._members)

    def has(self, name: str) -> bool:
        if self._dir is not None:
            path = self._dir / name
            inside = os.path.realpath(self._dir) + os.sep
            if path.is_symlink() or (path.exists() and not os.path.realpath(path).startswith(inside)):
                raise self._bad(f"{name} is a symbolic link; a bundle's files are its own, never links out of it")
            return path.is_file()
        return name in self._members

    def size(self, name: str) -> int:
        if self._dir is not None:
            return (self._dir / name).stat().st_size
        return self._members[name][1]

    def chunks(self, name: str) -> Tuple[Iterator[bytes], Callable[[], None]]:
        """The bytes of ``name`` in 1 MiB pieces, from a file handle of their own (threads read in parallel)."""
        if not self.has(name):
            raise self._bad(f"{name} is missing")
        if self._dir is not None:
            handle, remaining = open(self._dir / name, "rb"), None
        else:
            offset, remaining = self._members[name]
            handle = open(self.path, "rb")
            handle.seek(offset)

        def generate() -> Iterator[bytes]:
            left = remaining
            while left is None or left > 0:
                chunk = handle.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    if left:
                        raise self._bad(f"{name} ends early: the tar is truncated")
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

        return generate(), handle.close

    def read(self, name: str, limit: int = MAX_INDEX) -> bytes:
        if self.has(name) and self.size(name) > limit:
            raise self._bad(f"{name} is larger than {limit >> 20} MiB; refused")
        chunks, close = self.chunks(name)
        try:
            return b"".join(chunks)
        finally:
            close()

    def read_json(self, name: str) -> object:
        try:
            return parse_json(self.read(name))
        except ValueError:
            raise self._bad(f"{name} is not JSON") from None

    # -- checks -----------------------------------------------------------------------------

    def verify(self, on_file: Callable[[str, int], None] = lambda name, size: None) -> Dict[str, str]:
        """Every file ``checksums.sha256`` lists must exist and match; blobs must match their names too."""
        if not self.has(CHECKSUMS):
            raise self._bad(f"{CHECKSUMS} is missing (not an acrtasks bundle, or truncated)")
        listed: Dict[str, str] = {}
        for number, line in enumerate(self.read(CHECKSUMS).decode("utf-8", "replace").splitlines(), 1):
            match = _CHECKSUM_LINE.match(line)
            name = safe_member_name(match.group(2)) if match else None
            if not match or not name:
                raise self._bad(f"{CHECKSUMS} line {number} is not '<sha256>  <file>'")
            listed[name] = match.group(1)
        for name, expected in listed.items():
            if name.startswith("blobs/sha256/") and name.rsplit("/", 1)[1] != expected:
                raise self._bad(f"{CHECKSUMS} lists {name} with another digest; refused (tampered)")
            if not self.has(name):
                raise self._bad(f"{name} is missing")
            digest = hashlib.sha256()
            chunks, close = self.chunks(name)
            try:
                for chunk in chunks:
                    digest.update(chunk)
            finally:
                close()
            if digest.hexdigest() != expected:
                raise self._bad(f"{name} does not match its checksum (corrupt)")
            on_file(name, self.size(name))
        return listed

    def index(self) -> List[Dict[str, Any]]:
        """index.json's entries, checked; read once (the bundle does not change under us)."""
        if self._index is None:
            self._index = self._read_index()
        return self._index

    def _read_index(self) -> List[Dict[str, Any]]:
        data = self.read_json("index.json")
        entries = data.get("manifests") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self._bad("index.json has no list of manifests")
        names = set()
        for entry in entries:
            digest, annotations = entry.get("digest"), entry.get("annotations", {})
            if not isinstance(digest, str) or not is_digest(digest):
                raise self._bad(f"index.json has a bad digest {str(digest)[:80]!r}")
            if not isinstance(annotations, dict) or not isinstance(entry.get("size", 0), int):
                raise self._bad(f"index.json's entry {digest} has malformed annotations or size")
            name = annotations.get("org.opencontainers.image.ref.name")
            if name is not None and name in names:  # the check would take one entry, the copy another
                raise self._bad(f"index.json names {str(name)[:200]!r} twice")
            names.add(name)
        return entries

    def manifest(self, digest: str) -> Manifest:
        name = blob_path(digest)
        try:
            return parse_manifest(self.read(name, MAX_MANIFEST), "", digest)
        except ManifestInvalid as exc:
            raise self._bad(f"{name}: {exc}") from None


class LayoutSource:
    """One image of a bundle, found by its ``org.opencontainers.image.ref.name``."""

    def __init__(self, reader: LayoutReader, ref_name: str):
        self.reader = reader
        self.ref_name = ref_name
        self.where = f"{reader.name}: {ref_name}"

    def fail(self, message: str, kind: Kind = Kind.OTHER) -> BundleError:
        return BundleError(message)

    def manifest(self, reference: str) -> Manifest:
        if not is_digest(reference):
            found = [e for e in self.reader.index() if (e.get("annotations") or {}).get(REF_NAME) == reference]
            if not found:
                raise self.fail(f"{self.reader.name}: no image named {reference} in index.json")
            reference = found[0]["digest"]
        return self.reader.manifest(reference)

    def open_blob(self, digest: str, size: int) -> Tuple[Iterator[bytes], Callable[[], None]]:
        return self.reader.chunks(blob_path(digest))


#: A bundle of a product holds a few hundred blobs; a gzip bundle holding more files is not one of ours.
MAX_BUNDLE_FILES = 10_000
#: Layers compress a few times at most: a gzip bundle unpacking to more than this times its size is a bomb.
MAX_UNPACK_RATIO = 100
_LAYOUT_FILE = re.compile(r"(blobs/sha256/[0-9a-f]{64}|oci-layout|index\.json|manifest\.json|"
                          r"acrtasks-bundle\.json|checksums\.sha256)\Z")


def is_layout_file(name: str) -> bool:
    """A file an OCI layout (and acrtasks' bundle) holds; anything else in a gzip bundle is not unpacked."""
    return bool(_LAYOUT_FILE.match(name))


def safe_member_name(name: str) -> Optional[str]:
    """A member name inside the bundle, or None for one that would escape it (absolute, ``..``)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return None
    text = str(path)
    return None if text in ("", ".") else text


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
