"""Docker Hub's pull limit, seen and respected: pause below a floor, wait a 429 out, never hammer.

Docker Hub counts a pull per manifest GET (a HEAD does not count) and says where a client stands in two headers
on every manifest answer, ``ratelimit-limit: 100;w=21600`` and ``ratelimit-remaining: 76;w=21600`` (pulls per
window of ``w`` seconds; docs.docker.com, "Docker Hub pull usage and limits"). Past the limit it answers ``429
Too Many Requests`` with ``toomanyrequests: You have reached your pull rate limit``. regsync reads the same
headers and pauses below a floor; skopeo does not retry a 429 on manifests.

A :class:`PullGate` per registry host (any registry that sends the headers: a mirror may pass Docker Hub's on)
holds the last count it saw, takes one off for every pull it lets through (parallel jobs do not overshoot), and
below the floor pauses, then asks again with a HEAD, until the window allows or the maximum wait is spent.
"""

import re
import sys
import threading
import time
from typing import Callable, Mapping, NamedTuple, Optional, Set

from ..errors import Interrupted, Kind, RegistryError
from ..util import retry
from ..util.jobs import CANCELLED

DEFAULT_FLOOR = 3  # pulls kept in hand: another job of the same machine (a deploy) still gets its images
DEFAULT_MAX_WAIT = 1800.0  # half an hour in all per registry, then stop with the reason
_COUNT = re.compile(r"\s*(\d{1,9})\s*(?:;\s*w\s*=\s*(\d{1,9}))?\s*\Z")


class PullLimit(NamedTuple):
    limit: int
    remaining: int
    window: int  # seconds; 0 when the registry did not say


def parse_limit(headers: Mapping[str, str]) -> Optional[PullLimit]:
    """The pull limit a manifest answer states, or None (no headers, or not in Docker Hub's form)."""
    limit = _COUNT.match(str(headers.get("ratelimit-limit") or "")[:64])
    remaining = _COUNT.match(str(headers.get("ratelimit-remaining") or "")[:64])
    if not limit or not remaining:
        return None
    window = int(remaining.group(2) or limit.group(2) or 0)
    return PullLimit(int(limit.group(1)), int(remaining.group(1)), window)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class PullGate:
    """One registry's pull limit: what it last said, the pulls sent since, and the waiting it costs (at most
    ``max_wait`` in all).

    Answers arrive out of order (four jobs pull at once, and the registry counts them in the order it serves
    them), so between pauses the count only goes down: a higher one may be stale. The count a HEAD asks for after
    the floor is reached is taken as it is (the window may have come back). Pulls let through and not yet
    answered are taken off the count, so parallel jobs never pass the floor together."""

    def __init__(self, host: str, floor: int = DEFAULT_FLOOR, max_wait: float = DEFAULT_MAX_WAIT,
                 say: Callable[[str], None] = _say):
        self.host = host
        self.floor = floor
        self.max_wait = max_wait
        self.say = say
        self.seen: Optional[PullLimit] = None
        self.waited = 0.0
        self._tickets = 0
        self._outstanding: Set[int] = set()  # pulls let through, not yet answered
        self._state = threading.Lock()  # short: tickets and counts
        self._waiting = threading.Lock()  # one job waits and asks again; the others wait for its answer

    @property
    def interval(self) -> float:
        """How long one pause lasts before the registry is asked again."""
        return min(300.0, max(0.2, self.max_wait / 6))

    def ticket(self) -> int:
        """For a request about to be sent (a pull's comes from :meth:`before_pull`)."""
        with self._state:
            self._tickets += 1
            return self._tickets

    def note(self, headers: Mapping[str, str], ticket: int, fresh: bool = False) -> None:
        """The answer to request ``ticket`` came: its count, if it states one and it is lower than the one held
        (or ``fresh``: the answer to a HEAD that asked for it)."""
        found = parse_limit(headers)
        with self._state:
            self._outstanding.discard(ticket)
            if found is not None and (fresh or self.seen is None or found.remaining < self.seen.remaining
                                      or found.limit != self.seen.limit):
                self.seen = found

    def done(self, ticket: int) -> None:
        """Request ``ticket`` ended without an answer to read (an error)."""
        with self._state:
            self._outstanding.discard(ticket)

    def left(self) -> Optional[int]:
        """Pulls left by the last count, less the pulls sent and not answered since; None when none was seen."""
        with self._state:
            return None if self.seen is None else self.seen.remaining - len(self._outstanding)

    def before_pull(self, ask: Callable[[], None]) -> int:
        """Wait while the registry is at or below the floor; ``ask()`` makes a request that does not count (a
        HEAD), whose answer :meth:`note` reads. The pull's ticket, once it may go."""
        with self._waiting:
            left, asked = self.left(), False
            while left is not None and left <= self.floor:
                if asked:  # the registry said so just now: wait before asking again
                    limit = self.seen.limit if self.seen is not None else 0
                    self._pause(self.interval, f"{max(0, left)} of {limit} pulls left in the window{self._window()} "
                                               f"(the floor is {self.floor}, [deps] ratelimit_floor)")
                ask()
                left, asked = self.left(), True
            with self._state:
                self._tickets += 1
                self._outstanding.add(self._tickets)
                return self._tickets

    def wait_out(self, error: RegistryError) -> bool:
        """A 429 came: wait what its Retry-After asks (else one pause) and say True, so the pull is tried again;
        False when that would pass the maximum wait (the caller raises :meth:`gave_up`)."""
        asked = retry.retry_after_seconds(error.retry_after)
        seconds = self.interval if asked is None else asked
        if self.waited + seconds > self.max_wait:
            return False
        with self._waiting:
            why = f"429 Too Many Requests, Retry-After {asked:g} s" if asked is not None else "429 Too Many Requests"
            self._pause(seconds, why)
        return True

    def gave_up(self, cause: str) -> RegistryError:
        return RegistryError(
            f"{self.host}: the pull limit is spent ({cause}); waited {self.waited:.0f} s of at most "
            f"{self.max_wait:g} s ([deps] ratelimit_max_wait): run again later, or log in (inv login --registry "
            f"{self.host}) for a higher limit", Kind.OTHER, 429, host=self.host)

    def _pause(self, seconds: float, why: str) -> None:
        if self.waited + seconds > self.max_wait:
            raise self.gave_up(why)
        self.say(f"{self.host}: {why}: pausing {seconds:.0f} s before asking again (waited {self.waited:.0f} s of "
                 f"at most {self.max_wait:g} s)")
        started = time.monotonic()
        retry.pause(seconds)
        self.waited += time.monotonic() - started
        if CANCELLED.is_set():
            raise Interrupted("interrupted")

    def _window(self) -> str:
        if self.seen is None or not self.seen.window:
            return ""
        hours = self.seen.window / 3600
        return f" of {hours:g} h" if hours >= 1 else f" of {self.seen.window} s"
