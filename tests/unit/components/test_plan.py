"""The plan is computed before anything runs, and is what --dry prints."""

import textwrap

import pytest

from acrtasks.components.plan import (
    describe_builds,
    describe_pushes,
    plan_builds,
    plan_pushes,
)
from acrtasks.config import load_config, resolve
from acrtasks.errors import PreflightError, UsageError

LABELS = {"org.opencontainers.image.version": "v1"}


@pytest.fixture
def settings(tmp_path):
    for name in ("api", "web"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "build.toml").write_text(textwrap.dedent("""
        [project]
        name = "shop"
        [modes.prod]
        build_args = { DB_PASSWORD = "hunter2", LEVEL = "info" }
        [components.api]
        context = "api"
        aliases = ["api-worker"]
        build_args = { VERSION = "{version}" }
        [components.web]
        context = "web"
    """))
    return lambda **flags: resolve(load_config(tmp_path / "build.toml"), **{"version": "v1", **flags})


def test_build_plan_refs_args_and_masking(settings):
    steps = plan_builds(settings(registry="xxx.aliyuncs.com/team"), ["api"], labels=LABELS)
    assert [s.component for s in steps] == ["api"]
    step = steps[0]
    assert tuple(map(str, step.refs)) == ("shop-api:v1", "xxx.aliyuncs.com/team/shop:api-v1", "xxx.aliyuncs.com/team/shop:api-worker-v1")
    assert step.build_args == {"DB_PASSWORD": "hunter2", "LEVEL": "info", "VERSION": "v1"}
    text = "\n".join(describe_builds(steps, 2, no_cache=False))
    assert "--build-arg DB_PASSWORD=***" in text and "hunter2" not in text
    assert "tag xxx.aliyuncs.com/team/shop:api-worker-v1" in text


def test_build_plan_checks_dockerfiles(settings, tmp_path):
    (tmp_path / "web" / "Dockerfile").unlink()
    with pytest.raises(PreflightError, match="component 'web': no Dockerfile at"):
        plan_builds(settings(), labels=LABELS)


def test_push_plan(settings):
    steps = plan_pushes(settings(registry="harbor.io/p", tag_latest=True))
    assert str(steps[0].local_ref) == "shop-api:v1"
    assert tuple(map(str, steps[0].refs)) == ("harbor.io/p/shop-api:v1", "harbor.io/p/shop-api-worker:v1",
                             "harbor.io/p/shop-api:latest", "harbor.io/p/shop-api-worker:latest")
    lines = describe_pushes(steps)
    assert lines[lines.index("  web (local image shop-web:v1):") + 1] == "    push harbor.io/p/shop-web:v1"


def test_push_plan_needs_a_registry(settings):
    with pytest.raises(PreflightError, match="no registry to push to"):
        plan_pushes(settings())


def test_platforms_and_cache_per_component_the_flag_winning(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "build.toml").write_text(textwrap.dedent("""
        [project]
        name = "shop"
        [build]
        platforms = ["linux/amd64"]
        [components.api]
        context = "api"
        platforms = ["linux/amd64", "linux/arm64"]
        cache = "registry"
        [components.web]
        context = "web"
    """))
    settings = resolve(load_config(tmp_path / "build.toml"), version="v1", registry="xxx.aliyuncs.com/team")
    api, web = plan_builds(settings, labels=LABELS)
    assert (api.platforms, web.platforms) == (("linux/amd64", "linux/arm64"), ("linux/amd64",))
    assert str(api.cache) == "xxx.aliyuncs.com/team/shop:api-buildcache" and web.cache is None
    flagged = plan_builds(settings, ["api"], labels=LABELS, platforms=["linux/arm64"])
    assert flagged[0].platforms == ("linux/arm64",)
    text = "\n".join(describe_builds([api], 2, no_cache=False))
    assert "platform linux/amd64,linux/arm64" in text and "cache xxx.aliyuncs.com/team/shop:api-buildcache" in text
    local = resolve(load_config(tmp_path / "build.toml"), version="v1")
    with pytest.raises(UsageError, match="keeps the build cache in the registry: pass --registry"):
        plan_builds(local, ["api"], labels=LABELS)


@pytest.mark.parametrize("table, problem", [
    ('[build]\ncache = "disk"', "build.cache"),
    ('[components.api]\ncontext = "api"\ncache = "s3"', "components.api.cache"),
    ('[components.api]\ncontext = "api"\nplatforms = ["linux"]', "components.api.platforms"),
])
def test_cache_and_platform_keys_are_checked(tmp_path, table, problem):
    from acrtasks.errors import ConfigError

    (tmp_path / "api").mkdir()
    (tmp_path / "build.toml").write_text(f'[project]\nname = "shop"\n{table}\n')
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        load_config(tmp_path / "build.toml")


def test_the_build_plan_says_only_what_will_be_done(settings):
    """No line that reads like a component (the old `backend: buildkit` line), and no tag for an unchanged
    component that push relabels in the registry (it is never tagged here)."""
    from acrtasks.components.changes import Decision
    from acrtasks.components.input_digest import Inputs

    steps = plan_builds(settings(registry="harbor.io/p"), labels=LABELS)
    decisions = {"api": Decision("api", Inputs("sha256:" + "1" * 64, {}), False, "input digest 111", "v0"),
                 "web": Decision("web", Inputs("sha256:" + "2" * 64, {}), True, "context changed")}
    lines = describe_builds(steps, 2, False, backend="buildkit (docker 20.10)", decisions=decisions, registry=True)
    assert lines[:2] == ["build 1 image(s), 1 unchanged, up to 2 at once:", "  built with buildkit (docker 20.10)"]
    heads = [index for index, line in enumerate(lines) if line.startswith(("  api: ", "  web: "))]
    api = lines[heads[0] + 1: heads[1]]
    assert api == ["    unchanged since v0 (input digest 111)",
                   "    not built here: push puts this version's refs on its image in the registry"]
    assert "    tag harbor.io/p/shop-web:v1" in lines
    without_registry = describe_builds(steps, 2, False, decisions=decisions)
    assert "    tag shop-api:v1" in without_registry  # relabelled locally: it does get its tags
