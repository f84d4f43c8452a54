"""Chained flags: one flag reaches every task of the command line that has it."""

import pytest
from invoke import Collection, Exit, Program, task

from acrtasks import ChainExecutor
from acrtasks.tasks import chain

seen = {}


@task(iterable=["component"])
def first(c, component=None, version=None, registry=None, tag_latest=False):
    seen["first"] = dict(component=component, version=version, registry=registry, tag_latest=tag_latest)


@task(iterable=["component"])
def second(c, component=None, version=None, tag_latest=False, only_here=None):
    seen["second"] = dict(component=component, version=version, tag_latest=tag_latest, only_here=only_here)


def run(*argv):
    seen.clear()
    program = Program(namespace=Collection(first, second), executor_class=ChainExecutor)
    program.run(["inv", *argv], exit=False)
    return seen


def test_flag_after_last_task_reaches_the_first():
    result = run("first", "second", "--version", "v0.0.3.3")
    assert result["first"]["version"] == "v0.0.3.3"
    assert result["second"]["version"] == "v0.0.3.3"


def test_lists_and_booleans_are_shared():
    result = run("first", "second", "--component", "backend", "--component", "nginx", "--tag-latest")
    assert result["first"]["component"] == ["backend", "nginx"]
    assert result["second"]["component"] == ["backend", "nginx"]
    assert result["first"]["tag_latest"] is True


def test_explicit_per_task_value_wins():
    result = run("first", "--version", "v1", "second", "--version", "v2")
    assert result["first"]["version"] == "v1" and result["second"]["version"] == "v2"


def test_flags_a_task_lacks_are_left_alone():
    result = run("first", "--registry", "r.io/ns", "second", "--only-here", "x")
    assert result["first"]["registry"] == "r.io/ns"
    assert result["second"]["only_here"] == "x"


def test_single_task_unchanged():
    result = run("second")
    assert result["second"] == dict(component=[], version=None, tag_latest=False, only_here=None)


# -- one Run per chain -----------------------------------------------------------------------------------------

def test_every_task_of_a_chain_gets_one_run(tmp_path, monkeypatch):
    """The Run lives in Invoke's config, which Invoke hands every task of the chain (and copies between them)."""
    from acrtasks.tasks import run as runs

    (tmp_path / "build.toml").write_text('[project]\nname = "shop"\n[components.api]\ncontext = "."\n')
    (tmp_path / "tasks.py").write_text("")
    reads = []
    real_load = runs.load_config
    monkeypatch.setattr(runs, "load_config", lambda path: reads.append(path) or real_load(path))
    got = []

    @task
    def one(c):
        run = runs.run_of(c)
        got.append(run)
        run.settings(version="v1")
        run.pushed_by_build.add("r.io/x:1")

    @task
    def two(c):
        run = runs.run_of(c)
        got.append(run)
        run.settings(version="v1")

    for executor in (ChainExecutor, None):
        got.clear()
        reads.clear()
        program = Program(namespace=Collection(one, two), executor_class=executor)
        monkeypatch.chdir(tmp_path)
        program.run(["inv", "one", "two"], exit=False)
        assert len(got) == 2 and got[0] is got[1]  # the same object, though Invoke copies config values
        assert got[1].pushed_by_build == {"r.io/x:1"}
        assert reads == [tmp_path / "build.toml"]  # read once for the whole chain
        assert got[0].chained is (executor is ChainExecutor)
        assert got[0]._engine is None  # no task asked for the engine: never connected


def test_the_run_finds_build_toml_where_invoke_found_tasks_py(tmp_path, monkeypatch):
    """Without ChainExecutor, tasks.py is found as Invoke's loader finds it: upwards from the search root."""
    from acrtasks.tasks import run as runs

    (tmp_path / "tasks.py").write_text("")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    found = []

    @task
    def where(c):
        found.append(runs.run_of(c).project_dir)

    Program(namespace=Collection(where)).run(["inv", "where"], exit=False)
    assert found == [tmp_path]


def test_unshared_chain_warning():
    names = ["build", "push", "push-deps"]
    assert chain.unshared_chain_warning(["inv", "build"], names, chained=False) == ""
    assert chain.unshared_chain_warning(["inv", "build", "--component", "x"], names, chained=False) == ""
    warning = chain.unshared_chain_warning(["inv", "build", "push"], names, chained=False)
    assert warning.startswith("several acrtasks tasks in one call, but flags are not shared")
    assert "executor_class: acrtasks.ChainExecutor" in warning
    assert chain.unshared_chain_warning(["build", "inv", "push"], names, chained=False) == ""  # argv[0]: the program
    assert chain.unshared_chain_warning(["inv", "build", "push"], names, chained=True) == ""


# -- flags anywhere in the chain (acrtasks' own tasks borrow each other's flags) ----------------------------------

def _acr_collection():
    """Two acrtasks-style tasks sharing flags as acrtasks.tasks.ns does: only ``builds`` has --progress, only
    ``writes`` has --pin; both have --version."""
    from acrtasks.tasks.chain import SharedFlags
    from acrtasks.tasks.common import task as acr_task

    @acr_task(iterable=["component"], help={"component": "c", "version": "v", "progress": "p"})
    def builds(c, component=None, version=None, progress="auto"):
        seen["builds"] = dict(component=component, version=version, progress=progress)

    @acr_task(help={"version": "v", "pin": "p"})
    def writes(c, version=None, pin=None):
        seen["writes"] = dict(version=version, pin=pin)

    collection = Collection(builds, writes)
    flags = SharedFlags(collection)
    for each in collection.tasks.values():
        each.shared_flags = flags
    return collection


def run_acr(*argv, executor=ChainExecutor):
    seen.clear()
    program = Program(namespace=_acr_collection(), executor_class=executor)
    program.run(["inv", *argv], exit=False)
    return seen


def test_a_flag_after_a_task_that_lacks_it_reaches_the_task_that_has_it():
    result = run_acr("builds", "writes", "--component", "backend", "--progress", "quiet", "--version", "v1")
    assert result["builds"] == dict(component=["backend"], version="v1", progress="quiet")
    assert result["writes"] == dict(version="v1", pin=None)
    result = run_acr("builds", "--pin", "digest", "writes")  # and before a later task that has it
    assert result["writes"]["pin"] == "digest"


def test_a_flag_no_task_of_the_chain_takes_is_one_error_line(capsys):
    result = run_acr("writes", "--progress", "quiet")
    assert result == {}  # nothing ran
    err = capsys.readouterr().err
    assert err.strip() == ("error: --progress is a flag of none of the tasks asked (writes); see "
                           "`inv --help TASK`")


def test_a_plain_executor_refuses_a_borrowed_flag_instead_of_dropping_it(capsys):
    from invoke import Executor

    result = run_acr("writes", "--component", "x", executor=Executor)
    assert "writes" not in result
    assert "--component is not a flag of writes" in capsys.readouterr().err
    assert run_acr("builds", "writes", "--pin", "tag", executor=Executor)["writes"]["pin"] == "tag"


def test_help_lists_only_a_tasks_own_flags(monkeypatch, capsys):
    import sys as system

    monkeypatch.setattr(system, "argv", ["inv", "--help", "writes"])
    Program(namespace=_acr_collection(), executor_class=ChainExecutor).run(["inv", "--help", "writes"], exit=False)
    out = capsys.readouterr().out
    assert "--pin" in out and "--version" in out
    assert "--component" not in out and "--progress" not in out


def test_a_chain_gives_a_list_to_a_task_taking_one_value_only_when_it_is_one():
    from acrtasks.tasks.chain import _fit
    from invoke.parser import Argument

    one = Argument(names=["platform"])
    assert _fit(["linux/arm64"], one, "import") == "linux/arm64"
    assert _fit("linux/arm64", Argument(names=["platform"], kind=list), "build") == ["linux/arm64"]
    with pytest.raises(Exit) as raised:
        _fit(["linux/amd64", "linux/arm64"], one, "import")
    assert "import takes one --platform, the chain gave 2" in raised.value.message


def test_every_short_flag_has_one_meaning_in_every_task():
    from acrtasks import ns
    from acrtasks.tasks.common import SHORT_FLAGS

    meanings = {}
    for name in ns.task_names:
        for arg in ns[name].own_arguments():
            for short in (n for n in arg.names if len(n) == 1):
                meanings.setdefault(short, set()).add(arg.name)
                assert SHORT_FLAGS[arg.name] == short
    assert all(len(names) == 1 for names in meanings.values()), meanings
    assert meanings["m"] == {"mode"} and meanings["c"] == {"component"}


def test_acr_takes_flags_before_the_first_task():
    from acrtasks import ns
    from acrtasks.cli import flags_before_first_task

    contexts = ns.to_contexts()
    assert flags_before_first_task(["--registry", "r.io", "--tag-latest", "build", "push"], contexts) == \
        ["build", "--registry", "r.io", "--tag-latest", "push"]
    # a flag's value that happens to be a task name is the value, not the task
    assert flags_before_first_task(["--component", "push", "build"], contexts) == ["build", "--component", "push"]
    assert flags_before_first_task(["build", "--registry", "r"], contexts) == ["build", "--registry", "r"]
