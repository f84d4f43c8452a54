"""Every documented flag, key and variable, read back from its effect: overlap, cache hits, registry writes.

Each test would pass on the tool's own words; none of them reads those words.
The evidence is what the engine, the registries or the files say afterwards.
"""

import base64
import json

import pytest
from support import unique_version
from harness import BASE_IMAGE, FaultyRegistry, Registry, RegistryWriter, make_layer


# The ARG before the RUN makes every version a cache miss, so each build really sleeps.
SLEEPY = f"FROM {BASE_IMAGE}\nARG VERSION\nRUN echo $VERSION > /v && sleep 2\n"
DATED = f"FROM {BASE_IMAGE}\nRUN cat /proc/sys/kernel/random/uuid > /id\n"


def sleep_layer_created(api, ref) -> int:
    """When the engine committed the image's sleeping step (its newest history entry with 'sleep')."""
    return next(entry["Created"] for entry in api.history(ref) if "sleep" in (entry.get("CreatedBy") or ""))


@pytest.mark.parametrize("args, env, config, overlap", [
    (["--parallel", "2"], {}, "", True),
    (["--parallel", "1"], {}, "", False),
    ([], {"ACRTASKS_PARALLEL": "2"}, "[build]\nparallel = 1\n", True),
    ([], {}, "[build]\nparallel = 1\n", False),
    ([], {}, "[build]\nparallel = 2\n", True),
])
def test_parallel_builds_overlap_in_the_engine(project, engine, api, args, env, config, overlap):
    for name in ("one", "two"):  # Dockerfiles of their own: no build may reuse the other's cache
        project.component(name, SLEEPY.replace("/v ", f"/{name} "), '{ VERSION = "{version}" }')
    project.write(config)
    version = unique_version()
    result = project.inv("build", "--version", version, "--progress", "quiet", *args, env=env)
    assert result.returncode == 0, result.stderr
    gap = abs(sleep_layer_created(api, f"demo-one:{version}") - sleep_layer_created(api, f"demo-two:{version}"))
    assert (gap <= 1) == overlap, f"the sleeping steps finished {gap} s apart"


@pytest.mark.parametrize("backend", ["classic", "buildkit"])
def test_no_cache_rebuilds_and_the_cache_is_used_otherwise(project, engine, api, backend):
    # a step no other test has built (its own token): neither an earlier test's build cache nor its image with
    # the same inputs can stand in for this test's first build
    project.component("api", DATED.replace("RUN ", f"RUN echo {unique_version('t')} > /token && ", 1))
    first, cached, fresh = unique_version(), unique_version(), unique_version()
    for version, extra in ((first, []), (cached, []), (fresh, ["--no-cache"])):
        result = project.inv("build", "--version", version, "--progress", "quiet", "--backend", backend, *extra)
        assert result.returncode == 0, result.stderr

    def layers(version):
        return api.inspect_image(f"demo-api:{version}")["RootFS"]["Layers"]

    assert layers(cached) == layers(first), "without --no-cache the RUN step comes from the cache"
    assert layers(fresh) != layers(first), "--no-cache must run the step again (a new uuid, a new layer)"


@pytest.fixture
def slow_source():
    """A source of two images whose layer downloads take a second each, recording when they ran."""
    upstream = Registry().start()
    writer = RegistryWriter(upstream)
    writer.image("library/a", "1", [make_layer(50_000, 41)])
    writer.image("library/b", "1", [make_layer(50_000, 42)])
    proxy = FaultyRegistry(upstream, "blob_slow").start()
    yield proxy
    proxy.stop()
    upstream.remove()


def _overlapped(intervals) -> bool:
    (a_start, a_end), (b_start, b_end) = sorted(intervals)
    return b_start < a_end


@pytest.mark.parametrize("args, config, overlap", [
    (["--jobs", "2"], "", True),
    (["--jobs", "1"], "", False),
    ([], "jobs = 1\n", False),
    ([], "jobs = 2\n", True),
])
def test_jobs_copy_dependencies_at_once(project, registry, slow_source, args, config, overlap):
    project.write(f'[deps]\nimages = ["{slow_source.host}/library/a:1", "{slow_source.host}/library/b:1"]\n'
                  + config)
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", *args)
    assert result.returncode == 0, result.stderr + result.stdout
    assert len(slow_source.intervals) == 2
    assert _overlapped(slow_source.intervals) == overlap, slow_source.intervals


@pytest.fixture
def source():
    registry = Registry().start()
    writer = RegistryWriter(registry)
    writer.image("library/postgres", "15", [make_layer(100_000, 51), make_layer(50_000, 52)])
    amd = writer.image("minio/minio", None, [make_layer(40_000, 53)], "amd64")
    arm = writer.image("minio/minio", None, [make_layer(30_000, 54)], "arm64", "v8")
    registry.index_digest = writer.index("minio/minio", "2024", [amd, arm])
    registry.children = [amd["digest"], arm["digest"]]
    yield registry
    registry.remove()


def _deps(project, source, extra=""):
    project.write(f'[deps]\nimages = ["{source.host}/library/postgres:15"]\n{extra}')


def _uploads(registry) -> int:
    """Blob bytes sent to the registry: PUT/PATCH requests on upload sessions, from its own log."""
    log = (registry.root / "registry.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "response completed" in line and "/blobs/uploads/" in line
               and ("http.request.method=PUT" in line or "http.request.method=PATCH" in line))


def test_force_uploads_every_blob_again(project, source, target):
    _deps(project, source)
    namespace = f"{target.host}/m"
    assert project.inv("push-deps", "--deps-namespace", namespace).returncode == 0
    uploads = _uploads(target)
    assert uploads == 3  # two layers and the config
    again = project.inv("push-deps", "--deps-namespace", namespace, "--no-skip-existing")
    assert again.returncode == 0, again.stderr
    assert _uploads(target) == uploads, "without --force the blobs the target has are not sent again"
    forced = project.inv("push-deps", "--deps-namespace", namespace, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _uploads(target) == uploads + 3, "--force re-uploads every blob"


@pytest.mark.parametrize("config, args, writes", [
    ("", [], False),
    ("skip_existing = false\n", [], True),
    ("skip_existing = false\n", ["--skip-existing"], False),
    ("", ["--no-skip-existing"], True),
])
def test_skip_existing_key_and_flags(project, source, target, config, args, writes):
    _deps(project, source, config)
    namespace = f"{target.host}/m"
    assert project.inv("push-deps", "--deps-namespace", namespace).returncode == 0
    before = target.write_requests()
    result = project.inv("push-deps", "--deps-namespace", namespace, *args)
    assert result.returncode == 0, result.stderr
    assert (target.write_requests() > before) == writes


def test_contradicting_skip_flags_are_a_usage_error(project, source, target):
    _deps(project, source)
    result = project.inv("push-deps", "--deps-namespace", f"{target.host}/m", "--skip-existing",
                         "--no-skip-existing")
    assert result.returncode == 2 and "contradict" in result.stderr
    assert target.repositories() == []


def test_configured_mirrors_win_over_daemon_json(project, source, registry, tmp_path):
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"registry-mirrors": ["http://127.0.0.1:9"]}))  # nothing listens there
    project.write(f'[deps]\nimages = ["postgres:15"]\nmirrors = ["http://{source.host}"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/hub",
                         env={"ACRTASKS_DAEMON_JSON": str(daemon), "ACRTASKS_RETRY_BACKOFF": "0"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert registry.digest("hub/postgres", "15") == source.digest("library/postgres", "15")


@pytest.mark.parametrize("platforms, expected", [(["linux/amd64"], 0), (["linux/arm64"], 1),
                                                  (["linux/amd64", "linux/arm64"], None), ([], "index")])
def test_platform_filter(project, source, registry, platforms, expected):
    project.write(f'[deps]\nimages = ["{source.host}/minio/minio:2024"]\n')
    flags = [arg for platform in platforms for arg in ("--platform", platform)]
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", *flags)
    assert result.returncode == 0, result.stderr
    digest = registry.digest("m/minio", "2024")
    if expected == "index":
        assert digest == source.index_digest
    elif expected is None:  # both platforms asked for: every one the index has, so the index itself
        assert digest == source.index_digest
    else:
        assert digest == source.children[expected]
        other = source.children[1 - expected]
        assert registry.digest("m/minio", other) is None, "the other platform must not be copied"


def test_layout_from_the_environment_reaches_push_deps_and_push(project, source, registry, engine):
    _deps(project, source)
    result = project.inv("push-deps", "--deps-namespace", registry.host, env={"ACRTASKS_LAYOUT": "flat"})
    assert result.returncode == 0, result.stderr
    assert registry.repositories() == ["demo/postgres"]  # flat: the project name is the namespace
    project.component("api", f"FROM {BASE_IMAGE}\n")
    _deps(project, source)
    version = unique_version()
    result = project.inv("build", "--progress", "quiet", "push", "--registry", f"{registry.host}/ns",
                         "--version", version, env={"ACRTASKS_LAYOUT": "flat"})
    assert result.returncode == 0, result.stderr
    assert registry.tags("ns/demo") == [f"api-{version}", f"release-{version}"]


def test_username_from_the_environment(project, auth_registry, tmp_path):
    project.write()
    config = tmp_path / "cfg"
    result = project.inv("login", "--registry", auth_registry.host, "--password-stdin", input="wonder-land-42\n",
                         env={"ACRTASKS_USERNAME": "alice", "DOCKER_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    auth = json.loads((config / "config.json").read_text())["auths"][auth_registry.host]["auth"]
    assert base64.b64decode(auth).decode() == "alice:wonder-land-42"


def test_a_target_that_keeps_another_digest_fails_the_copy(project, source, registry):
    proxy = FaultyRegistry(registry, "target_wrong_digest").start()
    try:
        _deps(project, source)
        result = project.inv("push-deps", "--deps-namespace", f"{proxy.host}/m")
    finally:
        proxy.stop()
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert failed and "digest after copy" in failed[0] and proxy.host in failed[0], result.stdout


def test_registries_are_reached_through_https_proxy_as_docker_does(project, source, registry):
    """A registry by a name that only the proxy knows: every request goes through HTTP(S)_PROXY."""
    from harness import ForwardProxy

    proxy = ForwardProxy(registry).start()
    name = f"registry.acrtasks.test:{registry.port}"  # never resolved here: only the proxy sees it
    try:
        _deps(project, source, f'[registry]\ninsecure_hosts = ["{name}"]\n')
        result = project.inv("push-deps", "--deps-namespace", f"{name}/m",
                             env={"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "NO_PROXY": ""})
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    assert registry.digest("m/postgres", "15") == source.digest("library/postgres", "15")
    assert ("CONNECT", name) in proxy.hosts_seen, "HTTPS is tried first, through the proxy"
    assert {host for method, host in proxy.hosts_seen if method != "CONNECT"} == {name}


def test_a_proxy_that_wants_credentials_gets_them_from_the_proxy_url(project, source, registry):
    """HTTPS_PROXY=http://user:pass@proxy: urllib3 does not send Proxy-Authorization by itself; a corporate proxy
    then answered 407 and the error said only MaxRetryError."""
    from harness import ForwardProxy

    proxy = ForwardProxy(registry, credentials="corp\\bob:pa:ss@1").start()
    name = f"registry.acrtasks.test:{registry.port}"
    authed = proxy.url.replace("http://", "http://corp%5Cbob:pa%3Ass%401@")
    try:
        _deps(project, source, f'[registry]\ninsecure_hosts = ["{name}"]\n')
        ok = project.inv("push-deps", "--deps-namespace", f"{name}/m",
                         env={"HTTPS_PROXY": authed, "HTTP_PROXY": authed, "NO_PROXY": ""})
        wrong = proxy.url.replace("http://", "http://corp%5Cbob:nope@")
        refused = project.inv("push-deps", "--deps-namespace", f"{name}/other",
                              env={"HTTPS_PROXY": wrong, "HTTP_PROXY": wrong, "NO_PROXY": "", "ACRTASKS_RETRY_BACKOFF": "0"})
    finally:
        proxy.stop()
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert registry.digest("m/postgres", "15") == source.digest("library/postgres", "15")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the proxy failed" in refused.stdout + refused.stderr and "nope" not in refused.stdout + refused.stderr
