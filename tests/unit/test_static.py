"""Every name the code uses is defined, every import used: pyflakes over the package, the tests, the benchmarks
and the scripts. Most of acrtasks imports lazily, inside the function that needs it, so a name a change removed
is otherwise found only when that one path runs (a show-release of a missing record once raised NameError)."""

from pathlib import Path

from pyflakes import api, messages, reporter
from support import REPO

CHECKED = ("acrtasks", "tests", "bench", "scripts", "tasks.py")


class Collect(reporter.Reporter):
    def __init__(self):
        super().__init__(None, None)
        self.found = []

    def flake(self, message):
        self.found.append(message)

    def syntaxError(self, filename, msg, lineno, offset, text):  # noqa: N802 - pyflakes' name
        self.found.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg):  # noqa: N802 - pyflakes' name
        self.found.append(f"{filename}: {msg}")


def _meant(message) -> bool:
    """An import kept on purpose: a re-export, marked `# noqa: F401` on its line, as flake8 reads it."""
    if not isinstance(message, messages.UnusedImport):
        return False
    line = Path(message.filename).read_text().splitlines()[message.lineno - 1]
    return "noqa: F401" in line


def test_pyflakes_finds_nothing():
    collect = Collect()
    api.checkRecursive([str(REPO / path) for path in CHECKED], collect)
    problems = [str(m) for m in collect.found if isinstance(m, str) or not _meant(m)]
    assert problems == []


def test_mypy_strict_on_the_lower_layers(monkeypatch):
    """naming, release/, copy/ and registry/ type-check strictly ([tool.mypy] in pyproject.toml). It found what
    pyflakes cannot: a ``retry`` flag shadowing the ``retry`` module made a silent registry a traceback."""
    import os

    from mypy import api as mypy

    monkeypatch.chdir(REPO)  # the config names its files from the repository's root
    cache = os.environ.get("MYPY_CACHE_DIR") or str(REPO / ".cache" / "mypy")
    out, err, status = mypy.run(["--config-file", str(REPO / "pyproject.toml"), "--cache-dir", cache])
    assert status == 0, out + err
