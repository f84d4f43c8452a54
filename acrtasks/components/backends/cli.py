"""BuildKit through a docker CLI: ``DOCKER_BUILDKIT=1 docker build`` and ``docker buildx build``.

The command is built by a pure function (tested on its own), then run with
``--progress=plain``, whose lines are parsed for the step counter, the failing
step and its log. Nothing secret is in the command line: build arg values and
``env:`` secrets reach the CLI through its environment (``--build-arg NAME``
takes the value of ``$NAME``; ``--secret id=X,env=VAR``), ``file:`` secrets by
path. Ctrl-C sends the CLI a SIGINT, which makes it cancel the build.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Deque, Dict, List, Optional, Sequence, Tuple

from ...errors import BuildFailed, Kind
from . import BuildOutput
from .detect import DockerCli
from ...util.inputs import parse_json
from ...util.programs import run_bounded

LOG_TAIL = 12
# Build args that would change how the docker CLI itself runs if given as its environment: passed by value.
_CLI_ENV = re.compile(r"(DOCKER_.*|BUILDX_.*|BUILDKIT_.*|PATH|HOME|TMPDIR|HTTPS?_PROXY|NO_PROXY)\Z", re.IGNORECASE)
_VERTEX = re.compile(r"#(\d+) (.*)\Z")
_STEP = re.compile(r"\[(?:[\w.-]+ )?(\d+)/(\d+)\] ")
_ELAPSED = re.compile(r"\d+\.\d+ ")
# A registry's passing trouble as BuildKit words it: "unexpected status from HEAD request to http://...: 500
# Internal Server Error", "unexpected status: 502 Bad Gateway", "received unexpected HTTP status: 503 ...".
_REGISTRY_5XX = re.compile(r"unexpected (?:HTTP )?status\b[^\n]*?: 5\d\d\b")


def failure_kind(error: str) -> Kind:
    """``transient`` when the build failed on a registry's 5xx (its pull of a base, or its own push): another
    try may pass, and the cache keeps it cheap. A RUN step's failure reads "did not complete successfully: exit
    code: N", never this, whatever the step printed (its output is the log tail, not the error)."""
    return Kind.TRANSIENT if _REGISTRY_5XX.search(error) else Kind.OTHER


def common_flags(step, no_cache: bool, iidfile: str) -> Tuple[List[str], Dict[str, str]]:
    """What ``docker build`` and ``docker buildx build`` share; returns (flags, environment additions)."""
    flags = ["--progress=plain", "--iidfile", iidfile, "-f", str(step.context / step.dockerfile)]
    env: Dict[str, str] = {}
    if step.target:
        flags += ["--target", step.target]
    if step.network:
        flags += ["--network", step.network]
    if no_cache:
        flags.append("--no-cache")
    for name, value in step.build_args.items():
        if _CLI_ENV.match(name):
            flags += ["--build-arg", f"{name}={value}"]
        else:
            flags += ["--build-arg", name]
            env[name] = value
    for key, value in sorted(step.labels.items()):
        flags += ["--label", f"{key}={value}"]
    for secret_id, kind, source in step.secrets:
        flags += ["--secret", f"id={secret_id},env={source}" if kind == "env" else f"id={secret_id},src={source}"]
    return flags, env


def attestation_flags(cli: DockerCli, step) -> List[str]:
    """buildx's provenance (and, asked, SBOM) attestations: off where they are dropped, else as [build] asks.
    A CLI without buildx (20.10's built-in BuildKit) attaches none and knows no such flags."""
    if not cli.buildx:
        return []
    if step.drop_attestations:
        return ["--provenance=false", "--sbom=false"]
    flags = [f"--provenance={'false' if step.provenance == 'false' else 'mode=' + step.provenance}"] \
        if step.provenance else []
    if step.sbom:
        # BuildKit's default scanner comes from Docker Hub; a generator of one's own (a mirror, an offline image)
        # follows BuildKit's SBOM generator protocol.
        flags.append(f"--sbom=generator={step.sbom_generator}" if step.sbom_generator else "--sbom=true")
    return flags


def output_flag(step, push: bool) -> List[str]:
    """``--push`` or ``--load``; for attestations in the image's index (ACR), the same output with
    ``oci-artifact=false``: BuildKit from 0.32 writes OCI artifacts by default, which ACR refuses, and older
    BuildKit (Docker 26.1's) takes the option and writes that form anyway (seen: tests/integration/test_supply_chain.py)."""
    if step.attestation_form != "index" or step.drop_attestations:
        return ["--push" if push else "--load"]
    return ["--output", f"type={'registry' if push else 'docker'},oci-artifact=false"]


def buildkit_command(cli: DockerCli, step, no_cache: bool, iidfile: str) -> Tuple[List[str], Dict[str, str]]:
    flags, env = common_flags(step, no_cache, iidfile)
    flags += attestation_flags(cli, step)  # from 23 on, `docker build` is buildx's
    if step.platforms:
        flags += ["--platform", step.platforms[0]]
    tags = [flag for ref in step.refs for flag in ("-t", str(ref))]  # every ref at once: no tagging after
    return [cli.path, "build", *flags, *tags, str(step.context)], {**env, "DOCKER_BUILDKIT": "1"}


def pushed_by_build(step, builder: str = "") -> bool:
    """Whether buildx pushes this step itself: several platforms cannot be loaded into the engine, and a
    builder of its own (remote BuildKit, docker-container, Kubernetes, another engine's context) builds
    where the local engine never sees the image."""
    return len(step.platforms) > 1 or bool(builder)


def buildx_command(cli: DockerCli, step, no_cache: bool, iidfile: str, metadata_file: str, builder: str = "",
                   context: bool = False) -> Tuple[List[str], Dict[str, str]]:
    """``docker buildx build``: loaded into the engine, or pushed to every registry ref (:func:`pushed_by_build`).
    ``context``: ``builder`` is a docker context, which buildx takes as ``docker --context NAME buildx build``
    (``--builder NAME`` does not find a context's engine)."""
    flags, env = common_flags(step, no_cache, iidfile)
    flags += attestation_flags(cli, step)
    if builder and not context:
        flags += ["--builder", builder]
    if step.platforms:
        flags += ["--platform", ",".join(step.platforms)]
    if step.cache is not None:
        flags += ["--cache-from", f"type=registry,ref={step.cache}",
                  "--cache-to", f"type=registry,ref={step.cache},mode=max"]
    flags += ["--metadata-file", metadata_file]
    if pushed_by_build(step, builder):
        tags = [str(ref) for ref in step.refs if ref.host]
        flags += output_flag(step, push=True)
    else:
        tags = [str(ref) for ref in step.refs]
        flags += output_flag(step, push=False)
    tag_flags = [flag for tag in tags for flag in ("-t", tag)]
    selector = ["--context", builder] if builder and context else []
    return [cli.path, *selector, "buildx", "build", *flags, *tag_flags, str(step.context)], env


def is_context(cli: DockerCli, name: str) -> bool:
    """Whether ``name`` is a docker context (``docker context inspect`` knows it), not a buildx builder."""
    try:
        done = run_bounded([cli.path, "context", "inspect", name], limit=1 << 20, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class PlainLog:
    """BuildKit's ``--progress=plain`` lines: the step counter, the failing step, the error and a log tail."""

    def __init__(self, on_line: Callable[[str], None], on_step: Callable[[int, int], None]):
        self._on_line = on_line
        self._on_step = on_step
        self._names: Dict[str, str] = {}  # vertex number -> its name ("[2/3] RUN make")
        self._logs: Dict[str, Deque[str]] = {}
        self._all: Deque[str] = deque(maxlen=LOG_TAIL)
        self.failed_vertex: Optional[str] = None
        self.error = ""

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return
        match = _VERTEX.match(line)
        if match:
            number, rest = match.groups()
            if rest.startswith("sha256:"):
                return  # vertex digests: noise
            if number not in self._names:
                self._names[number] = rest
                step = _STEP.match(rest)
                if step:
                    self._on_step(int(step.group(1)) - 1, int(step.group(2)))
            elif rest.startswith("ERROR:"):
                self.failed_vertex = number
                self.error = rest[len("ERROR:"):].strip()
            else:  # "0.318 make: ..." -> "make: ...": the tail shows what the step printed
                self._logs.setdefault(number, deque(maxlen=LOG_TAIL)).append(_ELAPSED.sub("", rest, count=1))
        elif line.startswith(("ERROR:", "error:")):
            self.error = line.split(":", 1)[1].strip()
        self._all.append(line)
        self._on_line(line)

    def finish_error(self, last_lines: Sequence[str]) -> None:
        """The CLI's last words are its verdict (``executor failed running ...``, ``failed to solve: ...``)."""
        for line in reversed(last_lines):
            text = line.strip()
            if text and not text.startswith(("------", " > ", "#")):
                self.error = text.split("ERROR: ", 1)[-1]
                return

    @property
    def failed_step(self) -> str:
        return self._names.get(self.failed_vertex or "", "")

    @property
    def tail(self) -> List[str]:
        if self.failed_vertex and self._logs.get(self.failed_vertex):
            return list(self._logs[self.failed_vertex])
        return list(self._all)


class _CliBackend:
    name = ""
    pushes = False
    builder = ""  # buildx's --builder (BuildxBackend); the engine's own otherwise

    def __init__(self, cli: DockerCli, engine_factory: Callable):
        self.cli = cli
        self._engine_factory = engine_factory
        self._running: Dict[int, subprocess.Popen] = {}
        self._scratch: List[Path] = []  # each build's temp dir: removed by the build, or by Ctrl-C
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.name} ({self.cli.describe(short=True)})"

    @property
    def attests(self) -> bool:
        """Docker 20.10's built-in BuildKit attaches no attestations; from 23 on ``docker build`` is buildx's."""
        return self.cli.buildx

    def pushes_step(self, step) -> bool:
        return False

    def check_engine(self) -> None:
        """The engine answers the CLI that will build (its DOCKER_HOST or context), or nothing is started.

        One ``docker version`` costs less than loading docker-py, which a CLI build does not need.
        """
        from ...errors import EngineUnavailable

        try:
            done = run_bounded([self.cli.path, "version", "--format", "{{.Server.Version}}"], limit=64 << 10,
                               timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineUnavailable(f"cannot ask the Docker engine through {self.cli.path} ({exc})") from None
        if done.returncode != 0 or not done.text().strip():
            reason = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no answer"])[-1][:200]
            raise EngineUnavailable(f"cannot reach the Docker engine through {self.cli.path} ({reason}); start "
                                    "dockerd, or point DOCKER_HOST at a running engine")

    def command(self, step, no_cache: bool, scratch: Path) -> Tuple[List[str], Dict[str, str]]:
        raise NotImplementedError

    def build(self, step, no_cache: bool, on_line: Callable[[str], None],
              on_step: Callable[[int, int], None]) -> BuildOutput:
        scratch = Path(tempfile.mkdtemp(prefix="acrtasks-build-"))  # 0700: the iid and metadata files
        with self._lock:
            self._scratch.append(scratch)
        try:
            argv, extra_env = self.command(step, no_cache, scratch)
            log = PlainLog(on_line, on_step)
            last: Deque[str] = deque(maxlen=6)
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env={**os.environ, **extra_env}, text=True,
                                        errors="replace", bufsize=1)
            except OSError as exc:
                raise BuildFailed(f"cannot run {self.cli.path} ({exc.strerror or exc})", "", []) from None
            with self._lock:
                self._running[proc.pid] = proc
            try:
                for line in proc.stdout:
                    log.feed(line)
                    last.append(line.rstrip("\n"))
                code = proc.wait()
            finally:
                with self._lock:
                    self._running.pop(proc.pid, None)
            if code != 0:
                log.finish_error(list(last))
                error = log.error or f"{self.cli.path} exited with {code}"
                raise BuildFailed(error, log.failed_step, log.tail, failure_kind(error))
            return self.output(step, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                if scratch in self._scratch:
                    self._scratch.remove(scratch)

    def output(self, step, scratch: Path) -> BuildOutput:
        image_id = (scratch / "iid").read_text().strip() if (scratch / "iid").is_file() else None
        if not image_id:
            raise BuildFailed(f"{self.cli.path} finished without writing the image id", "", [])
        return BuildOutput(image_id, tagged=True)

    def cancel_all(self) -> None:
        """SIGINT to every running CLI, as a terminal's Ctrl-C would: it cancels its build. The builds'
        temp dirs go too: the process exits before the abandoned build threads could remove them."""
        with self._lock:
            running, scratch = list(self._running.values()), list(self._scratch)
        for proc in running:
            try:
                proc.send_signal(signal.SIGINT)
            except OSError:
                pass
        for directory in scratch:
            shutil.rmtree(directory, ignore_errors=True)


class BuildKitBackend(_CliBackend):
    name = "buildkit"

    def command(self, step, no_cache: bool, scratch: Path) -> Tuple[List[str], Dict[str, str]]:
        return buildkit_command(self.cli, step, no_cache, str(scratch / "iid"))


class BuildxBackend(_CliBackend):
    name = "buildx"

    def __init__(self, cli: DockerCli, engine_factory: Callable, platforms: Sequence[str] = (), builder: str = ""):
        super().__init__(cli, engine_factory)
        self.platforms = tuple(platforms)  # the most any step of the plan builds
        self.builder = builder
        self.context = bool(builder) and is_context(cli, builder)

    @property
    def pushes(self) -> bool:
        return len(self.platforms) > 1 or bool(self.builder)

    def describe(self) -> str:
        extra = f", {'context' if self.context else 'builder'} {self.builder}" if self.builder else ""
        if self.builder:
            extra += ", pushed by the build"
        elif self.pushes:
            extra += f", {len(self.platforms)} platforms pushed by the build"
        return f"buildx ({self.cli.describe(short=True)}{extra})"

    def pushes_step(self, step) -> bool:
        return pushed_by_build(step, self.builder)

    def command(self, step, no_cache: bool, scratch: Path) -> Tuple[List[str], Dict[str, str]]:
        return buildx_command(self.cli, step, no_cache, str(scratch / "iid"), str(scratch / "metadata.json"),
                              self.builder, self.context)

    def output(self, step, scratch: Path) -> BuildOutput:
        if not pushed_by_build(step, self.builder):
            return super().output(step, scratch)
        try:
            metadata = parse_json((scratch / "metadata.json").read_text())
        except (OSError, ValueError):
            metadata = {}
        digest = metadata.get("containerimage.digest", "") if isinstance(metadata, dict) else ""
        return BuildOutput(None, digest, [ref for ref in step.refs if ref.host])
