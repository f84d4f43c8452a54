"""One Run per ``inv`` command line: what the tasks of a chain share, computed or opened once.

``inv build push push-deps set-images`` reads build.toml once, resolves the
settings once per distinct set of flags, connects to the engine at most once
(and only if a task needs it), remembers what the build pushed itself, and
says each warning once. Invoke hands every task of a chain the same Config
object, so the Run lives there (:func:`run_of`); there are no module globals,
so two chains in one process (a test, a program embedding Invoke) do not mix.
"""

import threading
from pathlib import Path
from typing import Callable, Dict, Optional, Set, Tuple

from ..config import Config, Settings, find_config, load_config, resolve
from ..naming import ImageRef
from ..release.recorder import Recorder, release_key

#: The key of the Run in Invoke's config.
CONFIG_KEY = "acrtasks_run"


class Run:
    """The chain's shared state; see the module docstring."""

    def __init__(self, project_dir: Optional[Path] = None, chained: bool = False, chain: Tuple[str, ...] = ()):
        self.project_dir = project_dir  # where tasks.py was loaded from; None: the current directory
        self.chained = chained  # flags are shared across the chain (ChainExecutor)
        self.chain = chain  # the chain's task names, in order (ChainExecutor): a build knows a push follows
        self.preflighted: Set[Tuple[str, str]] = set()  # (host, repository) the chain may push to, checked
        self._preflight_lock = threading.Lock()  # promote checks its destinations at once
        self.pushed_by_build: Set[ImageRef] = set()  # refs a build pushed itself (buildx, several platforms)
        self._config: Optional[Config] = None
        self._settings: Dict[Tuple, Settings] = {}
        self._engine = None
        self._clients = None
        self._said: Set[str] = set()
        self._decided: Dict[Tuple, object] = {}  # (version, registry, layout, component) -> components.changes.Decision
        self.recorder = Recorder(chain, self.clients)  # what the chain pushed: its release records

    # Invoke copies config values when it merges its levels for the next task of the chain; a Run is one
    # object for the whole chain, so a copy of it is itself.
    def __copy__(self) -> "Run":
        return self

    def __deepcopy__(self, memo) -> "Run":
        return self

    def config(self) -> Config:
        """build.toml beside tasks.py (or $ACRTASKS_CONFIG, or in the current directory), read once."""
        if self._config is None:
            self._config = load_config(find_config(str(self.project_dir) if self.project_dir else None))
        return self._config

    def settings(self, say_warnings: Optional[Callable[[str], None]] = None, **flags) -> Settings:
        """build.toml with the environment and these flags applied, resolved once per distinct flags."""
        key = tuple(sorted(flags.items()))
        if key not in self._settings:
            self._settings[key] = resolve(self.config(), **flags)
        settings = self._settings[key]
        for warning in settings.warnings if say_warnings else ():
            self.once(warning, say_warnings)
        return settings

    def engine(self):
        """The engine, connected on first use only (a chain of registry tasks never loads docker-py)."""
        if self._engine is None:
            from ..engine.client import Engine

            self._engine = Engine.connect()
        return self._engine

    def clients(self):
        """The chain's registry clients, made on first use: the docker config read once, and a token fetched
        by one task (the preflight's push token, say) kept for the next."""
        if self._clients is None:
            from ..registry.client import Clients

            config = self.config()
            self._clients = Clients(config.insecure_hosts, pull_floor=config.deps_ratelimit_floor,
                                    pull_max_wait=config.deps_ratelimit_max_wait)
        return self._clients

    def preflight(self, refs, what: str) -> None:
        """Check once per chain that we may push to each of ``refs``' repositories (registry.preflight)."""
        from ..registry.preflight import check_push

        with self._preflight_lock:
            todo = [ref for ref in refs if (ref.host, ref.repository) not in self.preflighted]
        covered = check_push(self.clients(), todo, what)
        with self._preflight_lock:
            self.preflighted.update(covered)

    def changes(self, settings: Settings, steps, pushes=lambda step: False, rebuild: bool = False,
                since: str = "") -> Dict[str, object]:
        """component -> components.changes.Decision for ``steps``, decided once per chain: push reads what build
        decided (and decides itself what no build of the chain did)."""
        from ..components.changes import decide

        key = release_key(settings)
        todo = [step for step in steps if key + (step.component,) not in self._decided]
        if todo:
            for decision in decide(todo, settings, self.clients(), self.engine, pushes, rebuild, since):
                self._decided[key + (decision.component,)] = decision
        return {step.component: self._decided[key + (step.component,)] for step in steps}

    def decision(self, settings: Settings, component: str):
        """What this chain decided for ``component`` (components.changes.Decision), or None."""
        return self._decided.get(release_key(settings) + (component,))

    def once(self, text: str, say: Callable[[str], None]) -> None:
        """Say ``text`` once per chain: chained tasks share their warnings as they share their flags."""
        if text and text not in self._said:
            self._said.add(text)
            say(text)


def run_of(c) -> Run:
    """The chain's Run: the one ChainExecutor made, else one made now (a plain Executor)."""
    run = c.config.get(CONFIG_KEY)
    if run is None:
        run = Run(project_dir=_tasks_dir(c))
        c.config[CONFIG_KEY] = run
    return run


def _tasks_dir(c) -> Optional[Path]:
    """Where Invoke found tasks.py, found the way its FilesystemLoader finds it: from ``tasks.search_root`` (or
    the current directory) upwards, ``<tasks.collection_name>.py`` or a package of that name. Invoke's plain
    Executor hands tasks no public record of it; ChainExecutor hands us the collection's ``loaded_from``."""
    name = c.config.tasks.collection_name or "tasks"
    start = Path(c.config.tasks.search_root or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if (directory / f"{name}.py").is_file() or (directory / name / "__init__.py").is_file():
            return directory
    return None
