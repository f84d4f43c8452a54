"""``acr``: the task collection as a standalone program, for directories without a tasks.py.

Unlike ``inv`` (whose parser is Invoke's, exit code 1 and its own wording),
``acr`` treats a command-line mistake like any other bad input: exit 2 and one
``error:`` line naming the flag, including a flag given twice, which Invoke's
parser would report as a stray value.
"""

import re
from typing import Dict, List, Optional, Tuple

from invoke import Exit, Program
from invoke.exceptions import ParseError

from . import __version__
from .tasks import ns
from .tasks.chain import ChainExecutor

USAGE_EXIT = 2

_MESSAGES = (
    (re.compile(r"No idea what '(.+)' is!"),
     lambda token: f"unknown flag or task {token!r} (see `acr --list` and `acr --help TASK`)"),
    (re.compile(r"Flag <Argument: ([\w-]+)[^>]*> needed value and was not given one!"),
     lambda name: f"--{name.replace('_', '-')} needs a value"),
)


def explain_parse_error(message: str) -> str:
    """Invoke's parser message as one ``error:`` line in our words."""
    for pattern, explain in _MESSAGES:
        match = pattern.search(message)
        if match:
            return "error: " + explain(match.group(1))
    return f"error: {message.rstrip('!')}"


def repeated_flags(argv: List[str], flags_of: Dict[str, Dict[str, Tuple[str, bool]]]) -> Optional[str]:
    """The first flag given twice to one task, as ``--flag (task)``; None when there is none.

    ``flags_of`` maps a task name to its flag spellings (``--name``, ``-n``), each with the argument it sets
    and whether it takes a value. Repeatable flags (lists) are left out of ``flags_of`` by the caller.
    """
    task, seen, expecting_value = None, set(), False
    for token in argv:
        if expecting_value:
            expecting_value = False
            continue
        if token in flags_of and not token.startswith("-"):
            task, seen = token, set()
            continue
        if task is None or not token.startswith("-"):
            continue
        name = token.split("=", 1)[0]
        if name not in flags_of[task]:
            continue
        canonical, takes_value = flags_of[task][name]
        if canonical in seen:
            return f"{name} ({task})"
        seen.add(canonical)
        expecting_value = takes_value and "=" not in token
    return None


def _flags_of(collection) -> Dict[str, Dict[str, Tuple[str, bool]]]:
    flags: Dict[str, Dict[str, Tuple[str, bool]]] = {}
    for name in collection.task_names:
        task_flags: Dict[str, Tuple[str, bool]] = {}
        for arg in collection[name].get_arguments():
            if arg.kind is list:
                continue
            for spelling in arg.names:
                flag = ("--" if len(spelling) > 1 else "-") + spelling.replace("_", "-")
                task_flags[flag] = (arg.name, arg.kind is not bool)
        flags[name] = task_flags
    return flags


class AcrProgram(Program):
    """Invoke's Program with usage errors turned into exit 2 and one line."""

    def parse_core(self, argv):
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(explain_parse_error(str(exc)), code=USAGE_EXIT) from None

    def parse_tasks(self):
        repeated = repeated_flags(list(self.core.unparsed), _flags_of(self.collection))
        if repeated:
            raise Exit(f"error: {repeated} given twice; give it once", code=USAGE_EXIT)
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(explain_parse_error(str(exc)), code=USAGE_EXIT) from None


program = AcrProgram(namespace=ns, version=__version__, name="acrtasks", binary="acr",
                     executor_class=ChainExecutor)


def main() -> None:
    program.run()
