"""HTTP for the registry client, on urllib3 directly.

requests sat here before; it adds nothing the client uses (sessions, cookies,
hooks, charset guessing) but about 20 ms of import and a little work per
request, and a copy of a few small images is made of little else. What the
client needs is here: one pool per proxy, our SSL context as the whole TLS
trust (also through an HTTPS proxy's tunnel), redirects that drop the
Authorization header when they leave the host (blob downloads redirected to
object storage), streamed bodies, and one exception type.
"""

import socket
import ssl
import threading
import time
import urllib.request
import warnings
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import InsecureRequestWarning, ProxyError, SSLError
from urllib3.exceptions import ReadTimeoutError
from urllib3.util import Retry, Timeout


#: Re-exported: what the client catches (every failure below is a TransportError) and names (ProxyError).
__all__ = ["ProxyError", "Response", "Transport", "TransportError", "is_tls_failure", "proxies_for", "proxy_manager"]

# Follow redirects (as many as a blob's CDN chain needs); retrying is the client's own business.
_REDIRECTS = Retry(total=None, connect=0, read=0, redirect=5, status=0, other=0, raise_on_redirect=False,
                   raise_on_status=False)


def is_tls_failure(exc: BaseException) -> bool:
    return isinstance(exc, SSLError) or isinstance(getattr(exc, "reason", None), SSLError)


def proxies_for(url: str) -> Dict[str, str]:
    """``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` as docker reads them; loopback is never proxied (as in Go)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return {}
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]  # not in typeshed
        return {}
    return {scheme: proxy for scheme, proxy in urllib.request.getproxies_environment().items()
            if scheme in ("http", "https")}


#: A body the client does not stream (a ping, a 401, an error, an upload's answer) is read up to this much; the
#: rest is left unread and the connection dropped (an endless or bomb body cannot fill memory).
MAX_SMALL_BODY = 1 << 20


def proxy_manager(proxy: str, **options: Any) -> urllib3.ProxyManager:
    """A pool through ``proxy``; the user and password of ``http://user:pass@proxy:3128`` (as curl and docker read
    HTTPS_PROXY) go in ``Proxy-Authorization``, which urllib3 does not derive from the URL itself."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return urllib3.ProxyManager(proxy, **options)
    netloc = parts.hostname if ":" not in (parts.hostname or "") else f"[{parts.hostname}]"
    bare = urlunsplit((parts.scheme, f"{netloc}:{parts.port}" if parts.port else netloc, parts.path, "", ""))
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return urllib3.ProxyManager(bare, proxy_headers=urllib3.make_headers(proxy_basic_auth=credentials), **options)


# -- time bounds -------------------------------------------------------------------------------------
# A socket timeout bounds one read; a server sending a byte every few seconds never trips it. So the answer's
# headers must come before the request's deadline (a timer shuts the socket down), and a streamed body must bring
# a whole chunk in each window of the request's time (a watchdog shuts the socket down; see Response._paced).
PACE_PIECE = 64 << 10
_DEADLINE = threading.local()  # the deadline of the request this thread is sending (Transport.send sets it)


def _shut_down(sock: socket.socket) -> None:
    """Make a read blocked on ``sock`` return at once (both watchdogs below end a wait this way)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Deadlined(HTTPConnection):
    """urllib3's connection, with the answer's headers bounded by the request's deadline."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline, sock = getattr(_DEADLINE, "at", None), getattr(self, "sock", None)
        if deadline is None or sock is None:
            return super().getresponse(*args, **kwargs)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _shut_down(sock)

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse(*args, **kwargs)
        except Exception:
            if expired.is_set():  # urllib3 turns this into its ReadTimeoutError ("Read timed out")
                raise socket.timeout("timed out: the answer's headers did not come within the request's time") \
                    from None
            raise
        finally:
            timer.cancel()


class _HTTPConnection(_Deadlined):
    pass


class _HTTPSConnection(_Deadlined, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _deadlined(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


class Response:
    """A response with the few things the client reads; ``close`` drops a connection whose body was left."""

    def __init__(self, raw: Any, url: str, streamed: bool, deadline: Optional[float] = None,
                 window: float = 60.0):  # raw: a urllib3 HTTPResponse
        self.raw = raw
        self.url: str = urljoin(url, raw.geturl() or url)  # urllib3 may give the path alone: made absolute
        self._streamed = streamed
        self._window = max(window, 0.1)
        self._done = threading.Event()  # set when the body is read or dropped: the pace watchdog stops
        self.data = b"" if streamed else self._read_small(deadline)

    def _read_small(self, deadline: Optional[float]) -> bytes:
        """The body, at most :data:`MAX_SMALL_BODY` (decompressed in bounded pieces), and no later than
        ``deadline``: a server trickling a byte at a time is not waited on past the request's time."""
        chunks, size, empty = [], 0, 0
        try:
            while True:
                # read1: whatever has arrived (read(n) would wait for n bytes, a trickle's whole body)
                chunk = self.raw.read1(64 << 10, decode_content=True)
                if not chunk:
                    if self.raw.isclosed():
                        self.raw.release_conn()  # read whole: back to the pool, as a preloaded answer would go
                        break
                    empty += 1  # a decoder still filling up; never for ever
                    if empty > 1000:
                        self.close()
                        break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_SMALL_BODY or (deadline is not None and time.monotonic() > deadline):
                    self.close()  # the rest unread: this connection cannot serve another request
                    break
        except TransportError:
            self.close()
        return b"".join(chunks)[:MAX_SMALL_BODY]

    @property
    def status_code(self) -> int:
        return int(self.raw.status)

    @property
    def headers(self) -> Any:
        return self.raw.headers

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        if not self._streamed:  # already read (a small answer, bounded)
            return iter([self.data[i:i + chunk_size] for i in range(0, len(self.data), chunk_size)])
        return self._paced(chunk_size)

    def _paced(self, chunk_size: int) -> Iterator[bytes]:
        """The streamed body, cut off with a ReadTimeoutError when a window of the request's time passes without
        a whole piece of :data:`PACE_PIECE` bytes: a watchdog shuts the socket down, as a read that keeps getting
        a byte now and then never times out. (With the default 60 s, a link under about 1 KiB/s is given up on.)
        The pieces are handed on in chunks of ``chunk_size``, as they were read before: a blob smaller than a
        chunk reaches its target whole or not at all (an upload cut off part-way leaves a session its registry
        will not cancel: distribution answers "upload resumed at wrong offset")."""
        piece = min(chunk_size, PACE_PIECE)
        progress, slow = [0], threading.Event()
        sock: Optional[socket.socket] = getattr(getattr(self.raw, "connection", None), "sock", None)

        def watch(sock: socket.socket) -> None:
            seen = -1
            while not self._done.wait(self._window):
                if progress[0] == seen:
                    slow.set()
                    _shut_down(sock)
                    return
                seen = progress[0]

        if sock is not None:
            threading.Thread(target=watch, args=(sock,), daemon=True, name="acrtasks-pace").start()
        try:
            pending: List[bytes] = []
            held = 0
            for chunk in self.raw.stream(piece, decode_content=True):
                progress[0] += 1
                pending.append(chunk)
                held += len(chunk)
                if held >= chunk_size:
                    yield b"".join(pending) if len(pending) > 1 else pending[0]
                    pending, held = [], 0
            if pending:
                yield b"".join(pending)
        except Exception:
            if slow.is_set():
                raise self._too_slow(piece) from None
            raise
        finally:
            self._done.set()
        if slow.is_set():
            raise self._too_slow(piece)

    def _too_slow(self, piece: int) -> ReadTimeoutError:
        return ReadTimeoutError(None, self.url, f"Read timed out: less than {piece} bytes in "  # type: ignore[arg-type]
                                f"{self._window:.0f} s")

    def close(self) -> None:
        self._done.set()
        if not self.raw.isclosed():
            self.raw.close()  # unread bytes: this connection cannot serve another request
        self.raw.release_conn()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Connection pools for one registry: direct, and one per proxy; thread-safe."""

    def __init__(self, pool: int = 16):
        self._pool = pool
        self._managers: Dict[Optional[str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self.ssl_context: Optional[ssl.SSLContext] = None  # set once the registry is known to speak TLS: then the whole trust

    def _manager(self, proxy: Optional[str]) -> urllib3.PoolManager:
        with self._lock:
            manager = self._managers.get(proxy)
            if manager is None:
                options: Dict[str, Any] = {"maxsize": self._pool, "ssl_context": self.ssl_context}
                manager = proxy_manager(proxy, **options) if proxy else urllib3.PoolManager(**options)
                self._managers[proxy] = _deadlined(manager)
            return manager

    def send(self, method: str, url: str, headers: Dict[str, Any], stream: bool = False, data: Any = None,
             params: Any = None, timeout: float = 30.0, verify: bool = True, deadline: Optional[float] = None
             ) -> Response:
        """One request; raises TransportError (urllib3's) when no answer came."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        if data is not None and not isinstance(data, (bytes, str)) and hasattr(data, "__len__"):
            headers = {**headers, "Content-Length": str(len(data))}  # a stream of known size: no chunking
        proxy = proxies_for(url).get(urlsplit(url).scheme)
        options = dict(headers=headers, body=data, preload_content=False, decode_content=True,
                       redirect=True, retries=_REDIRECTS, timeout=Timeout(connect=timeout, read=timeout))
        window = (deadline - time.monotonic()) if deadline is not None else 3 * timeout
        _DEADLINE.at = deadline
        try:
            if verify:
                raw = self._manager(proxy).urlopen(method, url, **options)
            else:  # the scheme probe through a proxy: only whether TLS answers, no trust involved
                insecure = _deadlined(proxy_manager(proxy, cert_reqs="CERT_NONE") if proxy else
                                      urllib3.PoolManager(cert_reqs="CERT_NONE"))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    raw = insecure.urlopen(method, url, **options)
        finally:
            _DEADLINE.at = None
        return Response(raw, url, stream, deadline, window)
