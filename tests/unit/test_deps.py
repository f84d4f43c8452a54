"""Which dependencies: compose files' images, --dep selection, daemon mirrors."""

import json

import pytest

from acrtasks.compose.project import compose_images
from acrtasks.deps import daemon_mirrors, mirror_host, select
from acrtasks.errors import ConfigError, UsageError


def test_compose_images(tmp_path):
    compose = tmp_path / "compose.yaml"
    compose.write_text("""
services:
  db: {image: "postgres:${PG:-15}"}
  app: {image: "ai-infra-backend:${VERSION:-dev}"}
  built: {build: ., image: "mine:1"}
  noimage: {build: .}
  bad: {image: "minio:${MINIO}"}
""")
    images, problems = compose_images(compose, "ai-infra-", {})
    assert images == ["postgres:15"]
    assert len(problems) == 1 and "service bad" in problems[0] and "$MINIO" in problems[0]


def test_compose_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        compose_images(tmp_path / "missing.yml", "x-", {})
    (tmp_path / "bad.yml").write_text("services: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        compose_images(tmp_path / "bad.yml", "x-", {})


def test_select():
    sources = ["postgres:15", "bitnami/redis:7", "minio/minio"]
    assert select(sources, []) == sources
    assert select(sources, ["docker.io/library/postgres:15"]) == ["postgres:15"]
    assert select(sources, ["minio/minio:latest"]) == ["minio/minio"]
    with pytest.raises(UsageError, match="not a configured dependency"):
        select(sources, ["nginx:1"])


def test_daemon_mirrors(tmp_path):
    path = tmp_path / "daemon.json"
    assert daemon_mirrors(path) == []
    path.write_text(json.dumps({"registry-mirrors": ["https://mirror.example.com/", 3]}))
    assert daemon_mirrors(path) == ["https://mirror.example.com/"]
    assert mirror_host("https://mirror.example.com/") == "mirror.example.com"


@pytest.mark.parametrize("registry, namespace, layout, expected", [
    ("xxx.aliyuncs.com/shop", "harbor.example.com", "auto", "harbor.example.com/postgres:15"),
    ("xxx.aliyuncs.com/shop", "harbor.example.com/base", "auto", "harbor.example.com/base/postgres:15"),
    ("harbor.example.com/p", "xxx.aliyuncs.com/mirror", "auto", "xxx.aliyuncs.com/mirror/postgres:15"),
    ("xxx.aliyuncs.com/shop", "", "auto", "xxx.aliyuncs.com/shop/postgres:15"),
    ("harbor.example.com/p", "other.example.com", "flat", "other.example.com/shop/postgres:15"),
])
def test_preview_and_push_deps_send_dependencies_to_the_same_place(tmp_path, monkeypatch, registry, namespace,
                                                                   layout, expected):
    """One decision: the test-naming preview shows exactly the targets push-deps copies to."""
    from acrtasks.config import load_config, resolve
    from acrtasks.release.images import plan_deps
    from acrtasks.naming_cases import preview

    (tmp_path / "build.toml").write_text(
        f'[project]\nname = "shop"\n[registry]\nurl = "{registry}"\nlayout = "{layout}"\n'
        f'[deps]\nnamespace = "{namespace}"\nimages = ["postgres:15"]\n')
    settings = resolve(load_config(tmp_path / "build.toml"), version="v1")
    previewed = [d["target"] for d in preview(settings)["deps"]["images"]]
    copied = [str(d.target) for d in plan_deps(settings, None).dependencies]
    assert previewed == copied == [expected]


def test_unpinned_dependencies_are_flagged_in_the_plan(tmp_path):
    """No tag and an explicit :latest are both unpinned (each mirror copies whatever it is that day); a digest
    pins latest; a version tag is pinned."""
    from acrtasks.config import load_config, resolve
    from acrtasks.release.images import plan_deps

    images = ["redislabs/redisinsight:latest", "minio/minio", "postgres:15", "nginx:latest@sha256:" + "a" * 64]
    (tmp_path / "build.toml").write_text(f'[project]\nname = "shop"\n[deps]\nimages = {json.dumps(images)}\n')
    settings = resolve(load_config(tmp_path / "build.toml"), version="v1", registry="r.io/ns")
    warnings = plan_deps(settings, None).warnings()
    flagged = sorted(line.split()[0] for line in warnings)
    assert flagged == ["docker.io/minio/minio:latest", "docker.io/redislabs/redisinsight:latest"], warnings
    assert all("pin a version" in line for line in warnings)


@pytest.mark.parametrize("line, expected", [
    ("nginx:1.27", ("nginx:1.27", ())),
    ("  --platform=linux/arm64 nginx:1.27  ", ("nginx:1.27", ("linux/arm64",))),
    ("nginx:1.27 --platform linux/amd64,linux/arm64/v8", ("nginx:1.27", ("linux/amd64", "linux/arm64/v8"))),
    ("--platform=linux/amd64 --platform=linux/amd64 a/b:1 # twice, once kept", ("a/b:1", ("linux/amd64",))),
    ("# a comment", None), ("", None), ("   \t ", None),
])
def test_an_images_txt_line(line, expected):
    from acrtasks.deps import parse_entry

    entry = parse_entry(line, "images.txt:1")
    assert (tuple(entry) if entry else None) == expected


@pytest.mark.parametrize("line, problem", [
    ("--platform=linux nginx:1", "--platform 'linux' is not os/arch"),
    ("--platform=linux/amd64", "--platform without an image"),
    ("a:1 b:2", "one image per line, found 2"),
    ("-q a:1", "unknown option '-q'"),
    ("UPPER/case:1", "images.txt:7: "),
    ("--platform", "--platform '' is not"),
])
def test_a_bad_images_txt_line(line, problem):
    from acrtasks.deps import parse_entry

    with pytest.raises(UsageError) as caught:
        parse_entry(line, "images.txt:7")
    assert str(caught.value).startswith("images.txt:7: ") and problem in str(caught.value)


def test_the_failures_file_is_read_back_and_anything_else_refused(tmp_path):
    from acrtasks.delivery.mirrorer import DepResult, failures, read_failures
    from acrtasks.naming import Dependency, ImageRef

    dep = Dependency(ImageRef.parse("r.io/a/b:1"), ImageRef.parse("t.io/m/b:1"))
    path = tmp_path / "f.json"
    path.write_text(json.dumps(failures([DepResult(dep, "failed", step="source", status_code=429),
                                         DepResult(dep._replace(source=ImageRef.parse("r.io/c:2")), "copied")])))
    assert read_failures(path) == ["r.io/a/b:1"]
    for text in ("[]", '{"failed": []}', '{"schema": "acrtasks.push-deps.failures.v1", "failed": [1]}', "{"):
        path.write_text(text)
        with pytest.raises(UsageError):
            read_failures(path)


@pytest.mark.parametrize("line, expected", [
    ("redis:>=7.2 <8", ("redis:>=7.2 <8", ())),
    ("--platform=linux/amd64 redis:>=7.2 <8 newest 2", ("redis:>=7.2 <8 newest 2", ("linux/amd64",))),
    ("postgres:~15-alpine # the db", ("postgres:~15-alpine", ())),
    ("r.io:5000/a/b:/^1\\.\\d+$/", ("r.io:5000/a/b:/^1\\.\\d+$/", ())),
])
def test_an_images_txt_line_with_a_tag_rule(line, expected):
    from acrtasks.deps import parse_entry

    assert tuple(parse_entry(line, "images.txt:1")) == expected
