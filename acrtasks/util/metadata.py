"""The ``--metadata-file``: JSON per component, in the spirit of ``docker buildx bake --metadata-file``.

Chained tasks share one file: ``build`` writes refs and image ids, ``push``
adds digests. Each task merges into what is there rather than replacing it.

    {"backend": {"refs": [...], "image.id": "sha256:...", "build": {"status": "ok", "seconds": 3.1},
                 "push": {"<ref>": {"status": "pushed", "digest": "sha256:..."}}}}
"""

from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import LocalSystemError, UsageError
from . import inputs, jsonfile


def load(path: Path) -> Dict[str, Any]:
    text = inputs.read_text(path, "--metadata-file", missing_ok=True)
    if text is None or not text.strip():
        return {}
    data = inputs.load_json(text, path, "--metadata-file")
    if not isinstance(data, dict):
        raise UsageError(f"--metadata-file {path}: expected a JSON object; remove it or pick another path")
    return data


def check_writable(path: Path) -> None:
    """Preflight: fail before any work when the metadata file cannot be read back or written."""
    load(path)
    try:
        jsonfile.check_creatable(path, "--metadata-file")
    except LocalSystemError as exc:  # a bad path given by the user: nothing was attempted
        raise UsageError(str(exc)) from None


def merge(path: Path, updates: Dict[str, Dict[str, Any]]) -> None:
    """Deep-merge ``updates`` (component -> fields) into the file, under its lock; written atomically."""
    with jsonfile.locked(path):
        data = load(path)
        for component, fields in updates.items():
            entry = data.setdefault(component, {})
            if not isinstance(entry, dict):
                entry = data[component] = {}
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(entry.get(key), dict):
                    entry[key].update(value)
                else:
                    entry[key] = value
        # An error from outside (a registry's words, redacted) is for its owner's eyes only: 0600 while any is held.
        mode = 0o600 if any(isinstance(e, dict) and "error" in e for e in data.values()) else 0o644
        jsonfile.write_atomically(path, data, mode, indent=2, sort_keys=True)


class MetadataFile:
    """The ``--metadata-file`` of one task run; every method is a no-op when none was given."""

    def __init__(self, path: Optional[str]):
        self.path = Path(path) if path else None

    def check(self) -> None:
        if self.path:
            check_writable(self.path)

    def merge(self, updates: Dict[str, Dict[str, Any]]) -> None:
        if self.path:
            merge(self.path, updates)
