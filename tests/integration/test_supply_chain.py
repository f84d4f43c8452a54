"""Supply chain against a registry that refuses what ACR refuses (harness.acr.AcrRegistry), on Docker 26.1 and
28.5 (BuildKit built in, buildx 0.13 and 0.29): attestations kept in the form ACR stores. Every effect is read
back from the upstream registry's API (the index, its attestation manifests, their in-toto predicate types)
and from the double's record of what it refused, never from our output.

Seen on both engines before this was written (an experiment kept out of the suite): with
``--output type=registry,oci-artifact=true`` Docker 28.5's BuildKit writes the attestations as OCI artifacts
(empty config), which the double refuses as ACR does; with ``oci-artifact=false`` it writes them as image
manifests inside the index, which the double stores; Docker 26.1's BuildKit takes the option and writes the
second form either way.
"""

import json
import os

import pytest
from harness import AcrRegistry, Registry
from harness.registries import MANIFEST_ACCEPT
from support import sbom_scanner, unique_version

ENGINES = pytest.mark.parametrize("engine", ["engine26", "engine28"], indirect=True)
SPDX = "https://spdx.dev/Document"
SLSA = "https://slsa.dev/provenance/v0.2"
TWO_PLATFORMS = """FROM --platform=$BUILDPLATFORM acrtasks-examples/busybox:local AS made
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM" > /platform
FROM scratch
COPY --from=made /platform /platform
"""


@pytest.fixture
def acr():
    upstream = Registry().start()
    proxy = AcrRegistry(upstream, namespaces={"shop"}).start()
    yield proxy
    proxy.stop()
    upstream.remove()


def read_manifest(registry, repo: str, reference: str) -> dict:
    import urllib.request

    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def attached(registry, repo: str, reference: str) -> dict:
    """platform image digest -> the in-toto predicate types of its attestation manifest, from the index."""
    index = read_manifest(registry, repo, reference)
    found = {}
    for entry in index.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            manifest = read_manifest(registry, repo, entry["digest"])
            assert manifest["config"]["mediaType"] != "application/vnd.oci.empty.v1+json"  # not the artifact form
            found[annotations["vnd.docker.reference.digest"]] = sorted(
                layer["annotations"]["in-toto.io/predicate-type"] for layer in manifest["layers"])
    images = [e["digest"] for e in index["manifests"] if (e.get("platform") or {}).get("os") != "unknown"]
    assert sorted(found) == sorted(images), index  # every platform image has its attestations
    return found


@ENGINES
def test_build_push_keeps_an_sbom_and_provenance_on_every_component_on_acr(project, engine, api, acr):
    """``attestations = "auto"`` (the default) on an ACR host: kept, inside the index, for a component the
    engine loads and the chained push sends, and for one of two platforms that buildx pushes itself."""
    scanner = sbom_scanner(api)
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    project.component("web", TWO_PLATFORMS, '{}\nplatforms = ["linux/amd64", "linux/arm64"]')
    project.write(f'\n[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'  # ACR-like
                  f'[build]\nsbom = true\nsbom_generator = "{scanner}"\nprovenance = "max"\n')
    version = unique_version()
    result = project.inv("build", "--registry", f"{acr.host}/shop", "--version", version, "push")
    assert result.returncode == 0, result.stdout + result.stderr
    assert acr.refused == []
    assert result.stdout.count("attestations: provenance (mode=max) and SBOM, inside the image's index") == 2
    for component, count in (("api", 1), ("web", 2)):
        found = attached(acr.upstream, "shop/demo", f"{component}-{version}")
        assert len(found) == count
        assert all(types == sorted([SPDX, SLSA]) for types in found.values()), found


PASSWORD = "correct-horse-battery-staple-7c1e"  # the key's: must never show in argv, logs, records or files


@pytest.fixture
def key_pair(tmp_path_factory):
    from harness import make_key_pair

    folder = tmp_path_factory.mktemp("keys")
    key, public = make_key_pair(folder, PASSWORD)
    return key, public, folder


def sign_project(project, acr, key, extra: str = "") -> None:
    from harness import cosign_binary

    project.write(f'\n[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'
                  f'[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n' + extra)


def cosign_verifies(image: str, public, folder) -> bool:
    from harness.cosign import verify

    done = verify(image, public, folder, folder / ".docker")
    return done.returncode == 0


@ENGINES
def test_build_push_sign_signs_every_component_and_cosign_verifies_each(project, engine, acr, key_pair):
    """The chain signs what it pushed, by digest; cosign itself verifies each component at the registry with the
    public key, the record lists each signature's digest (read from the registry), and a second sign adds
    nothing (the .sig manifest keeps its digest)."""
    import os

    from support import read_record

    key, public, folder = key_pair
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    project.component("web", TWO_PLATFORMS, '{}\nplatforms = ["linux/amd64", "linux/arm64"]')
    sign_project(project, acr, key)
    version = unique_version()
    env = {"COSIGN_PASSWORD": PASSWORD}
    done = project.inv("build", "--registry", f"{acr.host}/shop", "--version", version, "push", "sign", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert acr.refused == []
    _, record = read_record(acr.upstream, "shop/demo", version)
    assert PASSWORD.encode() not in json.dumps(record).encode()
    signatures = {entry["image"]: entry for entry in record["signatures"]}
    for component in ("api", "web"):
        digest = acr.upstream.digest("shop/demo", f"{component}-{version}")
        image = f"{acr.host}/shop/demo@{digest}"
        assert cosign_verifies(image, public, folder), component
        tag = digest.replace(":", "-") + ".sig"
        assert signatures[image]["signature"] == f"{acr.host}/shop/demo:{tag}"
        assert signatures[image]["digest"] == acr.upstream.digest("shop/demo", tag)  # what the registry holds
    shown = project.inv("show-release", "--registry", f"{acr.host}/shop", "--version", version)
    assert shown.returncode == 0 and all(entry["digest"] in shown.stdout for entry in record["signatures"])
    again = project.inv("sign", "--registry", f"{acr.host}/shop", "--version", version, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kept: 2" in again.stdout
    _, after = read_record(acr.upstream, "shop/demo", version)
    assert after["signatures"] == record["signatures"]
    for entry in after["signatures"]:  # nothing appended to the signature manifests
        assert acr.upstream.digest("shop/demo", entry["signature"].rsplit(":", 1)[1]) == entry["digest"]
    assert not [p for p in folder.rglob("*") if p.is_file() and p.stat().st_mode & 0o004 and
                PASSWORD.encode() in p.read_bytes()]
    assert os.environ.get("COSIGN_PASSWORD") is None


REGISTRY_PASSWORD = "registry-secret-51d0a2"


def recorded_release(registry, repository: str, version: str, images: dict) -> None:
    """A release record written straight to ``registry`` (as push writes it): component -> (repo, tag, digest)."""
    from acrtasks.naming import ImageRef
    from acrtasks.registry.client import Clients
    from acrtasks.release import record as records

    components = {name: records.ComponentEntry({f"{registry.host}/{repo}:{tag}": digest}, digest, {},
                                               ("linux/amd64",), (), False)
                  for name, (repo, tag, digest) in images.items()}
    records.write(Clients(), ImageRef(registry.host, repository, f"release-{version}"),
                  records.Record("demo", version, records.utc_now(), components))


def test_no_secret_reaches_argv_a_log_the_record_or_a_readable_file(project, key_pair, tmp_path):
    """Signing at a registry with htpasswd auth: while `inv sign` runs, every process's argv (/proc) is read;
    neither the key's password nor the registry's shows there, nor in the output or the record, and the docker
    config cosign is given lives in a 0700 folder as a 0600 file. cosign then verifies with the login's
    credentials, so they did reach it."""
    import os
    import threading
    import time
    from pathlib import Path

    from harness import RegistryWriter, make_layer
    from harness.cosign import cosign_binary, verify
    from support import read_record

    key, public, folder = key_pair
    registry = Registry(users={"alice": REGISTRY_PASSWORD}).start()
    try:
        image = RegistryWriter(registry).image("shop/demo-api", "v1", [make_layer(2000, 5)], oci=True)
        project.component("api", "FROM scratch\n")
        project.write(f'[registry]\nurl = "{registry.host}/shop"\n[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n')
        login = project.inv("login", "--username", "alice", "--password-stdin", input=REGISTRY_PASSWORD + "\n")
        assert login.returncode == 0, login.stdout + login.stderr
        version = unique_version()
        recorded_release(registry, "shop/demo", version, {"api": ("shop/demo-api", "v1", image["digest"])})
        seen, cosigns, folders, stop = [], [0], [], threading.Event()

        def watch() -> None:
            for _ in range(20000):  # bounded: about 100 s at most
                if stop.is_set():
                    return
                for pid in os.listdir("/proc"):
                    if not pid.isdigit():
                        continue
                    try:
                        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if argv.startswith(cosign_binary().encode()):
                        cosigns[0] += 1
                    if PASSWORD.encode() in argv or REGISTRY_PASSWORD.encode() in argv:
                        seen.append(argv)
                for made in Path("/tmp").glob("acrtasks-cosign-*"):
                    try:
                        config = made / "config.json"
                        folders.append((made.stat().st_mode & 0o777,
                                        config.stat().st_mode & 0o777 if config.exists() else None))
                    except OSError:
                        continue
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            done = project.inv("sign", "--version", version, env={"COSIGN_PASSWORD": PASSWORD})
        finally:
            stop.set()
            watcher.join(10)
        assert done.returncode == 0, done.stdout + done.stderr
        assert cosigns[0] > 0, "the watch never saw cosign run: it proves nothing"
        assert seen == []
        assert folders and all(mode == 0o700 and config in (0o600, None) for mode, config in folders), folders
        for secret in (PASSWORD, REGISTRY_PASSWORD):
            assert secret not in done.stdout + done.stderr
        _, record = read_record(registry, "shop/demo", version)
        assert PASSWORD not in json.dumps(record) and REGISTRY_PASSWORD not in json.dumps(record)
        assert verify(f"{registry.host}/shop/demo-api@{image['digest']}", public, folder,
                      Path(os.environ["DOCKER_CONFIG"])).returncode == 0
    finally:
        registry.remove()


def two_components(project, registry, seed: int, flat: bool = False):
    """Components api and web of a release, written to ``registry``/shop through its API with their record, as
    push leaves them (``flat``: ACR's names, shop/demo:api-V); returns (version, component -> digest)."""
    from harness import RegistryWriter, make_layer

    writer = RegistryWriter(registry)
    version = unique_version()

    def where(name: str):
        return ("shop/demo", f"{name}-{version}") if flat else (f"shop/demo-{name}", version)

    images = {name: writer.image(*where(name), [make_layer(3000, n)], oci=True)["digest"]
              for n, name in enumerate(("api", "web"), seed)}
    for name in images:
        project.component(name, "FROM scratch\n")
    recorded_release(registry, "shop/demo", version,
                     {name: (*where(name), digest) for name, digest in images.items()})
    return version, images


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # what is verified is the registry's, not the engine's
def test_pull_verify_key_refuses_an_unsigned_image_and_another_keys_signature(project, engine, api, key_pair,
                                                                             tmp_path_factory):
    """A release of two components: pulled when both are signed by the key; with one unsigned, or signed by
    another key only, the pull stops with one line naming it and nothing is pulled or tagged."""
    from harness import cosign_binary, make_key_pair

    key, public, _ = key_pair
    other_key, _ = make_key_pair(tmp_path_factory.mktemp("other"), PASSWORD)
    registry = Registry().start()
    try:
        version, images = two_components(project, registry, 40)
        settings = f'[registry]\nurl = "{registry.host}/shop"\n[sign]\ncosign = "{cosign_binary()}"\n'
        project.write(settings + f'key = "{key}"\n')
        env = {"COSIGN_PASSWORD": PASSWORD}
        signed = project.inv("sign", "--version", version, "--component", "api", env=env)
        assert signed.returncode == 0, signed.stdout + signed.stderr
        refused = project.inv("pull", "--version", version, "--verify-key", str(public))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("error: nothing pulled: component ") and f"/shop/demo-web@{images['web']}" in last
        assert last.endswith("is not signed by " + str(public) + ": no signatures found"), last
        assert "Traceback" not in refused.stderr
        assert not api.images(name=f"demo-api:{version}"), "a verified image was pulled though another failed"
        # signed by another key only: refused as well
        project.write(settings + f'key = "{other_key}"\n')
        assert project.inv("sign", "--version", version, "--component", "web", env=env).returncode == 0
        by_other = project.inv("pull", "--version", version, "--verify-key", str(public))
        assert by_other.returncode == 1 and f"/shop/demo-web@{images['web']} is not signed by" in by_other.stderr
        assert not api.images(name=f"demo-web:{version}") and not api.images(name=f"demo-api:{version}")
        # both signed by the key ([verify] key this time): pulled and tagged
        project.write(settings + f'key = "{key}"\n[verify]\nkey = "{public}"\n')
        assert project.inv("sign", "--version", version, "--component", "web", env=env).returncode == 0
        pulled = project.inv("pull", "--version", version)
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert "verified  2 signature(s)" in pulled.stdout
        assert api.images(name=f"demo-api:{version}") and api.images(name=f"demo-web:{version}")
    finally:
        registry.remove()


def referrers_index(writer, repo: str, subject: str) -> str:
    """An OCI 1.1 referrer of ``subject`` (an artifact: empty config, artifactType) listed under the referrers
    tag ``sha256-<hex>``, as a registry without the Referrers API keeps them (OCI distribution spec 1.1)."""
    import hashlib

    writer.blob(repo, b"{}")
    payload = writer.blob(repo, b'{"_type": "https://in-toto.io/Statement/v1"}')
    artifact = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.in-toto+json", "config": EMPTY,
                "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": payload, "size": 44}],
                "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": 1}}
    raw = json.dumps(artifact).encode()
    digest = writer.manifest(repo, "sha256:" + hashlib.sha256(raw).hexdigest(), artifact, artifact["mediaType"])
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": artifact["mediaType"], "digest": digest, "size": len(raw),
         "artifactType": artifact["artifactType"]}]}
    return writer.manifest(repo, subject.replace(":", "-"), index, index["mediaType"])


EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb"
         "4fc21fe77e8310c060f61caaff8a", "size": 2}


def test_promote_and_push_deps_carry_signatures_that_cosign_verifies_there(project, key_pair, acr):
    """A signed release promoted into the ACR double, and a signed dependency mirrored there
    ([deps] signatures): cosign verifies each at its new place. A referrers index of OCI artifacts beside the
    dependency is refused by ACR: left behind and said so, the image copied all the same."""
    from harness import RegistryWriter, cosign_binary, make_layer
    from harness.cosign import cosign

    key, public, folder = key_pair
    registry = Registry().start()
    try:
        writer = RegistryWriter(registry)
        version = unique_version()
        api = writer.image("shop/demo-api", version, [make_layer(4000, 61)], oci=True)["digest"]
        dep = writer.image("library/redis", "7", [make_layer(5000, 62)], oci=True)["digest"]
        referrers_index(writer, "library/redis", dep)
        project.component("api", "FROM scratch\n")
        project.write(f'[registry]\nurl = "{registry.host}/shop"\n'
                      f'flat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'
                      f'[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n'
                      f'[deps]\nimages = ["{registry.host}/library/redis:7"]\nsignatures = true\n')
        recorded_release(registry, "shop/demo", version, {"api": ("shop/demo-api", version, api)})
        env = {"COSIGN_PASSWORD": PASSWORD}
        assert project.inv("sign", "--version", version, env=env).returncode == 0
        signed = cosign(["sign", "--key", str(key), "--tlog-upload=false", "--new-bundle-format=false",
                         "--use-signing-config=false", "--allow-http-registry", "--allow-insecure-registry", "-y",
                         f"{registry.host}/library/redis@{dep}"], folder, folder / ".docker", PASSWORD)
        assert signed.returncode == 0, signed.stderr
        promoted = project.inv("promote", "--version", version, "--from", f"{registry.host}/shop", "--to",
                               f"{acr.host}/shop")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert cosign_verifies(f"{acr.host}/shop/demo@{api}", public, folder)
        mirrored = project.inv("push-deps", "--deps-namespace", f"{acr.host}/shop")
        assert mirrored.returncode == 0, mirrored.stdout + mirrored.stderr
        assert acr.upstream.digest("shop/redis", "7") == dep
        assert cosign_verifies(f"{acr.host}/shop/redis@{dep}", public, folder)
        referrers_tag = dep.replace(":", "-")
        assert acr.upstream.digest("shop/redis", referrers_tag) is None  # ACR refused the artifacts
        assert f"{referrers_tag} left behind" in mirrored.stdout and "unknown manifest class" in mirrored.stdout
        assert f"with {referrers_tag}.sig" in mirrored.stdout
        # a registry that stores OCI artifacts keeps the referrers index too, byte for byte
        plain = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror")
        assert plain.returncode == 0, plain.stdout + plain.stderr
        assert registry.digest("mirror/redis", referrers_tag) == registry.digest("library/redis", referrers_tag)
        assert cosign_verifies(f"{registry.host}/mirror/redis@{dep}", public, folder)
    finally:
        registry.remove()


def test_export_import_carry_signatures_and_import_verify_key_checks_them_from_the_bundle(project, key_pair, acr,
                                                                                          tmp_path_factory):
    """A release exported from its registry takes each image's signature into the bundle; import --verify-key
    refuses a bundle with an unsigned image, and one signed by another key, pushing nothing; a bundle signed
    throughout is imported into the ACR double, signatures beside the images, where cosign verifies them."""
    from harness import cosign_binary, make_key_pair

    key, public, folder = key_pair
    other_key, _ = make_key_pair(tmp_path_factory.mktemp("other"), PASSWORD)
    registry = Registry().start()
    try:
        # both registries are on 127.0.0.1, named in flat_hosts: the release is flat (ACR's names) at both
        version, images = two_components(project, registry, 70, flat=True)
        settings = (f'[registry]\nurl = "{registry.host}/shop"\n'
                    f'flat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'
                    f'[sign]\ncosign = "{cosign_binary()}"\n')
        project.write(settings + f'key = "{key}"\n')
        env = {"COSIGN_PASSWORD": PASSWORD}
        bundles = tmp_path_factory.mktemp("bundles")

        def export(name: str):
            out = bundles / name
            done = project.inv("export", "--version", version, "--source", "registry", "--no-deps", "--output",
                               str(out))
            assert done.returncode == 0, done.stdout + done.stderr
            return out

        def imported(bundle):
            return project.inv("import", str(bundle), "--registry", f"{acr.host}/shop", "--verify-key", str(public))

        assert project.inv("sign", "--version", version, "--component", "api", env=env).returncode == 0
        unsigned = imported(export("unsigned.tar"))
        assert unsigned.returncode == 1, unsigned.stdout + unsigned.stderr
        assert "error: nothing imported: component " in unsigned.stderr and "/shop/demo:web-" in unsigned.stderr
        assert "no signature in the bundle" in unsigned.stderr
        project.write(settings + f'key = "{other_key}"\n')
        assert project.inv("sign", "--version", version, "--component", "web", env=env).returncode == 0
        by_other = imported(export("other.tar"))
        assert by_other.returncode == 1 and "/shop/demo:web-" in by_other.stderr, by_other.stdout + by_other.stderr
        assert acr.upstream.digest("shop/demo", f"api-{version}") is None  # nothing pushed by either
        project.write(settings + f'key = "{key}"\n')
        assert project.inv("sign", "--version", version, "--component", "web", env=env).returncode == 0
        good = imported(export("signed.tar"))
        assert good.returncode == 0, good.stdout + good.stderr
        for name, digest in images.items():
            assert acr.upstream.digest("shop/demo", f"{name}-{version}") == digest
            assert cosign_verifies(f"{acr.host}/shop/demo@{digest}", public, folder), name
    finally:
        registry.remove()


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)
def test_push_sign_signs_as_its_last_step_and_checks_the_key_before_the_first_push(project, engine, key_pair,
                                                                                  registry):
    """push --sign: without the key's password nothing is pushed (checked first); with it, the pushed image is
    signed (cosign verifies it) and the record push writes lists the signature."""
    from support import read_record

    key, public, folder = key_pair
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    from harness import cosign_binary

    project.write(f'[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n')
    version = unique_version()
    refused = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version, "push", "--sign")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: the key ")
    assert "set COSIGN_PASSWORD" in refused.stderr
    assert registry.digest("ns/demo-api", version) is None  # checked before the first push
    done = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version, "push", "--sign",
                       env={"COSIGN_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stdout + done.stderr
    digest = registry.digest("ns/demo-api", version)
    assert cosign_verifies(f"{registry.host}/ns/demo-api@{digest}", public, folder)
    _, record = read_record(registry, "ns/demo", version)
    assert [entry["image"] for entry in record["signatures"]] == [f"{registry.host}/ns/demo-api@{digest}"]


def test_with_the_referrers_api_a_signature_is_a_referrer_and_promote_carries_it_to_either_kind(project, key_pair):
    """On a registry with the OCI Referrers API (harness.referrers), sign writes cosign 3's own form (a bundle
    stored as a referrer: no .sig tag) and a second sign keeps it; promote copies it by digest, to a registry with
    the API (which lists it) and to one without (whose referrers tag lists it); cosign verifies at all three."""
    from harness import ReferrersRegistry, RegistryWriter, cosign_binary, make_layer
    from support import read_record

    key, public, folder = key_pair
    upstreams = [Registry().start() for _ in range(2)]
    source, other = (ReferrersRegistry(upstream).start() for upstream in upstreams)
    plain = Registry().start()
    try:
        version = unique_version()
        api = RegistryWriter(source).image("shop/demo-api", version, [make_layer(3000, 81)], oci=True)["digest"]
        project.component("api", "FROM scratch\n")
        project.write(f'[registry]\nurl = "{source.host}/shop"\n[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n')
        recorded_release(source, "shop/demo", version, {"api": ("shop/demo-api", version, api)})
        env = {"COSIGN_PASSWORD": PASSWORD}
        signed = project.inv("sign", "--version", version, env=env)
        assert signed.returncode == 0, signed.stdout + signed.stderr
        [bundle] = source.referrers[("shop/demo-api", api)]
        assert bundle["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert upstreams[0].digest("shop/demo-api", api.replace(":", "-") + ".sig") is None  # not the tag form
        _, record = read_record(upstreams[0], "shop/demo", version)
        assert record["signatures"] == [{"image": f"{source.host}/shop/demo-api@{api}",
                                         "signature": f"{source.host}/shop/demo-api@{bundle['digest']}",
                                         "digest": bundle["digest"]}]
        assert cosign_verifies(f"{source.host}/shop/demo-api@{api}", public, folder)
        again = project.inv("sign", "--version", version, env=env)
        assert again.returncode == 0 and "kept: 1" in again.stdout, again.stdout + again.stderr
        assert len(source.referrers[("shop/demo-api", api)]) == 1
        for destination in (plain, other):
            done = project.inv("promote", "--version", version, "--from", f"{source.host}/shop", "--to",
                               f"{destination.host}/prod")
            assert done.returncode == 0, done.stdout + done.stderr
            assert cosign_verifies(f"{destination.host}/prod/demo-api@{api}", public, folder), destination.host
        fallback = plain.manifest("prod/demo-api", api.replace(":", "-"))
        assert [entry["digest"] for entry in fallback["manifests"]] == [bundle["digest"]]
        assert [entry["digest"] for entry in other.referrers[("prod/demo-api", api)]] == [bundle["digest"]]
        # a bundle takes the Referrers API's list as the referrers tag; imported, cosign finds it there
        bundle_file = folder / "release.tar"
        exported = project.inv("export", "--version", version, "--source", "registry", "--no-deps", "--output",
                               str(bundle_file))
        assert exported.returncode == 0, exported.stdout + exported.stderr
        imported = project.inv("import", str(bundle_file), "--registry", f"{plain.host}/offline")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert cosign_verifies(f"{plain.host}/offline/demo-api@{api}", public, folder)
    finally:
        for server in (source, other):
            server.stop()
        for registry in (*upstreams, plain):
            registry.remove()


def test_signs_mistakes_are_one_line_before_anything_and_dry_signs_nothing(project, key_pair, registry):
    """No key, a key file that is not there, no cosign, a release never pushed: each one line, exit 2 (1 for
    the registry's answer), nothing signed; --dry prints the plan without asking for the password."""
    from harness import RegistryWriter, cosign_binary, make_layer

    key, _, _ = key_pair
    version = unique_version()
    digest = RegistryWriter(registry).image("shop/demo-api", version, [make_layer(2000, 91)], oci=True)["digest"]
    recorded_release(registry, "shop/demo", version, {"api": ("shop/demo-api", version, digest)})
    project.component("api", "FROM scratch\n")
    base = f'[registry]\nurl = "{registry.host}/shop"\n'
    cases = [
        ("", 2, "no key to sign with: pass --key"),
        (f'[sign]\nkey = "nowhere.key"\ncosign = "{cosign_binary()}"\n', 2, "key 'nowhere.key': no such file"),
        (f'[sign]\nkey = "{key}"\ncosign = "/nonexistent/cosign"\n', 2, "is not an executable file"),
    ]
    for extra, code, words in cases:
        project.write(base + extra)
        done = project.inv("sign", "--version", version, env={"COSIGN_PASSWORD": PASSWORD})
        assert done.returncode == code, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr
    project.write(base + f'[sign]\nkey = "{key}"\ncosign = "{cosign_binary()}"\n')
    missing = project.inv("sign", "--version", "v-never", env={"COSIGN_PASSWORD": PASSWORD})
    assert missing.returncode == 1 and "nothing to sign: no release record" in missing.stderr
    dry = project.inv("--dry", "sign", "--version", version)  # no password: --dry asks for none
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"api: {registry.host}/shop/demo-api@{digest}" in dry.stdout
    assert registry.digest("shop/demo-api", digest.replace(":", "-") + ".sig") is None


HANGING_COSIGN = r"""#!/bin/sh
# cosign 3 by its flags; `sign` says it started, then hangs (a registry that never answers)
case "$1" in version) echo "GitVersion: v3.1.1"; exit 0;; esac
if [ "$2" = "--help" ]; then printf '    --key=:\n    --use-signing-config=true:\n'; exit 0; fi
echo started > "$HANG_MARK"
exec sleep 30
"""


def test_ctrl_c_stops_signing_at_once_and_leaves_no_credentials_behind(project, registry, key_pair, tmp_path):
    """Ctrl-C while cosign runs: the task ends within 3 s (exit 130, one line), cosign is stopped, and the
    docker config made for it (the registry's credentials) is gone."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from harness import RegistryWriter, make_layer
    from support import interrupt_promptly

    key, _, _ = key_pair
    fake = tmp_path / "cosign"
    fake.write_text(HANGING_COSIGN)
    fake.chmod(0o755)
    mark = tmp_path / "started"
    version = unique_version()
    digest = RegistryWriter(registry).image("shop/demo-api", version, [make_layer(2000, 93)], oci=True)["digest"]
    recorded_release(registry, "shop/demo", version, {"api": ("shop/demo-api", version, digest)})
    project.component("api", "FROM scratch\n")
    project.write(f'[registry]\nurl = "{registry.host}/shop"\n[sign]\nkey = "{key}"\ncosign = "{fake}"\n')
    before = set(Path("/tmp").glob("acrtasks-cosign-*"))
    child = subprocess.Popen([sys.executable, "-m", "invoke", "sign", "--version", version], cwd=project.root,
                             env={**os.environ, "COSIGN_PASSWORD": PASSWORD, "HANG_MARK": str(mark)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ready() -> None:
        deadline = time.monotonic() + 30
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the stand-in cosign never started"

    interrupt_promptly(child, ready)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(Path("/tmp").glob("acrtasks-cosign-*")) - before:
        time.sleep(0.05)
    assert not set(Path("/tmp").glob("acrtasks-cosign-*")) - before
    time.sleep(0.5)  # SIGINT delivered: the stand-in (a sleep) is gone by now
    left = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(mark).encode() in (proc / "environ").read_bytes():
                left.append((proc / "cmdline").read_bytes())
        except OSError:
            continue
    assert left == [], "cosign was left running"
