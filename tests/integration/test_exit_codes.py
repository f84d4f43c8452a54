"""Exit codes as docs/tasks.md's table says, whoever finds the failure: the table is read from the doc, and each
scenario names the row it belongs to (the preflight and the copy itself must agree)."""

import json
import re
import socket
from pathlib import Path

import pytest
from harness import Registry, RegistryWriter, make_layer

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def documented_codes() -> dict:
    """``| code | meaning |`` rows of the doc's "Exit codes" section: meaning -> code."""
    section = DOC.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {meaning: int(code) for code, meaning in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)}


def code_for(phrase: str) -> int:
    rows = [code for meaning, code in documented_codes().items() if phrase in meaning]
    assert len(rows) == 1, f"docs/tasks.md's exit codes name {phrase!r} in {len(rows)} rows"
    return rows[0]


@pytest.fixture(scope="module")
def source():
    registry = Registry().start()
    RegistryWriter(registry).image("library/postgres", "15", [make_layer(50_000, 1)])
    yield registry
    registry.remove()


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("preflight", [[], ["--no-preflight"]], ids=["preflight", "no-preflight"])
def test_an_unreachable_registry_is_the_same_code_whoever_finds_it(project, source, preflight):
    project.write(f'[deps]\nimages = ["{source.host}/library/postgres:15"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"127.0.0.1:{dead_port()}/mirror", *preflight,
                         env={"ACRTASKS_RETRY_BACKOFF": "0", "ACRTASKS_RETRIES": "1"})
    assert result.returncode == code_for("a registry unreachable"), result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1


@pytest.mark.parametrize("preflight", [[], ["--no-preflight"]], ids=["preflight", "no-preflight"])
def test_a_refused_login_is_the_same_code_whoever_finds_it(project, source, auth_registry, tmp_path, preflight):
    project.write(f'[deps]\nimages = ["{source.host}/library/postgres:15"]\n')
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"auths": {}}))
    result = project.inv("push-deps", "--deps-namespace", f"{auth_registry.host}/mirror", *preflight,
                         env={"DOCKER_CONFIG": str(tmp_path / "cfg")})
    assert result.returncode == code_for("a login refused"), result.stdout + result.stderr


def test_bad_input_is_its_own_code(project):
    project.write()
    result = project.inv("push-deps", "--deps-namespace", "HTTPS://Nope")
    assert result.returncode == code_for("bad input or configuration"), result.stderr
