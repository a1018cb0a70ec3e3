"""Errors the CLI turns into one clear line and an exit code.

Exit codes: 0 done, 2 bad usage or bad input, 1 internal error.
"""
from __future__ import annotations

from pathlib import Path


class RestoreError(Exception):
    """Base class of errors reported to the user as one line."""

    exit_code = 1


class UsageError(RestoreError):
    """The command line or the API call asks for something impossible."""

    exit_code = 2


class InputError(RestoreError):
    """An input file is missing, unreadable, corrupt or unsupported."""

    exit_code = 2

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class PluginError(UsageError):
    """A plugin is unknown, failed to load, or broke the hook contract."""


class ConfigError(UsageError):
    """A config file or override is invalid (unknown key, bad value)."""
