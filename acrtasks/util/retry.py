"""One retry policy for every transient failure: engine pushes, registry requests, blob copies.

Three tries. The first retry waits ``$ACRTASKS_RETRY_BACKOFF`` seconds
(default 1), doubling for each further try; a registry's ``Retry-After`` is
honoured up to 30 s. An error is transient when its ``kind`` says so
(``PushFailed`` and ``RegistryError`` both carry one).
"""

import threading
from typing import Callable, Optional, TypeVar

from ..errors import AcrError
from .inputs import seconds_from_env
from .jobs import CANCELLED

TRIES = 3
DEFAULT_BACKOFF = 1.0
MAX_DELAY = 30.0
DEFAULT_REGISTRY_TIMEOUT = 60.0
WAITING_NOTICE = 10.0  # a registry silent this long gets a line saying who is awaited (at most a third of the timeout)
T = TypeVar("T")


def backoff_seconds() -> float:
    """``$ACRTASKS_RETRY_BACKOFF``, else the default; a bad value is a usage error."""
    return seconds_from_env("ACRTASKS_RETRY_BACKOFF", DEFAULT_BACKOFF, 0)


def registry_timeout() -> float:
    """``$ACRTASKS_REGISTRY_TIMEOUT``: how long one request may go unanswered, its tries together (default 60 s);
    each try, and each silence while a body streams, may last a third of it."""
    return seconds_from_env("ACRTASKS_REGISTRY_TIMEOUT", DEFAULT_REGISTRY_TIMEOUT, 0.1)


def delay(attempt: int, backoff: float, retry_after: Optional[str] = None) -> float:
    """Seconds to wait after failed try number ``attempt`` (1-based): the backoff, or longer where the registry's
    ``Retry-After`` (seconds, or an HTTP date) asks, never over :data:`MAX_DELAY`."""
    seconds = backoff * 2 ** (attempt - 1)
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        seconds = max(seconds, asked)
    return min(seconds, MAX_DELAY) if asked is not None else seconds


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """``Retry-After: 120`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`` in seconds from now (0 for a date
    past); None when absent or unreadable (then the backoff alone counts)."""
    text = (value or "").strip()[:64]
    if text.isdigit():
        return float(text)
    if not text:
        return None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    import datetime

    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


class _Waited:
    """Every pause between tries of this process, added up: the summaries say how long retries cost."""

    def __init__(self):
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
            self.pauses += 1
        CANCELLED.wait(seconds)  # Ctrl-C ends the wait at once; the next step sees CANCELLED and stops

    def note(self) -> str:
        """``waited 12s in 4 pauses between tries (...)``; "" when nothing was retried."""
        if not self.pauses:
            return ""
        from .console import human_seconds

        return (f"waited {human_seconds(self.seconds)} in {self.pauses} pause(s) between tries (busy or failing "
                "registries, Retry-After)")

    def say(self, say: Callable[[str], None]) -> None:
        """The note, for a summary, when there is one."""
        if self.pauses:
            say(self.note())


WAITED = _Waited()
pause = WAITED.pause


def is_transient(exc: Exception) -> bool:
    return getattr(exc, "kind", None) == "transient"


def with_retries(func: Callable[[], T], tries: int = TRIES, backoff: Optional[float] = None,
                 on_retry: Callable[[int, AcrError, float], None] = lambda *_: None) -> T:
    """Call ``func``; retry it while it raises a transient :class:`AcrError`, with exponential backoff."""
    backoff = backoff_seconds() if backoff is None else backoff
    for attempt in range(1, tries + 1):
        try:
            return func()
        except AcrError as exc:
            if not is_transient(exc) or attempt == tries:
                raise
            seconds = delay(attempt, backoff, getattr(exc, "retry_after", None))  # the registry's wish counts here too
            on_retry(attempt, exc, seconds)
            pause(seconds)
            if CANCELLED.is_set():  # Ctrl-C: no new try (it would open new upload sessions after they were cancelled)
                raise
    raise AssertionError("unreachable")  # pragma: no cover
