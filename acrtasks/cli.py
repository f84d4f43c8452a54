"""``acr``: the task collection as a standalone program, for directories without a tasks.py.

Unlike ``inv`` (whose parser is Invoke's, exit code 1 and its own wording),
``acr`` treats a command-line mistake like any other bad input: exit 2 and one
``error:`` line naming the flag, including a flag given twice, which Invoke's
parser would report as a stray value. It also takes a chain's flags before its
first task (``acr --registry R build push``), where ``inv`` reads them as its own.
"""

import re
from typing import Dict, List, Optional, Tuple

from invoke import Exit, Program
from invoke.exceptions import ParseError
from invoke.parser.context import to_flag

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


def _flags_of(contexts) -> Dict[str, Dict[str, Tuple[str, bool]]]:
    """Each task's flag spellings (its own and those it borrows: tasks.chain), repeatable ones left out."""
    flags: Dict[str, Dict[str, Tuple[str, bool]]] = {}
    for context in contexts:
        flags[context.name] = {flag: (arg.name, arg.kind is not bool) for flag, arg in _spellings(context)
                               if arg.kind is not list}
    return flags


def _spellings(context):
    """Every ``--flag``/``-f`` of a parser context with its argument (its Lexicon lists only main names)."""
    return [(to_flag(name), arg) for arg in context.args.values() for name in arg.names]


def flags_before_first_task(argv: List[str], contexts) -> List[str]:
    """``acr --registry R build push``: flags before the first task moved after it, where the chain takes
    them (Invoke's parser reads flags before a task name as its own)."""
    names = {name for context in contexts for name in (context.name, *context.aliases)}
    spellings = dict(spelling for context in contexts for spelling in _spellings(context))
    index = 0
    while index < len(argv) and argv[index] not in names:
        token = argv[index]
        arg = spellings.get(token.split("=", 1)[0]) if token.startswith("-") else None
        index += 2 if arg is not None and arg.takes_value and "=" not in token else 1
    if index == 0 or index >= len(argv):
        return argv
    return [argv[index], *argv[:index], *argv[index + 1:]]


class AcrProgram(Program):
    """Invoke's Program with usage errors turned into exit 2 and one line."""

    def parse_core(self, argv):
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(explain_parse_error(str(exc)), code=USAGE_EXIT) from None

    def parse_tasks(self):
        contexts = self.collection.to_contexts()
        self.core.unparsed[:] = flags_before_first_task(list(self.core.unparsed), contexts)
        repeated = repeated_flags(list(self.core.unparsed), _flags_of(contexts))
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
