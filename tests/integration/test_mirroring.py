"""Mirroring as teams run it (issue 29): only the platforms they run, an images.txt, keep-going with a failures
file, and --check. Every effect is read back from the target registry's API and its log."""

import json
import time

import pytest
from harness import Registry, RegistryWriter, make_layer
from support import read_record, unique_version

ATTESTATION = "attestation-manifest"


@pytest.fixture
def source():
    """A source with ``multi/tool:1``: an OCI index of three platforms (amd64, arm64/v8, riscv64), amd64's and
    arm64's each with a buildx-style attestation entry after the images; and a plain ``library/redis:7``."""
    registry = Registry(log_level="info").start()
    writer = RegistryWriter(registry)
    layers = {arch: make_layer(60_000 + seed * 1000, 40 + seed) for seed, arch in
              enumerate(("amd64", "arm64", "riscv64"))}
    images = [writer.image("multi/tool", None, [layers["amd64"]], "amd64", oci=True),
              writer.image("multi/tool", None, [layers["arm64"]], "arm64", "v8", oci=True),
              writer.image("multi/tool", None, [layers["riscv64"]], "riscv64", oci=True)]
    attestations = []
    for number, image in enumerate(images[:2]):
        statement = writer.image("multi/tool", None, [make_layer(3_000, 90 + number)], "unknown", oci=True)
        statement["platform"] = {"architecture": "unknown", "os": "unknown"}
        statement["annotations"] = {"vnd.docker.reference.type": ATTESTATION,
                                    "vnd.docker.reference.digest": image["digest"]}
        attestations.append(statement)
    registry.index_digest = writer.index("multi/tool", "1", [*images, *attestations], oci=True)
    registry.images, registry.attestations, registry.layers = images, attestations, layers
    writer.image("library/redis", "7", [make_layer(50_000, 7)])
    registry.writer = writer
    yield registry
    registry.remove()


def entries(registry, repository, tag):
    return [entry["digest"] for entry in registry.manifest(repository, tag)["manifests"]]


def has_blob(registry, repository, digest):
    import urllib.error

    try:
        return registry._request("HEAD", f"/v2/{repository}/blobs/{digest}").status == 200
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def test_deps_platforms_reduce_the_index_keep_attestations_and_say_both_digests(project, source, target):
    project.write(f'[deps]\nimages = ["{source.host}/multi/tool:1"]\nplatforms = ["linux/amd64", "linux/arm64"]\n')
    meta = project.root / "meta.json"
    version = unique_version()
    done = project.inv("push-deps", "--registry", f"{target.host}/team", "--version", version,
                       "--attestations", "keep", "--metadata-file", str(meta))
    assert done.returncode == 0, done.stdout + done.stderr
    amd, arm, riscv = source.images
    # only those entries, in the source's order, each attestation with its platform, digests unchanged
    assert entries(target, "team/tool", "1") == [amd["digest"], arm["digest"],
                                                 *(a["digest"] for a in source.attestations)]
    assert target.digest("team/tool", riscv["digest"]) is None
    assert not has_blob(target, "team/tool", source.layers["riscv64"]["digest"])
    assert has_blob(target, "team/tool", source.layers["arm64"]["digest"])
    reduced = target.digest("team/tool", "1")
    assert reduced != source.index_digest
    said = f"source index {source.index_digest} reduced to linux/amd64, linux/arm64/v8"
    assert said in done.stdout and reduced in done.stdout
    entry = json.loads(meta.read_text())["@deps"][f"{source.host}/multi/tool:1"]
    assert (entry["digest"], entry["source_digest"]) == (reduced, source.index_digest)
    _, record = read_record(target, "team/demo", version)
    [dep] = record["dependencies"]
    assert (dep["digest"], dep["source_digest"]) == (reduced, source.index_digest)
    offset = target.log_size()  # a re-run is a no-op: nothing written (the preflight's POST is cancelled)
    again = project.inv("push-deps", "--deps-namespace", f"{target.host}/team", "--attestations", "keep")
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout + again.stderr
    assert not [r for r in target.requests(offset) if r[0] in ("PUT", "PATCH")]


def test_attestations_of_kept_platforms_go_where_the_target_refuses_them_not(project, source, target):
    project.write(f'[deps]\nimages = ["{source.host}/multi/tool:1"]\nplatforms = ["linux/arm64"]\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--platform", "linux/amd64",
                       "--platform", "linux/riscv64", "--attestations", "drop")
    assert done.returncode == 0, done.stdout + done.stderr
    amd, _, riscv = source.images  # the flag wins over [deps] platforms
    assert entries(target, "m/tool", "1") == [amd["digest"], riscv["digest"]]


def test_a_platform_the_source_lacks_is_an_error_naming_what_it_has(project, source, target):
    project.write(f'[deps]\nimages = ["{source.host}/multi/tool:1"]\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--platform", "linux/amd64",
                       "--platform", "linux/s390x")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "has no linux/s390x (it has linux/amd64, linux/arm64/v8, linux/riscv64)" in done.stdout
    assert "Traceback" not in done.stderr
    assert target.repositories() == []


def test_images_txt_with_comments_and_platform_per_line(project, source, target):
    (project.root / "images.txt").write_text(
        "# mirrored nightly\n\n"
        f"--platform=linux/riscv64 {source.host}/multi/tool:1   # only what the board runs\n"
        f"{source.host}/library/redis:7\n")
    project.write('[deps]\nlist_file = "images.txt"\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.repositories() == ["m/redis", "m/tool"]
    assert target.digest("m/tool", "1") == source.images[2]["digest"]  # one platform: its manifest
    assert target.digest("m/redis", "7") == source.digest("library/redis", "7")


@pytest.mark.parametrize("line, problem", [
    ("--platform=linux {host}/multi/tool:1", "images.txt:2: --platform 'linux' is not os/arch"),
    ("{host}/multi/tool:1 {host}/library/redis:7", "images.txt:2: one image per line, found 2"),
    ("--pull=always {host}/multi/tool:1", "images.txt:2: unknown option '--pull=always'"),
    ("{host}/Multi/Tool:1", "images.txt:2: "),
])
def test_a_bad_images_txt_line_is_one_error_naming_the_line(project, source, target, line, problem):
    (project.root / "images.txt").write_text(f"{source.host}/library/redis:7\n{line.format(host=source.host)}\n")
    project.write('[deps]\nlist_file = "images.txt"\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: " + problem) and len(done.stderr.strip().splitlines()) == 1
    assert target.repositories() == []


def test_keep_going_writes_the_failures_and_only_failed_tries_them_again(project, source, target):
    missing = f"{source.host}/library/gone:1"
    project.write(f'[deps]\nimages = ["{missing}", "{source.host}/library/redis:7", '
                  f'"{source.host}/multi/tool:1"]\n')
    env = {"ACRTASKS_RETRY_BACKOFF": "0"}
    stop = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--jobs", "1", env=env)
    assert stop.returncode == 1, stop.stdout + stop.stderr
    assert target.repositories() == [], "without --keep-going nothing starts after the first failure"
    assert "not started: 2" in stop.stdout
    failures = project.root / "failed.json"
    going = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--jobs", "1", "--keep-going",
                        "--failures-file", str(failures), env=env)
    assert going.returncode == 1, going.stdout + going.stderr
    assert target.repositories() == ["m/redis", "m/tool"]
    body = json.loads(failures.read_text())
    assert body["schema"] == "acrtasks.push-deps.failures.v1"
    [failed] = body["failed"]
    assert (failed["image"], failed["target"], failed["step"], failed["status"]) == (
        missing, f"{target.host}/m/gone:1", "source", 404)
    source.writer.image("library/gone", "1", [make_layer(10_000, 11)])
    offset = target.log_size()
    again = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--only-failed", str(failures))
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.digest("m/gone", "1") == source.digest("library/gone", "1")
    written = {uri.split("/")[3] for method, uri in target.requests(offset) if method == "PUT"}
    assert written == {"gone"}, written  # only the failed one was copied
    clean = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--keep-going", "--failures-file",
                        str(failures))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(failures.read_text())["failed"] == [], "an old list is not left to be tried again"


def test_check_copies_nothing_and_exits_1_unless_all_are_present(project, source, target):
    project.write(f'[deps]\nimages = ["{source.host}/library/redis:7", "{source.host}/multi/tool:1"]\n'
                  'platforms = ["linux/amd64", "linux/arm64"]\n')
    ns = f"{target.host}/m"
    offset = target.log_size()
    before = project.inv("push-deps", "--deps-namespace", ns, "--check")
    assert before.returncode == 1, before.stdout + before.stderr
    assert "missing: 2" in before.stdout
    assert target.repositories() == [] and not [r for r in target.requests(offset) if r[0] != "GET" and
                                                r[0] != "HEAD"]
    assert project.inv("push-deps", "--deps-namespace", ns).returncode == 0
    present = project.inv("push-deps", "--deps-namespace", ns, "--check")
    assert present.returncode == 0 and "present: 2" in present.stdout, present.stdout + present.stderr
    source.writer.image("library/redis", "7", [make_layer(50_000, 8)])  # the source moved on
    moved = project.inv("push-deps", "--deps-namespace", ns, "--check")
    assert moved.returncode == 1 and "different: 1, present: 1" in moved.stdout, moved.stdout


def test_promote_platform_reduces_every_index_and_the_record_says_from_what(project, source, target):
    other = Registry().start()
    try:
        project.write(f'[deps]\nimages = ["{source.host}/multi/tool:1"]\n')
        version = unique_version()
        pushed = project.inv("push-deps", "--registry", f"{target.host}/team", "--version", version)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert target.digest("team/tool", "1") == source.index_digest
        done = project.inv("promote", "--version", version, "--from", f"{target.host}/team",
                           "--to", f"{other.host}/shop", "--platform", "linux/arm64", "--platform", "linux/riscv64",
                           "--attestations", "drop")
        assert done.returncode == 0, done.stdout + done.stderr
        _, arm, riscv = source.images
        assert entries(other, "shop/tool", "1") == [arm["digest"], riscv["digest"]]
        _, record = read_record(other, "shop/demo", version)
        [dep] = record["dependencies"]
        assert dep["source_digest"] == source.index_digest
        assert dep["digest"] == other.digest("shop/tool", "1")
        shown = project.inv("show-release", "--registry", f"{other.host}/shop", "--version", version, "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout) == record, shown.stderr  # read back whole
        lacking = project.inv("promote", "--version", version, "--from", f"{target.host}/team",
                              "--to", f"{other.host}/more", "--platform", "linux/s390x")
        assert lacking.returncode == 1 and "has no linux/s390x" in lacking.stdout + lacking.stderr
        assert not [r for r in other.repositories() if r.startswith("more/")]
    finally:
        other.remove()


def hub_project(project, source, hub, count=3, floor=2, max_wait=60):
    images = [f"{hub.host}/library/img{n}:1" for n in range(count)]
    for n in range(count):
        source.writer.image(f"library/img{n}", "1", [make_layer(20_000, 200 + n)])
    project.write(f"[deps]\nimages = {json.dumps(images)}\nratelimit_floor = {floor}\n"
                  f"ratelimit_max_wait = {max_wait}\njobs = 2\n")


def test_below_the_floor_the_copy_pauses_until_the_window_allows(project, source, target):
    from harness import HubLikeRegistry

    hub = HubLikeRegistry(source, limit=4, refill_after=2.0).start()
    try:
        hub_project(project, source, hub, count=3, floor=2)
        started = time.monotonic()
        done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", timeout=60)
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert target.repositories() == ["m/img0", "m/img1", "m/img2"]
        assert hub.refused == 0, "never hammered: no pull was sent past the floor"
        assert hub.pulls == 3
        assert "2 of 4 pulls left in the window" in done.stderr and "pausing" in done.stderr, (hub.events, done.stdout)
        pulls = [when for when, what in hub.events if what == "pull"]
        assert pulls[2] - pulls[0] >= 1.9  # the third pull waited for the window
        assert took < 30
        heads = [what for _, what in hub.events].count("head")
        assert heads < 40, "the count is asked again at a bounded pace"
        assert "anonymous" in done.stdout
    finally:
        hub.stop()


def test_a_window_that_does_not_come_back_stops_after_the_maximum_wait(project, source, target):
    from harness import HubLikeRegistry

    hub = HubLikeRegistry(source, limit=3, refill_after=3600).start()
    try:
        hub_project(project, source, hub, count=3, floor=2, max_wait=2)
        started = time.monotonic()
        done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--keep-going", timeout=60)
        took = time.monotonic() - started
        assert done.returncode == 1, done.stdout + done.stderr
        assert "the pull limit is spent" in done.stdout and "ratelimit_max_wait" in done.stdout
        assert hub.refused == 0 and hub.pulls <= 2  # two jobs start before the first count is known
        assert 1.5 < took < 20
        assert "Traceback" not in done.stderr
    finally:
        hub.stop()


def test_a_429_is_waited_out_by_its_retry_after_not_hammered(project, source, target):
    from harness import HubLikeRegistry

    hub = HubLikeRegistry(source, limit=100, retry_after=2, refuse_first=1).start()
    try:
        hub_project(project, source, hub, count=1, floor=0)
        done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m",
                           env={"ACRTASKS_RETRY_BACKOFF": "0"}, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        refused, pulled = [when for when, what in hub.events if what in ("429", "pull")][:2]
        assert pulled - refused >= 1.9, "the next pull came only after Retry-After"
        assert (hub.refused, hub.pulls) == (1, 1)
        assert "429 Too Many Requests, Retry-After 2 s" in done.stderr
        assert target.digest("m/img0", "1") == source.digest("library/img0", "1")
    finally:
        hub.stop()


def test_tag_rules_resolve_at_plan_time_from_the_tag_list_and_are_recorded_resolved(project, source, target):
    for tag, seed in (("1.9", 1), ("1.10", 2), ("1.10-alpine", 3), ("2.0", 4), ("latest", 4)):
        source.writer.image("library/tool", tag, [make_layer(5_000, 300 + seed)])
    (project.root / "images.txt").write_text(f"{source.host}/library/tool:~1-alpine\n"
                                             f"{source.host}/library/tool:>=1.9 <3 newest 2\n")
    project.write('[deps]\nlist_file = "images.txt"\n')
    version = unique_version()
    dry = project.inv("--dry", "push-deps", "--registry", f"{target.host}/team", "--version", version)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"tag rule {source.host}/library/tool:~1-alpine -> 1.10-alpine" in dry.stdout
    assert f"tag rule {source.host}/library/tool:>=1.9 <3 newest 2 -> 2.0, 1.10" in dry.stdout
    assert target.repositories() == []
    done = project.inv("push-deps", "--registry", f"{target.host}/team", "--version", version)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(target.tags("team/tool")) == ["1.10", "1.10-alpine", "2.0"]
    for tag in ("1.10", "1.10-alpine", "2.0"):
        assert target.digest("team/tool", tag) == source.digest("library/tool", tag)
    _, record = read_record(target, "team/demo", version)
    assert sorted(dep["source"] for dep in record["dependencies"]) == [
        f"{source.host}/library/tool:{tag}" for tag in ("1.10", "1.10-alpine", "2.0")]


def test_a_tag_rule_that_matches_nothing_names_what_there_is_and_copies_nothing(project, source, target):
    for tag, seed in (("1.9", 1), ("2.0", 4)):
        source.writer.image("library/tool", tag, [make_layer(5_000, 300 + seed)])
    project.write(f'[deps]\nimages = ["{source.host}/library/redis:7", "{source.host}/library/tool:~3"]\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (f"error: tag rule '{source.host}/library/tool:~3' matches none of the 2 tag(s) "
                                   "(newest: 2.0, 1.9)")
    assert target.repositories() == []


def test_a_failures_file_that_is_not_ours_is_never_written_over(project, source, target):
    project.write(f'[deps]\nimages = ["{source.host}/library/redis:7"]\n')
    notes = project.root / "notes.json"
    notes.write_text('{"mine": true}\n')
    done = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--keep-going", "--failures-file",
                       str(notes))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (f"error: --failures-file {notes} exists and is not a push-deps failures file; "
                                   "pick another path")
    assert notes.read_text() == '{"mine": true}\n' and target.repositories() == []
    missing = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--keep-going", "--failures-file",
                          str(project.root / "no" / "such" / "dir" / "f.json"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: --failures-file: cannot write")
    assert target.repositories() == []
