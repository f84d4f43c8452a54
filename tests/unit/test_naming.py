"""The naming rules, case by case (pure logic, no I/O)."""

import re

import pytest

from acrtasks.errors import NamingError
from acrtasks.naming import (
    ImageRef,
    Registry,
    check_tag,
    naming_for,
    parse_registry,
    resolve_layout,
    split_host,
)
from acrtasks.naming_cases import CASES, SEED, passed, run_case
from acrtasks.release.images import component_images

FLAT = [".aliyuncs.com"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.label}:{c.registry or 'none'}:{c.name}:{c.version}")
def test_bundled_cases(case):
    actual = run_case(case)
    assert passed(case, actual), f"expected {case.expected!r}, got {actual!r}"


def test_seed_cases_are_all_there():
    assert sum(1 for c in CASES if c.label == SEED) == 8


@pytest.mark.parametrize("text, host, path", [
    ("xxx.aliyuncs.com", "xxx.aliyuncs.com", ""),
    ("xxx.aliyuncs.com/", "xxx.aliyuncs.com", ""),
    ("xxx.aliyuncs.com/ns/", "xxx.aliyuncs.com", "ns"),
    ("localhost:5000/ns", "localhost:5000", "ns"),
    ("localhost/ns", "localhost", "ns"),
    ("localhost", "localhost", ""),
    ("127.0.0.1:5000", "127.0.0.1:5000", ""),
    ("[::1]:5000/ns", "[::1]:5000", "ns"),
    ("myuser", "docker.io", "myuser"),
    ("myuser/team", "docker.io", "myuser/team"),
    ("index.docker.io/myuser", "docker.io", "myuser"),
    ("harbor.corp:8443/proj/sub", "harbor.corp:8443", "proj/sub"),
    ("my-registry.io/a_b/c.d/e--f", "my-registry.io", "a_b/c.d/e--f"),
])
def test_parse_registry(text, host, path):
    assert parse_registry(text) == Registry(host, path)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("/", "empty"),
    ("xxx.aliyuncs.com//", "empty path segment"),
    ("http://localhost:5000", "did you mean 'localhost:5000'"),
    ("https://XXX.aliyuncs.com/NS/", "did you mean 'xxx.aliyuncs.com/ns'"),
    ("xxx.aliyuncs.com/ns\t", "whitespace"),
    ("xxx .aliyuncs.com", "did you mean 'xxx.aliyuncs.com'"),
    ("xxx.aliyuncs.com/Team", "upper case"),
    ("xxx.aliyuncs.com/n$s", "invalid"),
    ("xxx.aliyuncs.com/-ns", "invalid"),
    ("xxx.aliyuncs.com/ns!", "did you mean 'xxx.aliyuncs.com/ns'"),
    ("localhost:0", "port"),
    ("localhost:abc", "port"),
    ("-bad-.com/ns", "not a valid host"),
    ("a..b/ns", "not a valid host"),
])
def test_parse_registry_rejects(text, fragment):
    with pytest.raises(NamingError, match="registry") as err:
        parse_registry(text)
    assert fragment in str(err.value)


@pytest.mark.parametrize("host, flat", [
    ("registry.cn-hangzhou.aliyuncs.com", True),
    ("crpi-x.cn-hangzhou.personal.cr.aliyuncs.com", True),
    ("inst-registry.cn-shanghai.cr.aliyuncs.com", True),
    ("registry-vpc.cn-beijing.aliyuncs.com", True),
    ("aliyuncs.com", True),
    ("REGISTRY.ALIYUNCS.COM", True),
    ("registry.cn-hangzhou.aliyuncs.com:443", True),
    ("aliyuncs.com.evil.io", False),
    ("notaliyuncs.com", False),
    ("aliyuncs.com-evil.io", False),
    ("harbor.example.com", False),
])
def test_flat_host_detection_on_label_boundary(host, flat):
    assert Registry(host).is_flat_host(FLAT) is flat


def test_layout_resolution():
    assert resolve_layout(None, "flat", FLAT) == "local"
    assert resolve_layout(Registry("x.aliyuncs.com"), "auto", FLAT) == "flat"
    assert resolve_layout(Registry("harbor.io"), "auto", FLAT) == "nested"
    assert resolve_layout(Registry("harbor.io"), "flat", FLAT) == "flat"
    assert resolve_layout(Registry("x.aliyuncs.com"), "nested", FLAT) == "nested"
    assert resolve_layout(Registry("harbor.io"), "auto", [".harbor.io", "harbor.io"]) == "flat"
    with pytest.raises(NamingError, match="layout 'sideways'"):
        resolve_layout(Registry("harbor.io"), "sideways", FLAT)


@pytest.mark.parametrize("text, expected", [
    ("postgres:15", ImageRef("docker.io", "library/postgres", "15")),
    ("postgres", ImageRef("docker.io", "library/postgres")),
    ("bitnami/redis:7", ImageRef("docker.io", "bitnami/redis", "7")),
    ("docker.io/postgres:15", ImageRef("docker.io", "library/postgres", "15")),
    ("quay.io/minio/minio:RELEASE.2024-01-01T00-00-00Z",
     ImageRef("quay.io", "minio/minio", "RELEASE.2024-01-01T00-00-00Z")),
    ("localhost:5000/a/b:c", ImageRef("localhost:5000", "a/b", "c")),
    ("localhost/a", ImageRef("localhost", "a")),
    ("redis:7@sha256:" + "a" * 64, ImageRef("docker.io", "library/redis", "7", "sha256:" + "a" * 64)),
])
def test_image_ref_parse(text, expected):
    assert ImageRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "Postgres:15", "postgres:", "postgres:+1", "a//b", "redis@sha256:short",
                                  " redis", "localhost:99999/a:b"])
def test_image_ref_rejects(text):
    with pytest.raises(NamingError):
        ImageRef.parse(text)


def test_image_ref_round_trip():
    text = "127.0.0.1:5000/a/b:v1@sha256:" + "b" * 64
    assert str(ImageRef.parse(text)) == text


@pytest.mark.parametrize("tag", ["v0.0.3.3", "latest", "_x", "A" * 128, "backend-v1.2_rc.1"])
def test_valid_tags(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag, fragment", [
    ("v1+build", "did you mean 'v1-build'"),
    ("", "empty"),
    (".v1", "must not start with '.'"),
    ("A" * 129, "129 characters"),
    ("v1/2", "'/'"),
    ("v 1", "' '"),
])
def test_invalid_tags(tag, fragment):
    with pytest.raises(NamingError) as err:
        check_tag(tag)
    assert fragment in str(err.value)


def naming(registry="xxx.aliyuncs.com/ns", layout="auto"):
    return naming_for("ai-infra-matrix", "ai-infra-", registry, layout, FLAT)


def test_flat_component_alias_and_latest_refs():
    refs = component_images(naming(), "v1", "backend", ["backend-init"], tag_latest=True).refs
    assert list(map(str, refs)) == [
        "ai-infra-backend:v1",
        "ai-infra-backend:latest",
        "xxx.aliyuncs.com/ns/ai-infra-matrix:backend-v1",
        "xxx.aliyuncs.com/ns/ai-infra-matrix:backend-init-v1",
        "xxx.aliyuncs.com/ns/ai-infra-matrix:backend-latest",
        "xxx.aliyuncs.com/ns/ai-infra-matrix:backend-init-latest",
    ]


def test_nested_component_refs():
    refs = component_images(naming("harbor.io/proj"), "v1", "backend", ["backend-init"]).registry_refs
    assert list(map(str, refs)) == ["harbor.io/proj/ai-infra-backend:v1", "harbor.io/proj/ai-infra-backend-init:v1"]


def test_local_refs_include_alias_names():
    refs = component_images(naming(""), "v1", "backend", ["backend-init"]).refs
    assert list(map(str, refs)) == ["ai-infra-backend:v1", "ai-infra-backend-init:v1"]


def test_flat_composed_tag_must_fit():
    with pytest.raises(NamingError, match="tag for component"):
        naming().component_ref("backend", "v" * 125)


def test_component_names_are_path_components():
    with pytest.raises(NamingError, match="did you mean 'back_end'"):
        naming().component_ref("Back_End!", "v1")


def test_dependency_mapping_flat_and_nested():
    assert str(naming().dependency("bitnami/redis:7").target) == "xxx.aliyuncs.com/ns/redis:7"
    assert str(naming("harbor.io/proj").dependency("postgres:15").target) == "harbor.io/proj/postgres:15"
    assert str(naming("xxx.aliyuncs.com").dependency("postgres:15").target) == \
        "xxx.aliyuncs.com/ai-infra-matrix/postgres:15"


def test_dependency_without_tag_is_unpinned_latest():
    dep = naming().dependency("redis")
    assert dep.unpinned and dep.source.tag == "latest" and dep.target.tag == "latest"


def test_dependency_digest_without_tag_is_an_error():
    with pytest.raises(NamingError, match="digest but no tag"):
        naming().dependency("redis@sha256:" + "c" * 64)


def test_dependency_pinned_digest_keeps_tag():
    dep = naming().dependency("redis:7@sha256:" + "c" * 64)
    assert dep.source.digest == "sha256:" + "c" * 64
    assert str(dep.target) == "xxx.aliyuncs.com/ns/redis:7"


def test_dependency_collision_is_refused_with_rename_fix():
    with pytest.raises(NamingError) as err:
        naming().dependencies(["redis:7", "bitnami/redis:7"])
    message = str(err.value)
    assert "docker.io/library/redis:7" in message and "docker.io/bitnami/redis:7" in message
    assert '[deps] rename = { "docker.io/bitnami/redis" = "bitnami-redis" }' in message


def test_dependency_rename_resolves_collision():
    deps = naming().dependencies(["redis:7", "bitnami/redis:7"], {"bitnami/redis": "bitnami-redis"})
    assert [str(d.target) for d in deps] == ["xxx.aliyuncs.com/ns/redis:7", "xxx.aliyuncs.com/ns/bitnami-redis:7"]


def test_duplicate_dependencies_are_merged():
    deps = naming().dependencies(["redis:7", "docker.io/library/redis:7", "redis:7"])
    assert len(deps) == 1


def test_dependencies_need_a_registry():
    with pytest.raises(NamingError, match="needs a registry"):
        naming("").dependency("redis:7")


def test_map_image_name_components_and_dependencies():
    assert naming().map_image_name("ai-infra-nginx", "v2") == "xxx.aliyuncs.com/ns/ai-infra-matrix:nginx-v2"
    assert naming().map_image_name("minio", "2024") == "xxx.aliyuncs.com/ns/minio:2024"


def test_flat_rejects_nested_namespace():
    with pytest.raises(NamingError, match="one namespace level"):
        naming("xxx.aliyuncs.com/a/b")


def test_bad_project_and_prefix():
    with pytest.raises(NamingError, match="project name"):
        naming_for("AI Matrix", "ai-", "", "auto")
    with pytest.raises(NamingError, match="image_prefix"):
        naming_for("ai", "AI-", "", "auto")


def test_engine_names_stay_local_without_a_path():
    assert ImageRef.parse_engine_name("demo-api:1") == ImageRef("", "demo-api", "1")
    assert ImageRef.parse_engine_name("bitnami/redis:7") == ImageRef.parse("bitnami/redis:7")
    assert str(ImageRef.parse_engine_name("127.0.0.1:5000/ns/app:v1")) == "127.0.0.1:5000/ns/app:v1"
    with pytest.raises(NamingError, match="has no tag"):
        ImageRef.parse_engine_name("demo-api")


def test_what_a_registry_is_asked_for():
    assert ImageRef.parse("redis:7").reference == "7"
    assert ImageRef.parse("redis").reference == "latest"
    assert ImageRef.parse("redis:7@sha256:" + "a" * 64).reference == "sha256:" + "a" * 64


# distribution/reference's own table (reference_test.go, TestReferenceParse), read as docker normalises names
# (ParseNormalizedNamed: a first segment without '.', ':' or 'localhost' is a path, on docker.io).
FFF = "f" * 64


@pytest.mark.parametrize("text, locator, tag, digest", [
    ("test_com", "docker.io/library/test_com", None, None),
    ("test.com:tag", "docker.io/library/test.com", "tag", None),
    ("test.com:5000", "docker.io/library/test.com", "5000", None),
    ("test.com/repo:tag", "test.com/repo", "tag", None),
    ("test:5000/repo", "test:5000/repo", None, None),
    ("test:5000/repo:tag", "test:5000/repo", "tag", None),
    (f"test:5000/repo@sha256:{FFF}", "test:5000/repo", None, f"sha256:{FFF}"),
    (f"test:5000/repo:tag@sha256:{FFF}", "test:5000/repo", "tag", f"sha256:{FFF}"),
    ("lowercase:Uppercase", "docker.io/library/lowercase", "Uppercase", None),
    ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io/" + "a/" * 127 + "a", "tag-puts-this-over-max", None),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux", "some-long-tag", None),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app", "test.example.com", None),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", None),
    ("xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + "f" * 128, "xn--7o8h.com/myimage", "xn--7o8h.com",
     "sha512:" + "f" * 128),
    ("foo_bar.com:8080", "docker.io/library/foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com", "8080", None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo", None, None),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo", "tag", None),
    ("[::1]:5000/repo", "[::1]:5000/repo", None, None),
])
def test_reference_table(text, locator, tag, digest):
    ref = ImageRef.parse(text)
    assert (ref.locator, ref.tag, ref.digest) == (locator, tag, digest)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), (":justtag", "invalid"), (f"@sha256:{FFF}", "invalid"),
    ("repo@sha256:" + "f" * 34, "has 34 hex digits where sha256 has 64"),  # digest.ErrDigestInvalidLength
    (f"validname@invaliddigest:{FFF}", "unsupported algorithm 'invaliddigest'"),  # digest.ErrDigestUnsupported
    ("repo@sha256:" + "F" * 64, "lowercase hex"),  # go-digest's encodings are lowercase
    ("Uppercase:tag", "must be"), ("test:5000/Uppercase/lowercase:tag", "must be"),
    ("a/" * 128 + "a:tag", "257 characters long"),  # ErrNameTooLong
    ("aa/asdf$$^/aa", "must be"), ("[2001:db8::1]:5000", "invalid"), ("[fe80::1%eth0]:5000/repo", "invalid"),
])
def test_reference_table_errors(text, message):
    with pytest.raises(NamingError, match=re.escape(message) if "(" not in message else message):
        ImageRef.parse(text)


def test_dependency_digests_are_checked_where_they_enter():
    naming = naming_for("shop", "shop-", "r.io/ns")
    with pytest.raises(NamingError, match="has 63 hex digits"):
        naming.dependency("postgres:15@sha256:" + "a" * 63)


# -- hosts, tags and refs: limits and messages ----------------------------------------------------------

@pytest.mark.parametrize("host, expected", [
    ("[::1]:5000", ("::1", 5000)), ("[::1]", ("::1", None)), ("[fe80::1]:443", ("fe80::1", 443)),
    ("example.com:8443", ("example.com", 8443)), ("example.com", ("example.com", None)),
    ("example.com:x", ("example.com", None)),
])
def test_split_host(host, expected):
    assert split_host(host) == expected


@pytest.mark.parametrize("text, message", [
    ("", "registry '' is invalid: it is empty"),
    ("a b", "registry 'a b' is invalid: it contains whitespace (did you mean 'ab'?)"),
    ("https://r.io/ns", "registry 'https://r.io/ns' is invalid: a scheme is not part of a registry (docker chooses "
                        "https, or http on loopback) (did you mean 'r.io/ns'?)"),
    ("r.io//ns", "registry 'r.io//ns' is invalid: it has an empty path segment (did you mean 'r.io/ns'?)"),
    ("r.io/NS", "registry 'r.io/NS' is invalid: upper case is not allowed (did you mean 'r.io/ns'?)"),
    ("r.io:0", "registry 'r.io:0' is invalid: port '0' of 'r.io:0' is not a number from 1 to 65535"),
    ("r.io:65536", "registry 'r.io:65536' is invalid: port '65536' of 'r.io:65536' is not a number from 1 to 65535"),
    ("[::1]x/ns", "registry '[::1]x/ns' is invalid: host '[::1]x' is malformed"),
    ("-r.io/ns", "registry '-r.io/ns' is invalid: host '-r.io' is not a valid host name"),
])
def test_registry_messages(text, message):
    from acrtasks.errors import NamingError

    with pytest.raises(NamingError) as err:
        parse_registry(text)
    assert str(err.value) == message


@pytest.mark.parametrize("host", ["r.io:1", "r.io:65535", "[::1]:5000", "a.b.c:443"])
def test_registry_ports_in_range(host):
    assert parse_registry(host).host == host


@pytest.mark.parametrize("tag, message", [
    ("", "tag is empty (a tag is 1-128 of A-Z a-z 0-9 _ . - and must not start with '.' or '-')"),
    ("v" * 129, f"tag {'v' * 129!r} is 129 characters long; a tag is 1-128 of A-Z a-z 0-9 _ . - and must not start "
                "with '.' or '-'"),
    ("v1+b", "tag 'v1+b' is invalid: character(s) '+' not allowed; a tag is 1-128 of A-Z a-z 0-9 _ . - and must "
             "not start with '.' or '-' (did you mean 'v1-b'?)"),
    ("v 1/x", "tag 'v 1/x' is invalid: character(s) ' ' '/' not allowed; a tag is 1-128 of A-Z a-z 0-9 _ . - and "
              "must not start with '.' or '-' (did you mean 'v-1-x'?)"),
    ("-.v1", "tag '-.v1' is invalid: must not start with '-'; a tag is 1-128 of A-Z a-z 0-9 _ . - and must not "
             "start with '.' or '-' (did you mean 'v1'?)"),
    ("+", "tag '+' is invalid: character(s) '+' not allowed; a tag is 1-128 of A-Z a-z 0-9 _ . - and must not "
          "start with '.' or '-' (did you mean '0'?)"),
])
def test_tag_messages(tag, message):
    from acrtasks.errors import NamingError

    with pytest.raises(NamingError) as err:
        check_tag(tag)
    assert str(err.value) == message


def test_tags_of_128_characters_and_upper_case_pass():
    assert check_tag("V" * 128) == "V" * 128
    assert check_tag("Release_1.0-RC") == "Release_1.0-RC"


def test_labelled_refs_say_what_each_ref_is():
    naming = naming_for("shop", "shop-", "r.io/ns", "nested")
    assert [(str(r), k) for r, k in naming.labelled_refs("api", "v1", ["worker"])] == [
        ("shop-api:v1", "local"), ("r.io/ns/shop-api:v1", "registry"), ("r.io/ns/shop-worker:v1", "alias")]
    latest = [(str(r), k) for r, k in naming.labelled_refs("api", "v1", ["worker"], tag_latest=True)]
    assert latest == [("shop-api:v1", "local"), ("shop-api:latest", "local, latest"),
                      ("r.io/ns/shop-api:v1", "registry"), ("r.io/ns/shop-worker:v1", "alias"),
                      ("r.io/ns/shop-api:latest", "registry, latest"), ("r.io/ns/shop-worker:latest", "alias, latest")]
    same = [(str(r), k) for r, k in naming.labelled_refs("api", "latest", [], tag_latest=True)]
    assert same == [("shop-api:latest", "local"), ("r.io/ns/shop-api:latest", "registry")]
    local = naming_for("shop", "shop-", "", "auto")
    assert [(str(r), k) for r, k in local.labelled_refs("api", "v1", ["worker"])] == [
        ("shop-api:v1", "local"), ("shop-worker:v1", "local alias")]
    assert component_images(local, "v1", "api", ["worker"]).registry_refs == ()


def test_image_ref_limits_and_messages():
    from acrtasks.errors import NamingError

    name = "registry.example.com/" + "a" * 255  # distribution/reference: the host does not count
    assert len(ImageRef.parse(name).repository) == 255
    with pytest.raises(NamingError) as err:
        ImageRef.parse(name + "a")
    assert "is 256 characters long (without the host); the limit is 255" in str(err.value)
    with pytest.raises(NamingError, match="characters long; a name is at most 255"):
        ImageRef.parse("a" * 1100)
    with pytest.raises(NamingError, match=r"digest 'sha256:xyz' of 'r.io/a' is not algorithm:hex"):
        ImageRef.parse("r.io/a@sha256:xyz")
    ref = ImageRef.parse("r.io:5000/a/b:v1@sha256:" + "a" * 64)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == ("r.io:5000", "a/b", "v1", "sha256:" + "a" * 64)
    assert ImageRef.parse("index.docker.io/nginx").locator == "docker.io/library/nginx"
    assert ref.with_tag("v2") == ImageRef("r.io:5000", "a/b", "v2")


@pytest.mark.parametrize("text, message", [
    ("", "image reference '' is invalid: empty or contains whitespace"),
    (" r.io/a", "image reference ' r.io/a' is invalid: empty or contains whitespace"),
    ("r.io/a b", "image reference 'r.io/a b' is invalid: empty or contains whitespace"),
    ("r.io:x/a", "image reference 'r.io:x/a' is invalid: port 'x' of 'r.io:x' is not a number from 1 to 65535"),
    ("r.io/A", "image reference 'r.io/A' is invalid: path component 'A' of 'r.io/A' must be lowercase letters "
               "and digits, separated by single '.', '_', '__' or runs of '-'"),
])
def test_image_ref_messages(text, message):
    from acrtasks.errors import NamingError

    with pytest.raises(NamingError) as err:
        ImageRef.parse(text)
    assert str(err.value) == message


@pytest.mark.parametrize("text, expected", [
    ("r.io/a/b:v1", ("r.io", "a/b", "v1", None)),
    ("r.io:5000/a", ("r.io:5000", "a", None, None)),
    ("localhost/a:1", ("localhost", "a", "1", None)),
    ("a/b", ("docker.io", "a/b", None, None)),
    ("a:1@sha256:" + "b" * 64, ("docker.io", "library/a", "1", "sha256:" + "b" * 64)),
])
def test_image_ref_parse_parts(text, expected):
    ref = ImageRef.parse(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == expected
    assert ImageRef.parse(str(ref)) == ref


def test_refs_up_to_1020_characters_are_parsed_not_refused_early():
    from acrtasks.errors import NamingError

    host = "registry-vpc." + "h" * 200 + ".example.com"  # the host does not count toward the 255
    text = f"{host}/" + "a" * 255 + ":" + "t" * 128 + "@sha512:" + "c" * 128
    assert ImageRef.parse(text).tag == "t" * 128
    with pytest.raises(NamingError, match=r"is 1015 characters long \(without the host\); the limit is 255"):
        ImageRef.parse("r.io/" + "a" * 1015)  # not refused early: parsed, then the name is too long
    with pytest.raises(NamingError, match=r"\.\.\. is 1021 characters long; a name is at most 255"):
        ImageRef.parse("r.io/" + "a" * 1016)  # refused before any pattern runs
    with pytest.raises(NamingError, match=r"256 characters long \(without the host\); the limit is 255"):
        ImageRef.parse("r.io/" + "a" * 256)


def test_component_and_version_errors_name_what_is_wrong():
    from acrtasks.errors import NamingError

    naming = naming_for("shop", "shop-", "r.io/ns", "nested")
    with pytest.raises(NamingError, match=r"^component 'Api' is invalid"):
        naming.component_ref("Api", "v1")
    with pytest.raises(NamingError, match=r"^version 'v 1' is invalid"):
        naming.component_ref("api", "v 1")
    with pytest.raises(NamingError, match=r"^version 'v 1' is invalid"):
        naming.local_ref("api", "v 1")
    with pytest.raises(NamingError, match=r"^project name 'Shop' is invalid"):
        naming_for("Shop", "shop-", "", "auto")
    with pytest.raises(NamingError, match=r"flat layout \(ACR\) takes one namespace level, got 'a/b'; use r\.io/a$"):
        naming_for("shop", "shop-", "r.io/a/b", "flat")


def test_dependency_unpinned_and_digest_rules():
    from acrtasks.errors import NamingError

    naming = naming_for("shop", "shop-", "r.io/ns", "nested")
    dep = naming.dependency("redis")
    assert dep.unpinned and str(dep.source) == "docker.io/library/redis:latest" and str(dep.target) == "r.io/ns/redis:latest"
    pinned = naming.dependency("redis:7@sha256:" + "d" * 64)
    assert pinned.source.digest == "sha256:" + "d" * 64 and pinned.target.digest is None
    with pytest.raises(NamingError) as err:
        naming.dependency("redis@sha256:" + "d" * 64)
    assert str(err.value).endswith("has a digest but no tag; write it as name:tag@digest so the mirrored image "
                                   "gets a tag")


@pytest.mark.parametrize("sources, hint", [
    (["bitnami/redis:7", "redis:7"], '{ "docker.io/library/redis" = "redis-2" }'),
    (["redis:7", "bitnami/redis:7"], '{ "docker.io/bitnami/redis" = "bitnami-redis" }'),
    (["quay.io/a/b/redis:7", "redis:7"], '{ "docker.io/library/redis" = "redis-2" }'),
    (["redis:7", "quay.io/a/b/redis:7"], '{ "quay.io/a/b/redis" = "b-redis" }'),
    (["redis:7", "quay.io/redis:7"], '{ "quay.io/redis" = "redis-2" }'),
])
def test_collision_hints(sources, hint):
    from acrtasks.errors import NamingError

    with pytest.raises(NamingError) as err:
        naming_for("shop", "shop-", "r.io/ns", "nested").dependencies(sources)
    assert f"set [deps] rename = {hint} in build.toml" in str(err.value)


def test_the_build_cache_lives_beside_the_images_one_per_component():
    from acrtasks.naming import naming_for

    flat = naming_for("ai-infra-matrix", "ai-infra-", "xxx.aliyuncs.com/ns")
    assert str(flat.cache_ref("backend")) == "xxx.aliyuncs.com/ns/ai-infra-matrix:backend-buildcache"
    nested = naming_for("ai-infra-matrix", "ai-infra-", "harbor.example.com/proj")
    assert str(nested.cache_ref("backend")) == "harbor.example.com/proj/ai-infra-backend:buildcache"
    assert naming_for("ai-infra-matrix", "ai-infra-", "").cache_ref("backend") is None


def test_a_registry_host_longer_than_dns_allows_is_one_line():
    """A 300-character host was a traceback (the certs.d lookup: File name too long); now the registry is refused
    where it is given, while a ref read from a file keeps the reference grammar's freedom."""
    from acrtasks.errors import NamingError

    for host in ("a" * 300 + ".com", "b" * 64 + ".example.com", ".".join(["c" * 60] * 5)):
        with pytest.raises(NamingError, match="a host name has at most 253, each dot-separated label at most 63"):
            parse_registry(f"{host}/ns")
    assert parse_registry("c" * 63 + ".example.com").host == "c" * 63 + ".example.com"
    assert parse_registry("[::1]:5000/ns").host == "[::1]:5000"


def test_a_host_too_long_for_the_file_system_has_no_certs_d(tmp_path, monkeypatch):
    from acrtasks.registry.client import ssl_context_for

    monkeypatch.setenv("ACRTASKS_CERTS_D", str(tmp_path))
    assert ssl_context_for("x" * 300) is ssl_context_for("r.io")  # the shared context, no OSError


def test_a_version_with_white_space_around_it_says_so():
    from acrtasks.errors import NamingError
    from acrtasks.naming import check_tag

    with pytest.raises(NamingError, match=r"'v0.0.3.3 ' has trailing white space \(did you mean 'v0.0.3.3'\?\)"):
        check_tag("v0.0.3.3 ", "version")
    with pytest.raises(NamingError, match=r"has leading and trailing white space"):
        check_tag("\tv1\n", "version")
    with pytest.raises(NamingError, match=r"not allowed"):  # white space inside is another mistake
        check_tag("v1 2", "version")
