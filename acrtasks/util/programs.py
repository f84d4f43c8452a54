"""Other programs run to their end with what they write bounded: a credential helper, git, cosign's and the docker
CLI's short answers. ``subprocess.run(capture_output=True)`` keeps all a program writes until it exits, so one
that writes without end (a broken helper, a wrapper script gone wrong) fills memory long before its timeout;
here a program that writes more than ``limit`` on stdout or stderr is stopped at once.

Not a library: the standard library has no size bound on a child's output, and the well-kept wrappers (sh,
plumbum, sarge) have none either; this is one selector loop.
"""

import os
import selectors
import subprocess
import time
from typing import Dict, NamedTuple, Optional, Sequence

_PIECE = 64 << 10


class Finished(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes
    overflowed: bool  # it wrote more than the limit and was killed: stdout and stderr hold the first ``limit``

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def run_bounded(argv: Sequence[str], *, limit: int, timeout: float, input: bytes = b"",
                env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> Finished:
    """Run ``argv`` with ``input`` on its stdin; its output kept up to ``limit`` bytes each. Raises OSError when it
    cannot be started and subprocess.TimeoutExpired when it outlives ``timeout``; either way, and on Ctrl-C, it
    is not left running."""
    process = subprocess.Popen(list(argv), stdin=subprocess.PIPE if input else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.fileno(), process.stderr.fileno()
    kept = {out: bytearray(), err: bytearray()}
    deadline = time.monotonic() + timeout
    overflowed = False
    try:
        with selectors.DefaultSelector() as selector:
            for fd in kept:
                selector.register(fd, selectors.EVENT_READ)
            pending = memoryview(input)
            if input and process.stdin is not None:
                os.set_blocking(process.stdin.fileno(), False)  # a program that never reads cannot hold us
                selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
            while selector.get_map() and not overflowed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(list(argv), timeout)
                for key, _ in selector.select(left):
                    if key.fd not in kept:  # stdin is writable
                        pending = pending[_write(key.fd, pending):]
                        if not pending:
                            selector.unregister(key.fd)
                            process.stdin.close()  # type: ignore[union-attr]  # registered only when piped
                        continue
                    piece = os.read(key.fd, _PIECE)
                    if not piece:
                        selector.unregister(key.fd)
                        continue
                    kept[key.fd] += piece
                    overflowed = len(kept[key.fd]) > limit
        if overflowed:
            process.kill()
        returncode = process.wait(max(0.0, deadline - time.monotonic()))
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    return Finished(returncode, bytes(kept[out][:limit]), bytes(kept[err][:limit]), overflowed)


def _write(fd: int, pending: memoryview) -> int:
    """Bytes of ``pending`` written to ``fd``; all of them when the program closed its stdin (it read enough)."""
    try:
        return os.write(fd, pending[:_PIECE])
    except BlockingIOError:
        return 0
    except BrokenPipeError:
        return len(pending)
