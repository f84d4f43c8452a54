"""Against a registry that refuses what ACR refuses (harness.acr.AcrRegistry): OCI artifacts such as buildx's
attestations, writes outside its namespaces, overwriting an immutable tag. Effects are read from the upstream
registry's API and the proxy's record of its refusals."""

import json

import pytest
from support import sbom_scanner, unique_version
from harness import AcrRegistry, Registry, RegistryWriter, make_layer

EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb"
         "4fc21fe77e8310c060f61caaff8a", "size": 2}


@pytest.fixture
def acr():
    upstream = Registry().start()
    proxy = AcrRegistry(upstream, namespaces={"shop"}, immutable={"shop/locked"}).start()
    yield proxy
    proxy.stop()
    upstream.remove()


def test_the_double_refuses_as_acr_does(acr):
    """The harness's own behaviour, read back through the registry API (see its docstring for the sources)."""
    writer = RegistryWriter(acr)
    image = writer.image("shop/app", "v1", [make_layer(1000, 1)], oci=True)
    assert acr.upstream.digest("shop/app", "v1") == image["digest"]  # a repository made by its first push
    writer.blob("shop/app", b"{}")
    artifact = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": EMPTY,
                "layers": [], "artifactType": "application/vnd.example+json"}
    response = writer.session.put(f"{acr.url}/v2/shop/app/manifests/sbom", data=json.dumps(artifact),
                                  headers={"Content-Type": artifact["mediaType"]})
    assert response.status_code == 403
    assert response.json()["errors"][0] == {"code": "DENIED", "detail": None,
                                            "message": "unknown manifest class for application/vnd.oci.empty.v1+json"}
    missing = writer.session.post(f"{acr.url}/v2/nowhere/app/blobs/uploads/")
    assert missing.status_code == 403 and missing.json()["errors"][0]["code"] == "DENIED"
    writer.image("shop/locked", "v1", [make_layer(1000, 2)], oci=True)
    with pytest.raises(Exception):
        writer.image("shop/locked", "v1", [make_layer(1000, 3)], oci=True)
    assert [message for _, _, message in acr.refused][-1] == "the tag v1 of shop/locked is immutable"


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # buildx attaches attestations there
def test_buildx_attestations_are_dropped_only_when_asked(project, engine, api, acr, registry):
    """buildx 0.13 (Debian 13's) attaches its provenance to a loaded image as an "unknown/unknown" manifest of
    the image's index (read back from the engine's own save stream). ``drop`` leaves them out, on ACR too;
    ``keep`` and ``auto`` keep them elsewhere; two platforms pushed by the build to ACR with ``drop`` carry none.
    What ``auto`` does on ACR (keeps them, in the form ACR stores) is tests/integration/test_supply_chain.py's."""
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    project.write(f'\n[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n')  # ACR-like
    version = unique_version()
    dropped = project.inv("build", "--registry", f"{acr.host}/shop", "--version", version, "--attestations", "drop",
                          "push")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert "attestations dropped" in dropped.stdout  # the plan says so
    assert not engine_attestations(api, f"demo-api:{version}")
    assert acr.upstream.digest("shop/demo", f"api-{version}")
    kept = unique_version()  # both registries are on 127.0.0.1, named in flat_hosts: keep is asked for
    out = project.inv("build", "--registry", f"{registry.host}/shop", "--version", kept, "--attestations", "keep",
                      "--progress", "plain")
    assert out.returncode == 0
    assert engine_attestations(api, f"demo-api:{kept}"), out.stdout
    project.write()  # flat_hosts as by default: the loopback registry is not ACR, so auto keeps them
    auto = unique_version()
    assert project.inv("build", "--registry", f"{registry.host}/shop", "--version", auto).returncode == 0
    assert engine_attestations(api, f"demo-api:{auto}")
    forced = unique_version()
    assert project.inv("build", "--registry", f"{registry.host}/shop", "--version", forced, "--attestations",
                       "drop").returncode == 0
    assert not engine_attestations(api, f"demo-api:{forced}")
    project.write(f'\n[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n')
    both = unique_version()
    pushed = project.inv("build", "--registry", f"{acr.host}/shop", "--version", both, *TWO, "--attestations", "drop",
                         "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    body = json.loads(blob_or_manifest(acr.upstream, "shop/demo", f"api-{both}"))
    assert platforms(body) == ["linux/amd64", "linux/arm64"] and not attestation_entries(body), body


def engine_attestations(api, image: str) -> list:
    """The attestation manifests the engine holds for ``image``, from its own ``docker save`` (OCI layout)."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(b"".join(api.get_image(image)))) as tar:
        top = json.load(tar.extractfile("index.json"))["manifests"][0]
        body = json.load(tar.extractfile("blobs/sha256/" + top["digest"].split(":")[1]))
    return attestation_entries(body)


TWO = ("--platform", "linux/amd64", "--platform", "linux/arm64")


def platforms(body: dict) -> list:
    return sorted(f"{e['platform']['os']}/{e['platform']['architecture']}" for e in body.get("manifests") or []
                  if e.get("platform", {}).get("os") != "unknown")


def attestation_entries(body: dict) -> list:
    return [e for e in body.get("manifests") or []
            if (e.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest"]


def blob_or_manifest(registry, repo: str, reference: str) -> bytes:
    import urllib.request

    from harness.registries import MANIFEST_ACCEPT

    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@pytest.fixture
def attested():
    """A source index as Docker Hub serves them in 2026: two platforms, and an attestation made as an OCI 1.1
    artifact (empty config, artifactType) beside them, with buildx's annotation."""
    source = Registry().start()
    writer = RegistryWriter(source)
    amd = writer.image("team/app", None, [make_layer(50_000, 11)], "amd64", oci=True)
    arm = writer.image("team/app", None, [make_layer(40_000, 12)], "arm64", "v8", oci=True)
    writer.blob("team/app", b"{}")
    statement = writer.blob("team/app", b'{"_type": "https://in-toto.io/Statement/v1"}')
    artifact = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.in-toto+json", "config": EMPTY,
                "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": statement, "size": 44}]}
    raw = json.dumps(artifact).encode()
    import hashlib

    digest = writer.manifest("team/app", "sha256:" + hashlib.sha256(raw).hexdigest(), artifact, artifact["mediaType"])
    attestation = {"mediaType": artifact["mediaType"], "digest": digest, "size": len(raw),
                   "platform": {"architecture": "unknown", "os": "unknown"},
                   "annotations": {"vnd.docker.reference.digest": amd["digest"],
                                   "vnd.docker.reference.type": "attestation-manifest"}}
    source.index_digest = writer.index("team/app", "1.0", [amd, arm, attestation], oci=True)
    source.platform_digests = sorted([amd["digest"], arm["digest"]])
    yield source
    source.remove()


def test_push_deps_drops_attestations_for_acr_and_keeps_them_elsewhere(project, acr, attested, registry, tmp_path):
    acr_host = acr.host.split(":")[0]
    project.write(f'[registry]\nflat_hosts = [".aliyuncs.com", "{acr_host}"]\n'
                  f'[deps]\nimages = ["{attested.host}/team/app:1.0"]\n')
    # what ACR says to the artifact when asked to keep it: refused, with the fix in the same line
    kept = project.inv("push-deps", "--deps-namespace", f"{acr.host}/shop", "--attestations", "keep")
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert "unknown manifest class for application/vnd.oci.empty.v1+json" in kept.stdout
    assert "--attestations drop" in kept.stdout and "Traceback" not in kept.stdout + kept.stderr
    # auto, for ACR: dropped; the index is rewritten, every platform image keeps its digest
    metadata = tmp_path / "meta.json"
    dropped = project.inv("push-deps", "--deps-namespace", f"{acr.host}/shop", "--metadata-file", str(metadata))
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert "copied (attestations dropped)" in dropped.stdout
    held = acr.upstream.digest("shop/app", "1.0")
    assert held and held != attested.index_digest
    body = json.loads(blob_or_manifest(acr.upstream, "shop/app", "1.0"))
    assert sorted(e["digest"] for e in body["manifests"]) == attested.platform_digests
    assert held in metadata.read_text()  # what the target holds, for set-images --pin digest
    # elsewhere, kept: byte for byte, the source's digest (both registries are on 127.0.0.1, which flat_hosts
    # names here, so keep is asked for; auto's choice by host is unit-tested)
    plain = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror", "--attestations", "keep")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert registry.digest("mirror/app", "1.0") == attested.index_digest


def test_a_missing_namespace_stops_the_chain_before_any_build(project, engine, api, acr):
    """ACR refuses a push into a namespace nobody created with a bare `denied`, at the first blob upload: the
    preflight asks that before the first build, names the namespace, and leaves nothing behind."""
    import time

    for name in ("api", "web"):
        project.component(name, "FROM scratch\nCOPY Dockerfile /\n")
    version = unique_version()
    since = int(time.time())
    result = project.inv("build", "push", "--registry", f"{acr.host}/missing", "--layout", "flat",
                         "--version", version)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "namespace 'missing' does not exist" in errors[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # no build ran: no image of that version, and the engine saw no build (its events since the start)
    assert not [i for i in api.images() if any(version in tag for tag in i["RepoTags"] or [])]
    events = list(api.events(since=since, until=int(time.time()) + 1, decode=True))
    assert not [e for e in events if e.get("Type") == "image" and version in json.dumps(e)], events
    assert acr.upstream.repositories() == []  # nothing in the registry
    assert [(method, path.split("?")[0]) for method, path, _ in acr.refused] == \
        [("POST", "/v2/missing/demo/blobs/uploads/")]  # one probe, refused; nothing else was tried


def test_token_auth_as_acr_does_it(project, attested, tmp_path):
    """ACR's Bearer auth: the realm on another host (here: port), scopes repository:<ns>/<repo>:pull,push; the
    preflight and the copy get their tokens from it, and a namespace nobody created is named."""
    import base64

    from harness import TokenServer

    tokens = TokenServer({"robot": "s3cret-robot"}, tmp_path / "tokens").start()
    upstream = Registry(token=tokens).start()
    acr = AcrRegistry(upstream, namespaces={"shop"}).start()
    try:
        config = tmp_path / "dockercfg"
        config.mkdir()
        auth = base64.b64encode(b"robot:s3cret-robot").decode()
        (config / "config.json").write_text(json.dumps({"auths": {acr.host: {"auth": auth}}}))
        env = {"DOCKER_CONFIG": str(config)}
        project.write(f'[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'
                      f'[deps]\nimages = ["{attested.host}/team/app:1.0"]\n')
        done = project.inv("push-deps", "--deps-namespace", f"{acr.host}/shop", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "copied (attestations dropped)" in done.stdout
        scopes = {scope for query in tokens.requests_seen for scope in query.get("scope", [])}
        assert "repository:shop/app:pull,push" in scopes, scopes
        missing = project.inv("push-deps", "--deps-namespace", f"{acr.host}/nowhere", env=env)
        assert missing.returncode == 1 and "namespace 'nowhere' does not exist" in missing.stderr, missing.stderr
    finally:
        acr.stop()
        upstream.remove()
        tokens.stop()



def test_bundles_drop_attestations_for_acr_on_export_or_on_import(project, acr, attested, tmp_path):
    """export keeps what the source holds unless the bundle is meant for ACR; import into ACR drops them."""
    project.write(f'[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'
                  f'[deps]\nimages = ["{attested.host}/team/app:1.0"]\n'
                  '[components.api]\ncontext = "."\n')
    RegistryWriter(acr).image("shop/demo", "api-1", [make_layer(1000, 9)], oci=True)  # the release's component
    bundle = tmp_path / "kept.tar"
    kept = project.inv("export", "--registry", f"{acr.host}/shop", "--version", "1", "--source", "registry",
                       "--attestations", "keep", "--output", str(bundle))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    index = json.loads(_member(bundle, "blobs/sha256/" + attested.index_digest.split(":")[1]))
    assert len(index["manifests"]) == 3  # kept: the attestation travels in the bundle
    imported = project.inv("import", str(bundle), "--registry", f"{acr.host}/shop")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "copied (attestations dropped)" in imported.stdout
    body = json.loads(blob_or_manifest(acr.upstream, "shop/app", "1.0"))
    assert sorted(e["digest"] for e in body["manifests"]) == attested.platform_digests
    # a bundle meant for ACR (auto, by its registry): dropped at export
    meant = tmp_path / "for-acr.tar"
    dropped = project.inv("export", "--registry", f"{acr.host}/shop", "--version", "1", "--source", "registry",
                          "--output", str(meant))
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    record = json.loads(_member(meant, "acrtasks-bundle.json"))
    app = next(i for i in record["images"] if i["ref"].endswith("/team/app:1.0"))  # a dependency: its source
    assert app["digest"] != attested.index_digest and len(app["platforms"]) == 2


def _member(bundle, name: str) -> bytes:
    import tarfile

    with tarfile.open(bundle) as tar:
        return tar.extractfile(name).read()


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # buildx makes SBOMs there
def test_an_sbom_is_attached_where_attestations_are_kept(project, engine, api, tmp_path):
    """[build] sbom with an SBOM generator image made here (BuildKit's generator protocol: it writes an SPDX
    in-toto statement into $BUILDKIT_SCAN_DESTINATION), since BuildKit's own scanner is on Docker Hub."""
    scanner = sbom_scanner(api)
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    project.write(f'\n[build]\nsbom = true\nsbom_generator = "{scanner}"\n')
    version = unique_version()
    result = project.inv("build", "--version", version, "--attestations", "keep")
    assert result.returncode == 0, result.stdout + result.stderr
    layers = attestation_layers(api, f"demo-api:{version}")
    assert "https://spdx.dev/Document" in [layer["annotations"]["in-toto.io/predicate-type"] for layer in layers]
    dropped = unique_version()
    assert project.inv("build", "--version", dropped, "--attestations", "drop").returncode == 0
    assert not engine_attestations(api, f"demo-api:{dropped}")  # dropped wins over sbom


def attestation_layers(api, image: str) -> list:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(b"".join(api.get_image(image)))) as tar:
        top = json.load(tar.extractfile("index.json"))["manifests"][0]
        body = json.load(tar.extractfile("blobs/sha256/" + top["digest"].split(":")[1]))
        found = []
        for entry in attestation_entries(body):
            found += json.load(tar.extractfile("blobs/sha256/" + entry["digest"].split(":")[1]))["layers"]
    return found
