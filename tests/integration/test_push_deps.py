"""push-deps against real registries: plain, htpasswd and token-auth targets; multi-arch; skip; failures."""

import base64
import json

import pytest
from harness import Registry, RegistryWriter, TokenServer, make_layer


USER, PASSWORD = "bob", "mirror-me-7"


@pytest.fixture
def source():
    """A source registry seeded with three images, one of them a two-platform index."""
    registry = Registry().start()
    writer = RegistryWriter(registry)
    writer.image("library/postgres", "15", [make_layer(300_000, 1), make_layer(100_000, 2)])
    writer.image("library/redis", "7", [make_layer(200_000, 3)])
    amd = writer.image("minio/minio", None, [make_layer(150_000, 4)], "amd64")
    arm = writer.image("minio/minio", None, [make_layer(120_000, 5)], "arm64", "v8")
    registry.index_digest = writer.index("minio/minio", "2024", [amd, arm])
    registry.children = [amd["digest"], arm["digest"]]
    registry.writer = writer
    yield registry
    registry.remove()


def deps_project(project, source, extra_deps=(), extra=""):
    images = [f"{source.host}/library/postgres:15", f"{source.host}/library/redis:7", f"{source.host}/minio/minio:2024",
              *extra_deps]
    project.write(f"[deps]\nimages = {json.dumps(images)}\n{extra}")
    return project


def config_with(tmp_path, host, user=USER, password=PASSWORD):
    directory = tmp_path / "dockercfg"
    directory.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(directory)}


def status_lines(result):
    return {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in ("copied", "updated", "recopied", "unchanged", "failed")}


@pytest.fixture
def logged_registry():
    """A plain target registry that logs every request, to count writes."""
    registry = Registry(log_level="info").start()
    yield registry
    registry.remove()


def test_copy_to_plain_target_keeps_every_platform(project, source, logged_registry):
    registry = logged_registry
    deps_project(project, source)
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror")
    assert result.returncode == 0, result.stderr + result.stdout
    assert registry.repositories() == ["mirror/minio", "mirror/postgres", "mirror/redis"]
    assert registry.digest("mirror/minio", "2024") == source.index_digest
    for child in source.children:
        assert registry.digest("mirror/minio", child) == child
    assert registry.digest("mirror/postgres", "15") == source.digest("library/postgres", "15")
    assert "linux/amd64,linux/arm64/v8" in result.stdout
    assert "copied: 3" in result.stdout

    writes = registry.write_requests()
    assert writes > 0
    again = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror")
    assert again.returncode == 0, again.stderr
    assert "unchanged: 3" in again.stdout
    assert registry.write_requests() == writes  # the re-run uploaded nothing: HEAD requests only


def test_updated_tag_and_forced_recopy(project, source, registry):
    deps_project(project, source)
    target = f"{registry.host}/mirror"
    assert project.inv("push-deps", "--deps-namespace", target).returncode == 0
    source.writer.image("library/redis", "7", [make_layer(210_000, 33)])
    result = project.inv("push-deps", "--deps-namespace", target)
    assert result.returncode == 0, result.stderr
    assert status_lines(result)[f"{source.host}/library/redis:7"] == "updated"
    assert registry.digest("mirror/redis", "7") == source.digest("library/redis", "7")
    forced = project.inv("push-deps", "--deps-namespace", target, "--force", "--dep",
                         f"{source.host}/library/postgres:15")
    assert forced.returncode == 0, forced.stderr
    assert status_lines(forced) == {f"{source.host}/library/postgres:15": "recopied"}


def test_flat_layout_on_forced_flat_target(project, source, registry):
    deps_project(project, source, extra='[registry]\nlayout = "flat"\n')
    result = project.inv("push-deps", "--deps-namespace", registry.host)
    assert result.returncode == 0, result.stderr
    assert registry.repositories() == ["demo/minio", "demo/postgres", "demo/redis"]


def test_htpasswd_target_with_and_without_credentials(project, source, auth_registry, tmp_path):
    deps_project(project, source)
    target = f"{auth_registry.host}/mirror"
    refused = project.inv("push-deps", "--deps-namespace", target, env={"DOCKER_CONFIG": str(tmp_path)})
    assert refused.returncode == 1
    assert f"inv login --registry {auth_registry.host}" in refused.stderr
    assert refused.stderr.strip().startswith("error: nothing copied")
    assert auth_registry.repositories() == []

    env = config_with(tmp_path, auth_registry.host, "alice", "wonder-land-42")
    result = project.inv("push-deps", "--deps-namespace", target, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert auth_registry.digest("mirror/minio", "2024") == source.index_digest


def test_token_auth_target(project, source, tmp_path):
    tokens = TokenServer({USER: PASSWORD}, tmp_path / "tokens").start()
    target_registry = Registry(token=tokens).start()
    try:
        deps_project(project, source)
        env = config_with(tmp_path, target_registry.host)
        result = project.inv("push-deps", "--deps-namespace", f"{target_registry.host}/mirror", env=env)
        assert result.returncode == 0, result.stderr + result.stdout
        scopes = {scope for query in tokens.requests_seen for scope in query.get("scope", [])}
        assert "repository:mirror/minio:pull,push" in scopes

        from acrtasks.copy.manifests import ACCEPT
        from acrtasks.registry.client import RegistryClient
        from acrtasks.registry.credentials import Credentials

        client = RegistryClient(target_registry.host, Credentials(USER, PASSWORD))
        head = client.request("HEAD", "/v2/mirror/minio/manifests/2024", scope="repository:mirror/minio:pull",
                              headers={"Accept": ACCEPT})
        assert head.headers["Docker-Content-Digest"] == source.index_digest

        wrong = project.inv("push-deps", "--deps-namespace", f"{target_registry.host}/mirror",
                            env=config_with(tmp_path, target_registry.host, USER, "wrong"))
        assert wrong.returncode == 1
        assert "refused the credentials" in wrong.stderr and "inv login" in wrong.stderr
    finally:
        target_registry.remove()
        tokens.stop()


def test_identity_token_from_a_token_login_is_used(project, source, tmp_path):
    """An ``identitytoken`` in config.json is traded at the token service (refresh-token grant), no password."""
    tokens = TokenServer({USER: PASSWORD}, tmp_path / "tokens").start()
    tokens.refresh_tokens["refresh-7f3a"] = USER
    target_registry = Registry(token=tokens).start()
    try:
        deps_project(project, source)
        directory = tmp_path / "idcfg"
        directory.mkdir()
        (directory / "config.json").write_text(json.dumps(
            {"auths": {target_registry.host: {"identitytoken": "refresh-7f3a"}}}))
        result = project.inv("push-deps", "--deps-namespace", f"{target_registry.host}/mirror",
                             env={"DOCKER_CONFIG": str(directory)})
        assert result.returncode == 0, result.stderr + result.stdout
        from acrtasks.copy.manifests import ACCEPT
        from acrtasks.registry.client import RegistryClient
        from acrtasks.registry.credentials import Credentials

        reader = RegistryClient(target_registry.host, Credentials(USER, PASSWORD))  # read back with a password
        head = reader.request("HEAD", "/v2/mirror/minio/manifests/2024", scope="repository:mirror/minio:pull",
                              headers={"Accept": ACCEPT})
        assert head.headers["Docker-Content-Digest"] == source.index_digest
        grants = [seen["POST"] for seen in tokens.requests_seen if "POST" in seen]
        assert grants and all(g["grant_type"] == ["refresh_token"] for g in grants)
        (directory / "config.json").write_text(json.dumps(
            {"auths": {target_registry.host: {"identitytoken": "revoked"}}}))
        refused = project.inv("push-deps", "--deps-namespace", f"{target_registry.host}/other",
                              env={"DOCKER_CONFIG": str(directory)})
        assert refused.returncode == 1 and "refused the credentials" in refused.stderr
    finally:
        target_registry.remove()
        tokens.stop()


def test_collision_is_refused_before_any_copy(project, source, registry):
    source.writer.image("bitnami/redis", "7", [make_layer(1000, 9)])
    deps_project(project, source, extra_deps=[f"{source.host}/bitnami/redis:7"])
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror")
    assert result.returncode == 2
    assert "both map to" in result.stderr and "[deps] rename" in result.stderr
    assert registry.repositories() == []


def test_one_unreachable_source_does_not_stop_the_others(project, source, registry):
    from harness import free_port

    dead = f"127.0.0.1:{free_port()}/gone/app:1"
    deps_project(project, source, extra_deps=[dead])
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror", "--source", "registry",
                         env={"ACRTASKS_RETRY_BACKOFF": "0.1"})
    assert result.returncode == 1
    statuses = status_lines(result)
    assert statuses[dead] == "failed"
    assert "copied: 3" in result.stdout and "failed: 1" in result.stdout
    assert "1 of 4 dependencies failed" in result.stderr
    assert registry.digest("mirror/minio", "2024") == source.index_digest


def test_dry_run_writes_nothing(project, source, registry):
    deps_project(project, source)
    meta = project.root / "meta.json"
    result = project.inv("--dry", "push-deps", "--deps-namespace", f"{registry.host}/mirror", "--metadata-file",
                         str(meta))
    assert result.returncode == 0, result.stderr
    assert "would be copied: 3" in result.stdout
    assert registry.repositories() == []
    assert not meta.exists()


def test_platform_filter_and_metadata(project, source, registry):
    deps_project(project, source)
    meta = project.root / "meta.json"
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror", "--dep",
                         f"{source.host}/minio/minio:2024", "--platform", "linux/arm64", "--metadata-file", str(meta))
    assert result.returncode == 0, result.stderr
    assert registry.digest("mirror/minio", "2024") == source.children[1]
    assert registry.repositories() == ["mirror/minio"]
    entry = json.loads(meta.read_text())["@deps"][f"{source.host}/minio/minio:2024"]
    assert entry["status"] == "copied" and entry["platforms"] == ["linux/arm64/v8"]
    assert entry["digest"] == source.children[1]


def test_docker_hub_names_go_through_mirrors(project, source, registry, tmp_path):
    project.write('[deps]\nimages = ["postgres:15", "redis:7"]\n')
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"registry-mirrors": [f"http://{source.host}"]}))
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/hub",
                         env={"ACRTASKS_DAEMON_JSON": str(daemon)})
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"Docker Hub via {source.host}" in result.stdout
    assert registry.digest("hub/postgres", "15") == source.digest("library/postgres", "15")


def test_compose_files_are_collected(project, source, registry, tmp_path):
    (project.root / "docker-compose.yml").write_text(f"""
services:
  db:
    image: {source.host}/library/postgres:${{PG_TAG:-15}}
  cache:
    image: "{source.host}/library/redis:${{REDIS_TAG}}"
  backend:
    image: demo-backend:${{VERSION:-dev}}
  built:
    build: ./x
    image: something/else:1
  broken:
    image: {source.host}/minio/minio:${{MINIO_TAG}}
""")
    (project.root / ".env").write_text("REDIS_TAG=7\n")
    project.write('[deps]\ncompose_files = ["docker-compose.yml"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/c")
    assert result.returncode == 0, result.stderr + result.stdout
    assert registry.repositories() == ["c/postgres", "c/redis"]
    assert "service broken" in result.stderr and "$MINIO_TAG" in result.stderr


def test_same_registry_copies_by_mount(project, source):
    deps_project(project, source)
    result = project.inv("push-deps", "--deps-namespace", f"{source.host}/copies")
    assert result.returncode == 0, result.stderr
    assert " uploaded" not in result.stdout.split("status")[0]  # every blob was mounted, none re-uploaded
    assert source.digest("copies/minio", "2024") == source.index_digest


def test_engine_source(project, engine, registry, api):
    from harness import BASE_IMAGE, free_port

    local = f"127.0.0.1:{free_port()}/offline/busybox:1"  # a registry that does not exist: only the engine has it
    repository, tag = local.rsplit(":", 1)
    api.tag(BASE_IMAGE, repository, tag)
    project.write(f'[deps]\nimages = ["{local}"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/eng",
                         env={"ACRTASKS_RETRY_BACKOFF": "0.1"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "only its platform is mirrored" in result.stderr
    assert registry.tags("eng/busybox") == ["1"]
    explicit = project.inv("push-deps", "--deps-namespace", f"{registry.host}/eng2", "--source", "engine")
    assert explicit.returncode == 0, explicit.stderr
    assert registry.tags("eng2/busybox") == ["1"]


def test_bad_flags_are_usage_errors(project, source, registry):
    deps_project(project, source)
    for args, fragment in ((["--platform", "linux"], "os/arch"), (["--jobs", "0"], "--jobs"),
                           (["--source", "cloud"], "--source 'cloud'"), (["--dep", "nginx:1"], "not a configured")):
        result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert fragment in result.stderr
    assert registry.repositories() == []


def test_a_second_namespace_mounts_what_the_first_copy_uploaded(project, source, logged_registry):
    """The blob location memory: the second copy into the same registry uploads no byte (registry log)."""
    deps_project(project, source)
    first = project.inv("push-deps", "--deps-namespace", f"{logged_registry.host}/one")
    assert first.returncode == 0, first.stderr
    uploads = logged_registry.write_requests()
    second = project.inv("push-deps", "--deps-namespace", f"{logged_registry.host}/two")
    assert second.returncode == 0, second.stderr
    assert logged_registry.digest("two/minio", "2024") == source.index_digest
    log = (logged_registry.root / "registry.log").read_text()
    blob_puts = [line for line in log.splitlines() if "response completed" in line
                 and "http.request.method=PUT" in line and "/blobs/uploads/" in line]
    assert blob_puts and all('uri="/v2/one/' in line for line in blob_puts), "the second copy uploaded blobs again"
    assert logged_registry.write_requests() > uploads  # it did write: mounts and manifests


@pytest.mark.parametrize("fault, stored", [("tag_put_raced", True), ("tag_put_refused", True),
                                           ("tag_put_always_refused", False)])
def test_a_refused_index_put_is_done_when_the_target_holds_it(project, source, registry, fault, stored):
    """A concurrent writer makes distribution answer DIGEST_INVALID to a manifest PUT that it may have stored
    all the same: the copy is done when the target now holds the source's digest; when not, the PUT is tried
    again a moment later (the other writer was midway), and the copy fails when the registry keeps refusing."""
    from harness import FaultyRegistry

    proxy = FaultyRegistry(registry, fault).start()
    try:
        project.write(f'[deps]\nimages = ["{source.host}/minio/minio:2024"]\n')
        result = project.inv("push-deps", "--deps-namespace", f"{proxy.host}/mirror")
        assert proxy.hit.is_set()
        held = registry.digest("mirror/minio", "2024")
        if stored:
            assert result.returncode == 0, result.stdout + result.stderr
            assert held == source.index_digest
        else:
            assert result.returncode == 1 and "DIGEST_INVALID" in result.stdout + result.stderr
            assert held is None
    finally:
        proxy.stop()


def test_three_push_deps_of_one_index_at_once_all_succeed(project, source, registry):
    """The field report: three runs mirroring one multi-platform image into one target at once."""
    import subprocess

    project.write(f'[deps]\nimages = ["{source.host}/minio/minio:2024"]\nskip_existing = false\n')
    for trial in range(3):
        namespace = f"{registry.host}/race{trial}"
        runs = [project.inv.popen("push-deps", "--deps-namespace", namespace) for _ in range(3)]
        outputs = []
        for run in runs:
            try:
                out, err = run.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                run.kill()
                raise
            outputs.append((run.returncode, out + err))
        assert [code for code, _ in outputs] == [0, 0, 0], outputs
        assert registry.digest(f"race{trial}/minio", "2024") == source.index_digest
