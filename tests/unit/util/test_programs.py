"""util.programs.run_bounded against real programs (sh, yes, sleep): what a child writes is kept up to the limit,
and a child that writes without end, never ends, or never reads its stdin is stopped, never left running."""

import os
import signal
import subprocess
import threading
import time

import pytest

from acrtasks.util.programs import run_bounded


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_output_stdin_and_exit_code_come_back_apart():
    done = run_bounded(["sh", "-c", "cat; echo out; echo err >&2; exit 3"], input=b"in\n", limit=100, timeout=10)
    assert (done.returncode, done.stdout, done.stderr, done.overflowed) == (3, b"in\nout\n", b"err\n", False)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_program_writing_without_end_is_stopped_at_the_limit(stream):
    started = time.monotonic()
    # 50 MB, not `yes`: the test must stay safe when the bound is broken (then all 50 MB would come back)
    writes = "head -c 50000000 /dev/zero" + ("" if stream == "stdout" else " >&2")
    done = run_bounded(["sh", "-c", writes], limit=1 << 20, timeout=60)
    assert time.monotonic() - started < 5
    assert done.overflowed and done.returncode != 0
    assert len(getattr(done, stream)) == 1 << 20


def test_a_program_outliving_its_time_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_bounded(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], limit=100, timeout=0.5)
    assert time.monotonic() - started < 3
    assert gone(int(pid_file.read_text()))


def test_a_program_that_never_reads_its_stdin_does_not_hold_the_caller():
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_bounded(["sleep", "30"], input=b"x" * (8 << 20), limit=100, timeout=0.5)  # far past a pipe's buffer
    assert time.monotonic() - started < 3


def test_a_program_that_reads_part_of_its_stdin_is_fine():
    done = run_bounded(["head", "-c", "5"], input=b"x" * (8 << 20), limit=100, timeout=10)
    assert (done.returncode, done.stdout) == (0, b"xxxxx")


def test_ctrl_c_stops_the_program_too(tmp_path):
    pid_file = tmp_path / "pid"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_bounded(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], limit=100, timeout=20)
    finally:
        timer.cancel()
    assert gone(int(pid_file.read_text()))


def test_a_program_that_cannot_start_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_bounded([str(tmp_path / "absent")], limit=100, timeout=5)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        run_bounded([str(script)], limit=100, timeout=5)
