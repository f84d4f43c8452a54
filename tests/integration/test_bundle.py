"""Offline delivery for real: export from loopback registries and a real engine, read the bundle back with
tar, sha256sum, skopeo and the docker CLI (not our code), import into registries and the engine, pull."""

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import Project, unique_version
from harness import Registry, RegistryWriter, make_layer

USER, PASSWORD = "alice", "wonder-land-42"
ACCEPT = ", ".join(f"application/vnd.{kind}" for kind in (
    "oci.image.index.v1+json", "oci.image.manifest.v1+json", "docker.distribution.manifest.list.v2+json",
    "docker.distribution.manifest.v2+json"))


def docker_cli(engine, *args, check=True):
    """The docker CLI (whichever is first on PATH), pointed at the test engine."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOCKER_HOST": engine.docker_host})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def members(path: Path) -> dict:
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        assert len(names) == len(set(names)), "a file is in the tar twice"
        return {name: tar.extractfile(name).read() if not name.startswith("blobs/") or
                tar.getmember(name).size < 1 << 20 else None for name in names}


def config_digest(registry: Registry, repo: str, reference: str) -> str:
    import urllib.request

    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    return json.load(urllib.request.urlopen(request, timeout=10))["config"]["digest"]


def loaded_id(engine, registry: Registry, repo: str, reference: str) -> str:
    """What the engine calls an image it loaded or pulled from ``registry``'s ``repo:reference``: the config
    digest on the classic store, the manifest's (or index's) own digest on the containerd store."""
    if engine.kind.containerd_store:
        return registry.digest(repo, reference)
    return config_digest(registry, repo, reference)


def login_env(tmp_path: Path, host: str) -> dict:
    directory = tmp_path / "dockercfg-login"
    directory.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(directory)}


def remove_images(api, *names):
    for name in names:
        try:
            api.remove_image(name, force=True)
        except Exception:  # noqa: BLE001 - not there is fine
            pass


@pytest.fixture(scope="module")
def release(engine, tmp_path_factory):
    """Two components built and pushed to a registry, two dependencies (one two-platform) in a source
    registry, and the bundle `inv export` made of all four."""
    root = tmp_path_factory.mktemp("release")
    env = {"ACRTASKS_CACHE_DIR": str(root / "cache")}
    source = Registry().start()
    writer = RegistryWriter(source)
    amd = writer.image("minio/minio", None, [make_layer(150_000, 4)], "amd64", oci=True)
    arm = writer.image("minio/minio", None, [make_layer(120_000, 5)], "arm64", "v8", oci=True)
    index = writer.index("minio/minio", "2024", [amd, arm], oci=True)
    writer.image("oci/single", "1", [make_layer(50_000, 6)], oci=True)
    writer.image("library/redis", "7", [make_layer(200_000, 3)])
    registry = Registry().start()
    (root / "project").mkdir()
    project = Project(root / "project")
    for name in ("api", "web"):
        project.component(name, f"FROM scratch\nCOPY {name}.txt /\n")
        (project.root / name / f"{name}.txt").write_text(f"{name} {root.name}\n")
    deps = [f"{source.host}/minio/minio:2024", f"{source.host}/library/redis:7", f"{source.host}/oci/single:1"]
    project.write(f"[deps]\nimages = {json.dumps(deps)}\n")
    config = project.root / "build.toml"  # api has an alias: import must re-create it, as push made it
    config.write_text(config.read_text().replace('[components.api]\n', '[components.api]\naliases = ["api-init"]\n'))
    version = unique_version()
    built = project.inv("build", "push", "--registry", registry.host, "--version", version, env=env)
    assert built.returncode == 0, built.stderr + built.stdout
    bundle = root / "bundle.tar"
    exported = project.inv("export", "--registry", registry.host, "--version", version, "--output", str(bundle),
                           env=env)
    assert exported.returncode == 0, exported.stderr + exported.stdout
    yield SimpleNamespace(source=source, registry=registry, project=project, version=version, bundle=bundle,
                          index=index, amd=amd["digest"], arm=arm["digest"], deps=deps, env=env,
                          refs={"api": f"{registry.host}/demo-api:{version}", "web": f"{registry.host}/demo-web:{version}",
                                "minio": deps[0], "redis": deps[1], "single": deps[2]})
    source.remove()
    registry.remove()


def test_the_bundle_is_an_oci_layout_with_a_record_and_checksums(release, tmp_path):
    files = members(release.bundle)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    named = {e["annotations"]["org.opencontainers.image.ref.name"]: e["digest"] for e in index["manifests"]}
    refs = set(release.refs.values())
    loads = {tag: entry for entry in json.loads(files["manifest.json"]) for tag in entry["RepoTags"]}
    assert set(named) == refs | set(loads)  # the images by their registry refs, and the local names docker load gives
    # docker load on the containerd store reads index.json, not manifest.json: every name is there, spelled as
    # containerd spells it, at the whole image (every platform) as its registry ref is
    for entry in index["manifests"]:
        name = entry["annotations"]["org.opencontainers.image.ref.name"]
        full = name if name in refs else f"docker.io/library/{name}"
        assert entry["annotations"]["io.containerd.image.name"] == full
    assert named[f"demo-api:{release.version}"] == named[release.refs["api"]]
    # every digest is the one the registries hold, read back through their API
    assert named[release.refs["minio"]] == release.index
    assert named[release.refs["api"]] == release.registry.digest("demo-api", release.version)
    assert named[release.refs["redis"]] == release.source.digest("library/redis", "7")
    record = json.loads(files["acrtasks-bundle.json"])
    assert (record["project"], record["version"]) == ("demo", release.version)
    minio = next(i for i in record["images"] if i["ref"] == release.refs["minio"])
    assert minio["platforms"] == {"linux/amd64": release.amd, "linux/arm64/v8": release.arm}
    assert minio["kind"] == "dependency" and minio["digest"] == release.index
    # blobs are named by their content, each once; sha256sum -c agrees with every line
    for name in files:
        if name.startswith("blobs/sha256/") and files[name] is not None:
            assert hashlib.sha256(files[name]).hexdigest() == name.rsplit("/", 1)[1]
    unpacked = tmp_path / "unpacked"
    with tarfile.open(release.bundle) as tar:
        tar.extractall(unpacked)
    check = subprocess.run(["sha256sum", "--strict", "-c", "checksums.sha256"], cwd=unpacked, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(check.stdout.splitlines()) == len(files) - 1  # every file but the checksums themselves
    unpacked_check = release.project.inv("import", str(unpacked), "--check", env=release.env)  # a directory too
    assert unpacked_check.returncode == 0 and "5 image(s)" in unpacked_check.stdout, unpacked_check.stderr


def test_skopeo_copies_out_of_the_bundle_with_identical_digests(release):
    """skopeo (containers/image) reads OCI-typed entries of an OCI layout; Docker-typed manifests are kept byte
    for byte (so digests stay the source's) and skopeo skips those, by its design: see the README."""
    target = Registry().start()
    try:
        for key, repo in (("minio", "out/minio:2024"), ("single", "out/single:1")):
            done = subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false",
                                   f"oci-archive:{release.bundle}:{release.refs[key]}", f"docker://{target.host}/{repo}"],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        assert target.digest("out/minio", "2024") == release.index
        assert target.digest("out/single", "1") == release.source.digest("oci/single", "1")
    finally:
        target.remove()


def test_docker_load_by_the_docker_cli(release, engine, api):
    api_id = loaded_id(engine, release.registry, "demo-api", release.version)
    local = [f"demo-api:{release.version}", f"demo-web:{release.version}", release.refs["api"], release.refs["web"],
             release.refs["minio"], release.refs["redis"]]
    remove_images(api, *local)
    docker_cli(engine, "load", "-i", str(release.bundle))
    assert api.inspect_image(f"demo-api:{release.version}")["Id"] == api_id
    assert api.inspect_image(release.refs["api"])["Id"] == api_id
    minio = api.inspect_image(release.refs["minio"])
    assert minio["Architecture"] == "amd64"  # manifest.json holds linux/amd64 by default
    if engine.kind.containerd_store:  # which keeps both platforms, from index.json
        assert minio["Id"] == release.index
    else:
        assert minio["Id"] == config_digest(release.source, "minio/minio", release.amd)


def test_import_into_an_empty_htpasswd_registry_keeps_every_digest(release, tmp_path):
    target = Registry({USER: PASSWORD}).start()
    try:
        env = {**login_env(tmp_path, target.host), **release.env}
        result = release.project.inv("import", str(release.bundle), "--registry", f"{target.host}/rel", env=env)
        assert result.returncode == 0, result.stderr + result.stdout
        writer = RegistryWriter(target)
        digest = lambda repo, tag: writer.session.head(  # noqa: E731
            f"{target.url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).headers.get("Docker-Content-Digest")
        assert digest("rel/demo-api", release.version) == release.registry.digest("demo-api", release.version)
        assert digest("rel/demo-api-init", release.version) == release.registry.digest("demo-api", release.version)
        assert digest("rel/minio", "2024") == release.index  # both platforms, as push-deps names it
        assert digest("rel/redis", "7") == release.source.digest("library/redis", "7")
        again = release.project.inv("import", str(release.bundle), "--registry", f"{target.host}/rel", env=env)
        assert again.returncode == 0, again.stderr
        assert [line.split()[0] for line in again.stdout.splitlines() if " -> " in line] == ["unchanged"] * 6
    finally:
        target.remove()


def test_import_into_the_engine_loads_the_chosen_platform(release, engine, api):
    remove_images(api, f"demo-api:{release.version}", release.refs["api"], release.refs["minio"])
    result = release.project.inv("import", str(release.bundle), "--engine", env=release.env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert api.inspect_image(f"demo-api:{release.version}")["Id"] == \
        loaded_id(engine, release.registry, "demo-api", release.version)
    assert api.inspect_image(release.refs["minio"])["Architecture"] == "amd64"
    # an arm64 host from the same bundle, whose manifest.json is amd64
    arm = release.project.inv("import", str(release.bundle), "--engine", "--platform", "linux/arm64", env=release.env)
    assert arm.returncode == 0, arm.stderr + arm.stdout
    loaded = api.inspect_image(release.refs["minio"])
    assert loaded["Architecture"] == "arm64"
    assert loaded["Id"] == loaded_id(engine, release.source, "minio/minio", release.arm)


def _rewrite(bundle: Path, out: Path, drop=(), change=None) -> None:
    """A copy of the bundle without the files in ``drop`` (and their checksum lines)."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            if member.name in drop:
                continue
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "checksums.sha256":
                data = b"".join(line + b"\n" for line in data.splitlines()
                                if line.split(b"  ", 1)[1].decode() not in drop)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)


def one_error(result, code=1) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_corrupt_bundles_are_refused_before_anything_is_pushed(release, tmp_path):
    target = Registry().start()
    try:
        with tarfile.open(release.bundle) as tar:
            layer = max((m for m in tar.getmembers() if m.name.startswith("blobs/")), key=lambda m: m.size)
            offset, name = layer.offset_data + layer.size // 2, layer.name
        flipped = tmp_path / "flipped.tar"
        shutil.copy(release.bundle, flipped)
        with open(flipped, "r+b") as handle:
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ 0xFF]))
        truncated = tmp_path / "truncated.tar"
        truncated.write_bytes(release.bundle.read_bytes()[: offset])
        missing = tmp_path / "missing.tar"
        _rewrite(release.bundle, missing, drop=(name,))
        for path, expected in ((flipped, f"{name} does not match its checksum"), (truncated, "truncated"),
                               (missing, f"{name} is missing")):
            result = release.project.inv("import", str(path), "--registry", f"{target.host}/x", env=release.env)
            line = one_error(result)
            assert expected in line and str(path) in line, line
            assert target.repositories() == [], f"{path.name}: something was pushed"
        check = release.project.inv("import", str(flipped), "--check", env=release.env)
        assert name in one_error(check)
        good = release.project.inv("import", str(release.bundle), "--check", env=release.env)
        assert good.returncode == 0, good.stderr
    finally:
        target.remove()


def test_gzip_bundle_gets_the_default_name_and_imports(release, tmp_path):
    target = Registry().start()
    try:
        result = release.project.inv("export", "--registry", release.registry.host, "--version", release.version,
                                     "--compress", "gzip", "--no-deps", "--platform", "linux/amd64", env=release.env)
        assert result.returncode == 0, result.stderr + result.stdout
        path = release.project.root / f"demo-{release.version}.tar.gz"
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        with tarfile.open(path) as tar:  # tar(1)-compatible, and only the components
            record = json.loads(tar.extractfile("acrtasks-bundle.json").read())
        assert [i["kind"] for i in record["images"]] == ["component", "component"]
        imported = release.project.inv("import", str(path), "--registry", target.host, env=release.env)
        assert imported.returncode == 0, imported.stderr + imported.stdout
        assert target.digest("demo-web", release.version) == release.registry.digest("demo-web", release.version)
    finally:
        target.remove()


def test_never_pushed_components_come_from_the_engine(engine, api, project, tmp_path):
    project.component("solo", "FROM scratch\nCOPY solo.txt /\n")
    (project.root / "solo" / "solo.txt").write_text(tmp_path.name)
    version = unique_version()
    assert project.inv("build", "--version", version).returncode == 0
    image_id = api.inspect_image(f"demo-solo:{version}")["Id"]
    registry = Registry().start()
    try:
        bundle = tmp_path / "solo.tar"
        result = project.inv("export", "--registry", registry.host, "--version", version, "--output", str(bundle))
        assert result.returncode == 0, result.stderr + result.stdout
        assert "from engine" in result.stdout
        remove_images(api, f"demo-solo:{version}")
        docker_cli(engine, "load", "-i", str(bundle))
        assert api.inspect_image(f"demo-solo:{version}")["Id"] == image_id
        imported = project.inv("import", str(bundle), "--registry", registry.host)
        assert imported.returncode == 0, imported.stderr + imported.stdout
        assert loaded_id(engine, registry, "demo-solo", version) == image_id  # the engine's own manifest went
        # --source registry refuses what was never pushed, and writes nothing
        other = tmp_path / "other.tar"
        refused = project.inv("export", "--registry", f"{registry.host}/none", "--version", version, "--source",
                              "registry", "--output", str(other))
        assert "not found in its registry" in one_error(refused, 1)
        assert not other.exists() and not list(tmp_path.glob(".other.tar*"))
    finally:
        registry.remove()


def test_pull_tags_local_names(release, engine, api):
    pushed = release.project.inv("push-deps", "--registry", release.registry.host, env=release.env)
    assert pushed.returncode == 0, pushed.stderr + pushed.stdout
    remove_images(api, f"demo-api:{release.version}", f"demo-web:{release.version}", *release.deps)
    result = release.project.inv("pull", "--registry", release.registry.host, "--version", release.version, "--deps",
                                 env=release.env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert api.inspect_image(f"demo-api:{release.version}")["Id"] == \
        loaded_id(engine, release.registry, "demo-api", release.version)
    assert api.inspect_image(release.deps[1])["Id"] == loaded_id(engine, release.source, "library/redis", "7")
    # preflight: one missing ref and nothing is pulled
    remove_images(api, f"demo-web:{release.version}")
    missing = release.project.inv("pull", "--registry", release.registry.host, "--version", "v-none", env=release.env)
    assert "not in the registry" in one_error(missing, 1)
    with pytest.raises(Exception):
        api.inspect_image(f"demo-web:{release.version}")


def test_flat_acr_names_after_import_into_the_acr_double_over_tls(release, tmp_path):
    """Into the ACR double (harness.acr: ACR's refusals, here over TLS under an *.aliyuncs.com name): the
    bundle's attestation-free images pass, and ACR's flat names are what the registry holds."""
    from harness import AcrRegistry, TunnelProxy, make_tls

    acr = "cr-test.cn-hangzhou.aliyuncs.com"
    tls = make_tls(tmp_path / "tls", names=(acr,))
    target = Registry().start()
    double = AcrRegistry(target, namespaces={"shop"}, tls=tls).start()
    proxy = TunnelProxy(double).start()
    certs = tmp_path / "certs.d"
    (certs / acr).mkdir(parents=True)
    shutil.copy(tls["ca"], certs / acr / "ca.crt")
    try:
        env = {**release.env, "HTTPS_PROXY": proxy.url, "ACRTASKS_CERTS_D": str(certs)}
        result = release.project.inv("import", str(release.bundle), "--registry", f"{acr}/shop", env=env)
        assert result.returncode == 0, result.stderr + result.stdout
        assert acr + ":443" in proxy.hosts_seen  # it went to the ACR name, through the tunnel
        assert sorted(target.tags("shop/demo")) == sorted([*(f"{name}-{release.version}" for name in
                                                             ("api", "api-init", "web")),
                                                           f"release-{release.version}"])  # and its record
        assert target.digest("shop/demo", f"api-{release.version}") == \
            release.registry.digest("demo-api", release.version)
        assert target.digest("shop/minio", "2024") == release.index
        assert double.refused == []
        elsewhere = release.project.inv("import", str(release.bundle), "--registry", f"{acr}/other", env=env)
        assert elsewhere.returncode == 1 and "namespace 'other' does not exist" in elsewhere.stderr  # preflight
    finally:
        proxy.stop()
        double.stop()
        target.remove()


def test_dry_import_says_what_would_happen_and_pushes_nothing(release):
    target = Registry().start()
    try:
        result = release.project.inv("--dry", "import", str(release.bundle), "--registry", f"{target.host}/dry",
                                     env=release.env)
        assert result.returncode == 0, result.stderr + result.stdout
        assert sum(line.startswith("would be copied") and " -> " in line for line in result.stdout.splitlines()) == 6
        assert "dry run: nothing was built" in result.stdout
        assert target.repositories() == []
    finally:
        target.remove()


def test_bad_import_and_export_flags_are_one_line_usage_errors(release, tmp_path):
    project = release.project
    cases = [
        (["import", str(release.bundle)], "import to where?"),
        (["import", str(release.bundle), "--registry", "r.example", "--engine"], "exclude each other"),
        (["import", str(tmp_path / "none.tar"), "--check"], "does not exist"),
        (["export", "--compress", "zstd"], "docker 20.10 cannot load it"),
        (["export", "--platform", "linux"], "os/arch"),
        (["export", "--source", "cloud"], "is not one of"),
        (["export", "--output", str(tmp_path)], "is a directory"),
    ]
    for args, words in cases:
        result = project.inv(*args, env=release.env)
        code = 1 if "does not exist" in words else 2
        line = one_error(result, code)
        assert words in line, (args, line)


def test_one_platform_asked_is_the_load_platform(release, tmp_path):
    """An arm64 host's `inv export --platform linux/arm64/v8`: its `docker load` part is not empty (it was, when
    the load platform stayed linux/amd64), and the bundle says which platform it loads."""
    bundle = tmp_path / "arm.tar"
    result = release.project.inv("export", "--registry", release.registry.host, "--version", release.version,
                                 "--platform", "linux/arm64/v8", "--output", str(bundle), env=release.env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "docker load gets linux/arm64/v8" in result.stdout
    files = members(bundle)
    assert json.loads(files["acrtasks-bundle.json"])["load_platform"] == "linux/arm64/v8"
    loaded = [tag for entry in json.loads(files["manifest.json"]) for tag in entry["RepoTags"]]
    assert any("minio" in tag for tag in loaded), loaded


def test_a_bundle_of_another_project_is_refused_by_check_and_import(release, tmp_path):
    """It imported silently and merged its images into this project's release record."""
    (tmp_path / "other").mkdir()
    other = Project(tmp_path / "other")
    other.write()
    config = other.root / "build.toml"
    config.write_text(config.read_text().replace('name = "demo"', 'name = "shop"'))
    target = Registry().start()
    try:
        for args in (["--check"], ["--registry", target.host]):
            refused = other.inv("import", str(release.bundle), *args, env=release.env)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "holds project 'demo', not 'shop'" in refused.stderr
        assert target.repositories() == []
    finally:
        target.remove()
