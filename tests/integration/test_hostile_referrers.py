"""A source registry's Referrers API list is not trusted: ``push-deps`` with ``[deps] signatures``, and
``export``, take only the manifests that name the image as their ``subject``, describe each from the manifest
itself (as the OCI distribution spec 1.1 has a client write the referrers tag), refuse a list of a thousand
whole, and follow its pages only on the registry's own origin, a bounded number of times.

The source is harness.referrers.ReferrersRegistry (the API in front of a real distribution registry), whose list
for the image each test writes itself; the target is a plain distribution registry without the API, so what was
carried is read back from its referrers tag (``sha256-<hex>``) and its manifests by digest (from the bundle's
index.json and blobs, for export).
"""

import hashlib
import json
from itertools import count

import pytest
from harness import Elsewhere, ReferrersRegistry, Registry, RegistryWriter, make_layer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
NAMESPACES = count()


class Seeded:
    """The image ``library/app:1``, an unrelated image beside it, two genuine referrers of it (their descriptors
    as the spec has them made) and a referrer of the unrelated image."""

    def __init__(self, source: ReferrersRegistry):
        writer = RegistryWriter(source)
        self.app = writer.image("library/app", "1", [make_layer(3000, 91)], oci=True)
        self.other = writer.image("library/app", "other", [make_layer(20_000, 92)], oci=True)
        self.genuine = [self._referrer(writer, self.app, "application/vnd.example.sig.v1+json", n) for n in (1, 2)]
        self.foreign = self._referrer(writer, self.other, "application/vnd.example.sig.v1+json", 3)

    @staticmethod
    def _referrer(writer: RegistryWriter, subject: dict, artifact_type: str, n: int) -> dict:
        empty = writer.blob("library/app", b"{}")
        payload = f"signature {n}".encode()
        layer = writer.blob("library/app", payload)
        body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": {"mediaType": EMPTY, "digest": empty, "size": 2},
                "layers": [{"mediaType": "application/vnd.example.signature", "digest": layer,
                            "size": len(payload)}],
                "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
                "annotations": {"org.example.signed-by": f"key {n}"}}
        raw = json.dumps(body).encode()
        digest = writer.manifest("library/app", "sha256:" + hashlib.sha256(raw).hexdigest(), body, OCI_MANIFEST)
        return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw), "artifactType": artifact_type,
                "annotations": body["annotations"]}


@pytest.fixture(scope="module")
def source():
    upstream = Registry(log_level="info").start()
    server = ReferrersRegistry(upstream).start()
    server.seeded = Seeded(server)
    yield server
    server.stop()
    upstream.remove()


@pytest.fixture(scope="module")
def plain():
    registry = Registry().start()
    yield registry
    registry.remove()


def serve(source, listed, page_size=None, link=None) -> None:
    """``listed`` as the source's referrers list for library/app:1, paged as given."""
    source.referrers[("library/app", source.seeded.app["digest"])] = listed
    source.page_size, source.link = page_size, link


def mirror(project, source, plain, listed, page_size=None, link=None, namespace=None):
    """push-deps of library/app:1 (into ``namespace``, else a new one) with ``listed`` as the source's referrers
    list; the run and the target repository."""
    serve(source, listed, page_size, link)
    namespace = namespace or f"hostile{next(NAMESPACES)}"
    project.write(f'[deps]\nimages = ["{source.host}/library/app:1"]\nsignatures = true\n')
    done = project.inv("push-deps", "--deps-namespace", f"{plain.host}/{namespace}")
    assert "Traceback" not in done.stdout + done.stderr
    return done, f"{namespace}/app"


def referrers_tag(plain, repository: str, app: str):
    """The target's referrers tag of ``app`` (its manifests), or None where there is none."""
    tag = app.replace(":", "-")
    return plain.manifest(repository, tag)["manifests"] if plain.digest(repository, tag) else None


def test_only_manifests_naming_the_image_as_subject_are_carried_and_described_from_themselves(project, source,
                                                                                              plain):
    seeded = source.seeded
    genuine = seeded.genuine[0]
    lying = {**genuine, "size": 1, "artifactType": "application/evil", "annotations": {"x": "injected"}}
    missing = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 10}
    listed = [lying, dict(seeded.other), dict(seeded.foreign), missing, dict(genuine)]
    done, repository = mirror(project, source, plain, listed)
    assert done.returncode == 0, done.stdout + done.stderr
    app = seeded.app["digest"]
    assert plain.digest(repository, "1") == app  # the image itself
    assert referrers_tag(plain, repository, app) == [genuine]  # once, as its manifest says, not as the list lied
    for stranger in (seeded.other["digest"], seeded.foreign["digest"]):
        assert plain.digest(repository, stranger) is None, stranger  # never copied beside the image
    assert done.stdout.count("left behind") == 3, done.stdout


def test_a_list_of_a_thousand_is_refused_whole_without_a_request_for_any_of_them(project, source, plain):
    app = source.seeded.app["digest"]
    invented = [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
                 "size": 500} for n in range(1000)]
    since = source.upstream.log_size()
    done, repository = mirror(project, source, plain, invented)
    assert done.returncode == 0, done.stdout + done.stderr
    assert plain.digest(repository, "1") == app
    assert referrers_tag(plain, repository, app) is None
    asked = " ".join(uri for _, uri in source.upstream.requests(since))
    assert "/v2/library/app/manifests/1" in asked  # the log is read (the image was fetched)
    assert not any(d["digest"] in asked for d in invented[:200])  # none of them was fetched
    assert "more than 100 referrers" in done.stdout, done.stdout


@pytest.mark.parametrize("case", ["paged", "elsewhere", "endless"])
def test_a_paged_list_is_followed_on_the_registrys_own_origin_a_bounded_number_of_pages(project, source, plain,
                                                                                        case):
    seeded = source.seeded
    app = seeded.app["digest"]
    elsewhere = Elsewhere().start()
    try:
        path = f"/v2/library/app/referrers/{app}"
        link = {"paged": None, "elsewhere": f'<http://{elsewhere.host}{path}?page=1>; rel="next"',
                "endless": f'<{path}?page=1>; rel="next"'}[case]
        before = source.listed
        done, repository = mirror(project, source, plain, [dict(d) for d in seeded.genuine], page_size=1,
                                  link=link)
        assert done.returncode == 0, done.stdout + done.stderr
        assert plain.digest(repository, "1") == app
        carried = referrers_tag(plain, repository, app)
        if case == "paged":  # one referrer a page: both arrive
            assert carried == seeded.genuine
        else:  # the list as a whole is refused: nothing carried, nothing asked elsewhere, pages bounded
            assert carried is None
            assert elsewhere.seen == []
            assert source.listed - before == (1 if case == "elsewhere" else 10)
            assert ("not followed" if case == "elsewhere" else "goes on past 10 pages") in done.stdout, done.stdout
    finally:
        elsewhere.stop()


ENTRIES = st.sampled_from(["genuine0", "genuine1", "lying", "other", "foreign", "missing"])


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chosen=st.lists(ENTRIES, max_size=6), malformed=st.sampled_from([None, "digest", "size", "entry"]))
def test_whatever_the_list_names_only_genuine_referrers_arrive(project, source, plain, chosen, malformed):
    """Generated lists of the kinds above (and one malformed descriptor, which refuses the list): the image is
    always copied, and the target's referrers tag is exactly the genuine referrers named, described by the spec."""
    seeded = source.seeded
    kinds = {"genuine0": seeded.genuine[0], "genuine1": seeded.genuine[1],
             "lying": {**seeded.genuine[0], "size": 3, "annotations": {"y": "z"}},
             "other": seeded.other, "foreign": seeded.foreign,
             "missing": {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 9}}
    listed = [dict(kinds[name]) for name in chosen]
    if malformed:
        listed.append({"digest": {"digest": "sha256:../../etc", "size": 1}, "size": {"digest": "sha256:" + "2" * 64,
                      "size": "1"}, "entry": "sha256:" + "3" * 64}[malformed])
    done, repository = mirror(project, source, plain, listed)
    assert done.returncode == 0, done.stdout + done.stderr
    app = seeded.app["digest"]
    assert plain.digest(repository, "1") == app
    expected = [] if malformed else [g for g in seeded.genuine if
                                     any(kinds[name]["digest"] == g["digest"] for name in chosen)]
    carried = referrers_tag(plain, repository, app) or []
    assert sorted(carried, key=lambda d: d["digest"]) == sorted(expected, key=lambda d: d["digest"])
    for stranger in (seeded.other["digest"], seeded.foreign["digest"]):
        assert plain.digest(repository, stranger) is None


def test_a_referrers_tag_at_the_target_that_is_no_index_is_left_as_it_is(project, source, plain):
    """The spec: a referrers tag that holds something other than an image index is reported, not overwritten."""
    seeded = source.seeded
    app = seeded.app["digest"]
    namespace = f"hostile{next(NAMESPACES)}"
    squatter = RegistryWriter(plain).image(f"{namespace}/app", app.replace(":", "-"), [make_layer(1000, 93)],
                                           oci=True)["digest"]
    done, repository = mirror(project, source, plain, [dict(seeded.genuine[0])], namespace=namespace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert plain.digest(repository, app.replace(":", "-")) == squatter
    assert plain.digest(repository, seeded.genuine[0]["digest"]) == seeded.genuine[0]["digest"]
    assert "is not a referrers index; left as it is" in done.stdout, done.stdout


def test_export_takes_only_genuine_referrers_into_the_bundle(project, source, tmp_path):
    """The bundle's referrers tag beside the exported image lists only the genuine referrer, described by its
    manifest; the unrelated image and the foreign referrer are not in the bundle at all."""
    import tarfile

    seeded = source.seeded
    app = seeded.app["digest"]
    serve(source, [{**seeded.genuine[0], "size": 1}, dict(seeded.other), dict(seeded.foreign)])
    project.write(f'[deps]\nimages = ["{source.host}/library/app:1"]\n')
    bundle = tmp_path / "bundle.tar"
    done = project.inv("export", "--registry", f"{source.host}/shop", "--version", "1", "--output", str(bundle))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    with tarfile.open(bundle) as tar:
        index = json.load(tar.extractfile("index.json"))
        blobs = {m.name.rsplit("/", 1)[-1] for m in tar.getmembers() if m.name.startswith("blobs/sha256/")}
        tag = app.replace(":", "-")
        [entry] = [e for e in index["manifests"]
                   if e.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith(":" + tag)]
        referrers = json.load(tar.extractfile("blobs/sha256/" + entry["digest"].split(":")[1]))["manifests"]
    assert referrers == [seeded.genuine[0]]
    for stranger in (seeded.other["digest"], seeded.foreign["digest"]):
        assert stranger.split(":")[1] not in blobs
    assert done.stderr.count("left out of the bundle") == 2, done.stderr
