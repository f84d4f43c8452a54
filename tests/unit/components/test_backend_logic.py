"""Build backends without an engine: choosing one, the commands they run, and reading BuildKit's log."""

from pathlib import Path

import pytest

from acrtasks.components.backends.cli import PlainLog, buildkit_command, buildx_command
from acrtasks.components.backends.detect import DockerCli
from acrtasks.components.backends.select import choose
from acrtasks.components.plan import BuildStep
from acrtasks.config import check_platforms
from acrtasks.errors import UsageError
from acrtasks.naming import ImageRef

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
    argv, _ = buildx_command(BUILDX, step(["linux/arm64"]), False, "/t/iid", "/t/meta.json")
    assert argv[:3] == ["/opt/docker", "buildx", "build"]
    assert "--load" in argv and "--push" not in argv and "--cache-to" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/arm64"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["demo-api:1.0", "reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]
    argv, _ = buildx_command(BUILDX, step(["linux/amd64", "linux/arm64"]), False, "/t/iid", "/t/meta.json")
    assert "--push" in argv and "--load" not in argv and "--builder" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert argv[argv.index("--metadata-file") + 1] == "/t/meta.json"
    # several platforms cannot live under a local name: every registry ref, and only those
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]


def test_a_builder_of_its_own_pushes_and_a_context_is_named_the_way_buildx_takes_it():
    # a remote builder's image never reaches the local engine: pushed, to the registry refs only
    argv, _ = buildx_command(BUILDX, step(["linux/arm64"]), False, "/t/iid", "/t/meta.json", "remote")
    assert argv[argv.index("--builder") + 1] == "remote" and "--push" in argv and "--load" not in argv
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-t"] == ["reg.example/ns/demo-api:1.0",
                                                                       "reg.example/ns/demo-api:latest"]
    # another engine's docker context: `docker --context NAME buildx build`, no --builder
    argv, _ = buildx_command(BUILDX, step(), False, "/t/iid", "/t/meta.json", "far", context=True)
    assert argv[:5] == ["/opt/docker", "--context", "far", "buildx", "build"] and "--builder" not in argv
    assert "--push" in argv


def test_a_registry_cache_is_read_and_written_at_its_ref():
    cache = ImageRef("reg.example", "ns/demo", "api-buildcache")
    argv, _ = buildx_command(BUILDX, step(cache=cache), False, "/t/iid", "/t/meta.json")
    assert argv[argv.index("--cache-from") + 1] == "type=registry,ref=reg.example/ns/demo:api-buildcache"
    assert argv[argv.index("--cache-to") + 1] == "type=registry,ref=reg.example/ns/demo:api-buildcache,mode=max"


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


def test_what_each_backend_can_do_is_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here: the plan names each CLI by its path
    one = choose("buildkit", object, platforms=["linux/arm64"], clis=[OLD])
    assert one.name == "buildkit" and one.describe() == "buildkit (/usr/bin/docker 20.10.24 without buildx)"
    assert choose("classic", object, platforms=["linux/amd64"], clis=[]).name == "classic"
    several = choose("buildx", object, platforms=["linux/amd64", "linux/arm64"], builder="remote", secrets=True,
                     clis=[OLD, BUILDX])
    assert several.name == "buildx" and several.pushes and several.builder == "remote"
    assert several.describe() == "buildx (/opt/docker 27.0.1 with buildx, builder remote, pushed by the build)"
    assert not choose("auto", object, platforms=["linux/amd64"], clis=[BUILDX]).pushes
    with pytest.raises(UsageError, match="checked: no docker CLI on PATH"):
        choose("buildkit", object, clis=[])
    with pytest.raises(UsageError, match=r"checked: /usr/local/bin/docker 28\.2\.2 without buildx; /usr/bin/docker "):
        choose("buildx", object, clis=[NEW, OLD])
    from acrtasks.config import (
        backend_problem,  # the one check of a backend's name (key and flag)
    )

    assert backend_problem("kaniko") == "'kaniko' is not one of auto, classic, buildkit, buildx"
    assert backend_problem("buildx") == ""


def test_which_cli_versions_have_buildkit():
    assert DockerCli("d", (18, 9, 0), False).buildkit and DockerCli("d", (22, 6, 1), False).buildkit
    assert not DockerCli("d", (18, 6, 3), False).buildkit and not DockerCli("d", (23, 0, 0), False).buildkit
    assert DockerCli("d", (24, 0, 7), True).buildkit


FAKE_DOCKER = r"""#!/bin/sh
# A stand-in docker CLI: prints BuildKit's plain log, writes --iidfile and --metadata-file, fails on demand.
if [ "$1" = version ]; then [ -n "$FAKE_DOWN" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }; echo 20.10.24; exit 0; fi
while [ $# -gt 0 ]; do
  case "$1" in --iidfile) shift; IID="$1";; --metadata-file) shift; META="$1";; esac; shift
done
echo "#1 [internal] load build definition from Dockerfile"
echo "#2 [1/2] FROM base"
echo "#3 [2/2] RUN make"
echo "#3 0.120 compiling"
[ -n "$FAKE_SLEEP" ] && exec sleep 30  # the signal reaches the process itself, as with docker
if [ -n "$FAKE_FAIL" ]; then
  echo "#3 ERROR: process did not complete successfully: exit code: 2"; echo "------"; echo " > [2/2] RUN make:"
  echo "------"; echo "ERROR: failed to solve: process did not complete successfully: exit code: 2"; exit 1
fi
[ -z "$FAKE_NO_IID" ] && echo "sha256:feed" > "$IID"
[ -n "$META" ] && echo '{"containerimage.digest": "sha256:beef"}' > "$META"
exit 0
"""


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    path = tmp_path / "docker"
    path.write_text(FAKE_DOCKER)
    path.chmod(0o755)
    for name in ("FAKE_DOWN", "FAKE_FAIL", "FAKE_SLEEP", "FAKE_NO_IID"):
        monkeypatch.delenv(name, raising=False)
    return DockerCli(str(path), (20, 10, 24), False)


def test_a_cli_build_reports_steps_lines_and_the_image(fake_cli):
    from acrtasks.components.backends.cli import BuildKitBackend

    lines, steps = [], []
    output = BuildKitBackend(fake_cli, None).build(step(), False, lines.append, lambda d, t: steps.append((d, t)))
    assert output.image_id == "sha256:feed" and output.tagged and not output.pushed
    assert steps == [(0, 2), (1, 2)] and "#3 0.120 compiling" in lines


def test_a_cli_build_failure_names_the_step_and_keeps_its_output(fake_cli, monkeypatch):
    from acrtasks.components.backends.cli import BuildKitBackend
    from acrtasks.errors import BuildFailed

    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(BuildFailed) as caught:
        BuildKitBackend(fake_cli, None).build(step(), False, lambda line: None, lambda d, t: None)
    assert caught.value.step == "[2/2] RUN make" and caught.value.tail == ["compiling"]
    assert str(caught.value) == "failed to solve: process did not complete successfully: exit code: 2"
    monkeypatch.delenv("FAKE_FAIL")
    monkeypatch.setenv("FAKE_NO_IID", "1")
    with pytest.raises(BuildFailed, match="without writing the image id"):
        BuildKitBackend(fake_cli, None).build(step(), False, lambda line: None, lambda d, t: None)


def test_buildx_of_several_platforms_reports_what_it_pushed(fake_cli):
    from acrtasks.components.backends.cli import BuildxBackend

    backend = BuildxBackend(DockerCli(fake_cli.path, (27, 0, 0), True), None, ["linux/amd64", "linux/arm64"])
    output = backend.build(step(["linux/amd64", "linux/arm64"]), False, lambda line: None, lambda d, t: None)
    assert output.image_id is None and output.digest == "sha256:beef"
    assert [str(ref) for ref in output.pushed] == ["reg.example/ns/demo-api:1.0", "reg.example/ns/demo-api:latest"]


def test_the_engine_check_and_ctrl_c_go_through_the_cli(fake_cli, monkeypatch):
    import threading
    import time

    from acrtasks.components.backends.cli import BuildKitBackend
    from acrtasks.errors import BuildFailed, EngineUnavailable

    backend = BuildKitBackend(fake_cli, None)
    backend.check_engine()
    monkeypatch.setenv("FAKE_DOWN", "1")
    with pytest.raises(EngineUnavailable, match="Cannot connect to the Docker daemon"):
        backend.check_engine()
    monkeypatch.setenv("FAKE_SLEEP", "1")
    failures = []

    def build():
        try:
            backend.build(step(), False, lambda line: None, lambda d, t: None)
        except BuildFailed as exc:
            failures.append(exc)

    worker = threading.Thread(target=build)
    started = time.monotonic()
    worker.start()
    while not backend._running and time.monotonic() - started < 10:
        time.sleep(0.05)
    backend.cancel_all()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 10, "the CLI did not stop on SIGINT"
    assert failures and not backend._running


def test_the_classic_backend_runs_no_cli_to_find_out(monkeypatch):
    import acrtasks.components.backends.select as select_module

    monkeypatch.setattr(select_module, "docker_clis", lambda: pytest.fail("the docker CLIs were asked"))
    assert choose("classic", object).name == "classic"


@pytest.mark.parametrize("platform", ["linux/amd64", "LINUX/ARM64", "linux/arm64/v8", "windows/amd64"])
def test_platform_names_accepted(platform):
    check_platforms([platform])


# U+212A KELVIN SIGN case-folds to "k" and U+017F LONG S to "s": a case-insensitive pattern took them.
@pytest.mark.parametrize("platform", ["linux/amd64\u212a", "linux/arm64/v8\u017f", "linux", "linux/", "/amd64",
                                      "linux/amd64/v8/x", "linux/amd64 "])
def test_platform_names_refused(platform):
    with pytest.raises(UsageError):
        check_platforms([platform])


def test_attestations_are_switched_off_only_where_dropped_and_only_for_buildx():
    argv, _ = buildx_command(BUILDX, step(drop_attestations=True), False, "/t/iid", "/t/meta.json")
    assert "--provenance=false" in argv and "--sbom=false" in argv
    argv, _ = buildx_command(BUILDX, step(sbom=True), False, "/t/iid", "/t/meta.json")
    assert "--sbom=true" in argv and "--provenance=false" not in argv
    argv, _ = buildkit_command(BUILDX, step(drop_attestations=True), False, "/t/iid")  # docker build is buildx's
    assert "--provenance=false" in argv
    argv, _ = buildkit_command(OLD, step(drop_attestations=True), False, "/t/iid")  # 20.10 makes none
    assert not [a for a in argv if a.startswith(("--provenance", "--sbom"))]


@pytest.mark.parametrize("provenance, flag", [("", None), ("min", "--provenance=mode=min"),
                                               ("max", "--provenance=mode=max"), ("false", "--provenance=false")])
def test_provenance_is_passed_as_build_toml_says(provenance, flag):
    argv, _ = buildx_command(BUILDX, step(provenance=provenance), False, "/t/iid", "/t/meta.json")
    assert [a for a in argv if a.startswith("--provenance")] == ([flag] if flag else [])


@pytest.mark.parametrize("platforms, output", [((), ["--load"]), (("linux/amd64", "linux/arm64"), ["--push"])])
def test_attestations_inside_the_index_are_asked_of_buildx_by_its_output(platforms, output):
    """For ACR: BuildKit's oci-artifact=false on the same output --load or --push would have been."""
    argv, _ = buildx_command(BUILDX, step(platforms), False, "/t/iid", "/t/meta.json")
    assert output[0] in argv and "--output" not in argv  # the builder's default form
    argv, _ = buildx_command(BUILDX, step(platforms, attestation_form="index"), False, "/t/iid", "/t/meta.json")
    kind = "docker" if output == ["--load"] else "registry"
    assert argv[argv.index("--output") + 1] == f"type={kind},oci-artifact=false"
    assert "--load" not in argv and "--push" not in argv
    argv, _ = buildx_command(BUILDX, step(platforms, attestation_form="index", drop_attestations=True), False,
                             "/t/iid", "/t/meta.json")
    assert output[0] in argv and "--output" not in argv  # nothing to attach: nothing to say about its form


def test_the_plan_says_what_each_image_carries_and_in_which_form():
    from acrtasks.components.plan import describe_attestations

    assert describe_attestations(step()) == "attestations: provenance (mode=min), in the builder's default form"
    assert describe_attestations(step(sbom=True, provenance="max", attestation_form="index")) == (
        "attestations: provenance (mode=max) and SBOM, inside the image's index (oci-artifact=false, the form ACR "
        "stores)")
    assert describe_attestations(step(drop_attestations=True)) == \
        "attestations dropped (--provenance=false --sbom=false)"
    assert describe_attestations(step(provenance="false")) == "attestations: none (provenance = false, no sbom)"
    assert describe_attestations(step(), attests=False) == "attestations: none (this builder makes none; buildx does)"


def test_an_sbom_generator_of_ones_own_is_named_to_buildx():
    argv, _ = buildx_command(BUILDX, step(sbom=True, sbom_generator="mirror.example/buildkit-syft-scanner:1"),
                             False, "/t/iid", "/t/meta.json")
    assert "--sbom=generator=mirror.example/buildkit-syft-scanner:1" in argv and "--sbom=true" not in argv


def test_what_a_backend_cannot_do_for_a_plan_is_one_usage_error():
    """Decided once, beside the choice of backend (it was written again in the build task)."""
    from types import SimpleNamespace

    from acrtasks.components.backends.select import refuse_unfit
    from acrtasks.errors import UsageError

    buildx = SimpleNamespace(name="buildx", pushes=True, builder="remote")
    with pytest.raises(UsageError, match="builder remote's images are pushed by the build itself"):
        refuse_unfit(buildx, [], has_registry=False)
    refuse_unfit(buildx, ["api"], has_registry=True)
    classic = SimpleNamespace(name="classic", pushes=False, builder="")
    with pytest.raises(UsageError, match=r'cache = "registry" \(api\) needs --backend buildx'):
        refuse_unfit(classic, ["api"], has_registry=True)
    refuse_unfit(classic, [], has_registry=False)


@pytest.mark.parametrize("error, transient", [
    # BuildKit's own wording (containerd's remotes/docker), as users report it
    ("failed to solve: failed to push 127.0.0.1:5000/ns/app:1: unexpected status from HEAD request to "
     "http://127.0.0.1:5000/v2/ns/app/blobs/sha256:ab: 500 Internal Server Error", True),
    ('failed to solve: failed to push r/x:1: failed commit on ref "index-sha256:3b": unexpected status: 500 '
     "Server Error", True),
    ("failed to solve: rpc error: code = Unknown desc = unexpected status: 502 Bad Gateway", True),
    ("error pulling image configuration: download failed after attempts=6: received unexpected HTTP status: 503 "
     "Service Unavailable", True),
    # a registry that says no, and a step's own failure, are not worth another try
    ("failed to solve: failed to push r/x:1: unexpected status from PUT request to http://r/v2/x/manifests/1: "
     "401 Unauthorized", False),
    ("failed to solve: failed to push r/x:1: unexpected status: 403 Forbidden", False),
    ('failed to solve: process "/bin/sh -c curl -f http://x" did not complete successfully: exit code: 22', False),
    ("failed to solve: process did not complete successfully: exit code: 500", False),
])
def test_only_a_registrys_5xx_makes_a_build_failure_worth_another_try(error, transient):
    from acrtasks.components.backends.cli import failure_kind

    assert (failure_kind(error) == "transient") is transient


def test_a_build_failed_on_a_registrys_5xx_is_tried_again_and_a_steps_failure_is_not(monkeypatch):
    from acrtasks.components import builder
    from acrtasks.components.backends import BuildOutput
    from acrtasks.errors import BuildFailed, Kind
    from acrtasks.util.console import Console

    monkeypatch.setenv("ACRTASKS_RETRY_BACKOFF", "0")

    class Flaky:
        """Fails its first builds with the given kinds, then builds."""

        def __init__(self, kinds):
            self.kinds, self.calls = list(kinds), 0

        def build(self, step, no_cache, on_line, on_step):
            self.calls += 1
            if self.kinds:
                raise BuildFailed("unexpected status: 500 Internal Server Error", "", [], self.kinds.pop(0))
            return BuildOutput("sha256:feed", tagged=True)

        def cancel_all(self):
            pass

    once = Flaky([Kind.TRANSIENT])
    [result] = builder.run_builds(once, None, [step()], 1, False, Console(), progress="quiet")
    assert result.status == "ok" and once.calls == 2
    always = Flaky([Kind.TRANSIENT] * 5)
    [result] = builder.run_builds(always, None, [step()], 1, False, Console(), progress="quiet")
    assert result.status == "failed" and always.calls == 3  # three tries, as every registry write
    step_failed = Flaky([Kind.OTHER])
    [result] = builder.run_builds(step_failed, None, [step()], 1, False, Console(), progress="quiet")
    assert result.status == "failed" and step_failed.calls == 1
