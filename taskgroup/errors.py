"""User-facing errors: one clear line that names the file, key, column or task at fault."""

from __future__ import annotations


class TaskgroupError(Exception):
    """Base class of every error caused by the user's input; the CLI prints it as one line, exit 2."""


class ConfigError(TaskgroupError):
    """A configuration file or option is invalid."""


class DataError(TaskgroupError):
    """Input data cannot be used as given."""


class TrainingError(TaskgroupError):
    """Training diverged (a loss became NaN or infinite)."""


class RunDirError(TaskgroupError):
    """A run directory is missing files, belongs to another configuration, or is locked."""
