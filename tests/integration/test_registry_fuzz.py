"""Malformed registry answers, generated: statuses, headers, bodies and JSON shapes a hostile or broken registry
may send, fed to the copy (``push-deps`` from it) and to ``login``.

Whatever the answers, the run ends with exit 0, 1 or 2; a failure is one ``error:`` line and no traceback;
the target holds nothing but complete images (every manifest, config and layer a tag needs is there); and the
client's memory stays bounded. The registry is harness.MutatingRegistry: a real registry's answers, mutated.
"""

import json
import os
import sys
from itertools import count
from pathlib import Path

import pytest
from harness import MutatingRegistry, Registry, RegistryWriter, make_layer, run_measured
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

MAX_RSS_MIB = 400  # a run copying two small images needs about 60 MiB; reading an answer whole would need GiBs

SETTINGS = settings(max_examples=int(os.environ.get("ACRTASKS_FUZZ_EXAMPLES", "20")), deadline=None,
                    derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                             HealthCheck.too_slow])

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=4), max_leaves=12)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"", b"{", b"[" * 5000 + b"]" * 5000, b'{"errors": "x"}', b'{"errors": [1, {"code": {}}]}',
                     b'{"token": 5}', b'{"token": "a\\r\\nX-Injected: 1"}', b"\x1b[2K\rall fine", b"\xff\xfe" * 50,
                     b'{"schemaVersion": 2, "manifests": [{"digest": "sha256:zz", "platform": "linux"}]}',
                     b'{"schemaVersion": 2, "layers": [{"digest": 5, "size": -1}], "config": []}']),
)
HEADER_VALUES = st.one_of(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40),
                          st.sampled_from(["-1", "99999999999999999999", "0", "abc", "Basic", "Bearer realm=",
                                           'Bearer realm="ftp://x/token"', 'Bearer realm="http://127.0.0.1:1/t"',
                                           "application/vnd.oci.image.index.v1+json", "sha256:" + "0" * 64,
                                           "<http://127.0.0.1:1/v2/x>; rel=\"next\"", "Wed, 21 Oct 2015 07:28:00 GMT",
                                           "gzip", "http://127.0.0.1:1/elsewhere", "/v2/../../etc"]))
HEADERS = st.tuples(st.sampled_from(["Content-Type", "Content-Length", "Location", "WWW-Authenticate",
                                     "Retry-After", "Docker-Content-Digest", "Link", "Content-Encoding"]),
                    HEADER_VALUES)
STATUSES = st.sampled_from([200, 201, 202, 204, 206, 301, 302, 307, 400, 401, 403, 404, 405, 416, 429, 500, 503])


def mutations(kinds):
    one = st.one_of(
        st.tuples(st.sampled_from(kinds), st.just("status"), STATUSES),
        st.tuples(st.sampled_from(kinds), st.just("header"), HEADERS),
        st.tuples(st.sampled_from(kinds), st.just("body"), BODIES),
        st.tuples(st.just("manifest"), st.just("json"),
                  st.tuples(st.sampled_from(["manifests", "layers", "config", "mediaType", "schemaVersion"]), JSON)),
    )
    return st.lists(st.tuples(one, st.sampled_from([1, 2, None])).map(lambda m: (*m[0], m[1])), min_size=1,
                    max_size=3)


ENV = {"ACRTASKS_REGISTRY_TIMEOUT": "2", "ACRTASKS_RETRY_BACKOFF": "0"}


def _run(project_root: Path, *args, input=None, env=None):
    full = {**os.environ, **ENV, **(env or {})}
    done, stderr, rss = run_measured([sys.executable, "-m", "invoke", *args], project_root, full, input=input)
    output = done.stdout + stderr
    assert done.returncode in (0, 1, 2), output
    assert "Traceback" not in output, output
    if done.returncode:
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, output
        assert "\x1b" not in output, output
    assert rss < MAX_RSS_MIB, f"{rss} MiB"
    return done


def _complete_images_only(registry: Registry, repository: str) -> None:
    """Every tag of ``repository`` names an image whose every manifest and blob the registry holds."""
    for tag in registry.tags(repository):
        pending = [registry.manifest(repository, tag)]
        while pending:
            manifest = pending.pop()
            media_type = str(manifest.get("mediaType", ""))
            if "index" in media_type or "list" in media_type or (not media_type and "layers" not in manifest):
                # an index: its manifests are the references (the other fields, and in an image a
                # "manifests" field, are not)
                pending.extend(registry.manifest(repository, child["digest"]) for child in manifest["manifests"])
                continue
            for blob in [manifest["config"], *manifest["layers"]]:  # an image: what it references, all there
                assert len(registry.blob(repository, blob["digest"])) == blob["size"], (tag, blob)


@pytest.fixture(scope="module")
def upstream():
    registry = Registry().start()
    writer = RegistryWriter(registry)
    writer.image("library/app", "1", [make_layer(30_000, 1), make_layer(5_000, 2)])
    amd = writer.image("library/multi", None, [make_layer(20_000, 3)], arch="amd64")
    arm = writer.image("library/multi", None, [make_layer(20_000, 4)], arch="arm64")
    writer.index("library/multi", "2", [amd, arm])
    yield registry
    registry.remove()


@pytest.fixture(scope="module")
def target():
    registry = Registry().start()
    yield registry
    registry.remove()


NAMESPACES = count()


DEEP = b"[" * 5000 + b"]" * 5000  # 10 KB: Python's JSON parser ends in RecursionError


@SETTINGS
@given(chosen=mutations(["ping", "manifest", "blob", "tags"]))
# what issue 27 found, always tried first: a deep manifest, an index entry's platform as a string, an error body
# too deep to parse, an HTTP-date Retry-After, a body shorter than its Content-Length
@example(chosen=[("manifest", "body", DEEP, None)])
@example(chosen=[("manifest", "json", ("manifests", [{"digest": "sha256:" + "a" * 64, "size": 1,
                                                       "platform": "linux/amd64"}]), None)])
@example(chosen=[("blob", "status", 404, None), ("blob", "body", DEEP, None)])
@example(chosen=[("blob", "status", 429, 2), ("blob", "header", ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
                                               None)])
@example(chosen=[("manifest", "header", ("Content-Length", "99999"), 1)])
def test_a_copy_from_a_registry_answering_anything_ends_cleanly(upstream, target, project, chosen):
    source = MutatingRegistry(chosen, upstream=upstream).start()
    try:
        project.write(f'[deps]\nimages = ["{source.host}/library/app:1", "{source.host}/library/multi:2"]\n')
        namespace = f"fuzz{next(NAMESPACES)}"
        _run(project.root, "push-deps", "--deps-namespace", f"{target.host}/{namespace}")
        for repository in (f"{namespace}/app", f"{namespace}/multi"):
            _complete_images_only(target, repository)
    finally:
        source.stop()


@SETTINGS
@given(chosen=mutations(["ping", "token"]), auth=st.sampled_from(["basic", "bearer"]))
@example(chosen=[("token", "body", b'{"token": "a\\r\\nX-Injected: 1"}', None)], auth="bearer")
@example(chosen=[("token", "body", DEEP, None)], auth="bearer")
@example(chosen=[("ping", "body", DEEP, None)], auth="basic")
@example(chosen=[("ping", "status", 202, None)], auth="basic")
def test_a_login_to_a_registry_answering_anything_ends_cleanly(project, tmp_path_factory, chosen, auth):
    server = MutatingRegistry(chosen, auth=auth).start()
    config = tmp_path_factory.mktemp("cfg")
    try:
        project.write()
        done = _run(project.root, "login", "--registry", server.host, "--username", "u", "--password-stdin",
                    input="pa55word\n", env={"DOCKER_CONFIG": str(config)})
        stored = (config / "config.json").read_text() if (config / "config.json").exists() else ""
        assert (server.host in stored) == (done.returncode == 0), (done.returncode, stored)  # nothing half-done
    finally:
        server.stop()
