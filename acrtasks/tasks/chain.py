"""Chained flags: in one ``inv`` call, a flag given anywhere reaches every task of the chain that takes it.

``inv build push push-deps set-images --version V --registry R --component backend``
builds, pushes and writes only backend, though the flags follow ``set-images``,
which takes no ``--component``: the way the bash script's flags applied to its
whole run, and make's variables to every target. Two pieces do it, on
Invoke's public API:

- Each acrtasks task also declares the flags of the collection's other tasks
  (:class:`Borrowed` arguments, from :class:`SharedFlags`), so Invoke's parser
  takes a flag after any task. ``inv --help TASK`` lists only the task's own:
  when help is asked for, nothing is borrowed.
- :class:`ChainExecutor` hands each value to the tasks that take the flag
  (:func:`shared_calls`): a value a task got explicitly wins; when several
  tasks got different values, the first in the chain is shared; a flag no task
  of the chain takes is one error line.

Why on the tasks and not on the parser contexts: ``inv`` rebuilds the
collection of tasks.py as a plain ``Collection`` (``Collection.from_module``),
so only the Task objects are ours by the time Invoke parses. ChainExecutor is
selected through ``tasks.executor_class`` in the project's ``invoke.yaml``;
``Collection.configure`` cannot do it, because Invoke's Program reads that
setting before it merges collection configuration. Without it, a borrowed flag
given a value is refused with that fix rather than silently dropped.
"""

import copy
import gc
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from invoke import Executor, Exit
from invoke.parser import Argument, ParserContext
from invoke.parser.context import to_flag

from .run import CONFIG_KEY, Run

USAGE_EXIT = 2  # a command-line mistake, as every other bad input: nothing was attempted


class Borrowed(Argument):
    """Another task's flag, accepted after this one and handed on by ChainExecutor."""

    def __deepcopy__(self, memo) -> "Borrowed":
        # Invoke's parser deep-copies every context it may enter; a borrowed flag holds nothing deeper than its
        # value, so a fresh copy is enough and costs a tenth (bench/cli_latency.py)
        twin = copy.copy(self)
        twin.raw_value = twin._value = [] if self.kind is list else None
        return twin


class SharedFlags:
    """Every flag of a collection's tasks, for each task to borrow those it lacks (computed once)."""

    #: The one made for acrtasks' collection (``acrtasks.tasks``), for what needs its task names.
    made: "Optional[SharedFlags]" = None

    def __init__(self, collection):
        self.collection = collection
        SharedFlags.made = self
        self._union: Optional[Dict[str, Argument]] = None
        self._named: Optional[set] = None

    def union(self) -> Dict[str, Argument]:
        """One definition per flag name, a list where any task takes a list (it then takes every value)."""
        if self._union is None:
            union: Dict[str, Argument] = {}
            for name in self.collection.task_names:
                for arg in self.collection[name].own_arguments():
                    if not arg.positional and (arg.name not in union or arg.kind is list):
                        union[arg.name] = arg
            self._union = union
        return self._union

    def borrowed_by(self, own: Sequence[Argument], task: str = "") -> List[Argument]:
        """Fresh copies of the flags ``own`` lacks, by their long names; none for a task the command line does not
        name (its context is never entered)."""
        named = self.named()
        if named and task and task not in named:
            return []
        names = {arg.name for arg in own}
        spellings = {spelling for arg in own for spelling in arg.names}
        borrowed = []
        for name, arg in self.union().items():
            # long forms only: a short one after a task that lacks the flag stays Invoke's own (-f config, -d ...)
            free = [spelling for spelling in arg.names if spelling not in spellings and len(spelling) > 1]
            if name not in names and free:
                borrowed.append(Borrowed(names=free, kind=arg.kind, default=arg.default, help=arg.help,
                                         optional=arg.optional, incrementable=arg.incrementable,
                                         attr_name=arg.attr_name))
        return borrowed

    def named(self) -> set:
        """The collection's tasks the command line names (all aliases); empty when it names none (a program
        that runs Invoke with an argv of its own: then every task borrows)."""
        if self._named is None:
            known = {name for primary, aliases in self.collection.task_names.items() for name in (primary, *aliases)}
            self._named = known & set(sys.argv[1:])
        return self._named


def help_asked(argv: Sequence[str] = ()) -> bool:
    """``inv --help TASK`` (or ``TASK --help``): the parse only prints help, so each task shows its own flags.
    Read from the command line because Invoke hands tasks no other sign of it."""
    tokens = argv or sys.argv[1:]
    body = tokens[:tokens.index("--")] if "--" in tokens else tokens
    return "--help" in body or "-h" in body


def borrowed_kwargs_refused(task_name: str, kwargs: Dict[str, Any], own: Sequence[str],
                            defaults: Dict[str, Any]) -> Dict[str, Any]:
    """A task called by a plain Executor (not ChainExecutor) with borrowed flags: those given a value would be
    lost, so they are refused with the fix; the rest are dropped."""
    given = [name for name, value in kwargs.items() if name not in own and value != defaults.get(name)]
    if given:
        raise Exit(f"error: --{given[0].rstrip('_').replace('_', '-')} is not a flag of {task_name}; flags reach the "
                   "other tasks of a chain only with acrtasks.ChainExecutor (invoke.yaml beside tasks.py: `tasks: "
                   "{executor_class: acrtasks.ChainExecutor}`), or use `acr`", code=USAGE_EXIT)
    return {name: value for name, value in kwargs.items() if name in own}


def _flag(arg: Argument) -> str:
    return to_flag(arg.names[0]) if arg.names else f"--{arg.name}"


def _own(context: ParserContext) -> List[Argument]:
    return [arg for arg in context.args.values() if not isinstance(arg, Borrowed)]


def shared_calls(contexts: Sequence[ParserContext]) -> List[Tuple[str, Dict[str, Any]]]:
    """Each parsed task as ``(name, kwargs)`` of its own arguments; one that got no value takes the first value
    given to a same-named flag anywhere in the chain (after another task, or borrowed)."""
    given: Dict[str, Argument] = {}
    for context in contexts:
        for arg in context.args.values():
            if arg.got_value and arg.name not in given:
                given[arg.name] = arg
    taken = {arg.name for context in contexts for arg in _own(context)}
    stray = [arg for name, arg in given.items() if name not in taken]
    if stray:
        asked = ", ".join(dict.fromkeys(context.name for context in contexts))
        raise Exit(f"error: {_flag(stray[0])} is a flag of none of the tasks asked ({asked}); see `inv --help TASK`",
                   code=USAGE_EXIT)
    calls = []
    for context in contexts:
        calls.append((context.name, {
            arg.name: arg.value if arg.got_value or arg.name not in given else
            _fit(given[arg.name].value, arg, context.name) for arg in _own(context)}))
    return calls


def _fit(value: Any, arg: Argument, task: str) -> Any:
    """A shared value in the shape ``arg`` takes: a list for a repeatable flag, one value otherwise."""
    if arg.kind is list:
        return list(value) if isinstance(value, list) else [value]
    if isinstance(value, list):
        if len(value) != 1:
            raise Exit(f"error: {task} takes one {_flag(arg)}, the chain gave {len(value)} ({', '.join(value)})",
                       code=USAGE_EXIT)
        return value[0]
    return value


class ChainExecutor(Executor):
    """An Invoke Executor that shares flag values across the tasks of one command line, and hands them one Run."""

    def execute(self, *tasks):
        # What is loaded by now (Invoke, the tasks, their config) lives until the process exits: frozen, the
        # collector leaves it alone in every full collection and at exit (measured: docs/testing.md).
        gc.freeze()
        loaded_from = self.collection.loaded_from  # tasks.py's directory; None for `acr` (the current one)
        parsed = [t for t in tasks if isinstance(t, ParserContext)]
        shared = iter(shared_calls(parsed))  # before the Run: a stray flag is refused before anything starts
        self.config[CONFIG_KEY] = Run(project_dir=Path(loaded_from) if loaded_from else None, chained=True,
                                      chain=tuple(t.name for t in parsed))
        return super().execute(*(next(shared) if isinstance(t, ParserContext) else t for t in tasks))


def unshared_chain_warning(argv, task_names, chained: bool) -> str:
    """The warning for ``inv build push ...`` run without ChainExecutor, or "" when there is nothing to say."""
    if chained or sum(1 for token in argv[1:] if token in task_names) < 2:
        return ""
    return ("several acrtasks tasks in one call, but flags are not shared between them (acrtasks.ChainExecutor is "
            "not active): add an invoke.yaml beside tasks.py with `tasks: {executor_class: "
            "acrtasks.ChainExecutor}`, or use `acr`")
