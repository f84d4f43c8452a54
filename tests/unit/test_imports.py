"""Cheap start-up: the package, `inv --list` and `inv test-naming` never import docker-py, requests or rich."""

import json
import subprocess
import sys
from support import REPO



def loaded_modules(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


HEAVY = {"docker", "requests", "urllib3", "rich"}  # (Invoke itself loads a yaml module at start)


def test_import_has_no_docker():
    assert not HEAVY & loaded_modules("import acrtasks")


def test_list_and_test_naming_have_no_docker():
    code = (
        "import sys\n"
        "from invoke import Program\n"
        "from acrtasks import ChainExecutor\n"
        "for argv in (['inv', '--list'], ['inv', 'test-naming', '--version', 'v1']):\n"
        "    Program(executor_class=ChainExecutor).run(argv, exit=False)\n"
    )
    modules = loaded_modules(code)
    assert "acrtasks.tasks" in modules
    assert not HEAVY & modules, HEAVY & modules


def test_the_integration_marker_follows_the_folder():
    """`-m integration` selects exactly tests/integration; `-m "not integration"` exactly tests/unit."""
    def files(expression):
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              "-m", expression, "tests"], cwd=REPO, capture_output=True, text=True).stdout
        return {line.split("::")[0].split("/")[1] for line in out.splitlines() if "::" in line}

    assert files("integration") == {"integration"}
    assert files("not integration") == {"unit"}
