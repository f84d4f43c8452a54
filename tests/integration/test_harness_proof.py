"""The harness itself: a real engine builds an example, a real registry stores it, the API reads it back."""

import pytest

from conftest import REPO

pytestmark = pytest.mark.integration


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
