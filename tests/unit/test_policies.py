"""The small policies every task leans on: retries, timeouts, hints, host parsing, ref kinds, chain warnings.

Messages are asserted word for word where the README promises them: they are behaviour.
"""

import pytest

from acrtasks.errors import (
    AcrError,
    BuildFailed,
    Interrupted,
    Kind,
    PushFailed,
    RegistryError,
    UsageError,
    is_acr_host,
    login_hint,
)
from acrtasks.naming import ImageRef, check_tag, naming_for, parse_registry, split_host
from acrtasks.tasks import chain
from acrtasks.util import retry

# -- retry -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attempt, backoff, retry_after, expected", [
    (1, 1.0, None, 1.0), (2, 1.0, None, 2.0), (3, 1.0, None, 4.0), (3, 0.5, None, 2.0),
    (1, 1.0, "5", 5.0), (2, 4.0, "5", 8.0), (1, 1.0, "120", 30.0), (1, 1.0, "soon", 1.0), (1, 0.0, None, 0.0),
])
def test_delay_doubles_and_honours_retry_after_up_to_30_s(attempt, backoff, retry_after, expected):
    assert retry.delay(attempt, backoff, retry_after) == expected


@pytest.mark.parametrize("name, read", [("ACRTASKS_RETRY_BACKOFF", retry.backoff_seconds),
                                        ("ACRTASKS_REGISTRY_TIMEOUT", retry.registry_timeout)])
def test_seconds_from_the_environment(monkeypatch, name, read):
    monkeypatch.delenv(name, raising=False)
    assert read() == {"ACRTASKS_RETRY_BACKOFF": 1.0, "ACRTASKS_REGISTRY_TIMEOUT": 30.0}[name]
    monkeypatch.setenv(name, "2.5")
    assert read() == 2.5
    monkeypatch.setenv(name, "86400")
    assert read() == 86400
    for bad in ("-1", "soon", "86401", "nan"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(UsageError) as err:
            read()
        minimum = "0" if name == "ACRTASKS_RETRY_BACKOFF" else "0.1"
        assert str(err.value) == f"{name}={bad!r} is not a number of seconds from {minimum} to 86400"


def test_backoff_may_be_zero_but_the_timeout_may_not(monkeypatch):
    monkeypatch.setenv("ACRTASKS_RETRY_BACKOFF", "0")
    assert retry.backoff_seconds() == 0
    monkeypatch.setenv("ACRTASKS_REGISTRY_TIMEOUT", "0")
    with pytest.raises(UsageError):
        retry.registry_timeout()
    monkeypatch.setenv("ACRTASKS_REGISTRY_TIMEOUT", "0.1")
    assert retry.registry_timeout() == 0.1


def test_with_retries_retries_transient_errors_only(monkeypatch):
    sleeps, calls, retries = [], [], []
    monkeypatch.setattr(retry.time, "sleep", sleeps.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RegistryError("reset", Kind.TRANSIENT)
        return "done"

    assert retry.with_retries(flaky, 3, 0.5, lambda *args: retries.append(args[0])) == "done"
    assert len(calls) == 3 and sleeps == [0.5, 1.0] and retries == [1, 2]

    calls.clear()
    with pytest.raises(RegistryError):
        retry.with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(RegistryError("no", Kind.AUTH)), 3, 0)
    assert len(calls) == 1, "an auth failure is never retried"

    calls.clear()
    with pytest.raises(RegistryError, match="always"):
        retry.with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(RegistryError("always",
                                                                                           Kind.TRANSIENT)), 3, 0)
    assert len(calls) == 3, "three tries, then the error"


def test_with_retries_reads_the_backoff_from_the_environment(monkeypatch):
    sleeps = []
    monkeypatch.setattr(retry.time, "sleep", sleeps.append)
    monkeypatch.setenv("ACRTASKS_RETRY_BACKOFF", "0.25")
    calls = []

    def twice():
        calls.append(1)
        if len(calls) == 1:
            raise PushFailed("eof", Kind.TRANSIENT)
        return 1

    retry.with_retries(twice)
    assert sleeps == [0.25]


# -- errors and hints --------------------------------------------------------------------------------------

def test_error_kinds_and_exit_codes():
    assert AcrError("x").exit_code == 1 and UsageError("x").exit_code == 2 and Interrupted().exit_code == 130
    assert UsageError("x").kind == Kind.BAD_INPUT and str(Kind.AUTH) == "auth" and Kind.AUTH == "auth"
    registry = RegistryError("denied", "auth", 403, host="r.io")
    assert (str(registry), registry.kind, registry.status, registry.host) == ("denied", Kind.AUTH, 403, "r.io")
    push = PushFailed("eof", "transient", "r.io")
    assert (str(push), push.kind, push.host) == ("eof", Kind.TRANSIENT, "r.io")
    build = BuildFailed("boom", "Step 2/3", ["a", "b"])
    assert (str(build), build.step, build.tail) == ("boom", "Step 2/3", ["a", "b"])
    interrupted = Interrupted("1 of 2", [7])
    assert (str(interrupted), interrupted.finished) == ("1 of 2", [7])


@pytest.mark.parametrize("host, acr", [
    ("registry.cn-hangzhou.aliyuncs.com", True), ("crpi-x.cn-beijing.personal.cr.aliyuncs.com:443", True),
    ("REGISTRY.CN-HANGZHOU.ALIYUNCS.COM", True), ("harbor.example.com", False), ("aliyuncs.com.evil.io", False),
    ("127.0.0.1:5000", False),
])
def test_is_acr_host(host, acr):
    assert is_acr_host(host) is acr


def test_login_hint_off_acr():
    assert login_hint("harbor.example.com", "denied: requested access to the resource is denied") == \
        "run `inv login --registry harbor.example.com`"


def test_login_hint_names_acrs_two_causes_of_denied():
    hint = login_hint("registry.cn-hangzhou.aliyuncs.com", "denied: requested access to the resource is denied")
    assert hint == ("on ACR this means either the namespace does not exist (namespaces are not created on push: "
                    "create it in the ACR console) or the account may not push there (run `inv login --registry "
                    "registry.cn-hangzhou.aliyuncs.com` with one that may)")


def test_login_hint_for_an_expired_acr_token():
    hint = login_hint("registry.cn-hangzhou.aliyuncs.com", "unauthorized: authentication required")
    assert hint == ("run `inv login --registry registry.cn-hangzhou.aliyuncs.com`; an ACR temporary token lasts "
                    "one hour, so fetch a fresh one and pass it with --password-stdin")


# -- chain ---------------------------------------------------------------------------------------------------

def test_unshared_chain_warning():
    names = ["build", "push", "push-deps"]
    assert chain.unshared_chain_warning(["inv", "build"], names, chained=False) == ""
    assert chain.unshared_chain_warning(["inv", "build", "--component", "x"], names, chained=False) == ""
    warning = chain.unshared_chain_warning(["inv", "build", "push"], names, chained=False)
    assert warning.startswith("several acrtasks tasks in one call, but flags are not shared")
    assert "executor_class: acrtasks.ChainExecutor" in warning
    assert chain.unshared_chain_warning(["build", "inv", "push"], names, chained=False) == ""  # argv[0]: the program
    assert chain.unshared_chain_warning(["inv", "build", "push"], names, chained=True) == ""


# -- hosts, tags and refs --------------------------------------------------------------------------------------

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
    assert local.registry_refs("api", "v1", ["worker"]) == []


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
