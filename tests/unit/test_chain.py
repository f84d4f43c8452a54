"""Chained flags: one flag reaches every task of the command line that has it."""

from invoke import Collection, Program, task

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
