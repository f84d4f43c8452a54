"""Files we share with other writers (JSON, deployment files): atomic replacement, a lock around read-modify-write.

Readers see the old content or the new, never half of it; two writers (ten
``inv login`` at once into one ``config.json``, chained tasks from two shells
into one metadata file) each see the other's change, because the whole
read-modify-write runs under an exclusive ``flock`` on the file's directory.
The directory, not a ``<file>.lock``: the lock must outlive the atomic
rename (which replaces the file's inode), and a lock file would be litter in
``~/.docker`` that the docker CLI never leaves.
"""

import contextlib
import errno
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import LocalSystemError

#: Long enough for a slow credential helper in another writer; short enough that a stale lock is reported.
LOCK_TIMEOUT = 60


def describe_os_error(path: Path, exc: OSError) -> str:
    """One line for a failed write, with the fix for the usual causes."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: the disk is full; free space and run again"
    if exc.errno == errno.EROFS:
        return f"cannot write {path}: the file system is read-only; pick a writable path"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied; pick a path you may write"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"cannot write {path}: a parent directory is missing or is not a directory"
    return f"cannot write {path}: {reason}"


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive lock for writing ``path``: ``flock`` on its directory, waiting up to ``timeout``."""
    import fcntl

    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise LocalSystemError(describe_os_error(path, exc)) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalSystemError(f"{path}: another process has held the lock on {directory} for over "
                                           f"{timeout:.0f} s; is another acrtasks stuck?") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_atomically(path: Path, data: Any, mode: int, **dump_options: Any) -> None:
    """``data`` as JSON in ``path``, replaced atomically (see :func:`replace_text`)."""
    replace_text(path, json.dumps(data, **dump_options) + "\n", mode)


def replace_text(path: Path, text: str, mode: int) -> None:
    """Temp file beside ``path``, fsync, chmod ``mode``, rename over ``path``, fsync the directory.

    The text is written as given (``newline=""``): CRLF files stay CRLF. A symlink is written through (its
    target replaced, the link kept: a dotfiles ``config.json``), and the file keeps its owner and group
    (``sudo inv set-images`` must not leave root's files in a user's repository), as docker does.
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else path
    directory = path.parent
    tmp = None
    try:
        try:
            owner = os.stat(path)
        except FileNotFoundError:
            owner = None
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created 0600: never readable early
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if owner is not None and (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(PermissionError):  # not ours to give away: the new file stays the writer's
                os.chown(tmp, owner.st_uid, owner.st_gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise LocalSystemError(describe_os_error(path, exc)) from None
    finally:  # also on Ctrl-C: no temp file is left behind
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def check_creatable(path: Path, what: str) -> None:
    """Create and remove a temp file beside ``path``: the only honest test (``os.access`` lies for root)."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise LocalSystemError(f"{what} {path} is a directory; name a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise LocalSystemError(f"{what}: {describe_os_error(path, exc)}") from None
    os.close(fd)
    os.unlink(tmp)
