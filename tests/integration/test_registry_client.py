"""The registry client's retry rules, against a deliberately flaky HTTP server on loopback."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from acrtasks.errors import RegistryError
from acrtasks.registry.client import RegistryClient



class Flaky:
    """Serves scripted status codes per path; records when each request came."""

    def __init__(self, script):
        self.script = {path: list(codes) for path, codes in script.items()}
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append((self.path, time.monotonic()))
                codes = outer.script.get(self.path, [200])
                code = codes.pop(0) if len(codes) > 1 else codes[0]
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hits(self, path):
        return [at for seen, at in self.seen if seen == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky():
    server = Flaky({"/v2/a": [503, 502, 200], "/v2/b": [429, 200], "/v2/c": [500], "/v2/d": [404],
                    "/v2/e": [401]})
    yield server
    server.close()


def test_transient_errors_are_retried(flaky):
    client = RegistryClient(flaky.host, backoff=0.05)
    assert client.request("GET", "/v2/a").status_code == 200
    assert len(flaky.hits("/v2/a")) == 3


def test_retry_after_is_honoured(flaky):
    client = RegistryClient(flaky.host, backoff=0.05)
    client.request("GET", "/v2/b")
    first, second = flaky.hits("/v2/b")
    assert second - first >= 0.9  # the server asked for 1 s, more than the 0.05 s backoff


def test_persistent_5xx_gives_up_after_three_tries(flaky):
    client = RegistryClient(flaky.host, backoff=0.05)
    with pytest.raises(RegistryError) as err:
        client.request("GET", "/v2/c")
    assert err.value.kind == "transient" and err.value.host == flaky.host
    assert len(flaky.hits("/v2/c")) == 3


def test_not_found_and_auth_are_not_retried(flaky):
    client = RegistryClient(flaky.host, backoff=0.05)
    with pytest.raises(RegistryError) as err:
        client.request("GET", "/v2/d")
    assert err.value.kind == "not_found" and len(flaky.hits("/v2/d")) == 1
    with pytest.raises(RegistryError) as err:
        client.request("GET", "/v2/e")
    assert err.value.kind == "auth"  # 401 without a challenge


def test_unreachable_registry_is_transient():
    from harness import free_port

    client = RegistryClient(f"127.0.0.1:{free_port()}", backoff=0.01)
    with pytest.raises(RegistryError) as err:
        client.request("GET", "/v2/")
    assert err.value.kind == "transient"


class PagedTags:
    """Answers ``/v2/x/tags/list`` one tag a page, each page linking to the next, ``pages`` pages (None: forever)."""

    def __init__(self, pages):
        self.seen = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.seen += 1
                page = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
                body = b'{"name": "x", "tags": ["t%d"]}' % page
                self.send_response(200)
                if pages is None or page + 1 < pages:
                    self.send_header("Link", f'</v2/x/tags/list?n=1000&page={page + 1}>; rel="next"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("pages", [3, None])
def test_a_tag_list_is_read_page_by_page_and_one_that_never_ends_is_an_error_not_a_cut(pages):
    """A cut list would let a tag rule's "newest" be an older tag: past 50 pages it is refused, after 50 requests."""
    server = PagedTags(pages)
    try:
        client = RegistryClient(server.host, tries=1)
        if pages:
            assert client.tags("x") == ["t0", "t1", "t2"]
        else:
            with pytest.raises(RegistryError, match="the tag list goes on past 50 pages") as raised:
                client.tags("x")
            assert raised.value.kind.value == "integrity"
            assert server.seen == 50
    finally:
        server.server.shutdown()
        server.server.server_close()
