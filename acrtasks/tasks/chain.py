"""Chained flags: in one ``inv`` call, a flag given to one task reaches the others.

``inv push push-deps --version v1`` gives ``push`` the version too, and
``inv build push --component backend --registry R`` builds and pushes only
backend, the way the bash script's flags applied to its whole run. A value a
task got explicitly always wins; when several tasks got different values, the
first in the chain is shared.

Selected through ``tasks.executor_class`` in the project's ``invoke.yaml``;
``Collection.configure`` cannot do it, because Invoke's Program reads that
setting before it merges collection configuration. Only Invoke's public API
is used: each parsed task becomes the ``(name, kwargs)`` pair that
``Executor.execute`` documents, its kwargs completed from the other tasks.
"""

import gc
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from invoke import Executor
from invoke.parser import ParserContext

from .run import CONFIG_KEY, Run


def shared_calls(contexts: Sequence[ParserContext]) -> List[Tuple[str, Dict[str, Any]]]:
    """Each parsed task as ``(name, kwargs)``, an argument that got no value taking the first explicit value of a
    same-named argument of another task of the chain."""
    given: Dict[str, Any] = {}
    for context in contexts:
        for arg in context.args.values():
            if arg.got_value and arg.name not in given:
                given[arg.name] = arg.value
    calls = []
    for context in contexts:
        kwargs = context.as_kwargs
        for arg in context.args.values():
            if not arg.got_value and arg.name in given:
                value = given[arg.name]
                kwargs[arg.name] = list(value) if isinstance(value, list) else value
        calls.append((context.name, kwargs))
    return calls


class ChainExecutor(Executor):
    """An Invoke Executor that shares flag values across the tasks of one command line, and hands them one Run."""

    def execute(self, *tasks):
        # What is loaded by now (Invoke, the tasks, their config) lives until the process exits: frozen, the
        # collector leaves it alone in every full collection and at exit (a promote that only mounts: 30 ms of
        # its 280; bench/promote.py).
        gc.freeze()
        loaded_from = self.collection.loaded_from  # tasks.py's directory; None for `acr` (the current one)
        names = tuple(t.name for t in tasks if isinstance(t, ParserContext))
        self.config[CONFIG_KEY] = Run(project_dir=Path(loaded_from) if loaded_from else None, chained=True,
                                      chain=names)
        shared = iter(shared_calls([t for t in tasks if isinstance(t, ParserContext)]))
        return super().execute(*(next(shared) if isinstance(t, ParserContext) else t for t in tasks))


def unshared_chain_warning(argv, task_names, chained: bool) -> str:
    """The warning for ``inv build push ...`` run without ChainExecutor, or "" when there is nothing to say."""
    if chained or sum(1 for token in argv[1:] if token in task_names) < 2:
        return ""
    return ("several acrtasks tasks in one call, but flags are not shared between them (acrtasks.ChainExecutor is "
            "not active): add an invoke.yaml beside tasks.py with `tasks: {executor_class: "
            "acrtasks.ChainExecutor}`, or use `acr`")
