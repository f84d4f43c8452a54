"""Chained flags: in one ``inv`` call, a flag given to one task reaches the others.

``inv push push-deps --version v1`` gives ``push`` the version too, and
``inv build push --component backend --registry R`` builds and pushes only
backend, the way the bash script's flags applied to its whole run. A value a
task got explicitly always wins; when several tasks got different values, the
first in the chain is shared.

Selected through ``tasks.executor_class`` in the project's ``invoke.yaml``;
``Collection.configure`` cannot do it, because Invoke's Program reads that
setting before it merges collection configuration.
"""

from invoke import Executor
from invoke.parser import ParserContext


def share_flags(contexts):
    """Give every argument that got no value the first explicit value of a same-named argument."""
    given = {}
    for context in contexts:
        for arg in context.args.values():
            if arg.got_value and arg.name not in given:
                given[arg.name] = arg.value
    for context in contexts:
        for arg in context.args.values():
            if not arg.got_value and arg.name in given:
                value = given[arg.name]
                if arg.kind is list:
                    arg._value = list(value)  # set_value would append the list as one item
                else:
                    arg.set_value(value, cast=False)


#: Set once a ChainExecutor runs, so tasks can tell a chain that shares flags from one that does not.
ACTIVE = False


class ChainExecutor(Executor):
    """An Invoke Executor that shares flag values across the tasks of one command line."""

    def execute(self, *tasks):
        global ACTIVE
        ACTIVE = True
        share_flags([t for t in tasks if isinstance(t, ParserContext)])
        return super().execute(*tasks)


def unshared_chain_warning(argv, task_names) -> str:
    """The warning for ``inv build push ...`` run without ChainExecutor, or "" when there is nothing to say."""
    if ACTIVE or sum(1 for token in argv[1:] if token in task_names) < 2:
        return ""
    return ("several acrtasks tasks in one call, but flags are not shared between them (acrtasks.ChainExecutor is "
            "not active): add an invoke.yaml beside tasks.py with `tasks: {executor_class: "
            "acrtasks.ChainExecutor}`, or use `acr`")
