"""N jobs at once on daemon threads, so that Ctrl-C stops the program within moments.

``concurrent.futures`` joins its worker threads at interpreter exit, so a
build or an upload stuck on a dead registry would hold the program until the
engine's or the socket's read timeout. Here the workers are daemon threads:
the main thread waits in short slices (where SIGINT is delivered), and on
Ctrl-C it sets :data:`CANCELLED`, stops handing out work and raises
:class:`~acrtasks.errors.Interrupted` with what finished. When the process
exits, the abandoned workers' connections close with it, which is what tells
the engine to cancel a build.
"""

import threading
from typing import Callable, List, Optional, Sequence, TypeVar

from ..errors import Interrupted

T = TypeVar("T")
R = TypeVar("R")

#: Set on Ctrl-C; long loops (blob streams) check it and stop.
CANCELLED = threading.Event()


def run_jobs(func: Callable[[T], R], items: Sequence[T], workers: int,
             on_interrupt: Optional[Callable[[], None]] = None) -> List[R]:
    """``[func(item) for item in items]``, up to ``workers`` at once, results in order.

    The first exception a job raises is re-raised here once every job has
    ended. Ctrl-C (in the main thread) raises :class:`Interrupted` at once,
    carrying the results that were complete, after ``on_interrupt`` ran.
    """
    items = list(items)
    results: List[Optional[R]] = [None] * len(items)
    done = [False] * len(items)
    errors: List[BaseException] = []
    lock = threading.Lock()
    next_index = [0]
    all_done = threading.Event()
    running = [min(max(1, workers), len(items))]
    if not items:
        return []

    def worker() -> None:
        try:
            while not CANCELLED.is_set():
                with lock:
                    index = next_index[0]
                    if index >= len(items):
                        return
                    next_index[0] += 1
                try:
                    results[index] = func(items[index])
                    done[index] = not CANCELLED.is_set()  # one that ended after Ctrl-C was cut off by it
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                    with lock:
                        errors.append(exc)
        finally:
            with lock:
                running[0] -= 1
                if running[0] == 0:
                    all_done.set()

    for number in range(running[0]):
        threading.Thread(target=worker, name=f"acrtasks-job-{number}", daemon=True).start()
    try:
        while not all_done.wait(0.1):
            pass
    except KeyboardInterrupt:
        CANCELLED.set()
        if on_interrupt is not None:
            on_interrupt()
            # a moment for jobs under way to see it: one that opens an upload session now has it cancelled at
            # once (copy.remote.UploadSessions) before the process ends
            all_done.wait(0.5)
        finished = [result for result, ok in zip(results, done) if ok]
        raise Interrupted(f"{len(finished)} of {len(items)} finished before Ctrl-C; the rest was abandoned",
                          finished) from None
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
