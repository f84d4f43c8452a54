"""Which dependencies: compose interpolation, compose parsing, --dep selection, daemon mirrors."""

import json

import pytest

from acrtasks.deps import compose_images, daemon_mirrors, interpolate, mirror_host, select
from acrtasks.errors import ConfigError, UsageError


@pytest.mark.parametrize("text, env, expected", [
    ("postgres:${TAG:-15}", {}, "postgres:15"),
    ("postgres:${TAG:-15}", {"TAG": "16"}, "postgres:16"),
    ("postgres:${TAG:-15}", {"TAG": ""}, "postgres:15"),
    ("postgres:${TAG-15}", {"TAG": ""}, "postgres:"),
    ("redis:$TAG", {"TAG": "7"}, "redis:7"),
    ("redis:${TAG}", {"TAG": "7"}, "redis:7"),
    ("a$$b", {}, "a$b"),
    ("x:${ON:+yes}", {"ON": "1"}, "x:yes"),
    ("x:${ON:+yes}", {}, "x:"),
])
def test_interpolate(text, env, expected):
    assert interpolate(text, env) == (expected, [])


def test_interpolate_unresolvable():
    assert interpolate("redis:${TAG}", {}) == (None, ["TAG"])
    assert interpolate("redis:${TAG:?need a tag}", {}) == (None, ["TAG"])


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
