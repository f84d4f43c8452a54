"""A manifest far over 4 MiB is refused without being held in memory, whatever shape its body has.

A source answers a 100 MB manifest with a Content-Length, chunked, with neither (the connection closes at
the end), and as a gzip bomb (256 MiB of zeros in about 256 KiB, ``Content-Encoding: gzip``). The client
runs in a child process that reports its own peak RSS; a child reading a small manifest the same way is
the baseline, measured in the same run. Measured here: at most 4 MiB over the baseline for every shape with
urllib3 2.8; with urllib3 1.26, 128 MiB for the gzip bomb (hence ``urllib3>=2.6``: bounded decoding).
"""

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
from harness import gzip_bomb, peak_rss_child


REPO = Path(__file__).resolve().parents[2]
BIG = 100 << 20
CHILD = """
import sys
from acrtasks.copy.remote import RegistrySource
from acrtasks.registry.client import RegistryClient
try:
    RegistrySource(RegistryClient(sys.argv[1]), "x/app").manifest(sys.argv[2])
    print("read")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


class _Source(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def source():
    small = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {}, "layers": []}).encode()
    big = b'{"schemaVersion": 2, "pad": "' + b"a" * BIG + b'"}'
    bomb = gzip_bomb(256)
    assert len(bomb) < 1 << 20

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/v2/":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            shape = self.path.rsplit("/", 1)[-1]
            body = small if shape == "small" else big
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
            try:
                if shape in ("small", "length"):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif shape == "gzip":
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                elif shape == "close":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                else:  # chunked
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 1 << 20):
                        piece = body[start:start + (1 << 20)]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client hung up once it had seen enough: that is the point
                self.close_connection = True

    server = _Source(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _child(host: str, shape: str):
    lines, peak = peak_rss_child(CHILD, host, shape, cwd=REPO, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    return lines[0], peak  # MiB


@pytest.mark.parametrize("shape", ["length", "chunked", "close", "gzip"])
def test_a_huge_manifest_is_refused_within_the_bound(source, shape):
    outcome, baseline = _child(source, "small")
    assert outcome == "read"
    outcome, peak = _child(source, shape)
    assert "larger than 4 MiB" in outcome, outcome
    # 4 MiB may be read, plus a chunk and the decoder's window; 100 MB (or 256 MiB unpacked) may not
    assert peak - baseline < 16, f"{shape}: peak RSS {peak} MiB against {baseline} MiB for a small manifest"
