"""Small helpers for tests that drive a running child process."""

import re
import select
import time


def wait_for_line(stream, pattern: str, timeout: float) -> str:
    """Read ``stream`` (a text pipe) until a line matches ``pattern``; return what was read. Bounded in time."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if not ready:
            continue
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"{pattern!r} did not show within {timeout:.0f} s:\n{''.join(seen)}")
