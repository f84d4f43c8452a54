"""The harness itself: a real engine builds an example, a real registry stores it, the API reads it back."""

import pytest
from support import REPO



def test_build_and_push_through_docker_py(api, registry):
    context = REPO / "examples" / "ai-infra-matrix" / "backend"
    output = list(api.build(path=str(context), tag="harness-proof:v1", decode=True, rm=True))
    assert not [chunk for chunk in output if "error" in chunk], output
    repository = f"{registry.host}/proof/backend"
    api.tag("harness-proof:v1", repository, "v1")
    pushed = list(api.push(repository, tag="v1", stream=True, decode=True))
    assert not [chunk for chunk in pushed if "error" in chunk], pushed
    assert registry.tags("proof/backend") == ["v1"]
    assert registry.digest("proof/backend", "v1").startswith("sha256:")


def test_htpasswd_registry_demands_credentials(auth_registry):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{auth_registry.url}/v2/", timeout=5)
    assert err.value.code == 401
    assert auth_registry.repositories() == []  # with the harness's credentials


def _link_exists(name: str) -> bool:
    import subprocess

    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0


def test_isolated_engine_leaves_the_hosts_docker0_alone(engine):
    """dockerd --bridge=none deletes docker0; the harness's engine has a bridge of its own."""
    import os
    import subprocess

    from harness import DockerEngine

    made = False
    if not _link_exists("docker0"):  # stand in for a host engine's bridge, removed again below
        subprocess.run(["ip", "link", "add", "name", "docker0", "type", "bridge"], check=True)
        made = True
    previous = os.environ.pop("DOCKER_HOST", None)  # force a fresh isolated engine, not the session's
    try:
        second = DockerEngine.start(engine.kind.name)  # each kind: 26.1 with the containerd store too
        bridge = second.bridge.name if second.bridge else ""
        try:
            assert bridge and _link_exists(bridge)
            assert _link_exists("docker0"), "starting the isolated engine deleted docker0"
        finally:
            second.stop()
        assert _link_exists("docker0"), "stopping the isolated engine deleted docker0"
        assert not _link_exists(bridge), "the engine's own bridge was left behind"
    finally:
        if previous is not None:
            os.environ["DOCKER_HOST"] = previous
        if made:
            subprocess.run(["ip", "link", "delete", "docker0"], check=False)
