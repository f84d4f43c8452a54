"""Base images from behind the wall (build.sh's pre-pull): a base the engine lacks comes through [deps] mirrors
before Docker Hub, or, with [build] bases_from = "registry", from the copy push-deps made ([deps] bases); the
build says where each came from. Docker Hub itself is never reached here."""

import json

from support import unique_version
from harness import BASE_IMAGE, Registry

BASE = "acrtasks-test-base"  # a Docker Hub name (docker.io/library/...) that only the test registries hold


def _drop(api, ref):
    try:
        api.remove_image(ref, noprune=True)
    except Exception:  # noqa: BLE001 - not there: nothing to drop
        pass


def test_bases_through_a_mirror_then_from_the_users_registry(project, engine, api, registry):
    mirror = Registry().start()
    try:
        tag = unique_version("b")
        seeded = f"{mirror.host}/library/{BASE}"
        api.tag(BASE_IMAGE, seeded, tag)
        assert not [line for line in api.push(seeded, tag=tag, stream=True, decode=True) if "error" in line]
        _drop(api, f"{seeded}:{tag}")
        _drop(api, f"{BASE}:{tag}")
        project.component("api", f"FROM {BASE}:{tag}\nRUN echo api > /api\n")
        project.write(f'[deps]\nmirrors = ["https://{mirror.host}/"]\n')
        dry = project.inv("--dry", "build", "--version", "v1")
        assert f"    base {BASE}:{tag}" in dry.stdout.splitlines(), dry.stdout
        built = project.inv("build", "--version", "v1", "--progress", "quiet")
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"base {BASE}:{tag}: pulled from mirror {mirror.host} ({seeded}:{tag})" in built.stdout
        assert api.inspect_image(f"{BASE}:{tag}")["Id"] == api.inspect_image(BASE_IMAGE)["Id"]

        # push-deps --bases mirrors it into the user's registry, where a machine without any mirror takes it
        team = f"{registry.host}/team"
        mirrored = project.inv("push-deps", "--deps-namespace", team, "--bases")
        assert mirrored.returncode == 0, mirrored.stdout + mirrored.stderr
        assert registry.digest(f"team/{BASE}", tag) == mirror.digest(f"library/{BASE}", tag)
        _drop(api, f"{BASE}:{tag}")
        project.write(f'[build]\nbases_from = "registry"\n[deps]\nnamespace = "{team}"\n')
        version = unique_version()
        built = project.inv("build", "--version", version, "--progress", "quiet", "--rebuild")
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"base {BASE}:{tag}: pulled from the registry (push-deps' copy) ({team}/{BASE}:{tag})" in built.stdout
        assert api.inspect_image(f"demo-api:{version}")

        # no copy there: one line before any build, nothing built
        project.component("web", f"FROM {BASE}:{tag}-missing\n")
        project.write(f'[build]\nbases_from = "registry"\n[deps]\nnamespace = "{team}"\n')
        missing = project.inv("build", "--version", unique_version(), "--progress", "quiet", "--component", "web")
        assert missing.returncode == 1, missing.stdout + missing.stderr
        errors = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and f"base image {BASE}:{tag}-missing is not in the engine" in errors[0]
        assert "the registry (push-deps' copy)" in errors[0]
    finally:
        mirror.remove()


def test_bases_are_dependencies_with_deps_bases(project):
    project.component("api", f"FROM {BASE}:7 AS base\nFROM base\nCOPY --from=busybox:1.36 /bin/sh /sh\n")
    project.component("web", "ARG TAG=1\nFROM demo-api:v1\nFROM scratch\n")  # ours and scratch: not deps
    project.write('[deps]\nbases = true\n')
    shown = project.inv("test-naming", "--registry", "127.0.0.1:5999/team", "--json")
    assert shown.returncode == 0, shown.stderr
    sources = [dep["source"] for dep in json.loads(shown.stdout)["preview"]["deps"]["images"]]
    assert sources == [f"docker.io/library/{BASE}:7", "docker.io/library/busybox:1.36"]
