"""push --jobs: pushes overlap in time (read from a proxy's clock, not from our output); a push waits for
another only when they share big layers across repositories; every shared layer is uploaded once (read from
the registry's log), in ACR's flat layout without any push waiting."""

import io
import re

import pytest
from support import unique_version
from harness import BASE_IMAGE, FaultyRegistry, Registry


def components(project, count, base=BASE_IMAGE):
    for number in range(count):
        project.component(f"c{number}", f"FROM {base}\nRUN echo component {number} $RANDOM > /id\n")


@pytest.fixture
def big_base(api):
    """A base image with 6 MB of incompressible layer: above the 4 MiB at which pushes wait for one another."""
    name = f"acrtasks-test-bigbase:{unique_version()}"
    dockerfile = f"FROM {BASE_IMAGE}\nRUN head -c 6000000 /dev/urandom > /big.bin\n".encode()
    output = list(api.build(fileobj=io.BytesIO(dockerfile), tag=name, decode=True, rm=True))
    assert any("Successfully tagged" in (line.get("stream") or "") for line in output), output
    yield name
    api.remove_image(name, force=True)


def spans(intervals):
    """(first start, last end) of the slowed uploads of each repository: one push each."""
    result = {}
    for start, end, repository in intervals:
        first, last = result.get(repository, (start, end))
        result[repository] = (min(first, start), max(last, end))
    return result


def pushes_overlap(intervals) -> bool:
    """Whether the uploads of two different repositories (two pushes) were ever in flight together; one push
    uploads its own layers in parallel by itself, so those do not count."""
    ordered = sorted(spans(intervals).values())
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:]))


def all_in_flight_together(intervals) -> bool:
    """Whether every push had started uploading before any push finished: none waited for another."""
    starts, ends = zip(*spans(intervals).values())
    return max(starts) < min(ends)


@pytest.mark.parametrize("jobs, parallel", [("1", False), ("3", True)])
def test_push_jobs_overlap_uploads(project, engine, registry, jobs, parallel):
    """The shared base (busybox, about 2 MB) is under the size pushes wait for: with --jobs 3, all three
    start at once."""
    components(project, 3)
    version = unique_version()
    built = project.inv("build", "--version", version, "--parallel", "3")
    assert built.returncode == 0, built.stderr + built.stdout
    proxy = FaultyRegistry(registry, "upload_slow").start()  # every blob upload takes 0.5 s
    try:
        result = project.inv("push", "--registry", f"{proxy.host}/ns", "--version", version, "--jobs", jobs,
                             "--no-record")  # the pushes alone are measured
        assert result.returncode == 0, result.stderr + result.stdout
    finally:
        proxy.stop()
    assert registry.tags("ns/demo-c2") == [version]
    assert len(proxy.intervals) >= 3
    assert len({repository for _, _, repository in proxy.intervals}) == 3
    assert pushes_overlap(proxy.intervals) == parallel, proxy.intervals
    assert all_in_flight_together(proxy.intervals) == parallel, proxy.intervals


def test_flat_layout_uploads_a_shared_layer_once(project, engine, api, big_base):
    """One repository, a big base in common. The classic store shares the uploads of one layer between pushes
    to one repository, so all four pushes start at once (none waits: other images' layers reach the registry
    before the first manifest). The containerd store shares none: the first push goes alone, the others
    find the base there (each blob PUT once either way)."""
    registry = Registry(log_level="info").start()
    try:
        components(project, 4, big_base)
        version = unique_version()
        assert project.inv("build", "--version", version, "--parallel", "4").returncode == 0
        result = project.inv("push", "--registry", f"{registry.host}/shop", "--layout", "flat", "--version", version,
                             "--no-record")
        assert result.returncode == 0, result.stderr + result.stdout
        assert sorted(registry.tags("shop/demo")) == sorted(f"c{n}-{version}" for n in range(4))
        log = (registry.root / "registry.log").read_text()
        uploads = re.findall(r'http.request.method=PUT .*?http.request.uri="/v2/shop/demo/blobs/uploads/[^"]*'
                             r'digest=(sha256(?:%3A|:)[0-9a-f]{64})', log)
        assert uploads, "no blob upload in the registry log"
        assert len(uploads) == len(set(uploads)), "a layer was uploaded twice into the one repository"
        puts = [line for line in log.splitlines() if "response completed" in line and "method=PUT" in line]
        first_manifest = next(n for n, line in enumerate(puts) if "/v2/shop/demo/manifests/" in line)
        one_image = len(api.inspect_image(big_base)["RootFS"]["Layers"]) + 2  # the base, its own layer, config
        if not engine.kind.containerd_store:  # there the pushes wait (see above): only "each blob once" holds
            assert first_manifest > one_image, f"{first_manifest} uploads before the first manifest: a push waited"
    finally:
        registry.remove()


def test_a_big_shared_base_is_uploaded_once_across_repositories(project, engine, api, big_base):
    """Nested layout: one repository per component, sharing a 6 MB base. The first push goes alone, so the
    others mount the base instead of uploading it at the same time (registry log: each blob PUT once in all).

    Docker 26.1's containerd store mounts only from the repository its content labels name for the registry,
    which earlier pushes to other repositories (and registries on the same loopback address) leave stale; its
    failed mounts upload again (measured: 18 uploads for 14 blobs on every run after the first on one engine).
    There the pushes still wait for the first (its manifest comes before the others' blobs) and no blob goes
    twice into one repository."""
    registry = Registry(log_level="info").start()
    try:
        components(project, 3, big_base)
        version = unique_version()
        assert project.inv("build", "--version", version, "--parallel", "3").returncode == 0
        result = project.inv("push", "--registry", f"{registry.host}/ns", "--version", version, "--jobs", "3")
        assert result.returncode == 0, result.stderr + result.stdout
        log = (registry.root / "registry.log").read_text()
        # (the registry quotes a URI only when it must: an upload's has a query, a manifest's not)
        puts = re.findall(r'http.request.method=PUT .*?http.request.uri="?/v2/(ns/demo-c\d)/(blobs/uploads|manifests)/'
                          r'[^"\s]*?(?:digest=(sha256(?:%3A|:)[0-9a-f]{64}))?["\s]', log)
        uploads = [(repo, digest) for repo, kind, digest in puts if kind == "blobs/uploads"]
        base = api.inspect_image(big_base)["RootFS"]["Layers"]
        assert len(uploads) >= 3 + len(base) - 1, uploads  # every component's own layer, and the base
        if not engine.kind.containerd_store:
            assert len(uploads) == len({d for _, d in uploads}), "a layer was uploaded more than once"
            return
        assert len(uploads) == len(set(uploads)), "a layer was uploaded twice into one repository"
        # every request, in the order the registry answered them: the others start after the first's manifest
        requests = re.findall(r'msg="response completed".*?http.request.method=(\w+) .*?http.request.uri="?/v2/'
                              r'(ns/demo-c\d)/(\w+)', log)
        first = next(repo for method, repo, kind in requests if method == "PUT" and kind == "manifests")
        leader_done = max(n for n, (method, repo, kind) in enumerate(requests)
                          if repo == first and method == "PUT" and kind == "manifests")
        others = [n for n, (_, repo, _) in enumerate(requests) if repo != first]
        assert others and min(others) > leader_done, "a push did not wait for the one it shares the base with"
    finally:
        registry.remove()
