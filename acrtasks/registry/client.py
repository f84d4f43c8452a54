"""A small client for the Registry HTTP API V2 (the OCI distribution spec), on urllib3 (``transport``).

Why not a library: python-dxf streams blobs but has no cross-repository mount
and no certs.d trust; oras-py targets artifacts and carries its own auth
model. What we need is small: the Basic and Bearer challenges, tokens cached
per scope, docker's TLS trust (``/etc/docker/certs.d/<host>/``), plain HTTP
only for loopback or configured insecure hosts, and retries for transient
failures.
"""

import base64
import contextlib
import functools
import itertools
import os
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import Kind, NotFound, RegistryError
from ..naming import is_loopback_host, split_host
from ..util import retry
from .credentials import Credentials, DockerConfig
from .ratelimit import DEFAULT_FLOOR, DEFAULT_MAX_WAIT, PullGate
from .transport import ProxyError, Response, Transport, TransportError, is_tls_failure, proxies_for
from ..util.inputs import parse_json
from ..util.text import printable, redacted

DEFAULT_CERTS_DIR = "/etc/docker/certs.d"
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Challenge:
    scheme: str  # basic | bearer
    params: Dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Optional[Challenge]:
    """``Bearer realm="https://auth",service="reg",scope="..."`` -> Challenge('bearer', {...})."""
    match = re.match(r"\s*(\w+)\s*(.*)", header or "")
    if not match:
        return None
    params = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
    params.update((k, v) for k, v in re.findall(r'(\w+)=([^",\s]+)', match.group(2)) if k not in params)
    return Challenge(match.group(1).lower(), params)


def certs_dir() -> Path:
    """Where docker's per-registry trust lives; ``$ACRTASKS_CERTS_D`` overrides (tests, rootless setups)."""
    return Path(os.environ.get("ACRTASKS_CERTS_D") or DEFAULT_CERTS_DIR)


def _new_context() -> ssl.SSLContext:
    """System CAs, ``SSL_CERT_FILE`` (OpenSSL's default paths honour it) and ``REQUESTS_CA_BUNDLE``."""
    context = ssl.create_default_context()
    bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    if bundle and bundle != os.environ.get("SSL_CERT_FILE") and Path(bundle).is_file():
        context.load_verify_locations(cafile=bundle)
    return context


_base_context = functools.lru_cache(maxsize=None)(_new_context)  # shared: loading CAs costs ~50 ms


def ssl_context_for(host: str) -> ssl.SSLContext:
    """The shared context, or one that also trusts ``certs.d/<host>/*.crt`` (+ a client cert), as docker does."""
    directory = certs_dir() / host
    try:
        present = directory.is_dir()
    except OSError:  # a name the file system cannot hold (too long) has no trust directory
        present = False
    certs = sorted(directory.glob("*.crt")) if present else []
    client_certs = [c for c in sorted(directory.glob("*.cert")) if c.with_suffix(".key").is_file()] \
        if present else []
    if not certs and not client_certs:
        return _base_context()
    context = _new_context()  # its own: the host's extra trust must not leak to other hosts
    for cert in certs:
        context.load_verify_locations(cafile=str(cert))
    for cert in client_certs:  # docker's client certificate pairs: name.cert + name.key
        context.load_cert_chain(str(cert), str(cert.with_suffix(".key")))
    return context


class RegistryClient:
    """One registry host. Thread-safe enough for concurrent requests (tokens are plain dict writes)."""

    def __init__(self, host: str, credentials: Optional[Credentials] = None, insecure_hosts: Iterable[str] = (),
                 timeout: Optional[float] = None, tries: int = retry.TRIES, backoff: Optional[float] = None,
                 pool: int = 16):
        self.host = host
        self.credentials = credentials
        self.timeout = retry.registry_timeout() if timeout is None else timeout  # a request's tries together
        self.silence = self.timeout / retry.TRIES  # one try, or one pause in a streamed body
        self.tries = tries
        self.backoff = retry.backoff_seconds() if backoff is None else backoff
        self.insecure_hosts = frozenset(insecure_hosts)
        self.plain_http_allowed = is_loopback_host(host) or host in self.insecure_hosts
        self.transport = Transport(pool)
        self._scheme: Optional[str] = None
        self._scheme_lock = threading.Lock()
        self._challenge: Optional[Challenge] = None
        self._tokens: Dict[str, str] = {}
        self.pulls: Optional[PullGate] = None  # the registry's pull limit, when it states one (Clients sets it)

    @property
    def api_host(self) -> str:
        """Docker Hub's API lives on registry-1.docker.io."""
        return "registry-1.docker.io" if self.host == "docker.io" else self.host

    # -- connection -----------------------------------------------------------------------------

    def _base(self) -> str:
        with self._scheme_lock:  # probe once, not once per thread
            if self._scheme is None:
                self._scheme = self._probe_scheme()
                if self._scheme == "https":
                    self.transport.ssl_context = ssl_context_for(self.host)
        return f"{self._scheme}://{self.api_host}"

    def _probe_scheme(self) -> str:
        """HTTPS, except where docker allows plain HTTP (loopback, configured insecure hosts) and the
        server does not speak TLS. The probe is a bare handshake, so no CA bundle is loaded for an
        HTTP registry; trust is checked on the first real request."""
        if not self.plain_http_allowed:
            return "https"
        proxies = proxies_for(f"https://{self.api_host}/")
        if proxies:  # reached through a proxy: no socket of our own to the host; ask for HTTPS through it
            try:
                self.transport.send("HEAD", f"https://{self.api_host}/v2/", {}, timeout=self.silence,
                                    verify=False).close()
                return "https"
            except TransportError:
                return "http"
        hostname, port = split_host(self.api_host)
        try:
            with socket.create_connection((hostname, port or 443), timeout=self.silence) as sock:
                probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                probe.check_hostname = False
                probe.verify_mode = ssl.CERT_NONE
                try:
                    with probe.wrap_socket(sock, server_hostname=hostname):
                        return "https"
                except (ssl.SSLError, OSError):
                    return "http"
        except OSError as exc:
            if port:  # the port answers neither protocol
                raise self.fail(f"cannot connect to {self.host} ({exc.strerror or exc})", Kind.TRANSIENT) from None
            return "http"

    def _send(self, method: str, url: str, headers: Dict[str, Any], stream: bool, data: Any = None,
              params: Any = None, timeout: Optional[float] = None, deadline: Optional[float] = None) -> Response:
        return self.transport.send(method, url, headers, stream, data, params, timeout or self.silence,
                                   deadline=deadline if deadline is not None else time.monotonic() + self.timeout)

    # -- auth -----------------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> Dict[str, str]:
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic" and self.credentials:
            return {"Authorization": _basic(self.credentials)}
        if challenge.scheme == "bearer":
            if scope not in self._tokens:  # the realm is known: skip the 401 round trip for a new scope
                self._tokens[scope] = self._fetch_token(challenge, scope)
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        return {}

    def _authenticate(self, response: Response, scope: str) -> None:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            raise self.fail(f"{self.host} answered 401 without a challenge", Kind.AUTH, 401)
        self._challenge = challenge
        if challenge.scheme == "bearer":
            self._tokens[scope] = self._fetch_token(challenge, scope)
        elif challenge.scheme != "basic":
            raise self.fail(f"{self.host} asks for unsupported auth scheme {challenge.scheme!r}", Kind.AUTH, 401)

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise self.fail(f"{self.host}: Bearer challenge without a realm", Kind.AUTH, 401)
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise self.fail(f"{self.host}: the token realm {printable(realm[:200])!r} is not an http(s) URL", Kind.AUTH)
        if parts.scheme == "http" and not self._plain_http_ok(parts.hostname):
            raise self.fail(f"{self.host}: the token realm {parts.scheme}://{parts.netloc} is plain http; the "
                            "credentials would travel in clear (list the host in [registry] insecure_hosts if that "
                            "is intended)", Kind.AUTH)
        service = challenge.params.get("service", "")
        credentials = self.credentials
        try:
            if credentials and credentials.identity_token:
                # a token login: trade the refresh token (OAuth2), as docker does with an identitytoken
                form = {"grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                        "service": service, "client_id": "acrtasks", "scope": scope}
                response = self._send("POST", realm, {"Content-Type": "application/x-www-form-urlencoded"}, True,
                                      data=urlencode(form).encode())
            else:
                params: Dict[str, Any] = {"service": service}
                if scope:
                    params["scope"] = scope.split()  # one scope parameter each, as token services expect
                headers = {}
                if credentials:
                    headers["Authorization"] = _basic(credentials)
                    params["account"] = credentials.username
                response = self._send("GET", realm, headers, True, params=params)
            with response:
                status = response.status_code
                body = read_bounded(response, MAX_TOKEN_RESPONSE) if status == 200 else b""
        except TransportError as exc:
            raise self.fail(f"token service {realm} unreachable ({reason_of(exc)})", Kind.TRANSIENT) from None
        if status in (401, 403):
            raise self.fail(f"{self.host}: the token service refused the credentials", Kind.AUTH, status)
        if status != 200:
            raise self.fail(f"{self.host}: token service {realm} answered {status}",
                             Kind.TRANSIENT if status in TRANSIENT_STATUS else Kind.OTHER, status)
        if body is None:
            raise self.fail(f"{self.host}: token service {realm} answered more than "
                             f"{MAX_TOKEN_RESPONSE >> 10} KiB; that is no token")
        try:
            reply = parse_json(body)
        except ValueError:
            raise self.fail(f"{self.host}: token service {realm} answered something that is not JSON "
                             f"({_snippet(body)}); is the realm a login page or a proxy?") from None
        token = reply.get("token") or reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise self.fail(f"{self.host}: token service {realm} returned no token", Kind.AUTH)
        if not _BEARER_TOKEN.match(token):  # CR/LF would split the header; the token itself is never shown
            raise self.fail(f"{self.host}: token service {realm} returned a token that is not a bearer token "
                            f"({len(token)} characters, not all of A-Z a-z 0-9 -._~+/=)", Kind.AUTH)
        return token

    def _plain_http_ok(self, hostname: str) -> bool:
        """Plain http to ``hostname`` is allowed where docker allows it: loopback, or an insecure host."""
        return is_loopback_host(hostname) or any(split_host(host)[0] == hostname for host in self.insecure_hosts)

    # -- requests -------------------------------------------------------------------------------

    def request(self, method: str, path: str, scope: str = "", headers: Optional[Dict[str, Any]] = None,
                stream: bool = False, data: Any = None, params: Any = None, ok: Tuple[int, ...] = (200,),
                retry: bool = True, timeout: Optional[float] = None) -> Response:
        """One API call with auth and retries; ``data`` must be replayable (bytes) when ``retry``.

        Answers in ``ok`` are returned; 404 raises kind ``not_found``; 401/403 kind ``auth``;
        408/429/5xx and connection failures are retried, then raise kind ``transient``.
        """
        limit = self.timeout if timeout is None else timeout  # all tries together, the scheme probe included
        gate = self.pulls if "/manifests/" in path else None
        pull = gate is not None and method == "GET"  # what Docker Hub counts as a pull (a HEAD is free)
        while True:
            ticket = 0
            if gate is not None:
                ticket = gate.before_pull(lambda: self._ask_limit(path, scope, headers)) if pull else gate.ticket()
            try:
                with WAITING.watch(f"{self.host}: {method} {urlsplit(path).path[:120]}", limit):
                    response = self._request(method, path, scope, headers, stream, data, params, ok, retry,
                                             timeout, limit, pull)
            except BaseException as exc:
                if gate is None:
                    raise
                gate.done(ticket)
                if not (pull and isinstance(exc, RegistryError) and exc.status == 429):
                    raise
                if not gate.wait_out(exc):  # waited out, then the pull is tried again; else given up on
                    raise gate.gave_up("429 Too Many Requests") from None
                continue
            if gate is not None:
                gate.note(response.headers, ticket)
            return response

    def _ask_limit(self, path: str, scope: str, headers: Optional[Dict[str, Any]]) -> None:
        """A HEAD of the manifest a pull waits for: free under Docker Hub's limit, and it states the count."""
        try:
            response = self.request("HEAD", path, scope, headers=headers)
        except RegistryError:
            return  # no answer is no news: the gate pauses again
        response.close()
        if self.pulls is not None:
            self.pulls.note(response.headers, self.pulls.ticket(), fresh=True)

    def _request(self, method: str, path: str, scope: str, headers: Optional[Dict[str, Any]], stream: bool,
                 data: Any, params: Any, ok: Tuple[int, ...], retry: bool, timeout: Optional[float],
                 limit: float, pull: bool = False) -> Response:
        deadline = time.monotonic() + limit
        base = self._base()
        url = path if path.startswith("http") else base + path
        own = same_origin(url, base)  # the registry's credentials go to its own scheme, host and port alone
        target = urlsplit(url)
        if not own and target.scheme == "http" and base.startswith("https:") \
                and not self._plain_http_ok(target.hostname or ""):
            raise self.fail(f"{self.host} sent {method} {path} to plain http:// ({target.netloc}); refusing "
                            "to send anything in clear (list the host in [registry] insecure_hosts if that is "
                            "intended)", Kind.OTHER)
        tries = self.tries if retry else 1
        authenticated = False
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            try:
                response = self._send(method, url, {**(headers or {}), **(self._auth_header(scope) if own else {})},
                                      stream, data, params, max(0.05, min(timeout or self.silence, left)), deadline)
            except TransportError as exc:
                if is_tls_failure(exc):
                    raise self.fail(
                        f"TLS to {self.host} failed ({reason_of(exc)}); trust its CA in "
                        f"{certs_dir() / self.host}/ca.crt or SSL_CERT_FILE", Kind.TLS) from None
                pause = self._delay(attempt, None)
                if attempt < tries and time.monotonic() + pause < deadline:
                    self._pause(pause)
                    continue
                reason = reason_of(exc)
                late = f"; no answer within {limit:g} s in all, ACRTASKS_REGISTRY_TIMEOUT" \
                    if "timed out" in reason else ""
                raise self.fail(f"{self.host}: {method} {path} failed ({reason}){late}", Kind.TRANSIENT) from None
            if response.status_code == 401 and not same_origin(response.url, base):
                response.close()  # a redirect target's (a CDN's) own challenge: not ours to answer
                raise self.fail(f"{self.host}: {urlsplit(response.url).netloc}, where {method} {path} was sent on, "
                                "asked for credentials; the registry's are not given to another host", Kind.AUTH, 401)
            if response.status_code == 401 and not authenticated:
                response.close()
                self._authenticate(response, scope)
                authenticated = True
                attempt -= 1
                continue
            if response.status_code in ok:
                return response
            status = response.status_code
            detail = _error_detail(response)
            response.close()
            if status in TRANSIENT_STATUS and attempt < tries and not (pull and status == 429):  # the gate's
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if status == 407:  # the proxy's answer, not the registry's
                raise self.fail(f"{self.host}: the proxy failed ({status} Proxy Authentication Required); give its "
                                "credentials in HTTPS_PROXY/HTTP_PROXY as http://user:password@proxy:port",
                                Kind.AUTH, status)
            if status in (401, 403):
                raise self.fail(f"{self.host} denied {method} {path} ({detail or status})", Kind.AUTH, status)
            if status == 404:
                raise self.fail(f"{self.host}: {path} not found ({detail or 404})", Kind.NOT_FOUND, status)
            kind = Kind.TRANSIENT if status in TRANSIENT_STATUS else Kind.OTHER
            raise self.fail(f"{self.host}: {method} {path} answered {status} {detail}".strip(), kind, status,
                            response.headers.get("Retry-After"))

    def _sleep(self, attempt: int, retry_after: Optional[str]) -> None:
        self._pause(self._delay(attempt, retry_after))

    @staticmethod
    def _pause(seconds: float) -> None:
        retry.pause(seconds)  # a method: in _request, ``retry`` is a flag

    def _delay(self, attempt: int, retry_after: Optional[str]) -> float:
        return retry.delay(attempt, self.backoff, retry_after)

    def fail(self, message: str, kind: Kind = Kind.OTHER, status: Optional[int] = None,
             retry_after: Optional[str] = None) -> RegistryError:
        """An error about this registry (the copy ends use it too, so every error names its host)."""
        if kind == Kind.NOT_FOUND:
            return NotFound(message, status, host=self.host)
        return RegistryError(message, kind, status, host=self.host, retry_after=retry_after)

    def tags(self, repository: str) -> List[str]:
        """Every tag of ``repository``, its list paged as the Registry API pages it (see :meth:`next_page`):
        each page bounded, at most :data:`MAX_TAG_PAGES`. [] when the repository does not exist."""
        where = f"{self.host}/{repository}"
        path = f"/v2/{repository}/tags/list?n=1000"
        found: List[str] = []
        for page in range(MAX_TAG_PAGES):
            try:
                response = self.request("GET", path, scope=f"repository:{repository}:pull", stream=True)
            except NotFound:  # no repository yet
                return found
            with response:
                raw = read_bounded(response, MAX_TAG_PAGE)
                link = str(response.headers.get("Link", ""))
                url = response.url
            try:
                tags = parse_json(raw or b"").get("tags") or []
            except (ValueError, AttributeError):
                raise self.fail(f"{where}: the tag list is not JSON", Kind.INTEGRITY) from None
            found += [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
            following = self.next_page(link, url, f"{where}: the tag list", page, MAX_TAG_PAGES)
            if following is None:
                break
            path = following
        return found

    def next_page(self, link: str, url: str, what: str, page: int, pages: int) -> Optional[str]:
        """Where the page after ``url`` is (``Link: <...>; rel="next"``, as the Registry API pages tag and referrer
        lists), None after the last. A next page is asked for only on the registry's own origin (never elsewhere,
        with or without credentials), and only ``pages`` pages in all: a list that goes on is an error, not
        silently cut (a cut tag list would let "the newest" be an older tag)."""
        match = re.match(r"\s*<([^>]+)>\s*;\s*rel=\"?next\"?", link)
        if not match:
            return None
        following: str = urljoin(url, str(match.group(1)))
        if not same_origin(following, url):
            raise self.fail(f"{what}'s next page is on another host ({urlsplit(following).netloc[:100]}); "
                            "not followed", Kind.INTEGRITY)
        if page + 1 >= pages:
            raise self.fail(f"{what} goes on past {pages} pages; refused", Kind.INTEGRITY)
        return following

    def check_login(self) -> None:
        """Verify the credentials against ``/v2/`` like ``docker login`` does; raise kind ``auth`` if refused."""
        self.request("GET", "/v2/", retry=True)


class Waiting:
    """Says once, on stderr, when a registry request has had no answer for a while (a tenth of a minute by
    default), naming the host and the request, so a registry that accepts connections but never answers is not
    a silent minute. One daemon thread for the process, started on first use, looks four times a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Dict[int, List[Any]] = {}  # key -> [when to say it, what, limit, started]
        self._keys = itertools.count()
        self._thread: Optional[threading.Thread] = None

    @contextlib.contextmanager
    def watch(self, what: str, limit: float) -> Iterator[None]:
        started = time.monotonic()
        key = next(self._keys)
        with self._lock:
            self._pending[key] = [started + min(retry.WAITING_NOTICE, limit / 3), what, limit, started]
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="acrtasks-waiting", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._pending[key]

    def _loop(self) -> None:
        while True:
            time.sleep(0.25)
            now, due = time.monotonic(), []
            with self._lock:
                for entry in self._pending.values():
                    if entry[0] <= now:
                        entry[0] = float("inf")  # once per request
                        due.append(entry)
            for _, what, limit, started in due:
                sys.stderr.write(f"waiting for {what}: no answer for {now - started:.0f} s (given up after "
                                 f"{limit:g} s; ACRTASKS_REGISTRY_TIMEOUT)\n")
                sys.stderr.flush()


WAITING = Waiting()


_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,65536}\Z")  # RFC 6750's b64token, bounded


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` has ``base``'s scheme, host and port (a port left out is the scheme's default)."""
    a, b = urlsplit(url), urlsplit(base)
    default = {"https": 443, "http": 80}
    try:
        ports = (a.port or default.get(a.scheme), b.port or default.get(b.scheme))
    except ValueError:  # a port that is not a number
        return False
    return a.scheme == b.scheme and (a.hostname or "") == (b.hostname or "") and ports[0] == ports[1]


MAX_TOKEN_RESPONSE = 1 << 20  # tokens are a few KiB; a JWT with a long x5c chain stays far below
MAX_TAG_PAGES = 50  # tag lists are paged (n=1000): 50,000 tags is more than any one repository we push to
MAX_TAG_PAGE = 4 << 20  # one page of 1,000 tags of up to 128 characters stays far below


def upload_location(response: Response) -> str:
    """An upload session's URL (registries may answer with a relative Location; one without is broken)."""
    location = response.headers.get("Location")
    if not location:
        host = urlsplit(response.url).netloc
        raise RegistryError(f"{host}: its answer to an upload ({response.status_code}) has no Location; the registry "
                            "is broken or not a registry", Kind.OTHER, response.status_code, host=host)
    return urljoin(response.url, str(location))


def cancel_upload(client: RegistryClient, url: str, repo: str, timeout: float = 2) -> None:
    """DELETE an upload session, best effort: a copy that failed or was interrupted (quickly), or the
    preflight's probe; a session never written to expires at the registry anyway."""
    try:
        client.request("DELETE", url, scope=f"repository:{repo}:pull,push", ok=(204, 200, 202, 404), retry=False,
                       timeout=timeout).close()
    except Exception:  # noqa: BLE001 - the session expires at the registry anyway
        pass


def read_bounded(response: Response, limit: int) -> Optional[bytes]:
    """The body of a streamed response, or None when it is longer than ``limit`` (never read whole)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks, total = [], 0
    for chunk in response.iter_content(chunk_size=64 << 10):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _snippet(body: bytes) -> str:
    text = redacted(body[:60].decode("utf-8", "replace"))
    return repr(text) + ("..." if len(body) > 60 else "")  # repr escapes what a terminal would obey


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def reason_of(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(getattr(exc, "reason", None), ProxyError) or isinstance(exc, ProxyError):
        answer = re.search(r"(\d{3} [A-Za-z ]+)", text)
        return redacted(f"the proxy failed ({answer.group(1).strip() if answer else type(exc).__name__}); check "
                        "HTTPS_PROXY/HTTP_PROXY and the proxy's credentials")
    for pattern in (r"\[SSL: [^\]]+\][^')\"]*", r"Connection refused", r"timed out", r"Name or service not known"):
        match = re.search(pattern, text)
        if match:
            return match.group(0).strip()
    return type(exc).__name__


def _error_detail(response: Response) -> str:
    """The first error of an OCI error body (``{"errors": [{"code", "message"}]}``), if any (read up to 64 KiB)."""
    try:
        body = read_bounded(response, 64 << 10)
        errors = (parse_json(body) if body else {}).get("errors") or []
    except (ValueError, AttributeError, TransportError):
        return ""
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        return printable(f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")[:500])
    return ""


class Clients:
    """One RegistryClient per host, with the docker config's credentials; shared by all jobs."""

    def __init__(self, insecure_hosts: Sequence[str] = (), tries: int = retry.TRIES, timeout: Optional[float] = None,
                 config: Optional[DockerConfig] = None, pull_floor: int = DEFAULT_FLOOR,
                 pull_max_wait: float = DEFAULT_MAX_WAIT):
        self.insecure_hosts = tuple(insecure_hosts)
        self.tries, self.timeout = tries, timeout
        self.config = config or DockerConfig()
        self.pull_floor, self.pull_max_wait = pull_floor, pull_max_wait
        self._clients: Dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> RegistryClient:
        with self._lock:
            if host not in self._clients:
                client = RegistryClient(host, self.config.get(host), self.insecure_hosts, timeout=self.timeout,
                                        tries=self.tries)
                client.pulls = PullGate(host, self.pull_floor, self.pull_max_wait)
                self._clients[host] = client
            return self._clients[host]

    def trying_once(self, timeout: float) -> "Clients":
        """Clients of the same credentials that try each request once, with ``timeout``: for questions whose
        answer may be "unknown" (an offline base image) rather than worth a minute of retries."""
        return Clients(self.insecure_hosts, tries=1, timeout=timeout, config=self.config,
                       pull_floor=self.pull_floor, pull_max_wait=self.pull_max_wait)
