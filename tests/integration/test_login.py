"""login / logout against real registries: plain htpasswd, TLS with a test CA, a credential helper."""

import base64
import json
import os
import shutil
import stat
import subprocess

import pytest
from harness import HarnessError, Registry, make_tls


USER, PASSWORD = "alice", "wonder-land-42"

FAKE_HELPER = """#!/bin/sh
# docker-credential-fake: records how it was called; keeps secrets in $FAKE_HELPER_DIR/store.json
set -e
dir="$FAKE_HELPER_DIR"
echo "$0 $*" >> "$dir/argv.log"
payload=$(cat)
printf '%s\\n' "$payload" >> "$dir/stdin.log"
case "$1" in
  store) printf '%s' "$payload" > "$dir/store.json" ;;
  get)
    if [ -s "$dir/store.json" ]; then cat "$dir/store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "$dir/store.json" ;;
  list) echo "{}" ;;
esac
"""


@pytest.fixture
def docker_config(tmp_path):
    directory = tmp_path / "dockercfg"
    directory.mkdir()
    return directory


def login(project, registry_host, config_dir, password=PASSWORD, user=USER, env=None, extra=()):
    return project.inv("login", "--registry", f"{registry_host}/ns", "--username", user, "--password-stdin",
                       *extra, input=password + "\n", env={"DOCKER_CONFIG": str(config_dir), **(env or {})})


@pytest.fixture
def plain_project(project):
    project.write()
    return project


def test_login_htpasswd_stores_in_config_json_0600(plain_project, auth_registry, docker_config):
    (docker_config / "config.json").write_text(json.dumps({
        "auths": {"other.example.com": {"auth": "b3RoZXI6c2VjcmV0"}},
        "HttpHeaders": {"User-Agent": "kept"},
    }))
    result = login(plain_project, auth_registry.host, docker_config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == \
        f"Login succeeded: {auth_registry.host} as {USER} (stored in {docker_config / 'config.json'})"
    assert "stored unencrypted" in result.stderr
    path = docker_config / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"][auth_registry.host]["auth"]).decode() == f"{USER}:{PASSWORD}"
    assert data["auths"]["other.example.com"] == {"auth": "b3RoZXI6c2VjcmV0"}  # other content preserved
    assert data["HttpHeaders"] == {"User-Agent": "kept"}
    assert not [p for p in docker_config.iterdir() if p.name != "config.json"]  # no temp file left behind
    assert PASSWORD not in result.stdout + result.stderr

    result = plain_project.inv("logout", "--registry", auth_registry.host, env={"DOCKER_CONFIG": str(docker_config)})
    assert result.returncode == 0, result.stderr
    assert auth_registry.host not in json.loads(path.read_text())["auths"]
    assert "other.example.com" in json.loads(path.read_text())["auths"]


def test_wrong_password_leaves_config_untouched(plain_project, auth_registry, docker_config):
    original = json.dumps({"auths": {}, "credsStore": ""}, indent=1)
    (docker_config / "config.json").write_text(original)
    result = login(plain_project, auth_registry.host, docker_config, password="not-the-password")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: login to {auth_registry.host} as {USER} refused")
    assert (docker_config / "config.json").read_text() == original
    assert "not-the-password" not in result.stdout + result.stderr


def test_no_password_source_is_a_usage_error(plain_project, auth_registry, docker_config):
    result = plain_project.inv("login", "--registry", auth_registry.host, "--username", USER,
                               env={"DOCKER_CONFIG": str(docker_config)}, input="")
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr and "no password flag" in result.stderr
    assert not (docker_config / "config.json").exists()


def test_password_from_environment_and_username_from_build_toml(project, auth_registry, docker_config):
    project.write(f'[registry]\nurl = "{auth_registry.host}/ns"\nusername = "{USER}"\n')
    result = project.inv("login", env={"DOCKER_CONFIG": str(docker_config), "ACRTASKS_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert f"as {USER}" in result.stdout


def test_login_over_tls_trusting_a_certs_d_directory(plain_project, tmp_path, docker_config):
    tls = make_tls(tmp_path / "tls")
    try:
        registry = Registry({USER: PASSWORD}, tls=tls).start()
    except HarnessError as exc:
        pytest.fail(str(exc))
    try:
        untrusted = login(plain_project, registry.host, docker_config, env={"ACRTASKS_CERTS_D": str(tmp_path / "none")})
        assert untrusted.returncode == 1
        assert "certificate verify failed" in untrusted.stderr or "TLS" in untrusted.stderr
        assert not (docker_config / "config.json").exists()

        certs_d = tmp_path / "certs.d"
        (certs_d / registry.host).mkdir(parents=True)
        shutil.copy(tls["ca"], certs_d / registry.host / "ca.crt")
        result = login(plain_project, registry.host, docker_config, env={"ACRTASKS_CERTS_D": str(certs_d)})
        assert result.returncode == 0, result.stderr
        assert f"Login succeeded: {registry.host}" in result.stdout
    finally:
        registry.remove()


def test_credential_helper_gets_the_secret_on_stdin_only(plain_project, auth_registry, docker_config, tmp_path):
    bin_dir, helper_dir = tmp_path / "bin", tmp_path / "helper"
    bin_dir.mkdir()
    helper_dir.mkdir()
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(FAKE_HELPER)
    helper.chmod(0o755)
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_HELPER_DIR": str(helper_dir)}

    result = login(plain_project, auth_registry.host, docker_config, env=env)
    assert result.returncode == 0, result.stderr
    assert "stored in credential helper docker-credential-fake" in result.stdout
    assert "unencrypted" not in result.stderr
    stored = json.loads((helper_dir / "store.json").read_text())
    assert stored == {"ServerURL": auth_registry.host, "Username": USER, "Secret": PASSWORD}
    assert PASSWORD not in (helper_dir / "argv.log").read_text()
    assert PASSWORD not in (docker_config / "config.json").read_text()
    assert PASSWORD not in result.stdout + result.stderr

    result = plain_project.inv("logout", "--registry", auth_registry.host,
                               env={"DOCKER_CONFIG": str(docker_config), **env})
    assert result.returncode == 0, result.stderr
    assert "docker-credential-fake" in result.stdout
    assert not (helper_dir / "store.json").exists()


def test_after_login_docker_cli_and_inv_push_both_push(project, engine, auth_registry, docker_config):
    from support import QUICK

    project.component("web", QUICK)
    result = login(project, auth_registry.host, docker_config)
    assert result.returncode == 0, result.stderr

    env = {"DOCKER_CONFIG": str(docker_config)}
    result = project.inv("build", "push", "--registry", f"{auth_registry.host}/ns", "--version", "v-login", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert auth_registry.tags("ns/demo-web") == ["v-login"]

    docker = shutil.which("docker")
    assert docker, "the docker CLI is part of docker.io"
    cli_env = {**os.environ, "DOCKER_CONFIG": str(docker_config), "DOCKER_HOST": engine.docker_host}
    target = f"{auth_registry.host}/ns/cli-push:v1"
    subprocess.run([docker, "tag", "demo-web:v-login", target], env=cli_env, check=True, capture_output=True)
    pushed = subprocess.run([docker, "push", target], env=cli_env, capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    assert auth_registry.tags("ns/cli-push") == ["v1"]


def test_login_against_a_token_auth_registry(plain_project, tmp_path, docker_config):
    from harness import TokenServer

    tokens = TokenServer({USER: PASSWORD}, tmp_path / "tokens").start()
    registry = Registry(token=tokens).start()
    try:
        wrong = login(plain_project, registry.host, docker_config, password="nope")
        assert wrong.returncode == 1
        assert "refused" in wrong.stderr and not (docker_config / "config.json").exists()
        result = login(plain_project, registry.host, docker_config)
        assert result.returncode == 0, result.stderr
        assert f"Login succeeded: {registry.host} as {USER}" in result.stdout
        assert tokens.requests_seen, "the token service was asked"
    finally:
        registry.remove()
        tokens.stop()
