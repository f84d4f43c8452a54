"""Releases as units (issue #20): build only what changed, the release record, promote.

Every effect is read back on its own: which images the engine holds, which blobs the registry's request log
says were uploaded, what the registry's manifests and configs say; never the tool's own words.
"""

import io
import json
import tarfile

import pytest
from conftest import unique_version
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


def read_record(registry, repository, version):
    """release-<version> read straight from the registry: manifest, then its one layer, a tar of release.json."""
    manifest = registry.manifest(repository, f"release-{version}")
    blob = registry.blob(repository, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return manifest, json.load(tar.extractfile("release.json"))


def local_images(api, repository):
    return sorted(tag for image in api.images(name=repository) for tag in image["RepoTags"] or [])


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
    assert f"demo-api:{v2}" in local_images(api, "demo-api")
    assert f"demo-web:{v2}" not in local_images(api, "demo-web")
    assert f"demo-worker:{v2}" not in local_images(api, "demo-worker")
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
        return {name for name in ("api", "web", "worker") if f"demo-{name}:{version}" in local_images(api, f"demo-{name}")}

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
