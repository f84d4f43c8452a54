"""Chained flags: one flag reaches every task of the command line that has it."""

from invoke import Collection, Program, task

from acrtasks import ChainExecutor

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
