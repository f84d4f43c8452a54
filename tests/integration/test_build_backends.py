"""Build backends against the real test engine: BuildKit through the docker CLI that has it, the classic
builder through docker-py; secrets, networks and failures read back from the image, its history and the CLI's
own argument list, never from our output."""

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from support import unique_version
from harness import BASE_IMAGE

from acrtasks.components.backends import detect


def docker_clis():
    """The docker CLIs on the PATH of now: the engine fixture puts its engine's own first."""
    return detect.docker_clis(os.environ.get("PATH", ""))

SECRET = "s3cr3t-" + hashlib.sha256(os.urandom(16)).hexdigest()[:20]


def file_in_image(api, image: str, path: str) -> str:
    container = api.create_container(image, command=["true"])
    try:
        stream, _ = api.get_archive(container["Id"], path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return tar.extractfile(tar.getmembers()[0]).read().decode()
    finally:
        api.remove_container(container["Id"], force=True)


def saved_image_bytes(api, image: str) -> bytes:
    return b"".join(api.get_image(image))


def recording_docker(tmp_path: Path, real: str) -> Path:
    """A `docker` first on PATH that writes its argument list to a file, then runs the real one."""
    directory = tmp_path / "bin"
    directory.mkdir()
    script = directory / "docker"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {tmp_path / "argv.log"}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return directory


@pytest.fixture
def buildkit_cli():
    """The docker CLI that can build with BuildKit here (Debian's docker.io 20.10 in CI); none is a failure."""
    cli = next((c for c in docker_clis() if c.buildkit), None)
    assert cli is not None, f"no docker CLI with BuildKit on PATH: {[c.describe() for c in docker_clis()]}"
    return cli


@pytest.mark.parametrize("kind", ["env", "file"])
def test_buildkit_secret_is_used_and_leaves_no_trace(project, engine, api, tmp_path, buildkit_cli, kind):
    project.component("api", f"FROM {BASE_IMAGE}\n"
                             "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /tok.sha\n",
                      build_args='{ API_KEY = "{version}" }')
    secret_file = tmp_path / "token.txt"
    secret_file.write_text(SECRET)
    source = "env:ACR_TEST_TOKEN" if kind == "env" else f"file:{secret_file}"
    text = (project.root / "build.toml").read_text().replace("build_args =", f'secrets = {{ tok = "{source}" }}\n'
                                                                              "build_args =")
    (project.root / "build.toml").write_text(text)
    version = unique_version()
    wrapper = recording_docker(tmp_path, buildkit_cli.path)
    result = project.inv("build", "--backend", "buildkit", "--version", version, "--progress", "plain",
                         env={"ACR_TEST_TOKEN": SECRET, "PATH": f"{wrapper}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr + result.stdout
    image = f"demo-api:{version}"
    assert file_in_image(api, image, "/tok.sha").strip() == hashlib.sha256(SECRET.encode()).hexdigest()
    history = " ".join(str(entry) for entry in api.history(image))
    assert SECRET not in history and SECRET.encode() not in saved_image_bytes(api, image)
    assert SECRET not in result.stdout + result.stderr
    argv = (tmp_path / "argv.log").read_text()
    assert "build" in argv.splitlines() and SECRET not in argv and version not in argv.split("API_KEY")[1][:40]


def test_classic_backend_refuses_secrets(project, engine):
    project.component("api", f"FROM {BASE_IMAGE}\n")
    (project.root / "build.toml").write_text((project.root / "build.toml").read_text().replace(
        "build_args =", 'secrets = { tok = "env:HOME" }\nbuild_args ='))
    result = project.inv("build", "--backend", "classic", "--version", unique_version())
    assert result.returncode == 2 and "use --backend buildkit" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_network_none_for_every_backend(project, engine, api, buildkit_cli, backend):
    project.component("api", f"FROM {BASE_IMAGE}\nRUN cat /proc/net/dev > /netdev\n")
    version = unique_version()
    isolated = project.inv("build", "--backend", backend, "--network", "none", "--version", version, "--no-cache")
    assert isolated.returncode == 0, isolated.stderr + isolated.stdout
    interfaces = [line.split(":")[0].strip() for line in file_in_image(api, f"demo-api:{version}",
                                                                       "/netdev").splitlines()[2:]]
    assert interfaces == ["lo"]
    other = unique_version()
    default = project.inv("build", "--backend", backend, "--version", other, "--no-cache")
    assert default.returncode == 0, default.stderr
    assert len(file_in_image(api, f"demo-api:{other}", "/netdev").splitlines()[2:]) > 1  # the bridge's too


def test_a_failing_buildkit_step_names_the_step_and_shows_its_log(project, engine, buildkit_cli):
    failing_step_reported(project, "buildkit")


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # the engine whose CLI has buildx
def test_a_failing_buildx_step_names_the_step_and_shows_its_log(project, engine):
    failing_step_reported(project, "buildx")


def failing_step_reported(project, backend: str) -> None:
    project.component("ok", f"FROM {BASE_IMAGE}\nRUN echo fine\n")
    project.component("bad", f"FROM {BASE_IMAGE}\nRUN echo preparing\nRUN echo about to fail && false\n")
    result = project.inv("build", "--backend", backend, "--version", unique_version(), "--progress", "quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "bad failed at: [3/3] RUN echo about to fail && false" in result.stdout
    assert "| " in result.stdout and "about to fail" in result.stdout.split("bad failed at")[1]
    assert "1 of 2 build(s) failed: bad" in result.stderr


def test_auto_says_which_backend_it_chose(project, engine, buildkit_cli):
    project.component("api", f"FROM {BASE_IMAGE}\n")
    result = project.inv("--dry", "build", "--version", "1")
    assert result.returncode == 0, result.stderr
    expected = "buildx" if any(c.buildx for c in docker_clis()) else "buildkit"
    assert f"  built with {expected} (" in result.stdout.splitlines()[1]


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # the engine that comes with buildx
def test_buildx_builds_and_loads_one_platform(project, engine, api):
    cli = next((c for c in docker_clis() if c.buildx), None)
    assert cli is not None, f"no buildx on {engine.name}: {[c.describe() for c in docker_clis()]}"
    project.component("api", f"FROM {BASE_IMAGE}\nRUN echo built > /built\n")
    version = unique_version()
    result = project.inv("build", "--backend", "buildx", "--version", version)
    assert result.returncode == 0, result.stderr + result.stdout
    assert file_in_image(api, f"demo-api:{version}", "/built").strip() == "built"
