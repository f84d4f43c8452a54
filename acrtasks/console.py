"""Terminal output: whole lines from many threads, prefixed logs, tables, a progress line."""

import sys
import threading
from typing import Optional, Sequence, TextIO


class Console:
    """Thread-safe line printer; a single rewritable progress line when stdout is a terminal."""

    def __init__(self, out: Optional[TextIO] = None, err: Optional[TextIO] = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.is_tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._progress_shown = False

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self.out.write("\r\x1b[K")
            self._progress_shown = False

    def say(self, text: str = "") -> None:
        with self._lock:
            self._clear_progress()
            self.out.write(text + "\n")
            self.out.flush()

    def warn(self, text: str) -> None:
        with self._lock:
            self._clear_progress()
            self.out.flush()
            self.err.write(f"warning: {text}\n")
            self.err.flush()

    def prefixed(self, prefix: str, width: int, text: str) -> None:
        """One log line of one job, like compose: ``backend   | Step 1/4 : FROM ...``."""
        self.say(f"{prefix:<{width}} | {text}")

    def progress(self, text: str) -> None:
        """Rewrite the progress line (terminals only; elsewhere this prints nothing)."""
        if not self.is_tty:
            return
        with self._lock:
            self.out.write("\r\x1b[K" + text)
            self.out.flush()
            self._progress_shown = True

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.say(format_table(headers, rows))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 72) -> str:
    """Aligned columns; a cell longer than ``max_width`` is cut with '...'."""

    def cell(value: object) -> str:
        text = str(value)
        return text if len(text) <= max_width else text[: max_width - 3] + "..."

    cells = [[cell(c) for c in headers]] + [[cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"  # pragma: no cover
