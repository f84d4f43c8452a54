"""The command-line surface: every task documented, test-naming's outputs, the `acr` program."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from acrtasks import ns
from support import REPO



def test_every_task_and_flag_has_help():
    for name in ns.task_names:
        task = ns[name]
        assert task.__doc__ and task.__doc__.strip().count("\n") == 0, f"{name}: one-line docstring"
        for arg in task.get_arguments():
            assert arg.help, f"{name} --{arg.name} has no help"


def run_inv(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_list_shows_the_tasks():
    result = run_inv("--list")
    assert result.returncode == 0
    for name in ("build", "push", "push-deps", "login", "logout", "test-naming"):
        assert f"  {name} " in result.stdout


def test_test_naming_table_and_preview():
    result = run_inv("test-naming", "--registry", "xxx.aliyuncs.com/ai-infra-matrix", "--version", "v0.0.3.3")
    assert result.returncode == 0, result.stderr
    assert "8/8 from the seed" in result.stdout
    assert "xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:backend-init-v0.0.3.3" in result.stdout
    assert "xxx.aliyuncs.com/ai-infra-matrix/postgres:15-alpine" in result.stdout


def test_test_naming_json():
    result = run_inv("test-naming", "--json", "--registry", "localhost:5000", "--version", "v1")
    data = json.loads(result.stdout)
    assert all(case["passed"] for case in data["cases"])
    assert data["preview"]["layout"] == "nested"
    backend = next(c for c in data["preview"]["components"] if c["component"] == "backend")
    assert "localhost:5000/ai-infra-backend:v1" in backend["refs"]


def test_bad_registry_flag_is_one_line_exit_2():
    result = run_inv("test-naming", "--registry", "HTTPS://X.io/NS")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "did you mean 'x.io/ns'" in result.stderr and "Traceback" not in result.stderr


def test_config_error_names_file_key_and_line(tmp_path):
    shutil.copy(REPO / "tasks.py", tmp_path)
    shutil.copy(REPO / "invoke.yaml", tmp_path)
    (tmp_path / "build.toml").write_text('[project]\nname = "x"\n\n[build]\nparalell = 3\n')
    result = run_inv("test-naming", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{tmp_path / 'build.toml'}:5: build.paralell: unknown key" in result.stderr


def test_acr_program_needs_no_tasks_py(tmp_path):
    acr = Path(sys.executable).parent / "acr"
    if not acr.exists():
        acr = shutil.which("acr")
    assert acr, "the acr console script is installed with the package"
    shutil.copy(REPO / "build.toml", tmp_path)
    for name in ("backend", "frontend", "nginx", "jupyterhub"):
        (tmp_path / "examples" / "ai-infra-matrix" / name).mkdir(parents=True)
    result = subprocess.run([str(acr), "test-naming", "--version", "v2"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ai-infra-backend:v2" in result.stdout
    chained = subprocess.run([str(acr), "--dry", "build", "push", "--registry", "r.io/ns", "--version", "v3"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert chained.returncode == 2  # the contexts hold no Dockerfile: a preflight error, nothing attempted
    assert "no Dockerfile at" in chained.stderr


@pytest.mark.parametrize("args", [["build", "--parallel", "x"], ["push", "--registry", "a//b"],
                                  ["build", "--component", "nope"], ["build", "--mode", "qa"]])
def test_user_errors_exit_2_without_traceback(args):
    result = run_inv("--dry", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_wheel_holds_every_module(tmp_path):
    """A regular (non-editable) install must carry the subpackages too."""
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("acrtasks-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(REPO)) for p in (REPO / "acrtasks").rglob("*.py")}
    assert expected <= names, sorted(expected - names)


def _acr():
    acr = Path(sys.executable).parent / "acr"
    return str(acr) if acr.exists() else shutil.which("acr")


@pytest.mark.parametrize("args, words", [
    (["build", "--bogus"], "unknown flag or task '--bogus'"),
    (["--bogus"], "unknown flag or task '--bogus'"),
    (["no-such-task"], "unknown flag or task 'no-such-task'"),
    (["build", "--parallel"], "--parallel needs a value"),
    (["build", "--metadata-file"], "--metadata-file needs a value"),
    (["build", "--parallel", "2", "--parallel", "3"], "--parallel (build) given twice"),
    (["build", "--jobs", "2", "--jobs=3", "push"], "--jobs (build) given twice"),
    (["build", "push", "--version", "v1", "--version", "v2"], "--version (push) given twice"),
])
def test_acr_parse_errors_are_exit_2_and_one_line(args, words):
    result = subprocess.run([_acr(), *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], "one line"
    assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr


def test_acr_repeatable_flags_may_repeat():
    result = subprocess.run([_acr(), "--dry", "build", "--component", "backend", "--component", "nginx",
                             "--version", "v1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_dry_run_ends_with_one_line_saying_nothing_was_done():
    result = run_inv("--dry", "build", "push", "--registry", "r.example.com/ns", "--version", "v1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "dry run: nothing was built, tagged, pushed or copied"
    assert lines.count(lines[-1]) == 1, "one footer for the whole chain"


def test_a_chain_without_the_chain_executor_is_warned_about_once(tmp_path):
    shutil.copy(REPO / "tasks.py", tmp_path)  # no invoke.yaml: Invoke's own executor
    shutil.copy(REPO / "build.toml", tmp_path)
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    result = run_inv("--dry", "build", "push", "--registry", "r.example.com/ns", "--version", "v1", cwd=tmp_path)
    warnings = [line for line in result.stderr.splitlines() if "flags are not shared" in line]
    assert len(warnings) == 1 and "executor_class: acrtasks.ChainExecutor" in warnings[0]
    single = run_inv("--dry", "build", "--version", "v1", cwd=tmp_path)
    assert "flags are not shared" not in single.stderr
    chained = run_inv("--dry", "build", "push", "--registry", "r.example.com/ns", "--version", "v1")
    assert "flags are not shared" not in chained.stderr  # the repository's invoke.yaml selects it


def test_piped_tables_print_every_ref_whole():
    registry = "registry-vpc.cn-hangzhou.aliyuncs.com/a-rather-long-namespace-for-production"
    result = run_inv("test-naming", "--registry", registry, "--version", "v0.0.3.3-rc.1+build".replace("+", "-"),
                     "--tag-latest")
    assert result.returncode == 0, result.stderr
    ref = f"{registry}/ai-infra-matrix:backend-init-v0.0.3.3-rc.1-build"
    assert len(ref) > 100
    row = next(line for line in result.stdout.splitlines() if ref in line)
    assert row.split()[-1] == "alias", row
    assert f"{registry}/ai-infra-matrix:backend-init-latest" in result.stdout
    assert "naming cases: " in result.stdout and "--cases shows them" in result.stdout


def test_test_naming_cases_table_on_request():
    result = run_inv("test-naming", "--cases", "--version", "v1")
    assert result.returncode == 0
    assert "xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:backend-v0.0.3.3" in result.stdout
    assert "--cases shows them" not in result.stdout


def test_every_short_flag_is_a_letter_or_digit():
    """Invoke gives a flag whose letters are all taken the short flag ``-`` (shown ``--``, the remainder
    marker); acrtasks' Task gives it none instead (``--no-preflight`` on build and push-deps)."""
    from acrtasks import ns

    for name in ns.task_names:
        for argument in ns[name].get_arguments():
            shorts = [flag for flag in argument.names if len(flag) == 1]
            assert all(flag.isalnum() for flag in shorts), (name, argument.names)
    build = {flag for argument in ns["build"].get_arguments() for flag in argument.names}
    assert "no-preflight" in build and "-" not in build


@pytest.mark.parametrize("args", [("test-naming", "--cases"), ("--list",)])
def test_a_closed_pipe_ends_quietly(args):
    """`inv test-naming --cases | head -1`: the reader goes away; no BrokenPipeError traceback, git's exit code."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 141, result.stderr


def test_the_flag_table_in_tasks_md_names_every_flag_of_every_task():
    """docs/tasks.md's table omitted set-images' --registry, --version, --layout, --metadata-file and --json."""
    import re

    from acrtasks.tasks import ns

    table: dict = {}
    for line in (REPO / "docs" / "tasks.md").read_text().splitlines():
        if not line.startswith("| `--"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        for flag in re.findall(r"--[a-z][a-z-]*", cells[0]):
            table.setdefault(flag, set()).update(task.strip() for task in cells[1].split(","))
    missing = [f"{name} --{arg.name.rstrip('_').replace('_', '-')}" for name in sorted(ns.task_names)
               for arg in ns[name].own_arguments() if not arg.positional
               and name not in table.get(f"--{arg.name.rstrip('_').replace('_', '-')}", set())]
    assert missing == []
