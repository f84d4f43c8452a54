"""Proxies in front of real registries: faults on purpose (resets, stalls, HTML, wrong digests, huge manifests,
refused PUTs), a forward proxy and an HTTPS tunnel, a relay that adds latency."""

import json
import queue
import socket
import time
from typing import Optional

from .registries import Registry
from .servers import LoopbackServer, QuietHandler, forward, read_body, send


class FaultyRegistry(LoopbackServer):
    """A loopback proxy in front of a real registry that misbehaves in one way, on purpose.

    Faults: ``manifest_not_object`` (a JSON list), ``manifest_huge`` (claims 5 MiB and never sends it),
    ``manifest_endless`` (streams JSON with no Content-Length, past 4 MiB), ``manifest_wrong_digest`` (bytes
    that do not hash to the Docker-Content-Digest it sends), ``blob_reset`` (half a blob, then the connection
    drops), ``blob_stall`` (half a blob, then silence), ``token_html`` (a Bearer challenge whose token
    service answers an HTML page), ``upload_stall`` (accepts an upload session, then never answers the
    upload), ``blob_slow`` (every blob over 1000 bytes takes a second; ``intervals`` records when each was
    served, to see downloads overlap), ``target_wrong_digest`` (after a manifest PUT by tag, the tag answers
    with another digest), ``stale_tag_for_readers`` (the same, but the engine's own requests, by their
    User-Agent, get the truth: a cache in front of readers), ``tag_put_raced`` (every PUT of a manifest by tag
    reaches the registry, but the answer is distribution's ``DIGEST_INVALID``, as a concurrent writer causes),
    ``tag_put_refused`` (the same answer once, and nothing stored), ``tag_put_always_refused`` (every PUT by tag
    so, nothing stored), ``upload_denied`` (every blob upload's closing PUT, its bytes read, answered 403
    ``DENIED`` as a registry that lets us read but not write), ``upload_fails_once`` (the first blob upload's
    closing PUT answered 503, nothing stored: a registry's passing trouble; BuildKit retries that itself),
    ``tag_put_fails_once`` (the first 4 PUTs of a manifest by tag answered 500, nothing stored: one whole push of
    BuildKit's, which tries 4 times, fails, as Debian's registry made it now and then), ``blob_unavailable`` (every
    blob over 1000 bytes answered 503), ``blob_trickle`` (half a blob, then a byte every
    half second: no read ever waits long enough to time out), ``headers_trickle`` (every answer's status line and
    headers a byte every half second). ``hit`` is set once the fault has been served. Handler threads are daemons:
    a stall never holds up ``stop``.
    """

    def __init__(self, upstream: Optional["Registry"], fault: str, stall_seconds: float = 30):
        import threading

        super().__init__()
        self.upstream = upstream
        self.fault = fault
        self.stall_seconds = stall_seconds
        self.hit = threading.Event()
        self.requests_seen: list = []
        self.intervals: list = []  # (start, end) of each slowed blob, monotonic seconds
        self.manifest_put = False
        self.tag_puts_failed = 0

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def _upstream(self, body: bytes):
                status, headers, data = forward(self, outer.upstream.host, self.path, body)
                location = headers.get("Location")
                if location and location.startswith(f"http://{outer.upstream.host}"):
                    headers["Location"] = location.replace(outer.upstream.host, outer.host, 1)
                return status, headers, data

            def _stall(self) -> None:
                outer.hit.set()
                deadline = time.monotonic() + outer.stall_seconds
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                self.close_connection = True

            def _trickle(self, data: bytes) -> None:
                outer.hit.set()
                deadline = time.monotonic() + outer.stall_seconds
                for byte in data:
                    if time.monotonic() > deadline:
                        break
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up: what the test wants
                        break
                    time.sleep(0.5)
                self.close_connection = True

            def handle_one(self) -> None:
                outer.requests_seen.append((self.command, self.path))
                fault, path = outer.fault, self.path
                body = read_body(self)
                if fault == "headers_trickle":
                    return self._trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"z" * 1000 + b"\r\n\r\n")
                if fault == "token_html":
                    if path.startswith("/token"):
                        outer.hit.set()
                        return send(self, 200, {"Content-Type": "text/html"}, b"<html><body>Sign in</body></html>")
                    return send(self, 401, {"WWW-Authenticate": f'Bearer realm="http://{outer.host}/token",'
                                                                  'service="faulty"'}, b"")
                tag_put = (self.command == "PUT" and "/manifests/" in path
                           and not path.rsplit("/", 1)[-1].startswith("sha256:"))
                if tag_put and (fault in ("tag_put_raced", "tag_put_always_refused") or (
                        fault == "tag_put_refused" and not outer.hit.is_set())):
                    if fault == "tag_put_raced":
                        self._upstream(body)
                    outer.hit.set()
                    error = {"errors": [{"code": "DIGEST_INVALID", "message": "provided digest did not match "
                                                                              "uploaded content"}]}
                    return send(self, 400, {"Content-Type": "application/json"}, json.dumps(error).encode())
                if fault == "upload_stall" and self.command in ("PATCH", "PUT") and "/blobs/uploads/" in path:
                    return self._stall()
                if fault == "upload_fails_once" and self.command == "PUT" and "/blobs/uploads/" in path \
                        and not outer.hit.is_set():
                    outer.hit.set()
                    error = {"errors": [{"code": "UNAVAILABLE", "message": "storage backend busy"}]}
                    return send(self, 503, {"Content-Type": "application/json"}, json.dumps(error).encode())
                if fault == "tag_put_fails_once" and tag_put and outer.tag_puts_failed < 4:
                    outer.tag_puts_failed += 1  # BuildKit tries 4 times itself (1, 2, 4 s apart), then fails
                    outer.hit.set()
                    return send(self, 500, {"Content-Type": "application/json"}, b"")
                if fault == "upload_denied" and self.command == "PUT" and "/blobs/uploads/" in path:
                    outer.hit.set()
                    error = {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
                    return send(self, 403, {"Content-Type": "application/json"}, json.dumps(error).encode())
                if fault == "upload_slow" and self.command in ("PATCH", "PUT") and "/blobs/uploads/" in path:
                    started = time.monotonic()
                    time.sleep(0.5)
                    outer.intervals.append((started, time.monotonic(), path.split("/blobs/")[0]))
                    outer.hit.set()
                status, headers, data = self._upstream(body)
                by_tag = "/manifests/" in path and not path.rsplit("/", 1)[-1].startswith("sha256:")
                if self.command == "PUT" and by_tag and status in (200, 201):
                    outer.manifest_put = True  # the tag is written: an index's children went by digest first
                engine = any(name in self.headers.get("User-Agent", "") for name in ("docker/", "containerd/",
                                                                                        "buildkit/"))
                if (fault in ("target_wrong_digest", "stale_tag_for_readers") and outer.manifest_put and by_tag
                        and self.command in ("HEAD", "GET") and status == 200
                        and not (fault == "stale_tag_for_readers" and engine)):
                    outer.hit.set()
                    headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
                is_manifest = "/manifests/" in path and self.command == "GET" and status == 200
                is_blob = "/blobs/sha256:" in path and self.command == "GET" and status == 200
                if fault == "manifest_not_object" and is_manifest:
                    outer.hit.set()
                    data = b"[1, 2, 3]"
                    headers["Docker-Content-Digest"] = "sha256:" + __import__("hashlib").sha256(data).hexdigest()
                elif fault == "manifest_wrong_digest" and is_manifest:
                    outer.hit.set()
                    data = data.replace(b'"schemaVersion"', b'"schemaVersion" ', 1)  # same JSON, other bytes
                elif fault == "manifest_huge" and is_manifest:
                    outer.hit.set()
                    self.send_response(200)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(5 << 20))
                    self.end_headers()
                    self.wfile.write(data[:10])
                    self.wfile.flush()
                    return self._stall()
                elif fault == "manifest_endless" and is_manifest:
                    outer.hit.set()
                    self.send_response(200)
                    for key, value in headers.items():
                        if key.lower() != "docker-content-digest":
                            self.send_header(key, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * (256 << 10)
                    try:
                        for _ in range(40):  # 10 MiB at most, then the fault ends by itself
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    except OSError:
                        pass
                    self.close_connection = True
                    return None
                elif fault == "blob_corrupt" and is_blob and len(data) > 1000:
                    outer.hit.set()
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])  # same length, one bit pattern off
                elif fault == "blob_slow" and is_blob and len(data) > 1000:
                    started = time.monotonic()
                    time.sleep(1.0)
                    outer.intervals.append((started, time.monotonic()))
                    outer.hit.set()
                elif fault == "blob_unavailable" and is_blob and len(data) > 1000:
                    outer.hit.set()
                    error = {"errors": [{"code": "UNAVAILABLE", "message": "backend busy"}]}
                    return send(self, 503, {"Content-Type": "application/json", "Retry-After": "0"},
                                json.dumps(error).encode())
                elif fault in ("blob_reset", "blob_stall", "blob_trickle") and is_blob and len(data) > 1000:
                    self.send_response(200)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if fault == "blob_stall":
                        return self._stall()
                    if fault == "blob_trickle":
                        return self._trickle(data[len(data) // 2:])
                    outer.hit.set()
                    self.close_connection = True
                    return None
                return send(self, status, headers, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler


class ForwardProxy(LoopbackServer):
    """A plain HTTP forward proxy on loopback (absolute-URI requests; CONNECT refused), sending every
    request to one upstream registry whatever host it names. ``hosts_seen``: the hosts clients asked for."""

    def __init__(self, upstream: "Registry", credentials: str = ""):
        super().__init__()
        self.upstream = upstream
        self.hosts_seen: list = []
        self.credentials = credentials  # "user:password" a corporate proxy demands (407 without)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refused(self, handler) -> bool:
        """Answer 407 to a request without this proxy's credentials (Proxy-Authorization: Basic)."""
        import base64

        wanted = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if not self.credentials or handler.headers.get("Proxy-Authorization") == wanted:
            return False
        send(handler, 407, {"Proxy-Authenticate": 'Basic realm="corp"'}, b"")
        return True

    def handler_class(self):
        from urllib.parse import urlsplit

        outer = self

        class Handler(QuietHandler):
            def do_CONNECT(self):
                outer.hosts_seen.append(("CONNECT", self.path))
                if not outer.refused(self):
                    send(self, 405, {}, b"")

            def relay(self):
                if outer.refused(self):
                    return
                target = urlsplit(self.path)
                outer.hosts_seen.append((self.command, target.netloc))
                path = target.path + (f"?{target.query}" if target.query else "")
                send(self, *forward(self, outer.upstream.host, path, read_body(self)))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        return Handler


class TunnelProxy(ForwardProxy):
    """An HTTPS forward proxy on loopback: every CONNECT is tunnelled to one upstream (a TLS registry), whatever
    host it names, so a test can give a loopback registry a public name (an ACR host) without touching DNS."""

    def handler_class(self):
        import select

        outer = self

        class Handler(QuietHandler):
            def do_CONNECT(self):
                outer.hosts_seen.append(self.path)
                upstream = socket.create_connection(("127.0.0.1", outer.upstream.port), timeout=30)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                sockets = [self.connection, upstream]
                try:
                    for _ in range(1_000_000):  # bounded: ends when either side closes
                        readable, _, _ = select.select(sockets, [], [], 30)
                        if not readable:
                            return
                        for sock in readable:
                            try:
                                data = sock.recv(1 << 16)
                            except OSError:  # a side hung up hard: the tunnel is over
                                return
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()
                    self.close_connection = True

        return Handler


class LatencyRelay:
    """A TCP relay on a free loopback port that holds every byte ``delay`` seconds in each direction before
    passing it on to ``upstream_port``: a registry as far away as a WAN one (round trip 2 x delay). Bytes in
    flight are timestamped, not slept on one by one, so there is no cap on bandwidth unless ``rate`` (bytes per
    second) gives one: one link per direction, shared by all the relay's connections. For benchmarks."""

    def __init__(self, upstream_port: int, delay: float, rate: Optional[float] = None):
        import threading

        self.upstream_port = upstream_port
        self.delay = delay
        self.rate = rate
        self._links = {"up": [0.0, threading.Lock()], "down": [0.0, threading.Lock()]}  # when each link is free
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import threading

        for _ in range(100_000):  # bounded: ends when close() shuts the listener
            try:
                client, _ = self._listener.accept()
            except OSError:  # close() shut the listener
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            except OSError:  # upstream gone: this client is refused, the relay goes on
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for reader, writer, link in ((client, upstream, "up"), (upstream, client, "down")):
                # capped: 4 MiB held at most (more than a 1 Gbit/s link's bytes in flight over a 20 ms round trip),
                # so the sender feels the link as TCP makes it feel one
                held = queue.Queue(maxsize=64 if self.rate else 0)
                threading.Thread(target=self._read, args=(reader, held), daemon=True).start()
                threading.Thread(target=self._write, args=(writer, held, self._links[link]), daemon=True).start()

    def _read(self, sock, held) -> None:
        for _ in range(10_000_000):  # bounded: ends at end of stream
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            item = (time.monotonic() + self.delay, data)
            while not self._closed.is_set():  # a full link waits, until close()
                try:
                    held.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if not data or self._closed.is_set():
                return

    def _write(self, sock, held, link) -> None:
        for _ in range(10_000_000):
            due, data = held.get()
            if self.rate and data:  # the link carries these bytes after what it carries already
                with link[1]:
                    link[0] = max(link[0], due) + len(data) / self.rate
                    due = link[0]
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sock.shutdown(socket.SHUT_WR)
                    return
                sock.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


class Elsewhere(LoopbackServer):
    """Another host a hostile registry points at (an upload Location, a CDN, a tag list's next page): it records
    every request with its headers and answers as a foreign host with its own demands (a Bearer challenge on
    ``/cdn/``, a token on ``/token``, 404 otherwise)."""

    def __init__(self):
        super().__init__()
        self.seen: list = []  # (method, path, headers)

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                read_body(self)
                outer.seen.append((self.command, self.path, dict(self.headers.items())))
                if self.path.startswith("/cdn/"):
                    return send(self, 401, {"WWW-Authenticate": f'Bearer realm="http://{outer.host}/token",'
                                                                  'service="cdn"'}, b"")
                if self.path.startswith("/token"):
                    return send(self, 200, {"Content-Type": "application/json"}, b'{"token": "cdn-token"}')
                return send(self, 404, {}, b"")

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler


class CredentialTrap(LoopbackServer):
    """A registry in front of a real one that asks for Basic credentials, then tries to get them sent somewhere
    else, or echoes them, as a hostile or broken server may. Traps: ``upload_elsewhere`` (an upload session's
    Location on :class:`Elsewhere`), ``blob_cdn_401`` (blobs redirected to a CDN that asks for its own Bearer
    token), ``tags_elsewhere`` (the tag list's next page on another host), ``token_crlf`` (a Bearer challenge
    whose token holds CR/LF), ``echo_auth`` (403 echoing the Authorization header); over TLS (``tls``: make_tls's
    files, the trap reached as ``public`` through a :class:`TunnelProxy`): ``upload_http`` (the upload's Location
    on its own host in plain http, as a registry behind a TLS-terminating proxy answers) and ``realm_http`` (a
    Bearer realm in plain http on its own host). ``elsewhere`` records what reached the other host; as the
    tests' HTTP_PROXY it also records anything sent in clear."""

    def __init__(self, upstream: Optional["Registry"], trap: str, tls: Optional[dict] = None, public: str = ""):
        super().__init__()
        self.upstream, self.trap, self.public = upstream, trap, public or self.host
        if tls:
            import ssl

            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(str(tls["cert"]), str(tls["key"]))
        self.elsewhere = Elsewhere().start()

    def stop(self) -> None:
        self.elsewhere.stop()
        super().stop()

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                body = read_body(self)
                path, trap, other = self.path, outer.trap, outer.elsewhere.host
                if trap == "token_crlf":
                    if path.startswith("/token"):
                        return send(self, 200, {"Content-Type": "application/json"},
                                    json.dumps({"token": "abc\r\nX-Injected: yes"}).encode())
                    if not self.headers.get("Authorization", "").startswith("Bearer "):
                        return send(self, 401, {"WWW-Authenticate": f'Bearer realm="http://{outer.host}/token",'
                                                                      'service="trap"'}, b"")
                elif trap == "realm_http":
                    return send(self, 401, {"WWW-Authenticate": f'Bearer realm="http://{outer.public}/token",'
                                                                  'service="trap"'}, b"")
                elif not self.headers.get("Authorization", "").startswith("Basic "):
                    return send(self, 401, {"WWW-Authenticate": 'Basic realm="trap"'}, b"")
                if trap == "echo_auth":
                    echo = {"errors": [{"code": "DENIED", "message": "bad header: "
                                        f"Authorization: {self.headers['Authorization']} \x1b[2K\rall fine"}]}
                    return send(self, 403, {"Content-Type": "application/json"}, json.dumps(echo).encode())
                if trap == "upload_elsewhere" and self.command == "POST" and "/blobs/uploads/" in path:
                    return send(self, 202, {"Location": f"http://{other}/upload/session", "Content-Length": "0"}, b"")
                if trap == "upload_http" and self.command == "POST" and "/blobs/uploads/" in path:
                    return send(self, 202, {"Location": f"http://{outer.public}{path}session", "Content-Length": "0"},
                                b"")
                if trap == "blob_cdn_401" and self.command == "GET" and "/blobs/sha256:" in path:
                    return send(self, 307, {"Location": f"http://{other}/cdn{path}"}, b"")
                status, headers, data = forward(self, outer.upstream.host, path, body)
                if trap == "tags_elsewhere" and path.split("?")[0].endswith("/tags/list"):
                    headers["Link"] = f'<http://{other}{path.split("?")[0]}?n=1000&last=x>; rel="next"'
                return send(self, status, headers, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler


class MutatingRegistry(LoopbackServer):
    """Answers as a real registry would, but with the mutations a fuzz test chose: each a (request kind, aspect,
    value) applied to the answers of that kind (``times``: the first few, or all). Kinds: ``ping`` (``/v2/``),
    ``token``, ``manifest``, ``blob``, ``tags``. Aspects: ``status`` (the status replaced), ``header`` (a header
    set: ``(name, value)``, Content-Length included, whatever the body), ``body`` (the body replaced),
    ``json`` (a manifest's JSON with one field replaced, its Docker-Content-Digest made to agree).

    With ``upstream`` the answers are the real registry's; without, it plays a registry that asks for
    credentials (``auth``: ``basic`` or ``bearer``, the token service on itself) and holds nothing: the login
    path. ``seen`` counts the requests."""

    KINDS = ("ping", "token", "manifest", "blob", "tags")

    def __init__(self, mutations, upstream: Optional[Registry] = None, auth: str = "basic"):
        super().__init__()
        self.mutations = [list(m) for m in mutations]  # [kind, aspect, value, times left (None: always)]
        self.upstream, self.auth = upstream, auth
        self.seen = 0

    @staticmethod
    def kind_of(path: str) -> str:
        path = path.split("?")[0]
        if path.startswith("/token"):
            return "token"
        if path in ("/v2", "/v2/"):
            return "ping"
        for kind, marker in (("manifest", "/manifests/"), ("blob", "/blobs/sha256:"), ("tags", "/tags/list")):
            if marker in path:
                return kind
        return "other"

    def _plain_answer(self, handler, body: bytes):
        authorized = handler.headers.get("Authorization", "")
        path = handler.path.split("?")[0]
        if path.startswith("/token"):
            return 200, {"Content-Type": "application/json"}, b'{"token": "t0ken", "expires_in": 300}'
        if not authorized:
            challenge = 'Basic realm="fuzz"' if self.auth == "basic" else \
                f'Bearer realm="http://{self.host}/token",service="fuzz"'
            return 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, \
                b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}'
        return (200, {"Content-Type": "application/json"}, b"{}") if path in ("/v2", "/v2/") else (404, {}, b"")

    def handler_class(self):
        import hashlib

        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                outer.seen += 1
                body = read_body(self)
                if outer.upstream is not None:
                    status, headers, data = forward(self, outer.upstream.host, self.path, body)
                    location = headers.get("Location")
                    if location and location.startswith(f"http://{outer.upstream.host}"):
                        headers["Location"] = location.replace(outer.upstream.host, outer.host, 1)
                else:
                    status, headers, data = outer._plain_answer(self, body)
                kind = outer.kind_of(self.path)
                length = None
                for mutation in outer.mutations:
                    mkind, aspect, value, left = mutation
                    if mkind != kind or left == 0:
                        continue
                    if left is not None:
                        mutation[3] = left - 1
                    if aspect == "status":
                        status = value
                    elif aspect == "header":
                        name, text = value
                        if name.lower() == "content-length":
                            length = text
                        else:
                            headers[name] = text
                    elif aspect == "body":
                        data = value
                    elif aspect == "json" and kind == "manifest":
                        try:
                            document = json.loads(data)
                            field, replacement = value
                            if isinstance(document, dict):
                                document[field] = replacement
                            data = json.dumps(document).encode()
                            headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(data).hexdigest()
                        except ValueError:
                            pass
                self.send_response(status)
                for key, text in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, text)
                self.send_header("Content-Length", length if length is not None else str(len(data)))
                if length is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(data)
                    except OSError:
                        pass

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler
