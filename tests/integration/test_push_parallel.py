"""push --jobs: pushes overlap in time (read from a proxy's clock, not from our output), and in ACR's flat
layout a layer shared by every component is uploaded once (read from the registry's log)."""

import re

import pytest

from conftest import unique_version
from harness import BASE_IMAGE, FaultyRegistry, Registry


def components(project, count):
    for number in range(count):
        project.component(f"c{number}", f"FROM {BASE_IMAGE}\nRUN echo component {number} $RANDOM > /id\n")


def pushes_overlap(intervals) -> bool:
    """Whether the uploads of two different repositories (two pushes) were ever in flight together; one push
    uploads its own layers in parallel by itself, so those do not count."""
    spans = {}
    for start, end, repository in intervals:
        first, last = spans.get(repository, (start, end))
        spans[repository] = (min(first, start), max(last, end))
    ordered = sorted(spans.values())
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:]))


@pytest.mark.parametrize("jobs, parallel", [("1", False), ("3", True)])
def test_push_jobs_overlap_uploads(project, engine, registry, jobs, parallel):
    components(project, 3)
    version = unique_version()
    built = project.inv("build", "--version", version, "--parallel", "3")
    assert built.returncode == 0, built.stderr + built.stdout
    proxy = FaultyRegistry(registry, "upload_slow").start()  # every blob upload takes 0.5 s
    try:
        result = project.inv("push", "--registry", f"{proxy.host}/ns", "--version", version, "--jobs", jobs)
        assert result.returncode == 0, result.stderr + result.stdout
    finally:
        proxy.stop()
    assert registry.tags("ns/demo-c2") == [version]
    assert len(proxy.intervals) >= 3
    assert len({repository for _, _, repository in proxy.intervals}) == 3
    assert pushes_overlap(proxy.intervals) == parallel, proxy.intervals


def test_flat_layout_uploads_a_shared_layer_once(project, engine):
    registry = Registry(log_level="info").start()
    try:
        components(project, 4)
        version = unique_version()
        assert project.inv("build", "--version", version, "--parallel", "4").returncode == 0
        result = project.inv("push", "--registry", f"{registry.host}/shop", "--layout", "flat", "--version", version)
        assert result.returncode == 0, result.stderr + result.stdout
        assert sorted(registry.tags("shop/demo")) == sorted(f"c{n}-{version}" for n in range(4))
        log = (registry.root / "registry.log").read_text()
        uploads = re.findall(r'http.request.method=PUT .*?http.request.uri="/v2/shop/demo/blobs/uploads/[^"]*'
                             r'digest=(sha256(?:%3A|:)[0-9a-f]{64})', log)
        assert uploads, "no blob upload in the registry log"
        assert len(uploads) == len(set(uploads)), "a layer was uploaded twice into the one repository"
    finally:
        registry.remove()


def test_a_shared_base_layer_is_uploaded_once_across_repositories(project, engine, api):
    """Nested layout: one repository per component. The first push goes alone, so the others mount the base
    instead of uploading it at the same time (registry log: each blob PUT once in all)."""
    registry = Registry(log_level="info").start()
    try:
        components(project, 3)
        version = unique_version()
        assert project.inv("build", "--version", version, "--parallel", "3").returncode == 0
        result = project.inv("push", "--registry", f"{registry.host}/ns", "--version", version, "--jobs", "3")
        assert result.returncode == 0, result.stderr + result.stdout
        log = (registry.root / "registry.log").read_text()
        uploads = re.findall(r'http.request.method=PUT .*?http.request.uri="/v2/ns/demo-c\d/blobs/uploads/[^"]*'
                             r'digest=(sha256(?:%3A|:)[0-9a-f]{64})', log)
        base = api.inspect_image(BASE_IMAGE)["RootFS"]["Layers"]
        assert len(uploads) >= 3 + len(base) - 1, uploads  # every component's own layer, and the base
        assert len(uploads) == len(set(uploads)), "a layer was uploaded more than once"
    finally:
        registry.remove()
