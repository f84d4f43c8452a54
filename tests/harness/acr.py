"""A registry that answers as Alibaba Cloud Container Registry (ACR) does, in front of a real distribution
registry (plain, htpasswd or token auth: its auth is the upstream's, passed through).

ACR itself cannot be reached from the tests. What this reproduces, and where each behaviour is known from:

- **OCI artifacts are refused.** A manifest whose config is the empty descriptor
  (``application/vnd.oci.empty.v1+json``) or that carries an ``artifactType`` is answered with HTTP 403 and
  ``{"errors": [{"code": "DENIED", "message": "unknown manifest class for <config media type>"}]}``: the
  refusal buildx's provenance and SBOM attestations met in 2026 (issue #19; public reports:
  liangliangyy/DjangoBlog#1010, koordinator-sh/koordinator#3194, matrixorigin/matrixone-operator#613,
  cnrancher/hangar#238 for mirroring).
- **Namespaces exist only where declared.** A write (POST, PUT, PATCH) into a namespace the fixture did not
  declare is answered ``denied: requested access to the resource is denied`` with HTTP 403, at the first blob
  upload, as ACR answers a push into a namespace nobody created (docker/cli#4833: after ``Preparing``, before
  any layer). Repositories are created by the first push inside a declared namespace (ACR's default
  "automatically create repository" setting).
- **Immutable repositories**: a manifest PUT by tag over an existing tag of a repository declared immutable is
  refused with 403 ``DENIED``, message ``the tag <tag> of <repository> is immutable`` (ACR Enterprise's
  immutable-tag setting; its exact wording is not public, so only the code and the word "immutable" are
  relied on).
"""

import json
from typing import Iterable, Optional

from .servers import LoopbackServer, QuietHandler, forward, read_body, send

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def _denied(handler, message: str) -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": message, "detail": None}]}).encode()
    send(handler, 403, {"Content-Type": "application/json; charset=utf-8"}, body)


class AcrRegistry(LoopbackServer):
    """ACR's refusals in front of ``upstream`` (a harness Registry); see the module docstring."""

    def __init__(self, upstream, namespaces: Iterable[str], immutable: Iterable[str] = (), tls: Optional[dict] = None):
        """``tls``: make_tls's files; the double then speaks HTTPS (reached under an ``*.aliyuncs.com`` name
        through a TunnelProxy, as the tests reach "ACR"); the upstream stays plain HTTP on loopback."""
        super().__init__()
        self.tls = tls
        if tls:
            import ssl

            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(str(tls["cert"]), str(tls["key"]))
        self.upstream = upstream
        self.namespaces = set(namespaces)
        self.immutable = set(immutable)  # repositories ("ns/repo") whose tags cannot be overwritten
        self.refused: list = []  # (method, path, message) of every refusal, for the tests to read

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def users(self) -> dict:  # what RegistryWriter needs of a registry
        return self.upstream.users

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                path = self.path
                body = read_body(self)
                name = path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0] if path.startswith("/v2/") \
                    else ""
                namespace = name.split("/", 1)[0] if "/" in name else ""
                writes = self.command in ("POST", "PUT", "PATCH", "DELETE")
                if writes and namespace and namespace not in outer.namespaces:
                    return self._refuse("requested access to the resource is denied")
                if self.command == "PUT" and "/manifests/" in path:
                    problem = self._manifest_problem(body)
                    if problem:
                        return self._refuse(problem)
                    reference = path.rsplit("/", 1)[-1]
                    if name in outer.immutable and not reference.startswith("sha256:") and self._exists(path):
                        return self._refuse(f"the tag {reference} of {name} is immutable")
                status, headers, data = forward(self, outer.upstream.host, path, body)
                location = headers.get("Location")
                if location and location.startswith(f"http://{outer.upstream.host}"):
                    # relative, so it resolves against the name the client used (an *.aliyuncs.com one)
                    headers["Location"] = location[len(f"http://{outer.upstream.host}"):]
                send(self, status, headers, data)

            def _manifest_problem(self, body: bytes) -> str:
                try:
                    manifest = json.loads(body)
                except ValueError:
                    return ""
                if not isinstance(manifest, dict):
                    return ""
                config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
                media_type = config.get("mediaType", "")
                if media_type == EMPTY_CONFIG or manifest.get("artifactType"):
                    return f"unknown manifest class for {media_type or manifest.get('artifactType')}"
                return ""

            def _exists(self, path: str) -> bool:
                import http.client

                conn = http.client.HTTPConnection(outer.upstream.host, timeout=30)
                from .registries import MANIFEST_ACCEPT

                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                headers["Accept"] = MANIFEST_ACCEPT
                conn.request("HEAD", path, headers=headers)
                status = conn.getresponse().status
                conn.close()
                return status == 200

            def _refuse(self, message: str) -> None:
                outer.refused.append((self.command, self.path, message))
                _denied(self, message)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler
