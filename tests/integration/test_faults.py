"""Registries that misbehave, fed to the real program: every fault is one line, the right culprit, nothing pushed.

The faults come from ``harness.FaultyRegistry``, a loopback proxy in front of a
real registry. Each test reads the effect back from the target registry itself.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from harness import FaultyRegistry, Registry, RegistryWriter, make_layer
from support import interrupt_promptly, upload_dirs



def assert_failed_cleanly(result, code=1):
    """Exit ``code``, no traceback, and stderr's last line is the one ``error:`` line."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(("error:", "interrupted")), result.stderr
    assert sum(1 for line in lines if line.startswith("error:")) == 1, result.stderr


@pytest.fixture
def upstream():
    """The real registry behind the faulty proxy, holding one image with a 300 kB layer."""
    registry = Registry().start()
    RegistryWriter(registry).image("library/app", "1", [make_layer(300_000, 11)])
    yield registry
    registry.remove()


@pytest.fixture
def faulty(upstream, request):
    proxies = []

    def make(fault, stall_seconds=30):
        proxy = FaultyRegistry(upstream, fault, stall_seconds).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def deps_from(project, host, images=("library/app:1",)):
    project.write(f"[deps]\nimages = {json.dumps([f'{host}/{image}' for image in images])}\n")


@pytest.mark.parametrize("fault, words", [
    ("manifest_not_object", "not an object"),
    ("manifest_huge", "larger than 4 MiB"),
    ("manifest_endless", "larger than 4 MiB"),
    ("manifest_wrong_digest", "hash to"),
    ("blob_reset", "broke off"),
])
def test_source_faults_fail_the_source_and_push_nothing(project, registry, faulty, fault, words):
    proxy = faulty(fault, stall_seconds=10)
    deps_from(project, proxy.host)
    started = time.monotonic()
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", env={"ACRTASKS_RETRY_BACKOFF": "0"})
    assert_failed_cleanly(result)
    assert proxy.hit.is_set(), "the fault was never served"
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert failed and words in failed[0], result.stdout
    assert proxy.host in failed[0].split(": ", 1)[1], "the error must name the source registry"
    assert registry.host not in failed[0].split(": ", 1)[1], "the target is not at fault"
    assert registry.repositories() == [] or registry.tags("m/app") == []  # nothing tagged at the target
    assert time.monotonic() - started < 8, "a fault must not be waited out"


def test_stalled_source_is_a_timeout_of_the_source(project, registry, faulty):
    proxy = faulty("blob_stall", stall_seconds=20)
    deps_from(project, proxy.host)
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m",
                         env={"ACRTASKS_RETRY_BACKOFF": "0", "ACRTASKS_REGISTRY_TIMEOUT": "1"})
    assert_failed_cleanly(result)
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")][0]
    assert proxy.host in failed.split(": ", 1)[1] and "broke off" in failed, failed
    assert registry.tags("m/app") == []


def test_a_trickling_blob_is_cut_off_and_its_retries_are_bounded(project, registry, faulty):
    """A byte every half second never trips a socket timeout: it was waited on for ever. Now each window of
    the request's time must bring its bytes, the blob is tried three times in all (it was 3 x 3), and the
    summary says how long the pauses between tries took."""
    proxy = faulty("blob_trickle", stall_seconds=60)
    deps_from(project, proxy.host)
    started = time.monotonic()
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m",
                         env={"ACRTASKS_RETRY_BACKOFF": "0.1", "ACRTASKS_REGISTRY_TIMEOUT": "2"})
    took = time.monotonic() - started
    assert_failed_cleanly(result)
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")][0]
    assert proxy.host in failed.split(": ", 1)[1] and "broke off" in failed and "timed out" in failed, failed
    blob_gets = [p for m, p in proxy.requests_seen if m == "GET" and "/blobs/sha256:" in p]
    trickled = len(blob_gets) - len(set(blob_gets)) + 1  # the big blob's GETs (every other blob is fetched once)
    assert trickled == 3, proxy.requests_seen
    assert "waited 0s in 2 pause(s) between tries" in result.stdout, result.stdout
    assert took < 3 * (2 + 1) + 6, f"{took:.1f} s"
    assert registry.tags("m/app") == []


def test_a_blob_the_source_will_not_serve_is_asked_for_three_times_in_all(project, registry, faulty):
    """The copy retried a blob three times and the client each of its GETs three times: 9 GETs a blob."""
    proxy = faulty("blob_unavailable")
    deps_from(project, proxy.host)
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", env={"ACRTASKS_RETRY_BACKOFF": "0"})
    assert_failed_cleanly(result)
    blob_gets = [path for method, path in proxy.requests_seen if method == "GET" and "/blobs/sha256:" in path]
    big = max(set(blob_gets), key=blob_gets.count)
    assert blob_gets.count(big) == 3, proxy.requests_seen
    assert "waited 0s in 2 pause(s) between tries" in result.stdout, result.stdout


def test_headers_sent_a_byte_at_a_time_are_given_up_on_in_time(project, faulty):
    proxy = faulty("headers_trickle", stall_seconds=60)
    project.write()
    started = time.monotonic()
    result = project.inv("login", "--registry", proxy.host, "--username", "u", "--password-stdin", input="pw\n",
                         env={"ACRTASKS_RETRY_BACKOFF": "0.1", "ACRTASKS_REGISTRY_TIMEOUT": "2"})
    took = time.monotonic() - started
    assert_failed_cleanly(result)
    assert proxy.hit.is_set() and "timed out" in result.stderr and proxy.host in result.stderr, result.stderr
    assert took < 2 + 4, f"{took:.1f} s: the deadline bounds the headers too"


def test_token_service_answering_html_is_one_line(project, faulty):
    proxy = faulty("token_html")
    project.write()
    result = project.inv("login", "--registry", proxy.host, "--username", "u", "--password-stdin", input="pw\n")
    assert_failed_cleanly(result)
    assert proxy.hit.is_set()
    assert "not JSON" in result.stderr and proxy.host in result.stderr


def test_ctrl_c_stops_push_deps_records_what_finished_and_cancels_uploads(project, registry, faulty, upstream):
    """One dependency copies, the other stalls mid-blob: SIGINT ends it in moments with exit 130."""
    RegistryWriter(upstream).image("library/small", "1", [make_layer(200, 12)])  # under the 1000 bytes the fault spares
    proxy = faulty("blob_stall", stall_seconds=60)
    project.write(f'[deps]\nimages = ["{proxy.host}/library/small:1", "{proxy.host}/library/app:1"]\njobs = 2\n')
    metadata = project.root / "out" / "meta.json"
    metadata.parent.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "invoke", "push-deps", "--deps-namespace", f"{registry.host}/m",
                              "--metadata-file", str(metadata)], cwd=project.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "ACRTASKS_RETRY_BACKOFF": "0"})
    def ready():
        assert proxy.hit.wait(30), "the stall was never reached"
        deadline = time.monotonic() + 10
        while registry.tags("m/small") != ["1"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert registry.tags("m/small") == ["1"]
        # the tag is there a moment before the copy has read it back and counts as finished; the other copy
        # stalls for 60 s, so a second's grace loses nothing (CI once interrupted inside that moment)
        time.sleep(1.0)
        assert upload_dirs(registry), "expected an upload session open at the target"

    interrupt_promptly(child, ready)
    recorded = json.loads(metadata.read_text())["@deps"]
    assert [source.split("/", 1)[1] for source in recorded] == ["library/small:1"], recorded
    assert list(metadata.parent.iterdir()) == [metadata], "a temp file was left behind"
    assert registry.tags("m/app") == []
    assert upload_dirs(registry) == [], "the open upload session was not cancelled: " + "\n".join(
        str(request)[:90] for request in registry.requests() if "upload" in str(request))


def test_a_source_that_breaks_off_mid_export_leaves_no_bundle(project, faulty):
    proxy = faulty("blob_reset")
    deps_from(project, proxy.host)
    output = project.root / "out" / "bundle.tar"
    output.parent.mkdir()
    result = project.inv("export", "--output", str(output), "--version", "1", env={"ACRTASKS_RETRY_BACKOFF": "0"})
    assert_failed_cleanly(result)
    assert "broke off" in result.stderr
    assert list(output.parent.iterdir()) == [], "a bundle or its temp file was left behind"


def test_ctrl_c_stops_an_export_and_leaves_no_bundle(project, faulty):
    proxy = faulty("blob_stall", stall_seconds=60)
    deps_from(project, proxy.host)
    output = project.root / "out" / "bundle.tar"
    output.parent.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "invoke", "export", "--output", str(output), "--version", "1"],
                             cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupt_promptly(child, lambda: proxy.hit.wait(30) or pytest.fail("the stall was never reached"))
    assert list(output.parent.iterdir()) == [], "a bundle or its temp file was left behind"


@pytest.mark.parametrize("task", ["push-deps", "export"])
def test_a_blob_that_does_not_hash_to_its_digest_is_refused(project, registry, faulty, task):
    """Into a registry the registry's own check refuses it; into a bundle ours does. Either way the source is
    named, exit 1, and nothing is left: no tag, no bundle."""
    proxy = faulty("blob_corrupt")
    deps_from(project, proxy.host)
    output = project.root / "out" / "bundle.tar"
    output.parent.mkdir()
    args = ["--deps-namespace", f"{registry.host}/m"] if task == "push-deps" else ["--output", str(output),
                                                                                   "--version", "1"]
    result = project.inv(task, *args, env={"ACRTASKS_RETRY_BACKOFF": "0"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert proxy.hit.is_set()
    assert "does not hash to" in result.stdout + result.stderr and proxy.host in result.stdout + result.stderr
    assert registry.tags("m/app") == []
    assert list(output.parent.iterdir()) == []


def test_promote_survives_a_registry_failing_a_blob_upload_once(project, upstream, registry):
    """promote's fan-out did not retry a blob (only push-deps' single copy did): one 503 from a destination
    failed the release there. Now every copy retries a blob the same way."""
    from acrtasks.naming import ImageRef
    from acrtasks.registry.client import Clients
    from acrtasks.release import record as records

    image = RegistryWriter(upstream).image("team/demo-api", "v1", [make_layer(50_000, 31)])
    ref = f"{upstream.host}/team/demo-api:v1"
    records.write(Clients(), ImageRef(upstream.host, "team/demo", "release-v1"), records.Record(
        "demo", "v1", records.utc_now(), {"api": records.ComponentEntry({ref: image["digest"]}, image["digest"], {},
                                                                      ("linux/amd64",), (), False)}))
    destination = FaultyRegistry(registry, "upload_fails_once").start()
    try:
        project.component("api", "FROM scratch\n")
        project.write()
        done = project.inv("promote", "--version", "v1", "--from", f"{upstream.host}/team", "--to",
                           f"{destination.host}/prod", "--no-preflight", env={"ACRTASKS_RETRY_BACKOFF": "0"})
        assert done.returncode == 0, done.stdout + done.stderr
        assert destination.hit.is_set(), "the fault was never served"
        assert registry.digest("prod/demo-api", "v1") == image["digest"]  # read back from the registry itself
        assert "waited 0s in 1 pause(s) between tries" in done.stdout, done.stdout
    finally:
        destination.stop()
