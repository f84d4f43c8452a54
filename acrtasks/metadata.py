"""The ``--metadata-file``: JSON per component, in the spirit of ``docker buildx bake --metadata-file``.

Chained tasks share one file: ``build`` writes refs and image ids, ``push``
adds digests. Each task merges into what is there rather than replacing it.

    {"backend": {"refs": [...], "image.id": "sha256:...", "build": {"status": "ok", "seconds": 3.1},
                 "push": {"<ref>": {"status": "pushed", "digest": "sha256:..."}}}}
"""

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from . import jsonfile
from .errors import UsageError


def load(path: Path) -> Dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise UsageError(f"--metadata-file {path}: cannot read it as JSON ({exc}); remove it or pick another path")
    if not isinstance(data, dict):
        raise UsageError(f"--metadata-file {path}: expected a JSON object; remove it or pick another path")
    return data


def check_writable(path: Path) -> None:
    """Preflight: fail before any work when the metadata file cannot be written."""
    load(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise UsageError(f"--metadata-file {path}: directory {directory} does not exist or is not writable")


def merge(path: Path, updates: Dict[str, Dict[str, Any]]) -> None:
    """Deep-merge ``updates`` (component -> fields) into the file; written atomically."""
    data = load(path)
    for component, fields in updates.items():
        entry = data.setdefault(component, {})
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(entry.get(key), dict):
                entry[key].update(value)
            else:
                entry[key] = value
    jsonfile.write_atomically(path, data, 0o644, indent=2, sort_keys=True)


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
