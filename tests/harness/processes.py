"""Processes and ports: the errors, free loopback ports, bounded waits, stopping what was started by pid."""

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional


class HarnessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise HarnessError(f"{what} not ready after {timeout:.0f}s{tail}")


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` as a throwaway identity, never signing; its stdout. Bounded in time."""
    done = subprocess.run(["git", "-c", "user.name=acrtasks-test", "-c", "user.email=test@acrtasks.invalid",
                           "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args], cwd=root, check=True,
                          capture_output=True, text=True, timeout=30)
    return done.stdout


#: Appended to a child's code: its own peak RSS in KiB (VmHWM: ru_maxrss would carry the parent's across fork).
_PEAK = ('\nprint("peak", next(line.split()[1] for line in open("/proc/self/status") '
         'if line.startswith("VmHWM:")))\n')


def peak_rss_child(code: str, *args: str, env: Optional[dict] = None, cwd: Optional[Path] = None):
    """Run ``code`` in a child Python (bounded: 120 s); its stdout lines but the last, and its peak RSS in MiB.
    How the memory tests measure a client reading a hostile answer against a baseline in the same run."""
    import sys

    result = subprocess.run([sys.executable, "-c", code + _PEAK, *args], capture_output=True, text=True,
                            timeout=120, cwd=cwd, env=env)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith("peak "):
        raise HarnessError(f"the child failed: {result.stdout}{result.stderr}")
    return lines[:-1], int(lines[-1].split()[1]) >> 10


_MEASURED = ("import resource, subprocess, sys\n"
             "done = subprocess.run(sys.argv[1:])\n"
             "print(f'maxrss {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
             "sys.exit(done.returncode)\n")


def run_measured(args: list, cwd: Path, env: dict, input: Optional[str] = None, timeout: float = 120):
    """``args`` run as a child of a small Python that reports the child's peak RSS: (the CompletedProcess, its
    stderr without that line, the peak RSS in MiB)."""
    import sys

    done = subprocess.run([sys.executable, "-c", _MEASURED, *args], cwd=cwd, env=env, input=input,
                          capture_output=True, text=True, timeout=timeout)
    lines = done.stderr.splitlines()
    if not lines or not lines[-1].startswith("maxrss "):
        raise HarnessError(f"the measuring parent failed: {done.stderr}")
    return done, "\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""), int(lines[-1].split()[1]) >> 10
