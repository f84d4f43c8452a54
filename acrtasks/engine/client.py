"""The Docker engine, through docker-py: connect, build, tag, inspect, history, push.

docker-py is imported inside functions only, so that ``import acrtasks``,
``inv --list`` and ``inv test-naming`` never pay for it.

Everything here speaks in refs and plan steps and reports through callbacks;
deciding what to do and printing it belongs to ``builder`` and ``pusher``.
"""

import os
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, List, Optional, Tuple

from ..errors import ARTIFACT_REFUSED, BuildFailed, EngineError, EngineUnavailable, Kind, PushFailed
from ..naming import ImageRef, digest_problem
from ..util.text import printable

#: How many log lines a failed build keeps to show in the summary.
LOG_TAIL = 12
#: History entries read per image (an image has at most 127 layers; the rest are metadata steps).
MAX_HISTORY = 1000


# Substrings of registry and daemon errors, lower case, by kind. Order matters:
# an immutable-tag refusal often also says "denied".
_ERROR_KINDS = (
    (Kind.IMMUTABLE, ("cannot be overwritten", "tag already exists", "immutable")),
    (Kind.AUTH, ("unauthorized", "authentication required", "denied", "no basic auth credentials",
              "401", "403", "forbidden")),
    (Kind.TRANSIENT, ("connection refused", "connection reset", "timeout", "timed out", "eof", "toomanyrequests",
                   "too many requests", "429", "500", "502", "503", "504", "internal server error",
                   "bad gateway", "service unavailable", "temporarily", "broken pipe", "no route to host",
                   # Two pushes sharing a layer into one repository race in the engine (moby/moby#9132,
                   # #22854): the manifest finds a blob missing; pushed again, every layer is there.
                   "manifest blob unknown", "blob unknown to registry")),
)


def classify_push_error(message: str) -> Kind:
    text = message.lower()
    if ARTIFACT_REFUSED in text:
        return Kind.OTHER
    if "/manifests/" in text and "400 bad request" in text:
        # the containerd image store reports the race above (moby#9132) as a bare "unexpected status from PUT
        # request to .../manifests/<tag>: 400 Bad Request", without distribution's MANIFEST_BLOB_UNKNOWN
        return Kind.TRANSIENT
    for kind, needles in _ERROR_KINDS:
        if any(_mentions(text, needle) for needle in needles):
            return kind
    return Kind.OTHER


def stream_error(chunk: dict, default: str) -> str:
    """The error of an engine stream's chunk, made safe to show and store: the engine relays the registry's
    words, which may echo a credential or carry terminal escapes, and need not be a string."""
    detail = chunk.get("errorDetail")
    message = (detail.get("message") if isinstance(detail, dict) else None) or chunk.get("error") or default
    return printable(str(message)).strip()[:2000]


def _mentions(text: str, needle: str) -> bool:
    """A status code counts as a whole number only: the port in ``127.0.0.1:40365`` is no 403."""
    if needle.isdigit():
        return re.search(rf"(?<![\d.:]){needle}(?!\d)", text) is not None
    return needle in text


@dataclass
class PushProgress:
    """Bytes done and total over the layers of one push, as the engine reports them."""

    layers: Dict[str, List[int]] = field(default_factory=dict)  # layer id -> [current, total]
    done_layers: int = 0
    accepted: bool = False  # the registry took an upload or a mount: it lets our credentials push

    def update(self, chunk: dict) -> None:
        layer, status = chunk.get("id"), str(chunk.get("status") or "")
        detail = chunk.get("progressDetail") or {}
        if not layer or len(layer) < 8:
            return
        if status in ("Pushing", "Pushed") or status.startswith("Mounted from"):
            self.accepted = True
        entry = self.layers.setdefault(layer, [0, 0])
        if detail.get("total"):
            entry[0], entry[1] = detail.get("current", 0), detail["total"]
        if status in ("Pushed", "Layer already exists") or status.startswith("Mounted from"):
            self.done_layers += 1
            entry[0] = entry[1] = max(entry[1], entry[0])

    @property
    def current(self) -> int:
        return sum(c for c, _ in self.layers.values())

    @property
    def total(self) -> int:
        return sum(t for _, t in self.layers.values())


#: The push stream's last status line, ``<tag>: digest: sha256:... size: N``: the only place the containerd image
#: store (Docker 26 with containerd-snapshotter) reports the digest; the classic store also sends an ``aux`` record.
_PUSHED = re.compile(r"(?:^|\s)digest: (\S+) size: \d+\s*\Z")


def pushed_digest(chunk: dict) -> Optional[str]:
    """The manifest digest one push-stream record reports, if any: ``aux.Digest``, else the status line."""
    aux = chunk.get("aux")
    if isinstance(aux, dict) and isinstance(aux.get("Digest"), str) and aux["Digest"]:
        return aux["Digest"]
    status = chunk.get("status")
    match = _PUSHED.search(status) if isinstance(status, str) and len(status) < 1024 else None
    return match.group(1) if match else None


def _endpoint() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class Engine:
    """A connected Docker engine."""

    def __init__(self, api):
        self.api = api  # docker.APIClient
        self._containerd_store: Optional[bool] = None  # asked of the engine on first use

    @classmethod
    def connect(cls, ping_timeout: int = 15, timeout: int = 3600) -> "Engine":
        """Connect like the docker CLI: $DOCKER_HOST (and TLS vars), else the current docker context.

        The ping fails fast; afterwards a long read timeout lets a silent build step (a long
        compile) or a slow push run without being cut off.
        """
        import docker
        from docker.errors import DockerException

        endpoint = _endpoint()
        try:
            api = None
            if not os.environ.get("DOCKER_HOST"):
                from docker.context import ContextAPI

                context = ContextAPI.get_current_context()
                if context is not None and context.name != "default" and context.Host:
                    endpoint = context.Host
                    api = docker.APIClient(base_url=context.Host, tls=context.TLSConfig, timeout=ping_timeout)
            if api is None:
                api = docker.from_env(timeout=ping_timeout).api
            api.ping()
        except DockerException as exc:
            reason = str(exc).split("(Caused by")[0].strip()
            raise EngineUnavailable(
                f"cannot reach the Docker engine at {endpoint} ({reason[:160]}); "
                "start dockerd, or point DOCKER_HOST at a running engine"
            ) from None
        except Exception as exc:  # requests' connection errors escape DockerException on ping
            raise EngineUnavailable(
                f"cannot reach the Docker engine at {endpoint} ({type(exc).__name__}); "
                "start dockerd, or point DOCKER_HOST at a running engine"
            ) from None
        api.timeout = timeout
        return cls(api)

    @property
    def containerd_store(self) -> bool:
        """Whether the engine keeps images in containerd (Docker Desktop's default, Docker 24+ with the
        ``containerd-snapshotter`` feature): there an image id is its manifest's (or index's) digest, not its
        config's, and ``docker load`` names images from an OCI ``index.json`` before ``manifest.json``."""
        if self._containerd_store is None:
            from docker.errors import DockerException

            try:
                status = self.api.info().get("DriverStatus") or []
            except (DockerException, OSError, AttributeError):
                status = []
            self._containerd_store = any(isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] ==
                                         "driver-type" and str(pair[1]).startswith("io.containerd.snapshotter")
                                         for pair in status)
        return self._containerd_store

    # -- images ---------------------------------------------------------------------------

    def image_id(self, ref: ImageRef) -> Optional[str]:
        """The id of the local image ``ref``, or None when the engine does not have it."""
        from docker.errors import ImageNotFound, NotFound

        try:
            return self.api.inspect_image(str(ref))["Id"]
        except (ImageNotFound, NotFound):
            return None

    def images_labelled(self, repository: str, label: str, value: str) -> List[dict]:
        """The local images of ``repository`` whose ``label`` is ``value`` (``docker images --filter label=``)."""
        from docker.errors import APIError, DockerException

        try:
            found = self.api.images(name=repository, filters={"label": f"{label}={value}"})
        except (APIError, DockerException, OSError) as exc:
            raise EngineError(f"listing images of {repository}: {(getattr(exc, 'explanation', None) or exc)}") \
                from None
        return [image for image in found if isinstance(image, dict)] if isinstance(found, list) else []

    def facts(self, image_id: str) -> Tuple[Dict[str, str], str]:
        """The image's labels (its config's) and its platform, ``os/arch[/variant]``."""
        from docker.errors import APIError, DockerException

        try:
            image = self.api.inspect_image(image_id)
        except (APIError, DockerException, OSError) as exc:
            raise EngineError(f"inspecting {image_id}: {(getattr(exc, 'explanation', None) or exc)}") from None
        labels = (image.get("Config") or {}).get("Labels") or {}
        platform = "/".join(str(part) for part in (image.get("Os"), image.get("Architecture"), image.get("Variant"))
                            if part)
        return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}, platform

    def pull(self, ref: ImageRef) -> str:
        """Pull ``ref`` with the docker config's credentials; return the local image id."""
        from docker.errors import APIError, DockerException

        try:
            for chunk in self.api.pull(ref.locator, tag=ref.reference, stream=True,
                                       decode=True):
                if "error" in chunk or "errorDetail" in chunk:
                    raise EngineError(f"pull {ref}: {stream_error(chunk, 'pull failed')}")
        except APIError as exc:
            raise EngineError(f"pull {ref}: {printable(str(exc.explanation or exc)).strip()}") from None
        except (DockerException, OSError) as exc:
            raise EngineError(f"pull {ref}: {exc}") from None
        image_id = self.image_id(ref)
        if image_id is None:
            raise EngineError(f"pull {ref}: the engine reported success but has no such image")
        return image_id

    def tag(self, image_id: str, ref: ImageRef) -> None:
        self.api.tag(image_id, ref.locator, ref.tag or "latest", force=True)

    def history(self, image_id: str) -> List[Tuple[str, int]]:
        """What made each step of the image and the bytes it added, oldest first (``docker history``).

        A base image's steps are copied verbatim into every image built on it,
        so two histories' common start is their shared layers. Only a hint for
        ordering pushes: an entry of an unexpected shape counts as 0 bytes.
        """
        from docker.errors import APIError, DockerException

        try:
            entries = self.api.history(image_id)
        except (APIError, DockerException, OSError) as exc:
            raise EngineError(f"history of {image_id}: {(getattr(exc, 'explanation', None) or exc)}") from None
        if not isinstance(entries, list):
            return []
        steps = []
        for entry in reversed(entries[-MAX_HISTORY:]):  # oldest first: the shared start survives the cap
            entry = entry if isinstance(entry, dict) else {}
            size = entry.get("Size")
            steps.append((f"{entry.get('Created')} {entry.get('CreatedBy')}",
                          size if isinstance(size, int) and size > 0 else 0))
        return steps

    # -- build ----------------------------------------------------------------------------

    def build(self, step, no_cache: bool, on_line: Callable[[str], None]) -> str:
        """Build ``step`` (a plan.BuildStep) tagged with its local ref; return the image id."""
        from docker.errors import APIError

        tail: Deque[str] = deque(maxlen=LOG_TAIL)
        current_step = ""
        image_id = None
        error = None
        try:
            stream = self.api.build(
                path=str(step.context),
                dockerfile=step.dockerfile,
                tag=str(step.local_ref),
                buildargs=step.build_args,
                labels=step.labels,
                target=step.target or None,
                nocache=no_cache,
                network_mode=step.network or None,
                platform=step.platforms[0] if step.platforms else None,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "stream" in chunk:
                    for line in chunk["stream"].splitlines():
                        if not line.strip():
                            continue
                        if line.startswith("Step "):
                            current_step = line
                        tail.append(line)
                        on_line(line)
                if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                if "error" in chunk or "errorDetail" in chunk:
                    error = stream_error(chunk, "build failed")
                    tail.append(error)
                    on_line(error)
        except APIError as exc:
            error = printable(str(exc.explanation or exc))
        if error:
            raise BuildFailed(error.strip(), current_step, list(tail))
        if image_id is None:
            image_id = self.image_id(step.local_ref)
        if image_id is None:  # pragma: no cover - an engine that neither failed nor produced an image
            raise BuildFailed("the engine reported no image", current_step, list(tail))
        return image_id

    # -- push -----------------------------------------------------------------------------

    def push(self, ref: ImageRef, on_progress: Callable[[PushProgress], None]) -> str:
        """Push ``ref`` once with the docker config's credentials; return the manifest digest.

        docker-py does not raise on an error inside the push stream, so each
        chunk is checked for ``error``/``errorDetail``.
        """
        from docker.errors import APIError, DockerException

        progress = PushProgress()
        digest = None
        try:
            for chunk in self.api.push(ref.locator, tag=ref.tag or "latest", stream=True, decode=True):
                if "error" in chunk or "errorDetail" in chunk:
                    message = stream_error(chunk, "push failed")
                    raise PushFailed(message, classify_push_error(message), ref.host)
                digest = pushed_digest(chunk) or digest
                progress.update(chunk)
                on_progress(progress)
        except APIError as exc:
            message = printable(str(exc.explanation or exc))
            raise PushFailed(message, classify_push_error(message), ref.host) from None
        except DockerException as exc:
            raise PushFailed(str(exc), Kind.TRANSIENT, ref.host) from None
        except OSError as exc:  # the connection to the engine dropped mid-stream
            raise PushFailed(str(exc), Kind.TRANSIENT, ref.host) from None
        if not digest:
            raise PushFailed("the engine finished the push without reporting a digest", Kind.OTHER, ref.host)
        problem = digest_problem(digest)
        if problem:
            raise PushFailed(f"the engine reported the digest {digest[:80]!r}, which {problem}", Kind.OTHER, ref.host)
        return digest

