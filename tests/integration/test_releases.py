"""Releases as units (issue #20): build only what changed, the release record, promote.

Every effect is read back on its own: which images the engine holds, which blobs the registry's request log
says were uploaded, what the registry's manifests and configs say; never the tool's own words.
"""

import io
import json

import pytest
from support import local_tags, read_record, unique_version
from harness import BASE_IMAGE, Registry

STEP = f"""FROM {BASE_IMAGE}
COPY . /srv/
RUN cat /srv/app.txt > /srv/built && echo "$(date +%s%N)" > /srv/stamp
"""


@pytest.fixture
def logged_registry():
    started = Registry(log_level="info").start()
    yield started
    started.remove()


@pytest.fixture
def three(project, engine):
    """Three components with no {version} build arg: a release changes only what its files change."""
    for name in ("api", "web", "worker"):
        project.component(name, STEP)
        (project.root / name / "app.txt").write_text(f"{name} 1\n")
        (project.root / name / ".dockerignore").write_text("notes.md\n")
        (project.root / name / "notes.md").write_text("ignored\n")
    return project


def layers(registry, repository, tag):
    """Every layer of the image at ``tag``, of each platform of an index (attestations left out)."""
    manifest = registry.manifest(repository, tag)
    if "manifests" in manifest:
        return [digest for entry in manifest["manifests"] if entry.get("platform", {}).get("os") != "unknown"
                for digest in layers(registry, repository, entry["digest"])]
    return [layer["digest"] for layer in manifest["layers"]]


def test_next_release_builds_only_the_changed_component(three, api, logged_registry):
    registry = logged_registry
    ns = f"{registry.host}/team"
    v1, v2 = unique_version(), unique_version()
    first = three.inv("build", "push", "--registry", ns, "--version", v1)
    assert first.returncode == 0, first.stderr
    before = {name: layers(registry, f"team/demo-{name}", v1) for name in ("web", "worker")}
    (three.root / "api" / "app.txt").write_text("api 2\n")
    offset = registry.log_size()
    second = three.inv("build", "push", "--registry", ns, "--version", v2)
    assert second.returncode == 0, second.stderr
    # built: api only (the engine holds api at v2, not the others)
    assert f"demo-api:{v2}" in local_tags(api, "demo-api")
    assert f"demo-web:{v2}" not in local_tags(api, "demo-web")
    assert f"demo-worker:{v2}" not in local_tags(api, "demo-worker")
    uploaded = set(registry.uploaded_blobs(offset))
    for name, digests in before.items():
        assert not uploaded & set(digests), f"{name}'s layers were uploaded again"
        assert layers(registry, f"team/demo-{name}", v2) == digests  # the same layers ...
        labels = registry.config(f"team/demo-{name}", v2)["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == v2  # ... under a config that states the new version
        assert labels["org.acrtasks.input.digest"].startswith("sha256:")
    assert registry.config("team/demo-api", v2)["config"]["Labels"]["org.opencontainers.image.version"] == v2
    # one record per release, in the project's repository, a plain OCI image manifest
    manifest, record = read_record(registry, "team/demo", v2)
    assert "artifactType" not in manifest
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert sorted(record["components"]) == ["api", "web", "worker"]
    assert record["components"]["web"]["since"] == v1 and "since" not in record["components"]["api"]
    for name in ("api", "web", "worker"):
        entry = record["components"][name]
        assert entry["digest"] == registry.digest(f"team/demo-{name}", v2)
        labels = registry.config(f"team/demo-{name}", v2)["config"]["Labels"]
        assert entry["input"]["digest"] == labels["org.acrtasks.input.digest"]


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)
def test_what_counts_as_a_change(three, api, logged_registry):
    """A .dockerignore'd file does not; a build arg, a moved base tag and --rebuild do."""
    registry = logged_registry
    ns = f"{registry.host}/team"
    versions = [unique_version() for _ in range(5)]

    def release(version, *extra):
        done = three.inv("build", "push", "--registry", ns, "--version", version, *extra)
        assert done.returncode == 0, done.stderr
        return {name for name in ("api", "web", "worker") if f"demo-{name}:{version}" in local_tags(api, f"demo-{name}")}

    assert release(versions[0]) == {"api", "web", "worker"}
    (three.root / "web" / "notes.md").write_text("changed, but ignored\n")
    assert release(versions[1]) == set()
    three.components["worker"] = '{ FLAVOUR = "b" }'
    three.write()
    assert release(versions[2]) == {"worker"}
    assert release(versions[3], "--rebuild") == {"api", "web", "worker"}
    # the base tag moves: every component builds on it
    base = api.inspect_image(BASE_IMAGE)["Id"]
    moved = api.build(fileobj=io.BytesIO(f"FROM {BASE_IMAGE}\nLABEL moved=1\n".encode()), rm=True, tag="moved:1",
                      decode=True)
    list(moved)
    try:
        api.tag("moved:1", *BASE_IMAGE.split(":"))
        assert release(versions[4]) == {"api", "web", "worker"}
    finally:
        api.tag(base, *BASE_IMAGE.split(":"))


def test_plan_says_why(three, logged_registry):
    registry = logged_registry
    ns = f"{registry.host}/team"
    v1, v2 = unique_version(), unique_version()
    three.components["api"] = '{ VERSION = "{version}" }'
    three.write()
    assert three.inv("build", "push", "--registry", ns, "--version", v1).returncode == 0
    plan = three.inv("--dry", "build", "push", "--registry", ns, "--version", v2)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[lines.index("  api: api/Dockerfile") + 1] == "    build: build arg VERSION changed"
    assert lines[lines.index("  web: web/Dockerfile") + 1].startswith(f"    unchanged since {v1} ")


def test_without_a_registry_the_engine_is_the_reference(three, api):
    v1, v2 = unique_version(), unique_version()
    assert three.inv("build", "--version", v1).returncode == 0
    (three.root / "api" / "app.txt").write_text("api 2\n")
    done = three.inv("build", "--version", v2)
    assert done.returncode == 0, done.stderr
    for name in ("web", "worker"):
        old, new = api.inspect_image(f"demo-{name}:{v1}"), api.inspect_image(f"demo-{name}:{v2}")
        assert new["RootFS"]["Layers"] == old["RootFS"]["Layers"]  # relabelled, not rebuilt
        assert new["Config"]["Labels"]["org.opencontainers.image.version"] == v2
    api_old, api_new = api.inspect_image(f"demo-api:{v1}"), api.inspect_image(f"demo-api:{v2}")
    assert api_new["RootFS"]["Layers"] != api_old["RootFS"]["Layers"]


# -- the record's readers -------------------------------------------------------------------------------------

@pytest.fixture
def released(three, logged_registry):
    """Release v1 of the three components at <registry>/team, with an alias, latest refs and a dependency."""
    from harness import RegistryWriter, make_layer

    registry = logged_registry
    RegistryWriter(registry).image("library/app", "1", [make_layer(3000, 21)])
    three.components["api"] = '{}\naliases = ["api-init"]'
    three.write(f'[deps]\nimages = ["{registry.host}/library/app:1"]\n')
    version = unique_version()
    done = three.inv("build", "push", "--tag-latest", "push-deps", "--registry", f"{registry.host}/team",
                     "--version", version)
    assert done.returncode == 0, done.stderr
    return three, registry, version


def test_one_record_per_chain_and_show_release_prints_it(released):
    project, registry, version = released
    _, record = read_record(registry, "team/demo", version)
    assert registry.tags("team/demo") == [f"release-{version}"]  # one record: push and push-deps wrote one
    assert record["dependencies"] == [{"source": f"{registry.host}/library/app:1",
                                       "target": f"{registry.host}/team/app:1",
                                       "digest": registry.digest("team/app", "1")}]
    api_refs = record["components"]["api"]["refs"]
    assert sorted(api_refs) == sorted(f"{registry.host}/team/{name}:{tag}" for name in ("demo-api", "demo-api-init")
                                      for tag in (version, "latest"))
    assert all(digest == registry.digest(ref.split("/", 1)[1].split(":")[0], ref.rsplit(":", 1)[1])
               for ref, digest in api_refs.items())
    shown = project.inv("show-release", "--registry", f"{registry.host}/team", "--version", version, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == record
    table = project.inv("show-release", "--registry", f"{registry.host}/team", "--version", version)
    assert record["components"]["web"]["digest"] in table.stdout
    missing = project.inv("show-release", "--registry", f"{registry.host}/team", "--version", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no release record")


def test_no_record_skips_it(three, logged_registry):
    version = unique_version()
    done = three.inv("build", "push", "--registry", f"{logged_registry.host}/team", "--version", version,
                     "--no-record")
    assert done.returncode == 0, done.stderr
    assert logged_registry.tags("team/demo") == []


def test_set_images_and_pull_read_digests_from_the_record(released, api):
    project, registry, version = released
    (project.root / "compose.yaml").write_text("services:\n  web:\n    image: demo-web:old\n"
                                               f"  app:\n    image: {registry.host}/library/app:1\n")
    web = registry.digest("team/demo-web", version)
    offset = registry.log_size()
    done = project.inv("set-images", "--file", "compose.yaml", "--registry", f"{registry.host}/team",
                       "--version", version, "--pin", "digest")
    assert done.returncode == 0, done.stderr
    asked = registry.requests(offset)
    text = (project.root / "compose.yaml").read_text()
    assert f"{registry.host}/team/demo-web:{version}@{web}" in text
    assert not [uri for method, uri in asked if method == "HEAD" and "/manifests/" in uri], asked
    assert ("GET", f"/v2/team/demo/manifests/release-{version}") in asked
    for name in ("demo-web", "demo-worker"):
        for image in api.images(name=name):
            api.remove_image(image["Id"], force=True)
    offset = registry.log_size()
    pulled = project.inv("pull", "--registry", f"{registry.host}/team", "--version", version)
    assert pulled.returncode == 0, pulled.stderr
    asked = registry.requests(offset)
    assert f"{registry.host}/team/demo-web@{web}" in api.inspect_image(f"demo-web:{version}")["RepoDigests"]
    assert ("GET", f"/v2/team/demo/manifests/release-{version}") in asked
    heads = [uri for method, uri in asked if method == "HEAD" and "/manifests/" in uri]
    assert not [uri for uri in heads if uri.endswith(version)], heads  # the engine pulls by digest


def test_export_locates_the_release_through_its_record(released, tmp_path):
    project, registry, version = released
    offset = registry.log_size()
    bundle = tmp_path / "release.tar"
    done = project.inv("export", "--registry", f"{registry.host}/team", "--version", version, "--no-deps",
                       "--source", "registry", "--output", str(bundle))
    assert done.returncode == 0, done.stderr
    asked = registry.requests(offset)
    assert ("GET", f"/v2/team/demo/manifests/release-{version}") in asked
    assert not [uri for method, uri in asked if method == "HEAD"], asked  # no HEAD per image
    import tarfile as tarfiles

    with tarfiles.open(bundle) as tar:
        index = json.load(tar.extractfile("index.json"))
    named = {m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index["manifests"]}
    assert f"{registry.host}/team/demo-web:{version}" in named, named


# -- promote --------------------------------------------------------------------------------------------------

def release_blobs(registry, record):
    """Every layer digest of the release's images (each platform), as the source registry holds them."""
    found = set()
    for entry in record["components"].values():
        ref = next(iter(entry["refs"]))
        repository = ref.split("/", 1)[1].rsplit(":", 1)[0]
        found.update(layers(registry, repository, entry["digest"]))
    return found


def test_promote_to_another_namespace_mounts_and_to_another_registry_reads_once(released):
    project, source, version = released
    other = Registry(log_level="info").start()
    try:
        _, record = read_record(source, "team/demo", version)
        blobs = release_blobs(source, record)
        offset = source.log_size()
        done = project.inv("promote", "--version", version, "--from", f"{source.host}/team",
                           "--to", f"{source.host}/prod", "--to", f"{other.host}/shop")
        assert done.returncode == 0, done.stdout + done.stderr
        for name in ("demo-api", "demo-api-init", "demo-web", "demo-worker"):
            for tag in (version, "latest"):
                held = source.digest(f"team/{name}", tag)
                assert source.digest(f"prod/{name}", tag) == held, (name, tag)  # digests kept
                assert other.digest(f"shop/{name}", tag) == held, (name, tag)
        assert other.digest("shop/app", "1") == source.digest("team/app", "1")
        # the same registry: every layer mounted, none uploaded; the other one: each blob read once
        assert not set(source.uploaded_blobs(offset)) & blobs
        reads = [uri.rsplit("/", 1)[1] for method, uri in source.requests(offset)
                 if method == "GET" and "/blobs/sha256:" in uri]
        assert blobs <= set(reads) and len(reads) == len(set(reads)), reads
        for registry, namespace in ((source, "prod"), (other, "shop")):
            _, copied = read_record(registry, f"{namespace}/demo", version)
            assert copied["components"]["web"]["refs"] == {
                f"{registry.host}/{namespace}/demo-web:{tag}": record["components"]["web"]["digest"]
                for tag in (version, "latest")}
            assert copied["components"]["web"]["input"] == record["components"]["web"]["input"]
            assert copied["dependencies"][0]["target"] == f"{registry.host}/{namespace}/app:1"
    finally:
        other.remove()


def test_promote_one_refusing_and_one_dead_destination_do_not_stop_the_others(released, auth_registry):
    from harness import free_port

    project, source, version = released
    other = Registry().start()
    try:
        dead = f"127.0.0.1:{free_port()}"
        done = project.inv("promote", "--version", version, "--from", f"{source.host}/team",
                           "--to", f"{auth_registry.host}/x", "--to", f"{other.host}/shop", "--to", f"{dead}/y",
                           "--no-preflight", env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: 2 of 3 destination(s) failed")
        assert "Traceback" not in done.stderr
        assert other.digest("shop/demo-web", version) == source.digest("team/demo-web", version)
        assert read_record(other, "shop/demo", version)
        assert auth_registry.repositories() == []
        with_preflight = project.inv("promote", "--version", version, "--from", f"{source.host}/team",
                                     "--to", f"{auth_registry.host}/x", env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert with_preflight.returncode == 1 and "nothing promoted" in with_preflight.stderr
        # the preflights run at once, each destination's its own: the refusing one is left out, the other gets all
        fresh = Registry().start()
        try:
            mixed = project.inv("promote", "--version", version, "--from", f"{source.host}/team",
                                "--to", f"{auth_registry.host}/x", "--to", f"{fresh.host}/shop",
                                env={"ACRTASKS_RETRY_BACKOFF": "0"})
            assert mixed.returncode == 1, mixed.stdout + mixed.stderr
            assert f"nothing promoted to {auth_registry.host}/x" in mixed.stderr
            assert mixed.stderr.strip().splitlines()[-1] == f"error: 1 of 2 destination(s) failed: {auth_registry.host}/x"
            assert fresh.digest("shop/demo-web", version) == source.digest("team/demo-web", version)
            assert read_record(fresh, "shop/demo", version)
            assert auth_registry.repositories() == []
        finally:
            fresh.remove()
    finally:
        other.remove()


def test_a_destination_refusing_uploads_midway_leaves_the_others_whole(released):
    """Both destinations get every blob from one read; one refuses each upload once its bytes are sent."""
    from harness import FaultyRegistry

    project, source, version = released
    good, behind = Registry().start(), Registry().start()
    denying = FaultyRegistry(behind, "upload_denied").start()
    try:
        done = project.inv("promote", "--version", version, "--from", f"{source.host}/team", "--to",
                           f"{good.host}/shop", "--to", f"{denying.host}/shop", "--no-preflight",
                           env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert done.returncode == 1, done.stdout + done.stderr
        assert denying.hit.is_set()
        assert done.stderr.strip().splitlines()[-1] == f"error: 1 of 2 destination(s) failed: {denying.host}/shop"
        for name in ("demo-api", "demo-web", "demo-worker"):
            assert good.digest(f"shop/{name}", version) == source.digest(f"team/{name}", version)
        assert read_record(good, "shop/demo", version)
        assert behind.tags("shop/demo") == []
    finally:
        denying.stop()
        good.remove()
        behind.remove()


def test_promote_refuses_a_corrupt_source_blob(released):
    project, source, version = released
    other = Registry().start()
    try:
        _, record = read_record(source, "team/demo", version)
        layer = layers(source, "team/demo-web", record["components"]["web"]["digest"])[-1]
        data = next((source.root / "data").rglob(f"blobs/sha256/{layer[7:9]}/{layer[7:]}/data"))
        data.write_bytes(bytes(b ^ 0xFF for b in data.read_bytes()))  # same size, other bytes
        done = project.inv("promote", "--version", version, "--from", f"{source.host}/team",
                           "--to", f"{other.host}/shop", env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert done.returncode == 1, done.stdout + done.stderr
        failed = [line for line in done.stdout.splitlines() if line.startswith("failed")]
        assert failed and "does not hash" in failed[0] and source.host in failed[0], done.stdout
        assert other.digest("shop/demo-web", version) is None
        assert other.tags("shop/demo") == [], "no record for a release that did not arrive whole"
        assert other.digest("shop/demo-api", version)  # the others were copied
    finally:
        other.remove()


def test_ctrl_c_stops_a_promote_and_cancels_its_uploads(released):
    import os
    import subprocess
    import sys

    from harness import FaultyRegistry
    from support import interrupt_promptly, upload_dirs

    project, source, version = released
    other = Registry().start()
    proxy = FaultyRegistry(other, "upload_stall", 60).start()
    try:
        child = subprocess.Popen([sys.executable, "-m", "invoke", "promote", "--version", version, "--from",
                                  f"{source.host}/team", "--to", f"{proxy.host}/shop"], cwd=project.root,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "ACRTASKS_RETRY_BACKOFF": "0"})

        def ready():
            assert proxy.hit.wait(30), "no upload reached the stall"
            time.sleep(0.5)

        import time

        interrupt_promptly(child, ready)
        assert other.tags("shop/demo") == []
        deadline = time.monotonic() + 5
        while upload_dirs(other) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert upload_dirs(other) == [], "the open upload sessions were not cancelled"
    finally:
        proxy.stop()
        other.remove()


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # its pushes carry buildx's attestations
def test_promote_to_acr_renames_flat_and_keeps_the_attestations_acr_stores(three, logged_registry):
    """buildx 0.13's attestations are image manifests inside the index, which ACR stores: promote copies the
    index byte for byte (its digest kept), attestations and all (OCI-artifact ones are left out: test_acr.py)."""
    from harness import AcrRegistry

    source = logged_registry
    upstream = Registry().start()
    acr = AcrRegistry(upstream, namespaces={"shop"}).start()
    try:
        three.write('[registry]\nflat_hosts = [".aliyuncs.com", "localhost"]\n')  # the double, by its name
        version = unique_version()
        done = three.inv("build", "push", "--registry", f"{source.host}/team", "--version", version)
        assert done.returncode == 0, done.stderr
        kept = source.manifest("team/demo-web", version)
        assert any((m.get("platform") or {}).get("os") == "unknown" for m in kept.get("manifests", [])), kept
        target = f"localhost:{acr.host.split(':')[1]}/shop"
        promoted = three.inv("promote", "--version", version, "--from", f"{source.host}/team", "--to", target)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert acr.refused == []
        body = upstream.manifest("shop/demo", f"web-{version}")  # flat: one repository, the component in the tag
        assert body == kept and upstream.digest("shop/demo", f"web-{version}") == source.digest("team/demo-web",
                                                                                               version)
        _, record = read_record(upstream, "shop/demo", version)
        assert record["components"]["web"]["digest"] == upstream.digest("shop/demo", f"web-{version}")
    finally:
        acr.stop()
        upstream.remove()


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)
def test_an_unchanged_component_is_relabelled_on_acr(three):
    """ACR's flat layout: the relabelled images go into the one repository (no mount needed) and ACR's double
    refuses none of it (no artifact, no empty config)."""
    from harness import AcrRegistry

    upstream = Registry(log_level="info").start()
    acr = AcrRegistry(upstream, namespaces={"shop"}).start()
    try:
        three.write('[registry]\nflat_hosts = [".aliyuncs.com", "localhost"]\n')
        target = f"localhost:{acr.host.split(':')[1]}/shop"
        v1, v2 = unique_version(), unique_version()
        assert three.inv("build", "push", "--registry", target, "--version", v1).returncode == 0
        (three.root / "api" / "app.txt").write_text("api 2\n")
        offset = upstream.log_size()
        done = three.inv("build", "push", "--registry", target, "--version", v2)
        assert done.returncode == 0, done.stdout + done.stderr
        assert acr.refused == []
        assert layers(upstream, "shop/demo", f"web-{v2}") == layers(upstream, "shop/demo", f"web-{v1}")
        assert not set(upstream.uploaded_blobs(offset)) & set(layers(upstream, "shop/demo", f"web-{v1}"))
        labels = upstream.config("shop/demo", f"web-{v2}")["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == v2
        _, record = read_record(upstream, "shop/demo", v2)
        assert record["components"]["web"]["since"] == v1
    finally:
        acr.stop()
        upstream.remove()
