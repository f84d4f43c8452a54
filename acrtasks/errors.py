"""Every error acrtasks raises on purpose.

Tasks turn these into one line and an exit code at a single boundary
(``acrtasks.tasks._boundary``); anything else is a bug and may traceback.
"""


class AcrError(Exception):
    """Base of all user-facing errors: one line, no traceback."""

    #: 2: bad input or configuration, nothing attempted. 1: an operation failed.
    exit_code = 1


class UsageError(AcrError):
    """A flag, environment variable or argument has a bad value."""

    exit_code = 2


class ConfigError(UsageError):
    """build.toml is missing, unreadable or invalid."""


class NamingError(UsageError):
    """A registry, image reference, tag or component name breaks the naming rules."""


class PreflightError(UsageError):
    """Something the plan needs is missing; nothing was done."""


class EngineUnavailable(AcrError):
    """The Docker engine cannot be reached."""


class OperationFailed(AcrError):
    """One or more builds or pushes failed (details were already printed)."""
