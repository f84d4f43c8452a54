"""``acr``: the task collection as a standalone program, for directories without a tasks.py."""

from invoke import Program

from . import __version__
from .chain import ChainExecutor
from .tasks import ns

program = Program(namespace=ns, version=__version__, name="acrtasks", binary="acr",
                  executor_class=ChainExecutor)


def main() -> None:
    program.run()
