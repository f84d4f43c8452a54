"""A registry that accepts connections and never answers: every task that talks to registries says within a
third of ACRTASKS_REGISTRY_TIMEOUT (10 s of the default 60) whom it waits for, and fails within the timeout."""

import time

import pytest
from harness import SilentServer

TIMEOUT = 3  # seconds, for the whole request; the line comes after one


@pytest.fixture
def silent():
    server = SilentServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("task", [
    ["login", "--username", "u", "--password-stdin", "--registry", "{host}"],
    ["push-deps", "--deps-namespace", "{host}/mirror"],
    ["set-images", "--file", "compose.yaml", "--registry", "{host}/team", "--version", "v1"],
    ["pull", "--registry", "{host}/team", "--version", "v1"],
    ["show-release", "--registry", "{host}/team", "--version", "v1"],
], ids=lambda task: task[0])
def test_a_silent_registry_is_named_then_given_up_on(project, silent, task):
    project.write('[deps]\nimages = ["127.0.0.1:1/library/postgres:15"]\n\n[components.api]\ncontext = "."\n')
    (project.root / "compose.yaml").write_text("services:\n  api:\n    image: demo-api:old\n")
    started = time.monotonic()
    result = project.inv(*[arg.format(host=silent.host) for arg in task], input="pw\n",
                         env={"ACRTASKS_REGISTRY_TIMEOUT": str(TIMEOUT), "ACRTASKS_RETRY_BACKOFF": "0.2"})
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    waiting = [line for line in result.stderr.splitlines() if line.startswith(f"waiting for {silent.host}: ")]
    assert waiting and f"(given up after {TIMEOUT} s; ACRTASKS_REGISTRY_TIMEOUT)" in waiting[0], result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and silent.host in errors[0] and "Traceback" not in result.stderr
    assert took < TIMEOUT + 4, f"{took:.1f} s: the timeout bounds the whole request, its tries included"
