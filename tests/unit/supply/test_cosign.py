"""The cosign boundary without cosign: a stand-in program records what it was given (argv, environment, the docker
config it was handed) and answers as cosign 1.x, 2.x, 3.x or a broken build would."""

import json
import os
import stat
from pathlib import Path

import pytest

from acrtasks.errors import OperationFailed, PreflightError
from acrtasks.naming import ImageRef
from acrtasks.supply import cosign
from acrtasks.supply.signing import key_password, signature_tag, to_sign

FAKE = r"""#!/bin/sh
# A stand-in cosign: `version` and `sign --help` as $FAKE_VERSION/$FAKE_FLAGS say; anything else records itself.
case "$1" in
  version) printf 'GitVersion:    %s\n' "$FAKE_VERSION"; exit 0;;
esac
if [ "$2" = "--help" ]; then for f in $FAKE_FLAGS; do printf '    --%s=false:\n\tsomething\n\n' "$f"; done; exit 0; fi
printf '%s\n' "$@" > "$FAKE_OUT/argv"
env > "$FAKE_OUT/env"
cp "$DOCKER_CONFIG/config.json" "$FAKE_OUT/config.json"
stat -c '%a' "$DOCKER_CONFIG" "$DOCKER_CONFIG/config.json" > "$FAKE_OUT/modes"
if [ -n "$FAKE_FAIL" ]; then echo "Generating ephemeral keys..." >&2; echo "Error: $FAKE_FAIL" >&2; exit 1; fi
exit 0
"""
PASSWORD = "pw-in-env-only-93f1"
IMAGE = ImageRef("reg.example:5000", "shop/demo", digest="sha256:" + "ab" * 32)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    path = tmp_path / "cosign"
    path.write_text(FAKE)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("FAKE_OUT", str(out))
    monkeypatch.setenv("FAKE_VERSION", "v3.1.1")
    monkeypatch.setenv("FAKE_FLAGS", "key use-signing-config upload")
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    return path, out


@pytest.mark.parametrize("version, flags, problem", [
    ("v1.13.6", "key tlog-upload", "needs 2.0 or newer"),
    ("devel", "key upload", "does not look like cosign 2.0 or newer"),
])
def test_an_old_or_unknown_cosign_is_refused_before_anything(fake, monkeypatch, version, flags, problem):
    monkeypatch.setenv("FAKE_VERSION", version)
    monkeypatch.setenv("FAKE_FLAGS", flags)
    with pytest.raises(PreflightError, match=problem):
        cosign.find(str(fake[0]))


def test_a_missing_cosign_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PreflightError, match="cosign is not on PATH: install it"):
        cosign.find()
    with pytest.raises(PreflightError, match="is not an executable file"):
        cosign.find(str(tmp_path / "nowhere" / "cosign"))


@pytest.mark.parametrize("version, flags, expected", [
    ("v3.1.1", "key use-signing-config", ["--new-bundle-format=false", "--use-signing-config=false"]),
    ("devel", "key use-signing-config", ["--new-bundle-format=false", "--use-signing-config=false"]),  # Debian's
    ("v2.5.0", "key tlog-upload new-bundle-format", []),  # 2.x writes the tag form by default
])
def test_the_tag_form_is_asked_of_each_generation_and_nothing_secret_is_in_argv(fake, monkeypatch, version, flags,
                                                                                 expected):
    monkeypatch.setenv("FAKE_VERSION", version)
    monkeypatch.setenv("FAKE_FLAGS", flags)
    tool = cosign.find(str(fake[0]))
    registry = cosign.Registry("reg.example:5000", "alice", "registry-pw-77", insecure=True)
    tool.sign(IMAGE, "/keys/cosign.key", PASSWORD, registry, tlog=False)
    out = fake[1]
    argv = (out / "argv").read_text().split("\n")
    assert argv[:4] == ["sign", "--key", "/keys/cosign.key", "--yes"]
    assert [a for a in argv if a.startswith(("--new-bundle", "--use-signing"))] == expected
    assert "--tlog-upload=false" in argv and str(IMAGE) in argv
    assert "--allow-http-registry" in argv and "--allow-insecure-registry" in argv  # docker's loopback rule
    everything = (out / "argv").read_text()
    assert PASSWORD not in everything and "registry-pw-77" not in everything
    env = (out / "env").read_text()
    assert f"COSIGN_PASSWORD={PASSWORD}" in env
    config = json.loads((out / "config.json").read_text())
    assert list(config["auths"]) == ["reg.example:5000"]  # that host's credentials, no other
    assert (out / "modes").read_text().split() == ["700", "600"]
    dirs = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith("DOCKER_CONFIG=")]
    assert dirs and not Path(dirs[0]).exists()  # removed after the run


def test_verify_gets_no_password_and_a_failure_is_cosigns_own_line(fake, monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)  # the user's shell has it: verify must not pass it on
    monkeypatch.setenv("FAKE_FAIL", "no matching signatures: invalid signature when validating ASN.1 encoded signature")
    tool = cosign.find(str(fake[0]))
    with pytest.raises(cosign.CosignFailed) as caught:
        tool.verify(IMAGE, "/keys/cosign.pub", cosign.Registry("reg.example:5000"), tlog=False)
    assert caught.value.reason == "no matching signatures: invalid signature when validating ASN.1 encoded signature"
    assert str(caught.value).startswith(f"cosign verify of {IMAGE} failed: no matching signatures")
    env = (fake[1] / "env").read_text()
    assert "COSIGN_PASSWORD" not in env
    assert "--insecure-ignore-tlog=true" in (fake[1] / "argv").read_text()
    assert json.loads((fake[1] / "config.json").read_text()) == {"auths": {}}  # no credentials: none written


def test_a_registry_with_a_ca_of_its_own_is_trusted_by_it_not_skipped(fake, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    tool = cosign.find(str(fake[0]))
    tool.verify(IMAGE, "k.pub", cosign.Registry("127.0.0.1:5000", insecure=True, ca_files=(ca,)), tlog=True)
    argv = (fake[1] / "argv").read_text().split("\n")
    assert "--registry-cacert" in argv and "--allow-insecure-registry" not in argv
    assert "--insecure-ignore-tlog=true" not in argv  # [verify] tlog: the log is checked


def test_the_password_comes_from_the_environment_or_a_prompt_never_a_flag():
    assert key_password("/k", {"COSIGN_PASSWORD": ""}) == ""  # a key without one
    assert key_password("/k", {"COSIGN_PASSWORD": "x"}) == "x"
    assert key_password("/k", {}, ask=lambda prompt: "typed") == "typed"
    assert key_password("awskms://alias/release", {}) is None  # the KMS holds it
    if not os.isatty(0):
        with pytest.raises(PreflightError, match="set COSIGN_PASSWORD"):
            key_password("/k", {})


def test_a_release_is_signed_once_per_repository_and_digest_with_its_dependencies_if_asked():
    from acrtasks.release.record import ComponentEntry, DependencyEntry, Record

    api, web, dep = ("sha256:" + c * 64 for c in "123")
    record = Record("demo", "v1", "", {
        "api": ComponentEntry({"r.example/ns/demo:api-v1": api, "r.example/ns/demo:api-latest": api,
                               "r.example/ns/demo:api-init-v1": api, "mirror.example/ns/demo:api-v1": api}, api, {},
                              (), (), False),
        "web": ComponentEntry({"r.example/ns/demo:web-v1": web}, web, {}, (), (), False)},
        (DependencyEntry("docker.io/library/redis:7", "r.example/deps/redis:7", dep),))
    assert [str(image) for _, image in to_sign(record)] == [
        f"r.example/ns/demo@{api}", f"mirror.example/ns/demo@{api}", f"r.example/ns/demo@{web}"]
    assert [what for what, _ in to_sign(record, ["web"], deps=True)] == ["web", "docker.io/library/redis:7"]
    assert signature_tag(api) == "sha256-" + "1" * 64 + ".sig"


@pytest.mark.parametrize("output, said", [
    ("Error: signing [x]: getting remote image: GET https://r/v2/: UNAUTHORIZED\nmain.go:74: error during command "
     "execution: signing [x]: getting remote image", "signing [x]: getting remote image: GET https://r/v2/: "
                                                      "UNAUTHORIZED"),  # its own Error: line, the fuller one
    ("WARNING: something\nError: no signatures found\n", "no signatures found"),
    ("just a line\n", "just a line"),
    ("", "no output"),
])
def test_cosigns_reason_is_its_own_error_line(output, said):
    assert cosign.reason(output) == said


def test_sign_takes_only_an_image_by_digest(fake):
    tool = cosign.find(str(fake[0]))
    with pytest.raises(ValueError):
        tool.sign(ImageRef("r.example", "ns/demo", "v1"), "k", "", cosign.Registry("r.example"), tlog=False)
    assert not (fake[1] / "argv").exists()
    assert OperationFailed  # the type callers catch
