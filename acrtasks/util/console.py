"""Terminal output: whole lines from many threads, prefixed logs, tables that never cut a value, progress.

Two audiences. A terminal gets a live line per job (rich's progress display,
imported only when a task shows progress, so ``inv --list`` stays fast) that
always fits the width. A pipe or a CI log gets plain lines: one when a job
starts, one every :data:`HEARTBEAT` seconds of long work, one when it ends.
Refs, tags and digests are never shortened anywhere: a table that is too
wide for the terminal drops its less important columns, and if it is still
too wide prints one record per row instead.
"""

import os
import sys
import threading
import time
from typing import Dict, Optional, Sequence, TextIO

#: Seconds between the plain progress lines of long work when output is not a terminal.
HEARTBEAT = 10.0


def heartbeat_seconds() -> float:
    """``$ACRTASKS_PROGRESS_INTERVAL``, else :data:`HEARTBEAT`; a CI that wants fewer lines raises it."""
    from .inputs import seconds_from_env

    return seconds_from_env("ACRTASKS_PROGRESS_INTERVAL", HEARTBEAT, 0.1)


#: The exit status of a program whose reader closed the pipe (128 + SIGPIPE), as ``git log | head`` leaves it.
CLOSED_PIPE_EXIT = 141


def quiet_on_closed_pipe() -> None:
    """``inv test-naming --cases | head -1``: when the reader closes the pipe, stop quietly instead of printing a
    BrokenPipeError traceback (from a task, or Invoke's own ``--list``). Not SIGPIPE's default action: that
    would also end the program on a registry's closed socket, which must stay an error the copy handles."""
    previous = sys.excepthook
    if getattr(previous, "acrtasks_closed_pipe", False):
        return

    def hook(kind, value, traceback):
        if issubclass(kind, BrokenPipeError):
            devnull = os.open(os.devnull, os.O_WRONLY)  # what stdout still buffers goes nowhere, not to stderr
            os.dup2(devnull, sys.stdout.fileno())
            os._exit(CLOSED_PIPE_EXIT)
        previous(kind, value, traceback)

    hook.acrtasks_closed_pipe = True
    sys.excepthook = hook


class Console:
    """Thread-safe line printer for one task run."""

    def __init__(self, out: Optional[TextIO] = None, err: Optional[TextIO] = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.is_tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self.live = None  # a rich Progress while one is shown; lines then go above it

    @property
    def width(self) -> Optional[int]:
        """The terminal's width, or None when output is not a terminal (then nothing needs to fit)."""
        if not self.is_tty:
            return None
        import shutil  # here: every inv start imports this module, few need the width

        return shutil.get_terminal_size((80, 24)).columns

    def say(self, text: str = "") -> None:
        text = self._fit(text)
        with self._lock:
            if self.live is not None:
                self.live.console.print(text, markup=False, highlight=False, soft_wrap=True)
                return
            self.out.write(text + "\n")
            self.out.flush()

    def warn(self, text: str) -> None:
        text = self._fit(f"warning: {text}")
        with self._lock:
            if self.live is not None:  # same terminal: above the live lines, or it would tear them
                self.live.console.print(text, markup=False, highlight=False, soft_wrap=True)
                return
            self.out.flush()
            self.err.write(f"{text}\n")
            self.err.flush()

    def _fit(self, text: str) -> str:
        """On a terminal, a line wider than it wraps between words, its rest indented under it; a ref, a path or
        a digest is never cut (a word longer than the line stays whole). Pipes and logs get lines whole."""
        width = self.width
        if width is None or all(len(line) <= width for line in text.split("\n")):
            return text
        import textwrap

        fitted = []
        for line in text.split("\n"):
            indent = " " * (len(line) - len(line.lstrip(" ")))
            fitted.append(textwrap.fill(line, width, subsequent_indent=indent + "  ", break_long_words=False,
                                        break_on_hyphens=False) if len(line) > width else line)
        return "\n".join(fitted)

    def prefixed(self, prefix: str, width: int, text: str) -> None:
        """One log line of one job, like compose: ``backend   | Step 1/4 : FROM ...``."""
        self.say(f"{prefix:<{width}} | {text}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], keep: int = 1) -> None:
        self.say(format_table(headers, rows, self.width, keep))

    def progress(self, unit: str, verb: str, quiet: bool = False) -> "JobProgress":
        return JobProgress(self, unit, verb, quiet)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], width: Optional[int] = None,
                 keep: int = 1) -> str:
    """Aligned columns, every value whole.

    With a ``width`` (a terminal), columns are dropped from the right (the
    least important come last) while the table is too wide, but never the
    first ``keep``; if even those do not fit, each row becomes a block of
    ``header: value`` lines, the way ``kubectl describe`` prints records.
    """
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    columns = len(headers)
    while True:
        widths = [max(len(row[i]) for row in cells) for i in range(columns)]
        total = sum(widths) + 2 * (columns - 1)
        if width is None or total <= width or columns <= keep:
            break
        columns -= 1
    if width is not None and total > width:
        return _records(headers, rows)
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(columns)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * widths[i] for i in range(columns)))
    return "\n".join(lines)


def _records(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    label = max(len(h) for h in headers)
    blocks = []
    for row in rows:
        blocks.append("\n".join(f"{h + ':':<{label + 1}} {v}" for h, v in zip(headers, row) if str(v)))
    return "\n\n".join(blocks)


def count_line(statuses) -> str:
    """``copied: 3, unchanged: 1``: how many of each status, sorted by name."""
    from collections import Counter

    return ", ".join(f"{status}: {count}" for status, count in sorted(Counter(statuses).items()))


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"  # pragma: no cover


def human_seconds(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Job:
    def __init__(self, name: str):
        self.name = name
        self.done = 0.0
        self.total: Optional[float] = None
        self.started = time.monotonic()
        self.task_id = None

    def summary(self, unit: str) -> str:
        """``3/7 steps, 0.4 steps/s, ETA 10s`` or ``12.0 MB / 40.0 MB, 3.1 MB/s, ETA 9s``."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        if unit == "B":
            amount = human_bytes(self.done) + (f" / {human_bytes(self.total)}" if self.total else "")
            speed = f"{human_bytes(rate)}/s"
        else:
            amount = f"{self.done:.0f}" + (f"/{self.total:.0f}" if self.total else "") + f" {unit}"
            speed = f"{rate:.2f} {unit}/s"
        eta = ""
        if self.total and rate > 0 and self.done < self.total:
            eta = f", ETA {human_seconds((self.total - self.done) / rate)}"
        return f"{amount}, {speed}{eta}"


class JobProgress:
    """Progress of several jobs at once: ``start``, ``update``, ``end``; ``close`` when all are over.

    ``unit`` is ``"B"`` for bytes or a word such as ``"steps"``; ``verb`` names the work (``push``);
    ``quiet`` keeps the same interface and shows nothing.
    """

    def __init__(self, console: Console, unit: str, verb: str, quiet: bool = False):
        self.console = console
        self.unit = unit
        self.verb = verb
        self.quiet = quiet
        self._jobs: Dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live = None
        self._ticker = None
        self._interval = heartbeat_seconds()

    def __enter__(self) -> "JobProgress":
        if self.quiet:
            pass
        elif self.console.is_tty and os.environ.get("TERM") != "dumb":
            self._start_live()
        else:
            self._ticker = threading.Thread(target=self._heartbeat, name="acrtasks-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_live(self) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        rate = "[progress.data.speed]{task.fields[rate]}"
        columns = [TextColumn("{task.description}"), BarColumn(bar_width=None), TextColumn(rate),
                   TimeRemainingColumn()]
        rich_console = RichConsole(file=self.console.out, force_terminal=True,
                                   width=self.console.width or 80)
        self._live = Progress(*columns, console=rich_console, transient=True, expand=True,
                              refresh_per_second=8)
        self._live.start()
        self.console.live = self._live

    def start(self, name: str, total: Optional[float] = None) -> None:
        with self._lock:
            job = self._jobs[name] = _Job(name)
            job.total = total
            if self._live is not None:
                job.task_id = self._live.add_task(name, total=total, rate="")
        if self._live is None and not self.quiet:
            self.console.say(f"{self.verb} {name}: started")

    def update(self, name: str, done: float, total: Optional[float] = None) -> None:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                return
            job.done = done
            if total:
                job.total = total
            if self._live is not None:
                self._live.update(job.task_id, completed=done, total=job.total,
                                  rate=job.summary(self.unit).split(", ")[1])

    def end(self, name: str, status: Optional[str]) -> None:
        """The job is over; ``status`` is said off a terminal (None: the caller reports it itself)."""
        with self._lock:
            job = self._jobs.pop(name, None)
        if job is None:
            return
        if self._live is not None:
            self._live.remove_task(job.task_id)
        elif not self.quiet and status is not None:
            self.console.say(f"{self.verb} {name}: {status} after {human_seconds(time.monotonic() - job.started)}")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                lines = [f"{self.verb} {job.name}: {job.summary(self.unit)}" for job in self._jobs.values()]
            for line in lines:
                self.console.say(line)

    def close(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
            self.console.live = None
