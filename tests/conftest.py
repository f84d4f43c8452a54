"""Fixtures: a real Docker engine and real registries, torn down afterwards.

With ``ACRTASKS_REQUIRE_ENGINE=1`` (set by ``.ci/run``) a missing engine or
registry binary fails the run instead of skipping the integration tests.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from harness import ENGINE_KINDS, DockerEngine, HarnessError, Registry, ensure_base_image
from support import REPO, Inv, Project
REQUIRE_ENGINE = os.environ.get("ACRTASKS_REQUIRE_ENGINE") == "1"


def _unavailable(message: str):
    if REQUIRE_ENGINE:
        pytest.fail(f"ACRTASKS_REQUIRE_ENGINE=1 but {message}", pytrace=False)
    pytest.skip(message)


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="run the tests in reverse order: each must pass whatever ran before it")


def pytest_collection_modifyitems(config, items):
    """The ``integration`` marker follows the folder: every test under tests/integration has it, no other does.
    ``--reverse`` runs them backwards (a test that leans on an earlier one's leftovers fails then)."""
    if config.getoption("--reverse"):
        items.reverse()
    for item in items:
        if "integration" in Path(str(item.fspath)).relative_to(REPO / "tests").parts[:1]:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path_factory):
    """Every test: no ACRTASKS_* (nor COSIGN_PASSWORD) from the caller, a DOCKER_CONFIG and a blob location cache of its own
    (the user's are never touched, and no test mounts blobs because of another's copies)."""
    for name in [n for n in os.environ if n.startswith("ACRTASKS_")]:
        if name != "ACRTASKS_REQUIRE_ENGINE":
            monkeypatch.delenv(name)
    docker_config = tmp_path_factory.mktemp("dockercfg")
    link_cli_plugins(docker_config)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    monkeypatch.setenv("ACRTASKS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)  # a key's password only where a test gives one



@pytest.fixture(scope="session")
def docker_config_dir():
    """An empty DOCKER_CONFIG for the whole session, so the user's ~/.docker is never read or written."""
    path = Path(tempfile.mkdtemp(prefix="acr-dockercfg-"))
    previous = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DOCKER_CONFIG", None)
    else:
        os.environ["DOCKER_CONFIG"] = previous
    shutil.rmtree(path, ignore_errors=True)


#: Where the running engine's CLI plugins are (buildx), for ``isolated`` to give each test's DOCKER_CONFIG;
#: set and cleared by ``engine`` in the environment, as it sets DOCKER_HOST and PATH.
PLUGINS_VARIABLE = "ACR_TEST_CLI_PLUGINS"


@pytest.fixture(scope="session", params=ENGINE_KINDS)
def engine(request, docker_config_dir):
    """A Docker engine of each kind in turn (see harness.engines), isolated, with the base image; while it runs,
    $DOCKER_HOST names it and its own docker CLI comes first on PATH. A test about one engine's own behaviour
    says so with ``@pytest.mark.parametrize("engine", ["engine26"], indirect=True)``.

    pytest runs the tests of one kind together and stops that engine before it starts the other."""
    try:
        started = DockerEngine.start(request.param)
        ensure_base_image(started.docker_host)
    except HarnessError as exc:
        _unavailable(f"{request.param}: {exc}")
    saved = {name: os.environ.get(name) for name in ("DOCKER_HOST", "PATH", PLUGINS_VARIABLE)}
    os.environ["DOCKER_HOST"] = started.docker_host
    os.environ["PATH"] = started.kind.path(saved["PATH"] or "")
    if started.kind.plugins:
        os.environ[PLUGINS_VARIABLE] = started.kind.plugins
    yield started
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    started.stop()


def link_cli_plugins(docker_config: Path) -> None:
    """The running engine's CLI plugins (buildx) in ``docker_config``/cli-plugins, where every docker CLI looks."""
    plugins = os.environ.get(PLUGINS_VARIABLE)
    if plugins:
        (docker_config / "cli-plugins").mkdir(exist_ok=True)
        for plugin in Path(plugins).iterdir():
            target = docker_config / "cli-plugins" / plugin.name
            if not target.exists():
                target.symlink_to(plugin)


@pytest.fixture
def api(engine):
    import docker

    client = docker.APIClient(base_url=engine.docker_host, timeout=120)
    yield client
    client.close()


def _registry(users=None):
    try:
        return Registry(users).start()
    except HarnessError as exc:
        _unavailable(str(exc))


@pytest.fixture
def registry():
    """A plain registry on a free loopback port."""
    started = _registry()
    yield started
    started.remove()


@pytest.fixture
def target():
    """A registry that keeps its request log (``requests``, ``uploaded_blobs``): where a copy's writes are read."""
    try:
        started = Registry(log_level="info").start()
    except HarnessError as exc:
        _unavailable(str(exc))
    yield started
    started.remove()


@pytest.fixture
def auth_registry():
    """An htpasswd-protected registry; user ``alice``."""
    started = _registry({"alice": "wonder-land-42"})
    yield started
    started.remove()


@pytest.fixture
def inv():
    """``inv`` in the repository itself (its tasks.py, invoke.yaml and build.toml)."""
    return Inv(REPO)


@pytest.fixture
def project(tmp_path):
    """A scratch project: the three small files plus a helper to add components."""
    return Project(tmp_path)
