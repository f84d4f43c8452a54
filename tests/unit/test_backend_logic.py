"""Build backends without an engine: choosing one, the commands they run, and reading BuildKit's log."""

from pathlib import Path

import pytest

from acrtasks.backends.cli import PlainLog, buildkit_command, buildx_command
from acrtasks.backends.detect import DockerCli
from acrtasks.backends.select import choose
from acrtasks.errors import UsageError
from acrtasks.naming import ImageRef
from acrtasks.plan import BuildStep

OLD = DockerCli("/usr/bin/docker", (20, 10, 24), False)  # Debian's docker.io: BuildKit built in
NEW = DockerCli("/usr/local/bin/docker", (28, 2, 2), False)  # no buildx plugin: no BuildKit at all
BUILDX = DockerCli("/opt/docker", (27, 0, 1), True)
SECRET_VALUE = "hunter2-very-secret"


def step(platforms=(), **extra):
    values = dict(component="api", context=Path("/src/api"), dockerfile="Dockerfile", target="",
                  build_args={"VERSION": "1.0", "NPM_TOKEN": SECRET_VALUE, "DOCKER_HOST": "tcp://x:1"},
                  labels={"org.opencontainers.image.version": "1.0"},
                  refs=(ImageRef("", "demo-api", "1.0"), ImageRef("reg.example", "ns/demo-api", "1.0"),
                        ImageRef("reg.example", "ns/demo-api", "latest")),
                  secrets=(("npm", "env", "NPM_TOKEN"), ("pip", "file", "/home/u/.pip/pip.conf")),
                  network="none", platforms=tuple(platforms))
    values.update(extra)
    return BuildStep(**values)


def test_the_cli_sees_no_secret_value_in_its_arguments():
    argv, env = buildkit_command(OLD, step(), True, "/tmp/x/iid")
    assert SECRET_VALUE not in " ".join(argv)
    assert env["NPM_TOKEN"] == SECRET_VALUE and env["DOCKER_BUILDKIT"] == "1"
    assert argv[:2] == ["/usr/bin/docker", "build"]
    for flags in (["--build-arg", "NPM_TOKEN"], ["--build-arg", "VERSION"], ["--secret", "id=npm,env=NPM_TOKEN"],
                  ["--secret", "id=pip,src=/home/u/.pip/pip.conf"], ["--network", "none"], ["--iidfile", "/tmp/x/iid"],
                  ["-t", "demo-api:1.0"], ["-f", "/src/api/Dockerfile"],
                  ["--label", "org.opencontainers.image.version=1.0"]):
        assert any(argv[i:i + 2] == flags for i in range(len(argv))), flags
    # a build arg named like the CLI's own settings is passed by value, not as the CLI's environment
    assert "DOCKER_HOST=tcp://x:1" in argv and "DOCKER_HOST" not in env
    assert "--no-cache" in argv and argv[-1] == "/src/api"
    # every ref is given to the build: no tagging through the engine afterwards
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["demo-api:1.0", "reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]


def test_buildx_loads_one_platform_and_pushes_several():
    argv, _ = buildx_command(BUILDX, step(["linux/arm64"]), False, "/t/iid", "/t/meta.json", "remote")
    assert argv[:3] == ["/opt/docker", "buildx", "build"]
    assert "--load" in argv and "--push" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/arm64" and argv[argv.index("--builder") + 1] == "remote"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["demo-api:1.0", "reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]
    argv, _ = buildx_command(BUILDX, step(["linux/amd64", "linux/arm64"]), False, "/t/iid", "/t/meta.json")
    assert "--push" in argv and "--load" not in argv and "--builder" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert argv[argv.index("--metadata-file") + 1] == "/t/meta.json"
    # several platforms cannot live under a local name: every registry ref, and only those
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]


def test_auto_prefers_buildx_then_buildkit_then_classic():
    engine = object
    assert choose("auto", engine, clis=[NEW, BUILDX, OLD]).name == "buildx"
    assert choose("auto", engine, clis=[NEW, OLD]).cli is OLD  # the first CLI on PATH is not always the one
    assert choose("auto", engine, clis=[NEW]).name == "classic"
    assert choose("buildkit", engine, clis=[BUILDX]).cli is BUILDX  # a newer CLI does BuildKit through buildx


def test_what_a_backend_cannot_do_is_a_usage_error():
    with pytest.raises(UsageError, match="use --backend buildkit"):
        choose("classic", object, secrets=True, clis=[OLD])
    with pytest.raises(UsageError, match="no docker CLI can build with BuildKit.*28.2.2 without buildx"):
        choose("buildkit", object, clis=[NEW])
    with pytest.raises(UsageError, match="need --backend buildx"):
        choose("auto", object, platforms=["linux/amd64", "linux/arm64"], clis=[OLD])
    with pytest.raises(UsageError, match="--builder remote needs --backend buildx"):
        choose("buildkit", object, builder="remote", clis=[OLD])
    with pytest.raises(UsageError, match="buildx"):
        choose("buildx", object, clis=[OLD, NEW])


FAILED_20_10 = """#5 [2/3] RUN echo step-one
#5 sha256:451bab9ac1f21ef2dc698d25c794cc11693f6ebf504ee0bb073ae29b44d2fef2
#5 0.155 step-one
#5 DONE 0.2s

#6 [3/3] RUN echo about to fail && false
#6 sha256:562641a6d6600f955790b367dd0d87f23a94055a77cf4d10723ba89de9cedf6e
#6 0.318 about to fail
#6 ERROR: executor failed running [/bin/sh -c echo about to fail && false]: exit code: 1
------
 > [3/3] RUN echo about to fail && false:
------
executor failed running [/bin/sh -c echo about to fail && false]: exit code: 1"""

FAILED_BUILDX = """#7 [build 2/2] RUN make
#7 0.201 cc -o app main.c
#7 0.305 main.c:1: error: expected ';'
#7 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2
------
 > [build 2/2] RUN make:
0.305 main.c:1: error: expected ';'
------
ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2"""


@pytest.mark.parametrize("transcript, step_name, error, tail", [
    (FAILED_20_10, "[3/3] RUN echo about to fail && false", "executor failed running", "about to fail"),
    (FAILED_BUILDX, "[build 2/2] RUN make", "failed to solve: process", "main.c:1: error: expected ';'"),
])
def test_plain_log_names_the_failing_step_its_error_and_tail(transcript, step_name, error, tail):
    steps, shown = [], []
    log = PlainLog(shown.append, lambda done, total: steps.append((done, total)))
    lines = transcript.splitlines()
    for line in lines:
        log.feed(line + "\n")
    log.finish_error(lines[-6:])
    assert log.failed_step == step_name
    assert log.error.startswith(error)
    assert log.tail[-1] == tail
    assert steps[0][1] in (3, 2) and all(not line.startswith("#5 sha256") for line in shown)
