"""The copy engine's pure parts and its file ends: manifests, checked blob streams, the blob location memory,
and OCI layout bundles written and read back (real files in a temp dir; no engine, no registry)."""

import hashlib
import json
import os
import stat
import tarfile

import pytest

from acrtasks.copy import locations as locmod
from acrtasks.copy.copier import BlobStream, copy_image
from acrtasks.copy.layout import (
    LayoutReader,
    LayoutSource,
    LayoutTarget,
    LayoutWriter,
    blob_path,
    safe_member_name,
)
from acrtasks.copy.locations import BlobLocations
from acrtasks.copy.manifests import (
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    ManifestInvalid,
    parse_manifest,
    sha256_digest,
)
from acrtasks.delivery.bundle import familiar
from acrtasks.errors import AcrError, BundleError, Kind
from acrtasks.naming import ImageRef


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- manifests ------------------------------------------------------------------------------------------

def test_parse_manifest_refuses_what_is_not_a_manifest():
    for raw, words in ((None, "larger than 4 MiB"), (b"<html>", "not JSON"), (b"[1]", "not an object"),
                       (b'{"schemaVersion": 1}', "schema 1"), (b'{"mediaType": 3}', "not a string"),
                       (b'{"layers": [{"digest": "sha256:../../etc"}]}', "malformed"),
                       (b'{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": null}',
                        "an index's manifests must be a list"),
                       (b'{"layers": {"a": 1}}', "the layers not a list"), (b'{"config": []}', "not a descriptor")):
        with pytest.raises(ManifestInvalid, match=words):
            parse_manifest(raw, "")


def test_parse_manifest_checks_the_digest_and_infers_the_oci_type():
    raw = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert parse_manifest(raw, "").media_type == OCI_INDEX
    assert parse_manifest(b'{"schemaVersion": 2, "layers": []}', "").media_type == OCI_MANIFEST
    assert parse_manifest(raw, "", sha256_digest(raw)).digest == sha256_digest(raw)
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(raw, "", "sha256:" + "0" * 64)
    assert caught.value.integrity


# -- blob streams ---------------------------------------------------------------------------------------

class StubSource:
    where = "stub"

    def fail(self, message, kind=Kind.OTHER):
        error = AcrError(message)
        error.kind = kind
        return error


def drain(data_chunks, digest, size):
    stream = BlobStream(StubSource(), digest, size, iter(data_chunks))
    return b"".join(stream), stream


def test_blob_stream_passes_exact_bytes_and_refuses_others():
    data = b"x" * 3000
    out, stream = drain([data[:1000], data[1000:]], digest_of(data), len(data))
    assert out == data and stream.complete
    with pytest.raises(AcrError, match="hashes to") as caught:
        drain([b"y" * 3000], digest_of(data), 3000)
    assert caught.value.kind == Kind.INTEGRITY
    with pytest.raises(AcrError, match="ended after 1000 of 3000"):
        drain([data[:1000]], digest_of(data), 3000)
    with pytest.raises(AcrError, match="longer than"):
        drain([data, b"z"], digest_of(data), 3000)


# -- the blob location memory ---------------------------------------------------------------------------

def test_locations_remember_forget_and_persist(tmp_path):
    path = tmp_path / "cache" / "blob-locations.json"
    memory = BlobLocations(path)
    memory.remember("reg:5000", "ns1/redis", "sha256:" + "a" * 64)
    memory.remember("reg:5000", "ns2/redis", "sha256:" + "a" * 64)
    assert memory.candidates("reg:5000", "sha256:" + "a" * 64, exclude="ns2/redis") == ["ns1/redis"]
    memory.save()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = BlobLocations(path)
    assert again.candidates("reg:5000", "sha256:" + "a" * 64) == ["ns2/redis", "ns1/redis"]
    again.forget("reg:5000", "ns2/redis", "sha256:" + "a" * 64)
    again.save()
    assert BlobLocations(path).candidates("reg:5000", "sha256:" + "a" * 64) == ["ns1/redis"]
    assert BlobLocations(path).candidates("other:1", "sha256:" + "a" * 64) == []


def test_locations_are_bounded_and_a_corrupt_cache_is_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(locmod, "MAX_DIGESTS", 3)
    path = tmp_path / "blob-locations.json"
    memory = BlobLocations(path)
    for number in range(5):
        memory.remember("reg", f"repo{number}", f"sha256:{number:064d}")
    memory.save()
    kept = json.loads(path.read_text())["reg"]
    assert list(kept) == [f"sha256:{n:064d}" for n in (2, 3, 4)]  # the oldest went first
    path.write_text("{not json")
    assert BlobLocations(path).candidates("reg", f"sha256:{4:064d}") == []


# -- bundles --------------------------------------------------------------------------------------------

def write_bundle(path, images, files=None, lie=0):
    """``images``: ref name -> list of layer bytes. A minimal image each, through the writer; ``files`` are
    written beside them, and every layer descriptor says ``lie`` bytes more than its blob holds."""
    writer = LayoutWriter(path)
    target = None
    for name, layers in images.items():
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                             "diff_ids": [digest_of(l) for l in layers]}}).encode()
        target = LayoutTarget(writer, name)
        for data in [config, *layers]:
            if not target.reuse_blob(digest_of(data), len(data), None):
                target.put_blob(digest_of(data), len(data),
                                BlobStream(StubSource(), digest_of(data), len(data), iter([data])))
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": digest_of(config), "size": len(config)},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(l),
                                      "size": len(l) + lie} for l in layers]}).encode()
        target.put_manifest(Manifest(OCI_MANIFEST, raw, digest_of(raw)), "tag")
    writer.finish(files or {"extra.json": b"{}"})
    return path


def _record(project="demo", version="v1"):
    return {"acrtasks-bundle.json": json.dumps({
        "format": "acrtasks-bundle/1", "project": project, "version": version,
        "images": [{"kind": "dependency", "name": "redis", "ref": "reg/a:1", "tags": ["reg/a:1"]}]}).encode()}


def test_a_verified_bundle_has_descriptor_sizes_that_are_its_blobs(tmp_path):
    """import --check said verified, then import failed with the first image already pushed."""
    from acrtasks.delivery.bundle import open_bundle

    good = write_bundle(tmp_path / "good.tar", {"reg/a:1": [b"layer" * 100]}, _record())
    open_bundle(good).reader.close()
    lying = write_bundle(tmp_path / "lying.tar", {"reg/a:1": [b"layer" * 100]}, _record(), lie=7)
    with pytest.raises(BundleError, match=r"blobs/sha256/[0-9a-f]{64} is 500 bytes; its descriptor says 507"):
        open_bundle(lying)


@pytest.mark.parametrize("project, version, words", [
    ("demo\x1b[2K\rok", "v1", r"project 'demo\\x1b\[2K\\rok' is invalid"),
    ("demo", "v1\x07", r"version 'v1\\x07' is invalid"),
])
def test_a_bundle_record_with_control_bytes_is_refused_escaped(tmp_path, project, version, words):
    """A raw ESC in a bundle's project reached the terminal and the release record."""
    from acrtasks.delivery.bundle import open_bundle

    bundle = write_bundle(tmp_path / "b.tar", {"reg/a:1": [b"layer"]}, _record(project, version))
    with pytest.raises(BundleError, match=words) as err:
        open_bundle(bundle)
    assert "\x1b" not in str(err.value) and "\x07" not in str(err.value)


def test_a_written_bundle_reads_back_verified_and_deduplicated(tmp_path):
    shared = b"shared layer" * 1000
    bundle = write_bundle(tmp_path / "b.tar", {"reg/a:1": [shared, b"a only"], "reg/b:1": [shared]})
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert names.count(blob_path(digest_of(shared))) == 1
    assert not list(tmp_path.glob(".b.tar*"))  # the temp file was renamed into place
    with LayoutReader(bundle) as reader:
        listed = reader.verify()
        assert "extra.json" in listed and "index.json" in listed
        refs = [e["annotations"]["org.opencontainers.image.ref.name"] for e in reader.index()]
        assert refs == ["reg/a:1", "reg/b:1"]
        # the copy engine between two file ends: bundle -> bundle, digests kept
        copy_writer = LayoutWriter(tmp_path / "copy.tar")
        result = copy_image(LayoutSource(reader, "reg/a:1"), "reg/a:1", LayoutTarget(copy_writer, "reg/a:1"))
        copy_writer.finish({})
        assert result.status == "copied" and result.digest == reader.index()[0]["digest"]
    with LayoutReader(tmp_path / "copy.tar") as copied:
        copied.verify()
        assert copied.index()[0]["digest"] == result.digest


def test_a_damaged_bundle_names_the_file(tmp_path):
    bundle = write_bundle(tmp_path / "b.tar", {"reg/a:1": [b"layer bytes" * 500]})
    with tarfile.open(bundle) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("blobs/") and m.size > 1000)
    data = bytearray(bundle.read_bytes())
    data[member.offset_data + 10] ^= 1
    flipped = tmp_path / "flipped.tar"
    flipped.write_bytes(bytes(data))
    with LayoutReader(flipped) as reader, pytest.raises(BundleError, match=f"{member.name} does not match"):
        reader.verify()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(bundle.read_bytes()[: member.offset_data + 100])
    with pytest.raises(BundleError, match="truncated"):
        with LayoutReader(truncated) as reader:
            reader.verify()
    with pytest.raises(BundleError, match="does not exist"):
        LayoutReader(tmp_path / "none.tar")


def test_member_names_cannot_escape_the_bundle():
    assert safe_member_name("/etc/passwd") is None
    assert safe_member_name("blobs/../../x") is None
    assert safe_member_name("./blobs/sha256/ab") == "blobs/sha256/ab"


def test_familiar_names_are_what_docker_shows():
    assert str(familiar(ImageRef.parse("postgres:15-alpine"))) == "postgres:15-alpine"
    assert str(familiar(ImageRef.parse("bitnami/redis:7"))) == "bitnami/redis:7"
    assert str(familiar(ImageRef.parse("127.0.0.1:5000/library/redis:7"))) == "127.0.0.1:5000/library/redis:7"
    assert familiar(ImageRef.parse("postgres:15")).host == ""  # an engine name


def test_locations_merge_with_what_another_process_saved_meanwhile(tmp_path):
    path = tmp_path / "deep" / "er" / "blob-locations.json"  # parents are made
    digest = "sha256:" + "b" * 64
    first, second = BlobLocations(path), BlobLocations(path)
    first.remember("reg", "ns1/app", digest)
    second.remember("reg", "ns2/app", digest)
    first.save()
    second.save()
    assert set(BlobLocations(path).candidates("reg", digest)) == {"ns1/app", "ns2/app"}
    # a forgotten location is dropped from the file even though another process had written it
    third = BlobLocations(path)
    third.forget("reg", "ns1/app", digest)
    third.save()
    assert BlobLocations(path).candidates("reg", digest) == ["ns2/app"]


def test_locations_write_nothing_when_nothing_was_learnt_and_skip_malformed_entries(tmp_path):
    path = tmp_path / "blob-locations.json"
    quiet = BlobLocations(path)
    assert quiet.candidates("reg", "sha256:" + "c" * 64) == []
    quiet.save()
    assert not path.exists()
    digest = "sha256:" + "d" * 64
    path.write_text(json.dumps({"reg": {digest: ["ok/repo", 3], "sha256:x": "not a list"}, "bad": ["x"], "7": 7}))
    loaded = BlobLocations(path)
    assert loaded.candidates("reg", digest) == ["ok/repo"]
    assert loaded.candidates("reg", "sha256:x") == [] and loaded.candidates("bad", digest) == []
    assert BlobLocations(None).candidates("reg", digest) == []  # no file at all: a memory for this run only


def test_a_repository_list_keeps_the_newest_few(tmp_path):
    memory = BlobLocations(None)
    digest = "sha256:" + "e" * 64
    for number in range(6):
        memory.remember("reg", f"repo{number}", digest)
    assert memory.candidates("reg", digest) == ["repo5", "repo4", "repo3", "repo2"]


def test_descriptors_and_children_are_checked():
    from acrtasks.copy.manifests import platform_matches, platform_of

    good = "sha256:" + "1" * 64
    index = json.dumps({"manifests": [{"digest": good, "size": 0, "platform": {"os": "linux",
                                                                                "architecture": "arm64"}}]}).encode()
    assert parse_manifest(index, "").children()[0]["digest"] == good
    for bad in ({"digest": good, "size": -1}, {"digest": good, "size": True}, {"digest": good, "size": "3"},
                {"digest": "sha256:ABC", "size": 1}, {"size": 1}):
        with pytest.raises(ManifestInvalid):
            parse_manifest(json.dumps({"manifests": [bad]}).encode(), "")
        with pytest.raises(ManifestInvalid):
            parse_manifest(json.dumps({"config": bad, "layers": []}).encode(), "")
    with pytest.raises(ManifestInvalid, match="schema 1"):
        parse_manifest(b'{"schemaVersion": 2}', "application/vnd.docker.distribution.manifest.v1+prettyjws")
    image = parse_manifest(json.dumps({"config": {"digest": good}, "layers": [
        {"digest": good, "size": 5}, {"digest": "sha256:" + "2" * 64, "size": 9, "urls": ["https://x"]}]}).encode(), "")
    assert image.config() == (good, 0) and image.layers() == [(good, 5)]  # a foreign layer stays where it is
    assert image.blobs() == [(good, 0), (good, 5)]
    assert parse_manifest(b'{"layers": []}', "").blobs() == []  # no config: nothing but layers
    assert image.descriptor() == {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.raw)}
    assert platform_of({"os": "linux", "architecture": "arm64", "variant": "v8"}) == "linux/arm64/v8"  # a config
    assert platform_of({"digest": good}) == "unknown/unknown"
    assert platform_matches("linux/arm64/v8", "linux/arm64") and not platform_matches("linux/arm64", "linux/arm64/v8")
    assert platform_matches({"platform": {"os": "linux", "architecture": "amd64"}}, " LINUX/AMD64 ")


class ManifestSource(StubSource):
    """Manifests by digest (and one tag), for resolve()."""

    def __init__(self, manifests, tag_digest):
        self.manifests = manifests
        self.tag_digest = tag_digest

    def manifest(self, reference):
        return self.manifests[self.tag_digest if reference == "1.0" else reference]


def _manifest(body):
    from acrtasks.copy.manifests import parse_manifest

    raw = json.dumps(body).encode()
    return parse_manifest(raw, body["mediaType"], digest_of(raw))


def test_attestations_leave_an_index_only_when_asked():
    from acrtasks.copy.copier import resolve

    oci = "application/vnd.oci.image.manifest.v1+json"
    image = lambda arch: _manifest({"schemaVersion": 2, "mediaType": oci, "layers": [],  # noqa: E731
                                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                               "digest": digest_of(arch.encode()), "size": 1}})
    amd, arm = image("amd64"), image("arm64")
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(b"{}"), "size": 2}
    artifact = _manifest({"schemaVersion": 2, "mediaType": oci, "config": empty, "layers": []})  # OCI 1.1 form
    old_style = image("unknown")  # buildx before 0.32: an image manifest, told apart by its annotation only
    entries = [{"mediaType": oci, "digest": amd.digest, "size": len(amd.raw), "platform": {"os": "linux",
                                                                                           "architecture": "amd64"}},
               {"mediaType": oci, "digest": arm.digest, "size": len(arm.raw), "platform": {"os": "linux",
                                                                                           "architecture": "arm64"}},
               {"mediaType": oci, "digest": artifact.digest, "size": len(artifact.raw),
                "platform": {"os": "unknown", "architecture": "unknown"}},
               {"mediaType": oci, "digest": old_style.digest, "size": len(old_style.raw),
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]
    index = _manifest({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries})
    source = ManifestSource({m.digest: m for m in (amd, arm, artifact, old_style, index)}, index.digest)
    top, children, platforms, dropped, _ = resolve(source, "1.0")
    assert (top.digest, len(children), dropped) == (index.digest, 4, False)  # keep: byte for byte
    top, children, platforms, dropped, _ = resolve(source, "1.0", drop_attestations="all")
    assert dropped and top.digest != index.digest
    assert [c.digest for c in children] == [amd.digest, arm.digest] and platforms == ["linux/amd64", "linux/arm64"]
    assert [e["digest"] for e in top.data["manifests"]] == [amd.digest, arm.digest]
    # what ACR refuses only: the OCI 1.1 artifact goes, the older form (an image manifest in the index) stays
    top, children, platforms, dropped, _ = resolve(source, "1.0", drop_attestations="artifacts")
    assert dropped and [e["digest"] for e in top.data["manifests"]] == [amd.digest, arm.digest, old_style.digest]
    assert [c.digest for c in children] == [amd.digest, arm.digest, old_style.digest]
    assert top.data["manifests"][2] == entries[3]  # its annotation as the source has it
    plain = _manifest({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries[:2]})
    source = ManifestSource({m.digest: m for m in (amd, arm, plain)}, plain.digest)
    for drop in ("all", "artifacts"):  # nothing to drop: unchanged
        assert resolve(source, "1.0", drop_attestations=drop)[0].digest == plain.digest


def test_json_from_outside_nested_5000_deep_is_one_typed_error_at_every_entry_point(tmp_path):
    """10 KB of brackets ended Python's parser in a RecursionError (a traceback) at eight entry points."""
    from acrtasks.copy.manifests import ManifestInvalid, parse_manifest
    from acrtasks.errors import UsageError
    from acrtasks.util import inputs

    deep = ("[" * 5000 + "]" * 5000).encode()
    with pytest.raises(ValueError, match="nested deeper than 64"):
        inputs.parse_json(deep)
    with pytest.raises(ValueError, match="nested deeper than 64"):
        inputs.parse_json(b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}")  # parses, but past the bound
    assert inputs.parse_json(b"[" * 63 + b"]" * 63)  # within it
    with pytest.raises(ManifestInvalid, match="not JSON .nested deeper"):
        parse_manifest(b'{"schemaVersion": 2, "x": ' + deep + b"}", "application/vnd.oci.image.manifest.v1+json")
    (tmp_path / "config.json").write_bytes(deep)
    with pytest.raises(UsageError, match="not valid JSON"):
        inputs.load_json(deep.decode(), tmp_path / "config.json", "docker config")


def test_a_manifests_json_is_parsed_once(monkeypatch):
    """An index of 5,000 entries was parsed again on every look at it (105 s of CPU for a --dry push-deps)."""
    import json

    from acrtasks.copy import manifests

    entries = [{"mediaType": manifests.OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"}}] * 5000
    raw = json.dumps({"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": entries}).encode()
    calls = []
    real = manifests.parse_json
    monkeypatch.setattr(manifests, "parse_json", lambda data: calls.append(1) or real(data))
    index = manifests.parse_manifest(raw, manifests.OCI_INDEX)
    for _ in range(100):
        index.children()
        index.data.get("manifests")
    assert len(calls) == 1


def test_an_index_entrys_platform_of_any_shape_is_a_name_never_a_traceback():
    """An index entry whose `platform` is a string was an AttributeError; raw ESC bytes reached the terminal."""
    from acrtasks.copy.manifests import platform_matches, platform_of

    assert platform_of({"platform": "linux/amd64"}) == "unknown/unknown"
    assert platform_of({"platform": None}) == "unknown/unknown"
    assert platform_of({"platform": {"os": "linux\x1b[2K", "architecture": "arm64", "variant": "v8"}}) == \
        "linux\\x1b[2K/arm64/v8"
    assert not platform_matches({"platform": ["linux"]}, "linux/amd64")


def _layout_dir(tmp_path, index):
    bundle = tmp_path / "bundle"
    (bundle / "blobs" / "sha256").mkdir(parents=True)
    (bundle / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (bundle / "index.json").write_text(json.dumps(index))
    return bundle


@pytest.mark.parametrize("entries, words", [
    ([{"digest": 12345, "size": 1}], "bad digest '12345'"),
    ([{"digest": "sha256:" + "a" * 64, "size": 1, "annotations": ["x"]}], "malformed annotations or size"),
    ([{"digest": "sha256:" + "a" * 64, "size": 1, "annotations": {"org.opencontainers.image.ref.name": "r"}},
      {"digest": "sha256:" + "b" * 64, "size": 1, "annotations": {"org.opencontainers.image.ref.name": "r"}}],
     "names 'r' twice"),
])
def test_a_bundle_index_of_any_shape_is_one_bundle_error(tmp_path, entries, words):
    from acrtasks.copy.layout import LayoutReader
    from acrtasks.errors import BundleError

    reader = LayoutReader(_layout_dir(tmp_path, {"schemaVersion": 2, "manifests": entries}))
    with pytest.raises(BundleError, match=words):
        reader.index()


def test_a_bundle_directory_never_reads_through_a_link_out_of_it(tmp_path):
    from acrtasks.copy.layout import LayoutReader
    from acrtasks.errors import BundleError

    bundle = _layout_dir(tmp_path, {"schemaVersion": 2, "manifests": []})
    secret = tmp_path / "secret"
    secret.write_text("not the bundle's")
    (bundle / "blobs" / "sha256" / ("c" * 64)).symlink_to(secret)
    reader = LayoutReader(bundle)
    assert f"blobs/sha256/{'c' * 64}" not in reader.names()
    with pytest.raises(BundleError, match="is a symbolic link"):
        reader.has(f"blobs/sha256/{'c' * 64}")


def test_a_gzip_bundle_unpacks_only_layout_files_and_not_a_bomb(tmp_path):
    """A 2 MiB bundle wrote 3 GiB to $TMPDIR; another made 296,000 temporary files."""
    import gzip
    import io

    from acrtasks.copy.layout import LayoutReader
    from acrtasks.errors import BundleError

    def tar_gz(path, members):
        with gzip.open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w|") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    stray = tmp_path / "stray.tar.gz"
    tar_gz(stray, [("oci-layout", b"{}"), ("index.json", b'{"manifests": []}'), ("notes/x.txt", b"x" * 10)])
    reader = LayoutReader(stray)
    assert reader.names() == ["index.json", "oci-layout"]  # the rest never written
    reader.close()
    bomb = tmp_path / "bomb.tar.gz"
    tar_gz(bomb, [("oci-layout", b"{}"), (f"blobs/sha256/{'d' * 64}", b"\0" * (80 << 20))])
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(BundleError, match="unpacks to more than 64 MiB"):
        LayoutReader(bomb)


def test_a_blob_sent_later_never_clears_a_targets_failure_from_another_blob():
    """The fan-out's blobs run in parallel jobs: one that starts before another blob failed for a target, and
    succeeds, must leave that failure standing (a cleared one let the manifests go up over a missing blob)."""
    from acrtasks.copy.fanout import FanTarget, _tee_with_retries

    data = b"y" * 5000

    class Source(StubSource):
        def open_blob(self, digest, size):
            return iter([data]), lambda: None

    class Target:
        where, parallel, checks_digests = "t", 4, True
        received = b""

        def put_blob(self, digest, size, chunks):
            self.received = b"".join(chunks)

    earlier = AcrError("blob sha256:aaa does not hash to its digest")
    fan = FanTarget(Target(), host="t")
    fan.error = earlier
    _tee_with_retries(Source(), digest_of(data), len(data), [fan])
    assert fan.target.received == data
    assert fan.error is earlier
