"""What a person sees: a terminal of 80 columns, a CI log, --progress, and Ctrl-C in the middle of real work."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest
from support import unique_version, wait_for_line
from harness import BASE_IMAGE, FaultyRegistry


SLOW = f"FROM {BASE_IMAGE}\nARG VERSION\nRUN echo one > /one\nRUN sleep 1 && echo two > /two\n"
STUCK = f"FROM {BASE_IMAGE}\nRUN echo start\nRUN sleep 60 && echo {{token}}\n"
# What each backend logs for a step: classic "Step 3/3 : RUN ...", BuildKit "#7 [3/3] RUN ...".
STEP_LINE = {"classic": r"Step {n}/\d+ : {text}", "buildkit": r"#\d+ \[{n}/\d+\] {text}",
             "buildx": r"#\d+ \[{n}/\d+\] {text}"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_terminal(args, cwd, columns=80, rows=24, timeout=300):
    """Run ``args`` on a pseudo-terminal of ``columns`` x ``rows``; return (exit code, raw output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    child = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            elif child.poll() is not None:
                break
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_chain_on_an_80_column_terminal_fits_and_keeps_every_ref_whole(project, engine, registry):
    import pyte

    project.component("api", SLOW, '{ VERSION = "{version}" }')
    project.component("web", SLOW, '{ VERSION = "{version}" }')
    version = unique_version("rc")
    namespace = "ai-infra-matrix-production"
    code, output = run_in_terminal([sys.executable, "-m", "invoke", "build", "push", "--registry",
                                    f"{registry.host}/{namespace}", "--layout", "flat", "--version", version],
                                   project.root)
    assert code == 0, output
    plain = ANSI.sub("", output)
    for segment in re.split(r"[\r\n]", plain):
        assert len(segment) <= 80, f"a line overflows 80 columns: {segment!r}"
    refs = [f"{registry.host}/{namespace}/demo:{name}-{version}" for name in ("api", "web")]
    assert all(60 < len(ref) < 72 for ref in refs), refs  # too long for any table row beside it
    for ref in refs:
        assert ref in plain, f"{ref} never appears whole"
    screen = pyte.HistoryScreen(80, 24, history=5000)
    screen.set_mode(pyte.modes.LNM)
    pyte.Stream(screen).feed(output)
    lines = ["".join(ch.data for ch in row.values()) for row in screen.history.top] + screen.display
    assert not any("━" in line for line in lines), "a progress bar was left on the screen"
    assert registry.tags(f"{namespace}/demo") == sorted([*(f"{n}-{version}" for n in ("api", "web")),
                                                         f"release-{version}"])


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_plain_progress_off_a_terminal_starts_beats_and_ends(project, engine, backend):
    project.component("api", SLOW, '{ VERSION = "{version}" }')
    version = unique_version()
    result = project.inv("build", "--version", version, "--backend", backend,
                         env={"ACRTASKS_PROGRESS_INTERVAL": "0.3"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "build api: started" in lines
    assert any(re.match(r"build api: \d/\d steps, [\d.]+ steps/s", line) for line in lines), result.stdout
    assert any(line.startswith("build api: ok after ") for line in lines)
    step = STEP_LINE[backend].format(n=r"\d+", text="RUN sleep 1")
    assert any(re.match(rf"api \| {step}", line) for line in lines), "plain shows every log line"


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_progress_quiet_shows_the_summary_and_the_failing_steps_log(project, engine, backend):
    project.component("good", SLOW, '{ VERSION = "{version}" }')
    project.component("bad", f"FROM {BASE_IMAGE}\nRUN echo the-reason-it-fails && false\n")
    result = project.inv("build", "--version", unique_version(), "--progress", "quiet", "--backend", backend)
    assert result.returncode == 1
    before_summary = re.split(r"^component\s", result.stdout, maxsplit=1, flags=re.M)[0]  # the table's header
    assert not re.search(r"^\w+ \| ", before_summary, re.M), \
        "quiet prints no log before the summary"
    step = STEP_LINE[backend].format(n=2, text="RUN echo the-reason-it-fails && false").replace("#\\d+ ", "")
    assert re.search(rf"bad failed at: {step}", result.stdout), result.stdout
    assert "| the-reason-it-fails" in result.stdout
    bad = project.inv("build", "--progress", "loud")
    assert bad.returncode == 2 and "--progress 'loud'" in bad.stderr


def processes_running(token: str) -> list:
    """Pids whose command line holds ``token``: a build step's shell, in a container or under BuildKit alike."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if token.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _interrupt_when(child, pattern, token, timeout=60):
    """Read the child's stdout until ``pattern`` shows and the step's process runs, then SIGINT it; return
    (seconds to exit, output)."""
    seen = wait_for_line(child.stdout, pattern, timeout)
    deadline = time.monotonic() + timeout
    while not processes_running(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_running(token), "the stuck step never started"
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=20)
    return time.monotonic() - sent, seen + out, err


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_ctrl_c_stops_a_stuck_build_and_the_engine_drops_it(project, engine, api, backend, tmp_path):
    stuck_build_interrupted(project, api, backend, tmp_path)


@pytest.mark.parametrize("engine", ["engine26"], indirect=True)  # the engine whose CLI has buildx
def test_ctrl_c_stops_a_stuck_buildx_build(project, engine, api, tmp_path):
    stuck_build_interrupted(project, api, "buildx", tmp_path)


def stuck_build_interrupted(project, api, backend, tmp_path):
    token = f"stuck-{backend}-{unique_version()}"
    scratch = tmp_path / "tmp"  # the child's TMPDIR: whatever temp dir it makes must be gone afterwards
    scratch.mkdir()
    project.component("stuck", STUCK.format(token=token))
    before = {c["Id"] for c in api.containers(all=True)}
    metadata = project.root / "meta.json"
    child = subprocess.Popen([sys.executable, "-m", "invoke", "build", "--version", unique_version(),
                              "--progress", "plain", "--metadata-file", str(metadata), "--backend", backend],
                             cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(scratch)})
    took, out, err = _interrupt_when(child, STEP_LINE[backend].format(n=3, text="RUN sleep 60"), token)
    assert child.returncode == 130, out + err
    assert took < 3, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in out + err and err.strip().splitlines()[-1].startswith("interrupted")
    deadline = time.monotonic() + 20
    while (processes_running(token) or {c["Id"] for c in api.containers(all=True)} - before) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_running(token), "the build step kept running"
    assert not {c["Id"] for c in api.containers(all=True)} - before, "the engine kept the build's container"
    assert list(scratch.iterdir()) == [], "a temp dir was left behind"
    assert sorted(p.name for p in project.root.iterdir() if p.name.startswith(".meta")) == []


def test_ctrl_c_stops_a_push_stuck_on_a_dead_registry(project, engine, registry, api):
    proxy = FaultyRegistry(registry, "upload_stall", stall_seconds=60).start()
    try:
        project.component("api", SLOW, '{ VERSION = "{version}" }')
        version = unique_version()
        built = project.inv("build", "--version", version, "--progress", "quiet")
        assert built.returncode == 0, built.stderr
        child = subprocess.Popen([sys.executable, "-m", "invoke", "push", "--registry", f"{proxy.host}/ns",
                                  "--version", version], cwd=project.root, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert proxy.hit.wait(60), "the push never reached the stalled upload"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        proxy.stop()
    assert child.returncode == 130, out + err
    assert took < 3, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in out + err and err.strip().splitlines()[-1].startswith("interrupted")
    assert registry.tags("ns/demo-api") == []
