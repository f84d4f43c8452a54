"""What every task module shares: the one error boundary, the help of flags several tasks have, dry runs.

``boundary`` is the one place where acrtasks' own errors become one line on
stderr and an exit code (2: bad input, nothing attempted; 1: an operation
failed, 130: Ctrl-C). Help for a flag only one task has is written on that
task's ``@task``; :data:`SHARED_HELP` holds only the flags chained tasks share.
"""

import atexit
import functools
import inspect
import sys
from typing import Callable, List, Optional, Sequence

import invoke
from invoke import Exit

from ..errors import AcrError, Interrupted, OperationFailed
from ..util import retry
from ..util.console import Console
from .chain import SharedFlags, borrowed_kwargs_refused, help_asked, unshared_chain_warning
from .run import Run, run_of

SHARED_HELP = {
    "component": "component to work on (repeatable); default: all in build.toml",
    "registry": "registry as host[:port][/namespace] or a Docker Hub namespace; '' = local tags only",
    "version": "image version; default: build.toml, then git describe (tag, tag-N-gSHA, dev-SHA; -dirty)",
    "layout": "auto | flat | nested; auto is flat on hosts ending with [registry] flat_hosts (ACR)",
    "tag_latest": "also tag (and push) the latest refs",
    "metadata_file": "write a JSON record of refs, image ids and digests here (merged across chained tasks)",
    "no_preflight": "skip the check, before the first build or copy, that every target repository takes a push "
                    "(a blob upload opened and cancelled)",
    "no_record": "do not write the release record (release-<version> in the project's repository) after the "
                 "chain's last push",
    "attestations": "auto, keep or drop buildx's provenance/SBOM attestations (OCI artifacts, which ACR refuses); "
                    "auto drops them for [registry] flat_hosts; default: [registry] attestations",
}


#: The short flags, one meaning in every task: ``-c`` is ``--component`` wherever it is accepted. Invoke's own
#: choice (the first free letter of each task's names) gave ``-m`` to ``--mode`` in build and to
#: ``--metadata-file`` in push; every other flag has its long form only.
SHORT_FLAGS = {
    "component": "c",
    "registry": "r",
    "version": "v",
    "layout": "l",
    "mode": "m",
    "platform": "p",
    "jobs": "j",
    "tag_latest": "t",
    "file": "f",
    "output": "o",
    "username": "u",
}


class Task(invoke.Task):
    """Invoke's Task with the short flags of :data:`SHORT_FLAGS` instead of Invoke's per-task choice, and the
    other tasks' flags borrowed (``shared_flags``, set when the collection is made; see :mod:`.chain`)."""

    shared_flags: Optional[SharedFlags] = None

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(name)
        opts["names"] = [opts["names"][0], *([short] if short and short not in taken_names else [])]
        return opts

    def own_arguments(self, ignore_unknown_help=None) -> List:
        """The task's own arguments, made once: Invoke's get_arguments pops each help text as it uses it, so a
        second call (the other tasks borrowing, then the parser) would lose them. Parsers copy what they get."""
        if "_own" not in self.__dict__:
            self._own = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        return list(self._own)

    def get_arguments(self, ignore_unknown_help=None) -> List:
        own = self.own_arguments(ignore_unknown_help)
        if self.shared_flags is None or help_asked():
            return own
        return [*own, *self.shared_flags.borrowed_by(own, self.name)]

    def __call__(self, *args, **kwargs):
        if self.shared_flags is not None:  # a plain Executor passes borrowed flags too; ChainExecutor never does
            own = inspect.signature(self.body).parameters
            defaults = {arg.name: arg.default for arg in self.shared_flags.union().values()}
            kwargs = borrowed_kwargs_refused(self.name, kwargs, own, defaults)
        return super().__call__(*args, **kwargs)


#: ``@task`` for acrtasks' task modules (Invoke's, making :class:`Task`).
task = functools.partial(invoke.task, klass=Task)


def shared(*names: str, **own: str) -> dict:
    """The ``help=`` of a task: the shared flags it has, then its own."""
    return {**{name: SHARED_HELP[name] for name in names}, **own}


def boundary(func):
    """Turn acrtasks' errors (and Ctrl-C) into one line and an exit code; nothing else is caught."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Interrupted as exc:
            raise Exit(f"interrupted: {exc}" if str(exc) else "interrupted", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=Interrupted.exit_code) from None
        except AcrError as exc:
            raise Exit(f"error: {exc}" if str(exc) else None, code=exc.exit_code) from None

    return wrapper


def start(c) -> Run:
    """The chain's Run, after the one warning a chain without shared flags gets."""
    names = SharedFlags.made.collection.task_names if SharedFlags.made else ()
    run = run_of(c)
    run.once(unshared_chain_warning(sys.argv, names, run.chained), Console().warn)
    return run


def carry_out(work: Callable[[], List], record, to_metadata: Callable[[Sequence], dict],
              print_summary: Callable, console: Console, failed_line: Callable[[List, int], str]) -> List:
    """Run the planned ``work``: its results go to the metadata ``record`` (what finished, too, after Ctrl-C), a
    summary is printed, and any failed result makes the task fail with ``failed_line(the failed, how many)``."""
    try:
        results = work()
    except Interrupted as exc:
        record.merge(to_metadata(exc.finished))
        raise
    print_summary(results, console)
    retry.WAITED.say(console.say)
    record.merge(to_metadata(results))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationFailed(failed_line(failed, len(results)))
    return results


def is_dry(c) -> bool:
    return bool(c.config.run.dry)


def dry_footer(run: Run) -> None:
    """``--dry`` ends with one line, after the last task of the chain."""
    run.once("dry run: nothing was built, tagged, pushed or copied", lambda text: atexit.register(print, text))
