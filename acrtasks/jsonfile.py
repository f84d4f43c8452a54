"""Writing a JSON file so that readers see the old content or the new, never half of it."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, data: Any, mode: int, **dump_options: Any) -> None:
    """Temp file beside ``path``, fsync, chmod ``mode``, rename over ``path``, fsync the directory."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created 0600: never readable early
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, **dump_options)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
