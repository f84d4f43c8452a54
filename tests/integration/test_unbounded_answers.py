"""Answers the client does not stream (a ping, a 401, an error) are read up to 1 MiB and no longer than the
request's time: an endless chunked body, a gzip bomb and an endless 401 reached 1.5 GiB in seconds before.

The client runs in a child process that reports its own peak RSS against a child that pings a normal registry,
measured in the same run (the way test_manifest_memory.py measures manifests)."""

import http.server
import threading
import time
from pathlib import Path

import pytest
from harness import gzip_bomb, peak_rss_child

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from acrtasks.registry.client import RegistryClient
try:
    RegistryClient(sys.argv[1], tries=1).check_login()
    print("answered")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def serve(shape: str):
    bomb = gzip_bomb(512) if shape == "gzip" else b""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            status = 401 if shape == "endless401" else 200
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="x"')
            try:
                if shape == "normal":
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                elif shape == "gzip":
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                elif shape == "trickle":
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(1000):  # a byte every 0.2 s: 200 s, unless the client gives up
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.2)
                else:  # endless (and endless401): chunked, 1 GiB at most, then the fault ends by itself
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    piece = b"x" * (1 << 20)
                    for _ in range(1024):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:  # the client hung up once it had enough: the point
                self.close_connection = True

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _child(host: str, timeout: str = "60"):
    started = time.monotonic()
    lines, peak = peak_rss_child(CHILD, host, cwd=REPO, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                                                            "ACRTASKS_REGISTRY_TIMEOUT": timeout})
    return lines[0], peak, time.monotonic() - started


@pytest.mark.parametrize("shape", ["endless", "gzip", "endless401"])
def test_an_answer_that_never_ends_or_explodes_is_read_within_the_bound(shape):
    normal, server = serve("normal"), serve(shape)
    try:
        outcome, baseline, _ = _child(f"127.0.0.1:{normal.server_address[1]}")
        assert outcome == "answered"
        outcome, peak, _ = _child(f"127.0.0.1:{server.server_address[1]}")
        assert peak - baseline < 24, f"{shape}: peak RSS {peak} MiB against {baseline} MiB ({outcome})"
    finally:
        for each in (normal, server):
            each.shutdown()
            each.server_close()


def test_a_trickling_answer_is_not_waited_on_past_the_requests_time():
    server = serve("trickle")
    try:
        outcome, _, took = _child(f"127.0.0.1:{server.server_address[1]}", timeout="3")
        assert took < 3 + 4, f"{took:.1f} s for a request given 3 s ({outcome})"
    finally:
        server.shutdown()
        server.server_close()
