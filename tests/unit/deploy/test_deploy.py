"""deploy/'s pieces one by one: which value is whose (refs), what a document is and where its image values are
(yamldoc), and the rewrite's own rules (tags, variables, .env sniffing, overlapping edits)."""

import textwrap
from pathlib import Path

import pytest

from acrtasks.config import load_config, resolve
from acrtasks.deploy import rewrite, yamldoc
from acrtasks.deploy.refs import ReleaseRefs
from acrtasks.errors import UsageError
from acrtasks.util.inputs import compose_yaml

ACR = "registry.cn-hangzhou.aliyuncs.com/team"


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    (root / "build.toml").write_text(textwrap.dedent("""
        [project]
        name = "shop"
        image_prefix = "shop-"
        [components.api]
        context = "."
        aliases = ["api-worker"]
        [deps]
        images = ["postgres:15-alpine", "bitnami/redis:7.2"]
    """))
    return ReleaseRefs(resolve(load_config(root / "build.toml"), registry=ACR, version="v2"))


@pytest.mark.parametrize("value, name", [
    ("shop-api:v1", "api"), ("shop-api-worker:v1", "api-worker"), (f"{ACR}/shop:api-worker-v1", "api-worker"),
    (f"{ACR}/shop:api-v1", "api"), ("other.example.com/x/shop-api:v9", "api"),
    ("postgres:15-alpine", "docker.io/library/postgres:15-alpine"), ("docker.io/bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
    (f"{ACR}/postgres:15-alpine", "docker.io/library/postgres:15-alpine"),
])
def test_image_fields_match_by_repository(refs, value, name):
    release, why = refs.for_image_field(value)
    assert why == "" and release.name == name


@pytest.mark.parametrize("value, why", [
    ("postgres", "tag 'latest' is not the release's (it mirrors docker.io/library/postgres:15-alpine)"),
    ("postgres:14", "tag '14' is not the release's"), ("busybox:1", ""), ("shop-db:v1", ""), ("not a ref", ""),
])
def test_image_fields_left_alone(refs, value, why):
    release, reason = refs.for_image_field(value)
    assert release is None and reason.startswith(why)


@pytest.mark.parametrize("value, name", [
    ("shop-api:v1", "api"), (f"{ACR}/shop:api-v1", "api"), ("shop-api@sha256:" + "a" * 64, "api"),
    ("postgres:15-alpine", "docker.io/library/postgres:15-alpine"),
    (f"{ACR}/redis:7.2", "docker.io/bitnami/redis:7.2"),
])
def test_values_that_are_exactly_a_release_image(refs, value, name):
    assert refs.for_value(value).name == name


@pytest.mark.parametrize("value", [
    "postgres", "redis", "shop-api", "api", "postgres:5432", "postgres:14", "shop-api:8080", "redis:6379",
    "http://shop-api:8080/x", "postgres://u:p@postgres:5432/db", "other.example.com/x/shop-api:v9", "shop",
    "bitnami/redis:6379", "",
])
def test_values_that_are_not_images(refs, value):
    assert refs.for_value(value) is None


def sites(text, name="f.yaml"):
    root = compose_yaml(text, Path(name), "test")[0]
    document = yamldoc.find_sites(text, root, name)
    return document.kind, [(s.where, s.value, s.is_env_entry) for s in document.sites]


def test_compose_sites_with_merge_keys_and_both_environment_forms():
    kind, found = sites("x: &base\n  image: a:1\nservices:\n  one:\n    <<: *base\n    environment: [K=v]\n"
                        "  two:\n    image: b:2\n    environment: {K: w}\n")
    assert kind == "compose"
    assert found == [("services.one.image", "a:1", False), ("services.one.environment.K", "v", True),
                     ("services.two.image", "b:2", False), ("services.two.environment.K", "w", True)]


def test_kubernetes_sites_containers_env_and_configmaps():
    kind, found = sites("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: c\n      image: a:1\n"
                        "      env: [{name: E, value: b:2}, {name: F, valueFrom: {x: y}}]\n")
    assert kind == "kubernetes" and found == [("spec.containers[c].image", "a:1", False),
                                              ("spec.containers[c].env.E", "b:2", True)]
    kind, found = sites("apiVersion: v1\nkind: ConfigMap\ndata:\n  A: a:1\n  B: '5'\n")
    assert found == [("ConfigMap data.A", "a:1", True), ("ConfigMap data.B", "5", True)]


def test_helm_and_kustomize_sites():
    assert sites("app:\n  image: {registry: r.io, repository: x/app, tag: v1}\n")[1] == [("app.image", "r.io/x/app:v1",
                                                                                            False)]
    assert sites("images:\n  - name: app\n    newTag: v1\n", "kustomization.yaml")[1] == [
        ("kustomize images[app]", "app:v1", False)]


@pytest.mark.parametrize("value, reason", [
    ("{{ .Values.image }}", "template ({{ }})"), ("a:{{ .Values.tag }}", "template ({{ }})"),
    ("shop-api:${A:-${B:-v1}}", ""), ("shop-api:v1", ""),
])
def test_only_go_templates_are_templates(value, reason):
    assert yamldoc.template_reason(value) == reason


@pytest.mark.parametrize("value, why", [
    ("shop-api:${TAG:-v1}", ""), ("shop-api:${TAG}", ""), ("shop-api:$TAG", ""), ("r.io/ns/shop:api-${TAG-v1}", ""),
    ("shop-api:v1", ""), ("${REGISTRY}/shop-api:v1", "has variables beyond the tag ($REGISTRY)"),
    ("${IMAGE:-shop-api:v1}", "has variables beyond the tag ($IMAGE)"),
    ("shop-api:${TAG:-${DEFAULT}}", "has a tag that is more than one variable with a literal default"),
    ("shop-api:${TAG}@sha256:" + "a" * 64, "has a variable and a digest"),
])
def test_which_variables_set_images_can_keep(value, why):
    assert rewrite._beyond_tag(value) == why


@pytest.mark.parametrize("name, text, is_env", [
    (".env", "A: 1\n", True), ("prod.env", "", True), ("vars", "A=1\n# c\nexport B=2\n", True),
    ("values.yaml", "image: a\n", False), ("vars", "A=1\nkey: value\n", False), ("vars", "", False),
])
def test_env_files_are_told_from_yaml(name, text, is_env):
    assert rewrite._is_env_file(Path(name), text) is is_env


def test_overlapping_edits_are_a_bug_not_a_corruption():
    assert rewrite._apply("abcdef", [(0, 2, "X"), (4, 6, "Y")]) == "XcdY"
    with pytest.raises(UsageError, match="overlap"):
        rewrite._apply("abcdef", [(0, 3, "X"), (2, 4, "Y")])


def test_a_replaced_file_keeps_its_owner_and_group_and_a_symlink_is_written_through(tmp_path):
    """`sudo inv set-images` left root-owned files in a user's repository; a dotfiles config.json (a symlink)
    became a regular file holding the credentials. Docker keeps the owner and follows the link."""
    import os

    from acrtasks.util.jsonfile import replace_text

    target = tmp_path / "dotfiles" / "config.json"
    target.parent.mkdir()
    target.write_text("{}\n")
    link = tmp_path / "config.json"
    link.symlink_to(target)
    if os.geteuid() == 0:  # CI runs as root: the file belongs to someone else, as a user's file under sudo does
        os.chown(target, 1234, 2345)
    replace_text(link, '{"auths": {}}\n', 0o600)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == '{"auths": {}}\n'
    if os.geteuid() == 0:
        assert (target.stat().st_uid, target.stat().st_gid) == (1234, 2345)
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_a_deploy_glob_leading_out_of_the_repository_is_refused(tmp_path):
    from acrtasks.config import load_config
    from acrtasks.deploy.rewrite import deployment_files
    from acrtasks.errors import UsageError

    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("image: x\n")
    repo = tmp_path / "repo"
    (repo / "k8s").mkdir(parents=True)
    (repo / "k8s" / "app.yaml").write_text("image: y\n")
    (repo / "k8s" / "other.yaml").symlink_to(outside)
    (repo / "build.toml").write_text('[project]\nname = "shop"\n[deploy]\nfiles = ["k8s/*.yaml"]\n')
    config = load_config(repo / "build.toml")
    with pytest.raises(UsageError, match=r"k8s/other.yaml leads out of .* name it with --file"):
        deployment_files(config, ())
    assert deployment_files(config, [str(repo / "k8s" / "other.yaml")]) == [outside.resolve()]  # named: yours
