"""set-images on real files (and a real registry for digests): bytes kept, compose resolution, --check, errors."""

import hashlib
import json
import stat

import pytest
from support import unique_version
from harness import BASE_IMAGE

from acrtasks.compose.template import substitute


ACR = "xxx.aliyuncs.com/ai-infra-matrix"
FLAT = f"{ACR}/ai-infra-matrix"

COMPOSE = """\
# ai-infra-matrix, as shipped
services:
  backend:
    build:
      context: ./src/backend
      args:
        VERSION: ${IMAGE_TAG:-v0.0.3.2}
    image: ai-infra-backend:${IMAGE_TAG:-v0.0.3.2}   # keep this comment
    environment:
      - JUPYTERHUB_IMAGE=ai-infra-jupyterhub:${IMAGE_TAG:-v0.0.3.2}
      - LOG_LEVEL=debug
  backend-init:
    image: "ai-infra-backend-init:${IMAGE_TAG:-v0.0.3.2}"
  frontend:
    image: 'ai-infra-frontend:v0.0.3.2'
    environment:
      SINGLEUSER: ai-infra-jupyterhub:v0.0.3.2
  postgres:
    image: postgres:15-alpine
  redis:
    image: docker.io/library/redis
  minio:
    image: quay.io/minio/minio:RELEASE.2024
"""
K8S = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: ai-infra-backend-init:v0.0.3.2
      containers:
        - name: backend
          image: xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:backend-v0.0.3.1
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: templated
              image: "{{ .Values.image }}"
            - name: pg
              image: postgres:15-alpine
"""
VALUES = """\
backend:
  image:
    registry: docker.io
    repository: ai-infra-backend
    tag: v0.0.3.2   # the release
nginx:
  image:
    repository: ai-infra-nginx
    tag: "v0.0.3.2"
"""
KUSTOMIZATION = """\
resources: [k8s.yaml]
images:
  - name: ai-infra-frontend
    newTag: v0.0.3.2
  - name: postgres
    newName: postgres
    newTag: 15-alpine
"""
DOTENV = "IMAGE_TAG=v0.0.3.2\nNGINX_IMAGE=ai-infra-nginx:v0.0.3.2\n"

FILES = {"docker-compose.yml": COMPOSE, "k8s.yaml": K8S, "values.yaml": VALUES,
         "kustomization.yaml": KUSTOMIZATION, ".env": DOTENV}


@pytest.fixture
def deploy(project):
    """The repository's example components and deps, plus one deployment file of each kind; refs are written
    for an ACR that cannot be reached from here, so unverified (as files prepared offline are)."""
    project.write('[deps]\nimages = ["postgres:15-alpine", "redis"]\n\n[deploy]\nverify = false\n')
    text = (project.root / "build.toml").read_text()
    for name in ("backend", "frontend", "nginx", "jupyterhub"):
        text += f'\n[components.{name}]\ncontext = "."\n'
    text = text.replace('name = "demo"\nimage_prefix = "demo-"', 'name = "ai-infra-matrix"\nimage_prefix = "ai-infra-"')
    text = text.replace("[components.backend]\n", '[components.backend]\naliases = ["backend-init"]\n')
    (project.root / "build.toml").write_text(text)
    for name, content in FILES.items():
        (project.root / name).write_text(content)
    return project


def run(project, *args, env=None):
    files = [arg for name in FILES for arg in ("--file", name)]
    return project.inv("set-images", *files, *args, env=env)


def checksums(project):
    return {name: hashlib.sha256((project.root / name).read_bytes()).hexdigest() for name in FILES}


EXPECTED = {  # every changed value, old -> new, in ACR flat layout at v0.0.3.3
    "docker-compose.yml": [
        ("ai-infra-backend:${IMAGE_TAG:-v0.0.3.2}", f"{FLAT}:backend-${{IMAGE_TAG:-v0.0.3.3}}"),
        ("JUPYTERHUB_IMAGE=ai-infra-jupyterhub:${IMAGE_TAG:-v0.0.3.2}",
         f"JUPYTERHUB_IMAGE={FLAT}:jupyterhub-${{IMAGE_TAG:-v0.0.3.3}}"),
        ('"ai-infra-backend-init:${IMAGE_TAG:-v0.0.3.2}"', f'"{FLAT}:backend-init-${{IMAGE_TAG:-v0.0.3.3}}"'),
        ("'ai-infra-frontend:v0.0.3.2'", f"'{FLAT}:frontend-v0.0.3.3'"),
        ("SINGLEUSER: ai-infra-jupyterhub:v0.0.3.2", f"SINGLEUSER: {FLAT}:jupyterhub-v0.0.3.3"),
        ("image: postgres:15-alpine", f"image: {ACR}/postgres:15-alpine"),
        ("image: docker.io/library/redis\n", f"image: {ACR}/redis:latest\n"),
    ],
    "k8s.yaml": [
        ("ai-infra-backend-init:v0.0.3.2", f"{FLAT}:backend-init-v0.0.3.3"),
        (f"{FLAT}:backend-v0.0.3.1", f"{FLAT}:backend-v0.0.3.3"),
        ("image: postgres:15-alpine", f"image: {ACR}/postgres:15-alpine"),
    ],
    "values.yaml": [
        ("registry: docker.io", "registry: xxx.aliyuncs.com"),
        ("repository: ai-infra-backend", "repository: ai-infra-matrix/ai-infra-matrix"),
        ("tag: v0.0.3.2   # the release", "tag: backend-v0.0.3.3   # the release"),
        ("repository: ai-infra-nginx", f"repository: {FLAT}"),
        ('tag: "v0.0.3.2"', 'tag: "nginx-v0.0.3.3"'),
    ],
    "kustomization.yaml": [
        ("    newTag: v0.0.3.2\n", f"    newName: {FLAT}\n    newTag: frontend-v0.0.3.3\n"),
        ("newName: postgres", f"newName: {ACR}/postgres"),
    ],
    ".env": [("IMAGE_TAG=v0.0.3.2", "IMAGE_TAG=v0.0.3.3"),
             ("NGINX_IMAGE=ai-infra-nginx:v0.0.3.2", f"NGINX_IMAGE={FLAT}:nginx-v0.0.3.3")],
}


def test_acr_flat_release_changes_only_the_image_bytes(deploy):
    before = checksums(deploy)
    check = run(deploy, "--registry", ACR, "--version", "v0.0.3.3", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"+    image: {FLAT}:backend-${{IMAGE_TAG:-v0.0.3.3}}   # keep this comment" in check.stdout
    assert checksums(deploy) == before, "--check writes nothing"
    dry = deploy.inv("--dry", "set-images", *[a for n in FILES for a in ("--file", n)], "--registry", ACR,
                     "--version", "v0.0.3.3")
    assert dry.returncode == 0 and checksums(deploy) == before, "--dry writes nothing"

    result = run(deploy, "--registry", ACR, "--version", "v0.0.3.3")
    assert result.returncode == 0, result.stdout + result.stderr
    for name, edits in EXPECTED.items():
        expected = FILES[name]
        for old, new in edits:
            assert expected.count(old) == 1, (name, old)
            expected = expected.replace(old, new)
        assert (deploy.root / name).read_text() == expected, name  # byte for byte, comments and quoting kept
    assert "{{ .Values.image }}" in (deploy.root / "k8s.yaml").read_text()
    assert "skipped: template" in result.stdout and "not ours" in result.stdout  # quay.io/minio is not ours

    again = run(deploy, "--registry", ACR, "--version", "v0.0.3.3", "--check")
    assert again.returncode == 0, again.stdout + again.stderr

    templated = deploy.root / "chart-pod.yaml"  # only a template: skipped with its reason, the file untouched
    templated.write_text("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n"
                         "      image: '{{ .Values.registry }}/ai-infra-nginx:{{ .Chart.AppVersion }}'\n")
    before = templated.read_bytes()
    result = deploy.inv("set-images", "--file", "chart-pod.yaml", "--registry", ACR, "--version", "v0.0.3.3")
    assert result.returncode == 0 and "skipped: template ({{ }})" in result.stdout
    assert templated.read_bytes() == before


def test_compose_resolves_to_the_intended_refs(deploy):
    assert run(deploy, "--registry", ACR, "--version", "v0.0.3.3").returncode == 0
    import yaml

    compose = yaml.safe_load((deploy.root / "docker-compose.yml").read_text())
    env = dict(line.split("=", 1) for line in (deploy.root / ".env").read_text().splitlines())
    resolved = {name: substitute(service["image"], env.get) for name, service in compose["services"].items()}
    assert resolved == {"backend": f"{FLAT}:backend-v0.0.3.3", "backend-init": f"{FLAT}:backend-init-v0.0.3.3",
                        "frontend": f"{FLAT}:frontend-v0.0.3.3", "postgres": f"{ACR}/postgres:15-alpine",
                        "redis": f"{ACR}/redis:latest", "minio": "quay.io/minio/minio:RELEASE.2024"}
    assert compose["services"]["backend"]["build"]["args"]["VERSION"] == "${IMAGE_TAG:-v0.0.3.2}"  # not an image


def test_dotenv_not_given_is_a_conflict_and_nothing_is_written(deploy):
    before = checksums(deploy)
    result = deploy.inv("set-images", "--file", "docker-compose.yml", "--registry", ACR, "--version", "v0.0.3.3")
    assert result.returncode == 2, result.stdout
    assert "error: nothing written:" in result.stderr and ".env" in result.stderr and "IMAGE_TAG=v0.0.3.3" in \
        result.stderr
    assert "Traceback" not in result.stderr
    assert checksums(deploy) == before


def test_harbor_nested_layout_and_a_vpc_deploy_endpoint(deploy):
    result = run(deploy, "--registry", "harbor.example.com/proj", "--version", "v2")
    assert result.returncode == 0, result.stdout + result.stderr
    k8s = (deploy.root / "k8s.yaml").read_text()
    assert "image: harbor.example.com/proj/ai-infra-backend-init:v2" in k8s
    assert "image: harbor.example.com/proj/ai-infra-backend:v2" in k8s  # a flat ACR ref matches too
    for name, content in FILES.items():  # a fresh copy: dependencies match by source or this registry's mirror
        (deploy.root / name).write_text(content)
    vpc = "registry-vpc.cn-hangzhou.aliyuncs.com/shop"
    result = run(deploy, "--registry", "registry.cn-hangzhou.aliyuncs.com/shop", "--deploy-registry", vpc,
                 "--version", "v3", "--json")
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)
    backend = next(c for c in changes if c["file"].endswith("k8s.yaml") and "backend-v0.0.3.1" in c["old"])
    assert backend["new"] == f"{vpc}/ai-infra-matrix:backend-v3" and backend["status"] == "updated"
    assert f"{vpc}/postgres:15-alpine" in (deploy.root / "k8s.yaml").read_text()


def test_mode_line_endings_and_bom_are_kept(deploy):
    path = deploy.root / "k8s.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + K8S.replace("\n", "\r\n").encode())
    path.chmod(0o640)
    result = deploy.inv("set-images", "--file", "k8s.yaml", "--registry", ACR, "--version", "v9")
    assert result.returncode == 0, result.stdout + result.stderr
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\n" not in data.replace(b"\r\n", b"")
    assert f"image: {FLAT}:backend-init-v9\r\n".encode() in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in deploy.root.iterdir() if p.name.startswith(".k8s")) == []


@pytest.mark.parametrize("name, content, words", [
    ("anchors.yaml", "x-img: &img ai-infra-nginx:v1\nservices:\n  a:\n    image: *img\n  b:\n    image: *img\n"
                     "    environment: [X=1]\n", None),
    ("shared.yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - {name: a, image: &i ai-infra-nginx:v1}\n"
                    "    - {name: b, image: *i}\n  initContainers:\n    - {name: c, image: *i}\n", None),
    ("unresolved.yml", "services:\n  a:\n    image: ai-infra-nginx:${NO_SUCH_TAG}\n", "has no default and is not set"),
    ("broken.yml", "services: {a: [\n", "not valid YAML"),
])
def test_bad_files_are_exit_2_and_nothing_is_written(deploy, name, content, words):
    path = deploy.root / name
    path.write_text(content)
    before = path.read_bytes(), checksums(deploy)
    result = deploy.inv("set-images", "--file", name, "--file", "values.yaml", "--registry", ACR, "--version", "v5")
    if words is None:  # one anchor, one ref for every place it is used: fine, and written once
        assert result.returncode == 0, result.stdout + result.stderr
        assert path.read_text().count(f"{FLAT}:nginx-v5") == 1
        return
    assert result.returncode == 2, result.stdout
    assert words in result.stderr and "Traceback" not in result.stderr
    assert (path.read_bytes(), checksums(deploy)) == before, "nothing written anywhere"


def test_an_anchor_needing_two_refs_is_an_error_naming_both_lines(deploy):
    """One anchored repository, two Helm image maps: with a registry key and without, it needs two values."""
    path = deploy.root / "values-shared.yaml"
    path.write_text("a:\n  image:\n    repository: &r ai-infra-nginx\n    tag: v1\n"
                    "b:\n  image:\n    registry: docker.io\n    repository: *r\n    tag: v1\n")
    before = path.read_bytes()
    result = deploy.inv("set-images", "--file", "values-shared.yaml", "--registry", ACR, "--version", "v7")
    assert result.returncode == 2, result.stdout
    assert "line 3 (a.image) and line 7 (b.image) share one YAML anchor" in result.stderr, result.stderr
    assert path.read_bytes() == before


def test_strict_and_missing_files(deploy):
    result = run(deploy, "--registry", ACR, "--version", "v1", "--strict")
    assert result.returncode == 2 and "not the release's (--strict)" in result.stderr
    assert "quay.io/minio/minio:RELEASE.2024" in result.stderr
    missing = deploy.inv("set-images", "--file", "nope.yaml", "--version", "v1")
    assert missing.returncode == 2 and "--file nope.yaml: no such file" in missing.stderr
    none = deploy.inv("set-images", "--version", "v1")
    assert none.returncode == 2 and "[deploy] files" in none.stderr
    (deploy.root / "build.toml").write_text((deploy.root / "build.toml").read_text().replace(
        "[deploy]\n", '[deploy]\nfiles = ["k8s*.yaml"]\n'))
    configured = deploy.inv("set-images", "--registry", ACR, "--version", "v1", "--check")
    assert configured.returncode == 1 and "k8s.yaml:9" in configured.stdout and "values.yaml" not in configured.stdout


def test_pin_digest_after_a_real_push(project, engine, registry, api):
    """--pin digest: the digest comes from the metadata file, else a HEAD to the registry; missing is exit 1."""
    project.component("api", f"FROM {BASE_IMAGE}\nRUN echo api > /api\n")
    project.component("web", f"FROM {BASE_IMAGE}\nRUN echo web > /web\n")
    version = unique_version()
    meta = project.root / "meta.json"
    pushed = project.inv("build", "--component", "api", "--progress", "quiet", "push", "--registry",
                         f"{registry.host}/ns", "--version", version, "--metadata-file", str(meta))
    assert pushed.returncode == 0, pushed.stderr
    digest = registry.digest("ns/demo-api", version)
    target = f"{registry.host}/ns/demo-api:{version}@{digest}"
    deployment = project.root / "pod.yaml"
    pod = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: api\n      image: demo-api:old\n"
    deployment.write_text(pod)
    result = project.inv("set-images", "--file", "pod.yaml", "--registry", f"{registry.host}/ns",
                         "--version", version, "--pin", "digest", "--metadata-file", str(meta))
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployment.read_text() == pod.replace("demo-api:old", target)
    deployment.write_text(pod)
    result = project.inv("set-images", "--file", "pod.yaml", "--registry", f"{registry.host}/ns",
                         "--version", version, "--pin", "digest")  # no metadata: the registry is asked
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployment.read_text() == pod.replace("demo-api:old", target)
    web = pod.replace("demo-api:old", "demo-web:old")
    deployment.write_text(web)
    result = project.inv("set-images", "--file", "pod.yaml", "--registry", f"{registry.host}/ns",
                         "--version", version, "--pin", "digest")
    assert result.returncode == 0, result.stdout  # the release (its record) holds api alone: web is left
    assert "not in this release" in result.stdout
    assert deployment.read_text() == web
    other = unique_version()  # a version with no record: web is asked for, and missing
    result = project.inv("set-images", "--file", "pod.yaml", "--registry", f"{registry.host}/ns",
                         "--version", other, "--pin", "digest")
    assert result.returncode == 1, result.stdout
    assert f"{registry.host}/ns/demo-web:{other} is not in the registry" in result.stderr
    assert deployment.read_text() == web


def test_pin_digest_adds_digest_fields_to_helm_and_kustomize(deploy):
    """Digests from a metadata file (as push wrote it): Helm and kustomize get a digest line of their own."""
    digest = "sha256:" + "ab" * 32
    pushed = f"{FLAT}:nginx-v4"
    (deploy.root / "meta.json").write_text(json.dumps({"nginx": {"push": {pushed: {"status": "pushed",
                                                                                    "digest": digest}}}}))
    (deploy.root / "values.yaml").write_text("nginx:\n  image:\n    repository: ai-infra-nginx\n    tag: v1\n")
    (deploy.root / "kustomization.yaml").write_text("images:\n  - name: ai-infra-nginx\n    newTag: v1\n")
    result = deploy.inv("set-images", "--file", "values.yaml", "--file", "kustomization.yaml", "--registry", ACR,
                        "--version", "v4", "--pin", "digest", "--metadata-file", "meta.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (deploy.root / "values.yaml").read_text() == (
        f"nginx:\n  image:\n    repository: {FLAT}\n    tag: nginx-v4\n    digest: {digest}\n")
    assert (deploy.root / "kustomization.yaml").read_text() == (
        f"images:\n  - name: ai-infra-nginx\n    newName: {FLAT}\n    digest: {digest}\n    newTag: nginx-v4\n")


@pytest.mark.parametrize("digest", ["sha256:" + "ab" * 31, "sha256:" + "AB" * 32, "md5:" + "ab" * 32])
def test_pin_digest_refuses_a_malformed_recorded_digest(deploy, digest):
    """A digest is checked where it enters (the metadata file), before it is written into a deployment."""
    (deploy.root / "meta.json").write_text(json.dumps({"nginx": {"push": {f"{FLAT}:nginx-v4": {"digest": digest}}}}))
    (deploy.root / "values.yaml").write_text("nginx:\n  image:\n    repository: ai-infra-nginx\n    tag: v1\n")
    before = (deploy.root / "values.yaml").read_bytes()
    result = deploy.inv("set-images", "--file", "values.yaml", "--registry", ACR, "--version", "v4", "--pin",
                        "digest", "--metadata-file", "meta.json")
    assert result.returncode == 2 and f"({digest!r})" in result.stderr and "Traceback" not in result.stderr
    assert (deploy.root / "values.yaml").read_bytes() == before


def test_a_file_that_is_not_utf8_is_exit_2(deploy):
    (deploy.root / "bad.yaml").write_bytes(b"image: caf\xe9\n")
    result = deploy.inv("set-images", "--file", "bad.yaml", "--file", "k8s.yaml", "--registry", ACR, "--version", "v1")
    assert result.returncode == 2 and "not UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert (deploy.root / "k8s.yaml").read_text() == K8S


@pytest.mark.parametrize("line, words", [
    ("    image: ai-infra-backend:${ TAG}\n", "docker-compose.yml:3: 'ai-infra-backend:${ TAG}' is not a valid "
                                            "interpolation template"),
    ("    environment: [\"PASSWORD=${\"]\n", "docker-compose.yml:3: 'PASSWORD=${' is not a valid interpolation"),
    ("    image: ${REGISTRY:-docker.io}/ai-infra-backend:v0.0.3.2\n", "docker-compose.yml:3: services.api.image = "
     "'${REGISTRY:-docker.io}/ai-infra-backend:v0.0.3.2' has variables beyond the tag ($REGISTRY)"),
])
def test_templates_compose_refuses_or_we_cannot_keep_are_errors(deploy, line, words):
    (deploy.root / "docker-compose.yml").write_text("services:\n  api:\n" + line)
    before = checksums(deploy)
    result = run(deploy, "--registry", ACR, "--version", "v0.0.3.3")
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert checksums(deploy) == before


def test_none_of_the_projects_images_found_is_exit_1_naming_the_likely_causes(deploy):
    """A mistyped image_prefix made set-images (and --check) say `not ours: 29`, exit 0 and write nothing (the
    values file names components alone: with the prefix wrong, no value is the release's)."""
    config = deploy.root / "build.toml"
    config.write_text(config.read_text().replace('image_prefix = "ai-infra-"', 'image_prefix = "ai-infar-"'))
    before = checksums(deploy)
    for extra in ([], ["--check"]):
        result = deploy.inv("set-images", "--file", "values.yaml", "--registry", ACR, "--version", "v9", *extra)
        assert result.returncode == 1, result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "is one of ai-infra-matrix's images" in errors[0], result.stderr
        assert "image_prefix ('ai-infar-')" in errors[0] and "name ('ai-infra-matrix')" in errors[0]
    assert checksums(deploy) == before
