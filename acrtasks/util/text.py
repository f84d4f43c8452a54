"""Text from outside (a registry's error, an index's platform, a bundle's name) made safe to show and store."""

import re

# A credential after "Basic"/"Bearer": 8 or more token characters, not all lowercase letters (docker's own
# "no basic auth credentials" and "Basic authentication" stay as they are).
CREDENTIAL = re.compile(r"\b([Bb]asic|[Bb]earer|BASIC|BEARER)\s+(?=[A-Za-z0-9._~+/=-]*[A-Z0-9+/=])"
                        r"[A-Za-z0-9._~+/=-]{8,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def redacted(text: str) -> str:
    """``Basic <secret>`` and ``Bearer <token>`` an answer echoes, shown as ``Basic ***``."""
    return CREDENTIAL.sub(lambda match: f"{match.group(1)} ***", text)


def printable(text: str) -> str:
    """Credentials redacted, control characters escaped (``\\x1b[2K\\r`` could erase an error line on a terminal
    or in a CI log and print something else over it)."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", redacted(text))
