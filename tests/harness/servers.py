"""The HTTP plumbing of the fakes and proxies: a quiet handler, a loopback server, bodies read and forwarded."""

from http.server import BaseHTTPRequestHandler

from .processes import free_port


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as clients expect of a registry), no request log on stderr.

    A request line it cannot read (a TLS ClientHello: Docker 26's containerd image store tries https first
    even for a loopback registry) is answered with a status line, as Go's net/http server does. Python's
    default treats such a line as HTTP/0.9 and sends a bare body, which Go's TLS client reports as "first
    record does not look like a TLS handshake" and does not fall back to plain http on."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"

    def log_message(self, *args):
        pass


class LoopbackServer:
    """A small HTTP server on a free loopback port, with what the fake registries and proxies share:
    reading a request body (chunked or not), forwarding a request to a real registry, sending an answer.
    Handler threads are daemons, so a stalled answer never holds up ``stop``."""

    ssl_context = None  # set by a server that speaks TLS (the ACR double): the listening socket is wrapped

    def __init__(self):
        self.port = free_port()
        self._server = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handler_class(self):  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def start(self):
        import threading
        from http.server import ThreadingHTTPServer

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", self.port), self.handler_class())
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def read_body(handler) -> bytes:
    """The request body of a BaseHTTPRequestHandler, with or without chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    data = b""
    while True:
        size = int(handler.rfile.readline().strip().split(b";")[0], 16)
        if size == 0:
            handler.rfile.readline()
            return data
        data += handler.rfile.read(size)
        handler.rfile.readline()


_HOP_BY_HOP = ("host", "transfer-encoding", "content-length", "connection", "proxy-connection")


def forward(handler, upstream_host: str, path: str, body: bytes):
    """Send the handler's request to ``upstream_host``; return (status, headers, body) of the answer."""
    import http.client

    conn = http.client.HTTPConnection(upstream_host, timeout=30)
    headers: dict = {}
    for key, value in handler.headers.items():  # a header sent several times (Go sends Accept so) is joined,
        if key.lower() not in _HOP_BY_HOP:       # as HTTP allows, not cut to its last value
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    headers["Content-Length"] = str(len(body))
    conn.request(handler.command, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
    conn.close()
    return response.status, out, data


def send(handler, status: int, headers: dict, body: bytes) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class SilentServer:
    """A loopback port that accepts connections and never answers (a registry behind a dead backend, a
    black-holing proxy). Holds what it accepted until ``stop``; bounded: one accepting daemon thread."""

    def __init__(self):
        import socket

        self.port = free_port()
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", self.port))
        self._socket.listen(64)
        self._held = []
        self._stopped = False

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "SilentServer":
        import threading

        def accept() -> None:
            while not self._stopped:
                try:
                    self._held.append(self._socket.accept()[0])
                except OSError:  # closed by stop
                    return

        threading.Thread(target=accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._socket.close()
        for connection in self._held:
            connection.close()


def gzip_bomb(mib: int) -> bytes:
    """``mib`` MiB of zeros gzip'd (about a thousandth of that): a body that decodes to far more than it is."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    zeros = b"\0" * (1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(mib)), packer.flush()])
