"""A release is what was pushed: one component released alone (the guide's section 3), every flag at the end of
the chain; set-images writes only refs the registry holds; pull, export and promote take the record's components."""

import json
import tarfile

from support import unique_version
from harness import BASE_IMAGE

COMPOSE = ("services:\n  api:\n    image: demo-api:old\n  web:\n    image: demo-web:old   # kept\n"
           "  db:\n    image: postgres:15\n")


def _two_components(project):
    project.component("api", f"FROM {BASE_IMAGE}\nRUN echo api > /api\n")
    project.component("web", f"FROM {BASE_IMAGE}\nRUN echo web > /web\n")
    (project.root / "compose.yaml").write_text(COMPOSE)


def _released(project, registry, version, *flags):
    done = project.inv("build", "push", "set-images", "--registry", f"{registry.host}/team", "--version", version,
                       "--file", "compose.yaml", "--progress", "quiet", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_one_component_released_alone_changes_only_its_own_refs(project, engine, registry):
    _two_components(project)
    team = f"{registry.host}/team"
    v1, v2 = unique_version(), unique_version()
    _released(project, registry, v1)
    full = (project.root / "compose.yaml").read_text()
    assert f"image: {team}/demo-api:{v1}\n" in full and f"image: {team}/demo-web:{v1}   # kept\n" in full
    (project.root / "api" / "changed.txt").write_text("a change to api only\n")
    offset = registry.log_size()
    # every flag after the last task, --progress (build's alone) and --component (not promote's) included
    partial = _released(project, registry, v2, "--component", "api")
    # read back from the registry: api at v2, web never pushed at v2
    assert registry.digest("team/demo-api", v2)
    assert v2 not in registry.tags("team/demo-web")
    assert not [uri for method, uri in registry.requests(offset) if "demo-web" in uri and method in ("PUT", "POST")]
    assert (project.root / "compose.yaml").read_text() == full.replace(f"demo-api:{v1}", f"demo-api:{v2}")
    assert "not in this release" in partial.stdout
    assert "verified 1 ref(s) in the registry" in partial.stdout
    record = json.loads(project.inv("show-release", "--registry", team, "--version", v2, "--json").stdout)
    assert sorted(record["components"]) == ["api"]


def test_set_images_never_writes_a_ref_the_registry_does_not_hold(project, engine, registry):
    _two_components(project)
    team = f"{registry.host}/team"
    version = unique_version()
    pushed = project.inv("build", "push", "--registry", team, "--version", version, "--component", "api",
                         "--no-record", "--progress", "quiet")
    assert pushed.returncode == 0, pushed.stderr
    offset = registry.log_size()
    refused = project.inv("set-images", "--file", "compose.yaml", "--registry", team, "--version", version)
    assert refused.returncode == 1, refused.stdout + refused.stderr  # the registry lacks it: not bad input
    assert f"{team}/demo-web:{version} is not in the registry" in refused.stderr
    assert (project.root / "compose.yaml").read_text() == COMPOSE  # nothing written, api included
    heads = [uri for method, uri in registry.requests(offset) if method == "HEAD" and "/manifests/" in uri]
    assert sorted(heads) == [f"/v2/team/demo-api/manifests/{version}", f"/v2/team/demo-web/manifests/{version}"]
    offline = project.inv("set-images", "--file", "compose.yaml", "--registry", team, "--version", version,
                          "--no-verify")
    assert offline.returncode == 0, offline.stderr
    assert "not verified" in offline.stdout
    assert f"demo-web:{version}" in (project.root / "compose.yaml").read_text()


def test_pull_export_and_promote_of_a_partial_release_take_its_record(project, engine, registry, api, tmp_path):
    _two_components(project)
    team = f"{registry.host}/team"
    version = unique_version()
    _released(project, registry, version, "--component", "api")
    pulled = project.inv("pull", "--registry", team, "--version", version)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert api.inspect_image(f"demo-api:{version}")["Id"]
    assert "pull 1 image(s)" in pulled.stdout and "demo-web" not in pulled.stdout
    asked = project.inv("pull", "--registry", team, "--version", version, "--component", "web")
    assert asked.returncode == 2 and f"release {version} holds no web (its record lists api)" in asked.stderr
    bundle = tmp_path / "partial.tar"
    exported = project.inv("export", "--registry", team, "--version", version, "--no-deps", "--output", str(bundle))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    with tarfile.open(bundle) as tar:
        names = [image["name"] for image in json.load(tar.extractfile("acrtasks-bundle.json"))["images"]]
    assert names == ["api"]
    promoted = project.inv("promote", "--version", version, "--from", team, "--to", f"{registry.host}/prod")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert registry.digest("prod/demo-api", version) == registry.digest("team/demo-api", version)
    assert registry.tags("prod/demo-web") == []
