"""End to end on a fixture modelled on the real ai-infra-matrix at its last build.sh commit: seven components, nginx
built from the repository root (with .git, no .dockerignore), VERSION on every component, .env and .env.prod, two
compose files and Helm values, the ACR flat layout. A full release; then backend released alone with every flag
after the last task; the base comes from a mirror, Docker Hub never reached. Effects are read back from the
registry's API, the engine and the files' bytes."""

import json
import tarfile

import pytest
from support import Project, unique_version
from harness import BASE_IMAGE, Registry, git

COMPONENTS = {  # name -> (context, dockerfile), as the real repository lays them out
    "backend": ("src/backend", "Dockerfile"),
    "frontend": ("src/frontend", "Dockerfile"),
    "singleuser": ("src/singleuser", "Dockerfile"),
    "jupyterhub": ("src/jupyterhub", "Dockerfile"),
    "nginx": (".", "src/nginx/Dockerfile"),  # the repository root is its context
    "gitea": ("third_party/gitea", "Dockerfile"),
    "saltstack": ("src/saltstack", "Dockerfile"),
}
BASE = "acrtasks-e2e-base"  # backend's FROM: a Docker Hub name only the mirror holds

COMPOSE = """\
services:
  backend:
    image: ai-infra-backend:${IMAGE_TAG:-v0.0.3.2}
    environment:
      - JUPYTERHUB_IMAGE=ai-infra-singleuser:v0.0.3.2
  frontend:
    image: ai-infra-frontend:${IMAGE_TAG:-v0.0.3.2}
  nginx:
    build:
      context: .
      dockerfile: src/nginx/Dockerfile
    image: ai-infra-nginx:${IMAGE_TAG:-v0.0.3.2}
  jupyterhub:
    image: ai-infra-jupyterhub:${IMAGE_TAG:-v0.0.3.2}
  gitea:
    image: ai-infra-gitea:${IMAGE_TAG:-v0.0.3.2}
  saltstack:
    image: ai-infra-saltstack:${IMAGE_TAG:-v0.0.3.2}
  postgres:
    image: postgres:15-alpine
"""
COMPOSE_PROD = """\
services:
  backend:
    image: "ai-infra-backend:v0.0.3.2"   # pinned for production
    deploy: {replicas: 2}
  frontend:
    image: 'ai-infra-frontend:v0.0.3.2'
"""
VALUES = """\
backend:
  image:
    repository: ai-infra-backend
    tag: v0.0.3.2
frontend:
  image:
    repository: ai-infra-frontend
    tag: "v0.0.3.2"
"""


@pytest.fixture
def mirror(api):
    """A Docker Hub mirror (as daocloud's) holding backend's base, which the engine does not have."""
    registry = Registry().start()
    tag = unique_version("b")
    seeded = f"{registry.host}/library/{BASE}"
    api.tag(BASE_IMAGE, seeded, tag)
    assert not [line for line in api.push(seeded, tag=tag, stream=True, decode=True) if "error" in line]
    api.remove_image(f"{seeded}:{tag}", noprune=True)
    yield registry, tag
    registry.remove()


def real_project(root, mirror_host, base_tag) -> Project:
    root.mkdir()
    project = Project(root)
    toml = ['[project]\nname = "ai-infra-matrix"\nimage_prefix = "ai-infra-"\n',
            f'[deps]\nmirrors = ["{mirror_host}"]\n',
            '[deploy]\nfiles = ["docker-compose.yml", "docker-compose.prod.yml", "helm/values.yaml", ".env"]\n',
            '[modes.prod]\nbuild_args = {BUILD_ENV = "production"}\n']
    for name, (context, dockerfile) in COMPONENTS.items():
        path = root / context / dockerfile
        path.parent.mkdir(parents=True, exist_ok=True)
        base = f"{BASE}:{base_tag}" if name == "backend" else BASE_IMAGE
        path.write_text(f"FROM {base}\nARG VERSION\nARG DEBUG_MODE\nRUN echo $VERSION $DEBUG_MODE > /{name}\n")
        toml.append(f'[components.{name}]\ncontext = "{context}"\ndockerfile = "{dockerfile}"\n'
                    'build_args = {VERSION = "{version}"}\n')
    toml.append('[components.nginx.modes.prod]\nbuild_args = {DEBUG_MODE = "{env:DEBUG_MODE}"}\n')
    (root / "build.toml").write_text("\n".join(toml))
    (root / ".env").write_text("IMAGE_TAG=v0.0.3.2\nDEBUG_MODE=true\n")
    (root / ".env.prod").write_text("DEBUG_MODE=false\n")
    (root / "docker-compose.yml").write_text(COMPOSE)
    (root / "docker-compose.prod.yml").write_text(COMPOSE_PROD)
    (root / "helm").mkdir()
    (root / "helm" / "values.yaml").write_text(VALUES)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "as build.sh left it")
    return project


def test_a_full_release_then_backend_alone(tmp_path, engine, api, registry, mirror):
    mirror_registry, base_tag = mirror
    project = real_project(tmp_path / "ai-infra-matrix", mirror_registry.host, base_tag)
    flat = f"{registry.host}/ai-infra-matrix"
    repo = "ai-infra-matrix/ai-infra-matrix"
    one = f"{registry.host}/{repo}"  # ACR's flat layout: every component in one repository, named in the tag
    v1, v2 = unique_version(), unique_version()
    full = project.inv("build", "push", "set-images", "--registry", flat, "--layout", "flat", "--version", v1,
                       "--progress", "quiet")
    assert full.returncode == 0, full.stdout + full.stderr
    assert f"base {BASE}:{base_tag}: pulled from mirror {mirror_registry.host}" in full.stdout
    assert "component nginx: its context" in full.stderr and "sends .git" in full.stderr
    for name in COMPONENTS:
        assert registry.digest(repo, f"{name}-{v1}"), name
    nginx = api.inspect_image(f"ai-infra-nginx:{v1}")["Id"]
    assert any("DEBUG_MODE=false" in (step.get("CreatedBy") or "") for step in api.history(nginx))  # .env.prod
    files = ("docker-compose.yml", "docker-compose.prod.yml", "helm/values.yaml", ".env")
    after_full = {name: (project.root / name).read_text() for name in files}
    assert f"image: {one}:backend-${{IMAGE_TAG:-{v1}}}" in after_full["docker-compose.yml"]
    assert f"IMAGE_TAG={v1}\n" in after_full[".env"]  # the one variable every service's tag takes
    assert f"image: \"{one}:backend-{v1}\"   # pinned" in after_full["docker-compose.prod.yml"]
    assert "image: postgres:15-alpine" in after_full["docker-compose.yml"]  # not ours: untouched

    # backend alone, every flag after the last task; the production files pin each tag, so they can take it
    (project.root / "src" / "backend" / "main.go").write_text("package main\n")
    offset = registry.log_size()
    alone = project.inv("build", "push", "set-images", "--registry", flat, "--layout", "flat", "--version", v2,
                        "--component", "backend", "--progress", "quiet", "--file", "docker-compose.prod.yml",
                        "--file", "helm/values.yaml")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    tags = registry.tags(repo)
    assert f"backend-{v2}" in tags and [t for t in tags if t.endswith(v2) and t != f"release-{v2}"] == [f"backend-{v2}"]
    pushed = [uri for method, uri in registry.requests(offset) if method == "PUT" and "/manifests/" in uri]
    assert all(uri.endswith((f"backend-{v2}", f"release-{v2}")) or "/manifests/sha256:" in uri for uri in pushed)
    for name in ("docker-compose.prod.yml", "helm/values.yaml"):
        expected = after_full[name].replace(f"{one}:backend-{v1}", f"{one}:backend-{v2}") \
            .replace(f"tag: backend-{v1}", f"tag: backend-{v2}")
        assert (project.root / name).read_text() == expected, name
    assert "not in this release" in alone.stdout  # frontend's values, left as they are

    # the development compose file gives every service one IMAGE_TAG: backend alone cannot move it
    shared = project.inv("set-images", "--registry", flat, "--layout", "flat", "--version", v2)
    assert shared.returncode == 2, shared.stdout + shared.stderr
    assert "uses $IMAGE_TAG too" in shared.stderr and "give it a variable of its own" in shared.stderr
    for name in ("docker-compose.yml", ".env"):
        assert (project.root / name).read_text() == after_full[name], name  # nothing written

    pulled = project.inv("pull", "--registry", flat, "--layout", "flat", "--version", v2)
    assert pulled.returncode == 0 and "pull 1 image(s)" in pulled.stdout, pulled.stdout + pulled.stderr
    bundle = tmp_path / "backend.tar"
    exported = project.inv("export", "--registry", flat, "--layout", "flat", "--version", v2, "--no-deps",
                           "--output", str(bundle))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    with tarfile.open(bundle) as tar:
        assert [i["name"] for i in json.load(tar.extractfile("acrtasks-bundle.json"))["images"]] == ["backend"]
