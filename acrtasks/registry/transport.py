"""HTTP for the registry client, on urllib3 directly.

requests sat here before; it adds nothing the client uses (sessions, cookies,
hooks, charset guessing) but about 20 ms of import and a little work per
request, and a copy of a few small images is made of little else. What the
client needs is here: one pool per proxy, our SSL context as the whole TLS
trust (also through an HTTPS proxy's tunnel), redirects that drop the
Authorization header when they leave the host (blob downloads redirected to
object storage), streamed bodies, and one exception type.
"""

import json
import threading
import urllib.request
import warnings
from typing import Dict, Iterator, Optional
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as TransportError  # noqa: F401 - re-exported: every failure below
from urllib3.exceptions import InsecureRequestWarning, SSLError
from urllib3.util import Retry, Timeout

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
    if urllib.request.proxy_bypass_environment(host):
        return {}
    return {scheme: proxy for scheme, proxy in urllib.request.getproxies_environment().items()
            if scheme in ("http", "https")}


class Response:
    """A response with the few things the client reads; ``close`` drops a connection whose body was left."""

    def __init__(self, raw, url: str, streamed: bool):  # a urllib3 HTTPResponse
        self.raw = raw
        self.url = urljoin(url, raw.geturl() or url)  # urllib3 may give the path alone: made absolute
        self._streamed = streamed

    @property
    def status_code(self) -> int:
        return self.raw.status

    @property
    def headers(self):
        return self.raw.headers

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        if not self._streamed:  # already read whole (a small answer)
            data = self.raw.data or b""
            return iter([data[i:i + chunk_size] for i in range(0, len(data), chunk_size)])
        return self.raw.stream(chunk_size, decode_content=True)

    def json(self):
        return json.loads(self.raw.data or b"null")

    def close(self) -> None:
        if not self.raw.isclosed():
            self.raw.close()  # unread bytes: this connection cannot serve another request
        self.raw.release_conn()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Transport:
    """Connection pools for one registry: direct, and one per proxy; thread-safe."""

    def __init__(self, pool: int = 16):
        self._pool = pool
        self._managers: Dict[Optional[str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self.ssl_context = None  # set once the registry is known to speak TLS: then the whole trust

    def _manager(self, proxy: Optional[str]) -> urllib3.PoolManager:
        with self._lock:
            manager = self._managers.get(proxy)
            if manager is None:
                options = {"maxsize": self._pool, "ssl_context": self.ssl_context}
                manager = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
                self._managers[proxy] = manager
            return manager

    def send(self, method: str, url: str, headers: dict, stream: bool = False, data=None, params=None,
             timeout: float = 30.0, verify: bool = True) -> Response:
        """One request; raises TransportError (urllib3's) when no answer came."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        if data is not None and not isinstance(data, (bytes, str)) and hasattr(data, "__len__"):
            headers = {**headers, "Content-Length": str(len(data))}  # a stream of known size: no chunking
        proxy = proxies_for(url).get(urlsplit(url).scheme)
        options = dict(headers=headers, body=data, preload_content=not stream, decode_content=True,
                       redirect=True, retries=_REDIRECTS, timeout=Timeout(connect=timeout, read=timeout))
        if verify:
            raw = self._manager(proxy).urlopen(method, url, **options)
        else:  # the scheme probe through a proxy: only whether TLS answers, no trust involved
            insecure = urllib3.ProxyManager(proxy, cert_reqs="CERT_NONE") if proxy else \
                urllib3.PoolManager(cert_reqs="CERT_NONE")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                raw = insecure.urlopen(method, url, **options)
        return Response(raw, url, stream)
