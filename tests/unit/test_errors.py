"""Error kinds, exit codes and the login hints (messages are behaviour: asserted word for word)."""

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
