"""A Docker Hub-like front for a real registry: the pull limit, counted and stated as Docker Hub states it.

What it copies, and where each behaviour is known from (docs.docker.com, "Docker Hub pull usage and limits",
and its "View pull rate and limit" section; the 429 text as docker pull prints it):

- A pull is a manifest GET; a HEAD is not counted.
- Every manifest answer, GET and HEAD, carries ``ratelimit-limit: <limit>;w=<window>`` and
  ``ratelimit-remaining: <left>;w=<window>``.
- Past the limit, a manifest GET is answered ``429 Too Many Requests`` with the error code ``TOOMANYREQUESTS``
  and "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading:
  https://www.docker.com/increase-rate-limit".
- ``retry_after``: the 429 also carries a ``Retry-After`` (Docker Hub's documentation does not promise one; the
  registry spec allows it, and a mirror in front of Docker Hub may send one).

A simplification, said here: Docker Hub's window is rolling; here the whole count comes back ``refill_after``
seconds after the window's first pull.
"""

import json
import threading
import time
from typing import Optional

from .registries import Registry
from .servers import LoopbackServer, QuietHandler, forward, read_body, send

TOO_MANY = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit. You may "
                        "increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}


class HubLikeRegistry(LoopbackServer):
    def __init__(self, upstream: Registry, limit: int, window: int = 21600, refill_after: float = 3600,
                 retry_after: Optional[int] = None, refuse_first: int = 0):
        super().__init__()
        self.upstream = upstream
        self.limit, self.window, self.refill_after = limit, window, refill_after
        self.retry_after = retry_after
        self.refuse_first = refuse_first  # this many manifest GETs answered 429 whatever the count
        self.left = limit
        self.window_started: Optional[float] = None
        self.pulls = 0  # manifest GETs served
        self.refused = 0  # manifest GETs answered 429
        self.events: list = []  # (monotonic time, "pull" | "429" | "head")
        self._lock = threading.Lock()

    def _count(self) -> dict:
        return {"ratelimit-limit": f"{self.limit};w={self.window}",
                "ratelimit-remaining": f"{max(0, self.left)};w={self.window}",
                "docker-ratelimit-source": "127.0.0.1"}

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                body = read_body(self)
                manifest = "/manifests/" in self.path
                extra: dict = {}
                if manifest:
                    with outer._lock:
                        now = time.monotonic()
                        if outer.window_started is not None and now - outer.window_started >= outer.refill_after:
                            outer.left, outer.window_started = outer.limit, None
                        if self.command == "GET":
                            if outer.refuse_first > 0 or outer.left <= 0:
                                outer.refuse_first = max(0, outer.refuse_first - 1)
                                outer.refused += 1
                                outer.events.append((now, "429"))
                                headers = {"Content-Type": "application/json", **outer._count()}
                                if outer.retry_after is not None:
                                    headers["Retry-After"] = str(outer.retry_after)
                                return send(self, 429, headers, json.dumps(TOO_MANY).encode())
                            outer.left -= 1
                            outer.pulls += 1
                            outer.window_started = outer.window_started or now
                            outer.events.append((now, "pull"))
                        else:
                            outer.events.append((now, "head"))
                        extra = outer._count()
                status, headers, data = forward(self, outer.upstream.host, self.path, body)
                location = headers.get("Location")
                if location and location.startswith(f"http://{outer.upstream.host}"):
                    headers["Location"] = location.replace(outer.upstream.host, outer.host, 1)
                send(self, status, {**headers, **extra}, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler
