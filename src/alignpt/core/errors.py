"""One exception hierarchy for the whole toolkit.

Every error a user can cause (a bad file, a bad config value, a missing optional
dependency) is an :class:`AlignptError`; the CLI turns those into a one-line
message and exit code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AlignptError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class ConfigError(AlignptError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(AlignptError):
    """An input file is unreadable or malformed.

    The message names the file and, where it applies, the line (or Parquet row
    group and row) and the problem, so a user can go straight to it.
    """

    def __init__(self, problem: str, path: str | None = None, line: int | None = None,
                 where: str | None = None, reason: str = "bad_input"):
        self.problem = problem
        self.path = path
        self.line = line
        self.where = where
        self.reason = reason
        # Without a path the problem speaks for itself (a placeholder such as "<input>"
        # names nothing a user could open).
        if line is not None:
            loc = f"{path}:{line}" if path else f"line {line}"
        elif where is not None:
            loc = f"{path} ({where})" if path else where
        else:
            loc = path
        super().__init__(f"{loc}: {problem}" if loc else problem)


class BackendError(AlignptError):
    """A model or generation backend failed in a way retries could not fix."""


class MissingDependencyError(AlignptError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str, purpose: str | None = None):
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"optional dependency '{module}' is not installed{what}; "
            f"install it with: pip install 'alignpt[{extra}]'"
        )
        self.module = module
        self.extra = extra


def require(module: str, extra: str, purpose: str | None = None):
    """Import an optional dependency or raise :class:`MissingDependencyError`.

    >>> np = require("numpy", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module, extra, purpose) from exc
