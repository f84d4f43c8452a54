"""build and push against a real Docker engine and real registries."""

import base64
import json
import re

import pytest
from support import QUICK, local_tags, unique_version
from harness import BASE_IMAGE


BROKEN = f"""FROM {BASE_IMAGE}
RUN echo before-the-failure
RUN echo the-step-fails && false
RUN echo never
"""


def one_line_error(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stdout
    assert lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


@pytest.fixture
def quick(project, engine):
    """A scratch project with two fast components."""
    project.component("api", QUICK, '{ VERSION = "{version}", API_TOKEN = "{env:TEST_API_TOKEN}" }')
    project.component("web", QUICK, '{ VERSION = "{version}" }')
    return project


ENV = {"TEST_API_TOKEN": "tok-9f8e7d-secret"}


def test_build_one_with_labels_and_tags(quick, api):
    version = unique_version()
    result = quick.inv("build", "--component", "api", "--version", version, "--registry", "127.0.0.1:5999/ns",
                       env=ENV)
    assert result.returncode == 0, result.stderr
    image = api.inspect_image(f"demo-api:{version}")
    assert f"127.0.0.1:5999/ns/demo-api:{version}" in image["RepoTags"]
    labels = image["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert f"demo-web:{version}" not in local_tags(api, "demo-web")
    assert re.search(r"^api \| (Step 1/|#\d+ )", result.stdout, re.M), result.stdout  # live, prefixed output
    assert ENV["TEST_API_TOKEN"] not in result.stdout + result.stderr
    assert "API_TOKEN=***" in result.stdout


def test_build_all_examples_in_parallel(inv, api, engine):
    version = unique_version()
    result = inv("build", "--parallel", "4", "--version", version)
    assert result.returncode == 0, result.stderr
    for component in ("backend", "frontend", "nginx", "jupyterhub"):
        assert api.inspect_image(f"ai-infra-{component}:{version}")
    # aliases get local names when there is no registry
    assert api.inspect_image(f"ai-infra-backend-init:{version}")
    summary = result.stdout[result.stdout.index("component  "):]
    # nginx takes no {version} build arg: an earlier test's nginx with the same inputs is relabelled instead
    assert summary.count(" ok ") + summary.count(" unchanged since ") == 4, summary


def assert_pushed(registry, api, repository, tag, local_ref):
    digest = registry.digest(repository, tag)
    assert digest, f"{repository}:{tag} not in the registry"
    repo_digests = api.inspect_image(local_ref)["RepoDigests"]
    assert f"{registry.host}/{repository}@{digest}" in repo_digests
    return digest


def test_push_nested(quick, api, registry):
    version = unique_version()
    result = quick.inv("build", "push", "--registry", f"{registry.host}/team", "--version", version, env=ENV)
    assert result.returncode == 0, result.stderr
    assert registry.tags("team/demo-api") == [version]
    digest = assert_pushed(registry, api, "team/demo-api", version, f"demo-api:{version}")
    assert digest in result.stdout
    assert_pushed(registry, api, "team/demo-web", version, f"demo-web:{version}")


def test_push_forced_flat_with_latest(quick, api, registry):
    quick.write('[registry]\nlayout = "flat"\n')
    version = unique_version()
    result = quick.inv("build", "push", "--registry", registry.host, "--version", version, "--tag-latest", env=ENV)
    assert result.returncode == 0, result.stderr
    assert registry.repositories() == ["demo/demo"]
    assert registry.tags("demo/demo") == sorted(["api-latest", f"api-{version}", "web-latest", f"web-{version}",
                                                 f"release-{version}"])  # and the release record
    assert_pushed(registry, api, "demo/demo", f"api-{version}", f"demo-api:{version}")


def test_build_tag_latest_tags_this_build(quick, api):
    version = unique_version()
    result = quick.inv("build", "--component", "api", "--version", version, "--tag-latest",
                       "--registry", "r.example.com/ns", env=ENV)
    assert result.returncode == 0, result.stderr
    built = api.inspect_image(f"demo-api:{version}")["Id"]
    for ref in ("demo-api:latest", "r.example.com/ns/demo-api:latest", f"r.example.com/ns/demo-api:{version}"):
        assert api.inspect_image(ref)["Id"] == built, ref


def test_chained_flags_build_and_push_only_one_component(quick, api, registry):
    version = unique_version()
    result = quick.inv("build", "push", "--component", "web", "--registry", f"{registry.host}/ns",
                       "--version", version, env=ENV)
    assert result.returncode == 0, result.stderr
    assert registry.repositories() == ["ns/demo", "ns/demo-web"]  # the release record, the image
    assert f"demo-api:{version}" not in local_tags(api, "demo-api")


def test_push_with_credentials_from_docker_config(quick, auth_registry, tmp_path):
    version = unique_version()
    config_dir = tmp_path / "dockercfg"
    config_dir.mkdir()
    auth = base64.b64encode(b"alice:wonder-land-42").decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    result = quick.inv("build", "push", "--component", "web", "--registry", f"{auth_registry.host}/ns",
                       "--version", version, env={**ENV, "DOCKER_CONFIG": str(config_dir)})
    assert result.returncode == 0, result.stderr
    assert auth_registry.tags("ns/demo-web") == [version]


def test_push_without_credentials_is_refused_before_any_build(quick, api, auth_registry, tmp_path):
    """The preflight: one blob upload opened and cancelled per target namespace, before the first build."""
    version = unique_version()
    result = quick.inv("build", "push", "--registry", f"{auth_registry.host}/ns", "--version", version,
                       env={**ENV, "DOCKER_CONFIG": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr  # a login refused: docs/tasks.md's exit codes
    line = one_line_error(result)
    assert line.startswith("error: nothing built: ") and f"inv login --registry {auth_registry.host}" in line
    assert "--no-preflight" in line
    assert not [i for i in api.images() if f"demo-api:{version}" in (i["RepoTags"] or [])]  # no build ran
    assert auth_registry.repositories() == []


def test_push_without_credentials_is_a_clear_auth_error(quick, auth_registry, tmp_path):
    version = unique_version()
    result = quick.inv("build", "push", "--registry", f"{auth_registry.host}/ns", "--version", version,
                       "--no-preflight", env={**ENV, "DOCKER_CONFIG": str(tmp_path)})
    assert result.returncode == 1
    assert f"inv login --registry {auth_registry.host}" in result.stdout
    assert "skipped" in result.stdout  # the second image is not retried against a registry that refused us
    assert "did not complete" in one_line_error(result)
    assert auth_registry.repositories() == []


@pytest.mark.parametrize("backend, failed_at, verdict", [
    ("classic", r"bad failed at: Step 3/\d+ : RUN echo the-step-fails && false", "returned a non-zero code: 1"),
    ("buildkit", r"bad failed at: \[\d/\d\] RUN echo the-step-fails && false", "exit code: 1"),
])
def test_failing_build_stops_the_chain(project, engine, registry, api, backend, failed_at, verdict):
    version = unique_version()
    project.component("good", QUICK)
    project.component("bad", BROKEN)
    result = project.inv("build", "--backend", backend, "push", "--registry", f"{registry.host}/ns", "--version",
                         version)
    assert result.returncode == 1
    assert "1 of 2 build(s) failed: bad" in one_line_error(result)
    assert re.search(failed_at, result.stdout), result.stdout
    assert "| the-step-fails" in result.stdout  # the step's own output, in the tail
    assert verdict in result.stdout
    assert api.inspect_image(f"demo-good:{version}")  # the other build finished
    assert registry.repositories() == []  # push never ran


def test_push_preflight_missing_image(quick, registry, api):
    version = unique_version()
    result = quick.inv("build", "--component", "api", "--version", version, env=ENV)
    assert result.returncode == 0, result.stderr
    result = quick.inv("push", "--registry", f"{registry.host}/ns", "--version", version)
    assert result.returncode == 2
    message = one_line_error(result)
    assert "nothing pushed" in message and f"demo-web:{version}" in message and "inv build push --component web" in message
    assert registry.repositories() == []
    assert not [t for t in local_tags(api, f"{registry.host}/ns/demo-api") if t]  # not even tagged


def test_push_to_a_stopped_registry_fails_after_retries(quick, registry):
    version = unique_version()
    result = quick.inv("build", "--component", "web", "--version", version)
    assert result.returncode == 0, result.stderr
    registry.stop()
    result = quick.inv("push", "--component", "web", "--registry", f"{registry.host}/ns", "--version", version,
                       "--no-preflight", env={"ACRTASKS_RETRY_BACKOFF": "0.2"})
    assert result.returncode == 1
    assert "try 1/3 failed" in result.stderr and "try 2/3 failed" in result.stderr
    assert f"{registry.host} unreachable after 3 tries" in result.stdout
    one_line_error(result)
    checked = quick.inv("push", "--component", "web", "--registry", f"{registry.host}/ns", "--version", version,
                        env={"ACRTASKS_RETRY_BACKOFF": "0.2"})  # the preflight says it first, in one line
    assert checked.returncode == 1 and f"nothing pushed: {registry.host}: cannot connect" in one_line_error(checked)


def engine_state(api):
    return sorted((image["Id"], tuple(sorted(image["RepoTags"] or ()))) for image in api.images(all=True))


def test_dry_run_touches_nothing(quick, registry, api):
    version = unique_version()
    before = engine_state(api)
    result = quick.inv("--dry", "build", "push", "--registry", f"{registry.host}/ns", "--version", version,
                       "--metadata-file", str(quick.root / "meta.json"), env=ENV)
    assert result.returncode == 0, result.stderr
    assert f"tag {registry.host}/ns/demo-api:{version}" in result.stdout
    assert f"  api (local image demo-api:{version}):\n    push {registry.host}/ns/demo-api:{version}\n" in result.stdout
    assert engine_state(api) == before
    assert registry.repositories() == []
    assert not (quick.root / "meta.json").exists()


def test_metadata_file_shared_by_chained_tasks(quick, registry, api):
    version = unique_version()
    meta = quick.root / "out" / "meta.json"
    meta.parent.mkdir()
    result = quick.inv("build", "push", "--registry", f"{registry.host}/ns", "--version", version,
                       "--metadata-file", str(meta), env=ENV)
    assert result.returncode == 0, result.stderr
    data = json.loads(meta.read_text())
    assert set(data) == {"api", "web"}
    entry = data["api"]
    assert entry["refs"] == [f"demo-api:{version}", f"{registry.host}/ns/demo-api:{version}"]
    assert entry["image.id"] == api.inspect_image(f"demo-api:{version}")["Id"]
    assert entry["build"]["status"] == "ok"
    pushed = entry["push"][f"{registry.host}/ns/demo-api:{version}"]
    assert pushed["status"] == "pushed"
    assert pushed["digest"] == registry.digest("ns/demo-api", version)


def test_engine_unreachable_is_one_line(quick, tmp_path):
    version = unique_version()
    result = quick.inv("build", "--version", version, env={**ENV, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 1
    message = one_line_error(result)
    assert f"unix://{tmp_path}/none.sock" in message and "DOCKER_HOST" in message


def test_unknown_component_is_a_usage_error(quick):
    result = quick.inv("build", "--component", "db", "--version", "v1")
    assert result.returncode == 2
    assert "unknown component 'db'; known: api, web" in one_line_error(result)


def test_a_push_whose_digest_the_registry_does_not_hold_fails(quick, api, registry):
    """The engine's word is checked with a HEAD at the registry: a registry that answers another digest for
    the tag after the push (a lost write, a proxy serving a stale tag) fails the push, naming both."""
    from harness import FaultyRegistry

    proxy = FaultyRegistry(registry, "target_wrong_digest").start()
    try:
        version = unique_version()
        assert quick.inv("build", "--component", "web", "--version", version, env=ENV).returncode == 0
        result = quick.inv("push", "--component", "web", "--registry", f"{proxy.host}/team", "--version", version,
                           env=ENV)
        assert result.returncode == 1, result.stdout + result.stderr
        held = registry.digest("team/demo-web", version)  # what the engine really pushed
        assert held and f"the engine reported {held} but the registry holds sha256:{'0' * 64}" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        proxy.stop()
