"""Every error acrtasks raises on purpose, and the hints they carry.

Tasks turn these into one line and an exit code at a single boundary
(``acrtasks.tasks.common.boundary``); anything else is a bug and may traceback.
Each error has a :class:`Kind`, which decides retries (``transient``) and
which hint a message gets (``auth``: log in again).
"""

import enum
from typing import List, Optional, Sequence

from .acr import is_acr_host


class Kind(str, enum.Enum):
    """What sort of failure an error is; a ``str`` so that ``exc.kind == "auth"`` reads naturally."""

    AUTH = "auth"  # credentials missing, refused or expired
    NOT_FOUND = "not_found"
    TRANSIENT = "transient"  # worth retrying: connection reset, timeout, 429, 5xx
    TLS = "tls"
    IMMUTABLE = "immutable"  # the registry refuses to overwrite a tag
    INTEGRITY = "integrity"  # content does not hash to its digest
    BAD_INPUT = "bad_input"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


class AcrError(Exception):
    """Base of all user-facing errors: one line, no traceback."""

    #: 2: bad input or configuration, nothing attempted. 1: an operation failed.
    exit_code = 1
    kind: Kind = Kind.OTHER


class UsageError(AcrError):
    """A flag, environment variable, file or argument has a bad value."""

    exit_code = 2
    kind = Kind.BAD_INPUT


class ConfigError(UsageError):
    """build.toml (or a file it names) is missing, unreadable or invalid."""


class NamingError(UsageError):
    """A registry, image reference, tag or component name breaks the naming rules."""


class PreflightError(UsageError):
    """Something the plan needs is missing; nothing was done."""


class RegistryPreflightError(AcrError):
    """Before anything was done, a registry refused, could not be reached, or lacks what the plan needs: exit 1,
    as when the same failure is met midway (docs/tasks.md's exit codes), though nothing was attempted."""


class EngineUnavailable(AcrError):
    """The Docker engine cannot be reached."""


class OperationFailed(AcrError):
    """One or more builds or pushes failed (details were already printed)."""


class Interrupted(AcrError):
    """Ctrl-C: what was in flight was abandoned; exit code 130 like a shell. ``finished``: the results that were."""

    exit_code = 130

    def __init__(self, message: str = "", finished: Sequence = ()):
        super().__init__(message)
        self.finished = list(finished)


class LocalSystemError(AcrError):
    """The local system refused: a full disk, a read-only or impossible path."""


class BundleError(AcrError):
    """An offline bundle is missing, truncated, corrupt or not one of ours; nothing was imported."""

    kind = Kind.INTEGRITY


class EngineError(AcrError):
    """The Docker engine refused or failed an image transfer (save, load, pull)."""


class CredentialError(AcrError):
    """A credential helper failed or answered nonsense, or config.json cannot be read or written."""


class BuildFailed(AcrError):
    """The engine reported a build error; ``step`` and ``tail`` say where. ``transient``: a registry's 5xx
    while the build pulled or pushed, worth another try (the build cache makes it cheap)."""

    def __init__(self, message: str, step: str, tail: List[str], kind: Kind = Kind.OTHER):
        super().__init__(message)
        self.step = step
        self.tail = tail
        self.kind = Kind(kind)


class PushFailed(AcrError):
    """An engine push did not complete."""

    def __init__(self, message: str, kind: Kind, host: str = ""):
        super().__init__(message)
        self.kind = Kind(kind)
        self.host = host


class RegistryError(AcrError):
    """A registry request failed; ``host`` is the registry at fault, ``status`` its HTTP answer if any."""

    def __init__(self, message: str, kind: Kind = Kind.OTHER, status: Optional[int] = None, host: str = "",
                 retry_after: Optional[str] = None):
        super().__init__(message)
        self.kind = Kind(kind)
        self.status = status
        self.host = host
        self.retry_after = retry_after  # a 429's or 503's Retry-After, for whichever layer retries next


class NotFound(RegistryError):
    """The registry has no such repository, tag, manifest or blob (404): for many callers an answer, not a
    failure (no record yet, a blob to upload)."""

    def __init__(self, message: str, status: Optional[int] = 404, host: str = ""):
        super().__init__(message, Kind.NOT_FOUND, status, host=host)


def login_hint(host: str, message: str = "") -> str:
    """The fix for an auth failure at ``host``, with ACR's own two look-alike causes spelled out.

    ACR answers a push into a namespace that does not exist with the same bare
    ``denied: requested access to the resource is denied`` as a missing push
    right, and its temporary tokens expire after an hour.
    """
    command = f"`inv login --registry {host}`"
    if not is_acr_host(host):
        return f"run {command}"
    text = message.lower()
    if "denied" in text and "unauthorized" not in text:
        return (f"on ACR this means either the namespace does not exist (namespaces are not created on push: "
                f"create it in the ACR console) or the account may not push there (run {command} with one "
                "that may)")
    return (f"run {command}; an ACR temporary token lasts one hour, so fetch a fresh one and pass it with "
            "--password-stdin")


#: ACR's answer to an OCI artifact (buildx's attestations): a 403 "denied" that is no matter of credentials.
ARTIFACT_REFUSED = "unknown manifest class"
ARTIFACT_FIX = "the registry refuses OCI artifacts (attestations): pass --attestations drop (or set [registry] " \
               "attestations = \"drop\")"


def explain(exc: AcrError) -> str:
    """The error's message, with the way out: log in when a registry refused our credentials, drop the
    attestations when it refused an OCI artifact (ACR, and any registry answering as it does)."""
    if ARTIFACT_REFUSED in str(exc).lower():
        return f"{exc}; {ARTIFACT_FIX}"
    if isinstance(exc, (RegistryError, PushFailed)) and exc.kind == Kind.AUTH:
        return f"{exc}; {login_hint(exc.host, str(exc))}"
    return str(exc)
