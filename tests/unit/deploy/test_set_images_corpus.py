"""set-images on a corpus of realistic deployment files: exactly the expected lines change, byte for byte.

The files (``tests/data/deploy-corpus``) address databases and caches by service name, carry
``${VAR:-default}`` passwords, ``host:port`` values and URLs that name the dependencies, so that a rule
matching too loosely rewrites something here. The expectations below were written by hand from the rule
(README, set-images): schema image fields by repository; other values only when they name a release image
exactly, with a tag.
"""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from acrtasks.config import load_config, resolve
from acrtasks.deploy import rewrite
from acrtasks.deploy.refs import ReleaseRefs
from support import REPO

CORPUS = REPO / "tests" / "data" / "deploy-corpus"
R = "registry.cn-hangzhou.aliyuncs.com/ai-infra-matrix"
F = f"{R}/ai-infra-matrix"
V = "v0.0.3.3"
BUILD_TOML = textwrap.dedent("""
    [project]
    name = "ai-infra-matrix"
    image_prefix = "ai-infra-"
    [components.backend]
    context = "."
    aliases = ["backend-init"]
    [components.frontend]
    context = "."
    [components.nginx]
    context = "."
    [components.jupyterhub]
    context = "."
    [components.singleuser]
    context = "."
    [deps]
    images = ["postgres:15-alpine", "redis:7-alpine", "osixia/openldap:1.5.0", "gitea/gitea:1.21.4",
              "minio/minio:RELEASE.2024-01-16T16-07-38Z", "osixia/phpldapadmin:0.9.0"]
""")

# file -> (line number, the whole line before, the whole line after); nothing else may change
EXPECTED = {
    "docker-compose.yml": [
        (9, "    image: postgres:15-alpine", f"    image: {R}/postgres:15-alpine"),
        (22, "    image: redis:7-alpine", f"    image: {R}/redis:7-alpine"),
        (27, "    image: osixia/openldap:1.5.0", f"    image: {R}/openldap:1.5.0"),
        (34, "    image: gitea/gitea:1.21.4", f"    image: {R}/gitea:1.21.4"),
        (47, "    image: ai-infra-backend:${IMAGE_TAG:-v0.0.3.2}", f"    image: {F}:backend-${{IMAGE_TAG:-{V}}}"),
        (56, "      - JUPYTERHUB_SINGLEUSER_IMAGE=ai-infra-singleuser:${IMAGE_TAG:-v0.0.3.2}",
         f"      - JUPYTERHUB_SINGLEUSER_IMAGE={F}:singleuser-${{IMAGE_TAG:-{V}}}"),
        (64, '    image: "ai-infra-backend-init:${IMAGE_TAG:-v0.0.3.2}"',
         f'    image: "{F}:backend-init-${{IMAGE_TAG:-{V}}}"'),
        (68, "    image: ai-infra-jupyterhub:${IMAGE_TAG:-v0.0.3.2}", f"    image: {F}:jupyterhub-${{IMAGE_TAG:-{V}}}"),
        (71, "      DOCKER_NOTEBOOK_IMAGE: ai-infra-singleuser:v0.0.3.2", f"      DOCKER_NOTEBOOK_IMAGE: {F}:singleuser-{V}"),
        (75, "    image: minio/minio:RELEASE.2024-01-16T16-07-38Z", f"    image: {R}/minio:RELEASE.2024-01-16T16-07-38Z"),
        (82, "    image: ai-infra-nginx:${IMAGE_TAG:-v0.0.3.2}", f"    image: {F}:nginx-${{IMAGE_TAG:-{V}}}"),
        (87, "    image: ai-infra-frontend:${IMAGE_TAG:-v0.0.3.2}", f"    image: {F}:frontend-${{IMAGE_TAG:-{V}}}"),
    ],
    ".env": [
        (2, "IMAGE_TAG=v0.0.3.2", f"IMAGE_TAG={V}"),  # the compose tags' variable follows the release
        (7, "BACKEND_IMAGE='ai-infra-backend:v0.0.3.2'", f"BACKEND_IMAGE='{F}:backend-{V}'"),
        (8, "PG_IMAGE=postgres:15-alpine", f"PG_IMAGE={R}/postgres:15-alpine"),
        (11, "export LDAP_IMAGE=osixia/openldap:1.5.0 # mirrored", f"export LDAP_IMAGE={R}/openldap:1.5.0 # mirrored"),
    ],
    "gitea.compose.yml": [(8, "    image: gitea/gitea:1.21.4", f"    image: {R}/gitea:1.21.4")],
    "minio.compose.yaml": [(3, "  image: minio/minio:RELEASE.2024-01-16T16-07-38Z",
                            f"  image: {R}/minio:RELEASE.2024-01-16T16-07-38Z")],  # reached through <<: *anchor
    "ldap.compose.yml": [(5, '    image: "osixia/openldap:1.5.0"', f'    image: "{R}/openldap:1.5.0"')],
    "nginx.crlf.compose.yml": [(3, "    image: ai-infra-nginx:v0.0.3.2", f"    image: {F}:nginx-{V}")],
    "k8s-backend.yaml": [
        (10, "  SINGLEUSER_IMAGE: ai-infra-singleuser:v0.0.3.2", f"  SINGLEUSER_IMAGE: {F}:singleuser-{V}"),
        (31, "          image: ai-infra-backend-init:v0.0.3.2", f"          image: {F}:backend-init-{V}"),
        (34, f"          image: {F}:backend-v0.0.3.2", f"          image: {F}:backend-{V}"),
        (42, '              value: "ai-infra-singleuser:v0.0.3.2"', f'              value: "{F}:singleuser-{V}"'),
        (44, "              value: redis:7-alpine", f"              value: {R}/redis:7-alpine"),
    ],
    "k8s-postgres.yaml": [
        (15, "          image: postgres:15-alpine", f"          image: {R}/postgres:15-alpine"),
        (41, "              image: docker.io/library/redis:7-alpine", f"              image: {R}/redis:7-alpine"),
    ],
    "values.yaml": [
        (6, "    registry: docker.io", "    registry: registry.cn-hangzhou.aliyuncs.com"),
        (7, "    repository: ai-infra-backend", "    repository: ai-infra-matrix/ai-infra-matrix"),
        (8, "    tag: v0.0.3.2   # bumped by the release", f"    tag: backend-{V}   # bumped by the release"),
        (19, "    repository: ai-infra-frontend", f"    repository: {F}"),
        (20, '    tag: "v0.0.3.2"', f'    tag: "frontend-{V}"'),
        (32, "    repository: redis", f"    repository: {R}/redis"),
    ],
    "kustomization.yaml": [
        (7, "  - name: ai-infra-frontend", f"  - name: ai-infra-frontend\n    newName: {F}"),
        (8, "    newTag: v0.0.3.2", f"    newTag: frontend-{V}"),
        (9, "  - name: postgres", f"  - name: postgres\n    newName: {R}/postgres"),
    ],
    "jupyterhub-values.yaml": [],  # z2jh's name/tag maps are not Helm image maps set-images knows
    "templated-deployment.yaml": [],  # Helm templates are skipped
}
# Reported and left alone: schema image fields whose tag is not the mirrored one.
SKIPPED = {("gitea.compose.yml", 30), ("ldap.compose.yml", 13), ("k8s-postgres.yaml", 25), ("kustomization.yaml", 11)}


def expected_bytes(name: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.split(newline)
    for number, before, after in EXPECTED[name]:
        assert lines[number - 1] == before.encode(), f"{name}:{number} is not {before!r}: fix the table"
        lines[number - 1] = after.replace("\n", newline.decode()).encode()
    return newline.join(lines)


@pytest.fixture
def corpus(tmp_path):
    shutil.copytree(CORPUS, tmp_path, dirs_exist_ok=True)
    (tmp_path / "README.md").unlink()
    (tmp_path / "build.toml").write_text(BUILD_TOML)
    (tmp_path / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    return tmp_path


def plan(root: Path):
    settings = resolve(load_config(root / "build.toml"), registry=R, version=V)
    files = sorted(path for path in root.iterdir() if path.name in EXPECTED)
    planner = rewrite.Planner(ReleaseRefs(settings), files, environ={})
    return planner, planner.plan()


def test_the_corpus_covers_every_file():
    assert {p.name for p in CORPUS.iterdir()} - {"README.md"} == set(EXPECTED)
    assert len(EXPECTED) >= 10


def test_only_the_image_values_change(corpus):
    planner, plans = plan(corpus)
    assert planner.errors == []
    rewrite.write(plans)
    for name in EXPECTED:
        assert (corpus / name).read_bytes() == expected_bytes(name), name
    skipped = {(ch.file.name, ch.line) for p in plans for ch in p.changes if ch.status.startswith("skipped: tag")}
    assert skipped == SKIPPED
    # no row for a value that is not an image: only image fields and the values that were ours are listed
    listed_env = {(ch.file.name, ch.line) for p in plans for ch in p.changes if "environment" in ch.where
                  or ".env." in ch.where or "ConfigMap" in ch.where}
    assert listed_env == {("docker-compose.yml", 56), ("docker-compose.yml", 71), ("k8s-backend.yaml", 10),
                          ("k8s-backend.yaml", 42), ("k8s-backend.yaml", 44)}


def test_an_updated_corpus_has_no_drift(corpus):
    rewrite.write(plan(corpus)[1])
    planner, plans = plan(corpus)
    assert planner.errors == [] and not any(p.changed for p in plans)
    result = subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(corpus), "set-images", "--check", "--no-verify",
                             "--registry", R, "--version", V, *(a for n in EXPECTED for a in ("--file", n))],
                            cwd=corpus, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout + result.stderr
