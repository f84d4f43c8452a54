"""The engine's classic builder, through docker-py: what acrtasks always did, and the fallback."""

import re
from typing import Callable

from . import BuildOutput

_STEP = re.compile(r"Step (\d+)/(\d+) ")


class ClassicBackend:
    name = "classic"
    pushes = False
    builder = ""  # the engine's own builder
    attests = False  # the classic builder makes no attestations

    def __init__(self, engine_factory: Callable):
        self._engine_factory = engine_factory

    def describe(self) -> str:
        return "classic (the engine's builder, through docker-py)"

    def build(self, step, no_cache: bool, on_line: Callable[[str], None],
              on_step: Callable[[int, int], None]) -> BuildOutput:
        def line(text: str) -> None:
            match = _STEP.match(text)
            if match:
                on_step(int(match.group(1)) - 1, int(match.group(2)))
            on_line(text)

        return BuildOutput(self._engine_factory().build(step, no_cache, line))

    def pushes_step(self, step) -> bool:
        return False

    def check_engine(self) -> None:
        self._engine_factory()  # connects and pings: EngineUnavailable when it does not answer

    def cancel_all(self) -> None:
        """Nothing to do: the engine abandons the build when our connection to it closes at exit."""
