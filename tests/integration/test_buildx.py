"""buildx for real, on the engine that has it (Docker 26.1, the containerd image store, the ``docker`` driver):
several platforms pushed as one index, a second engine reached over TCP as a docker context, the registry
build cache. Effects are read back from the registry's API and the engines, never from our output.

Every test here is about engine26's own behaviour: Docker 20.10's CLI has no buildx.
"""

import gzip
import io
import json
import re
import subprocess
import tarfile

import pytest
from support import unique_version
from harness import BASE_IMAGE, DockerEngine, RegistryWriter, free_port

pytestmark = pytest.mark.parametrize("engine", ["engine26"], indirect=True)

# The platform-specific work runs on the build platform (no emulation); the final stage is FROM scratch,
# which every platform has.
TWO_PLATFORMS = f"""FROM --platform=$BUILDPLATFORM {BASE_IMAGE} AS made
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM" > /platform
FROM scratch
COPY --from=made /platform /platform
"""


def manifest(registry, repo: str, reference: str):
    response = RegistryWriter(registry).session.get(f"{registry.url}/v2/{repo}/manifests/{reference}", headers={
        "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.list.v2+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"}, timeout=30)
    response.raise_for_status()
    return response.json(), response.headers["Docker-Content-Digest"]


def blob(registry, repo: str, digest: str) -> bytes:
    response = RegistryWriter(registry).session.get(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=30)
    response.raise_for_status()
    return response.content


def file_in_layer(data: bytes, name: str) -> str:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return tar.extractfile(name).read().decode()


def test_several_platforms_are_pushed_as_one_index_with_every_ref(project, engine, api, registry, tmp_path):
    project.component("multi", TWO_PLATFORMS, '{ VERSION = "{version}" }')
    version = unique_version()
    metadata = tmp_path / "metadata.json"
    result = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version, "--tag-latest",
                         "--platform", "linux/amd64", "--platform", "linux/arm64", "--metadata-file", str(metadata),
                         "push")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "nothing to push: the build pushed every image itself" in result.stdout  # the chained push
    index, digest = manifest(registry, "ns/demo-multi", version)
    platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}": m for m in index["manifests"]
                 if m.get("platform", {}).get("os") != "unknown"}  # buildx's attestations are "unknown/unknown"
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    for platform, entry in platforms.items():
        image, _ = manifest(registry, "ns/demo-multi", entry["digest"])
        config = json.loads(blob(registry, "ns/demo-multi", image["config"]["digest"]))
        assert config["architecture"] == platform.split("/")[1]
        assert config["config"]["Labels"]["org.opencontainers.image.version"] == version
        assert file_in_layer(blob(registry, "ns/demo-multi", image["layers"][-1]["digest"]), "platform").strip() \
            == platform
    assert manifest(registry, "ns/demo-multi", "latest")[1] == digest  # every ref, one index
    recorded = json.loads(metadata.read_text())["multi"]
    assert recorded["containerimage.digest"] == digest
    assert recorded["push"] == {f"{registry.host}/ns/demo-multi:{tag}": {"status": "pushed", "digest": digest}
                                for tag in (version, "latest")}
    with pytest.raises(Exception):  # several platforms do not live under a local name
        api.inspect_image(f"demo-multi:{version}")


@pytest.fixture
def far_engine():
    """A second engine, reached over TCP on loopback only (the remote builder)."""
    port = free_port()
    started = DockerEngine.start("engine26", tcp_port=port)
    yield started, port
    started.stop()


def test_a_docker_context_of_another_engine_builds_and_pushes_there(project, engine, api, registry, far_engine):
    far, port = far_engine
    context = subprocess.run(["docker", "context", "create", "far", "--docker", f"host=tcp://127.0.0.1:{port}"],
                             capture_output=True, text=True, timeout=60)
    assert context.returncode == 0, context.stderr
    project.component("api", "FROM scratch\nCOPY Dockerfile /built-far\n")
    version = unique_version()
    result = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version, "--builder", "far")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "context far, pushed by the build" in result.stdout
    _, digest = manifest(registry, "ns/demo-api", version)
    assert digest.startswith("sha256:")
    with pytest.raises(Exception):  # never in the local engine
        api.inspect_image(f"demo-api:{version}")
    import docker

    far_api = docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", timeout=60)
    assert far_api.df()["BuildCache"], "the far engine has no build cache: it did not build"


SLOW = f"""FROM {BASE_IMAGE}
ARG VERSION
RUN sleep 2 && echo "$VERSION" > /slow
"""


def test_the_registry_cache_makes_a_build_on_an_empty_builder_reuse_its_steps(project, engine, api, registry):
    project.component("slow", SLOW)
    project.write('\n[build]\ncache = "registry"\n')
    version = unique_version()
    first = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version)
    assert first.returncode == 0, first.stderr + first.stdout
    cache, _ = manifest(registry, "ns/demo-slow", "buildcache")  # nested: <ns>/<prefix><component>:buildcache
    assert "application/vnd.buildkit.cacheconfig.v0" in [m["mediaType"] for m in cache["manifests"]]
    # an empty builder: the engine's build cache pruned, the image gone
    api.remove_image(f"demo-slow:{version}", force=True)
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, timeout=120, check=True)
    assert not api.df()["BuildCache"]
    again = project.inv("build", "--registry", f"{registry.host}/ns", "--version", version, "--progress", "plain")
    assert again.returncode == 0, again.stderr + again.stdout
    assert f"importing cache manifest from {registry.host}/ns/demo-slow:buildcache" in again.stdout
    vertex = re.search(r"#(\d+) \[2/2\] RUN sleep 2", again.stdout)
    assert vertex and f"#{vertex.group(1)} CACHED" in again.stdout, again.stdout  # the 2 s step, from the cache
    assert api.inspect_image(f"demo-slow:{version}")


def test_what_the_build_pushed_is_read_back_from_the_registry(project, engine, registry):
    """A registry whose readers get another digest for the tag after the build's own push fails the build
    (the engine itself is told the truth, so its push succeeds)."""
    from harness import FaultyRegistry

    proxy = FaultyRegistry(registry, "stale_tag_for_readers").start()
    try:
        project.component("multi", TWO_PLATFORMS)
        version = unique_version()
        result = project.inv("build", "--registry", f"{proxy.host}/ns", "--version", version,
                             "--platform", "linux/amd64", "--platform", "linux/arm64")
        assert result.returncode == 1, result.stdout + result.stderr
        held = registry.digest("ns/demo-multi", version)
        assert held and f"the build reported {held} but the registry holds sha256:{'0' * 64}" in result.stdout
        assert "1 of 1 build(s) failed: multi" in result.stderr
    finally:
        proxy.stop()


def test_a_registry_failing_once_during_the_builds_push_is_tried_again(project, engine, registry):
    """A 500 on the build's own PUT of its tag (a registry's passing trouble) fails buildx; the build is tried
    again, from its cache, and the index reaches the registry."""
    from harness import FaultyRegistry

    proxy = FaultyRegistry(registry, "tag_put_fails_once").start()
    try:
        project.component("multi", TWO_PLATFORMS)
        version = unique_version()
        result = project.inv("build", "--registry", f"{proxy.host}/ns", "--version", version,
                             "--platform", "linux/amd64", "--platform", "linux/arm64",
                             env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert result.returncode == 0, result.stdout + result.stderr
        assert proxy.hit.is_set(), "the fault was never served"
        assert "build multi: try 1/3 failed on a registry" in result.stderr + result.stdout
        index, _ = manifest(registry, "ns/demo-multi", version)  # read back from the registry itself
        assert {m["platform"]["architecture"] for m in index["manifests"]} >= {"amd64", "arm64"}
    finally:
        proxy.stop()
