"""Files, programs and the local system misbehaving, fed to the real program.

Each case: the documented exit code (2 bad input, nothing attempted; 1 a failed
operation), one ``error:`` line, no traceback, and no side effect, read back
from the engine, the registry or the files themselves.
"""

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from support import unique_version
from harness import BASE_IMAGE, free_port


QUICK = f"FROM {BASE_IMAGE}\nRUN echo hi > /hi\n"


def one_error_line(result, code):
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(1 for line in lines if line.startswith("error:")) == 1, result.stderr
    return lines[-1]


# -- build.toml -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b'[project]\nname = "caf\xe9"\n', "not UTF-8"),
    (b"[project]\nname = 'x'\n" + b"#" * (1 << 20) + b"\n", "larger than 1 MiB"),
    (b'project = ["a", "b"]\n', "must be a table"),
    (b'[project]\nname = "x"\n[deps]\nimages = "postgres:15"\n', "must be a list of strings"),
    (b'[project]\nname = "x"\n[components]\napi = 5\n', "must be a table"),
])
def test_bad_build_toml_is_exit_2(project, content, words):
    (project.root / "build.toml").write_bytes(content)
    line = one_error_line(project.inv("test-naming"), 2)
    assert words in line


def test_repository_names_over_255_characters_are_refused_up_front(project, engine, api):
    long_name = "p" * 253  # "ns/" + 253 = 256 characters of path (the host does not count)
    project.component("api", QUICK)
    text = (project.root / "build.toml").read_text().replace('name = "demo"', f'name = "{long_name}"')
    (project.root / "build.toml").write_text(text)
    version = unique_version()
    for args in (["--dry", "build"], ["build"], ["test-naming"]):
        line = one_error_line(project.inv(*args, "--registry", "xxx.aliyuncs.com/ns", "--version", version), 2)
        assert "255" in line, line
    assert api.images(name=f"demo-api:{version}") == []


# -- compose files and .env -------------------------------------------------------------------------------

BOMB = "\n".join(
    [f'{c}: &{c} [{", ".join([f"*{p}"] * 9)}]' for p, c in zip("abcdefgh", "bcdefghi")]
)


@pytest.mark.parametrize("compose, words", [
    ("- just\n- a list\n", "must be a mapping"),
    ("services:\n  - db\n", "must be a mapping"),
    ("services:\n  db:\n    image: 15\n", "must be a string"),
    ("services: {db: {image: 'postgres:15'}\n", "not valid YAML"),
    ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + BOMB + "\nservices: {x: {image: *i}}\n",
     "expand to more than"),
])
def test_bad_compose_files_are_exit_2_in_bounded_time(project, registry, compose, words):
    (project.root / "docker-compose.yml").write_text(compose)
    project.write('[deps]\ncompose_files = ["docker-compose.yml"]\n')
    started = time.monotonic()
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m")
    assert time.monotonic() - started < 10
    line = one_error_line(result, 2)
    assert words in line and "docker-compose.yml" in line
    assert len(result.stdout) + len(result.stderr) < 2000, "output must stay bounded"
    assert registry.repositories() == []


def test_dotenv_not_utf8_is_exit_2(project, registry):
    (project.root / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:${PG:-15}\n")
    (project.root / ".env").write_bytes(b"PG=16\xff\n")
    project.write('[deps]\ncompose_files = ["docker-compose.yml"]\n')
    line = one_error_line(project.inv("test-naming"), 2)
    assert ".env" in line and "UTF-8" in line


# -- docker's config.json and credential helpers ----------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "must be a mapping"),
    (b'{"auths": ["a"]}', "'auths' must be a mapping"),
    (b'{"credsStore": 5}', "'credsStore' must be a string"),
    (b"{not json", "not valid JSON"),
])
def test_bad_docker_config_is_exit_2_before_any_copy(project, registry, tmp_path, content, words):
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "config.json").write_bytes(content)
    project.write(f'[deps]\nimages = ["{registry.host}/library/app:1"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", env={"DOCKER_CONFIG": str(config_dir)})
    line = one_error_line(result, 2)
    assert words in line and "config.json" in line


def helper_project(project, registry, tmp_path, name: str, body: str, executable: bool = True) -> dict:
    """A project mirroring one image with ``docker-credential-<name>`` (a shell script of ``body``, reading its
    stdin first) as the credsStore; the environment that puts it on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\n{body}\n")
    helper.chmod(0o755 if executable else 0o644)
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"credsStore": name}))
    project.write(f'[deps]\nimages = ["{registry.host}/library/app:1"]\n')
    return {"DOCKER_CONFIG": str(config_dir), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize("script, words", [
    ("echo '<html>not json</html>'", "not JSON"),
    ("echo '[1]'", "without string Username/Secret"),
    ("echo 'helper exploded' >&2; exit 3", "failed (exit 3): helper exploded"),
])
def test_misbehaving_credential_helper_is_one_line(project, registry, tmp_path, script, words):
    env = helper_project(project, registry, tmp_path, "hostile", script)
    line = one_error_line(project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", env=env), 1)
    assert "docker-credential-hostile" in line and words in line
    assert registry.repositories() == []


def test_a_credential_helper_that_cannot_run_is_one_line(project, registry, tmp_path):
    env = helper_project(project, registry, tmp_path, "noexec", "echo '{}'", executable=False)
    line = one_error_line(project.inv("push-deps", "--deps-namespace", f"{registry.host}/m", env=env), 1)
    assert "cannot run docker-credential-noexec" in line, line
    assert registry.repositories() == []


def test_a_credential_helper_writing_without_end_is_stopped_with_memory_bounded(project, registry, tmp_path):
    """A helper that writes 300 MB (a loop gone wrong) is stopped past 1 MiB: one line, and inv's memory stays
    where a bare run's is (reading it all first, as subprocess.run does, peaked above 300 MB)."""
    from harness import run_measured

    env = {**os.environ, **helper_project(project, registry, tmp_path, "endless", "head -c 300000000 /dev/zero")}
    done, stderr, peak_mib = run_measured([sys.executable, "-m", "invoke", "push-deps", "--deps-namespace",
                                           f"{registry.host}/m"], cwd=project.root, env=env)
    done.stderr = stderr
    line = one_error_line(done, 1)
    assert "docker-credential-endless get wrote more than 1 MiB" in line, line
    assert peak_mib < 150, peak_mib
    assert registry.repositories() == []


# -- the metadata file and the local system ---------------------------------------------------------------

@pytest.fixture
def mounts(tmp_path):
    """Small tmpfs mounts (root only), unmounted again afterwards."""
    made = []

    def mount(name, options):
        point = tmp_path / name
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "acrtasks-test", str(point)], check=True)
        made.append(point)
        return point

    yield mount
    for point in made:
        subprocess.run(["umount", str(point)], check=False)


def test_uncreatable_metadata_file_is_refused_before_any_build(project, engine, api, mounts, tmp_path):
    project.component("api", QUICK)
    read_only = mounts("ro", "ro,size=64k")
    not_json = tmp_path / "meta.json"
    not_json.write_text("{half")
    version = unique_version()
    for path, words in ((read_only / "meta.json", "read-only"), ("/proc/version/meta.json", "not a directory"),
                        (tmp_path, "is a directory"), (not_json, "not valid JSON")):
        result = project.inv("build", "--version", version, "--metadata-file", str(path))
        line = one_error_line(result, 2)
        assert words.lower() in line.lower(), line
    assert api.images(name=f"demo-api:{version}") == [], "nothing may be built when the metadata file fails"


def test_full_disk_is_one_line_and_leaves_no_temp_file(project, engine, api, mounts):
    project.component("api", QUICK)
    full = mounts("full", "size=16k")
    with open(full / "filler", "wb") as out:
        try:
            out.write(b"x" * (64 << 10))
        except OSError:
            pass
    version = unique_version()
    result = project.inv("build", "--version", version, "--metadata-file", str(full / "meta.json"))
    line = one_error_line(result, 1)
    assert "disk is full" in line
    assert sorted(p.name for p in full.iterdir()) == ["filler"], "a temp file was left behind"
    api.remove_image(f"demo-api:{version}")


# -- concurrent writers -----------------------------------------------------------------------------------

def test_ten_concurrent_logins_lose_nothing(project, tmp_path):
    """Ten registries without auth (login succeeds, as docker's does), ten logins at once into one config.json."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Open(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), Open) for _ in range(10)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    config_dir = tmp_path / "cfg"
    project.write()
    try:
        env = {**os.environ, "DOCKER_CONFIG": str(config_dir), "ACRTASKS_PASSWORD": "pw"}
        children = [subprocess.Popen([sys.executable, "-m", "invoke", "login", "--registry",
                                      f"127.0.0.1:{server.server_address[1]}", "--username", f"user{n}"],
                                     cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for n, server in enumerate(servers)]
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    auths = json.loads((config_dir / "config.json").read_text())["auths"]
    assert sorted(auths) == sorted(f"127.0.0.1:{s.server_address[1]}" for s in servers)
    assert stat.S_IMODE((config_dir / "config.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in config_dir.iterdir()) == ["config.json"]
