"""The pure parts of releases: input digests, what a Dockerfile builds on, the release record's format."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acrtasks.dockerfile import base_images
from acrtasks.components.input_digest import Inputs, context_digest, inputs_of
from acrtasks.components.plan import BuildStep
from acrtasks.release import record as records
from acrtasks.errors import RegistryError
from acrtasks.naming import ImageRef, naming_for


@pytest.mark.parametrize("dockerfile, args, expected", [
    ("FROM alpine:3.19\n", {}, ["alpine:3.19"]),
    ("FROM scratch\nCOPY a /\n", {}, []),
    ("ARG BASE=busybox:1\nFROM ${BASE}\n", {}, ["busybox:1"]),
    ("ARG BASE=busybox:1\nFROM ${BASE}\n", {"BASE": "alpine:3"}, ["alpine:3"]),
    ("ARG TAG\nFROM node:${TAG:-20}\n", {}, ["node:20"]),
    ("ARG TAG=18\nFROM node:${TAG:-20}\n", {}, ["node:18"]),
    ("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM gcr.io/distroless/static\n"
     "COPY --from=build /app /app\n", {}, ["golang:1.22", "gcr.io/distroless/static"]),
    ("FROM golang:1.22 as Build\nFROM build\n", {}, ["golang:1.22"]),  # stage names are case-insensitive
    ("FROM a:1\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\nCOPY --from=0 /x /x\n", {}, ["a:1", "nginx:1.25"]),
    ("# syntax=docker/dockerfile:1\n# a comment\nFROM \\\n  python:3.12-slim\n", {}, ["python:3.12-slim"]),
    ("FROM a:1\nARG LATER=b:2\nFROM $LATER\n", {}, ["a:1"]),  # an ARG after FROM is not global: blank
    ("FROM repo@sha256:" + "a" * 64 + "\n", {}, ["repo@sha256:" + "a" * 64]),
])
def test_base_images(dockerfile, args, expected):
    assert base_images(dockerfile, args) == expected


def step(context: Path, **overrides) -> BuildStep:
    values = dict(component="api", context=context, dockerfile="Dockerfile", target="", build_args={"A": "1"},
                  labels={}, refs=(ImageRef("", "demo-api", "v1"),))
    values.update(overrides)
    return BuildStep(**values)


def test_what_changes_the_input_digest(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base:1\nCOPY . /\n")
    (tmp_path / "app.txt").write_text("one\n")
    (tmp_path / ".dockerignore").write_text("notes.md\n*.log\n")
    (tmp_path / "notes.md").write_text("ignored\n")
    resolve = {"base:1": "sha256:" + "1" * 64}.get
    first = inputs_of(step(tmp_path), resolve)
    assert first.digest.startswith("sha256:") and inputs_of(step(tmp_path), resolve) == first
    (tmp_path / "notes.md").write_text("still ignored\n")
    (tmp_path / "debug.log").write_text("ignored too\n")
    assert inputs_of(step(tmp_path), resolve).digest == first.digest
    (tmp_path / "app.txt").write_text("two\n")
    second = inputs_of(step(tmp_path), resolve)
    assert second.changes(first.parts) == ["context changed"]
    os.chmod(tmp_path / "app.txt", 0o755)
    assert inputs_of(step(tmp_path), resolve).changes(second.parts) == ["context changed"]
    assert inputs_of(step(tmp_path, build_args={"A": "2"}), resolve).changes(second.parts) == \
        ["context changed", "build arg A changed"]
    moved = {"base:1": "sha256:" + "2" * 64}.get
    assert inputs_of(step(tmp_path), moved).changes(inputs_of(step(tmp_path), resolve).parts) == \
        ["base image base:1 changed"]
    assert inputs_of(step(tmp_path, secrets=(("npm", "env", "NPM_TOKEN"),)), resolve).changes(
        inputs_of(step(tmp_path), resolve).parts) == ["secrets changed"]


def test_a_secret_value_is_never_read(tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setenv("NPM_TOKEN", "one")
    first = inputs_of(step(tmp_path, secrets=(("npm", "env", "NPM_TOKEN"),)), lambda name: "")
    monkeypatch.setenv("NPM_TOKEN", "two")
    assert inputs_of(step(tmp_path, secrets=(("npm", "env", "NPM_TOKEN"),)), lambda name: "") == first
    assert "one" not in json.dumps(first.parts)


def test_the_dockerfile_counts_though_dockerignore_lists_it(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("Dockerfile\n")
    before = inputs_of(step(tmp_path), lambda name: "")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nENV A=1\n")
    # docker sends the Dockerfile whatever .dockerignore says (docker-py's exclude_paths keeps it): both count
    assert inputs_of(step(tmp_path), lambda name: "").changes(before.parts) == ["context changed",
                                                                                "dockerfile changed"]


def test_context_digest_of_an_empty_context_is_stable(tmp_path):
    assert context_digest(tmp_path, "Dockerfile") == context_digest(tmp_path, "Dockerfile")


# -- the record -------------------------------------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


class FakeClient:
    host = "r.example.com"

    def fail(self, message, kind=None, status=None):
        return RegistryError(message, kind, status, host=self.host)


def entry(ref="r.example.com/ns/demo-api:v1", aliases=(), latest=False):
    return records.ComponentEntry({ref: DIGEST}, DIGEST, {"digest": DIGEST, "parts": {"context": DIGEST}},
                                  ("linux/amd64",), tuple(aliases), latest)


def test_record_round_trip_and_lookup():
    record = records.Record("demo", "v1", "2026-12-02T00:00:00Z", {"api": entry()},
                            (records.DependencyEntry("docker.io/library/redis:7", "r.example.com/ns/redis:7",
                                                     DIGEST),))
    parsed = records.parse(record.to_json(), FakeClient(), "where", "v1")
    assert parsed == record
    assert parsed.digest_of(ImageRef.parse("r.example.com/ns/demo-api:v1")) == DIGEST
    assert parsed.digest_of(ImageRef.parse("r.example.com/ns/redis:7")) == DIGEST
    assert parsed.digest_of(ImageRef.parse("r.example.com/ns/demo-web:v1")) is None


@pytest.mark.parametrize("change, words", [
    (lambda body: body.update(schema="other"), "schema"),
    (lambda body: body.update(version="v2"), "records version 'v2'"),
    (lambda body: body["components"]["api"].update(digest="sha256:short"), "digest"),
    (lambda body: body["components"]["api"]["refs"].update({"Not A Ref": DIGEST}), "not an image reference"),
    (lambda body: body["components"]["api"]["refs"].update({"r.example.com/x:1": "md5:00"}), "digest"),
    (lambda body: body.update(components=[]), "not an object"),
    (lambda body: body.update(dependencies=[{"source": "a:1", "target": "b:1", "digest": 5}]), "not a string"),
    (lambda body: body["components"].update({"../x": entry()}), "malformed"),
])
def test_a_bad_record_is_refused(change, words):
    body = json.loads(records.Record("demo", "v1", "t", {"api": entry()}).to_json())
    change(body)
    with pytest.raises(RegistryError) as caught:
        records.parse(json.dumps(body).encode(), FakeClient(), "r.example.com/ns/demo:release-v1", "v1")
    assert words in str(caught.value) and caught.value.kind == "integrity"


def test_the_record_tag_is_in_the_project_repository_in_both_layouts():
    flat = naming_for("ai-infra-matrix", "ai-infra-", "registry.cn-hangzhou.aliyuncs.com/team", "auto",
                      (".aliyuncs.com",))
    nested = naming_for("ai-infra-matrix", "ai-infra-", "harbor.example.com/team", "auto", (".aliyuncs.com",))
    assert str(records.record_ref(flat, "v0.0.3.3")) == \
        "registry.cn-hangzhou.aliyuncs.com/team/ai-infra-matrix:release-v0.0.3.3"
    assert str(records.record_ref(nested, "v1")) == "harbor.example.com/team/ai-infra-matrix:release-v1"
    assert records.record_ref(naming_for("p", "p-", "", "auto", ()), "v1") is None


def test_versions_sort_as_people_mean():
    versions = ["v0.0.10", "v0.0.9", "v0.0.3.3", "v0.1.0", "v0.0.3.10"]
    assert sorted(versions, key=records.version_key) == ["v0.0.3.3", "v0.0.3.10", "v0.0.9", "v0.0.10", "v0.1.0"]


def test_the_record_manifest_is_a_plain_image_acr_stores():
    source, top = records.as_source(records.Record("demo", "v1", "t", {"api": entry()}), "here")
    body = json.loads(top.raw)
    assert "artifactType" not in body
    assert body["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in body["layers"]] == ["application/vnd.oci.image.layer.v1.tar"]
    again, _ = records.as_source(records.Record("demo", "v1", "t", {"api": entry()}), "here")
    assert again.manifests.keys() == source.manifests.keys()  # the same record is the same manifest


names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(names, st.tuples(names, st.lists(names, max_size=2), st.booleans()), min_size=1, max_size=5))
def test_any_record_reads_back_as_written(components):
    entries = {}
    for name, (repo, aliases, latest) in components.items():
        ref = f"r.example.com/{repo}/demo-{name}:v1"
        entries[name] = entry(ref, aliases, latest)
    record = records.Record("demo", "v1", "t", entries)
    source, top = records.as_source(record, "here")
    layer = source.blobs[json.loads(top.raw)["layers"][0]["digest"]]
    assert records.parse(records._untar(layer, FakeClient(), "here"), FakeClient(), "here", "v1") == record


def test_inputs_changes_name_added_and_removed_args():
    earlier = Inputs("d1", {"build_args": {"A": "x", "B": "y"}, "bases": {}})
    now = Inputs("d2", {"build_args": {"A": "x", "C": "z"}, "bases": {}})
    assert now.changes(earlier.parts) == ["build arg B removed", "build arg C added"]


def test_what_changes_a_component_in_every_release_is_warned_with_its_fix(tmp_path):
    """A context sending .git (the real nginx is built from the repository root) and a {version} build arg."""
    from acrtasks.components.input_digest import churn_warnings
    from acrtasks.components.plan import plan_builds
    from acrtasks.config import load_config, resolve

    for name in ("root", "api", "web"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "root" / ".git").mkdir()
    (tmp_path / "api" / ".git").mkdir()
    (tmp_path / "api" / ".dockerignore").write_text("# keep history out\n.git\n")
    (tmp_path / "build.toml").write_text(
        '[project]\nname = "shop"\n[components.root]\ncontext = "root"\n'
        '[components.api]\ncontext = "api"\nbuild_args = {VERSION = "{version}", MODE = "{mode}"}\n'
        '[components.web]\ncontext = "web"\n[components.web.modes.prod]\nbuild_args = {TAG = "v-{version}"}\n')
    settings = resolve(load_config(tmp_path / "build.toml"), version="v1", mode="prod")
    warnings = churn_warnings(settings, plan_builds(settings, labels={}))
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith(f"component root: its context {tmp_path / 'root'} sends .git to the builder")
    assert warnings[0].endswith("add `.git` to its .dockerignore")
    assert warnings[1].startswith("component api: build arg VERSION takes {version}, so every release rebuilds it")
    assert warnings[2].startswith("component web: build arg TAG takes {version}")
    assert not churn_warnings(resolve(load_config(tmp_path / "build.toml"), version="v1", mode="dev"),
                              plan_builds(settings, ["web"], labels={}))  # web's {version} is prod's alone
