"""A registry with the OCI 1.1 Referrers API, in front of a real distribution registry (2.8 has none).

What it adds, as the OCI distribution spec 1.1 says ("Listing Referrers", "Pushing Manifests with Subject"):
a manifest PUT whose body names a ``subject`` is stored upstream and answered with the header ``OCI-Subject:
<the subject's digest>`` (so a client knows the registry indexed it and writes no referrers tag); ``GET
/v2/<name>/referrers/<digest>`` answers an OCI image index of every such manifest's descriptor (its mediaType,
digest, size, artifactType and annotations), filtered by ``?artifactType=`` with the ``OCI-Filters-Applied``
header, and paged when ``page_size`` is set (``Link: <...?page=K>; rel="next"``, as the spec lets a registry
page it). Everything else is passed through.

A test may write ``referrers`` itself (a hostile list), and ``link``: a Link header sent on every page as it
is (a next page elsewhere, or one that never ends).
"""

import hashlib
import json
import threading
from urllib.parse import parse_qs, urlsplit

from .servers import LoopbackServer, QuietHandler, forward, read_body, send

INDEX = "application/vnd.oci.image.index.v1+json"


class ReferrersRegistry(LoopbackServer):
    def __init__(self, upstream):
        super().__init__()
        self.upstream = upstream
        self.referrers: dict = {}  # (repository, subject digest) -> [descriptor]
        self.lock = threading.Lock()
        self.listed = 0  # how many times the Referrers API was asked
        self.page_size = None  # None: the whole list in one answer
        self.link = None  # a Link header for every page, instead of the pages' own
        self.tls = None  # plain HTTP on loopback, as its upstream

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def users(self) -> dict:
        return self.upstream.users

    def handler_class(self):
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                path, body = self.path, read_body(self)
                parts = urlsplit(path)
                if self.command == "GET" and "/referrers/" in parts.path:
                    name, digest = parts.path[len("/v2/"):].split("/referrers/", 1)
                    wanted = parse_qs(parts.query).get("artifactType", [])
                    with outer.lock:
                        outer.listed += 1
                        found = list(outer.referrers.get((name, digest), []))
                    headers = {"Content-Type": INDEX}
                    if wanted:
                        found = [d for d in found if d.get("artifactType") in wanted]
                        headers["OCI-Filters-Applied"] = "artifactType"
                    if outer.page_size:
                        page = int(parse_qs(parts.query).get("page", ["0"])[0])
                        if len(found) > (page + 1) * outer.page_size:
                            headers["Link"] = f'<{parts.path}?page={page + 1}>; rel="next"'
                        found = found[page * outer.page_size:(page + 1) * outer.page_size]
                    if outer.link:
                        headers["Link"] = outer.link
                    return send(self, 200, headers, json.dumps({"schemaVersion": 2, "mediaType": INDEX,
                                                                "manifests": found}).encode())
                status, headers, data = forward(self, outer.upstream.host, path, body)
                if self.command == "PUT" and "/manifests/" in parts.path and status in (200, 201):
                    subject = _subject(body)
                    if subject:
                        name = parts.path[len("/v2/"):].split("/manifests/")[0]
                        manifest = json.loads(body)
                        descriptor = {"mediaType": manifest.get("mediaType") or self.headers.get("Content-Type"),
                                      "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}
                        artifact = manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType")
                        if artifact:
                            descriptor["artifactType"] = artifact
                        if manifest.get("annotations"):
                            descriptor["annotations"] = manifest["annotations"]
                        with outer.lock:
                            known = outer.referrers.setdefault((name, subject), [])
                            if descriptor["digest"] not in [d["digest"] for d in known]:
                                known.append(descriptor)
                        headers["OCI-Subject"] = subject
                location = headers.get("Location")
                if location and location.startswith(f"http://{outer.upstream.host}"):
                    headers["Location"] = location[len(f"http://{outer.upstream.host}"):]
                send(self, status, headers, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        return Handler


def _subject(body: bytes) -> str:
    try:
        manifest = json.loads(body)
    except ValueError:
        return ""
    subject = manifest.get("subject") if isinstance(manifest, dict) else None
    return subject.get("digest", "") if isinstance(subject, dict) else ""
