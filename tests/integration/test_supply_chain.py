"""Supply chain against a registry that refuses what ACR refuses (harness.acr.AcrRegistry), on Docker 26.1 and
28.5 (BuildKit built in, buildx 0.13 and 0.29): attestations kept in the form ACR stores. Every effect is read
back from the upstream registry's API (the index, its attestation manifests, their in-toto predicate types)
and from the double's record of what it refused, never from our output.

Seen on both engines before this was written (an experiment kept out of the suite): with
``--output type=registry,oci-artifact=true`` Docker 28.5's BuildKit writes the attestations as OCI artifacts
(empty config), which the double refuses as ACR does; with ``oci-artifact=false`` it writes them as image
manifests inside the index, which the double stores; Docker 26.1's BuildKit takes the option and writes the
second form either way.
"""

import json

import pytest
from harness import AcrRegistry, Registry
from harness.registries import MANIFEST_ACCEPT
from support import sbom_scanner, unique_version

ENGINES = pytest.mark.parametrize("engine", ["engine26", "engine28"], indirect=True)
SPDX = "https://spdx.dev/Document"
SLSA = "https://slsa.dev/provenance/v0.2"
TWO_PLATFORMS = """FROM --platform=$BUILDPLATFORM acrtasks-examples/busybox:local AS made
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM" > /platform
FROM scratch
COPY --from=made /platform /platform
"""


@pytest.fixture
def acr():
    upstream = Registry().start()
    proxy = AcrRegistry(upstream, namespaces={"shop"}).start()
    yield proxy
    proxy.stop()
    upstream.remove()


def read_manifest(registry, repo: str, reference: str) -> dict:
    import urllib.request

    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def attached(registry, repo: str, reference: str) -> dict:
    """platform image digest -> the in-toto predicate types of its attestation manifest, from the index."""
    index = read_manifest(registry, repo, reference)
    found = {}
    for entry in index.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            manifest = read_manifest(registry, repo, entry["digest"])
            assert manifest["config"]["mediaType"] != "application/vnd.oci.empty.v1+json"  # not the artifact form
            found[annotations["vnd.docker.reference.digest"]] = sorted(
                layer["annotations"]["in-toto.io/predicate-type"] for layer in manifest["layers"])
    images = [e["digest"] for e in index["manifests"] if (e.get("platform") or {}).get("os") != "unknown"]
    assert sorted(found) == sorted(images), index  # every platform image has its attestations
    return found


@ENGINES
def test_build_push_keeps_an_sbom_and_provenance_on_every_component_on_acr(project, engine, api, acr):
    """``attestations = "auto"`` (the default) on an ACR host: kept, inside the index, for a component the
    engine loads and the chained push sends, and for one of two platforms that buildx pushes itself."""
    scanner = sbom_scanner(api)
    project.component("api", "FROM scratch\nCOPY Dockerfile /\n")
    project.component("web", TWO_PLATFORMS, '{}\nplatforms = ["linux/amd64", "linux/arm64"]')
    project.write(f'\n[registry]\nflat_hosts = [".aliyuncs.com", "{acr.host.split(":")[0]}"]\n'  # ACR-like
                  f'[build]\nsbom = true\nsbom_generator = "{scanner}"\nprovenance = "max"\n')
    version = unique_version()
    result = project.inv("build", "--registry", f"{acr.host}/shop", "--version", version, "push")
    assert result.returncode == 0, result.stdout + result.stderr
    assert acr.refused == []
    assert result.stdout.count("attestations: provenance (mode=max) and SBOM, inside the image's index") == 2
    for component, count in (("api", 1), ("web", 2)):
        found = attached(acr.upstream, "shop/demo", f"{component}-{version}")
        assert len(found) == count
        assert all(types == sorted([SPDX, SLSA]) for types in found.values()), found
